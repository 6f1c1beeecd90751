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

for prog in cat_traveler cat_load ctrace; do
    [ -x "$bin/$prog" ] || {
        echo "traced_bench.sh: no $bin/$prog; build first" >&2
        exit 2
    }
done

tmp=$(mktemp -d)
srv=""
tracer=""
cleanup() {
    [ -n "$tracer" ] && kill -INT "$tracer" 2>/dev/null || true
    [ -n "$tracer" ] && wait "$tracer" 2>/dev/null || true
    if [ -n "$srv" ]; then
        kill -TERM "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# Starts cat_traveler with extra flags "$@"; sets srv, url and admin.
start_service() {
    : >"$tmp/srv.log"
    "$bin/cat_traveler" --port 0 --admin-port 0 --threads "$threads" \
        --token-file "$tmp/token" "$@" >"$tmp/srv.log" 2>&1 &
    srv=$!
    url=""
    admin=""
    for _ in $(seq 100); do
        url=$(sed -n 's/^cat_traveler listening on //p' "$tmp/srv.log")
        admin=$(sed -n \
            's/^cat_traveler: admin endpoint on \([^ ]*\) .*/\1/p' \
            "$tmp/srv.log")
        [ -n "$url" ] && [ -n "$admin" ] && break
        sleep 0.1
    done
    [ -n "$url" ] && [ -n "$admin" ] || {
        cat "$tmp/srv.log" >&2
        echo "traced_bench.sh: cat_traveler did not start" >&2
        exit 1
    }
}

stop_service() {
    kill -TERM "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    srv=""
}

# Runs cat_load for $secs seconds; prints its requests per second.
load() {
    "$bin/cat_load" --url "$url" --rate 0 --duration "$secs" \
        --concurrency "$concurrency" --cats "$cats" >"$tmp/load.out" 2>&1 ||
        {
            tail -5 "$tmp/load.out" >&2
            echo "traced_bench.sh: cat_load failed" >&2
            exit 1
        }
    sed -n 's/.* in [0-9.]* s: \([0-9.]*\) req\/s.*/\1/p' "$tmp/load.out" |
        tail -1
}

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
