#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions per call of the benchmark's function under test, baseline
# versus a disabled trace point, counted by callgrind: only instructions
# executed inside enter_baseline() or enter() (and what they call) are
# collected, so the loop around them and start-up do not count.
# Usage: tests/bench/callgrind.sh [BENCH] [ITERS]
#   BENCH defaults to build/bin/ctrace_bench, ITERS to 1000000.
# Valgrind 3.19 (Debian 12) cannot read the DWARF 5 that clang 14 emits by
# default: measure a clang build configured with CMAKE_C_FLAGS=-gdwarf-4.
set -eu
bench="${1:-build/bin/ctrace_bench}"
iters="${2:-1000000}"
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found" >&2; exit 2; }
[ -x "$bench" ] || { echo "callgrind.sh: no benchmark at $bench" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints the instructions per call of one variant.
measure() {
    variant="$1"
    fn="$2"
    valgrind --tool=callgrind --callgrind-out-file="$tmp/$variant.out" \
        --collect-atstart=no --toggle-collect="$fn" \
        "$bench" --variant "$variant" --iters "$iters" --warmup 0 \
        >"$tmp/$variant.log" 2>&1 || {
        cat "$tmp/$variant.log" >&2
        exit 1
    }
    total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/$variant.out")
    [ -n "$total" ] || total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$tmp/$variant.out")
    awk -v t="$total" -v n="$iters" 'BEGIN { printf "%.2f", t / n }'
}

base=$(measure baseline enter_baseline)
disabled=$(measure disabled enter)
echo "baseline: $base instructions per call"
echo "disabled: $disabled instructions per call"
awk -v a="$base" -v b="$disabled" \
    'BEGIN { printf "difference: %+.2f instructions per call\n", b - a }'
