package ruby

import (
	"archive/zip"
	"encoding/json"
	"io"
	"testing"

	"github.com/mamori-dev/mamori/internal/shareddata"
	"github.com/mamori-dev/mamori/pkg/osv"
)

// The gems of the lock file are named as RubyGems records name them.
func TestOSVNames(t *testing.T) {
	zr, err := zip.OpenReader(shareddata.Path(t, "osv", "RubyGems.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open("GHSA-wq4h-7r42-5hrr.json") // one of the rack 2.2.3 answers
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	var v osv.Vulnerability
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	pkgs, err := analyze(t, NewGemfileLock(), "Gemfile.lock", read(t, "rails/Gemfile.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range v.Affected {
		for _, p := range pkgs {
			if p.Ecosystem == a.Package.Ecosystem && p.Name == a.Package.Name && p.Version == "2.2.3" {
				return
			}
		}
	}
	t.Errorf("no package of the lock file is named as in %s: %+v", v.ID, v.Affected)
}
