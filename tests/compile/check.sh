#!/bin/sh
# SPDX-License-Identifier: MIT
# Compiles the trace-point compile tests with one compiler, so that both gcc
# and clang are checked whichever one CMake builds with:
# - every tests/compile/*.c must build warning-free under strict flags, with
#   points enabled, enabled with -DCTRACE_NO_TRAMPOLINES (the plain calls
#   other targets use) and with -DCTRACE_DISABLE, at -O0 and -O2; a disabled
#   object must reference no ctrace__ symbol and have no ctrace_points
#   section;
# - every tests/compile/fail/*.c must fail in both modes, with a message
#   matching the extended regex on its `/* expect: ... */` line (also with
#   -DCTRACE_NO_TRAMPOLINES).
# Usage: check.sh CC INCLUDE_DIR SOURCE_DIR WORK_DIR
set -eu
cc="$1"
include="$2"
src="$3"
work="$4"
mkdir -p "$work"

flags="-std=c11 -Wall -Wextra -Wpedantic -Werror -Wshadow -Wconversion
 -Wsign-conversion -Wdouble-promotion -Wdeclaration-after-statement
 -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wcast-qual
 -Wredundant-decls -I$include"
failures=0
checked=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

for f in "$src"/*.c; do
    name=$(basename "$f" .c)
    for mode in on plain off; do
        define=""
        [ "$mode" = plain ] && define="-DCTRACE_NO_TRAMPOLINES"
        [ "$mode" = off ] && define="-DCTRACE_DISABLE"
        for opt in -O0 -O2; do
            obj="$work/$name-$mode$opt.o"
            checked=$((checked + 1))
            # shellcheck disable=SC2086
            if ! "$cc" $flags $define $opt -c "$f" -o "$obj" \
                    2>"$work/$name.err"; then
                fail "$name ($mode, $opt) does not compile:"
                cat "$work/$name.err"
                continue
            fi
            if [ "$mode" = off ] || [ "$name" = disabled ]; then
                if nm -u "$obj" | grep -q 'ctrace__'; then
                    fail "$name ($mode, $opt) references ctrace internals:"
                    nm -u "$obj" | grep 'ctrace__'
                fi
                if objdump -h "$obj" | grep -q ctrace_points; then
                    fail "$name ($mode, $opt) has a ctrace_points section"
                fi
            fi
        done
    done
done

for f in "$src"/fail/*.c; do
    name=$(basename "$f" .c)
    expect=$(sed -n 's|^/\* expect: \(.*\) \*/$|\1|p' "$f")
    if [ -z "$expect" ]; then
        fail "$name has no /* expect: ... */ line"
        continue
    fi
    for define in "" -DCTRACE_NO_TRAMPOLINES -DCTRACE_DISABLE; do
        checked=$((checked + 1))
        # shellcheck disable=SC2086
        if "$cc" $flags $define -c "$f" -o "$work/$name.o" \
                2>"$work/$name.err"; then
            fail "fail/$name compiled ${define:-(points on)}; it must not"
        elif ! grep -Eq "$expect" "$work/$name.err"; then
            fail "fail/$name ${define:-(points on)}: no error matching /$expect/:"
            cat "$work/$name.err"
        fi
    done
done

echo "$cc: $checked compilations checked, $failures failed"
[ "$failures" -eq 0 ]
