#!/usr/bin/env bash
# Measures record-batch compression with the project's load tool, release build, on 127.0.0.1: for each codec
# (none, gzip, snappy, lz4, zstd), RUNS rounds interleaved codec by codec, each on a fresh server and data directory:
# `bench pinned-producer` (2 producers, 2 streams, 1000-byte messages, 1000 per batch, `never`), the data
# directory's size (`du -sb`) divided by the messages stored, then `bench pinned-consumer --decode --warmup 0s` (the
# consumers decode every record, decompressing as SDK consumers do, from the start of what was written). MB/s are of uncompressed payload (10^6 B/s).
# Usage: scripts/bench-compression.sh [runs] [batches] [payload]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
BATCHES=${2:-300}
PAYLOAD=${3:-json}
CODECS=(none gzip snappy lz4 zstd)
cargo build --release --quiet
BIN=target/release/callboard
RESULTS=$(mktemp)
SERVER=
DATA=
stop() {
  if [[ -n "$SERVER" ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [[ -n "$DATA" ]]; then rm -rf "$DATA" "$DATA.log"; fi
  SERVER= DATA=
}
trap 'stop; rm -f "$RESULTS"' EXIT

mb() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['mb_per_s'])" "$1"; }

for round in $(seq 1 "$RUNS"); do
  for codec in "${CODECS[@]}"; do
    DATA=$(mktemp -d)
    LOG="$DATA.log"
    export CALLBOARD_DATA_DIR=$DATA  # client commands log in with the admin-credentials file written there
    "$BIN" serve --data-dir "$DATA" --tcp 127.0.0.1:0 --quic off --http off --amqp off >"$LOG" 2>/dev/null &
    SERVER=$!
    for _ in $(seq 1 100); do grep -q '^ready' "$LOG" && break; sleep 0.1; done
    TCP=$(awk '$2 == "tcp" {print $3}' "$LOG")
    common=(--streams 2 --message-size 1000 --messages-per-batch 1000 --batches "$BATCHES" --payload "$PAYLOAD"
      --compression "$codec" --durability never --server "$TCP" --output json)
    produced=$(mb "$("$BIN" bench pinned-producer --producers 2 "${common[@]}" 2>/dev/null)")
    stored=0
    for s in 0 1; do
      n=$("$BIN" topic describe bench --stream "bench-$s" --server "$TCP" --output json |
        python3 -c "import json,sys; print(sum(p['log_end'] for p in json.load(sys.stdin)['partitions']))")
      stored=$((stored + n))
    done
    disk=$(du -sb "$DATA" | cut -f1)
    # No warm-up for the consumers: with one they would read past what the producers left.
    consumed=$(mb "$("$BIN" bench pinned-consumer --consumers 2 --decode --warmup 0s "${common[@]}" 2>/dev/null)")
    per_msg=$(python3 -c "print(round($disk / $stored, 1))")
    printf '%s %s %s %s %s %s\n' "$codec" "$round" "$produced" "$consumed" "$disk" "$per_msg" | tee -a "$RESULTS"
    stop
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
printf '%-7s %-28s %-28s %s\n' codec "produce MB/s (median; runs)" "consume MB/s (median; runs)" "disk B/msg (median)"
for codec in "${CODECS[@]}"; do
  p=$(awk -v c="$codec" '$1 == c {print $3}' "$RESULTS")
  c=$(awk -v c="$codec" '$1 == c {print $4}' "$RESULTS")
  d=$(awk -v c="$codec" '$1 == c {print $6}' "$RESULTS")
  printf '%-7s %-28s %-28s %s\n' "$codec" "$(median <<<"$p"); $(echo $p)" "$(median <<<"$c"); $(echo $c)" \
    "$(median <<<"$d")"
done
