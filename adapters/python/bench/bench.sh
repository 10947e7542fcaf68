#!/usr/bin/env bash
# The Python package's benchmark: stepcache against joblib, diskcache and the Rust API,
# side by side in one run (bench.py says what is measured and how).
# Usage: bash adapters/python/bench/bench.sh [--quick] [bench.py options]
#   full (default): maps of 1, 4, 40 and 256 MiB; a few minutes here; tables on stdout
#   --quick: a 1 MiB map, one round each: a smoke run so the benchmark cannot rot
# Builds the wheel into a fresh venv with the pinned peers (requirements-bench.txt), as
# test.sh does (venv.sh), and the Rust peer (examples/bench_peer.rs). Scratch files go to
# $TMPDIR (--dir to choose); the full run needs about 2 GB free there.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(cd ../.. && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac

args=(--sizes 1,4,40,256 --reps 15 --fresh-reps 5)
quick=""
if [ "${1:-}" = "--quick" ]; then
  shift
  quick=1
  args=(--sizes 1 --reps 1 --fresh-reps 1)
fi

bash venv.sh bench bench/requirements-bench.txt
venv="$target/python-bench-venv"
cargo build --release --locked --quiet -p stepcache-python --example bench_peer

# A page cache filled by earlier work makes the kernel reclaim while a 256 MiB store
# writes, which here spread one store's time from 1x to 20x: start with clean memory
# where this user may (root) in a full run, and say so.
if [ -z "$quick" ] && [ -w /proc/sys/vm/drop_caches ] && [ -z "${STEPCACHE_BENCH_KEEP_CACHES:-}" ]; then
  sync
  echo 1 > /proc/sys/vm/drop_caches
  echo "# page cache dropped before the run (STEPCACHE_BENCH_KEEP_CACHES=1 to keep it)"
fi

# From bench/, so `import stepcache` is the installed wheel, never the source tree.
cd bench
"$venv/bin/python" bench.py --rust-peer "$target/release/examples/bench_peer" "${args[@]}" "$@"
