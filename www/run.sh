#!/usr/bin/env bash
# The stepcache demo viewer: installs what building the npm package needs (the Rust wasm
# target, the standard library's source, the wasm-bindgen CLI; no browser), builds it into
# adapters/wasm/pkg/, installs the page's own packages (nifti-reader-js and fflate, from
# the lockfile; not the tests' playwright-core), then serves the viewer.
#
#   bash www/run.sh            then open the printed address (http://127.0.0.1:8080/)
#   PORT=9000 bash www/run.sh  another port (a free one is picked if it is taken)
set -euo pipefail
cd "$(dirname "$0")"

bash ../tests/setup.sh build
bash ../adapters/wasm/build.sh
npm ci --omit=dev --no-audit --no-fund --loglevel=error
exec node serve.mjs
