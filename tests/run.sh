#!/usr/bin/env bash
# Runs every test of stepcache, installing what it needs on a fresh machine.
# Usage: bash tests/run.sh        (from anywhere; CI calls it through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it starts (seconds since this script did), so a run shows where its time goes.
step() { printf '\n==> %s  [%ds]\n' "$*" "$SECONDS"; }

step "toolchain: Rust targets, the pinned wasm-bindgen CLI, Debian's chromium and chromedriver"
bash tests/setup.sh

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p stepcache-idb -p stepcache-wasm -p stepcache-tests --target wasm32-unknown-unknown --lib --tests --locked -- -D warnings

step "the core builds without std for wasm32 and bare metal"
cargo build -p stepcache-core --no-default-features --target wasm32-unknown-unknown --locked
cargo build -p stepcache-core --no-default-features --target thumbv7em-none-eabi --locked

step "docs: every public item documented, no broken links"
RUSTDOCFLAGS="-D warnings -D missing_docs" cargo doc --workspace --no-deps --locked

step "unit, property, conformance and integration tests"
log="$(mktemp)"
cargo test --workspace --locked 2>&1 | tee "$log"

step "the conformance suite on IndexedDB and on OPFS in headless Chromium: in a page and in a dedicated worker"
export CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=300
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/tests/webdriver.json"
cargo test -p stepcache-tests --target wasm32-unknown-unknown --locked \
  --test conformance_idb_page --test conformance_idb_worker --test idb_schema \
  --test conformance_opfs_page --test conformance_opfs_worker --test opfs_files 2>&1 | tee -a "$log"

step "fuzzing: entry decoding, bundle reading and key parsing, 60 s each"
bash tests/fuzz/run.sh 60

step "the npm package: build it, then its tests in headless Chromium (page, worker, reload, tabs, quota, Vite, TypeScript)"
bash adapters/wasm/build.sh
bash adapters/wasm/test/run.sh 2>&1 | tee -a "$log"

step "the Python package: build the abi3 wheel, install it in a fresh venv, pytest (with a Rust process on the same directory) and mypy --strict"
bash adapters/python/test.sh 2>&1 | tee -a "$log"

step "the demo viewer: physics of its fit, and end to end in headless Chromium (compute, reload hit, parameters, clear; maps from a bucket the native demo_maps filled)"
bash www/test/run.sh 2>&1 | tee -a "$log"

step "benchmark smoke runs (quick mode: they must build and run; figures come from the full runs)"
bash tests/bench.sh --quick > /dev/null

step "the T1 example: computes on the first session, hits on the second"
example_dir="$(mktemp -d)"
cargo run --release --locked -p stepcache-examples --bin t1_map -- "$example_dir/cache"
cargo run --release --locked -p stepcache-examples --bin t1_map -- "$example_dir/cache"
rm -rf "$example_dir"

step "summary"
# cargo and wasm-bindgen-test print "test result: ... N passed; M failed"; node's runner "# pass N" / "# fail M".
passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) n += $i } /^# pass / { n += $3 } END { print n + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) n += $i } /^# fail / { n += $3 } END { print n + 0 }' "$log")
rm -f "$log"
echo "stepcache: ${passed} passed, ${failed} failed"
