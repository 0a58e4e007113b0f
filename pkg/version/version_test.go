package version

import (
	"errors"
	"strconv"
	"testing"
)

func quoteGo(s string) string { return strconv.Quote(s) }

func TestUnknownEcosystem(t *testing.T) {
	for _, eco := range []string{"", "Hackage", "debian", "PyPi:3"} {
		if _, err := Compare(eco, "1", "2"); !errors.Is(err, ErrUnknownEcosystem) {
			t.Errorf("Compare(%q): %v, want ErrUnknownEcosystem", eco, err)
		}
		if Supported(eco) {
			t.Errorf("Supported(%q) = true", eco)
		}
	}
}

func TestCompareNamesBadVersion(t *testing.T) {
	_, err := Compare("Debian:12", "1.0-1", "foo")
	var ve *Error
	if !errors.As(err, &ve) || ve.Ecosystem != "Debian:12" || ve.Version != "foo" || ve.Reason == "" {
		t.Fatalf("Compare error = %#v", err)
	}
	want := `invalid Debian:12 version "foo": upstream version does not start with a digit`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestBase(t *testing.T) {
	for in, want := range map[string]string{
		"Debian:12":                             "Debian",
		"Alpine:v3.20":                          "Alpine",
		"Ubuntu:22.04:LTS":                      "Ubuntu",
		"Red Hat:enterprise_linux:9::appstream": "Red Hat",
		"npm":                                   "npm",
	} {
		if got := Base(in); got != want {
			t.Errorf("Base(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVersionCompareAcrossSchemes(t *testing.T) {
	deb, err := Parse("Debian", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	npm, err := Parse("npm", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	var zero Version
	if deb.Compare(npm) != -npm.Compare(deb) || deb.Compare(npm) == 0 {
		t.Errorf("cross-scheme order not antisymmetric: %d %d", deb.Compare(npm), npm.Compare(deb))
	}
	if zero.Compare(deb) != -1 || deb.Compare(zero) != 1 || zero.Compare(zero) != 0 {
		t.Error("zero Version must sort first")
	}
	if deb.String() != "1.0" {
		t.Errorf("String() = %q", deb.String())
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct{ eco, in, want string }{
		{"PyPI", "Jinja2", "jinja2"},
		{"PyPI", "zope.interface", "zope-interface"},
		{"PyPI", "Foo__Bar-._baz", "foo-bar-baz"},
		{"PyPI", "a-", "a-"},
		{"NuGet", "Newtonsoft.Json", "newtonsoft.json"},
		{"Packagist", "Guzzlehttp/Guzzle", "guzzlehttp/guzzle"},
		{"Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"},
		{"Maven", "fr.turri:aXMLRPC", "fr.turri:aXMLRPC"},
		{"npm", "Moment.js", "Moment.js"},
		{"Debian:12", "libssl3", "libssl3"},
		{"Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"},
	} {
		if got := Name(tc.eco, tc.in); got != tc.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tc.eco, tc.in, got, tc.want)
		}
	}
}
