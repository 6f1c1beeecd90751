#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the real `ctrace` command line against the real cat_traveler and its
# admin endpoint (ephemeral ports, a token file of its own), with cat_load
# driving load, and checks every command: output, exit status and the
# messages a person needs when something is wrong.
# Usage: cli_admin.sh CTRACE CAT_TRAVELER CAT_LOAD
set -u

ctrace=$1
traveler=$2
load=$3
# shellcheck source=support/check.sh
. "$(dirname "$0")/support/check.sh"
kill_at_exit trace_pid load_pid svc_pid

# run ARGS...: runs ctrace; sets $rc, output in $tmp/out and $tmp/err.
run() {
    "$ctrace" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

# expect NAME STATUS [GREP-PATTERN [FILE]]: the last run exited with STATUS
# and FILE (default out) has a line matching the fixed string.
expect() {
    name=$1
    want=$2
    file=$tmp/${4:-out}
    if [ "$rc" -ne "$want" ]; then
        bad "$name" "exit $rc, expected $want" "stdout: $(head -5 "$tmp/out")" \
            "stderr: $(head -5 "$tmp/err")"
    elif [ $# -ge 3 ] && ! grep -qF -- "$3" "$file"; then
        bad "$name" "no line with: $3" "stdout: $(head -20 "$tmp/out")" \
            "stderr: $(head -5 "$tmp/err")"
    else
        ok
    fi
}

# lines PATTERN FILE: how many lines of FILE hold the fixed string.
lines() {
    grep -cF -- "$1" "$2"
}


# stop_wait PID SIGNAL SECONDS: signals PID and waits for it; sets $rc
# (124 when it had to be killed).
stop_wait() {
    kill "-$2" "$1" 2>/dev/null
    n=0
    while kill -0 "$1" 2>/dev/null && [ "$n" -lt $(($3 * 10)) ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1" 2>/dev/null
        wait "$1"
        rc=124
    else
        wait "$1"
        rc=$?
    fi
}

# ---- Start the service, its admin endpoint and the load. ----

# shellcheck source=support/service.sh
. "$(dirname "$0")/support/service.sh"
start_service

"$load" --url "http://127.0.0.1:$port" --cats 8 --concurrency 4 --rate 300 \
    --duration 0 >"$tmp/load.out" 2>&1 &
load_pid=$!

# ---- Help and usage errors: no service needed. ----

run help
for cmd in pattern points trace sessions stop system procs window top info \
    state replace-state status sys fds version help; do
    if ! grep -q "^  $cmd " "$tmp/out"; then
        bad "help lists $cmd" "$(cat "$tmp/out")"
    fi
done
expect "help" 0 "--token-file FILE"
run help trace
for opt in --time --msgs --calls --rate --procs --ms --format --max-msg-size \
    --print-depth --output --force --url --token-file --json; do
    grep -qF -- "$opt" "$tmp/out" || bad "help trace lists $opt"
done
expect "help trace" 0
run help sys
expect "help sys" 0 "statistics on|off|get"
run help nosuch
expect "help of an unknown command" 2 "ctrace: no command 'nosuch'" err
run frobnicate
expect "unknown command" 2 "ctrace: unknown command 'frobnicate'" err
run trace 'cat_traveler:enter' --bogus 1
expect "unknown flag is named" 2 "ctrace trace: unknown option '--bogus'" err
run procs --sort size
expect "bad --sort value" 2 "--sort: expected memory" err
run trace 'cat_traveler:enter' --msgs
expect "flag without its value" 2 "ctrace trace: --msgs needs a value" err
run --url ftp://x procs
expect "bad --url" 2 "--url: expected http://HOST:PORT" err
# A session nothing would end is refused here, naming the flags; one
# limit of any kind is enough.
run --url http://127.0.0.1:1 trace 'cat_traveler:enter' --time 0 --msgs 0
expect "no limit at all" 2 "set --time, --msgs or --calls, or add --force" err
run --url http://127.0.0.1:1 trace 'cat_traveler:enter' --max-queue 2000000
expect "--max-queue range" 2 "--max-queue: expected a number from 1 to 1048576" err

# A bad pattern: the parser's caret, exit 2, and no connection is tried
# (the URL points nowhere, which would be exit 3).
run --url http://127.0.0.1:1 trace 'cat_traveler:enter(X) when Y'
expect "bad pattern" 2 "ctrace: pattern: column " err
if [ "$(sed -n '3p' "$tmp/err")" != "$(printf '%29s^' '')" ]; then
    bad "bad pattern caret" "$(cat "$tmp/err")"
else
    ok
fi

# ---- Connection and token errors: exit 3 with how to fix them. ----

run --url http://127.0.0.1:1 procs
expect "nothing listening" 3 \
    "ctrace: cannot connect to http://127.0.0.1:1: Connection refused; is the service running with its admin endpoint? set --url or CTRACE_URL" err
run --token-file "$tmp/no-such-token" trace 'cat_traveler:enter'
expect "missing token file" 3 \
    "ctrace: not authorized: cannot read token file $tmp/no-such-token (No such file or directory)" err
grep -qF -- "--token-file" "$tmp/err" || bad "missing token says --token-file"
echo 0123456789abcdef >"$tmp/wrong-token"
run --token-file "$tmp/wrong-token" procs
expect "wrong token" 3 \
    "ctrace: not authorized: the token in $tmp/wrong-token was refused; use the token file of the service (--token-file" err
CTRACE_TOKEN_FILE=$tmp/wrong-token run system
expect "wrong token from CTRACE_TOKEN_FILE" 3 "was refused" err

# ---- system, points, sessions. ----

run system
expect "system" 0 "program:"
grep -q '^processes: *[0-9]' "$tmp/out" || bad "system shows processes"
run --json system
expect "system --json" 0 '"uptime_ms":'

# ---- fds: the service's descriptors, its admin port listening. ----

run fds
expect "fds" 0 "LISTEN"
grep -q '^ *FD  TYPE  *WHAT  *LOCAL  *REMOTE  *STATE  *SEND-Q  *RECV-Q$' \
    "$tmp/out" || bad "fds header" "$(head -1 "$tmp/out")"
grep -q "  socket  tcp  .*127\.0\.0\.1:$admin_port  .*LISTEN" "$tmp/out" ||
    bad "fds shows the admin endpoint listening on $admin_port" "$(cat "$tmp/out")"
grep -q '^[0-9][0-9]* open: [0-9][0-9]* sockets, ' "$tmp/out" ||
    bad "fds ends with the count by type" "$(tail -1 "$tmp/out")"
run --json fds
expect "fds --json" 0 '"type":"socket"'
run fds extra
expect "fds with an argument" 2 "unexpected argument" err

run points 'cat_traveler:*'
expect "points GLOB" 0 "cat_traveler:enter/2"
grep -q '^POINT  *ARMED  *LOCATION$' "$tmp/out" || bad "points header" \
    "$(head -1 "$tmp/out")"
lines 'cat_traveler_http' "$tmp/out" | grep -qx 0 ||
    bad "points GLOB filters" "$(cat "$tmp/out")"
run points --json 'cat_traveler:*'
expect "points --json" 0 '"function":"enter"'
run points 'no_such_module:*'
expect "points matching nothing" 1 "no trace point matches" err

# ---- trace ----

# Under load, stops at its msgs limit with exactly N call events.
run trace 'cat_traveler:enter' --msgs 5 --time 20000
expect "trace msgs limit" 0
n=$(lines '% cat_traveler:enter(' "$tmp/out")
last=$(tail -n 1 "$tmp/out")
if [ "$n" -ne 5 ] ||
    [ "$last" != "% stopped: msgs limit 5 reached (5 events, 0 dropped)" ]; then
    bad "trace msgs limit: 5 calls and the stopped line" "$n calls" \
        "last line: $last"
else
    ok
fi
cp "$tmp/out" "$tmp/trace-redbug.out"

# --msgs counts every printed event, as redbug's msgs: calls and returns
# together. --calls N keeps counting calls only, their returns included.
run trace 'cat_traveler:enter -> return' --msgs 6 --time 20000
expect "trace msgs counts returns" 0 "% stopped: msgs limit 6 reached (6 events, 0 dropped)"
n=$(($(lines '% cat_traveler:enter(' "$tmp/out") + $(lines '% cat_traveler:enter/2 -> ' "$tmp/out")))
[ "$n" -eq 6 ] || bad "trace --msgs 6: 6 calls and returns" "$(cat "$tmp/out")"
run trace 'cat_traveler:enter -> return' --calls 3 --time 20000
expect "trace --calls" 0 "% stopped: calls limit 3 reached (6 events, 0 dropped)"
n=$(lines '% cat_traveler:enter(' "$tmp/out")
[ "$n" -eq 3 ] || bad "trace --calls 3: 3 calls" "$(cat "$tmp/out")"
# A time limit alone is a limit: no --force needed.
run trace 'cat_traveler:enter' --msgs 0 --time 300
expect "trace --msgs 0 with a time limit" 0 "% stopped: time limit 300 ms reached"
# The service's refusal names the command line's flag.
run trace '_:enter'
expect "too broad names --force" 1 "filter processes, or add --force" err

# Options after the command and before it; recon format; JSON lines.
run --json trace --msgs 3 'cat_traveler:enter -> return' --ms
expect "trace --json" 0 '"kind":"stopped","reason":"msgs limit 3 reached"'
# Every line but the last is an event; the last one counts them.
n=$(lines '{"seq":' "$tmp/out")
if [ "$n" -lt 3 ] || [ "$(wc -l <"$tmp/out")" -ne $((n + 1)) ] ||
    ! tail -n 1 "$tmp/out" | grep -q "^{\"kind\":\"stopped\",.*\"events\":$n,"
then
    bad "trace --json: the events and the stopped line" \
        "$(cat "$tmp/out")"
else
    ok
fi
run trace 'cat_traveler:enter' --msgs 2 --format recon --output "$tmp/file.out"
expect "trace --output" 0 "% stopped: msgs limit 2 reached"
if [ "$(lines 'cat_traveler:enter(' "$tmp/file.out")" -ne 2 ] ||
    ! tail -n 1 "$tmp/file.out" | grep -q '^% stopped:'; then
    bad "trace --output writes the events" "$(cat "$tmp/file.out")"
else
    ok
fi

# A time limit: a guard no call matches.
run trace 'cat_traveler:enter("NoSuchCat", _)' --time 500
expect "trace time limit" 0 \
    "% stopped: time limit 500 ms reached (0 events, 0 dropped)"

# A rate limit that trips under load.
run trace 'cat_traveler:enter' --rate 1/1000 --msgs 1000
expect "trace rate trip" 0 "% stopped: rate limit 1/1000 ms tripped"

# A spec that selects no trace point: the service's error, exit 1.
run trace 'no_such_module:f'
expect "trace no match" 1 "ctrace: " err

# Ctrl-C: the remote session stops, the stopped line is printed, and
# nothing is left running.
"$ctrace" trace 'cat_traveler:enter("NoSuchCat", _)' --time 60000 \
    >"$tmp/int.out" 2>"$tmp/int.err" &
trace_pid=$!
running=no
for _ in $(seq 1 100); do
    if "$ctrace" --json sessions 2>/dev/null | grep -q '"state":"running"'; then
        running=yes
        break
    fi
    sleep 0.1
done
stop_wait "$trace_pid" INT 10
trace_pid=
last=$(tail -n 1 "$tmp/int.out")
if [ "$running" != yes ] || [ "$rc" -ne 0 ]; then
    bad "SIGINT stops the trace" "session seen running: $running, exit $rc" \
        "stderr: $(cat "$tmp/int.err")"
elif ! printf '%s\n' "$last" | grep -q '^% stopped: .* (0 events, 0 dropped)$'
then
    bad "SIGINT prints the stopped line" "last line: $last"
else
    ok
fi
run --json sessions
if [ "$rc" -ne 0 ] || grep -q '"state":"running"' "$tmp/out" ||
    ! grep -q '"state":"stopped"' "$tmp/out"; then
    bad "nothing left running after SIGINT" "$(cat "$tmp/out")"
else
    ok
fi
run sessions
expect "sessions" 0 "cat_traveler:enter"

# ---- Processes. ----

run procs
expect "procs" 0 "cat_traveler_srv"
if ! head -1 "$tmp/out" |
    grep -q '^PID  *NAME  *CURRENT  *STATUS  *MEMORY  *REDUCTIONS  *MQ$'; then
    bad "procs header" "$(head -1 "$tmp/out")"
fi
# -n must cut the list. Only two processes are sure to exist by now (the
# server and one HTTP worker: in epoll mode the load's few connections may
# all land on one worker), so the cut is checked at one.
run procs --sort memory -n 1
expect "procs --sort memory -n 1" 0 "PID"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || bad "procs -n 1 shows 1" "$(cat "$tmp/out")"
run procs --json --sort reductions -n 2
expect "procs --json" 0 '"reductions":'
[ "$(wc -l <"$tmp/out")" -eq 2 ] || bad "procs --json -n 2" "$(cat "$tmp/out")"
run window reductions -n 3 --ms 200
expect "window" 0 "reductions/200ms"
[ "$(wc -l <"$tmp/out")" -le 4 ] || bad "window -n 3" "$(cat "$tmp/out")"
run window size
expect "window bad ATTR" 2 "ATTR: expected memory" err

run info cat_traveler_srv
expect "info by name" 0 "pid:"
grep -q '^kind: *server$' "$tmp/out" || bad "info shows kind" "$(cat "$tmp/out")"
srv_pid=$(sed -n 's/^pid: *\(<0\.[0-9]*\.0>\)$/\1/p' "$tmp/out")
srv_n=$(printf '%s' "$srv_pid" | sed 's/<0\.\([0-9]*\)\.0>/\1/')
run info "$srv_pid"
expect "info by pid" 0 "$srv_pid"
run info "$srv_n"
expect "info by number" 0 "$srv_pid"
run info '<0.99999.0>'
expect "info of an unknown process" 1 "ctrace: " err
grep -qF '<0.99999.0>' "$tmp/err" || bad "unknown process is named" \
    "$(cat "$tmp/err")"
run info no_such_name
expect "info of an unknown name" 1 "no_such_name" err

# ---- Servers: state, replace-state, status, sys. ----

run state cat_traveler_srv
expect "state" 0 '"visits":'
cp "$tmp/out" "$tmp/state.json"
run replace-state cat_traveler_srv "@$tmp/state.json"
expect "replace-state accepted" 0 "ok"
run replace-state cat_traveler_srv '{"cats": 1}'
expect "replace-state rejected" 1 "ctrace: " err
run replace-state cat_traveler_srv '{"cats": '
expect "replace-state of bad JSON" 2 "is not JSON" err
run state '<0.99999.0>'
expect "state of an unknown process" 1 "ctrace: " err
# A process that is not a server: a travelling cat of cat_load is not in
# this service; the HTTP front's threads are plain processes.
plain=$("$ctrace" procs | awk 'NR > 1 && $2 != "cat_traveler_srv" {print $1; exit}')
run state "$plain"
expect "state of a process that is not a server" 1 "ctrace: " err

run status cat_traveler_srv
expect "status" 0 "{"

run sys cat_traveler_srv statistics on
expect "sys statistics on" 0 "ok"
sleep 0.3
run sys cat_traveler_srv statistics get
expect "sys statistics get" 0 "messages_in:"
run sys cat_traveler_srv statistics off
expect "sys statistics off" 0 "ok"
run sys cat_traveler_srv log on 5
expect "sys log on 5" 0 "ok"
sleep 0.3
run sys cat_traveler_srv log get
expect "sys log get" 0 "*DBG*"
[ "$(wc -l <"$tmp/out")" -le 5 ] || bad "sys log keeps 5" "$(cat "$tmp/out")"
run sys cat_traveler_srv log print
expect "sys log print" 0 "*DBG*"
run --json sys cat_traveler_srv log get
expect "sys log get --json" 0 '"log":['
run sys cat_traveler_srv log off
expect "sys log off" 0 "ok"
run sys cat_traveler_srv trace on
expect "sys trace on" 0 "ok"
sleep 0.2
run sys cat_traveler_srv trace off
expect "sys trace off" 0 "ok"
wait_for "$tmp/svc.err" "*DBG*" 5 || bad "sys trace prints on the service"
run sys cat_traveler_srv suspend
expect "sys suspend" 0 "ok"
run status cat_traveler_srv
expect "status while suspended" 0 "suspended"
run sys cat_traveler_srv resume
expect "sys resume" 0 "ok"
run sys cat_traveler_srv log sideways
expect "sys bad action" 2 "sys log: expected on [N], off, get or print" err
run sys '<0.99999.0>' suspend
expect "sys of an unknown process" 1 "ctrace: " err

# ---- top ----

run top --iterations 2 --interval 100 -n 4
expect "top --iterations 2" 0 "PID"
if [ "$(lines 'PID' "$tmp/out")" -ne 2 ] ||
    [ "$(lines ' (pid ' "$tmp/out")" -ne 2 ]; then
    bad "top prints two tables" "$(cat "$tmp/out")"
else
    ok
fi
# Reductions rank over the refresh interval by default, as observer_cli's
# doubled keys do; --totals ranks by totals. Keys switch between rounds:
# rr and mm over the interval, r, m and mq by totals.
run top --iterations 1 --interval 200 -n 4
expect "top ranks reductions over the interval" 0 "(top 4 by reductions over the last 200 ms)"
expect "top window column" 0 "REDUCTIONS/INTERVAL"
run top --totals --iterations 1 --interval 100 -n 4
expect "top --totals" 0 "(top 4 by reductions, totals, every 100 ms)"
run top --sort memory --iterations 1 --interval 100 -n 4
expect "top by memory: totals by default" 0 "(top 4 by memory, totals, every 100 ms)"
printf 'mm' | "$ctrace" top --iterations 2 --interval 100 -n 4 >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "top key mm: memory over the interval" 0 "(top 4 by memory over the last 100 ms)"
printf 'mq' | "$ctrace" top --iterations 2 --interval 100 -n 4 >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "top key mq: queue totals" 0 "(top 4 by message_queue_len, totals, every 100 ms)"
run top --interval 120000
expect "top window longer than a minute" 2 "add --totals" err
"$ctrace" top --interval 100 >"$tmp/top.out" 2>&1 &
trace_pid=$!
wait_for "$tmp/top.out" "PID" 10
stop_wait "$trace_pid" INT 10
trace_pid=
expect "top ends on Ctrl-C with 0" 0 "PID" top.out

# ---- The service is still well, and stops cleanly. ----

run system
expect "service still serving" 0 "program:"
stop_wait "$load_pid" TERM 20
load_pid=
stop_wait "$svc_pid" TERM 30
svc_pid=
if [ "$rc" -ne 0 ]; then
    bad "cat_traveler exits 0" "exit $rc" "$(tail -20 "$tmp/svc.err")"
else
    ok
fi

summary cli_admin
