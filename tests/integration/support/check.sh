# SPDX-License-Identifier: MIT
# Sourced first by the shell integration tests: what every one of them
# needs around its checks. Sets tmp (a scratch directory, removed at exit)
# and the counts pass and fail; defines ok, bad, wait_for, kill_at_exit and
# summary. INT and TERM end the script with 1, through the same cleanup.

pass=0
fail=0
tmp=$(mktemp -d)
exit_kill_vars=

# kill_at_exit VAR...: at exit, the processes whose ids these variables
# hold then (none when empty) get SIGKILL. Set a variable empty once its
# process is stopped and waited for.
kill_at_exit() {
    for v in "$@"; do
        eval ": \${$v=}"
        exit_kill_vars="$exit_kill_vars $v"
    done
}

check_cleanup() {
    for v in $exit_kill_vars; do
        eval "p=\${$v}"
        for pid in $p; do
            kill -KILL "$pid" 2>/dev/null
        done
    done
    rm -rf "$tmp"
}
trap check_cleanup EXIT
trap 'exit 1' INT TERM

# ok: a check passed.
ok() {
    pass=$((pass + 1))
}

# bad NAME LINE...: a failed check, with what explains it.
bad() {
    fail=$((fail + 1))
    printf 'FAIL %s\n' "$1"
    shift
    for line in "$@"; do
        printf '  %s\n' "$line"
    done
}

# wait_for FILE TEXT SECONDS: waits until FILE contains TEXT.
wait_for() {
    n=0
    while [ "$n" -lt $(($3 * 10)) ]; do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# summary NAME: the last line of a test, "NAME: P passed, F failed"; its
# status is the script's: 0 when nothing failed.
summary() {
    printf '%s: %d passed, %d failed\n' "$1" "$pass" "$fail"
    [ "$fail" -eq 0 ]
}
