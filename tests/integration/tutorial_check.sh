#!/bin/sh
# SPDX-License-Identifier: MIT
# Keeps docs/tutorial.md honest: starts the real cat_traveler (admin
# endpoint on ephemeral ports, a token file of its own) with cat_load
# driving it, runs every `$ build/bin/ctrace ...` line of the page's code
# blocks in order, and checks that each exits with the status the page
# implies (and that a trace ends with its stopped line).
#
# An HTML comment just before a code block (blank lines may separate them)
# says how to run the ctrace commands of that block:
#   <!-- check: exit=N -->       they exit with N (default 0)
#   <!-- check: skip (WHY) -->   not run: a workshop scenario, a second
#                                program, an id that belongs to the run shown
#   <!-- check: sigint=S -->     they run until Ctrl-C: SIGINT after S
#                                seconds; they must then exit 0
#   <!-- check: pid=request -->  a <0.N.0> in them is a request process of
#                                the run shown; a fresh one is used instead
# Commands run in a scratch directory where build/bin/ctrace is the binary
# under test, with CTRACE_URL and CTRACE_TOKEN_FILE set, so the lines run
# exactly as the page prints them.
# Usage: tutorial_check.sh CTRACE CAT_TRAVELER CAT_LOAD TUTORIAL_MD
set -u

ctrace=$1
traveler=$2
load=$3
doc=$4
# Fewer commands than this means the page or its markers were misread.
min_commands=40
per_command_s=120

# shellcheck source=support/check.sh
. "$(dirname "$0")/support/check.sh"
skipped=0
kill_at_exit load_pid svc_pid

if [ ! -r "$doc" ]; then
    echo "cannot read $doc"
    exit 1
fi

# ---- The commands of the page: one "DIRECTIVES<TAB>COMMAND" per line. ----

awk '
    /^<!-- check:/ {
        d = $0
        sub(/^<!-- check:[ \t]*/, "", d)
        sub(/[ \t]*-->.*$/, "", d)
        pending = d
        next
    }
    /^```/ {
        if (!inblock) { inblock = 1; cur = pending; pending = "" }
        else { inblock = 0; cur = "" }
        next
    }
    inblock && /^\$ build\/bin\/ctrace / {
        printf "%s\t%s\n", (cur == "" ? "-" : cur), substr($0, 3)
        next
    }
    !inblock && !/^[ \t]*$/ { pending = "" }
' "$doc" >"$tmp/commands"

total=$(wc -l <"$tmp/commands")
if [ "$total" -lt "$min_commands" ]; then
    echo "only $total ctrace commands found in $doc; expected $min_commands or more"
    exit 1
fi

# ---- The service, its admin endpoint and the load. ----

mkdir -p "$tmp/work/build/bin"
ln -s "$ctrace" "$tmp/work/build/bin/ctrace"
# shellcheck source=support/service.sh
. "$(dirname "$0")/support/service.sh"
start_service

# The demo's four cats, faster than make demo so that traces with a msgs
# limit end quickly.
"$load" --url "http://127.0.0.1:$port" --cats 4 --concurrency 2 --rate 50 \
    --duration 0 >"$tmp/load.out" 2>&1 &
load_pid=$!
sleep 1

# ---- Run them. ----

# A request process that has just run, as "<0.N.0>": the first spawned
# among a few process events (the first ones may be exits).
fresh_request_pid() {
    "$ctrace" --json trace procs --msgs 6 --time 20000 2>/dev/null |
        sed -n 's/.*"peer":"\(<0\.[0-9]*\.0>\)".*/\1/p' | head -1
}

i=0
while IFS="$(printf '\t')" read -r directives cmd; do
    i=$((i + 1))
    want=0
    sigint=
    case "$directives" in
    skip*)
        skipped=$((skipped + 1))
        continue
        ;;
    esac
    for d in $directives; do
        case "$d" in
        exit=*) want=${d#exit=} ;;
        sigint=*) sigint=${d#sigint=} ;;
        pid=request)
            printf '%s' "$cmd" | grep -q '<0\.[0-9]*\.0>' || continue
            pid=$(fresh_request_pid)
            if [ -z "$pid" ]; then
                fail=$((fail + 1))
                printf 'FAIL %s\n  no request process seen to stand for the pid\n' \
                    "$cmd"
                continue 2
            fi
            cmd=$(printf '%s' "$cmd" | sed "s/<0\.[0-9]*\.0>/$pid/g")
            ;;
        esac
    done

    if [ -n "$sigint" ]; then
        (cd "$tmp/work" && exec sh -c "exec $cmd") \
            >"$tmp/out" 2>"$tmp/err" </dev/null &
        run_pid=$!
        sleep "$sigint"
        kill -INT "$run_pid" 2>/dev/null
        n=0
        while kill -0 "$run_pid" 2>/dev/null && [ "$n" -lt 100 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        if kill -0 "$run_pid" 2>/dev/null; then
            kill -KILL "$run_pid" 2>/dev/null
            wait "$run_pid"
            rc=124
        else
            wait "$run_pid"
            rc=$?
        fi
    else
        (cd "$tmp/work" && timeout "$per_command_s" sh -c "$cmd") \
            >"$tmp/out" 2>"$tmp/err" </dev/null
        rc=$?
    fi

    problem=
    if [ "$rc" -ne "$want" ]; then
        problem="exit $rc, the page implies $want"
    elif [ "$want" -eq 0 ] && [ -z "$sigint" ]; then
        case "$cmd" in
        "build/bin/ctrace trace "*)
            if ! tail -n 1 "$tmp/out" |
                grep -q '^% stopped: \|^{"kind":"stopped"'; then
                problem="the last line is not the stopped line"
            fi
            ;;
        esac
    fi
    if [ -n "$problem" ]; then
        fail=$((fail + 1))
        printf 'FAIL %s\n  %s\n' "$cmd" "$problem"
        printf '  stdout: %s\n' "$(tail -n 5 "$tmp/out")"
        printf '  stderr: %s\n' "$(tail -n 5 "$tmp/err")"
    else
        pass=$((pass + 1))
    fi
done <"$tmp/commands"

# ---- The service is still well, and stops cleanly. ----

if ! "$ctrace" system >/dev/null 2>&1; then
    fail=$((fail + 1))
    echo "FAIL the service no longer answers after the tutorial's commands"
fi
kill -TERM "$load_pid" 2>/dev/null
wait "$load_pid" 2>/dev/null
load_pid=
kill -TERM "$svc_pid" 2>/dev/null
wait "$svc_pid"
rc=$?
svc_pid=
if [ "$rc" -ne 0 ]; then
    fail=$((fail + 1))
    echo "FAIL cat_traveler exited with $rc"
    tail -n 20 "$tmp/svc.err"
fi

printf 'tutorial_check: %d commands passed, %d failed, %d skipped (of %d)\n' \
    "$pass" "$fail" "$skipped" "$total"
[ "$fail" -eq 0 ]
