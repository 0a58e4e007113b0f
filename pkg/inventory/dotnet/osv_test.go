package dotnet

import (
	"archive/zip"
	"encoding/json"
	"io"
	"testing"

	"github.com/mamori-dev/mamori/internal/shareddata"
	"github.com/mamori-dev/mamori/pkg/osv"
)

// The deps.json packages of the NuGet known answers are named as the
// records name them.
func TestOSVNames(t *testing.T) {
	zr, err := zip.OpenReader(shareddata.Path(t, "osv", "NuGet.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	pkgs, err := analyze(t, NewDepsJSON(), "app/WebApi.deps.json", read(t, "app/WebApi.deps.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"GHSA-5crp-9r3c-p9vr", "GHSA-ghhp-997w-qr28"} {
		f, err := zr.Open(id + ".json")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var v osv.Vulnerability
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range v.Affected {
			for _, p := range pkgs {
				found = found || p.Ecosystem == a.Package.Ecosystem && p.Name == a.Package.Name
			}
		}
		if !found {
			t.Errorf("no package named as in %s: %+v", id, v.Affected)
		}
	}
}
