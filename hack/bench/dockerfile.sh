#!/usr/bin/env bash
# Dockerfile lint benchmark: `mamori scan dockerfile` over N Dockerfiles
# (default 2,000) in a tree, each a copy of the realistic multi-stage and
# Python fixtures of pkg/dockerfile with its own stage names and tags, so
# that no two files are equal. Prints the median wall time of $RUNS runs
# and the peak RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${N:-2000}"
runs="${RUNS:-5}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mamori" ./cmd/mamori
fixtures=(pkg/dockerfile/testdata/golden/multistage.Dockerfile pkg/dockerfile/testdata/golden/python.Dockerfile)
for i in $(seq 1 "$n"); do
	d="$tmp/tree/svc$((i % 50))/app$i"
	mkdir -p "$d"
	f="${fixtures[$((i % 2))]}"
	sed -e "/not-a-rule/d" -e "s/\(FROM [^ ]*:\)\([0-9][^ ]*\)/\1\2-$i/" -e "s/ AS \([a-z]*\)/ AS \1$i/; s/--from=\([a-z]*\)/--from=\1$i/" "$f" >"$d/Dockerfile"
	[ $((i % 3)) -eq 0 ] && echo ".git" >"$d/.dockerignore"
done
echo "$n Dockerfiles, $(du -sh "$tmp/tree" | cut -f1) in $tmp/tree"
times=()
for _ in $(seq 1 "$runs"); do
	/usr/bin/time -f "%e %M" -o "$tmp/time" "$tmp/mamori" scan dockerfile --format json --exit-code 0 -o "$tmp/out.json" "$tmp/tree" 2>"$tmp/stderr" || true
	read -r wall rss < <(tail -1 "$tmp/time")
	times+=("$wall $rss")
done
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$runs" '{w[NR]=$1; r[NR]=$2} END {printf "median wall %.2f s (min %.2f, max %.2f), peak RSS %d MB\n", w[int((n+1)/2)], w[1], w[n], r[int((n+1)/2)]/1024}'
tail -1 "$tmp/stderr"
