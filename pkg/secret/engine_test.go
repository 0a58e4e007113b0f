package secret

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func mustEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(Builtin())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// tok builds a token from parts so that this file holds no string a
// secret scanner (ours or a forge's push protection) would flag.
func tok(parts ...string) string { return strings.Join(parts, "") }

// randomBase62 is a deterministic random body for test tokens.
func randomBase62(r *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func TestKeywordSetMatchesNaive(t *testing.T) {
	keywords := []string{"akia", "ghp_", "secret", "ecr", "-----begin", "a", "token", "ken"}
	k, err := newKeywordSet(keywords)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("AKIakighp_SECRETsecretokenTOKEN-begin\n ")
	for i := range 240 {
		n := r.IntN(300)
		if i%6 == 0 {
			n = 4096 + r.IntN(8192)
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = alphabet[r.IntN(len(alphabet))]
		}
		type hit struct{ kw, end int }
		var got, want []hit
		k.find(data, func(kw, end int) { got = append(got, hit{kw, end}) })
		low := bytes.ToLower(data)
		for end := 1; end <= len(low); end++ {
			for id, w := range keywords {
				if end >= len(w) && string(low[end-len(w):end]) == w {
					want = append(want, hit{id, end})
				}
			}
		}
		cmp := func(a, b hit) int {
			if a.end != b.end {
				return a.end - b.end
			}
			return a.kw - b.kw
		}
		slices.SortFunc(got, cmp)
		slices.SortFunc(want, cmp)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: got %v, want %v", data, got, want)
		}
	}
}

func TestScanPositionsAndRedaction(t *testing.T) {
	e := mustEngine(t)
	r := rand.New(rand.NewPCG(3, 4))
	pat := gen{r}.checksummed(tok("gh", "p_"))
	text := "first line\n  token: " + pat + "\nthird\n"
	got := e.Scan([]byte(text))
	if len(got) != 1 {
		t.Fatalf("got %d matches, want 1: %+v", len(got), got)
	}
	m := got[0]
	if m.Rule.ID != "github-pat" || m.Line != 2 || m.Column != 10 {
		t.Errorf("got %s at %d:%d, want github-pat at 2:10 (the generic rule yields to the specific one)", m.Rule.ID, m.Line, m.Column)
	}
	if text[m.Start:m.End] != pat {
		t.Errorf("offsets cover %q", text[m.Start:m.End])
	}
	if want := "ghp_…(40 chars)"; m.Redacted != want {
		t.Errorf("redacted %q, want %q", m.Redacted, want)
	}
	if strings.Contains(m.Redacted, pat[4:10]) {
		t.Errorf("redaction shows the secret: %q", m.Redacted)
	}
}

func TestPlaceholdersAreQuiet(t *testing.T) {
	e := mustEngine(t)
	for _, s := range []string{
		tok("AKIA", "XXXXXXXXXXXXXXXX"),
		tok("AKIA", "IOSFODNN7", "EXAMPLE"),
		tok("gh", "p_", strings.Repeat("x", 36)),
		tok("gh", "p_", strings.Repeat("0", 36)),
		"password: ${DB_PASSWORD}",
		"password = \"<your-password>\"",
		"api_key: {{ .Values.apiKey }}",
		"token = os.Getenv(\"TOKEN\")",
		"secret = settings.auth.client_secret",
		"password: \"********\"",
		"password: changeme123",
		"secret_name: db-credentials-v2",
		"password_file: /run/secrets/db-password-2",
		"token: " + tok("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ", ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
		"stripe: " + tok("sk_", "test_4eC39HqLyjWDarjtT1zdp7dc"),
		"-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n",
		"postgres://user:$PASSWORD@db:5432/app",
		"sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"integrity: sha512-Q3Xx2W9gZ6V7yP3m0Jt8q1cXvG6uYb3bJcG2V8m9nQ7Z1k4Yt2w8rX5sL0pE6aD3fH9jK2lM4nB7vC1xZ8qW5e==",
		"id: 9b2d9c3e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
		// Minified bundles: hashed class names under keys that merely
		// contain a secret word.
		`{tokenbucket:"css-ix0a6u7",secretary:"Xk2pQ9wLm4Tz8Rv",passwordless:"Ab3dEf6hIj9kLm2n"}`,
		`{tokenColor:"css-ix0a6u7"}`,
	} {
		if got := e.Scan([]byte(s + "\n")); len(got) > 0 {
			t.Errorf("%q: reported %s %s", s, got[0].Rule.ID, got[0].Redacted)
		}
	}
}

func TestGenericFindsAssignedSecrets(t *testing.T) {
	e := mustEngine(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, format := range []string{
		"db_password = \"%s\"",
		"DB_PASSWORD=%s",
		"  client_secret: '%s'",
		"{\"apiToken\": \"%s\"}",
		"export API_KEY=%s",
		"$password = '%s';",
		"SECRETKEY=%s",
		"secretkey: %s",
		"apiTokenValue: %s",
		"DB_PASSWORD_PROD=%s",
		"credentials=%s",
	} {
		v := randomBase62(r, 24)
		text := strings.Replace(format, "%s", v, 1)
		got := e.Scan([]byte(text))
		if len(got) != 1 || got[0].Rule.ID != "generic-secret" || text[got[0].Start:got[0].End] != v {
			t.Errorf("%q: got %+v", text, got)
		}
	}
}

func TestScanValue(t *testing.T) {
	e := mustEngine(t)
	r := rand.New(rand.NewPCG(7, 8))
	v := randomBase62(r, 20) + "!9"
	got := e.ScanValue("DB_PASSWORD", []byte(v))
	if len(got) != 1 || got[0].Start != 0 || got[0].End != len(v) || got[0].Line != 1 || got[0].Column != 1 {
		t.Fatalf("ScanValue: %+v", got)
	}
	if got := e.ScanValue("DB_HOST", []byte(v)); len(got) != 0 {
		t.Errorf("a value under a key that is not secret-named was reported: %+v", got)
	}
	key := tok("AKIA", "Q3EGRT5XJNZ2MHUW")
	if got := e.ScanValue("anything", []byte(key)); len(got) != 1 || got[0].Rule.ID != "aws-access-key-id" {
		t.Errorf("pattern rules must run on values: %+v", got)
	}
}

func TestLongLineWindow(t *testing.T) {
	e := mustEngine(t)
	r := rand.New(rand.NewPCG(9, 10))
	pat := gen{r}.checksummed(tok("gh", "p_"))
	line := strings.Repeat("var a=1;", 200000) + "t=\"" + pat + "\";" + strings.Repeat("var b=2;", 200000)
	got := e.Scan([]byte(line))
	if len(got) != 1 || got[0].Column != 1600000+4 {
		t.Fatalf("got %+v", got)
	}
}

func TestKnownTestKeyDigests(t *testing.T) {
	for _, s := range []string{
		tok("sk_", "test_4eC39HqLyjWDarjtT1zdp7dc"),
		tok("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ", ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
	} {
		if !knownTestKey([]byte(s)) {
			t.Errorf("%.12s… is a documented test key", s)
		}
	}
}
