#!/bin/sh
# SPDX-License-Identifier: MIT
# A storm, not run by ctest: cat_load at full speed against cat_traveler
# while `ctrace trace cat_traveler` records every call of the module into a
# file through a 50000-event queue, with the session's overhead budget at
# its default (20%) and switched off (--max-overhead 100). Each traced run
# sits between two untraced ones of the same service, and its throughput is
# taken against their mean. Prints requests per second, the ratios, the
# service's resident memory before, at its peak during and after each traced
# run, and the sessions' stop lines.
# Usage: tests/bench/storm_bench.sh [BIN_DIR] [SECONDS] [ROUNDS]
#   BIN_DIR defaults to build/bin, SECONDS (per run) to 10, ROUNDS to 2.
# Environment: THREADS (cat_traveler --threads, default 2), CONCURRENCY
#   (cat_load connections, default 16), CATS (default 64), QUEUE (default
#   50000), PCTS (the --max-overhead values, in order; default "20 100"),
#   TRIP (--overhead-trip, default 0: shed for the whole run, so that the
#   run measures what shedding holds rather than how soon the storm trips).
set -eu

bin="${1:-build/bin}"
secs="${2:-10}"
rounds="${3:-2}"
threads="${THREADS:-2}"
concurrency="${CONCURRENCY:-16}"
cats="${CATS:-64}"
queue="${QUEUE:-50000}"
pcts="${PCTS:-20 100}"
trip="${TRIP:-0}"

bench=storm_bench.sh
# shellcheck source=support.sh
. "$(dirname "$0")/support.sh"
start_service

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$srv/status"
}

# Runs the load with a storm session ($1: --max-overhead value); prints
# "REQ_PER_S RSS_BEFORE RSS_PEAK RSS_AFTER" and leaves the stop line in
# $tmp/line.
storm() {
    before=$(rss_kib)
    CTRACE_URL="$admin" CTRACE_TOKEN_FILE="$tmp/token" "$bin/ctrace" trace \
        'cat_traveler -> return' --msgs 0 --time 0 --force \
        --max-queue "$queue" --max-overhead "$1" --overhead-trip "$trip" \
        --output "$tmp/trace.out" >"$tmp/tracer.log" 2>&1 &
    tracer=$!
    sleep 0.5
    load >"$tmp/rate" &
    lp=$!
    peak=$before
    while kill -0 "$lp" 2>/dev/null; do
        r=$(rss_kib)
        [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.2
    done
    wait "$lp"
    kill -INT "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    tracer=""
    sleep 0.5
    after=$(rss_kib)
    sed -n 's/^% stopped: //p' "$tmp/tracer.log" | tail -1 >"$tmp/line"
    echo "$(cat "$tmp/rate") $before $peak $after"
}

printf '%-6s %-9s %10s %10s %8s %10s %10s %10s\n' round overhead \
    "plain r/s" "traced r/s" ratio "RSS KiB" "peak KiB" "after KiB"
for round in $(seq "$rounds"); do
    for pct in $pcts; do
        p1=$(load)
        set -- $(storm "$pct")
        p2=$(load)
        ratio=$(awk -v t="$1" -v a="$p1" -v b="$p2" \
            'BEGIN { printf "%.3f", t / ((a + b) / 2) }')
        printf '%-6s %-9s %10s %10s %8s %10s %10s %10s\n' "$round" "$pct%" \
            "$(awk -v a="$p1" -v b="$p2" 'BEGIN { printf "%.0f", (a + b) / 2 }')" \
            "$1" "$ratio" "$2" "$3" "$4"
        echo "       stopped: $(cat "$tmp/line")"
    done
done
