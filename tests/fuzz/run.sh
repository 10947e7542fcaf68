#!/usr/bin/env bash
# Fuzzes entry decoding, bundle reading and key parsing with cargo fuzz (libFuzzer + AddressSanitizer).
# Usage: bash tests/fuzz/run.sh [seconds per target, default 60]
# cargo fuzz needs -Z flags: RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2
log="$(mktemp)"
for target in entry_decode bundle_read key_parse; do
  echo "fuzzing $target for ${seconds} s"
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz target $target failed (a finding is in tests/fuzz/artifacts/$target)" >&2
    exit 1
  fi
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss)" "$log" || true
  grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -n 1 || true
done
rm -f "$log"
