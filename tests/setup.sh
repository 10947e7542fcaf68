#!/usr/bin/env bash
# Installs what building and testing stepcache needs on a fresh machine of this kind:
# Rust targets, the wasm-bindgen CLI at the exact Cargo.lock version, Debian's chromium and
# chromedriver. Idempotent: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown thumbv7em-none-eabi >/dev/null 2>&1 \
  || rustup target add wasm32-unknown-unknown thumbv7em-none-eabi
# The npm package's .wasm rebuilds the standard library for its size (adapters/wasm/build.sh).
rustup component add rust-src >/dev/null 2>&1 || rustup component add rust-src
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get -o DPkg::Lock::Timeout=600 update
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}"
fi
# The CLI must be exactly the wasm-bindgen version in Cargo.lock (the crate is pinned with =).
want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$want" != "$have" ]; then
  cargo install wasm-bindgen-cli --version "$want"
fi
