#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that docs/testing-with-ctrace.md shows the files of examples/testing
# exactly as they are, so that the page cannot drift from the code that the
# build compiles and runs. In the page, each file is the fenced block right
# after a line "<!-- file: examples/testing/NAME -->".
# Usage: check_doc.sh DOC EXAMPLE_DIR
set -eu
doc=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for name in CMakeLists.txt cat_counter.h cat_counter.c test_cat_counter.c; do
    awk -v marker="<!-- file: examples/testing/$name -->" '
        state == 0 && $0 == marker { state = 1; next }
        state == 1 && /^```/ { state = 2; next }
        state == 1 && /^[ \t]*$/ { next }
        state == 1 { exit 1 }
        state == 2 && /^```[ \t]*$/ { state = 3; exit }
        state == 2 { print }
        END { if (state != 3) exit 1 }
    ' "$doc" >"$tmp/$name" || {
        echo "$doc: no complete block after <!-- file: examples/testing/$name -->" >&2
        status=1
        continue
    }
    if ! diff -u --label "$dir/$name" --label "$doc ($name)" \
        "$dir/$name" "$tmp/$name"; then
        echo "$doc: the block of $name differs from the file (diff above)" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "$doc shows every file of $dir as it is"
exit "$status"
