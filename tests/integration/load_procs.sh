#!/bin/sh
# SPDX-License-Identifier: MIT
# One travelling cat is one process: cat_load with its own admin endpoint,
# looked at with `ctrace procs` and `ctrace window`, lists each of its cats
# once (as cat_<Name>, initial call cat_load:cat/1) and nothing beside
# them for the threads they run on.
# Usage: load_procs.sh CTRACE CAT_TRAVELER CAT_LOAD
set -u

ctrace=$1
traveler=$2
load=$3
# shellcheck source=support/check.sh
. "$(dirname "$0")/support/check.sh"
kill_at_exit load_pid svc_pid

# shellcheck source=support/service.sh
. "$(dirname "$0")/support/service.sh"
start_service

cats=6
"$load" --url "http://127.0.0.1:$port" --cats "$cats" --concurrency 3 \
    --rate 100 --duration 0 --admin-port 0 --token-file "$tmp/load.token" \
    >"$tmp/load.out" 2>&1 &
load_pid=$!
if ! wait_for "$tmp/load.out" " 1 s:" 20; then
    echo "cat_load did not start:"
    cat "$tmp/load.out"
    exit 1
fi
load_admin=$(sed -n \
    's|.*admin endpoint on http://127.0.0.1:\([0-9][0-9]*\).*|\1|p' \
    "$tmp/load.out" | head -1)
CTRACE_URL=http://127.0.0.1:$load_admin
CTRACE_TOKEN_FILE=$tmp/load.token
export CTRACE_URL CTRACE_TOKEN_FILE

# check VIEW FILE: FILE (one JSON object a line) has one row per cat, each
# a different cat_<Name> with the cat's initial call, and no other row.
check() {
    rows=$(grep -c . "$2")
    names=$(sed -n 's/.*"name":"\(cat_[^"]*\)".*/\1/p' "$2" | sort -u | wc -l)
    calls=$(grep -c '"initial_call":"cat_load:cat/1"' "$2")
    if [ "$rows" -eq "$cats" ] && [ "$names" -eq "$cats" ] &&
        [ "$calls" -eq "$cats" ]; then
        pass=$((pass + 1))
    else
        bad "$1 shows each of $cats cats once" \
            "$rows rows, $names cat names, $calls cat_load:cat/1" \
            "$(cat "$2")"
    fi
}

for i in 1 2 3; do
    "$ctrace" procs --json >"$tmp/procs" 2>"$tmp/err" ||
        bad "procs answers" "$(cat "$tmp/err")"
    check "procs (round $i)" "$tmp/procs"
    "$ctrace" window reductions --ms 300 -n 50 --json >"$tmp/window" \
        2>"$tmp/err" || bad "window answers" "$(cat "$tmp/err")"
    check "window (round $i)" "$tmp/window"
done

summary load_procs
