package php

import (
	"archive/zip"
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
	var names = map[string]bool{}
	events := 0
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
		var v osv.Vulnerability
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", zf.Name, err)
		}
		for _, a := range v.Affected {
			names[a.Package.Name] = true
			for _, r := range a.Ranges {
				for _, e := range r.Events {
					for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected} {
						events++
						if strings.HasPrefix(s, "v") {
							t.Errorf("%s: range event %q has a v", v.ID, s)
						}
					}
				}
			}
		}
	}
	if events == 0 {
		t.Fatal("no range events read")
	}
	pkgs, err := analyze(t, NewComposerLock(), "composer.lock", read(t, "app/composer.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"guzzlehttp/guzzle", "symfony/http-kernel", "smarty/smarty"} {
		if !names[want] {
			t.Errorf("%s is not a Packagist name in the records", want)
		}
	}
	for _, p := range pkgs {
		if p.Ecosystem != "Packagist" || strings.HasPrefix(p.Version, "v") {
			t.Errorf("%s %s %s: not in the records' form", p.Ecosystem, p.Name, p.Version)
		}
	}
}
