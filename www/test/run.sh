#!/usr/bin/env bash
# The demo viewer's tests: installs the pinned dependencies (nifti-reader-js, fflate, and
# playwright-core for the tests) from the lockfile, builds the npm package if
# adapters/wasm/pkg is missing and the native programs of the shared-tier test (a SeaweedFS
# bucket, and demo_maps which fills it), then runs the physics and NIfTI tests and the
# end-to-end test in headless Chromium (/usr/bin/chromium, or $CHROMIUM).
# SeaweedFS itself comes from tests/setup.sh.
# Usage: bash www/test/run.sh   (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."

export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
npm ci --no-audit --no-fund --loglevel=error >/dev/null
if [ ! -f ../adapters/wasm/pkg/index.js ] || [ ! -f ../adapters/wasm/pkg/stepcache_wasm_bg.wasm ]; then
  bash ../adapters/wasm/build.sh
fi
# The two debug binaries in one build: stepcache-tests' features then reach the CLI's
# dependencies too, which are those `cargo test --workspace` compiled (tests/Cargo.toml).
(cd .. && cargo build -q --locked -p stepcache-tests -p stepcache-cli --bin public_bucket --bin stepcache \
  && cargo build -q --locked --release -p stepcache-examples --bin demo_maps)
exec node --test --test-concurrency=1 test/physics.test.mjs test/nifti.test.mjs test/e2e.test.mjs
