#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions per call of the benchmark's function under test, for each
# variant of ctrace_bench, counted by callgrind.
#
# What is counted: only instructions executed on the traced thread inside
# the function under test (enter_baseline(), enter(), or a prototype of
# proto.c) and everything it calls (--toggle-collect on that function, with
# collection off at start). Callgrind's collection state is per thread, so
# the session's consumer thread, which also runs under valgrind, is not
# counted; neither are the loop around the calls, start-up, or the session
# start and stop. One-time costs inside the function (the first armed call
# of a thread claims its thread record, the first call through the PLT is
# resolved) are removed by running each variant twice, with ITERS and with
# 2*ITERS calls, and dividing the difference by ITERS.
#
# Usage: tests/bench/callgrind.sh [BENCH] [ITERS] [VARIANT...]
#   BENCH defaults to build/bin/ctrace_bench, ITERS to 100000, the variants
#   to every one `BENCH --list` names.
# Prints one line per variant: its name, instructions per call, and the
# difference to baseline (measured first when it is in the list).
#
# Then, for enabled_match and enabled_match_text when they and baseline
# are in the list, the whole process: every instruction of every thread
# (the traced thread, the session's consumer delivering to the bench's
# discarding callback or rendering redbug text into /dev/null, the pacer
# that keeps the queue from overflowing), per call, over the same for
# baseline, again from runs of ITERS and 2*ITERS calls. WHOLE=0 skips it.
# Valgrind 3.19 (Debian 12) cannot read the DWARF 5 that clang 14 emits by
# default: measure a clang build configured with CMAKE_C_FLAGS=-gdwarf-4.
# Symbols are what callgrind needs to find the functions, so the build
# must not be stripped.
set -eu
bench="${1:-build/bin/ctrace_bench}"
iters="${2:-100000}"
[ $# -gt 2 ] && shift 2 || set --
command -v valgrind >/dev/null || {
    echo "callgrind.sh: valgrind not found (apt-get install valgrind)" >&2
    exit 2
}
[ -x "$bench" ] || { echo "callgrind.sh: no benchmark at $bench" >&2; exit 2; }
case "$iters" in
'' | *[!0-9]* | 0) echo "callgrind.sh: ITERS must be a positive integer" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bench" --list >"$tmp/list"
[ $# -gt 0 ] || set -- $(cut -d' ' -f1 "$tmp/list")

# Instructions collected in one run of `variant` with `n` calls.
collected() {
    variant="$1"
    fn="$2"
    n="$3"
    out="$tmp/$variant.$n.out"
    # The warm-up calls are collected too (they are calls of the same
    # function); --warmup 0 keeps both runs' one-time costs the same.
    if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
        --collect-atstart=no --toggle-collect="$fn" \
        "$bench" --variant "$variant" --iters "$n" --warmup 0 \
        >"$tmp/$variant.$n.log" 2>&1; then
        echo "callgrind.sh: $variant failed:" >&2
        cat "$tmp/$variant.$n.log" >&2
        exit 1
    fi
    total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out")
    [ -n "$total" ] || total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out")
    [ -n "$total" ] || {
        echo "callgrind.sh: no total in $out (no symbol $fn?)" >&2
        exit 1
    }
    echo "$total"
}

base=""
for variant in "$@"; do
    fn=$(awk -v v="$variant" '$1 == v { print $2 }' "$tmp/list")
    [ -n "$fn" ] || { echo "callgrind.sh: unknown variant $variant" >&2; exit 2; }
    a=$(collected "$variant" "$fn" "$iters")
    b=$(collected "$variant" "$fn" $((2 * iters)))
    per=$(awk -v a="$a" -v b="$b" -v n="$iters" 'BEGIN { printf "%.2f", (b - a) / n }')
    [ "$variant" = baseline ] && base="$per"
    if [ -n "$base" ]; then
        awk -v v="$variant" -v p="$per" -v b="$base" \
            'BEGIN { printf "%-32s %9.2f instructions/call  %+9.2f vs baseline\n", v, p, p - b }'
    else
        printf '%-32s %9.2f instructions/call\n' "$variant" "$per"
    fi
done

# Every instruction of a run of `variant` with `n` calls, all threads.
everything() {
    variant="$1"
    n="$2"
    out="$tmp/$variant.$n.all.out"
    if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bench" --variant "$variant" --iters "$n" --warmup 0 \
        >"$tmp/$variant.$n.all.log" 2>&1; then
        echo "callgrind.sh: $variant failed:" >&2
        cat "$tmp/$variant.$n.all.log" >&2
        exit 1
    fi
    total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out")
    [ -n "$total" ] || total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out")
    echo "$total"
}

per_call_all() {
    a=$(everything "$1" "$iters")
    b=$(everything "$1" $((2 * iters)))
    awk -v a="$a" -v b="$b" -v n="$iters" 'BEGIN { printf "%.2f", (b - a) / n }'
}

has() { case " $list " in *" $1 "*) return 0 ;; esac; return 1; }
list="$*"
if has baseline && [ "${WHOLE:-1}" != 0 ]; then
    wb=""
    for variant in enabled_match enabled_match_text; do
        has "$variant" || continue
        [ -n "$wb" ] || wb=$(per_call_all baseline)
        wm=$(per_call_all "$variant")
        awk -v v="whole_process_$variant" -v p="$wm" -v b="$wb" \
            'BEGIN { printf "%-32s %9.2f instructions/call  %+9.2f vs baseline\n", v, p, p - b }'
    done
fi
