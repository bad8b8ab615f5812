#!/usr/bin/env bash
# Installs what Callboard's tests need beyond Rust, only when it is missing, at pinned versions: Debian's chromium and
# chromium-driver (console browser test), curl and openssl (TLS end-to-end test: HTTPS with --cacert, s_client) and
# the PyPI packages schemathesis (OpenAPI conformance) and pika (AMQP client test and the crash soak).
set -euo pipefail

# PyPI keeps every release, so these are exact. Debian's security archive replaces a package when it is updated, so
# the Debian pins are tried first and the archive's current builds taken when a pinned one is gone.
SCHEMATHESIS_VERSION=4.32.5
PIKA_VERSION=1.4.4
CHROMIUM_VERSION=148.0.7778.167-1~deb12u1
CURL_VERSION=7.88.1-10+deb12u15
OPENSSL_VERSION=3.0.19-1~deb12u2
declare -A pins=(
  [chromium]=$CHROMIUM_VERSION
  [chromium-driver]=$CHROMIUM_VERSION
  [curl]=$CURL_VERSION
  [openssl]=$OPENSSL_VERSION
)

packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
command -v curl >/dev/null 2>&1 || packages+=(curl)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
if ((${#packages[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing Debian packages: ${packages[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  pinned=()
  for p in "${packages[@]}"; do pinned+=("$p=${pins[$p]}"); done
  if ! $sudo apt-get install -y -qq --no-install-recommends "${pinned[@]}" >/dev/null 2>&1; then
    echo "a pinned version of ${packages[*]} is no longer in the archive; installing the current builds" >&2
    $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  fi
fi

installed() { python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" >/dev/null 2>&1; }
python_packages=()
installed schemathesis "$SCHEMATHESIS_VERSION" || python_packages+=("schemathesis==$SCHEMATHESIS_VERSION")
installed pika "$PIKA_VERSION" || python_packages+=("pika==$PIKA_VERSION")
if ((${#python_packages[@]})); then
  echo "installing PyPI packages: ${python_packages[*]}" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${python_packages[@]}"
fi
