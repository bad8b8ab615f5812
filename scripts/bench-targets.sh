#!/usr/bin/env bash
# Measures issue 12's targets with the project's own load tool (`callboard bench`), release build, against a release
# server on 127.0.0.1 with a fresh data directory, each figure next to the machine's own reference measured in the
# same minutes: two `dd bs=1M` writers into fresh files on the data disk for produce, two-stream loopback TCP
# (iperf3) for consume. The scenarios run round by round, interleaved with their references (dd, then callboard,
# then iperf3, ...), RUNS rounds (default 5); every run is printed, then the medians and the median of the per-round
# ratios against the targets. Every run is bounded and the server is stopped at the end.
# Usage: scripts/bench-targets.sh [runs]      (BIN=path/to/callboard measures another build; skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --quiet
  BIN=target/release/callboard
fi
DATA=$(mktemp -d)
LOG=$(mktemp)
RESULTS=$(mktemp)
IPERF=""
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; [[ -n "$IPERF" ]] && kill $IPERF 2>/dev/null;
  rm -rf "$DATA" "$LOG" "$RESULTS"' EXIT
# Client commands log in with the admin-credentials file the broker writes into its data directory.
export CALLBOARD_DATA_DIR=$DATA
"$BIN" serve --data-dir "$DATA" --tcp 127.0.0.1:0 --quic 127.0.0.1:0 --http off --amqp off >"$LOG" 2>/dev/null &
SERVER=$!
for _ in $(seq 1 100); do grep -q '^ready' "$LOG" && break; sleep 0.1; done
TCP=$(awk '$2 == "tcp" {print $3}' "$LOG")
QUIC=$(awk '$2 == "quic" {print $3}' "$LOG")
CA="$DATA/tls/quic-cert.pem"

record() { echo "$1 $2 $3" >>"$RESULTS"; printf '  round %s  %-28s %s\n' "$2" "$1" "$3"; } # name round value

bench() { # round name args...: records mb_per_s (and p99/max for produce runs)
  local round=$1 name=$2; shift 2
  local json
  json=$("$BIN" bench "$@" --server "$TCP" --quic "$QUIC" --ca "$CA" --output json 2>/dev/null)
  record "$name" "$round" "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['mb_per_s'])" "$json")"
  case $name in produce_*)
    record "${name}_p99_ms" "$round" "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['p99_ms'])" "$json")"
    record "${name}_max_ms" "$round" "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['max_ms'])" "$json")"
  esac
}

# The page-cache write ceiling for the produce runs: two writers appending 1 MiB blocks to fresh files on the same
# file system, as the two producers' partitions do, the same 2 x 1000 MiB a produce run writes.
dd_pair() {
  local t0 t1
  t0=$(date +%s.%N)
  dd if=/dev/zero of="$DATA/ceiling-1" bs=1M count=1000 status=none &
  local first=$!
  dd if=/dev/zero of="$DATA/ceiling-2" bs=1M count=1000 status=none
  wait "$first"
  t1=$(date +%s.%N)
  rm -f "$DATA"/ceiling-*
  python3 -c "print(round(2000 * 1048576 / 1e6 / ($t1 - $t0), 1))"
}

# The loopback ceiling for the consume runs: two TCP streams over 127.0.0.1 (iperf3, when installed).
if command -v iperf3 >/dev/null; then
  PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  iperf3 -s -B 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
  IPERF=$!
  sleep 0.5
fi
loopback() {
  [[ -z "$IPERF" ]] && { echo 0; return; }
  iperf3 -c 127.0.0.1 -p "$PORT" -P 2 -t 3 -J 2>/dev/null |
    python3 -c "import json,sys; print(round(json.load(sys.stdin)['end']['sum_received']['bits_per_second'] / 8e6, 1))"
}

SHAPE=(--producers 2 --consumers 2 --streams 2 --message-size 1000 --messages-per-batch 1000 --warmup 0s)
# Data for the consume runs, read again every round.
"$BIN" bench pinned-producer "${SHAPE[@]}" --batches 3000 --durability never --server "$TCP" >/dev/null 2>&1
for round in $(seq 1 "$RUNS"); do
  echo "round $round"
  record dd "$round" "$(dd_pair)"
  bench "$round" produce_never pinned-producer "${SHAPE[@]}" --batches 1000 --durability never --cleanup
  bench "$round" produce_always pinned-producer "${SHAPE[@]}" --batches 1000 --durability always --cleanup
  bench "$round" produce_4x8_never pinned-producer --producers 4 --partitions 8 --message-size 1000 \
    --messages-per-batch 1000 --warmup 0s --batches 500 --durability never --cleanup
  bench "$round" produce_quic_never pinned-producer "${SHAPE[@]}" --batches 1000 --durability never \
    --transport quic --cleanup
  record dd_after "$round" "$(dd_pair)"
  record loopback "$round" "$(loopback)"
  bench "$round" consume pinned-consumer "${SHAPE[@]}" --batches 2500
done

python3 - "$RESULTS" <<'EOF'
import statistics, sys
from collections import defaultdict
runs = defaultdict(dict)
for line in open(sys.argv[1]):
    name, rnd, value = line.split()
    runs[name][int(rnd)] = float(value)
med = lambda name: statistics.median(runs[name].values()) if runs.get(name) else float("nan")
def ratio(name, ref):
    # Per round: the figure over the reference of the same round (produce: the mean of the dd runs around it).
    r = []
    for rnd, v in runs[name].items():
        refs = [runs[x][rnd] for x in ref if rnd in runs.get(x, {}) and runs[x][rnd] > 0]
        if refs:
            r.append(v / statistics.mean(refs))
    return statistics.median(r) if r else float("nan")
def show(label, name, ref_label, ref, target):
    values = " ".join(f"{runs[name][k]:g}" for k in sorted(runs[name]))
    ref_med = statistics.median([v for x in ref for v in runs.get(x, {}).values()]) if ref else float("nan")
    ratio_text = f"{ratio(name, ref):.2f}x {ref_label} (ref median {ref_med:g})" if ref else ""
    print(f"{label:<40} median {med(name):>8g}   {ratio_text:<42} target {target}   runs: {values}")
print()
print("issue 12 figures (MB/s unless noted; ratio = median over rounds of figure / same-round reference)")
dd = ["dd", "dd_after"]
show("produce never, 2 streams", "produce_never", "dd", dd, ">= 0.5x dd and >= 1300")
show("  p99 per batch (ms)", "produce_never_p99_ms", "", [], "<= 5")
show("  max per batch (ms)", "produce_never_max_ms", "", [], "<= 50")
show("produce always, 2 streams", "produce_always", "dd", dd, ">= 800")
show("  p99 per batch (ms)", "produce_always_p99_ms", "", [], "")
show("produce never, 4 producers, 8 partitions", "produce_4x8_never", "produce_never", ["produce_never"],
     ">= 1.0x the 2-stream figure")
show("QUIC produce never, 2 streams", "produce_quic_never", "TCP", ["produce_never"], ">= 0.6x TCP")
show("consume, 2 streams", "consume", "iperf3", ["loopback"], ">= 2500 and >= 0.9x iperf3")
show("reference: 2 x dd 1 MiB writes, fresh files", "dd", "", [], "")
show("reference: dd again after the produce runs", "dd_after", "", [], "")
if med("loopback") > 0:
    show("reference: iperf3 2 streams on loopback", "loopback", "", [], "")
else:
    print("reference: iperf3 not installed (apt-get install iperf3): no consume ratio")
EOF
