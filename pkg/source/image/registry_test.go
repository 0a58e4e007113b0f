package image

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryServer serves an in-process registry on loopback under a name
// that is not loopback, so that plain HTTP needs Options.Insecure; with
// user set, it asks for basic auth. The transport dials the server
// whatever the host.
func registryServer(t *testing.T, user, pass string) (host string, tr http.RoundTripper) {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(discardLogger()))
	if user != "" {
		reg := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			reg.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	dialer := &net.Dialer{}
	return "registry.test:" + port, &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
	}
}

func TestRegistryInsecure(t *testing.T) {
	ctx := context.Background()
	host, tr := registryServer(t, "", "")
	img := attributionImage(t)
	ref := host + "/team/app:1.0"
	if err := remote.Write(mustRef(t, ref, name.Insecure), img, remote.WithTransport(tr)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, ref, Options{Transport: tr, Keychain: authn.NewMultiKeychain()})
	if err == nil || !strings.Contains(err.Error(), "allow it with the insecure option") {
		t.Errorf("plain HTTP without Insecure: %v, want a hint at the insecure option", err)
	}
	im, err := Open(ctx, ref, Options{Transport: tr, Insecure: true, Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	want, _ := img.Digest()
	if im.Digest != want.String() {
		t.Errorf("digest %s, want %s", im.Digest, want)
	}
	inv, err := im.Inventory(ctx, testScanner())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "attribution.golden.json", summarize(inv))
}

func TestRegistryAuth(t *testing.T) {
	ctx := context.Background()
	host, tr := registryServer(t, "alice", "s3cret")
	img := buildImage(t, "linux/amd64", step{"a", []tf{pkgdb("", "a=1")}})
	if err := remote.Write(mustRef(t, host+"/private/app:1", name.Insecure), img, remote.WithTransport(tr),
		remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	// Credentials come from a docker config.json, as docker login writes
	// it, through the default keychain.
	dockerConfig := func(t *testing.T, user, pass string) {
		d := t.TempDir()
		t.Setenv("HOME", t.TempDir())
		t.Setenv("DOCKER_CONFIG", d)
		t.Setenv("REGISTRY_AUTH_FILE", "")
		t.Setenv("XDG_RUNTIME_DIR", "")
		if user == "" {
			return
		}
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
		if err := os.WriteFile(filepath.Join(d, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, user, pass, repo string
		is                     error
	}{
		{"good credentials", "alice", "s3cret", "private/app:1", nil},
		{"wrong password", "alice", "nope", "private/app:1", ErrAuth},
		{"no credentials", "", "", "private/app:1", ErrAuth},
		{"missing image", "alice", "s3cret", "private/other:1", ErrNotFound},
		{"missing tag", "alice", "s3cret", "private/app:2", ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dockerConfig(t, tc.user, tc.pass)
			im, err := Open(ctx, host+"/"+tc.repo, Options{Transport: tr, Insecure: true})
			if tc.is != nil {
				t.Log(err)
				if !errors.Is(err, tc.is) {
					t.Fatalf("error %v, want %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			inv, err := im.Inventory(ctx, testScanner())
			if err != nil || len(inv.Packages) != 1 {
				t.Errorf("inventory %+v, %v", inv, err)
			}
		})
	}
}
