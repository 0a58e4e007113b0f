package ruby

import (
	"flag"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/invtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got any) { t.Helper(); invtest.Golden(t, name, got, *update) }

func fileOf(p string, data []byte) *inventory.File { return invtest.File(p, data) }

func analyze(t testing.TB, a inventory.Analyzer, p string, data []byte) ([]inventory.Package, error) {
	t.Helper()
	return invtest.Analyze(t, a, p, data)
}
