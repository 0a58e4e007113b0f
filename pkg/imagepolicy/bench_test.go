package imagepolicy

import (
	"context"
	"testing"

	"github.com/mamori-dev/mamori/pkg/imagesig"
)

// benchSetup is a key-signed image (one classic signature) in an
// in-process registry and a policy asking for it.
func benchSetup(b *testing.B) (*fixture, *Set, string) {
	reg := newRegistry(b)
	f := newFixture(b)
	k1 := f.key("k1")
	f.key("k2")
	img := reg.push(b, "team/app:1")
	f.sign(img, k1, imagesig.LayoutClassic)
	set := f.load(policyDoc("signed", reg.host, twoKeys+"  signatures: {authorities: [k1]}"))
	return f, set, reg.host + "/team/app:1"
}

// BenchmarkCheckCached is admission's common case: a tagged image whose
// digest and verdict are cached.
func BenchmarkCheckCached(b *testing.B) {
	f, set, tag := benchSetup(b)
	e := f.engine(set, Options{})
	ctx := context.Background()
	if d := one(b, e.Check(ctx, []string{tag})); !d.Allowed {
		b.Fatal(d.Reasons)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Check(ctx, []string{tag}); !d[0].Cached || !d[0].Allowed {
			b.Fatal("not a cached allow")
		}
	}
}

// BenchmarkCheckUncachedKey is a new image: the tag resolved, the
// signatures fetched (the .sig and .att tags and the referrers) and one
// verified with a key.
func BenchmarkCheckUncachedKey(b *testing.B) {
	f, set, tag := benchSetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e := f.engine(set, Options{})
		if d := e.Check(ctx, []string{tag}); d[0].Cached || !d[0].Allowed {
			b.Fatal("not an uncached allow")
		}
	}
}
