#!/bin/sh
# SPDX-License-Identifier: MIT
# What tracing costs the demo service, not run by ctest: cat_load at full
# speed against cat_traveler, first with no session, then while a session
# on `cat_traveler:enter/2 -> return` records every call into a file (the
# `ctrace trace ... --output FILE` client, attached over the admin
# endpoint), then with no session again. Prints requests per second of
# each run, the traced/untraced ratio, and how many calls the file holds.
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

"$bin/cat_traveler" --port 0 --admin-port 0 --threads "$threads" \
    --token-file "$tmp/token" >"$tmp/srv.log" 2>&1 &
srv=$!
url=""
admin=""
for _ in $(seq 100); do
    url=$(sed -n 's/^cat_traveler listening on //p' "$tmp/srv.log")
    admin=$(sed -n 's/^cat_traveler: admin endpoint on \([^ ]*\) .*/\1/p' \
        "$tmp/srv.log")
    [ -n "$url" ] && [ -n "$admin" ] && break
    sleep 0.1
done
[ -n "$url" ] && [ -n "$admin" ] || {
    cat "$tmp/srv.log" >&2
    echo "traced_bench.sh: cat_traveler did not start" >&2
    exit 1
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

plain1=$(load)

CTRACE_URL="$admin" CTRACE_TOKEN_FILE="$tmp/token" "$bin/ctrace" trace \
    'cat_traveler:enter/2 -> return' --msgs 0 --time 0 --force \
    --max-queue 10000 --output "$tmp/trace.out" >"$tmp/tracer.log" 2>&1 &
tracer=$!
sleep 1
traced=$(load)
kill -INT "$tracer" 2>/dev/null || true
wait "$tracer" 2>/dev/null || true
tracer=""
cat "$tmp/tracer.log" >&2
calls=$(grep -c '^% cat_traveler:enter(' "$tmp/trace.out" || true)
returns=$(grep -c '^% cat_traveler:enter/2 -> ' "$tmp/trace.out" || true)
stopped=$(grep '^% stopped' "$tmp/tracer.log" || true)

plain2=$(load)

printf '%-34s %12s\n' "run ($secs s, --threads $threads)" "requests/s"
printf '%-34s %12s\n' "no session" "$plain1"
printf '%-34s %12s\n' "enter/2 -> return into a file" "$traced"
printf '%-34s %12s\n' "no session again" "$plain2"
awk -v a="$plain1" -v b="$plain2" -v t="$traced" 'BEGIN {
    base = (a + b) / 2
    printf "traced / untraced (mean of both): %.3f\n", t / base
}'
echo "file: $calls calls, $returns returns; $stopped"
