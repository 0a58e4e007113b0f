package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Limits on a tarball's structure: image tarballs have a few entries and
// small manifests; anything far larger is not one.
const (
	maxTarEntries  = 100_000
	maxManifest    = 8 << 20
	maxLinkHops    = 8
	peekSize       = 4
	compNone       = 0
	compGzip       = 1
	compZstd       = 2
	gzipMagic      = "\x1f\x8b"
	zstdMagic      = "\x28\xb5\x2f\xfd"
	ociBlobsPrefix = "blobs/"
)

type tarMember struct {
	off, size int64
	typ       byte
	link      string
}

// tarFile is an uncompressed tar on disk with its members located, read
// by offset so that several layers can stream from it at once.
type tarFile struct {
	f       *os.File
	name    string
	size    int64
	members map[string]tarMember
}

// indexTar reads the headers of a tar, seeking over member content.
func indexTar(f *os.File, size int64) (*tarFile, error) {
	sr := io.NewSectionReader(f, 0, size)
	tr := tar.NewReader(sr)
	t := &tarFile{f: f, name: f.Name(), size: size, members: map[string]tarMember{}}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %w", err)
		}
		if len(t.members) >= maxTarEntries {
			return nil, fmt.Errorf("more than %d members", maxTarEntries)
		}
		off, _ := sr.Seek(0, io.SeekCurrent)
		t.members[cleanMember(h.Name)] = tarMember{off: off, size: h.Size, typ: h.Typeflag, link: h.Linkname}
	}
	if len(t.members) == 0 {
		return nil, errors.New("empty or not a tar archive")
	}
	return t, nil
}

func cleanMember(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

func (t *tarFile) has(name string) bool {
	_, ok := t.members[name]
	return ok
}

// open returns a member's content, following symbolic and hard links
// (old docker save archives link repeated layers).
func (t *tarFile) open(name string) (*io.SectionReader, error) {
	name = cleanMember(name)
	for range maxLinkHops {
		m, ok := t.members[name]
		if !ok {
			return nil, fmt.Errorf("%s: no member %s", t.name, name)
		}
		switch m.typ {
		case tar.TypeReg, tar.TypeRegA:
			if m.off+m.size > t.size {
				return nil, fmt.Errorf("%s: member %s is truncated", t.name, name)
			}
			return io.NewSectionReader(t.f, m.off, m.size), nil
		case tar.TypeSymlink:
			name = cleanMember(path.Join(path.Dir(name), m.link))
		case tar.TypeLink:
			name = cleanMember(m.link)
		default:
			return nil, fmt.Errorf("%s: member %s is not a file", t.name, name)
		}
	}
	return nil, fmt.Errorf("%s: member %s: too many links", t.name, name)
}

// whole is the whole tar as a seekable reader for go-containerregistry's
// tarball package, which scans it per member.
func (t *tarFile) whole() io.ReadCloser {
	return nopCloser{io.NewSectionReader(t.f, 0, t.size)}
}

type nopCloser struct{ *io.SectionReader }

func (nopCloser) Close() error { return nil }

// compression peeks at a member's first bytes.
func (t *tarFile) compression(name string) (int, error) {
	r, err := t.open(name)
	if err != nil {
		return 0, err
	}
	var b [peekSize]byte
	n, _ := r.ReadAt(b[:], 0)
	return sniff(b[:n]), nil
}

func sniff(b []byte) int {
	switch {
	case bytes.HasPrefix(b, []byte(gzipMagic)):
		return compGzip
	case bytes.HasPrefix(b, []byte(zstdMagic)):
		return compZstd
	}
	return compNone
}

func (t *tarFile) blob(h v1.Hash) (*io.SectionReader, error) {
	r, err := t.open(ociBlobsPrefix + h.Algorithm + "/" + h.Hex)
	if err != nil {
		return nil, fmt.Errorf("blob %s missing: %w", h, err)
	}
	return r, nil
}

// small reads a manifest or config blob, checking its digest.
func (t *tarFile) small(h v1.Hash) ([]byte, error) {
	r, err := t.blob(h)
	if err != nil {
		return nil, err
	}
	if r.Size() > maxManifest {
		return nil, fmt.Errorf("%s: blob %s is %d bytes, too large for a manifest or config", t.name, h, r.Size())
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: blob %s: %w", t.name, h, err)
	}
	if h.Algorithm == "sha256" {
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != h.Hex {
			return nil, fmt.Errorf("%s: blob %s does not match its digest", t.name, h)
		}
	}
	return b, nil
}

// index reads index.json of an OCI layout tarball.
func (t *tarFile) index(where string) (v1.ImageIndex, error) {
	r, err := t.open("index.json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if r.Size() > maxManifest {
		return nil, fmt.Errorf("%s: index.json is too large (%d bytes)", where, r.Size())
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", where, err)
	}
	if _, err := v1.ParseIndexManifest(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", where, err)
	}
	return &tarIndex{t: t, raw: b}, nil
}

// tarIndex is an image index of an OCI layout tarball.
type tarIndex struct {
	t   *tarFile
	raw []byte
}

func (x *tarIndex) MediaType() (types.MediaType, error) {
	m, err := x.IndexManifest()
	if err != nil {
		return "", err
	}
	if m.MediaType != "" {
		return m.MediaType, nil
	}
	return types.OCIImageIndex, nil
}

func (x *tarIndex) Digest() (v1.Hash, error)     { return partial.Digest(x) }
func (x *tarIndex) Size() (int64, error)         { return partial.Size(x) }
func (x *tarIndex) RawManifest() ([]byte, error) { return x.raw, nil }

func (x *tarIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.raw))
}

func (x *tarIndex) Image(h v1.Hash) (v1.Image, error) {
	raw, err := x.t.small(h)
	if err != nil {
		return nil, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %w", x.t.name, h, err)
	}
	return partial.CompressedToImage(&tarImage{t: x.t, raw: raw, m: &m})
}

func (x *tarIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	raw, err := x.t.small(h)
	if err != nil {
		return nil, err
	}
	if _, err := v1.ParseIndexManifest(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%s: index %s: %w", x.t.name, h, err)
	}
	return &tarIndex{t: x.t, raw: raw}, nil
}

// tarImage is an image manifest of an OCI layout tarball.
type tarImage struct {
	t   *tarFile
	raw []byte
	m   *v1.Manifest
}

func (i *tarImage) RawManifest() ([]byte, error) { return i.raw, nil }

func (i *tarImage) MediaType() (types.MediaType, error) {
	if i.m.MediaType != "" {
		return i.m.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (i *tarImage) RawConfigFile() ([]byte, error) {
	return i.t.small(i.m.Config.Digest)
}

func (i *tarImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &tarBlob{t: i.t, desc: i.m.Config}, nil
	}
	for _, d := range i.m.Layers {
		if d.Digest == h {
			return &tarBlob{t: i.t, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("%s: manifest has no layer %s", i.t.name, h)
}

// tarBlob is a layer blob in an OCI layout tarball.
type tarBlob struct {
	t    *tarFile
	desc v1.Descriptor
}

func (b *tarBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *tarBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *tarBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *tarBlob) Descriptor() (*v1.Descriptor, error) { return &b.desc, nil }
func (b *tarBlob) Compressed() (io.ReadCloser, error) {
	r, err := b.t.blob(b.desc.Digest)
	if err != nil {
		return nil, err
	}
	return nopCloser{r}, nil
}
