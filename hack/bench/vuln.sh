#!/usr/bin/env bash
# Vulnerability scan figures for the issue's targets, on this machine:
#   - `mamori db import` of every archive in ../shared/data/osv: time, peak
#     RSS and database size (the database is cached and reused after);
#   - inventory + match of a Debian 12 minbase rootfs, in process
#     (BenchmarkRootfs) and as a whole `mamori scan rootfs` process.
# Needs the rootfs of hack/debian-rootfs.sh (root, debootstrap).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${MAMORI_BENCH_CACHE:-$HOME/.cache/mamori/bench}"
data="${MAMORI_TESTDATA:-../shared/data}/osv"
mkdir -p "$cache"
go build -o "$cache/mamori" ./cmd/mamori
db="$cache/osv-all.db"
if [ ! -f "$db" ] || [ -n "${REIMPORT:-}" ]; then
	rm -f "$db"
	echo "== mamori db import (every archive)"
	/usr/bin/time -f "wall %e s, user %U s, peak RSS %M KB" "$cache/mamori" db import --db "$db" "$data"/*.zip
	ls -l "$db" | awk '{printf "database size %.1f MB\n", $5/1e6}'
fi
rootfs="$(hack/debian-rootfs.sh)"
echo "== BenchmarkRootfs (inventory + match, in process)"
MAMORI_BENCH_DB="$db" MAMORI_DEBIAN_ROOTFS="$rootfs" go test -run '^$' -bench BenchmarkRootfs -benchtime 20x -count 3 ./pkg/vuln/
echo "== mamori scan rootfs (whole process, 10 runs)"
"$cache/mamori" scan rootfs --db "$db" --exit-code 0 -f json -o /dev/null "$rootfs" 2>/dev/null # warm the page cache
for _ in $(seq 10); do
	/usr/bin/time -f "%e" "$cache/mamori" scan rootfs --db "$db" --exit-code 0 -f json -o /dev/null "$rootfs" 2>&1 >/dev/null | tail -1
done | sort -n | awk '{a[NR]=$1} END {printf "wall: min %s s, median %s s, max %s s\n", a[1], a[int((NR+1)/2)], a[NR]}'
