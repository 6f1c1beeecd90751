#!/bin/sh
# SPDX-License-Identifier: MIT
# What a session's consumer thread costs the demo service at a fixed load,
# not run by ctest: cat_traveler records every `cat_traveler:enter/2 ->
# return` into a file (--trace SPEC --trace-file FILE) while cat_load sends
# RATE requests a second; at the end the consumer thread's CPU time and
# wake-ups (voluntary context switches) are read from /proc/PID/task/*/,
# the thread named ctrace_consumer. A fixed rate, unlike throughput, does
# not swing with the machine's neighbours: it prints the same events a
# second on every run, and the thread's own CPU and wake-ups for them.
# Usage: tests/bench/consumer_bench.sh [BIN_DIR] [SECONDS] [RATE] [RUNS]
#   BIN_DIR defaults to build/bin, SECONDS to 10, RATE (requests a second)
#   to 5000, RUNS to 3.
# Environment: THREADS (cat_traveler --threads, default 2), CONCURRENCY
#   (cat_load connections, default 16), CATS (default 64).
set -eu

bin="${1:-build/bin}"
secs="${2:-10}"
rate="${3:-5000}"
runs="${4:-3}"
threads="${THREADS:-2}"
concurrency="${CONCURRENCY:-16}"
cats="${CATS:-64}"

bench=consumer_bench.sh
for n in "$secs" "$rate" "$runs"; do
    case "$n" in
    '' | *[!0-9]* | 0)
        echo "$bench: SECONDS, RATE and RUNS must be positive integers" >&2
        exit 2
        ;;
    esac
done
# shellcheck source=support.sh
. "$(dirname "$0")/support.sh"

spec='cat_traveler:enter/2 -> return'
hz=$(getconf CLK_TCK)

# consumer_stats: "CPU_MS WAKEUPS" of the service's consumer thread.
consumer_stats() {
    for task in /proc/"$srv"/task/*; do
        [ "$(cat "$task/comm" 2>/dev/null)" = ctrace_consumer ] || continue
        # utime and stime are fields 14 and 15; comm (field 2) has no space.
        ticks=$(awk '{ print $14 + $15 }' "$task/stat")
        wakeups=$(sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' \
            "$task/status")
        echo "$((ticks * 1000 / hz)) $wakeups"
        return 0
    done
    echo "$bench: no ctrace_consumer thread in $srv" >&2
    exit 1
}

printf '%-4s %10s %10s %12s %14s %12s\n' run "req/s" "events/s" \
    "consumer ms" "wake-ups/s" "us/event"
r=1
while [ "$r" -le "$runs" ]; do
    rm -f "$tmp/sink.out"
    start_service --trace "$spec" --trace-file "$tmp/sink.out"
    sleep 1
    before=$(consumer_stats)
    "$bin/cat_load" --url "$url" --rate "$rate" --duration "$secs" \
        --concurrency "$concurrency" --cats "$cats" >"$tmp/load.out" 2>&1 || {
        tail -5 "$tmp/load.out" >&2
        echo "$bench: cat_load failed" >&2
        exit 1
    }
    after=$(consumer_stats)
    stop_service
    rps=$(sed -n 's/.* in [0-9.]* s: \([0-9.]*\) req\/s.*/\1/p' \
        "$tmp/load.out" | tail -1)
    events=$(grep -c '^% cat_traveler:enter' "$tmp/sink.out" || true)
    echo "$before $after" | awk -v r="$r" -v rps="$rps" -v ev="$events" \
        -v s="$secs" '{
            cpu = $3 - $1; wk = $4 - $2
            printf "%-4s %10s %10.0f %12d %14.0f %12.2f\n", r, rps,
                ev / s, cpu, wk / s, (ev > 0 ? cpu * 1000 / ev : 0) }'
    r=$((r + 1))
done
echo "events: call and return lines in the file over the whole run (its" \
    "first second without load included)"
