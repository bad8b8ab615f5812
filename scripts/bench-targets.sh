#!/usr/bin/env bash
# Measures issue 5's network targets with the project's own load tool (`callboard bench`), in release mode, against a
# release server on 127.0.0.1 with a fresh data directory; each scenario runs RUNS times (default 5) and the medians
# are printed. Every run is bounded (--duration) and the server is stopped at the end.
# Usage: scripts/bench-targets.sh [runs] [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
DURATION=${2:-5s}
cargo build --release --quiet
BIN=target/release/callboard
DATA=$(mktemp -d)
LOG=$(mktemp)
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA" "$LOG"' EXIT
"$BIN" serve --data-dir "$DATA" --tcp 127.0.0.1:0 --quic 127.0.0.1:0 --http off --amqp off >"$LOG" 2>/dev/null &
SERVER=$!
for _ in $(seq 1 100); do grep -q '^ready' "$LOG" && break; sleep 0.1; done
TCP=$(awk '$2 == "tcp" {print $3}' "$LOG")
QUIC=$(awk '$2 == "quic" {print $3}' "$LOG")
CA="$DATA/tls/quic-cert.pem"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

run() { # name field args...
  local name=$1 field=$2; shift 2
  local values=()
  for i in $(seq 1 "$RUNS"); do
    local json
    json=$("$BIN" bench "$@" --server "$TCP" --quic "$QUIC" --ca "$CA" --output json 2>/dev/null)
    values+=("$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['$field'])" "$json")")
  done
  printf '%-55s %s: median %s  (runs: %s)\n' "$name" "$field" "$(printf '%s\n' "${values[@]}" | median)" "${values[*]}"
}

# The machine's own ceiling for the produce runs: two writers appending 1 MiB blocks to fresh files on the same
# file system, as the two producers' partitions do (on these VMs first-touch page-cache writes dominate).
ceiling() {
  local t0 t1
  t0=$(date +%s.%N)
  dd if=/dev/zero of="$DATA/ceiling-1" bs=1M count=2000 status=none &
  local first=$!
  dd if=/dev/zero of="$DATA/ceiling-2" bs=1M count=2000 status=none
  wait "$first"
  t1=$(date +%s.%N)
  rm -f "$DATA"/ceiling-*
  python3 -c "print(round(4000 * 1048576 / 1e6 / ($t1 - $t0), 1))"
}
values=()
for i in $(seq 1 "$RUNS"); do values+=("$(ceiling)"); sleep 1; done
printf '%-55s %s: median %s  (runs: %s)\n' "reference: 2 x dd 1 MiB writes to fresh files" mb_per_s \
  "$(printf '%s\n' "${values[@]}" | median)" "${values[*]}"

SHAPE=(--producers 2 --consumers 2 --streams 2 --message-size 1000 --messages-per-batch 1000 --warmup 1s)
run "produce, never (2 producers, 2 streams, 1000x1000 B)" mb_per_s pinned-producer "${SHAPE[@]}" --duration "$DURATION" --durability never --cleanup
run "produce, always" mb_per_s pinned-producer "${SHAPE[@]}" --duration "$DURATION" --durability always --cleanup
"$BIN" bench pinned-producer "${SHAPE[@]}" --batches 3000 --durability never --server "$TCP" >/dev/null 2>&1
run "consume (2 consumers, 2 streams)" mb_per_s pinned-consumer "${SHAPE[@]}" --batches 2500
run "end-to-end p99 at 10 000 msg/s, 1 KB, never" p99_ms end-to-end --producers 1 --streams 1 --message-size 1000 \
  --messages-per-batch 1 --rate 10000 --in-flight 8 --duration "$DURATION" --durability never --warmup 1s --cleanup
run "end-to-end p99 at 10 000 msg/s, 1 KB, always" p99_ms end-to-end --producers 1 --streams 1 --message-size 1000 \
  --messages-per-batch 1 --rate 10000 --in-flight 8 --duration "$DURATION" --durability always --warmup 1s --cleanup
run "QUIC produce, never" mb_per_s pinned-producer "${SHAPE[@]}" --duration "$DURATION" --durability never \
  --transport quic --cleanup
