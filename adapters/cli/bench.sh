#!/usr/bin/env bash
# The stepcache command against the plain file tools on one cache directory, side by side:
# `verify` (every entry read and checked) against reading every file (`cat`), `export`
# (every entry read, checked and written to one bundle) against copying the directory
# (`cp -r`), and `import` (every entry checked and written) against unpacking a tar of it.
# The page cache is warm for all of them (dropping it needs root); medians of 3 runs.
# Usage: bash adapters/cli/bench.sh [MIB]    (default 1024; tests/bench.sh --quick uses 16)
set -euo pipefail
cd "$(dirname "$0")/../.."

mib="${1:-1024}"
cargo build -q --release --locked -p stepcache-cli --bin stepcache --example fill
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin/examples/fill" "$work/cache" "$mib"
stepcache() { "$bin/stepcache" -q "$@"; }
tar -C "$work" -cf "$work/cache.tar" cache
stepcache --dir "$work/cache" export "$work/all.stepcache" > /dev/null

# The median wall time in seconds of 3 runs of `prepare; command` (prepare untimed).
median() {
  local prepare="$1" command="$2" times=()
  for _ in 1 2 3; do
    eval "$prepare"
    local start end
    start=$(date +%s.%N)
    eval "$command" > /dev/null 2>&1
    end=$(date +%s.%N)
    times+=("$(awk "BEGIN { print $end - $start }")")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

row() {
  local s
  s=$(median "$2" "$3")
  awk -v what="$1" -v s="$s" -v mib="$mib" 'BEGIN { printf "| %s | %.3f | %.2f |\n", what, s, mib / 1024 / s }'
}

echo "| $mib MiB cache | s | GiB/s |"
echo "|---|---|---|"
row "cat every file > /dev/null" ":" "find '$work/cache' -type f -exec cat {} + > /dev/null"
row "stepcache verify --no-remove" ":" "stepcache --dir '$work/cache' verify --no-remove"
row "cp -r the directory" "rm -rf '$work/copy'" "cp -r '$work/cache' '$work/copy'"
row "stepcache export" "rm -f '$work/out.stepcache'" "stepcache --dir '$work/cache' export '$work/out.stepcache'"
row "tar -x of the directory" "rm -rf '$work/untar' && mkdir '$work/untar'" "tar -C '$work/untar' -xf '$work/cache.tar'"
row "stepcache import" "rm -rf '$work/imported'" "stepcache --dir '$work/imported' import '$work/all.stepcache'"
