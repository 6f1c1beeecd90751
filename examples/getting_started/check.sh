#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs hello_cats and checks what docs/getting-started.md promises: the
# program in the guide is this file, word for word, and its output has the
# lines the guide shows (timestamps and pids aside).
# Usage: check.sh HELLO_CATS GUIDE SOURCE
set -eu
bin="$1"
guide="$2"
src="$3"

# The first ```c block of the guide must be the source file.
awk '/^```c$/ {on=1; next} /^```$/ && on {exit} on {print}' "$guide" >"${TMPDIR:-/tmp}/hello_cats.doc.$$"
if ! cmp -s "${TMPDIR:-/tmp}/hello_cats.doc.$$" "$src"; then
    echo "docs/getting-started.md shows a different program than $src:"
    diff -u "$src" "${TMPDIR:-/tmp}/hello_cats.doc.$$" || true
    rm -f "${TMPDIR:-/tmp}/hello_cats.doc.$$"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/hello_cats.doc.$$"

out=$("$bin")
printf '%s\n' "$out"
expect() {
    printf '%s\n' "$out" | grep -qF -- "$1" || {
        echo "missing from the output: $1"
        exit 1
    }
}
expect '% cat_traveler:enter("Tihon", "Barcelona")'
expect '% cat_traveler:enter/2 -> ok ('
expect '% cat_traveler:enter("Tihon", "Atlantis")'
expect '% cat_traveler:enter/2 -> no_such_town ('
expect '% stopped: stopped by user (4 events, 0 dropped)'
if printf '%s\n' "$out" | grep -q Murka; then
    echo "Murka was traced although the pattern asks for Tihon"
    exit 1
fi
# Every event line is one the guide shows, timestamps and pids aside.
printf '%s\n' "$out" | sed -E 's/[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}/HH:MM:SS.UUUUUU/; s/<0\.[0-9]+\.0>/<0.N.0>/; s/\([0-9.]+ [num]?s\)/(D)/' |
    while IFS= read -r line; do
        [ -z "$line" ] && continue
        norm_guide=$(sed -E 's/[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}/HH:MM:SS.UUUUUU/; s/<0\.[0-9]+\.0>/<0.N.0>/; s/\([0-9.]+ [num]?s\)/(D)/' "$guide")
        printf '%s\n' "$norm_guide" | grep -qxF -- "$line" || {
            echo "the guide does not show this output line: $line"
            exit 1
        }
    done
echo "getting-started: the guide's program and output hold"
