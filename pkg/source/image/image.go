// Package image opens container images — OCI image layouts (directories and
// tarballs), docker save archives and registry references — and reads their
// layers as streams: Walk hands every entry of every layer to a callback,
// and Inventory runs inventory analyzers over the layers and squashes the
// results into the image's final file system, attributing each package to
// the layer that added it.
//
// A local ref may end in a selector: "dir:tag" or "dir@sha256:…" picks one
// image from an OCI layout whose index holds several (tags are matched
// against the org.opencontainers.image.ref.name and
// io.containerd.image.name annotations), "archive.tar:repo:tag" picks one
// image from a docker save archive holding several. The longest prefix of
// the ref that exists on disk is the path; the rest is the selector.
// Multi-platform indexes are resolved with Options.Platform.
package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Errors Open wraps, for callers that map them to exit codes or hints.
var (
	// ErrFormat: the path exists but is no image format this package reads.
	ErrFormat = errors.New("not a container image")
	// ErrPlatform: no image in the index matches the wanted platform.
	ErrPlatform = errors.New("no image for platform")
	// ErrAmbiguous: the source holds several images and nothing picks one.
	ErrAmbiguous = errors.New("several images")
	// ErrNotFound: the registry, layout or archive does not have the image.
	ErrNotFound = errors.New("image not found")
	// ErrAuth: the registry refused the credentials (or their absence).
	ErrAuth = errors.New("registry authentication failed")
)

// Options tune Open.
type Options struct {
	// Platform picks an image from a multi-platform index: "linux/arm64",
	// "linux/arm/v7". Empty means linux on the runtime's architecture.
	// When set, a single-platform image of another platform is an error.
	Platform string
	// Insecure allows plain HTTP (and unverified TLS) for the registry.
	Insecure bool
	// Transport carries registry requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Keychain finds registry credentials; nil means authn.DefaultKeychain
	// (docker config.json and its credential helpers, then podman's).
	Keychain authn.Keychain
	// TempDir holds files too large to analyze in memory; empty means
	// os.TempDir().
	TempDir string
}

// Image is an opened image. Close releases it.
type Image struct {
	// Name is the ref as given to Open.
	Name string
	// Digest is the manifest digest; empty for docker save archives, which
	// hold no manifest.
	Digest string
	// IndexDigest is the digest of the multi-platform index the image was
	// picked from (what registries list as the repo digest); empty for
	// single-platform images.
	IndexDigest string
	// ID is the config digest (docker's image ID).
	ID string
	// Config is the image configuration: platform, env, user, history.
	Config *v1.ConfigFile

	layers []inventory.Layer
	v1     []v1.Layer
	// raw marks layers stored uncompressed (docker save), read with
	// Uncompressed rather than decompressed here.
	raw     bool
	tempDir string
	// memLimit overrides maxInMemory in tests.
	memLimit int64
	closer   io.Closer
}

// Layers returns the layers, bottom first.
func (im *Image) Layers() []inventory.Layer {
	out := make([]inventory.Layer, len(im.layers))
	copy(out, im.layers)
	return out
}

// Platform is the image's os/arch[/variant] from its config.
func (im *Image) Platform() string {
	return platformOf(im.Config).String()
}

// Close releases the files the image reads from.
func (im *Image) Close() error {
	if im.closer == nil {
		return nil
	}
	return im.closer.Close()
}

// Open opens the image ref names: an OCI layout directory, a docker save or
// OCI layout tarball, or a registry reference. See the package comment for
// selectors.
func Open(ctx context.Context, ref string, opts Options) (*Image, error) {
	if ref == "" {
		return nil, errors.New("empty image reference")
	}
	sel := selection{}
	if opts.Platform != "" {
		p, err := v1.ParsePlatform(opts.Platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch[/variant], like linux/arm64", opts.Platform)
		}
		sel.platform, sel.explicit = *p, true
	} else {
		sel.platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	if path, rest, sep, ok := splitLocal(ref); ok {
		switch sep {
		case '@':
			h, err := v1.NewHash(rest)
			if err != nil {
				return nil, fmt.Errorf("%s: bad digest after @: %w", ref, err)
			}
			sel.digest = &h
		case ':':
			sel.tag = rest
		}
		im, err := openLocal(ctx, path, sel)
		if err != nil {
			return nil, err
		}
		im.Name, im.tempDir = ref, opts.TempDir
		return im, nil
	}
	if looksLikePath(ref) {
		return nil, fmt.Errorf("open %s: %w", ref, fs.ErrNotExist)
	}
	im, err := openRemote(ctx, ref, sel, opts)
	if err != nil {
		return nil, err
	}
	im.Name, im.tempDir = ref, opts.TempDir
	return im, nil
}

// splitLocal finds the longest prefix of ref that exists on disk, cut at
// the end or before a ':' or '@'. A shorter prefix counts only if it is a
// file or an OCI layout, so that "alpine:3.20" still means the registry
// when the working directory happens to hold a directory named alpine.
func splitLocal(ref string) (path, rest string, sep byte, ok bool) {
	if _, err := os.Stat(ref); err == nil {
		return ref, "", 0, true
	}
	for i := len(ref) - 1; i > 0; i-- {
		if ref[i] != ':' && ref[i] != '@' {
			continue
		}
		fi, err := os.Stat(ref[:i])
		if err != nil {
			continue
		}
		if fi.IsDir() {
			if _, err := os.Stat(filepath.Join(ref[:i], "oci-layout")); err != nil {
				continue
			}
		}
		return ref[:i], ref[i+1:], ref[i], true
	}
	return "", "", 0, false
}

// looksLikePath reports whether a ref that is not on disk was meant as a
// file rather than an image name, so that it is not looked up on Docker
// Hub.
func looksLikePath(ref string) bool {
	if strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") || strings.HasPrefix(ref, "~") {
		return true
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".oci"} {
		if strings.HasSuffix(ref, ext) {
			return true
		}
	}
	return false
}

func openLocal(ctx context.Context, path string, sel selection) (*Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); err != nil {
			return nil, fmt.Errorf("%w: %s is a directory without an oci-layout file (not an OCI image layout)", ErrFormat, path)
		}
		idx, err := layout.ImageIndexFromPath(path)
		if err != nil {
			return nil, fmt.Errorf("read OCI layout %s: %w", path, err)
		}
		img, dig, index, err := sel.pick(ctx, idx, "OCI layout "+path)
		if err != nil {
			return nil, err
		}
		im, err := newImage(img, dig, false, "OCI layout "+path)
		if err != nil {
			return nil, err
		}
		im.IndexDigest = index
		return im, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	im, err := openTar(ctx, f, path, fi.Size(), sel)
	if err != nil {
		f.Close()
		return nil, err
	}
	im.closer = f
	return im, nil
}

func openTar(ctx context.Context, f *os.File, path string, size int64, sel selection) (*Image, error) {
	t, err := indexTar(f, size)
	if err != nil {
		var magic [4]byte
		if n, _ := f.ReadAt(magic[:], 0); n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			return nil, fmt.Errorf("%w: %s is gzip-compressed; decompress it (gunzip) to scan a docker save or OCI layout tarball", ErrFormat, path)
		}
		return nil, fmt.Errorf("%w: %s is neither a docker save tarball nor an OCI layout tarball: %v", ErrFormat, path, err)
	}
	switch {
	case t.has("oci-layout") && t.has("index.json"):
		where := "OCI layout tarball " + path
		idx, err := t.index(where)
		if err != nil {
			return nil, err
		}
		img, dig, index, err := sel.pick(ctx, idx, where)
		if err != nil {
			return nil, err
		}
		im, err := newImage(img, dig, false, where)
		if err != nil {
			return nil, err
		}
		im.IndexDigest = index
		return im, nil
	case t.has("manifest.json"):
		return openArchive(t, path, sel)
	}
	return nil, fmt.Errorf("%w: %s is a tar archive but neither a docker save tarball (no manifest.json) nor an OCI layout tarball (no oci-layout and index.json)", ErrFormat, path)
}

// openArchive opens a docker save archive with go-containerregistry's
// tarball package, reading members through the tar index.
func openArchive(t *tarFile, path string, sel selection) (*Image, error) {
	where := "docker archive " + path
	opener := func() (io.ReadCloser, error) { return t.whole(), nil }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w", where, err)
	}
	if sel.digest != nil {
		return nil, fmt.Errorf("%s: a docker save archive holds no manifest digests; pick its image by tag (archive.tar:repo:tag)", where)
	}
	var tag *name.Tag
	var tags []string
	for _, d := range m {
		tags = append(tags, d.RepoTags...)
	}
	switch {
	case sel.tag != "":
		tg, err := name.NewTag(sel.tag)
		if err != nil {
			return nil, fmt.Errorf("%s: tag %q: %w", where, sel.tag, err)
		}
		tag = &tg
		found := false
		for _, s := range tags {
			if t2, err := name.NewTag(s); err == nil && t2.Name() == tg.Name() {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: %s has no tag %s; it holds %s", ErrNotFound, where, sel.tag, listOr(tags, "no tags"))
		}
	case len(m) == 0:
		return nil, fmt.Errorf("%w: %s: manifest.json lists no images", ErrFormat, where)
	case len(m) > 1:
		return nil, fmt.Errorf("%w in %s: pick one with %s:TAG from %s", ErrAmbiguous, where, path, listOr(tags, "(none tagged)"))
	}
	var d tarball.Descriptor
	for _, c := range m {
		if tag == nil || hasTag(c.RepoTags, *tag) {
			d = c
			break
		}
	}
	raw := false
	if len(d.Layers) > 0 {
		c, err := t.compression(d.Layers[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		raw = c == compNone
	}
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	im, err := newImage(img, "", raw, where)
	if err != nil {
		return nil, err
	}
	if err := sel.check(im.Config, where); err != nil {
		return nil, err
	}
	return im, nil
}

func hasTag(tags []string, tag name.Tag) bool {
	for _, s := range tags {
		if t, err := name.NewTag(s); err == nil && t.Name() == tag.Name() {
			return true
		}
	}
	return false
}

func listOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

func openRemote(ctx context.Context, ref string, sel selection, opts Options) (*Image, error) {
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%s is neither a file nor an image reference: %w", ref, err)
	}
	kc := opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if opts.Transport != nil {
		ropts = append(ropts, remote.WithTransport(opts.Transport))
	}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, remoteError(r, err)
	}
	where := "registry image " + r.Name()
	var img v1.Image
	dig, index := desc.Digest.String(), ""
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, remoteError(r, err)
		}
		img, dig, index, err = sel.pick(ctx, idx, where)
		if err != nil {
			return nil, remoteError(r, err)
		}
		if index == "" {
			index = desc.Digest.String()
		}
	} else {
		img, err = desc.Image()
		if err != nil {
			return nil, remoteError(r, err)
		}
	}
	im, err := newImage(img, dig, false, where)
	if err != nil {
		return nil, remoteError(r, err)
	}
	im.IndexDigest = index
	if err := sel.check(im.Config, where); err != nil {
		return nil, err
	}
	return im, nil
}

// remoteError names the two failures users can act on.
func remoteError(r name.Reference, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w for %s (log in with docker login or configure a credential helper): %w", ErrAuth, r.Context().RegistryStr(), err)
		case te.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %s: %w", ErrNotFound, r.Name(), err)
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%w: %s: %w", ErrNotFound, r.Name(), err)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%w for %s: %w", ErrAuth, r.Context().RegistryStr(), err)
			}
		}
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%s: the registry speaks plain HTTP; allow it with the insecure option: %w", r.Name(), err)
	}
	return fmt.Errorf("%s: %w", r.Name(), err)
}

// newImage reads the config and lines up layers, diff IDs and history.
func newImage(img v1.Image, digest string, raw bool, where string) (*Image, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", where, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", where, err)
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("%s: layers: %w", where, err)
	}
	if len(ls) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%s: manifest lists %d layers but the config's rootfs has %d diff IDs", where, len(ls), len(cfg.RootFS.DiffIDs))
	}
	var digests []string
	if !raw {
		m, err := img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("%s: manifest: %w", where, err)
		}
		if len(m.Layers) != len(ls) {
			return nil, fmt.Errorf("%s: manifest lists %d layers, image has %d", where, len(m.Layers), len(ls))
		}
		for _, d := range m.Layers {
			digests = append(digests, d.Digest.String())
		}
	}
	created := createdBy(cfg.History, len(ls))
	im := &Image{Digest: digest, ID: id.String(), Config: cfg, v1: ls, raw: raw}
	for i := range ls {
		l := inventory.Layer{Index: i, DiffID: cfg.RootFS.DiffIDs[i].String(), CreatedBy: created[i]}
		if raw {
			// Stored uncompressed: the blob is the diff.
			l.Digest = l.DiffID
		} else {
			l.Digest = digests[i]
		}
		im.layers = append(im.layers, l)
	}
	return im, nil
}

// createdBy pairs history entries with layers, skipping empty_layer
// entries. History that does not line up (fewer non-empty entries than
// layers, as some builders write) leaves the unmatched layers blank
// rather than guessing.
func createdBy(h []v1.History, n int) []string {
	out := make([]string, n)
	var nonEmpty []v1.History
	for _, e := range h {
		if !e.EmptyLayer {
			nonEmpty = append(nonEmpty, e)
		}
	}
	if len(nonEmpty) != n {
		return out
	}
	for i, e := range nonEmpty {
		out[i] = e.CreatedBy
	}
	return out
}
