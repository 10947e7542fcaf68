#!/usr/bin/env bash
# Builds the npm package `stepcache` into adapters/wasm/pkg/.
# Needs: the wasm32-unknown-unknown target and wasm-bindgen-cli at the Cargo.lock version
# (tests/run.sh installs both), and npm (for binaryen's wasm-opt, pinned in tools/).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/pkg"
cd "$root"

# SIMD128 for every crate, not only inside blake3's SIMD functions: code that calls them can
# then inline them (-3 KB raw, -1.5 KB gzipped); the module needed SIMD already.
# Given with --config, so they add to the rustflags of .cargo/config.toml (arrays merge).
#
# The standard library is rebuilt with panic=immediate-abort and no panic locations
# (-8 KB gzipped): a panic in this module was already an abort whose message no one could
# read (wasm32-unknown-unknown has no stderr), yet std's panic machinery formatted it, and
# every panic site carried its message and file name. A panic still stops the module with
# a WebAssembly trap (a RuntimeError in JavaScript), as before. -Z flags on the pinned
# stable compiler through RUSTC_BOOTSTRAP, as tests/fuzz/run.sh does for cargo fuzz: the
# same compiler as every other build, with its own rust-src (tests/setup.sh adds it).
flags='"-C", "target-feature=+simd128", "-Zunstable-options", "-Cpanic=immediate-abort", "-Zlocation-detail=none"'
RUSTC_BOOTSTRAP=1 cargo build -p stepcache-wasm --target wasm32-unknown-unknown --profile wasm --locked \
  -Z build-std=std,panic_abort --config "target.wasm32-unknown-unknown.rustflags = [$flags]"
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" --out-name stepcache_wasm \
  "${CARGO_TARGET_DIR:-$root/target}/wasm32-unknown-unknown/wasm/stepcache_wasm.wasm"
# binaryen 132 from npm: Debian's wasm-opt 108 breaks wasm-bindgen's externref table.
[ -x "$here/tools/node_modules/.bin/wasm-opt" ] || npm ci --prefix "$here/tools" --no-audit --no-fund --silent
# Size first (-O4, --gufa and --dce measured no smaller; --converge saves a few hundred bytes);
# only the features rustc enabled (no --all-features: Node 20 rejects some).
# --low-memory-unused lets wasm-opt fold constant offsets into loads and stores: the low 1 KiB
# is the far end of Rust's stack, which starts at 1 MiB and grows down (-2 KB raw, -0.8 KB
# gzipped, with --zero-filled-memory: the module's own memory starts zeroed).
wasm_opt="$here/tools/node_modules/.bin/wasm-opt"
features=(--enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-reference-types --enable-multivalue --enable-simd)
optimize=(-Oz --converge --low-memory-unused --zero-filled-memory)
"$wasm_opt" "${optimize[@]}" "${features[@]}" \
  --strip-debug --strip-producers "$out/stepcache_wasm_bg.wasm" -o "$out/stepcache_wasm_bg.wasm"
# One- and two-letter import and export names, renamed in the glue to match (-2 KB gzipped;
# tools/minify.mjs says why, and fails the build if the glue does not match). Then the
# optimisations once more: a second run finds 0.25 KB more (a third, 0.06: not worth it).
# That run also drops the target_features section, which tells tools the features the
# module uses and which browsers ignore (-0.1 KB gzipped).
node "$here/tools/minify.mjs" "$wasm_opt" "$out" "${features[@]}"
"$wasm_opt" "${optimize[@]}" "${features[@]}" --strip-target-features \
  "$out/stepcache_wasm_bg.wasm" -o "$out/stepcache_wasm_bg.wasm"
cp "$here/js/index.js" "$here/js/protocol.js" "$here/js/bundle.js" "$here/js/index.d.ts" "$here/js/package.json" "$out/"
cp "$here/README.md" "$out/README.md"
cp "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$out/"
size=$(wc -c < "$out/stepcache_wasm_bg.wasm")
gz=$(gzip -9 -c "$out/stepcache_wasm_bg.wasm" | wc -c)
echo "built $out: stepcache_wasm_bg.wasm $size bytes, $gz gzipped"
