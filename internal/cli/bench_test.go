package cli

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/hack/genmanifests/gen"
)

// BenchmarkScanConfig10k runs the whole command, output included, on
// 10,000 generated workloads in 1,000 files. Run with the GC settings
// mamori sets for itself: make bench.
func BenchmarkScanConfig10k(b *testing.B) {
	dir := b.TempDir()
	if err := gen.Write(dir, 10000, 1000, 1); err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{"table", "json", "sarif"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				var errb strings.Builder
				code := Run(context.Background(), []string{"scan", "config", "-f", format, dir}, IO{In: strings.NewReader(""), Out: io.Discard, Err: &errb})
				if code != ExitFindings {
					b.Fatalf("exit %d: %s", code, errb.String())
				}
			}
		})
	}
}
