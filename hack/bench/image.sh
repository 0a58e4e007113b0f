#!/usr/bin/env bash
# Streams a ~1 GB image (docker archive of 5 gzip layers, ~0.45 GB on disk:
# ~4,000 files of varied sizes, 3,000 node_modules packages of three files
# each, seven 100 MB binaries of machine code, 50 MB of incompressible
# assets, a layer that rewrites the package database and deletes a package)
# through image.Inventory, and reports wall and CPU time and peak RSS (CPU
# time is the steadier figure on a shared machine).
# The tarball is generated once into a cache directory outside the
# repository: $MAMORI_BENCH_DIR, default ${XDG_CACHE_HOME:-~/.cache}/mamori-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
export MAMORI_BENCH_DIR="${MAMORI_BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mamori-bench}"
mkdir -p "$MAMORI_BENCH_DIR"
bin="$MAMORI_BENCH_DIR/image.test"
go test -c -o "$bin" ./pkg/source/image
if [ ! -f "$MAMORI_BENCH_DIR/image-1g-v2.tar" ]; then
	echo "generating $MAMORI_BENCH_DIR/image-1g-v2.tar (once)..."
	"$bin" -test.run '^TestGenerateBenchImage$' -test.timeout 30m
fi
ls -l "$MAMORI_BENCH_DIR/image-1g-v2.tar"
# One run per process, so that peak RSS (time -v, and VmHWM reported by
# the benchmark) is that of one inventory.
for i in 1 2 3; do
	/usr/bin/time -f "wall %e s, cpu %U s user + %S s sys, peak RSS %M KiB" "$bin" -test.run '^$' -test.bench '^BenchmarkInventoryLarge$' -test.benchtime 1x 2>&1 |
		grep -E 'Benchmark|wall'
done
