package image

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Annotations that name an image in an index.
const (
	annRefName       = "org.opencontainers.image.ref.name"
	annContainerName = "io.containerd.image.name"
	annRefType       = "vnd.docker.reference.type" // buildkit attestations
)

// selection is what picks one image from an index.
type selection struct {
	platform v1.Platform
	explicit bool // platform given by the caller, not the default
	digest   *v1.Hash
	tag      string
}

type candidate struct {
	desc     v1.Descriptor
	parent   v1.ImageIndex
	digests  []v1.Hash // of the enclosing indexes' descriptors and the image
	refs     []string
	platform *v1.Platform
}

// pick chooses an image from idx (recursing into nested indexes) by
// digest, tag and platform. It returns the image's manifest digest and
// the digest of the index manifest that lists it, if that is a blob (the
// index.json of a layout is not).
func (s selection) pick(ctx context.Context, idx v1.ImageIndex, where string) (img v1.Image, digest, index string, err error) {
	var cands []candidate
	if err := flatten(ctx, idx, nil, nil, &cands, 0); err != nil {
		return nil, "", "", fmt.Errorf("%s: %w", where, err)
	}
	if len(cands) == 0 {
		return nil, "", "", fmt.Errorf("%w: %s: its index lists no image manifests", ErrNotFound, where)
	}
	if s.digest != nil {
		cands = filter(cands, func(c candidate) bool { return slices.Contains(c.digests, *s.digest) })
		if len(cands) == 0 {
			return nil, "", "", fmt.Errorf("%w: %s has no manifest %s", ErrNotFound, where, s.digest)
		}
	}
	if s.tag != "" {
		all := cands
		cands = filter(cands, func(c candidate) bool {
			return slices.ContainsFunc(c.refs, func(r string) bool { return sameTag(r, s.tag) })
		})
		if len(cands) == 0 {
			return nil, "", "", fmt.Errorf("%w: %s has no image tagged %s; it holds %s", ErrNotFound, where, s.tag, listOr(allRefs(all), "no tagged images"))
		}
	}
	// Attestations and other non-runnable manifests are not candidates.
	cands = filter(cands, func(c candidate) bool {
		return c.desc.Annotations[annRefType] == "" && (c.platform == nil || c.platform.OS != "unknown")
	})
	for i := range cands {
		if cands[i].platform != nil {
			continue
		}
		img, err := cands[i].parent.Image(cands[i].desc.Digest)
		if err != nil {
			return nil, "", "", fmt.Errorf("%s: manifest %s: %w", where, cands[i].desc.Digest, err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, "", "", fmt.Errorf("%s: manifest %s: config: %w", where, cands[i].desc.Digest, err)
		}
		p := platformOf(cfg)
		cands[i].platform = &p
	}
	if len(cands) == 0 {
		return nil, "", "", fmt.Errorf("%w: %s lists only attestations", ErrNotFound, where)
	}
	if len(cands) > 1 || s.explicit {
		all := cands
		cands = filter(cands, func(c candidate) bool { return platformMatches(*c.platform, s.platform) })
		if len(cands) == 0 {
			var avail []string
			for _, c := range all {
				if p := c.platform.String(); !slices.Contains(avail, p) {
					avail = append(avail, p)
				}
			}
			return nil, "", "", fmt.Errorf("%w %s in %s; available: %s", ErrPlatform, s.platform.String(), where, strings.Join(avail, ", "))
		}
		if exact := filter(cands, func(c candidate) bool { return c.platform.Variant == s.platform.Variant }); len(exact) > 0 {
			cands = exact
		}
	}
	if len(cands) > 1 {
		distinct := filter(cands, func(c candidate) bool { return c.desc.Digest != cands[0].desc.Digest })
		if len(distinct) > 0 {
			var names []string
			for _, c := range cands {
				n := c.desc.Digest.String()
				if len(c.refs) > 0 {
					n = c.refs[len(c.refs)-1] + " (" + n + ")"
				}
				names = append(names, n)
			}
			return nil, "", "", fmt.Errorf("%w for %s in %s: pick one with :TAG or @DIGEST from %s", ErrAmbiguous, s.platform.String(), where, strings.Join(names, ", "))
		}
	}
	c := cands[0]
	img, err = c.parent.Image(c.desc.Digest)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: manifest %s: %w", where, c.desc.Digest, err)
	}
	if n := len(c.digests); n >= 2 {
		index = c.digests[n-2].String()
	}
	return img, c.desc.Digest.String(), index, nil
}

// maxIndexDepth bounds nested indexes, which a crafted layout could make
// cyclic.
const maxIndexDepth = 4

func flatten(ctx context.Context, idx v1.ImageIndex, digests []v1.Hash, refs []string, out *[]candidate, depth int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if depth > maxIndexDepth {
		return fmt.Errorf("indexes nested deeper than %d", maxIndexDepth)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	for _, d := range m.Manifests {
		ds := append(slices.Clip(digests), d.Digest)
		rs := slices.Clip(refs)
		for _, k := range []string{annRefName, annContainerName} {
			if v := d.Annotations[k]; v != "" {
				rs = append(rs, v)
			}
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("index %s: %w", d.Digest, err)
			}
			if err := flatten(ctx, child, ds, rs, out, depth+1); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			*out = append(*out, candidate{desc: d, parent: idx, digests: ds, refs: rs, platform: d.Platform})
		}
	}
	return nil
}

func filter(cs []candidate, keep func(candidate) bool) []candidate {
	var out []candidate
	for _, c := range cs {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

func allRefs(cs []candidate) []string {
	var out []string
	for _, c := range cs {
		for _, r := range c.refs {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// sameTag matches a selector against an annotation, which may be a bare
// tag ("3.20") or a full name ("docker.io/library/alpine:3.20").
func sameTag(ann, sel string) bool {
	if ann == sel {
		return true
	}
	a, err1 := name.NewTag(ann)
	b, err2 := name.NewTag(sel)
	return err1 == nil && err2 == nil && a.Name() == b.Name()
}

func platformOf(cfg *v1.ConfigFile) v1.Platform {
	if cfg == nil {
		return v1.Platform{}
	}
	return v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
}

// platformMatches reports whether have satisfies want. An empty wanted
// variant takes any; arm64 without a variant is arm64/v8.
func platformMatches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	return want.Variant == "" || normVariant(have) == normVariant(want)
}

func normVariant(p v1.Platform) string {
	if p.Architecture == "arm64" && p.Variant == "" {
		return "v8"
	}
	return p.Variant
}

// check rejects a single-platform image of another platform than the one
// asked for explicitly.
func (s selection) check(cfg *v1.ConfigFile, where string) error {
	have := platformOf(cfg)
	if !s.explicit || have.OS == "" || have.Architecture == "" || platformMatches(have, s.platform) {
		return nil
	}
	return fmt.Errorf("%w %s: %s is %s", ErrPlatform, s.platform.String(), where, have.String())
}
