package secret

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/pkg/source/image"
)

// layer is a tar layer of files (a name starting with ".wh." deletes).
func layer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestScanImageLayersAndConfig(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	pat := gen{r}.checksummed(tok("gh", "p_"))
	npm := randomBase62(r, 30) + "9x"
	akid := tok("AKIA", "Q3EGRT5XJNZ2MHUW")
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: layer(t, map[string]string{"app/.env": "GITHUB_TOKEN=" + pat + "\n", "app/readme.md": "hello\n"}), History: v1.History{CreatedBy: "COPY . /app"}},
		mutate.Addendum{Layer: layer(t, map[string]string{"app/.wh..env": ""}), History: v1.History{CreatedBy: "RUN rm /app/.env"}},
		mutate.Addendum{Layer: layer(t, map[string]string{"app/node_modules/x/key.txt": "AWS_KEY=" + akid + "\n"}), History: v1.History{CreatedBy: "|1 NPM_TOKEN=" + npm + " /bin/sh -c npm ci"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Env = []string{"PATH=/usr/bin", "AWS_ACCESS_KEY_ID=" + akid}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "img.tar")
	ref, _ := name.ParseReference("example.com/app:1")
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	im, err := image.Open(ctx, path, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	rep, err := NewScanner(mustEngine(t), Options{}).ScanImage(ctx, im, "app.tar")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		rule, file, path string
		layer            int
	}
	var got []want
	for _, f := range rep.Findings {
		l := -1
		if f.Secret.Layer != nil {
			l = f.Secret.Layer.Index
		}
		got = append(got, want{f.CheckID(), f.Location.File, f.Location.Path, l})
		if f.Secret.Target != "app.tar" {
			t.Errorf("target %q", f.Secret.Target)
		}
	}
	wantList := []want{
		// Deleted by layer 1, still in layer 0.
		{"github-pat", "app/.env", "", 0},
		{"aws-access-key-id", "image config", "config.Env[1]", -1},
		{"generic-secret", "image config", "history[2].created_by", -1},
	}
	if len(got) != len(wantList) {
		t.Fatalf("findings %+v, want %+v (errors %v)", got, wantList, rep.Errors)
	}
	for _, w := range wantList {
		ok := false
		for _, g := range got {
			ok = ok || g == w
		}
		if !ok {
			t.Errorf("missing %+v in %+v", w, got)
		}
	}
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
}

func TestScanHistory(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	dir := t.TempDir()
	git := func(env []string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(append([]string{"HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1"}, env...), "PATH="+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	r := rand.New(rand.NewPCG(33, 34))
	pat := gen{r}.checksummed(tok("gh", "p_"))
	git(nil, "init", "-q")
	write(t, filepath.Join(dir, "config.env"), "A=1\nB=2\n")
	git(nil, "add", ".")
	git([]string{"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z"}, "commit", "-qm", "one")
	write(t, filepath.Join(dir, "config.env"), "A=1\nGITHUB_TOKEN="+pat+"\nB=2\n")
	git(nil, "add", ".")
	git([]string{"GIT_AUTHOR_DATE=2026-02-03T04:05:06Z", "GIT_COMMITTER_DATE=2026-02-03T04:05:06Z"}, "commit", "-qm", "two")
	write(t, filepath.Join(dir, "config.env"), "A=1\nB=2\n")
	git(nil, "add", ".")
	git(nil, "commit", "-qm", "three: remove the token")

	s := NewScanner(mustEngine(t), Options{})
	rep, err := s.ScanHistory(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("findings: %+v", rep.Findings)
	}
	f := rep.Findings[0]
	if f.CheckID() != "github-pat" || f.Location.File != "config.env" || f.Location.Line != 2 || f.Secret.Date != "2026-02-03T04:05:06Z" || f.Secret.Author != "Dev <dev@example.com>" || len(f.Secret.Commit) != 40 {
		t.Errorf("finding %+v secret %+v", f, f.Secret)
	}
	if rep.Objects != 2 {
		t.Errorf("commits that added text: %d, want 2", rep.Objects)
	}
	if strings.Contains(f.Message, pat) || strings.Contains(f.Secret.Redacted, pat[4:]) {
		t.Errorf("finding shows the secret: %s", f.Message)
	}
	// One exception covers the secret in the work tree and in history:
	// both fingerprints leave the line and commit out.
	tree := writeTree(t, map[string]string{"config.env": "\n\nGITHUB_TOKEN=" + pat + "\n"})
	found, _ := mustEngine(t).FileFindings("config.env", []byte(readFile(t, filepath.Join(tree, "config.env"))))
	if len(found) != 1 || found[0].Fingerprint != f.Fingerprint {
		t.Errorf("tree fingerprint %v, history %s", found, f.Fingerprint)
	}
}
