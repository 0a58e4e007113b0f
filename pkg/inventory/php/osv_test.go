package php

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/internal/shareddata"
	"github.com/mamori-dev/mamori/pkg/osv"
)

// Packagist records name packages vendor/name and give range events
// without a "v"; the analyzers' names and versions are in the same form.
func TestOSVForm(t *testing.T) {
	zr, err := zip.OpenReader(shareddata.Path(t, "osv", "Packagist.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	want := map[string]bool{"guzzlehttp/guzzle": false, "symfony/http-kernel": false, "smarty/smarty": false}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Records are compact JSON: a byte search finds any event with a v.
		for _, ev := range []string{`"introduced":"v`, `"fixed":"v`, `"last_affected":"v`} {
			if bytes.Contains(b, []byte(ev)) {
				t.Errorf("%s: a range event has a v", zf.Name)
			}
		}
		if !bytes.Contains(b, []byte(`"Packagist"`)) {
			t.Fatalf("%s: no Packagist package", zf.Name)
		}
		var v osv.Vulnerability
		for name := range want {
			if !bytes.Contains(b, []byte(`"`+name+`"`)) {
				continue
			}
			if v.ID == "" {
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("%s: %v", zf.Name, err)
				}
			}
			for _, a := range v.Affected {
				if a.Package.Ecosystem == "Packagist" && a.Package.Name == name {
					want[name] = true
				}
			}
		}
	}
	for name, ok := range want {
		if !ok {
			t.Errorf("%s is not a Packagist name in the records", name)
		}
	}
	pkgs, err := analyze(t, NewComposerLock(), "composer.lock", read(t, "app/composer.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if p.Ecosystem != "Packagist" || strings.HasPrefix(p.Version, "v") {
			t.Errorf("%s %s %s: not in the records' form", p.Ecosystem, p.Name, p.Version)
		}
	}
}
