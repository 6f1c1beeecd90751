#!/bin/sh
# SPDX-License-Identifier: MIT
# How soon a storm with the default options stops itself, not run by ctest:
# cat_load at full speed against cat_traveler while `ctrace trace
# 'cat_traveler -> return' --msgs 0 --time 0 --force` (default queue,
# default overhead budget and trip) records every call of the module. Each
# run starts the tracer, then the load, and prints how long after the load
# began the tracer ended (or "-" when it was still running after LIMIT
# seconds) and its stop line.
# Usage: tests/bench/storm_stop.sh [BIN_DIR] [RUNS] [LIMIT]
#   BIN_DIR defaults to build/bin, RUNS to 10, LIMIT to 20.
# Environment: THREADS (cat_traveler --threads, default 2), CONCURRENCY
#   (cat_load connections, default 16), CATS (default 64), TRACE_FLAGS
#   (extra flags for ctrace trace, e.g. "--overhead-trip 0").
set -eu

bin="${1:-build/bin}"
runs="${2:-10}"
limit="${3:-20}"
threads="${THREADS:-2}"
concurrency="${CONCURRENCY:-16}"
cats="${CATS:-64}"
flags="${TRACE_FLAGS:-}"
secs=$((limit + 2))

bench=storm_stop.sh
# shellcheck source=support.sh
. "$(dirname "$0")/support.sh"
start_service

now_ms() {
    date +%s%3N
}

printf '%-4s %10s  %s\n' run "stopped s" "stop line"
for run in $(seq "$runs"); do
    # shellcheck disable=SC2086
    CTRACE_URL="$admin" CTRACE_TOKEN_FILE="$tmp/token" "$bin/ctrace" trace \
        'cat_traveler -> return' --msgs 0 --time 0 --force $flags \
        --output "$tmp/trace.out" >"$tmp/tracer.log" 2>&1 &
    tracer=$!
    sleep 0.5
    "$bin/cat_load" --url "$url" --rate 0 --duration "$secs" \
        --concurrency "$concurrency" --cats "$cats" >"$tmp/load.out" 2>&1 &
    lp=$!
    t0=$(now_ms)
    took="-"
    while [ $(($(now_ms) - t0)) -lt $((limit * 1000)) ]; do
        if ! kill -0 "$tracer" 2>/dev/null; then
            took=$(awk -v a="$t0" -v b="$(now_ms)" \
                'BEGIN { printf "%.2f", (b - a) / 1000 }')
            break
        fi
        sleep 0.05
    done
    kill -INT "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    tracer=""
    kill -INT "$lp" 2>/dev/null || true
    wait "$lp" 2>/dev/null || true
    line=$(sed -n 's/^% stopped: //p' "$tmp/tracer.log" | tail -1)
    printf '%-4s %10s  %s\n' "$run" "$took" "$line"
    sleep 1
done
