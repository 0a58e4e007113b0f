package vuln

import (
	"cmp"
	"context"
	"os"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/analyzers"
	"github.com/mamori-dev/mamori/pkg/vulndb"
)

// BenchmarkRootfs inventories a Debian 12 minbase root filesystem with
// every installed-system analyzer and matches it against a database of
// every archive, opening the database each time as a scan does. It needs
// MAMORI_BENCH_DB (hack/bench/vuln.sh makes one) and the rootfs of
// hack/debian-rootfs.sh.
func BenchmarkRootfs(b *testing.B) {
	dbPath := os.Getenv("MAMORI_BENCH_DB")
	root := cmp.Or(os.Getenv("MAMORI_DEBIAN_ROOTFS"), "/var/cache/mamori-test/debian12-minbase")
	if dbPath == "" {
		b.Skip("MAMORI_BENCH_DB not set (hack/bench/vuln.sh)")
	}
	if _, err := os.Stat(root); err != nil {
		b.Skip(err)
	}
	ctx := context.Background()
	for b.Loop() {
		db, err := vulndb.Open(dbPath)
		if err != nil {
			b.Fatal(err)
		}
		sc := &inventory.Scanner{Analyzers: analyzers.Installed()}
		inv, err := sc.Scan(ctx, inventory.Dir{Root: root, Skip: inventory.RootfsSkip})
		if err != nil {
			b.Fatal(err)
		}
		res, err := Match(ctx, db, inv, Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
		b.ReportMetric(float64(len(res.Findings)), "findings")
		b.ReportMetric(float64(len(inv.Packages)), "packages")
	}
}
