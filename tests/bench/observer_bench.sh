#!/bin/sh
# SPDX-License-Identifier: MIT
# What the observer page costs the demo service, not run by ctest:
# cat_load at full speed against cat_traveler, without a page, then with
# headless chromium holding the observer open on the Processes tab (the
# table of every process, refreshed every 2 s), then without again, all
# against the same service run; the run with the page is taken against the
# mean of the two around it. ROUNDS such triples, each on a fresh service;
# prints every run, each round's ratio and their median.
# Needs tests/browser's playwright-core (make test installs it) and
# /usr/bin/chromium. The browser then runs on the service's machine and
# takes its CPU, which a browser on an operator's laptop would not:
# MODE=requests replays instead, with curl, the requests the Processes tab
# makes (the process listing with the ended ones, every 2 s), which is
# what the service itself pays for the page.
# Usage: tests/bench/observer_bench.sh [BIN_DIR] [SECONDS] [ROUNDS]
#   BIN_DIR defaults to build/bin, SECONDS (per run) to 10, ROUNDS to 5.
# Environment: THREADS (cat_traveler --threads, default 2), CONCURRENCY
#   (cat_load connections, default 16), CATS (default 64), TAB (the
#   observer's tab, default procs), MODE (browser or requests, default
#   browser).
set -eu

bin="${1:-build/bin}"
secs="${2:-10}"
rounds="${3:-5}"
threads="${THREADS:-2}"
concurrency="${CONCURRENCY:-16}"
cats="${CATS:-64}"
tab="${TAB:-procs}"
mode="${MODE:-browser}"
case "$mode" in
browser | requests) ;;
*) echo "observer_bench.sh: MODE must be browser or requests" >&2; exit 2 ;;
esac

bench=observer_bench.sh
for n in "$secs" "$rounds"; do
    case "$n" in
    '' | *[!0-9]* | 0)
        echo "$bench: SECONDS and ROUNDS must be positive integers" >&2
        exit 2
        ;;
    esac
done
# shellcheck source=support.sh
. "$(dirname "$0")/support.sh"
page_js="$(dirname "$0")/../browser/open_page.mjs"

median() {
    sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf '%-6s %-40s %12s\n' round "cat_load --rate 0, $secs s, --threads $threads" \
    "requests/s"
: >"$tmp/ratios"
r=1
while [ "$r" -le "$rounds" ]; do
    start_service
    observer=$(sed -n 's/^cat_traveler: observer on //p' "$tmp/srv.log")
    plain1=$(load)
    if [ "$mode" = browser ]; then
        node "$page_js" "$observer" "$tab" $((secs + 4)) >"$tmp/page.log" 2>&1 &
        page=$!
        sleep 3 # chromium starts, the page loads and opens the tab
    else
        token=${observer#*#token=}
        (
            n=0
            end=$(($(date +%s) + secs + 1))
            while [ "$(date +%s)" -le "$end" ]; do
                curl -sf -o /dev/null -H "Authorization: Bearer $token" \
                    "$admin/api/v1/procs?limit=100000&dead=1" || exit 1
                n=$((n + 1))
                sleep 2
            done
            echo "requests: $n process listings, one every 2 s"
        ) >"$tmp/page.log" 2>&1 &
        page=$!
    fi
    with=$(load)
    if ! wait "$page"; then
        cat "$tmp/page.log" >&2
        echo "$bench: the page failed" >&2
        exit 1
    fi
    plain2=$(load)
    stop_service
    printf '%-6s %-40s %12s\n' "$r" "no page" "$plain1"
    printf '%-6s %-40s %12s\n' "$r" "observer ($mode) on the $tab tab" "$with"
    printf '%-6s %-40s %12s\n' "$r" "no page again" "$plain2"
    ratio=$(awk -v t="$with" -v p1="$plain1" -v p2="$plain2" \
        'BEGIN { printf "%.3f\n", t / ((p1 + p2) / 2) }')
    echo "$ratio" >>"$tmp/ratios"
    printf '%-6s with page / without: %s (%s)\n' "$r" "$ratio" \
        "$(tail -1 "$tmp/page.log")"
    r=$((r + 1))
done
echo "with page / without, median of $rounds: $(median <"$tmp/ratios")" \
    "(all: $(sort -g "$tmp/ratios" | tr '\n' ' ' | sed 's/ $//'))"
