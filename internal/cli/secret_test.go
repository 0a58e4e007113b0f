package cli

import (
	"encoding/json"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// body is a deterministic random token body; tests assemble tokens from
// parts so that the repository holds none.
func body(r *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// githubToken is a well-formed classic token: 30 random characters and
// their CRC-32 in 6 base62 digits, as GitHub issues them.
func githubToken(r *rand.Rand) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := body(r, 30)
	sum := uint64(crc32.ChecksumIEEE([]byte(b)))
	check := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		check[i] = alphabet[sum%62]
		sum /= 62
	}
	return "gh" + "p_" + b + string(check)
}

type secretFixture struct {
	dir     string
	secrets []string // the full values planted: no output may contain one
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newSecretFixture(t *testing.T) secretFixture {
	r := rand.New(rand.NewPCG(41, 42))
	pat := githubToken(r)
	pass := body(r, 20) + "7#"
	stringData := "hunter2" + "hunter2" // weak, so no credential rule: the Secret rule reports it
	fx := secretFixture{dir: t.TempDir(), secrets: []string{pat, pass, stringData}}
	writeFiles(t, fx.dir, map[string]string{
		"app/config.py": "import os\n\nGITHUB_TOKEN = \"" + pat + "\"\nDEBUG = True\n",
		"k8s/app.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: db
stringData:
  password: "` + stringData + `"
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
      - name: app
        image: app:1
        env:
        - name: DB_PASSWORD
          value: "` + pass + `"
`,
		"docs/README.md": "Set `GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx` and `password: ${DB_PASSWORD}`.\n",
	})
	return fx
}

type secretJSON struct {
	Findings []struct {
		CheckID     string `json:"checkID"`
		Message     string `json:"message"`
		Fingerprint string `json:"fingerprint"`
		Resource    struct{ Kind, Namespace, Name string }
		Location    struct {
			File string
			Line int
			Path string
		}
		Secret *struct {
			Redacted, Commit, Date string
			Layer                  *struct{ Index int }
		}
	}
	Errors []struct{ File, Message string }
	Notes  []struct{ File, Message string }
}

func TestScanSecretEveryFormatRedacts(t *testing.T) {
	fx := newSecretFixture(t)
	for _, format := range []string{"table", "json", "sarif", "junit"} {
		code, out, errOut := run(t, "", "scan", "secret", "--format", format, "--show-suppressed", fx.dir)
		if code != ExitFindings {
			t.Errorf("%s: exit %d, want %d: %s", format, code, ExitFindings, errOut)
		}
		for _, s := range fx.secrets {
			if strings.Contains(out, s) || strings.Contains(errOut, s) {
				t.Errorf("%s output holds a secret (%.4s…)", format, s)
			}
		}
		if !strings.Contains(out, "ghp_…(40 chars)") {
			t.Errorf("%s output lacks the redacted token:\n%s", format, out)
		}
	}
	_, out, _ := run(t, "", "scan", "secret", "--format", "json", fx.dir)
	var rep secretJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range rep.Findings {
		file := strings.TrimPrefix(f.Location.File, filepath.ToSlash(fx.dir)+"/")
		got[f.CheckID+" "+file+" "+f.Location.Path] = f.Resource.Kind + " " + f.Resource.Namespace + "/" + f.Resource.Name
	}
	want := map[string]string{
		"github-pat app/config.py ":                                                 " /",
		"kubernetes-secret-data k8s/app.yaml stringData.password":                   "Secret db/creds",
		"generic-secret k8s/app.yaml spec.template.spec.containers[0].env[0].value": "Deployment shop/web",
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func TestScanSecretExceptionAndStdin(t *testing.T) {
	fx := newSecretFixture(t)
	_, out, _ := run(t, "", "scan", "secret", "--format", "json", fx.dir)
	var rep secretJSON
	json.Unmarshal([]byte(out), &rep)
	var fp string
	for _, f := range rep.Findings {
		if f.CheckID == "github-pat" {
			fp = f.Fingerprint
		}
	}
	ignore := filepath.Join(t.TempDir(), "ignore.yaml")
	os.WriteFile(ignore, []byte("exceptions:\n- fingerprints: ["+fp+"]\n  reason: revoked\n  owner: sec@example.com\n  expires: 2030-01-01\n- check: kubernetes-secret-data\n  resources: [{kind: Secret, namespace: db}]\n  reason: test cluster\n  owner: db@example.com\n  expires: 2030-01-01\n- check: generic-secret\n  paths: [\"**/k8s/*.yaml\"]\n  reason: rotated\n  owner: web@example.com\n  expires: 2030-01-01\n"), 0o644)
	code, out, errOut := run(t, "", "scan", "secret", "--ignorefile", ignore, "--format", "json", fx.dir)
	if code != ExitClean {
		t.Fatalf("every finding is excepted, yet exit %d: %s\n%s", code, out, errOut)
	}
	// stdin: one value, read from -.
	code, out, _ = run(t, "token: "+fx.secrets[0]+"\n", "scan", "secret", "--format", "json", "-")
	if code != ExitFindings || !strings.Contains(out, `stdin`) {
		t.Errorf("stdin: exit %d\n%s", code, out)
	}
}

func TestScanSecretGitHistory(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	r := rand.New(rand.NewPCG(43, 44))
	pat := githubToken(r)
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_AUTHOR_DATE=2026-03-04T05:06:07Z", "GIT_COMMITTER_DATE=2026-03-04T05:06:07Z")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	git("init", "-q")
	writeFiles(t, dir, map[string]string{"ci.sh": "#!/bin/sh\nexport GITHUB_TOKEN=" + pat + "\n"})
	git("add", ".")
	git("commit", "-qm", "add ci")
	writeFiles(t, dir, map[string]string{"ci.sh": "#!/bin/sh\n"})
	git("commit", "-qam", "remove token")

	// The work tree is clean; the history is not.
	if code, out, _ := run(t, "", "scan", "secret", dir); code != ExitClean {
		t.Errorf("work tree: exit %d\n%s", code, out)
	}
	code, out, errOut := run(t, "", "scan", "secret", "--git", "--format", "json", dir)
	if code != ExitFindings {
		t.Fatalf("history: exit %d: %s", code, errOut)
	}
	var rep secretJSON
	json.Unmarshal([]byte(out), &rep)
	if len(rep.Findings) != 1 || rep.Findings[0].Location.File != "ci.sh" || rep.Findings[0].Location.Line != 2 ||
		rep.Findings[0].Secret == nil || len(rep.Findings[0].Secret.Commit) != 40 || rep.Findings[0].Secret.Date != "2026-03-04T05:06:07Z" {
		t.Errorf("history findings: %s", out)
	}
	if strings.Contains(out, pat) {
		t.Error("history output holds the secret")
	}
	if code, _, errOut := run(t, "", "scan", "secret", "--git", t.TempDir()); code != ExitError || !strings.Contains(errOut, "not a git repository") {
		t.Errorf("not a repository: exit %d, %q", code, errOut)
	}
}

func TestScanDockerfile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"api/Dockerfile": "FROM node:latest\nCOPY . .\nRUN curl -fsSL https://example.com/install.sh | sh\nCMD node server.js\n",
		"web/Dockerfile": "FROM nginx:1.27@sha256:" + strings.Repeat("ab", 32) + "\nUSER 101\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\n",
		"bad/Dockerfile": "FROM alpine:3.20\nRUN <<EOF\necho unterminated\n",
		"k8s/pod.yaml":   "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: c:1}]\n",
	})
	code, out, errOut := run(t, "", "scan", "dockerfile", "--format", "json", dir)
	if code != ExitError {
		t.Errorf("an unparsable Dockerfile fails the scan: exit %d", code)
	}
	var rep secretJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err, out)
	}
	byFile := map[string][]string{}
	for _, f := range rep.Findings {
		file := strings.TrimPrefix(f.Location.File, filepath.ToSlash(dir)+"/")
		byFile[file] = append(byFile[file], f.CheckID)
	}
	if len(byFile["api/Dockerfile"]) < 4 {
		t.Errorf("api/Dockerfile findings %v", byFile["api/Dockerfile"])
	}
	if len(rep.Errors) != 1 || !strings.HasSuffix(rep.Errors[0].File, "bad/Dockerfile") {
		t.Errorf("errors %+v (stderr %s)", rep.Errors, errOut)
	}
	// scan config judges the same Dockerfiles beside the manifests.
	_, out, _ = run(t, "", "scan", "config", "--format", "json", dir)
	var cfg secretJSON
	json.Unmarshal([]byte(out), &cfg)
	n := 0
	for _, f := range cfg.Findings {
		if strings.HasPrefix(f.CheckID, "dockerfile-") {
			n++
		}
	}
	if n != len(rep.Findings) {
		t.Errorf("scan config found %d Dockerfile findings, scan dockerfile %d", n, len(rep.Findings))
	}
}

func TestScanArtifactsWithSecrets(t *testing.T) {
	fx := newSecretFixture(t)
	// fs: secrets only, no database needed.
	code, out, errOut := run(t, "", "scan", "fs", "--scanners", "secret", "--format", "json", fx.dir)
	if code != ExitFindings || !strings.Contains(out, "github-pat") {
		t.Errorf("fs --scanners secret: exit %d\n%s\n%s", code, out, errOut)
	}
	// image: the secret is in a layer.
	layer := tarDir(t, fx.dir, "app")
	l, err := tarball.LayerFromFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(oci, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "scan", "image", "--scanners", "secret", "--format", "json", oci)
	var rep secretJSON
	json.Unmarshal([]byte(out), &rep)
	if code != ExitFindings || len(rep.Findings) != 1 || rep.Findings[0].Location.File != "app/config.py" || rep.Findings[0].Secret.Layer == nil {
		t.Errorf("image --scanners secret: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := run(t, "", "scan", "image", "--scanners", "secret", "--format", "cyclonedx", oci); code != ExitError || !strings.Contains(errOut, "SBOM") {
		t.Errorf("an SBOM of secrets: exit %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", "scan", "fs", "--scanners", "secrets", fx.dir); code != ExitError {
		t.Errorf("unknown scanner: exit %d", code)
	}
}

func TestSecretReviewRegressions(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	pat := githubToken(r)
	dir := t.TempDir()
	pw := body(r, 16)
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "FROM alpine:3.20\nADD https://deploy:" + pw + "@example.com/app.tgz /srv/\nRUN sudo GITHUB_TOKEN=" + pat + " make\n",
		"pod.yaml":   "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: c:1\n    env:\n    - name: GITHUB_TOKEN\n      value: " + pat + "\n",
	})
	// No credential in any Dockerfile message.
	for _, args := range [][]string{{"scan", "dockerfile", "--format", "json", dir}, {"scan", "config", "--format", "json", dir}} {
		_, out, errOut := run(t, "", args...)
		if strings.Contains(out+errOut, pw) || strings.Contains(out+errOut, pat[4:]) {
			t.Errorf("%v shows a credential:\n%s", args, out)
		}
	}
	// scan config keeps the credential rule beside k8s-secret-in-env.
	_, out, _ := run(t, "", "scan", "config", "--format", "json", "--severity", "CRITICAL", filepath.Join(dir, "pod.yaml"))
	if !strings.Contains(out, `"github-pat"`) {
		t.Errorf("scan config lost the GitHub token finding:\n%s", out)
	}
	// Standard input where a command has none to give: an error, no panic.
	if code, _, errOut := run(t, "x", "scan", "fs", "--scanners", "secret", "-"); code != ExitError {
		t.Errorf("scan fs - : exit %d %s", code, errOut)
	}
}

func TestScanSecretGitSkipAndIgnoreFile(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	r := rand.New(rand.NewPCG(47, 48))
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	git("init", "-q")
	writeFiles(t, dir, map[string]string{
		"testdata/fixture.env": "GITHUB_TOKEN=" + githubToken(r) + "\n",
		"app/ci.env":           "GITHUB_TOKEN=" + githubToken(r) + "\n",
		"lib/old.env":          "GITHUB_TOKEN=" + githubToken(r) + "\n",
	})
	git("add", ".")
	git("commit", "-qm", "add")
	_, out, _ := run(t, "", "scan", "secret", "--git", "--format", "json", dir)
	var rep secretJSON
	json.Unmarshal([]byte(out), &rep)
	if len(rep.Findings) != 3 {
		t.Fatalf("history: %s", out)
	}
	var fp string
	for _, f := range rep.Findings {
		if f.Location.File == "lib/old.env" {
			fp = f.Fingerprint
		}
	}
	writeFiles(t, dir, map[string]string{".mamori-ignore.yaml": "exceptions:\n- fingerprints: [" + fp + "]\n  reason: revoked\n  owner: sec@example.com\n  expires: 2030-01-01\n"})
	git("add", ".")
	git("commit", "-qm", "accept")
	_, out, _ = run(t, "", "scan", "secret", "--git", "--skip", "testdata/**", "--format", "json", dir)
	rep = secretJSON{}
	json.Unmarshal([]byte(out), &rep)
	if len(rep.Findings) != 1 || rep.Findings[0].Location.File != "app/ci.env" {
		t.Errorf("--skip and the committed ignore file: %s", out)
	}
}
