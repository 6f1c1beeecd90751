#!/bin/sh
# SPDX-License-Identifier: MIT
# Every public function that takes a struct ctrace_error * must have a case
# in tests/unit/test_errors.c (which checks that it clears the struct on
# entry). Lists the public headers' functions with such a parameter and
# fails, naming them, when test_errors.c never calls one.
# Usage: errors_coverage.sh INCLUDE_DIR TEST_ERRORS_C
set -eu
inc="$1"
test_c="$2"
# Join each declaration onto one line (they end at ';'), keep the
# CTRACE_API ones that mention struct ctrace_error, and take the name: the
# identifier right before the first '('.
names=$(cat "$inc"/ctrace/*.h |
    awk '/CTRACE_API/ { decl = ""; on = 1 }
         on { decl = decl " " $0; if ($0 ~ /;/) { print decl; on = 0 } }' |
    grep 'struct ctrace_error' |
    sed 's/(.*//' | awk '{ print $NF }' | tr -d '*' | sort -u)
[ -n "$names" ] || { echo "errors_coverage: no function found in $inc" >&2; exit 2; }
missing=""
for n in $names; do
    grep -q "\\b$n(" "$test_c" || missing="$missing $n"
done
if [ -n "$missing" ]; then
    echo "errors_coverage: no case in test_errors.c for:$missing"
    exit 1
fi
echo "errors_coverage: $(echo "$names" | wc -l) functions take a struct ctrace_error *; each has a case"
