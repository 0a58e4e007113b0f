package image

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// multiArch is an index of three platforms and a buildkit attestation,
// each image holding a pkgdb naming its platform.
func multiArch(t testing.TB) (v1.ImageIndex, map[string]v1.Hash) {
	t.Helper()
	digests := map[string]v1.Hash{}
	var adds []mutate.IndexAddendum
	for _, p := range []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7"} {
		img := buildImage(t, p, step{"ADD / " + p, []tf{pkgdb("", "arch="+strings.ReplaceAll(p, "/", "-"))}})
		d, _ := img.Digest()
		digests[p] = d
		pl, _ := v1.ParsePlatform(p)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: pl}})
	}
	att := buildImage(t, "linux/amd64", step{"attestation", []tf{file("intoto.json", "{}")}})
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{annRefType: "attestation-manifest"},
	}})
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	return idx, digests
}

func TestPlatform(t *testing.T) {
	ctx := context.Background()
	idx, digests := multiArch(t)
	idxDigest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// A layout whose index.json points at the multi-arch index, as
	// `crane pull --format=oci` and docker 25+ write them.
	lay := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err = p.AppendIndex(idx, layout.WithAnnotations(map[string]string{annRefName: "1.0"})); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(discardLogger())))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/multi:1.0"
	if err := remote.WriteIndex(mustRef(t, ref), idx); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{lay, ref} {
		for _, tc := range []struct {
			platform, want string
		}{
			{"", "linux/amd64"}, // the runtime's default in these tests
			{"linux/arm64", "linux/arm64/v8"},
			{"linux/arm64/v8", "linux/arm64/v8"},
			{"linux/arm/v7", "linux/arm/v7"},
			{"linux/arm", "linux/arm/v7"},
		} {
			im, err := Open(ctx, src, Options{Platform: tc.platform})
			if err != nil {
				t.Fatalf("%s --platform %q: %v", src, tc.platform, err)
			}
			if im.Digest != digests[tc.want].String() || im.Platform() != tc.want {
				t.Errorf("%s --platform %q: got %s %s, want %s %s", src, tc.platform, im.Platform(), im.Digest, tc.want, digests[tc.want])
			}
			if im.IndexDigest != idxDigest.String() {
				t.Errorf("%s: index digest %s, want %s", src, im.IndexDigest, idxDigest)
			}
			inv, err := im.Inventory(ctx, testScanner())
			if err != nil || len(inv.Packages) != 1 || inv.Packages[0].Version != strings.ReplaceAll(tc.want, "/", "-") {
				t.Errorf("%s --platform %q: inventory %+v, %v", src, tc.platform, inv, err)
			}
			im.Close()
		}
		_, err := Open(ctx, src, Options{Platform: "linux/s390x"})
		if !errors.Is(err, ErrPlatform) || !strings.Contains(err.Error(), "available: linux/amd64, linux/arm64/v8, linux/arm/v7") {
			t.Errorf("%s linux/s390x: %v, want ErrPlatform listing the three platforms (not the attestation)", src, err)
		}
	}
}

func TestSelectors(t *testing.T) {
	ctx := context.Background()
	a := buildImage(t, "linux/amd64", step{"a", []tf{pkgdb("", "a=1")}})
	b := buildImage(t, "linux/amd64", step{"b", []tf{pkgdb("", "b=1")}})
	ad, _ := a.Digest()
	bd, _ := b.Digest()
	lay := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tag string
		img v1.Image
	}{{"a", a}, {"b", b}} {
		tag, img := tc.tag, tc.img
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			annRefName:       tag,
			annContainerName: "docker.io/library/app:" + tag,
		})); err != nil {
			t.Fatal(err)
		}
	}
	archive := filepath.Join(t.TempDir(), "two.tar")
	ta, _ := name.NewTag("app:a")
	tb, _ := name.NewTag("registry.example/app:b")
	if err := tarball.MultiWriteToFile(archive, map[name.Tag]v1.Image{ta: a, tb: b}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref, want string
		is        error
		msg       string
	}{
		{lay + ":a", "a", nil, ""},
		{lay + ":b", "b", nil, ""},
		{lay + ":app:b", "b", nil, ""}, // the containerd name, normalized
		{lay + "@" + ad.String(), "a", nil, ""},
		{lay + "@" + bd.String(), "b", nil, ""},
		{lay, "", ErrAmbiguous, "pick one with :TAG or @DIGEST"},
		{lay + ":c", "", ErrNotFound, "no image tagged c; it holds a, docker.io/library/app:a"},
		{lay + "@sha256:" + strings.Repeat("0", 64), "", ErrNotFound, "has no manifest"},
		{archive + ":app:a", "a", nil, ""},
		{archive + ":index.docker.io/library/app:a", "a", nil, ""},
		{archive + ":registry.example/app:b", "b", nil, ""},
		{archive, "", ErrAmbiguous, "two.tar:TAG"},
		{archive + ":app:zzz", "", ErrNotFound, "has no tag app:zzz"},
	} {
		im, err := Open(ctx, tc.ref, Options{})
		if tc.is != nil {
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: error %v, want %v saying %q", tc.ref, err, tc.is, tc.msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.ref, err)
			continue
		}
		inv, err := im.Inventory(ctx, testScanner())
		if err != nil || len(inv.Packages) != 1 || inv.Packages[0].Name != tc.want {
			t.Errorf("%s: got %+v, %v; want package %s", tc.ref, inv, err, tc.want)
		}
		im.Close()
	}
}

func TestPlatformMismatchSingleImage(t *testing.T) {
	img := buildImage(t, "linux/arm64", step{"a", []tf{pkgdb("", "a=1")}})
	archive := filepath.Join(t.TempDir(), "arm.tar")
	if err := tarball.WriteToFile(archive, mustTag(t, "app:1"), img); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), archive, Options{Platform: "linux/amd64"}); !errors.Is(err, ErrPlatform) || !strings.Contains(err.Error(), "is linux/arm64") {
		t.Errorf("error %v, want ErrPlatform saying the image is linux/arm64", err)
	}
	if _, err := Open(context.Background(), archive, Options{}); err != nil {
		t.Errorf("default platform with a single image: %v", err)
	}
}

func mustTag(t testing.TB, s string) name.Tag {
	t.Helper()
	tg, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
