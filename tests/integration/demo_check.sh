#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo script (examples/cat_traveler/demo.sh, what `make demo` runs):
# whatever ends it ends both programs, and a clean Ctrl-C in a terminal ends
# make with 0 and no "make: *** Interrupt". Runs the real script with the
# real programs on ephemeral ports; the terminal is a pseudo-terminal from
# script(1).
# Usage: demo_check.sh DEMO_SH BIN_DIR
set -u

demo=$1
bin=$2
# shellcheck source=support/check.sh
. "$(dirname "$0")/support/check.sh"
demo_pid=
progs=
all_progs=
kill_at_exit demo_pid all_progs

# Ephemeral ports, and a home of its own for the admin token file.
PORT=0
ADMIN_PORT=0
HOME=$tmp
export PORT ADMIN_PORT HOME

# programs_of PID: the cat_traveler and cat_load processes PID started.
programs_of() {
    for d in /proc/[0-9]*; do
        ppid=$(sed -n 's/^PPid:[[:space:]]*//p' "$d/status" 2>/dev/null)
        [ "$ppid" = "$1" ] || continue
        case $(cat "$d/comm" 2>/dev/null) in
        cat_traveler | cat_load) echo "${d#/proc/}" ;;
        esac
    done
}

# gone SECONDS PID...: waits until none of the PIDs is alive.
gone() {
    limit=$(($1 * 10))
    shift
    n=0
    while [ "$n" -lt "$limit" ]; do
        alive=
        for p in "$@"; do
            kill -0 "$p" 2>/dev/null && alive=1
        done
        [ -z "$alive" ] && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# start OUT: the demo in the background, output to OUT, until cat_load
# reports; sets demo_pid and progs (both programs' pids).
start() {
    "$demo" "$bin" >"$1" 2>&1 &
    demo_pid=$!
    progs=
    if ! wait_for "$1" "cat_load:      1 s:" 30; then
        bad "the demo starts" "$(cat "$1")"
        return 1
    fi
    progs=$(programs_of "$demo_pid")
    all_progs="$all_progs $progs"
    if [ "$(echo "$progs" | wc -w)" -ne 2 ]; then
        bad "the demo runs two programs" "found: $progs" "$(cat "$1")"
        return 1
    fi
}

# ---- Signals to the script: each ends both programs. ----

# (SIGINT is not among them: a shell ignores it in what it starts in the
# background, as this test starts the demo; Ctrl-C is checked below.)
for sig in TERM HUP KILL; do
    start "$tmp/$sig.out" || continue
    kill "-$sig" "$demo_pid"
    # shellcheck disable=SC2086 # a list of pids
    if gone 15 $progs "$demo_pid"; then
        ok
    else
        bad "SIG$sig to the demo script ends both programs and the script" \
            "still alive among: $progs $demo_pid" "$(tail -5 "$tmp/$sig.out")"
    fi
    wait "$demo_pid" 2>/dev/null
    demo_pid=
done

# ---- The observer's address among the hints: the page and its token. ----

if start "$tmp/observer.out"; then
    observer=$(sed -n 's/^  \(http:.*#token=.*\)$/\1/p' "$tmp/observer.out")
    base=${observer%%/#token=*}
    token=${observer#*#token=}
    page=$(curl -s "$base/" || true)
    api=$(curl -s -o /dev/null -w '%{http_code}' \
        -H "Authorization: Bearer $token" "$base/api/v1/system" || true)
    if grep -q "^Or open the observer" "$tmp/observer.out" &&
        [ -n "$observer" ] && [ "$token" = "$(cat "$HOME/.ctrace/token")" ] &&
        echo "$page" | grep -q '<title>ctrace observer</title>' &&
        [ "$api" = 200 ]; then
        ok
    else
        bad "the demo prints the observer's address, which opens the page" \
            "address: '$observer', API: $api" "$(tail -12 "$tmp/observer.out")"
    fi
    kill -TERM "$demo_pid"
    wait "$demo_pid" 2>/dev/null
    demo_pid=
fi

# ---- A closed pipe: the reader goes away, as a closed `| tee` does. ----

mkfifo "$tmp/pipe"
# The reader takes lines until it is told to go (the file `close`), then
# exits at the next line: only once both programs have been seen running,
# however slowly a loaded machine got there.
(
    while IFS= read -r line; do
        printf '%s\n' "$line"
        [ -e "$tmp/close" ] && exit 0
    done
) <"$tmp/pipe" >"$tmp/pipe.out" &
reader=$!
"$demo" "$bin" >"$tmp/pipe" 2>&1 &
demo_pid=$!
if wait_for "$tmp/pipe.out" "cat_load:      1 s:" 30; then
    progs=$(programs_of "$demo_pid")
    all_progs="$all_progs $progs"
    : >"$tmp/close"
    wait "$reader"
    # shellcheck disable=SC2086 # a list of pids
    if [ "$(echo "$progs" | wc -w)" -eq 2 ] && gone 15 $progs "$demo_pid"; then
        ok
    else
        bad "a closed pipe ends both programs and the script" \
            "programs: $progs, script $demo_pid" "$(tail -5 "$tmp/pipe.out")"
    fi
else
    bad "the demo starts into a pipe" "$(cat "$tmp/pipe.out")"
fi
wait "$demo_pid" 2>/dev/null
demo_pid=

# ---- A closed terminal under `| tee`: the script and its reader get
# SIGHUP together, and the script's next line meets a closed pipe. ----

rm -f "$tmp/pipe"
mkfifo "$tmp/pipe"
tee "$tmp/tee.out" <"$tmp/pipe" >/dev/null &
reader=$!
"$demo" "$bin" >"$tmp/pipe" 2>&1 &
demo_pid=$!
if wait_for "$tmp/tee.out" "cat_load:      1 s:" 30; then
    progs=$(programs_of "$demo_pid")
    all_progs="$all_progs $progs"
    kill -HUP "$reader" "$demo_pid"
    # shellcheck disable=SC2086 # a list of pids
    if [ "$(echo "$progs" | wc -w)" -eq 2 ] && gone 15 $progs "$demo_pid"; then
        ok
    else
        bad "SIGHUP to the script and its tee ends both programs" \
            "programs: $progs, script $demo_pid" "$(tail -5 "$tmp/tee.out")"
    fi
else
    bad "the demo starts into tee" "$(cat "$tmp/tee.out")"
fi
wait "$demo_pid" 2>/dev/null
demo_pid=

# ---- Ctrl-C in a terminal, under make: exit 0, no "*** Interrupt". ----

if command -v script >/dev/null 2>&1 && command -v make >/dev/null 2>&1; then
    # The recipe of the project's Makefile, on the binaries under test.
    printf 'demo:\n\t@if [ -x %s ]; then %s %s; fi\n' "$demo" "$demo" \
        "$bin" >"$tmp/Makefile"
    # script(1) gives make a terminal; ^C typed into it is SIGINT for the
    # terminal's foreground process group. Plain, and piped into tee.
    for pipe in "" "| tee $tmp/tee.log"; do
        rm -f "$tmp/tty.out"
        {
            wait_for "$tmp/tty.out" "cat_load:      1 s:" 30
            printf '\003'
            wait_for "$tmp/tty.out" "demo.sh: cat_load exited" 30
            sleep 1
        } | script -qec "make -s -f $tmp/Makefile demo $pipe" /dev/null \
            >"$tmp/tty.out" 2>&1
        rc=$?
        if [ "$rc" -eq 0 ] && ! grep -q 'make: \*\*\*' "$tmp/tty.out" &&
            grep -qF "demo.sh: cat_load exited with 0, cat_traveler with 0" \
                "$tmp/tty.out"; then
            ok
        else
            bad "Ctrl-C ends make demo $pipe with 0 and no make: ***" \
                "exit $rc" "$(tail -6 "$tmp/tty.out")"
        fi
    done
else
    echo "skipped the terminal check: script(1) or make is missing"
fi

summary demo_check
