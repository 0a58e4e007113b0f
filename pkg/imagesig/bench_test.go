package imagesig_test

import (
	"context"
	"testing"

	"github.com/mamori-dev/mamori/pkg/imagesig"
)

// BenchmarkFetchVerifyKey is an uncached key-based verification against a
// loopback registry: resolve the tag, read the .sig/.att tags and the
// referrers, verify the signature.
func BenchmarkFetchVerifyKey(b *testing.B) {
	for _, layout := range []imagesig.Layout{imagesig.LayoutClassic, imagesig.LayoutBundle} {
		b.Run(string(layout), func(b *testing.B) {
			host := testRegistry(b, true)
			img := pushImage(b, host, "app")
			key := newKey(b, "ecdsa")
			c := imagesig.NewClient(imagesig.ClientOptions{})
			sign(b, c, img, keySigner(b, key), layout)
			auth := &imagesig.Authority{Name: "k", Key: key.Public()}
			ctx := context.Background()
			ref := host + "/app:1.0"
			b.ResetTimer()
			for b.Loop() {
				d, err := c.Resolve(ctx, ref)
				if err != nil {
					b.Fatal(err)
				}
				a, err := c.Fetch(ctx, d)
				if err != nil {
					b.Fatal(err)
				}
				if ev, rej := a.Verify(auth, imagesig.KindSignature, ""); len(ev) != 1 {
					b.Fatal(rej)
				}
			}
		})
	}
}
