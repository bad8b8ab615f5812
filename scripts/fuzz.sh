#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and fails if any of them crashes.
# Usage: scripts/fuzz.sh [seconds per target] [target...]
#   FUZZ_SANITIZER=address|none (default address; `none` builds faster and runs faster, catching panics and overflow
#   but not memory errors, of which safe Rust should have none).
#   FUZZ_BUILD=release|dev (default release; `dev` builds unoptimized: about half the build time of a clean build,
#   fewer runs per second; the test suite's short pass uses it).
# Each target starts from its committed seed corpus (fuzz/corpus/TARGET, read only) plus a scratch corpus that is
# kept in fuzz/target/scratch-corpus/TARGET across runs; a crash leaves its input in fuzz/artifacts/TARGET/.
# Reproduce one with: cd fuzz && cargo +nightly fuzz run -a TARGET artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET=${1:-60}
shift || true
SANITIZER=${FUZZ_SANITIZER:-address}

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi

# Debug assertions on (-a): integer overflow and debug_assert! are crashes too.
FLAGS=(-a --sanitizer "$SANITIZER")
if [ "${FUZZ_BUILD:-release}" = dev ]; then
    FLAGS+=(--dev)
fi
build_start=$(date +%s)
cargo +nightly fuzz build "${FLAGS[@]}" >/dev/null 2>build.log || { cat build.log; exit 1; }
echo "built ${#TARGETS[@]} targets (sanitizer $SANITIZER, ${FUZZ_BUILD:-release} build) in $(( $(date +%s) - build_start ))s"
rm -f build.log

failed=0
passed=0
for target in "${TARGETS[@]}"; do
    scratch="target/scratch-corpus/$target"
    mkdir -p "$scratch" "corpus/$target"
    log="target/fuzz-$target.log"
    start=$(date +%s)
    if cargo +nightly fuzz run "${FLAGS[@]}" "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
        echo "ok     $target: $runs runs in $(( $(date +%s) - start ))s, coverage $cov"
        passed=$((passed + 1))
    else
        echo "CRASH  $target after $(( $(date +%s) - start ))s: see fuzz/$log and fuzz/artifacts/$target/"
        grep -m1 -A3 -E "panicked|ERROR: (libFuzzer|AddressSanitizer)" "$log" | sed 's/^/       /' || true
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
