#!/usr/bin/env bash
# The demo viewer's tests: installs the pinned dev dependency (playwright-core) from the
# lockfile, builds the npm package if adapters/wasm/pkg is missing, then runs the physics
# tests and the end-to-end test in headless Chromium (/usr/bin/chromium, or $CHROMIUM).
# Usage: bash www/test/run.sh   (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."

export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
npm ci --no-audit --no-fund --loglevel=error >/dev/null
if [ ! -f ../adapters/wasm/pkg/index.js ] || [ ! -f ../adapters/wasm/pkg/stepcache_wasm_bg.wasm ]; then
  bash ../adapters/wasm/build.sh
fi
exec node --test --test-concurrency=1 test/physics.test.mjs test/e2e.test.mjs
