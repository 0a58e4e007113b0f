#!/usr/bin/env bash
# Secret-scan benchmark: `mamori scan secret` beside gitleaks on the same
# generated tree (hack/bench/secretgen: ~5,000 files, ~100 MB of sources,
# configs, manifests, logs, minified bundles and lock files, with ~150
# planted secrets of 45 kinds and ~400 placeholder and noise lines).
#
# Prints, per tool: median wall time of $RUNS runs, MB/s over the bytes on
# disk and over the bytes scanned after default skips (lock files), peak
# RSS, findings, planted secrets found, false positives (findings on no
# planted secret's lines) and how many of those are on placeholder lines.
#
# Environment:
#   MAMORI_BENCH_TREE  reuse (or generate once into) this tree; its truth is
#                      ../planted.json beside it. Default: a temporary tree.
#   FILES SIZE SEED    tree shape (default 5000, 100MB, 1)
#   RUNS               runs per tool (default 3)
#   TOOLS              tools to run (default "mamori gitleaks")
#   COLD=0             keep the page cache (default: drop it before each
#                      run when root; warm runs otherwise)
# gitleaks is installed once into ~/.cache/mamori/bench/bin (by version).
# Reports of the last run are kept in ~/.cache/mamori/bench/secret-last.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs="${RUNS:-3}"
tools="${TOOLS:-mamori gitleaks}"
cache="${MAMORI_BENCH_CACHE:-$HOME/.cache/mamori/bench}"
gitleaks_version=v8.30.1
out="$cache/secret-last"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$cache/bin" "$out"

command -v /usr/bin/time >/dev/null || {
	echo "secret.sh: /usr/bin/time (GNU time) is missing: apt-get install time" >&2
	exit 1
}

go build -o "$tmp/secretgen" ./hack/bench/secretgen

# The tree and its truth.
tree="${MAMORI_BENCH_TREE:-$tmp/gen/tree}"
truth="$(dirname "$tree")/planted.json"
if [ -f "$truth" ] && [ -d "$tree" ]; then
	echo "== reusing $tree ($truth)"
else
	echo "== generating $tree"
	"$tmp/secretgen" -out "$tree" -seed "${SEED:-1}" -files "${FILES:-5000}" -size "${SIZE:-100MB}"
fi

# The tools.
for tool in $tools; do
	case "$tool" in
	mamori)
		echo "== building mamori"
		go build -o "$tmp/mamori" ./cmd/mamori
		if ! "$tmp/mamori" scan secret --help >/dev/null 2>&1; then
			echo "secret.sh: this mamori has no 'scan secret' command yet; run TOOLS=gitleaks $0 for the gitleaks half" >&2
			exit 1
		fi
		;;
	gitleaks)
		if [ "$(cat "$cache/bin/gitleaks.version" 2>/dev/null)" != "$gitleaks_version" ]; then
			echo "== installing gitleaks $gitleaks_version into $cache/bin"
			GOBIN="$cache/bin" go install "github.com/zricethezav/gitleaks/v8@$gitleaks_version"
			echo "$gitleaks_version" >"$cache/bin/gitleaks.version"
		fi
		;;
	*)
		echo "secret.sh: unknown tool $tool (want mamori, gitleaks)" >&2
		exit 2
		;;
	esac
done

cold=0
if [ "${COLD:-1}" != 0 ] && [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ]; then
	cold=1
	echo "== cold runs: page cache dropped before each run"
else
	echo "== warm runs: page cache kept (not root, or COLD=0); one warm-up run per tool first"
fi
echo "   $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(go env GOVERSION)"

# run NAME REPORT CMD...: $runs timed runs; records the median wall time
# and the largest peak RSS in times.txt.
run() {
	local name="$1" report="$2"
	shift 2
	if [ "$cold" = 0 ]; then
		"$@" >/dev/null 2>&1 || true
	fi
	for i in $(seq "$runs"); do
		if [ "$cold" = 1 ]; then
			sync
			echo 3 >/proc/sys/vm/drop_caches
		fi
		rm -f "$report"
		if ! /usr/bin/time -o "$tmp/$name.time.$i" -f "%e %M" "$@" >"$tmp/$name.log.$i" 2>&1; then
			echo "secret.sh: $name failed (run $i): $*" >&2
			tail -20 "$tmp/$name.log.$i" >&2
			exit 1
		fi
		[ -s "$report" ] || {
			echo "secret.sh: $name wrote no report at $report" >&2
			exit 1
		}
		echo "   $name run $i: $(awk '{printf "%.2f s, %.0f MB peak RSS", $1, $2/1024}' "$tmp/$name.time.$i")"
	done
	cat "$tmp/$name".time.* | sort -n | awk -v name="$name" '
		{ w[NR] = $1; if ($2 > rss) rss = $2 }
		END { printf "%s %s %.1f\n", name, w[int((NR+1)/2)], rss/1024 }' >>"$tmp/times.txt"
}

reports=()
for tool in $tools; do
	echo "== $tool ($runs runs)"
	case "$tool" in
	mamori)
		run mamori "$out/mamori.json" "$tmp/mamori" scan secret --format json --exit-code 0 "$tree" -o "$out/mamori.json"
		;;
	gitleaks)
		run gitleaks "$out/gitleaks.json" "$cache/bin/gitleaks" dir "$tree" --report-format json \
			--report-path "$out/gitleaks.json" --no-banner --exit-code 0
		;;
	esac
	reports+=("$tool=$out/$tool.json")
done
cp "$tmp/times.txt" "$out/times.txt"

echo
"$tmp/secretgen" -compare "$truth" -root "$tree" -times "$tmp/times.txt" "${reports[@]}" | tee "$out/summary.txt"
echo
echo "reports: $out (secretgen -compare $truth -root $tree -v ... lists every miss and false positive)"
