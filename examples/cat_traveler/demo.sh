#!/bin/sh
# SPDX-License-Identifier: MIT
# The cat_traveler demo (make demo): starts the service and its load agent
# at a gentle rate, says what to try next, and stops both cleanly on Ctrl-C.
# Whatever ends it (Ctrl-C, kill, a closed terminal or pipe, even SIGKILL)
# ends both programs.
# Usage: examples/cat_traveler/demo.sh [BIN_DIR]   (default build/bin)
# Settings from the environment:
#   PORT=8080       the service's port (0 picks a free one)
#   ADMIN_PORT=8081 its admin endpoint's port, for `ctrace` (0: a free one)
#   RATE=10         requests per second of cat_load (200 for drift)
#   CATS=4          travelling cats
#   SCENARIO=NAME   a workshop scenario: hot-cat, slow-town, backlog, drift
set -eu

bin="${1:-build/bin}"
port="${PORT:-8080}"
admin_port="${ADMIN_PORT:-8081}"
cats="${CATS:-4}"
scenario="${SCENARIO:-}"
# drift needs requests that overlap: a gentle rate hardly ever has them.
if [ "$scenario" = drift ]; then
    rate="${RATE:-200}"
else
    rate="${RATE:-10}"
fi

for prog in cat_traveler cat_load; do
    if [ ! -x "$bin/$prog" ]; then
        echo "demo.sh: $bin/$prog is missing; build first (make build)" >&2
        exit 2
    fi
done
command -v setsid >/dev/null 2>&1 || {
    echo "demo.sh: setsid (util-linux) is needed" >&2
    exit 2
}

# In a terminal, the demo runs as a job of its own: a second copy of this
# script, in a process group that the terminal makes its foreground one.
# Ctrl-C then reaches that group only, not make (or whatever started this
# copy), so a clean stop ends `make demo` with 0 and no "make: ***
# Interrupt". This copy only waits and passes the status on.
if [ -z "${CAT_DEMO_OUTER:-}" ] && [ -t 0 ]; then
    set -m
    rc=0
    CAT_DEMO_OUTER=$$ /bin/sh "$0" "$@" || rc=$?
    exit "$rc"
fi
outer="${CAT_DEMO_OUTER:-}"

tmp=$(mktemp -d)
srv=""
load=""
follow=""
watch=""
stopping=""
# The programs run in sessions of their own, so that Ctrl-C reaches this
# script only and it can stop them in order: the load first (it then prints
# its summary and checks the service), the service last. Should this script
# die without that (SIGKILL), --exit-with-parent ends them.
cleanup() {
    if [ -n "$load" ] && kill -0 "$load" 2>/dev/null; then
        kill -INT "$load" 2>/dev/null || true
    fi
    if [ -n "$load" ]; then
        wait "$load" 2>/dev/null || true
    fi
    if [ -n "$srv" ] && kill -0 "$srv" 2>/dev/null; then
        kill -TERM "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
    fi
    for p in $follow $watch; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
# A closed terminal or pipe makes the next line written fail: the script
# then exits (set -e), and cleanup runs.
trap 'stopping=1' INT TERM HUP PIPE
trap cleanup EXIT

# The first copy gone (killed while it waited for this one) stops the demo.
if [ -n "$outer" ]; then
    inner=$$
    (
        while kill -0 "$outer" 2>/dev/null && kill -0 "$inner" 2>/dev/null; do
            sleep 1
        done
        kill -TERM "$inner" 2>/dev/null || true
    ) &
    watch=$!
fi

set -- --port "$port" --admin-port "$admin_port" --exit-with-parent
[ -n "$scenario" ] && set -- "$@" --scenario "$scenario"
: >"$tmp/cat_traveler.log"
setsid "$bin/cat_traveler" "$@" >"$tmp/cat_traveler.log" 2>&1 &
srv=$!

url=""
tries=0
while [ -z "$url" ] && [ "$tries" -lt 100 ] && [ -z "$stopping" ]; do
    if ! kill -0 "$srv" 2>/dev/null; then
        break
    fi
    url=$(sed -n 's/^cat_traveler listening on //p' \
        "$tmp/cat_traveler.log" || true)
    [ -n "$url" ] || sleep 0.1
    tries=$((tries + 1))
done
if [ -z "$url" ]; then
    cat "$tmp/cat_traveler.log" >&2
    echo "demo.sh: cat_traveler did not start; if a port is taken, try" \
        "PORT=8090 ADMIN_PORT=8091 make demo" >&2
    exit 1
fi
cat "$tmp/cat_traveler.log"
admin=$(sed -n 's/^cat_traveler: admin endpoint on \([^ ]*\) .*/\1/p' \
    "$tmp/cat_traveler.log" || true)
observer=$(sed -n 's/^cat_traveler: observer on //p' \
    "$tmp/cat_traveler.log" || true)

cat <<TEXT

The cat_traveler demo is running: the service on $url (pid $srv),
and cat_load moving $cats cats at about $rate requests per second.

In another terminal, try:
  curl -s $url/cats
  curl -s -d '{"cat":"Barsik","town":"Minsk"}' $url/enter
TEXT
if [ -n "$admin" ]; then
    ct="$bin/ctrace"
    [ "$admin" = "http://127.0.0.1:8081" ] || ct="CTRACE_URL=$admin $bin/ctrace"
    cat <<TEXT

Attach to it with ctrace (admin endpoint $admin; docs/tutorial.md):
  $ct trace 'cat_traveler:enter/2 -> return' --msgs 5
  $ct trace 'cat_traveler:enter("Tihon", _) -> return, stack'
  $ct procs --sort reductions
  $ct window reductions --ms 1000
  $ct info cat_traveler_srv
  $ct state cat_traveler_srv
  $ct top

Or open the observer, a live web page of the service (docs/observer.md),
in a browser on this machine (through an SSH tunnel from elsewhere):
  $observer
TEXT
else
    echo
    echo "(the admin endpoint did not start: see the lines above)"
fi
cat <<TEXT

Workshop scenarios: SCENARIO=NAME make demo, with NAME one of hot-cat,
slow-town, backlog, drift (docs/demo.md).

Press Ctrl-C to stop both.

TEXT

# From now on the service's own lines (sys trace output, say) show here
# as they come.
shown=$(wc -l <"$tmp/cat_traveler.log")
tail --pid=$$ -n "+$((shown + 1))" -f "$tmp/cat_traveler.log" &
follow=$!

set -- --url "$url" --rate "$rate" --cats "$cats" --duration 0 \
    --exit-with-parent
[ -n "$scenario" ] && set -- "$@" --scenario "$scenario"
setsid "$bin/cat_load" "$@" &
load=$!

# wait returns early when a trapped signal arrives; then cat_load still runs.
load_status=""
while [ -z "$load_status" ]; do
    rc=0
    wait "$load" 2>/dev/null || rc=$?
    if ! kill -0 "$load" 2>/dev/null; then
        load_status=$rc
    elif [ -n "$stopping" ]; then
        echo
        echo "demo.sh: stopping cat_load, then cat_traveler"
        kill -INT "$load" 2>/dev/null || true
        # Wait at least once more: the status of the interrupted wait
        # above is the signal's, not cat_load's.
        while :; do
            rc=0
            wait "$load" 2>/dev/null || rc=$?
            kill -0 "$load" 2>/dev/null || break
        done
        load_status=$rc
    fi
done
load=""
srv_status=0
kill -TERM "$srv" 2>/dev/null || true
wait "$srv" 2>/dev/null || srv_status=$?
srv=""
sleep 0.2 # let tail show the service's last lines
kill "$follow" 2>/dev/null || true
wait "$follow" 2>/dev/null || true
follow=""
echo "demo.sh: cat_load exited with $load_status, cat_traveler with $srv_status"
[ "$load_status" -eq 0 ] && [ "$srv_status" -eq 0 ]
