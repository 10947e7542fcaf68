#!/usr/bin/env bash
# Runs every test of stepcache, installing what it needs on a fresh machine.
# Usage: bash tests/run.sh        (from anywhere; CI calls it through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: targets for the no_std core"
rustup target add wasm32-unknown-unknown thumbv7em-none-eabi >/dev/null 2>&1 \
  || rustup target add wasm32-unknown-unknown thumbv7em-none-eabi

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the core builds without std for wasm32 and bare metal"
cargo build -p stepcache-core --no-default-features --target wasm32-unknown-unknown --locked
cargo build -p stepcache-core --no-default-features --target thumbv7em-none-eabi --locked

step "docs: every public item documented, no broken links"
RUSTDOCFLAGS="-D warnings -D missing_docs" cargo doc --workspace --no-deps --locked

step "unit, property, conformance and integration tests"
log="$(mktemp)"
cargo test --workspace --locked 2>&1 | tee "$log"
passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) n += $i } END { print n + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) n += $i } END { print n + 0 }' "$log")
rm -f "$log"

step "the T1 example: computes on the first session, hits on the second"
example_dir="$(mktemp -d)"
cargo run --release --locked -p stepcache --example t1_map -- "$example_dir/cache"
cargo run --release --locked -p stepcache --example t1_map -- "$example_dir/cache"
rm -rf "$example_dir"

step "summary"
echo "cargo test: ${passed} passed, ${failed} failed"
