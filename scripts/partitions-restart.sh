#!/usr/bin/env bash
# Measures a broker holding many partitions: creates TOPICS topics of PARTITIONS partitions each on a release
# `callboard serve`, writes PARTITIONS messages to each topic, stops it, then restarts it ROUNDS times and prints the
# time from start to `ready` and to every partition online, the resident memory (VmRSS) and the open descriptors
# then.
# Usage: scripts/partitions-restart.sh [topics (100)] [partitions per topic (100)] [rounds (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
topics=${1:-100}
per_topic=${2:-100}
rounds=${3:-3}
cargo build --quiet --release --bin callboard
bin=target/release/callboard
data=$(mktemp -d)
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$data"' EXIT

start() {
  local out=$data/serve.out
  : >"$out"
  local t0
  t0=$(date +%s.%N)
  export CALLBOARD_DATA_DIR=$data/d  # client commands log in with the admin-credentials file written there
  RUST_LOG=warn "$bin" serve --data-dir "$data/d" --tcp 127.0.0.1:0 --quic off --http off --amqp off >"$out" &
  pid=$!
  until grep -q '^ready' "$out"; do
    kill -0 "$pid" 2>/dev/null || { echo "serve exited" >&2; exit 1; }
    sleep 0.05
  done
  ready_s=$(echo "$(date +%s.%N) - $t0" | bc)
  addr=$(awk '$1 == "listening" && $2 == "tcp" {print $3}' "$out")
  # `ready` means the listeners are bound; partitions open in their actors after it. Wait until all are online.
  local want=${expect:-0}
  until [ "$("$bin" status --server "$addr" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitions_online"])')" -ge "$want" ]; do
    sleep 0.05
  done
  online_s=$(echo "$(date +%s.%N) - $t0" | bc)
  rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
}

stop() { kill -TERM "$pid"; wait "$pid" || true; }

start
for t in $(seq 1 "$topics"); do
  "$bin" topic create "t$t" --partitions "$per_topic" --durability never --server "$addr" >/dev/null
done
for t in $(seq 1 "$topics"); do
  for p in $(seq 0 $((per_topic - 1))); do echo "m"; done \
    | "$bin" send "t$t" --server "$addr" >/dev/null
done
echo "created $topics topics x $per_topic partitions: RSS $((rss_kb / 1024)) MiB at the empty start, now $(( $(awk '/^VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MiB, $(ls /proc/$pid/fd | wc -l) descriptors"
stop
expect=$((topics * per_topic))
for r in $(seq 1 "$rounds"); do
  start
  echo "restart $r: ready after ${ready_s} s, all $expect partitions online after ${online_s} s, RSS $((rss_kb / 1024)) MiB, $fds open descriptors"
  stop
done
