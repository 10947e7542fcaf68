#!/usr/bin/env bash
# The npm package's browser tests: installs the pinned dev dependencies (playwright-core,
# vite, typescript), then runs npm.test.mjs in headless Chromium (/usr/bin/chromium, or
# $CHROMIUM). Assumes ../pkg was built (bash ../build.sh).
# Usage: bash adapters/wasm/test/run.sh   (from anywhere)
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -f ../pkg/package.json ]; then
  echo "adapters/wasm/pkg is missing: build it first (bash adapters/wasm/build.sh)" >&2
  exit 1
fi
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
# The native writer of the shared-tier test's entries (test x).
(cd ../../.. && cargo build -q --locked -p stepcache-tests --bin shared_fixture)
# The suite on each store the package keeps entries in.
for store in indexeddb opfs; do
  echo "the npm tests on store: $store"
  STEPCACHE_STORE=$store node --test --test-concurrency=1 npm.test.mjs
done
