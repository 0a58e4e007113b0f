package java

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

type report struct {
	Packages []inventory.Package `json:"packages"`
	Notes    []string            `json:"notes,omitempty"`
}

func reportOf(pkgs []inventory.Package, err error) report {
	r := report{Packages: pkgs}
	if err != nil {
		r.Notes = strings.Split(err.Error(), "\n")
	}
	return r
}

func TestPom(t *testing.T) {
	for _, name := range []string{"basic", "spring-parent", "latin1"} {
		t.Run(name, func(t *testing.T) {
			p := "pom/" + name + "/pom.xml"
			data, err := os.ReadFile(filepath.Join("testdata", p))
			if err != nil {
				t.Fatal(err)
			}
			pkgs, err := analyze(t, NewPom(), p, data)
			var notes []error
			if err != nil {
				j, ok := err.(interface{ Unwrap() []error })
				if !ok {
					t.Fatal(err)
				}
				// Every note is an unresolved version, never a parse failure.
				for _, e := range j.Unwrap() {
					if !errors.Is(e, ErrUnresolved) {
						t.Errorf("not an ErrUnresolved note: %v", e)
					}
					notes = append(notes, e)
				}
			}
			golden(t, "pom/"+name, reportOf(pkgs, errors.Join(notes...)))
		})
	}
}

func TestPomErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"not xml", "hello", "no <project> element"},
		{"mismatched", "<project>\n<a></b></project>", "line 2: element <a> closed by </b>"},
		{"truncated", "<project>\n  <dependencies>\n", "line 3: unexpected EOF"},
		{"unclosed", "<project>\n  <dependencies>\n    <dependency>\n</project>", "line 4: element <dependency> closed by </project>"},
		{"wrong root", "<?xml version=\"1.0\"?>\n<settings><servers/></settings>", "line 2: root element <settings>, not a Maven <project>"},
		{"encoding", "<?xml version=\"1.0\" encoding=\"EBCDIC\"?>\n<project/>", `unsupported encoding "EBCDIC"`},
		{"empty", "", "no <project> element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := analyze(t, NewPom(), "a/pom.xml", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, ErrUnresolved) {
				t.Errorf("a parse error is not a note: %v", err)
			}
		})
	}
}

func TestPomResolveCycle(t *testing.T) {
	data := `<project><properties><a>${b}</a><b>${a}</b></properties><dependencies>
<dependency><groupId>g</groupId><artifactId>x</artifactId><version>${a}</version></dependency></dependencies></project>`
	pkgs, err := analyze(t, NewPom(), "pom.xml", []byte(data))
	if len(pkgs) != 0 || !errors.Is(err, ErrUnresolved) || !strings.Contains(err.Error(), "line 2: dependency g:x") {
		t.Errorf("got %v, %v", pkgs, err)
	}
}

func TestGradleLock(t *testing.T) {
	for _, p := range []string{
		"gradle/app/gradle.lockfile",
		"gradle/gradle/dependency-locks/testRuntimeClasspath.lockfile",
		"gradle/gradle/dependency-locks/runtimeClasspath.lockfile",
	} {
		t.Run(p, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", p))
			if err != nil {
				t.Fatal(err)
			}
			pkgs, err := analyze(t, NewGradleLock(), p, data)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(p, filepath.Ext(p)), pkgs)
		})
	}
}

func TestGradleLockErrors(t *testing.T) {
	_, err := analyze(t, NewGradleLock(), "gradle.lockfile", []byte("# c\na:b:1=x\nnot-a-coordinate=compileClasspath\n"))
	if err == nil || !strings.Contains(err.Error(), `line 3: want group:artifact:version=configurations, got "not-a-coordinate=compileClasspath"`) {
		t.Errorf("got %v", err)
	}
	for p, want := range map[string]bool{
		"gradle.lockfile": true, "x/gradle.lockfile": true, "gradle/dependency-locks/a.lockfile": true,
		"x/gradle/dependency-locks/b.lockfile": true, "a.lockfile": false, "buildscript-gradle.lockfile": false,
	} {
		if got := NewGradleLock().Wants(p, inventory.FileInfo{Mode: 0o644}); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}
