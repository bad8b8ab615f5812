#!/usr/bin/env bash
# Measures what security costs the produce path (issue 13: "within 5 % of before"): `callboard bench pinned-producer`
# in issue 12's shape (2 producers, 2 streams, 1000-byte messages, 1000 per batch, 1000 batches each, durability never)
# against three release servers, each run on a fresh server and data directory, the three interleaved round by round
# (their order rotating): BASE, a build from before authentication existed (its CLI sends no login); this build, logged
# in (with the admin-credentials file); and this build with --tcp-tls. Every run is printed, then the medians and the
# median of the per-round ratios against BASE.
# Usage: BASE=path/to/old/callboard scripts/bench-security.sh [runs (default 5)]   (BIN=… measures another build)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
: "${BASE:?set BASE to a callboard binary built before authentication (e.g. git worktree add ../base c5fefd1)}"
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --quiet --bin callboard
  BIN=target/release/callboard
fi
RESULTS=$(mktemp)
WORK=$(mktemp -d)
SERVER=""
trap '[[ -n "$SERVER" ]] && kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK" "$RESULTS"' EXIT
SHAPE=(--producers 2 --streams 2 --message-size 1000 --messages-per-batch 1000 --batches 1000 --durability never)

run() { # round variant: one bench run on a fresh server
  local round=$1 variant=$2 bin=$BIN extra=() client=()
  local data=$WORK/data log=$WORK/serve.out
  rm -rf "$data"
  case $variant in
    base) bin=$BASE ;;
    auth) ;;
    auth_tls) extra=(--tcp-tls); client=(--tls --ca "$data/tls/quic-cert.pem") ;;
  esac
  "$bin" serve --data-dir "$data" --tcp 127.0.0.1:0 --quic off --http off --amqp off "${extra[@]}" >"$log" 2>/dev/null &
  SERVER=$!
  for _ in $(seq 1 200); do grep -q '^ready' "$log" && break; sleep 0.05; done
  local tcp json
  tcp=$(awk '$2 == "tcp" {print $3}' "$log")
  json=$(CALLBOARD_DATA_DIR=$data "$bin" bench pinned-producer "${SHAPE[@]}" --server "$tcp" "${client[@]}" \
    --output json 2>/dev/null)
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  local mb p99
  mb=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['mb_per_s'])" "$json")
  p99=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['p99_ms'])" "$json")
  echo "$variant $round $mb $p99" >>"$RESULTS"
  printf '  round %s  %-9s %8.1f MB/s  p99 %6.2f ms\n' "$round" "$variant" "$mb" "$p99"
}

variants=(base auth auth_tls)
for round in $(seq 1 "$RUNS"); do
  for i in 0 1 2; do
    run "$round" "${variants[$(((round + i) % 3))]}"
  done
done

python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for variant, round_, mb, p99 in rows:
    by.setdefault(variant, {})[int(round_)] = (float(mb), float(p99))
print("medians (MB/s, p99 ms) and the median of per-round ratios against base:")
for variant in ("base", "auth", "auth_tls"):
    runs = by[variant]
    mb = statistics.median(v[0] for v in runs.values())
    p99 = statistics.median(v[1] for v in runs.values())
    ratio = statistics.median(runs[r][0] / by["base"][r][0] for r in runs)
    print(f"  {variant:9} {mb:8.1f} MB/s  p99 {p99:6.2f} ms  ratio {ratio:.3f}")
EOF
