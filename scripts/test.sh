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

# A short fuzzing pass over every decoder of outside bytes (cargo-fuzz needs the nightly toolchain; `scripts/fuzz.sh
# 3600` is a long run). Without AddressSanitizer: safe Rust has no memory errors for it to find, and it runs ~3x faster.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  FUZZ_SANITIZER=none scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
else
  echo "warning: no nightly toolchain (rustup toolchain install nightly); the fuzzing pass is skipped" >&2
fi
