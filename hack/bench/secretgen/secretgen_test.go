package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// small is a tree that keeps the tests fast but still holds every kind of
// secret and decoy.
func small(dir string, seed int64) Options {
	return Options{Dir: dir, Seed: seed, Files: 300, Size: 3_000_000, Secrets: 60}
}

// treeHash hashes every path and byte of a tree and its truth (without
// the truth's root, which names the directory).
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Write([]byte(rel + "\x00"))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ReadTruth(TruthPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	tr.Root = ""
	b, _ := json.Marshal(tr)
	h.Write(b)
	return string(h.Sum(nil))
}

func TestGenerateDeterministic(t *testing.T) {
	base := t.TempDir()
	hashes := map[string]string{}
	for _, c := range []struct {
		name string
		seed int64
	}{{"a", 1}, {"b", 1}, {"c", 2}} {
		dir := filepath.Join(base, c.name, "tree")
		if _, err := Generate(small(dir, c.seed)); err != nil {
			t.Fatal(err)
		}
		hashes[c.name] = treeHash(t, dir)
	}
	if hashes["a"] != hashes["b"] {
		t.Error("the same seed gave two different trees")
	}
	if hashes["a"] == hashes["c"] {
		t.Error("seeds 1 and 2 gave the same tree")
	}
}

// formats are the shapes the providers document (and gitleaks' rules
// match): a value planted as a kind must have its kind's shape.
var formats = map[string]*regexp.Regexp{
	"aws-access-key":                  regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`),
	"github-pat":                      regexp.MustCompile(`^ghp_[0-9a-zA-Z]{36}$`),
	"github-fine-grained-pat":         regexp.MustCompile(`^github_pat_[0-9A-Z]{22}_[0-9a-zA-Z]{59}$`),
	"github-oauth":                    regexp.MustCompile(`^gho_[0-9a-zA-Z]{36}$`),
	"github-app-token":                regexp.MustCompile(`^ghs_[0-9a-zA-Z]{36}$`),
	"github-user-to-server":           regexp.MustCompile(`^ghu_[0-9a-zA-Z]{36}$`),
	"gitlab-pat":                      regexp.MustCompile(`^glpat-[\w-]{20}$`),
	"slack-bot-token":                 regexp.MustCompile(`^xoxb-[0-9]{10,13}-[0-9]{10,13}-[a-zA-Z0-9]{24}$`),
	"slack-user-token":                regexp.MustCompile(`^xoxp(-[0-9]{10,13}){3}-[a-f0-9]{32}$`),
	"slack-webhook":                   regexp.MustCompile(`^https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[a-zA-Z0-9]{24}$`),
	"stripe-live-key":                 regexp.MustCompile(`^sk_live_[0-9a-zA-Z]{24,99}$`),
	"stripe-restricted-key":           regexp.MustCompile(`^rk_live_[0-9a-zA-Z]{24,99}$`),
	"twilio-api-key":                  regexp.MustCompile(`^SK[0-9a-f]{32}$`),
	"sendgrid-api-key":                regexp.MustCompile(`^SG\.[\w-]{22}\.[\w-]{43}$`),
	"npm-token":                       regexp.MustCompile(`^npm_[0-9a-zA-Z]{36}$`),
	"npmrc-auth-token":                regexp.MustCompile(`^npm_[0-9a-zA-Z]{36}$`),
	"pypi-token":                      regexp.MustCompile(`^pypi-AgEIcHlwaS5vcmc[\w-]{50,1000}$`),
	"dockerhub-pat":                   regexp.MustCompile(`^dckr_pat_[\w-]{27}$`),
	"vault-token":                     regexp.MustCompile(`^hvs\.[0-9a-zA-Z]{90,120}$`),
	"terraform-cloud-token":           regexp.MustCompile(`^[0-9a-zA-Z]{14}\.atlasv1\.[\w-]{60,70}$`),
	"openai-project-key":              regexp.MustCompile(`^sk-proj-[\w-]{74}T3BlbkFJ[\w-]{73}[0-9a-zA-Z]$`),
	"openai-legacy-key":               regexp.MustCompile(`^sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20}$`),
	"anthropic-api-key":               regexp.MustCompile(`^sk-ant-api03-[\w-]{93}AA$`),
	"gcp-api-key":                     regexp.MustCompile(`^AIza[\w-]{35}$`),
	"azure-storage-connection-string": regexp.MustCompile(`^DefaultEndpointsProtocol=https;AccountName=[a-z0-9]+;AccountKey=[A-Za-z0-9+/]{86}==;EndpointSuffix=core\.windows\.net$`),
	"jwt":                             regexp.MustCompile(`^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]{43,}$`),
	"kubeconfig-token":                regexp.MustCompile(`^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]{43,}$`),
	"url-password-postgres":           regexp.MustCompile(`^postgres(ql)?://\w+:[\w!*.~-]{18,}@[\w.-]+:5432/\w+$`),
	"url-password-https":              regexp.MustCompile(`^https://\w+:[\w!*.~-]{18,}@[\w.-]+/`),
	"db-connection-string":            regexp.MustCompile(`^Server=[\w.]+,1433;Database=\w+;User Id=\w+;Password=[\w!*.~-]{18,};Encrypt=true;$`),
}

// parseKey checks that a planted private key is a real one.
func parseKey(kind, v string) error {
	if kind == "kubeconfig-client-key" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return err
		}
		v = string(b)
	}
	if kind == "pgp-private-key" {
		return parsePGP(v)
	}
	blk, rest := pem.Decode([]byte(v))
	if blk == nil || len(bytes.TrimSpace(rest)) > 0 {
		return errNotPEM
	}
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		_, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		_, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		_, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "OPENSSH PRIVATE KEY":
		if !bytes.HasPrefix(blk.Bytes, []byte("openssh-key-v1\x00")) {
			err = errNotPEM
		}
	default:
		err = errNotPEM
	}
	return err
}

var errNotPEM = errors.New("not a PEM block of a private key")

// parsePGP checks an armoured block: its lines, a secret-key packet tag,
// and the CRC-24 line against the body.
func parsePGP(v string) error {
	ls := strings.Split(strings.TrimSuffix(v, "\n"), "\n")
	if len(ls) < 5 || ls[0] != "-----BEGIN PGP PRIVATE KEY BLOCK-----" || ls[1] != "" || ls[len(ls)-1] != "-----END PGP PRIVATE KEY BLOCK-----" {
		return errors.New("not an armoured PGP private key block")
	}
	sum := ls[len(ls)-2]
	body, err := base64.StdEncoding.DecodeString(strings.Join(ls[2:len(ls)-2], ""))
	if err != nil {
		return err
	}
	c := crc24(body)
	if want := "=" + base64.StdEncoding.EncodeToString([]byte{byte(c >> 16), byte(c >> 8), byte(c)}); sum != want {
		return fmt.Errorf("checksum line %q, want %q", sum, want)
	}
	if body[0] != 0x95 || body[3] != 4 {
		return errors.New("not a v4 secret-key packet")
	}
	return nil
}

func TestTruthMatchesFiles(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "tree")
	tr, recs, err := generate(small(dir, 3))
	if err != nil {
		t.Fatal(err)
	}
	truthBytes, err := os.ReadFile(TruthPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := TruthPath(dir), filepath.Join(base, "planted.json"); got != want {
		t.Fatalf("truth at %s, want %s beside the tree", got, want)
	}
	if tr.Files != 300 {
		t.Errorf("%d files, want 300", tr.Files)
	}
	if tr.Bytes < 2_500_000 || tr.Bytes > 3_600_000 {
		t.Errorf("%d bytes, want about 3,000,000", tr.Bytes)
	}
	if tr.Skipped.Files == 0 || tr.Skipped.Bytes == 0 {
		t.Errorf("no lock files counted as skipped: %+v", tr.Skipped)
	}
	files := map[string][]string{}
	lines := func(f string) []string {
		if l, ok := files[f]; ok {
			return l
		}
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = strings.Split(string(b), "\n")
		return files[f]
	}
	values := map[string]bool{}
	kindsSeen := map[string]bool{}
	var planted int
	for _, rc := range recs {
		ls := lines(rc.file)
		if rc.start < 1 || rc.start > rc.line || rc.end < rc.line || rc.end > len(ls) {
			t.Errorf("%s:%d %s: span %d-%d outside the file's %d lines", rc.file, rc.line, rc.kind, rc.start, rc.end, len(ls))
			continue
		}
		// The value as written starts on its line and ends on its end.
		text := strings.Join(ls[rc.line-1:rc.end], "\n")
		onDisk := strings.TrimSuffix(rc.onDisk, "\n")
		if !strings.Contains(text, onDisk) || !strings.Contains(ls[rc.line-1], strings.SplitN(onDisk, "\n", 2)[0]) {
			t.Errorf("%s:%d-%d (%s) does not hold its value %.40q", rc.file, rc.line, rc.end, rc.kind, onDisk)
		}
		if rc.col > 0 && !strings.HasPrefix(ls[rc.line-1][rc.col-1:], onDisk) {
			t.Errorf("%s:%d:%d (%s) does not hold its value %.40q at its column", rc.file, rc.line, rc.col, rc.kind, onDisk)
		}
		if rc.col > 0 != strings.HasSuffix(rc.file, ".min.js") {
			t.Errorf("%s:%d (%s): column %d, want one on bundles only", rc.file, rc.line, rc.kind, rc.col)
		}
		if rc.decoy {
			continue
		}
		planted++
		kindsSeen[rc.kind] = true
		if values[rc.value] {
			t.Errorf("%s:%d: value of %s planted twice", rc.file, rc.line, rc.kind)
		}
		values[rc.value] = true
		if re, ok := formats[rc.kind]; ok && !re.MatchString(rc.value) {
			t.Errorf("%s:%d: %s %.20q… does not have the kind's format %s", rc.file, rc.line, rc.kind, rc.value, re)
		}
		if strings.HasPrefix(rc.kind, "private-key-") || rc.kind == "pgp-private-key" || rc.kind == "kubeconfig-client-key" || rc.kind == "gcp-service-account" {
			if err := parseKey(rc.kind, rc.value); err != nil {
				t.Errorf("%s:%d: %s is not a real key: %v", rc.file, rc.line, rc.kind, err)
			}
		}
		if len(rc.value) >= 8 && bytes.Contains(truthBytes, []byte(rc.value)) {
			t.Errorf("planted.json holds the value of %s:%d", rc.file, rc.line)
		}
	}
	if planted != len(tr.Planted) || planted < 60 || planted > 70 {
		t.Errorf("%d planted (truth lists %d), want about 60", planted, len(tr.Planted))
	}
	for _, k := range kinds() {
		name := k.name
		if name == "kubeconfig" {
			name = "kubeconfig-token"
		}
		if !kindsSeen[name] {
			t.Errorf("no %s planted", name)
		}
	}
	for _, p := range tr.Planted {
		if len(p.Prefix) != 4 {
			t.Errorf("%s:%d: prefix %q, want 4 characters", p.File, p.Line, p.Prefix)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Dir: dir, Files: 300, Size: 3e6, Secrets: 10}, "not empty"},
		{Options{Dir: t.TempDir(), Files: 10, Size: 3e6, Secrets: 10}, "-files 10"},
		{Options{Dir: t.TempDir(), Files: 300, Size: 1000, Secrets: 10}, "-size 1000"},
		{Options{Dir: t.TempDir(), Files: 300, Size: 3e6, Secrets: 0}, "-secrets 0"},
	} {
		if _, err := Generate(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Generate(%+v) = %v, want an error with %q", c.o, err, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"100MB": 100e6, "1.5GiB": 3 << 29, "2000": 2000, "64 KiB": 65536} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-1MB", "ten"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) gave no error", in)
		}
	}
}

func TestCompareGolden(t *testing.T) {
	td := filepath.Join("testdata", "compare")
	var out bytes.Buffer
	err := runCompare(&out, filepath.Join(td, "planted.json"), "", filepath.Join(td, "times.txt"), true,
		[]string{filepath.Join(td, "mamori.json"), filepath.Join(td, "gitleaks.json")})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join(td, "want.txt")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("output differs from %s (go test -update to accept):\n%s", golden, out.String())
	}
}

// TestCompareMatching pins the matching rules one by one.
func TestCompareMatching(t *testing.T) {
	tr, err := ReadTruth(filepath.Join("testdata", "compare", "planted.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		f           Finding
		found, fp   int
		placeholder int
	}{
		{"single line, exact", Finding{File: "svc/a.go", Line: 10}, 1, 0, 0},
		{"single line, next line is not it", Finding{File: "svc/a.go", Line: 11}, 0, 1, 0},
		{"absolute path under the root", Finding{File: "/scan/tree/svc/a.go", Line: 10}, 1, 0, 0},
		{"./ prefix", Finding{File: "./svc/a.go", Line: 10}, 1, 0, 0},
		{"other file, same line", Finding{File: "svc/b.go", Line: 10}, 0, 1, 0},
		{"PEM, inside", Finding{File: "keys/tls.key", Line: 9}, 1, 0, 0},
		{"PEM, last line", Finding{File: "keys/tls.key", Line: 15}, 1, 0, 0},
		{"PEM, after the end", Finding{File: "keys/tls.key", Line: 16}, 0, 1, 0},
		{"pair, second line", Finding{File: "web/c.js", Line: 21}, 1, 0, 0},
		{"pair, line before the first (first line -1)", Finding{File: "web/c.js", Line: 19}, 1, 0, 0},
		{"manifest, kind line", Finding{File: "deploy/s.yaml", Line: 5}, 1, 0, 0},
		{"manifest, before the document", Finding{File: "deploy/s.yaml", Line: 3}, 0, 1, 0},
		{"placeholder line", Finding{File: "svc/a.go", Line: 30}, 0, 1, 1},
		{"placeholder span", Finding{File: "docs/x.md", Line: 9}, 0, 1, 1},
		{"noise line", Finding{File: "svc/a.go", Line: 40}, 0, 1, 0},
		{"bundle, on the value's column", Finding{File: "web/dist/app.min.js", Line: 2, Column: 50010}, 1, 0, 0},
		{"bundle, at its key just before", Finding{File: "web/dist/app.min.js", Line: 2, Column: 49950}, 1, 0, 0},
		{"bundle, same line, far away", Finding{File: "web/dist/app.min.js", Line: 2, Column: 12}, 0, 1, 0},
		{"bundle, no column given", Finding{File: "web/dist/app.min.js", Line: 2}, 1, 0, 0},
		{"bundle, placeholder column", Finding{File: "web/dist/app.min.js", Line: 2, Column: 90000}, 0, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Compare(tr, tr.Root, &Report{Findings: []Finding{c.f}})
			if r.Found != c.found || len(r.FalsePos) != c.fp || r.Placeholders != c.placeholder {
				t.Errorf("found %d, false positives %d, placeholders %d; want %d, %d, %d", r.Found, len(r.FalsePos), r.Placeholders, c.found, c.fp, c.placeholder)
			}
			if len(r.Missed) != len(tr.Planted)-r.Found {
				t.Errorf("%d missed, want %d", len(r.Missed), len(tr.Planted)-r.Found)
			}
		})
	}
}

func TestReadReportErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, body, want string
	}{
		{"empty", "", "not a JSON report"},
		{"scalar", "42", "not a report"},
		{"syntax", "[\n{\"File\": \"a\", \"StartLine\": 1},\n{\"File\": }\n]", "line 3"},
		{"gitleaks no line", "[\n{\"File\": \"a\"}\n]", "has no File or StartLine"},
		{"gitleaks type", "[\n\n{\"File\": \"a\", \"StartLine\": \"x\"}]", "line 3"},
		{"mamori no findings", "{\"targets\": []}", "not a mamori report"},
		{"mamori findings object", "{\"findings\": {}}", "is not an array"},
		{"mamori no location", "{\"findings\": [\n{\"checkID\": \"X\"}]}", "finding 1 (X) has no location"},
		{"truncated", "{\"findings\": [{\"checkID\": \"X\",", "truncated"},
		{"trailing", "[] []", "data after the report"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".json")
			if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadReport(p)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("ReadReport = %v, want an error naming %s with %q", err, p, c.want)
			}
		})
	}
	if _, err := ReadReport(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("no error for a missing report")
	}
}

func TestReadTruthErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"bad span":      `{"planted": [{"file": "a", "line": 5, "start": 6, "end": 5, "kind": "k"}]}`,
		"unknown field": `{"plantd": []}`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadTruth(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: ReadTruth = %v, want an error naming the file", name, err)
		}
	}
}

func FuzzDecodeReport(f *testing.F) {
	for _, n := range []string{"mamori.json", "gitleaks.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "compare", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"findings": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := decodeReport(bytes.NewReader(b))
		if err == nil {
			for _, x := range rep.Findings {
				if x.File == "" || x.Line < 0 {
					t.Fatalf("accepted a finding without a place: %+v", x)
				}
			}
		}
	})
}

func FuzzDecodeTruth(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "compare", "planted.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := decodeTruth(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever is accepted compares without trouble.
		Compare(tr, tr.Root, &Report{Findings: []Finding{{File: "a", Line: 1}}})
	})
}

func FuzzParseTimes(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "compare", "times.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseTimes("times.txt", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "times.txt:") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		for name, tm := range m {
			if !(tm.wall > 0) || !(tm.rss >= 0) {
				t.Fatalf("%s: accepted wall time %v", name, tm.wall)
			}
		}
	})
}

func TestParseTimesErrors(t *testing.T) {
	for _, body := range []string{"mamori 1\n", "mamori x 2\n", "mamori 0 10\n", "a 1 2 3\n", "a NaN 2\n", "a 1 -Inf\n"} {
		if _, err := parseTimes("t.txt", []byte("# ok\n"+body)); err == nil || !strings.HasPrefix(err.Error(), "t.txt:2:") {
			t.Errorf("parseTimes(%q) = %v, want an error at t.txt:2", body, err)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "tree")
		o := small(dir, 1)
		t, err := Generate(o)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(t.Bytes)
	}
}

func BenchmarkCompare(b *testing.B) {
	tr := &Truth{Root: "/t"}
	rep := &Report{}
	for i := range 2000 {
		f := filepath.Join("d", string(rune('a'+i%26)), "f.go")
		tr.Planted = append(tr.Planted, Planted{File: f, Line: i, Start: i, End: i + i%3, Kind: "k", Prefix: "abcd", Length: 20})
		tr.Decoys = append(tr.Decoys, Decoy{File: f, Line: i + 5000, End: i + 5000, Class: "placeholder-x"})
	}
	for i := range 50000 {
		rep.Findings = append(rep.Findings, Finding{File: "/t/d/" + string(rune('a'+i%26)) + "/f.go", Line: i % 7000, Rule: "r"})
	}
	for b.Loop() {
		Compare(tr, tr.Root, rep)
	}
}

func TestCRC24(t *testing.T) {
	// The check value of CRC-24/OPENPGP.
	if got := crc24([]byte("123456789")); got != 0x21cf02 {
		t.Errorf("crc24 = %#x, want 0x21cf02", got)
	}
}
