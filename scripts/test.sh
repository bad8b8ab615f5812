#!/usr/bin/env bash
# Runs Callboard's whole test suite on a machine that has only Rust, installing anything else the tests need first.
# Usage: scripts/test.sh [extra arguments for the test runner]
set -euo pipefail
cd "$(dirname "$0")/.."

# What the suites need beyond Rust is installed here when missing: Debian's Chromium and its WebDriver (the console's
# browser test) and, from PyPI, schemathesis (the OpenAPI conformance test).
scripts/install-test-deps.sh

# Build every test binary once, then run them all.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-tests=pass --failure-output=immediate-final "$@"
  cargo test --workspace --doc
else
  cargo test --workspace "$@"
fi

# A short crash soak (SIGKILL mid-write, restart, every acknowledged message checked); `scripts/soak.sh 100` is the
# long run.
scripts/soak.sh 5 --debug

# A short fuzzing pass over every decoder of outside bytes, when asked (FUZZ=1): the fuzz crate's clean nightly
# build alone takes 10-15 CPU-minutes, more than this suite's budget. `scripts/fuzz.sh 3600` is a long run.
if [ "${FUZZ:-0}" = 1 ]; then
  FUZZ_SANITIZER=none scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
fi
