#!/bin/sh
# SPDX-License-Identifier: MIT
# What tracing costs the demo service, not run by ctest: cat_load at full
# speed against cat_traveler with no session, then while a session on
# `cat_traveler:enter/2 -> return` records every call into a file, in two
# ways: (a) the service's own file sink (cat_traveler --trace SPEC
# --trace-file FILE, a separate service run), (b) the `ctrace trace ...
# --output FILE` client attached over the admin endpoint, which also pays
# for rendering JSON, the event stream and the client on the same machine
# (with --max-overhead 100: the default budget would shed what it costs).
# Each traced run sits between two untraced ones, and its ratio is taken
# against their mean. A round is one such triple for (a) and one for (b);
# the runs of a loaded 2-vCPU machine differ by up to 15% between service
# starts, so several rounds are made and their median ratio is the result.
# Prints requests per second of every run, each round's ratios, the
# medians, and how many calls the last round's files hold.
# Usage: tests/bench/traced_bench.sh [BIN_DIR] [SECONDS] [ROUNDS]
#   BIN_DIR defaults to build/bin, SECONDS (per run) to 10, ROUNDS to 5.
# Environment: THREADS (cat_traveler --threads, default 2), CONCURRENCY
#   (cat_load connections, default 16), CATS (default 64).
set -eu

bin="${1:-build/bin}"
secs="${2:-10}"
rounds="${3:-5}"
threads="${THREADS:-2}"
concurrency="${CONCURRENCY:-16}"
cats="${CATS:-64}"

bench=traced_bench.sh
case "$rounds" in
'' | *[!0-9]* | 0) echo "$bench: ROUNDS must be a positive integer" >&2; exit 2 ;;
esac
# shellcheck source=support.sh
. "$(dirname "$0")/support.sh"

spec='cat_traveler:enter/2 -> return'

# median: the median of the numbers on standard input, one per line.
median() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio TRACED PLAIN1 PLAIN2: the traced run over the mean of the others.
ratio() {
    awk -v t="$1" -v p1="$2" -v p2="$3" 'BEGIN { printf "%.3f\n", t / ((p1 + p2) / 2) }'
}

printf '%-6s %-44s %12s\n' round "cat_load --rate 0, $secs s, --threads $threads" \
    "requests/s"
: >"$tmp/a.ratios"
: >"$tmp/b.ratios"
r=1
while [ "$r" -le "$rounds" ]; do
    # (a) The service's own file sink.
    start_service
    a_plain1=$(load)
    stop_service
    rm -f "$tmp/sink.out" # the file sink appends
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
        --max-overhead 100 --output "$tmp/trace.out" >"$tmp/tracer.log" 2>&1 &
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

    printf '%-6s %-44s %12s\n' "$r" "(a) no session" "$a_plain1"
    printf '%-6s %-44s %12s\n' "$r" "(a) enter/2 -> return, service's file sink" \
        "$a_traced"
    printf '%-6s %-44s %12s\n' "$r" "(a) no session again" "$a_plain2"
    printf '%-6s %-44s %12s\n' "$r" "(b) no session" "$b_plain1"
    printf '%-6s %-44s %12s\n' "$r" "(b) enter/2 -> return, ctrace trace --output" \
        "$b_traced"
    printf '%-6s %-44s %12s\n' "$r" "(b) no session again" "$b_plain2"
    ra=$(ratio "$a_traced" "$a_plain1" "$a_plain2")
    rb=$(ratio "$b_traced" "$b_plain1" "$b_plain2")
    echo "$ra" >>"$tmp/a.ratios"
    echo "$rb" >>"$tmp/b.ratios"
    printf '%-6s (a) traced / untraced: %s, (b): %s\n' "$r" "$ra" "$rb"
    r=$((r + 1))
done
echo "(a) traced / untraced, median of $rounds: $(median <"$tmp/a.ratios")" \
    "(all: $(sort -g "$tmp/a.ratios" | tr '\n' ' ' | sed 's/ $//'))"
echo "(b) traced / untraced, median of $rounds: $(median <"$tmp/b.ratios")" \
    "(all: $(sort -g "$tmp/b.ratios" | tr '\n' ' ' | sed 's/ $//'))"
echo "(a) last file: $a_calls calls; $a_line"
echo "(b) last file: $b_calls calls; $b_line"
