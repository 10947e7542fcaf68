#!/usr/bin/env bash
# Builds the Python package's abi3 wheel as a user gets it (maturin, release) and installs
# it, with the packages a requirements file pins, into a fresh venv: what the tests
# (test.sh) and the benchmark (bench/bench.sh) each run against.
# Usage: bash adapters/python/venv.sh NAME REQUIREMENTS
#   makes $CARGO_TARGET_DIR/python-NAME-venv (default target/), its wheel built into
#   python-NAME-wheels; maturin comes from target/python-build (tests/setup.sh makes it;
#   so does this), at the version requirements-test.txt pins.
set -euo pipefail
name="$1"
requirements="$(realpath "$2")"
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
build_venv="$root/target/python-build"

if [ ! -x "$build_venv/bin/maturin" ]; then
  python3 -m venv "$build_venv"
  "$build_venv/bin/pip" install --quiet --disable-pip-version-check "$(grep "^maturin==" requirements-test.txt)"
fi
wheels="$target/python-$name-wheels"
rm -rf "$wheels"
"$build_venv/bin/maturin" build --release --locked --quiet -o "$wheels"

venv="$target/python-$name-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" "$wheels"/stepcache-*.whl
