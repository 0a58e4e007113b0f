package version

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vectorFiles maps each file of upstream reference vectors to the
// ecosystems whose ordering it checks.
var vectorFiles = []struct {
	file       string
	ecosystems []string
}{
	{"dpkg.txt", []string{"Debian", "Debian:12", "Ubuntu:22.04:LTS"}},
	{"rpm.txt", []string{"Red Hat", "Red Hat:enterprise_linux:9::appstream", "Rocky Linux:9", "AlmaLinux:8", "openSUSE:Leap 15.5", "SUSE:Linux Enterprise Server 15 SP5", "Amazon Linux:2023"}},
	{"apk.txt", []string{"Alpine", "Alpine:v3.20", "Wolfi", "Chainguard"}},
	{"pep440.txt", []string{"PyPI"}},
	{"semver.txt", []string{"crates.io", "npm", "SEMVER"}},
	{"go.txt", []string{"Go"}},
	{"maven.txt", []string{"Maven"}},
	{"gem.txt", []string{"RubyGems"}},
	{"nuget.txt", []string{"NuGet"}},
	{"composer.txt", []string{"Packagist"}},
}

type vector struct {
	line    int
	a, b    string
	want    int
	sorted  []string
	invalid bool
}

func readVectors(t testing.TB, path string) []vector {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "!":
			vs = append(vs, vector{line: n, a: "", invalid: true})
			continue
		case strings.HasPrefix(line, "! "):
			vs = append(vs, vector{line: n, a: line[2:], invalid: true})
			continue
		}
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case fields[0] == "sorted:":
			vs = append(vs, vector{line: n, sorted: fields[1:]})
		case len(fields) == 3 && strings.Contains("<=>", fields[1]) && len(fields[1]) == 1:
			vs = append(vs, vector{line: n, a: fields[0], b: fields[2], want: strings.Index("<=>", fields[1]) - 1})
		default:
			t.Fatalf("%s:%d: cannot read %q", path, n, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestVectors(t *testing.T) {
	for _, vf := range vectorFiles {
		path := filepath.Join("testdata", vf.file)
		vs := readVectors(t, path)
		for _, eco := range vf.ecosystems {
			t.Run(vf.file+"/"+eco, func(t *testing.T) {
				checked := 0
				check := func(line int, a, b string, want int) {
					t.Helper()
					checked++
					got, err := Compare(eco, a, b)
					if err != nil {
						t.Errorf("%s:%d: Compare(%q, %q): %v", path, line, a, b, err)
						return
					}
					if got != want {
						t.Errorf("%s:%d: Compare(%q, %q) = %d, want %d", path, line, a, b, got, want)
					}
				}
				for _, v := range vs {
					switch {
					case v.invalid:
						checked++
						err := Valid(eco, v.a)
						var ve *Error
						if !errors.As(err, &ve) {
							t.Errorf("%s:%d: Valid(%q) = %v, want an *Error", path, v.line, v.a, err)
							continue
						}
						if msg := err.Error(); !strings.Contains(msg, eco) || !strings.Contains(msg, quoteGo(v.a)) {
							t.Errorf("%s:%d: error %q names neither ecosystem nor version", path, v.line, msg)
						}
					case v.sorted != nil:
						for i, a := range v.sorted {
							check(v.line, a, a, 0)
							for _, b := range v.sorted[i+1:] {
								check(v.line, a, b, -1)
								check(v.line, b, a, 1)
							}
						}
					default:
						check(v.line, v.a, v.b, v.want)
						check(v.line, v.b, v.a, -v.want)
					}
				}
				if checked < 10 {
					t.Fatalf("only %d checks from %s", checked, path)
				}
			})
		}
	}
}
