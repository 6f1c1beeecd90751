#!/bin/sh
# SPDX-License-Identifier: MIT
# Requests per second of cat_traveler on this machine, not run by ctest.
# For each --threads value it starts the service on a free loopback port and
# measures, one after the other: wrk on GET /health, wrk on GET /cats, wrk
# on a POST /enter + /leave mix (Lua script below), and cat_load at full
# speed. wrk is the Debian package; when it is missing the script asks
# .ci/install-deps for it and, failing that, measures with cat_load only.
# All traffic goes to 127.0.0.1.
# Usage: tests/bench/http_bench.sh [BIN_DIR] [SECONDS]
#   BIN_DIR defaults to build/bin, SECONDS (per measurement) to 10.
# Environment: THREADS_LIST (default "1 2", the --threads values),
#   CONNECTIONS (default 64), WRK_THREADS (default 2).
set -eu

bin="${1:-build/bin}"
secs="${2:-10}"
threads_list="${THREADS_LIST:-1 2}"
connections="${CONNECTIONS:-64}"
wrk_threads="${WRK_THREADS:-2}"
root=$(cd "$(dirname "$0")/../.." && pwd)

for prog in cat_traveler cat_load; do
    [ -x "$bin/$prog" ] || {
        echo "http_bench.sh: no $bin/$prog; build first" >&2
        exit 2
    }
done
if ! command -v wrk >/dev/null 2>&1; then
    "$root/.ci/install-deps" wrk >&2 || true
fi
have_wrk=""
command -v wrk >/dev/null 2>&1 && have_wrk=1
[ -n "$have_wrk" ] || echo "http_bench.sh: wrk not available; cat_load only" >&2

tmp=$(mktemp -d)
srv=""
cleanup() {
    if [ -n "$srv" ]; then
        kill -TERM "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Each wrk thread sends its own cats in and out: enter N, leave N, N+1, ...
cat >"$tmp/travel.lua" <<'LUA'
local towns = {"Barcelona", "Minsk", "Paris", "Lisbon", "Vilnius", "Prague"}
local next_id = 1
function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
end
local counter = 0
function request()
    counter = counter + 1
    local n = math.floor((counter - 1) / 2)
    local path = (counter % 2 == 1) and "/enter" or "/leave"
    local body = string.format('{"cat":"bench-%d-%d","town":"%s"}',
                               id, n, towns[n % #towns + 1])
    return wrk.format("POST", path,
                      {["Content-Type"] = "application/json"}, body)
end
LUA

# Prints "req/s non-2xx" of one wrk run.
run_wrk() {
    wrk -t "$wrk_threads" -c "$connections" -d "${secs}s" "$@" \
        >"$tmp/wrk.out" 2>&1 || true
    rps=$(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk.out")
    bad=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$tmp/wrk.out")
    echo "${rps:-?} ${bad:-0}"
}

printf '%-8s %-28s %12s %10s\n' threads measurement "requests/s" "non-2xx"
for threads in $threads_list; do
    : >"$tmp/srv.log"
    "$bin/cat_traveler" --port 0 --no-admin --threads "$threads" \
        --max-connections 1024 >"$tmp/srv.log" 2>&1 &
    srv=$!
    url=""
    i=0
    while [ -z "$url" ] && [ $i -lt 100 ]; do
        url=$(sed -n 's/^cat_traveler listening on //p' "$tmp/srv.log" ||
            true)
        [ -n "$url" ] || sleep 0.1
        i=$((i + 1))
    done
    [ -n "$url" ] || {
        cat "$tmp/srv.log" >&2
        exit 1
    }
    if [ -n "$have_wrk" ]; then
        # shellcheck disable=SC2046 # two words, split on purpose
        set -- $(run_wrk "$url/health")
        printf '%-8s %-28s %12s %10s\n' "$threads" "wrk GET /health" "$1" "$2"
        # shellcheck disable=SC2046 # two words, split on purpose
        set -- $(run_wrk "$url/cats")
        printf '%-8s %-28s %12s %10s\n' "$threads" "wrk GET /cats" "$1" "$2"
        # shellcheck disable=SC2046 # two words, split on purpose
        set -- $(run_wrk -s "$tmp/travel.lua" "$url")
        printf '%-8s %-28s %12s %10s\n' "$threads" "wrk POST /enter+/leave" \
            "$1" "$2"
    fi
    "$bin/cat_load" --url "$url" --rate 0 --cats 64 --concurrency 16 \
        --duration "$secs" >"$tmp/load.out" 2>&1 || true
    rps=$(sed -n 's/^cat_load: [0-9]* requests in [0-9.]* s: \([0-9.]*\) req\/s.*/\1/p' \
        "$tmp/load.out")
    bad=$(sed -n 's/.* \([0-9]*\) unexpected answers.*/\1/p' "$tmp/load.out")
    printf '%-8s %-28s %12s %10s\n' "$threads" "cat_load (64 cats, 16 conns)" \
        "${rps:-?}" "${bad:-?}"
    kill -TERM "$srv"
    wait "$srv" || echo "http_bench.sh: cat_traveler exited with $?" >&2
    srv=""
done
