#!/usr/bin/env bash
# The stepcache demo viewer: installs what the build needs (Rust wasm target, wasm-bindgen
# CLI, chromium), builds the npm package into adapters/wasm/pkg/, then serves the viewer.
#
#   bash www/run.sh            then open the printed address (http://127.0.0.1:8080/)
#   PORT=9000 bash www/run.sh  another port (a free one is picked if it is taken)
set -euo pipefail
cd "$(dirname "$0")"

bash ../tests/setup.sh
bash ../adapters/wasm/build.sh
exec node serve.mjs
