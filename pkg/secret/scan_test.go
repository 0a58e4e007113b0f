package secret

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/finding"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func scanTree(t *testing.T, dir string, opts Options) *finding.Report {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) }
	}
	rep, err := NewScanner(mustEngine(t), opts).Scan(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

type got struct {
	rule, file string
	line       int
	res, path  string
}

func summarize(dir string, rep *finding.Report) []got {
	var out []got
	for _, f := range rep.Findings {
		res := ""
		if f.Resource.Kind != "" {
			res = f.Resource.String()
		}
		out = append(out, got{f.CheckID(), strings.TrimPrefix(f.Location.File, filepath.ToSlash(dir)+"/"), f.Location.Line, res, f.Location.Path})
	}
	return out
}

func TestScanTreeLocatesSecrets(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	pat := gen{r}.checksummed(tok("gh", "p_"))
	pass := randomBase62(r, 18) + "9!"
	akid := tok("AKIA", "Q3EGRT5XJNZ2MHUW")
	dbURL := "postgres://app:" + randomBase62(r, 14) + "@db:5432/app"
	dir := writeTree(t, map[string]string{
		"src/main.go": "package main\n\nconst token = \"" + pat + "\"\n",
		"deploy/app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - name: LOG_LEVEL
          value: debug
        - name: DB_PASSWORD
          value: "` + pass + `"
        - name: DATABASE_URL
          value: ` + dbURL + `
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: db
stringData:
  username: admin
  password: "hunter22"
data:
  aws: ` + base64.StdEncoding.EncodeToString([]byte(akid)) + `
`,
		"package-lock.json": "{\"token\": \"" + pat + "\"}\n",
		"vendor/x/y.go":     "const token = \"" + pat + "\"\n",
		"ignored/a.txt":     "token=" + pat + "\n",
		".gitignore":        "ignored/\n",
		"img.png":           "\x89PNG\r\n\x1a\n\x00\x00" + pat,
	})
	rep := scanTree(t, dir, Options{})
	want := []got{
		{"url-password", "deploy/app.yaml", 17, "Deployment shop/web", "spec.template.spec.containers[0].env[2].value"},
		{"generic-secret", "deploy/app.yaml", 15, "Deployment shop/web", "spec.template.spec.containers[0].env[1].value"},
		{"kubernetes-secret-data", "deploy/app.yaml", 26, "Secret db/creds", "stringData.password"},
		{"aws-access-key-id", "deploy/app.yaml", 28, "Secret db/creds", "data.aws"},
		{"github-pat", "src/main.go", 3, "", ""},
	}
	gotList := summarize(dir, rep)
	if len(gotList) != len(want) {
		t.Fatalf("findings:\n got %+v\nwant %+v\nerrors %v notes %v", gotList, want, rep.Errors, rep.Notes)
	}
	for _, w := range want {
		found := false
		for _, g := range gotList {
			if g == w {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %+v in %+v", w, gotList)
		}
	}
	for _, f := range rep.Findings {
		for _, s := range []string{pat, pass, akid} {
			if strings.Contains(f.Message, s) || strings.Contains(f.Secret.Redacted, s) {
				t.Errorf("finding shows the secret: %q", f.Message)
			}
		}
	}
	// --all brings lock files and vendored trees in; --no-gitignore the ignored directory.
	all := summarize(dir, scanTree(t, dir, Options{All: true, NoGitignore: true}))
	if len(all) != len(want)+3 {
		t.Errorf("with All and NoGitignore: %d findings, want %d: %+v", len(all), len(want)+3, all)
	}
}

func TestScanTreeExceptions(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	pat := gen{r}.checksummed(tok("gh", "p_"))
	dir := writeTree(t, map[string]string{
		"a.env": "GITHUB_TOKEN=" + pat + "\n",
		"b.env": "GITHUB_TOKEN=" + pat + "\n",
	})
	rep := scanTree(t, dir, Options{})
	if len(rep.Findings) != 2 {
		t.Fatalf("findings: %+v", rep.Findings)
	}
	fp := rep.Findings[0].Fingerprint
	ignore := "exceptions:\n- fingerprints: [" + fp + "]\n  reason: revoked on 2026-11-20\n  owner: team-a\n  expires: 2027-01-31\n"
	if err := os.WriteFile(filepath.Join(dir, ".mamori-ignore.yaml"), []byte(ignore), 0o644); err != nil {
		t.Fatal(err)
	}
	// The fingerprint does not move with the line.
	if err := os.WriteFile(filepath.Join(dir, "a.env"), []byte("# moved\n\nGITHUB_TOKEN="+pat+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep = scanTree(t, dir, Options{})
	if len(rep.Findings) != 1 || len(rep.Suppressed) != 1 || rep.Suppressed[0].Finding.Fingerprint != fp {
		t.Fatalf("after the exception: findings %+v suppressed %+v errors %v", rep.Findings, rep.Suppressed, rep.Errors)
	}
	rep = scanTree(t, dir, Options{Now: func() time.Time { return time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC) }})
	if len(rep.Findings) != 2 {
		t.Errorf("an expired exception still suppresses: %+v", rep.Findings)
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Cases a review found: each was reported wrongly, twice, or not at all.
func TestReviewRegressions(t *testing.T) {
	e := mustEngine(t)
	r := rand.New(rand.NewPCG(51, 52))
	pat := gen{r}.checksummed(tok("gh", "p_"))
	for _, quiet := range []string{
		"arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
		"image: ghcr.io/external-secrets/external-secrets:v0.9.11-ubi-boringssl",
		"tokenizer: Qwen/Qwen2.5-7B-Instruct",
	} {
		if got := e.Scan([]byte(quiet + "\n")); len(got) > 0 {
			t.Errorf("%q: reported %s", quiet, got[0].Rule.ID)
		}
	}
	sealed := "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: db}\nspec:\n  encryptedData:\n    password: " + tok("Ag", "By3i4OJSWK+PiTySYZZA9rO43cGDEq") + randomBase62(r, 40) + "\n"
	if got, _ := e.FileFindings("sealed.yaml", []byte(sealed)); len(got) > 0 {
		t.Errorf("SealedSecret: %+v", got)
	}
	// One-line JSON: one secret, one finding, at its field.
	deploy := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"A","value":"1"},{"name":"GH","value":"` + pat + `"}]}]}}}}`
	got, _ := e.FileFindings("deploy.json", []byte(deploy))
	if len(got) != 1 || got[0].Location.Path != "spec.template.spec.containers[0].env[1].value" {
		t.Errorf("one-line JSON: %+v", got)
	}
	// A private key 20 KB into one line.
	key := gen{r}.pemBlock("PRIVATE KEY", 600)
	line := strings.Repeat("x", 20000) + ` "k": "` + strings.ReplaceAll(key, "\n", `\n`) + `"`
	if got := e.Scan([]byte(line)); len(got) != 1 || got[0].Rule.ID != "private-key" {
		t.Errorf("private key far into a line: %d matches", len(got))
	}
	// Two AWS keys on one line, the second past the first's window.
	akid := func() string { return tok("AKIA", gen{r}.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)) }
	two := akid() + strings.Repeat(" ", 900) + akid()
	if got := e.Scan([]byte(two)); len(got) != 2 || got[1].Rule.ID != "aws-access-key-id" {
		t.Errorf("two keys on a line: %+v", got)
	}
	// A weak Secret value: its fingerprint does not depend on the value
	// (a digest of it could be reversed), so it stays the same when the
	// value changes.
	fp := func(v string) string {
		f, _ := e.FileFindings("s.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: "+v+"\n"))
		if len(f) != 1 {
			t.Fatalf("Secret %q: %+v", v, f)
		}
		return f[0].Fingerprint
	}
	if fp("summer2024!") != fp("winter2025?") {
		t.Error("a weak value's fingerprint depends on the value")
	}
	// Redacting free text: a URL's password.
	pw := tok("Zq8v", "N3xK7pW2rT9m")
	msg := e.RedactText("ADD https://deploy:" + pw + "@example.com/app.tgz /srv/")
	if strings.Contains(msg, pw) || !strings.Contains(msg, "…(16 chars)") {
		t.Errorf("RedactText: %q", msg)
	}
}
