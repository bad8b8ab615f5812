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

# A short fuzzing pass over every decoder of outside bytes (FUZZ_SECONDS per target, default 20) from its committed
# seed corpus: an unoptimized, sanitizer-free nightly build (about 2 minutes on 2 cores), so it fits the suite's budget;
# `scripts/fuzz.sh 3600` is a long run with AddressSanitizer. FUZZ=0 skips it.
if [ "${FUZZ:-1}" != 0 ]; then
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal || true
  fi
  if rustup run nightly rustc --version >/dev/null 2>&1; then
    FUZZ_BUILD=dev FUZZ_SANITIZER=none scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
  else
    echo "FUZZING SKIPPED: no nightly toolchain on this machine and none could be installed" >&2
  fi
fi
