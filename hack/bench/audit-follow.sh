#!/usr/bin/env bash
# Follow a growing, rotating audit log with `mamori audit scan --follow` and
# sample the follower's memory: the issue asks for memory flat over 10
# minutes. auditgen appends a realistic mix (pkg/audit/audittest) at RATE
# events/s and rotates the file at 100 MiB as the API server does.
#
#   hack/bench/audit-follow.sh [DURATION=10m] [RATE=20000]
set -euo pipefail
dur=${1:-10m}
rate=${2:-20000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/mamori" ./cmd/mamori
go build -o "$work/auditgen" ./hack/bench/auditgen
: >"$work/audit.log"
port=$((20000 + RANDOM % 20000))
"$work/mamori" audit scan --follow --from-start --format json --output /dev/null \
	--metrics-listen "127.0.0.1:$port" "$work/audit.log" 2>"$work/follow.err" &
follower=$!
"$work/auditgen" -out "$work/audit.log" -rate "$rate" -for "$dur" -rotate-mib 100 2>"$work/gen.err" &
gen=$!
metric() { curl -s "127.0.0.1:$port/metrics" | awk -v m="$1" '$1 ~ "^"m {s+=$2} END {printf "%d", s}'; }
echo "elapsed_s rss_mib events_read alerts lag_s"
start=$(date +%s)
while kill -0 "$gen" 2>/dev/null; do
	sleep 30
	rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$follower/status")
	echo "$(($(date +%s) - start)) $rss $(metric mamori_audit_events_total) $(metric mamori_audit_alerts_total) $(curl -s "127.0.0.1:$port/metrics" | awk '/^mamori_audit_lag_seconds/ {print $2}')"
done
wait "$gen" || true
sleep 3
written=$(sed -n 's/.*wrote \([0-9]*\) events.*/\1/p' "$work/gen.err")
echo "written=$written read=$(metric mamori_audit_events_total) malformed=$(metric mamori_audit_malformed_total)"
kill "$follower"
wait "$follower" 2>/dev/null || true
tail -3 "$work/follow.err"
