#!/bin/sh
# SPDX-License-Identifier: MIT
# What tracing costs the demo service, not run by ctest: cat_load at full
# speed against cat_traveler with no session, then while a session on
# `cat_traveler:enter/2 -> return` records every call into a file, in two
# ways: (a) the service's own file sink (cat_traveler --trace SPEC
# --trace-file FILE, a separate service run), (b) the `ctrace trace ...
# --output FILE` client attached over the admin endpoint, which also pays
# for rendering JSON, the event stream and the client on the same machine.
# Each traced run sits between two untraced ones of the same service, and
# its ratio is taken against their mean. Prints requests per second, the
# ratios, and how many calls each file holds.
# Usage: tests/bench/traced_bench.sh [BIN_DIR] [SECONDS]
#   BIN_DIR defaults to build/bin, SECONDS (per run) to 20.
# Environment: THREADS (cat_traveler --threads, default 2), CONCURRENCY
#   (cat_load connections, default 16), CATS (default 64).
set -eu

bin="${1:-build/bin}"
secs="${2:-20}"
threads="${THREADS:-2}"
concurrency="${CONCURRENCY:-16}"
cats="${CATS:-64}"

bench=traced_bench.sh
# shellcheck source=support.sh
. "$(dirname "$0")/support.sh"

spec='cat_traveler:enter/2 -> return'

# (a) The service's own file sink.
start_service
a_plain1=$(load)
stop_service
start_service --trace "$spec" --trace-file "$tmp/sink.out"
sleep 1
a_traced=$(load)
stop_service
a_line=$(sed -n 's/^cat_traveler: --trace: //p' "$tmp/srv.log")
a_calls=$(grep -c '^% cat_traveler:enter(' "$tmp/sink.out" || true)
start_service
a_plain2=$(load)
stop_service

# (b) The remote client.
start_service
b_plain1=$(load)
CTRACE_URL="$admin" CTRACE_TOKEN_FILE="$tmp/token" "$bin/ctrace" trace \
    "$spec" --msgs 0 --time 0 --force --max-queue 10000 \
    --output "$tmp/trace.out" >"$tmp/tracer.log" 2>&1 &
tracer=$!
sleep 1
b_traced=$(load)
kill -INT "$tracer" 2>/dev/null || true
wait "$tracer" 2>/dev/null || true
tracer=""
b_calls=$(grep -c '^% cat_traveler:enter(' "$tmp/trace.out" || true)
b_line=$(sed -n 's/^% stopped: //p' "$tmp/tracer.log")
b_plain2=$(load)
stop_service

printf '%-44s %12s\n' "cat_load --rate 0, $secs s, --threads $threads" \
    "requests/s"
printf '%-44s %12s\n' "(a) no session" "$a_plain1"
printf '%-44s %12s\n' "(a) enter/2 -> return, service's file sink" \
    "$a_traced"
printf '%-44s %12s\n' "(a) no session again" "$a_plain2"
printf '%-44s %12s\n' "(b) no session" "$b_plain1"
printf '%-44s %12s\n' "(b) enter/2 -> return, ctrace trace --output" \
    "$b_traced"
printf '%-44s %12s\n' "(b) no session again" "$b_plain2"
awk -v a1="$a_plain1" -v a2="$a_plain2" -v at="$a_traced" \
    -v b1="$b_plain1" -v b2="$b_plain2" -v bt="$b_traced" 'BEGIN {
    printf "(a) traced / untraced: %.3f\n", at / ((a1 + a2) / 2)
    printf "(b) traced / untraced: %.3f\n", bt / ((b1 + b2) / 2)
}'
echo "(a) file: $a_calls calls; $a_line"
echo "(b) file: $b_calls calls; $b_line"
