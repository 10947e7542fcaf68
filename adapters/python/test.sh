#!/usr/bin/env bash
# Builds the Python package stepcache as a user gets it and tests it: the abi3 wheel
# (maturin, release), installed with pip into a fresh venv, then pytest (tests/) with a
# Rust peer process on the same cache directory and a SeaweedFS server for the shared
# tier, mypy --strict on a typed usage file, and a smoke run of the same wheel on every
# other CPython from 3.9 the machine has.
# The wheel and the venv come from venv.sh.
# Prints "# pass N" / "# fail M" for tests/run.sh's summary.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac

bash venv.sh test requirements-test.txt
venv="$target/python-test-venv"
cargo build --release --locked --quiet -p stepcache-python --example peer
# A real S3 server for the shared tier's tests (debug, as the npm tests use it).
cargo build --locked --quiet -p stepcache-tests --bin shared_fixture

# From tests/, so `import stepcache` is the installed wheel, never the source tree.
cd tests
log="$(mktemp)"
status=0
STEPCACHE_RUST_PEER="$target/release/examples/peer" STEPCACHE_SHARED_FIXTURE="$target/debug/shared_fixture" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider . 2>&1 | tee "$log" || status=$?
# pytest's last line: "N passed", "N failed, M passed", "N error", ...
passed=$(tail -1 "$log" | { grep -Eo '[0-9]+ passed' || true; } | awk '{ n += $1 } END { print n + 0 }')
failed=$(tail -1 "$log" | { grep -Eo '[0-9]+ (failed|errors?)' || true; } | awk '{ n += $1 } END { print n + 0 }')
rm -f "$log"
if "$venv/bin/python" -m mypy --strict --no-incremental --cache-dir=/dev/null typed_usage.py; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); status=1
fi

# The one abi3 wheel on every other CPython from 3.9 that this machine has (pyenv's), each
# in a fresh venv with the newest numpy pip finds for it: tests/smoke.py.
wheel=$(ls "$target"/python-test-wheels/stepcache-*.whl)
for version in 3.9 3.10 3.12 3.13; do
  python=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python3 2>/dev/null | tail -1 || true)
  if [ -z "$python" ]; then
    echo "# CPython $version: not on this machine, not tried"
    continue
  fi
  other="$target/python-smoke-$version-venv"
  rm -rf "$other"
  if "$python" -m venv "$other" \
    && "$other/bin/pip" install --quiet --disable-pip-version-check "$wheel" \
    && "$other/bin/python" smoke.py; then
    passed=$((passed + 1))
  else
    echo "# CPython $version: the wheel failed (above)"
    failed=$((failed + 1)); status=1
  fi
  rm -rf "$other"
done

echo "# pass $passed"
echo "# fail $failed"
exit "$status"
