#!/usr/bin/env bash
# Crash soak: a `callboard serve` takes numbered messages over TCP (SDK, idempotent), HTTP (REST) and AMQP (pika
# with confirms) into `always` topics and a durable queue, is killed with SIGKILL at a random moment and restarted;
# every acknowledged message must be there exactly once and in order, and `callboard log check` must find nothing
# corrupt. One line per trial and a summary; exit 1 on any loss, duplicate, reordering or corruption.
# Usage: scripts/soak.sh [trials (default 20)] [--debug]   (release build unless --debug; SOAK_SEED=N repeats a run)
set -euo pipefail
cd "$(dirname "$0")/.."

trials=20
profile=release
for arg in "$@"; do
  case "$arg" in
    --debug) profile=debug ;;
    *) trials="$arg" ;;
  esac
done
python3 -c 'import pika' >/dev/null 2>&1 || scripts/install-test-deps.sh

if [ "$profile" = release ]; then
  cargo build --quiet --release --bin callboard --example soak
else
  cargo build --quiet --bin callboard --example soak
fi
exec "target/$profile/examples/soak" --bin "target/$profile/callboard" --trials "$trials" --seed "${SOAK_SEED:-0}"
