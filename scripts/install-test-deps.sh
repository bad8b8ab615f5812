#!/usr/bin/env bash
# Installs what Callboard's tests need beyond Rust, only when it is missing: Debian's chromium and chromium-driver
# (console browser test) and the PyPI packages schemathesis (OpenAPI conformance) and pika (AMQP client test).
set -euo pipefail

packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
if ((${#packages[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing Debian packages: ${packages[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

python_packages=()
python3 -c 'import schemathesis' >/dev/null 2>&1 || python_packages+=(schemathesis)
python3 -c 'import pika' >/dev/null 2>&1 || python_packages+=(pika)
if ((${#python_packages[@]})); then
  echo "installing PyPI packages: ${python_packages[*]}" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${python_packages[@]}"
fi
