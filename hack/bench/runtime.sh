#!/usr/bin/env bash
# Runtime agent overhead and capacity on this machine (run as root):
#  - added wall time of 10,000 runs of /bin/true and of 300,000 opens, with
#    `mamori agent` running all built-in rules versus not running;
#  - the event rate it sustains with zero drops (two exec loops at once);
#  - agent memory (RSS) after 20,000 and after 100,000 short-lived processes.
# Usage: hack/bench/runtime.sh [RUNS]   (RUNS: repetitions per timing, default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
[ "$(id -u)" = 0 ] || { echo "needs root (eBPF)" >&2; exit 1; }
bin=$(mktemp -d)/mamori
go build -o "$bin" ./cmd/mamori

exec_loop() { local n=$1; for ((i = 0; i < n; i++)); do /bin/true; done; }
open_loop() { python3 -c 'import os
for i in range(300000):
    os.close(os.open("/etc/hostname", os.O_RDONLY))'; }
timeit() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
metric() { curl -s 127.0.0.1:19090/metrics | awk -v m="$1" '$1 ~ "^"m {s+=$2} END {print s+0}'; }

measure() {
  local label=$1
  local e o
  e=$(for ((r = 0; r < runs; r++)); do timeit exec_loop 10000; done | median)
  o=$(for ((r = 0; r < runs; r++)); do timeit open_loop; done | median)
  echo "$label: 10,000 execs ${e}s, 300,000 opens ${o}s"
  eval "${label}_exec=$e ${label}_open=$o"
}

measure off
"$bin" agent --no-cluster --output /dev/null --metrics-addr 127.0.0.1:19090 2>/tmp/mamori-agent-bench.log &
agent=$!
trap 'kill $agent 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf 127.0.0.1:19090/healthz >/dev/null && break; sleep 0.2; done
measure on
echo "added: exec $(echo "scale=2; ($on_exec - $off_exec) * 100 / $off_exec" | bc)%, open $(echo "scale=2; ($on_open - $off_open) * 100 / $off_open" | bc)%"

rss() { awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$agent/status; }
before=$(metric mamori_runtime_events_total)
s=$(date +%s.%N)
exec_loop 10000 & exec_loop 10000 & wait %2 %3 2>/dev/null || wait
e=$(date +%s.%N)
after=$(metric mamori_runtime_events_total)
echo "sustained: $(echo "($after - $before) / ($e - $s)" | bc) events/s, lost: $(metric mamori_runtime_events_lost_total)"
echo "RSS after start: $(rss)"
exec_loop 20000; echo "RSS after 20,000 more processes: $(rss)"
exec_loop 80000; echo "RSS after 100,000 more processes: $(rss), process cache: $(metric mamori_runtime_process_cache_entries)"
echo "lost events in all: $(metric mamori_runtime_events_lost_total)"
