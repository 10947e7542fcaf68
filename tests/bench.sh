#!/usr/bin/env bash
# The whole benchmark suite in one command: stepcache against the physical limit and its
# peers, natively (tests/perf, then the fingerprint and compression benches), in
# headless Chromium (adapters/wasm/bench: the package against raw IndexedDB, and each store
# against its peers), the stepcache command against the file tools
# (adapters/cli/bench.sh), and the Python package against joblib, diskcache and the Rust
# API (adapters/python/bench/bench.sh), each figure with its peer in the same run.
# Usage: bash tests/bench.sh           full runs (about 5 minutes here); tables on stdout
#        bash tests/bench.sh --quick   smoke runs, so the suite cannot rot (tests/run.sh)
# Installs what it needs as the test command does (tests/setup.sh is idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  *) echo "usage: bash tests/bench.sh [--quick]" >&2; exit 2 ;;
esac

bash tests/setup.sh
# The browser bench's shared tier: a bucket this native program fills.
cargo build -q --locked -p stepcache-tests --bin shared_fixture
if [ "$quick" = 1 ]; then
  # The npm package as the test command just built it, or a fresh build.
  [ -f adapters/wasm/pkg/stepcache_wasm_bg.wasm ] || bash adapters/wasm/build.sh
  cargo run -q --locked --manifest-path tests/perf/Cargo.toml -- --quick
  (cd adapters/wasm/bench && npm ci --no-audit --no-fund --loglevel=error && node bench.mjs 4 2 6 && node stores.mjs 1 1)
  bash adapters/cli/bench.sh 16
  bash adapters/python/bench/bench.sh --quick
else
  # Always a fresh build: a package left from older sources would measure old code.
  bash adapters/wasm/build.sh
  cargo run --release --locked --manifest-path tests/perf/Cargo.toml
  cargo bench --locked -p stepcache-tests --bench fingerprint --bench compression --bench object
  (cd adapters/wasm/bench && npm ci --no-audit --no-fund --loglevel=error && node bench.mjs 64 15 60 && node stores.mjs 1,4,16,64 15)
  bash adapters/cli/bench.sh 1024
  bash adapters/python/bench/bench.sh
fi
