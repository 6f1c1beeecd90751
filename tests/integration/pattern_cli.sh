#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the real `ctrace pattern` on the data-driven cases:
#   valid/<case>/input    prints valid/<case>/expected on stdout, exit 0;
#   invalid/<case>/input  exits 2, and the first line on stderr is
#                         "ctrace: pattern: " followed by invalid/<case>/expected.
# Then several specs in one call, and the usage error without a spec.
# Usage: pattern_cli.sh CTRACE_BINARY DATA_DIR
set -u

ctrace=$1
data=$2
# shellcheck source=support/check.sh
. "$(dirname "$0")/support/check.sh"

# The first line of a file, for comparing with an expected line.
first_line() {
    sed -n '1p' "$1"
}

for dir in "$data"/valid/*/; do
    name=valid/$(basename "$dir")
    # $(cat) drops the final newline, as the unit test does.
    input=$(cat "$dir/input")
    "$ctrace" pattern "$input" >"$tmp/out" 2>"$tmp/err"
    status=$?
    expected=$(cat "$dir/expected")
    got=$(cat "$tmp/out")
    if [ "$status" -ne 0 ]; then
        bad "$name" "exit $status, expected 0" "stderr: $(first_line "$tmp/err")"
    elif [ "$got" != "$expected" ]; then
        bad "$name" "got:      $got" "expected: $expected"
    else
        ok
    fi
done

for dir in "$data"/invalid/*/; do
    name=invalid/$(basename "$dir")
    input=$(cat "$dir/input")
    "$ctrace" pattern "$input" >"$tmp/out" 2>"$tmp/err"
    status=$?
    expected="ctrace: pattern: $(cat "$dir/expected")"
    got=$(first_line "$tmp/err")
    if [ "$status" -ne 2 ]; then
        bad "$name" "exit $status, expected 2"
    elif [ -s "$tmp/out" ]; then
        bad "$name" "unexpected output on stdout: $(first_line "$tmp/out")"
    elif [ "$got" != "$expected" ]; then
        bad "$name" "got:      $got" "expected: $expected"
    else
        ok
    fi
done

# Several specs in one call: one JSON line each, in order.
"$ctrace" pattern 'a:b/1' send 'c:d(X) when X > 1 -> return' \
    >"$tmp/out" 2>"$tmp/err"
status=$?
cat >"$tmp/want" <<'EOF'
{"kind":"call","module":"a","function":"b","arity":1,"args":null,"guard":null,"actions":[]}
{"kind":"send"}
{"kind":"call","module":"c","function":"d","arity":1,"args":[{"var":"X"}],"guard":{"op":">","args":[{"var":"X"},{"int":1}]},"actions":["return"]}
EOF
if [ "$status" -eq 0 ] && cmp -s "$tmp/out" "$tmp/want" && [ ! -s "$tmp/err" ]; then
    ok
else
    bad "several specs" "exit $status" "stdout: $(cat "$tmp/out")"
fi

# A bad spec among good ones: the good ones still print, the exit is 2 and
# the error says which spec it was.
"$ctrace" pattern 'a:b/1' 'a:b(' send >"$tmp/out" 2>"$tmp/err"
status=$?
lines=$(wc -l <"$tmp/out")
if [ "$status" -eq 2 ] && [ "$lines" -eq 2 ] &&
    [ "$(first_line "$tmp/err")" = "ctrace: pattern: column 5: expected a pattern, got end of input" ] &&
    grep -q '(spec 2 of 3)' "$tmp/err"; then
    ok
else
    bad "bad spec among good ones" "exit $status, $lines lines" \
        "stderr: $(cat "$tmp/err")"
fi

# The caret line points at the column.
"$ctrace" pattern 'a:b(X) when Y' >"$tmp/out" 2>"$tmp/err"
if [ "$(sed -n '3p' "$tmp/err")" = "              ^" ]; then
    ok
else
    bad "caret under the column" "stderr: $(cat "$tmp/err")"
fi

# No spec at all is a usage error.
"$ctrace" pattern >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$status" -eq 2 ] && [ ! -s "$tmp/out" ] &&
    [ "$(first_line "$tmp/err")" = "ctrace: pattern: no spec given" ]; then
    ok
else
    bad "no spec" "exit $status" "stderr: $(cat "$tmp/err")"
fi

summary pattern_cli
