#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs bank_demo and checks what docs/processes-and-servers.md promises:
# - every ```c block of the page is a verbatim run of lines of the source,
#   and together they show all of it (so the page is the whole program);
# - every line the program prints is on the page, and every line of an
#   output block of the page (the fenced block after "<!-- output -->") is
#   one the program printed, once times, pids, durations and other numbers
#   that change from run to run are masked;
# - key lines of the output are there exactly.
# Usage: check.sh BANK_DEMO PAGE SOURCE
set -eu
bin=$1
page=$2
src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The code on the page is the source, in order, all of it.
awk -v src="$src" '
    BEGIN {
        while ((getline line < src) > 0)
            s[++n] = line
        from = 1
    }
    function place(   i, k, ok) {
        # First at or after the end of the previous block, then anywhere.
        for (i = from; i + m - 1 <= n; i++) {
            ok = 1
            for (k = 1; k <= m && ok; k++)
                ok = s[i + k - 1] == b[k]
            if (ok)
                return i
        }
        for (i = 1; i < from && i + m - 1 <= n; i++) {
            ok = 1
            for (k = 1; k <= m && ok; k++)
                ok = s[i + k - 1] == b[k]
            if (ok)
                return i
        }
        return 0
    }
    /^```c$/ { on = 1; m = 0; start = NR; next }
    on && /^```$/ {
        on = 0
        at = place()
        if (at == 0) {
            printf "page line %d: this C block is not a run of lines of %s\n", start, src
            bad = 1
            next
        }
        for (k = 0; k < m; k++)
            seen[at + k] = 1
        from = at + m
        next
    }
    on { b[++m] = $0 }
    END {
        for (i = 1; i <= n; i++)
            if (!seen[i] && s[i] != "") {
                printf "%s line %d is not shown on the page: %s\n", src, i, s[i]
                bad = 1
            }
        exit bad
    }
' "$page" || {
    echo "the page does not show $src as it is"
    exit 1
}

# 2. The output and the page agree, numbers aside.
"$bin" >"$tmp/out"
cat "$tmp/out"
mask() {
    sed -E \
        -e 's/^(% [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} <0\.[0-9]+\.0>)\(.*\)$/\1(LABEL)/' \
        -e 's/\([0-9]+(\.[0-9]+)? (ns|us|ms|s)\)/(DURATION)/g' \
        -e 's/[0-9]+/N/g' \
        -e 's/ +/ /g' \
        -e 's/ $//'
}
mask <"$tmp/out" >"$tmp/out.masked"
awk '
    $0 == "<!-- output -->" { want = 1; next }
    want && /^```/ { want = 0; on = 1; next }
    on && /^```$/ { on = 0; next }
    on { print }
    want && !/^[ \t]*$/ { want = 0 }
' "$page" >"$tmp/shown"
if [ ! -s "$tmp/shown" ]; then
    echo "the page has no output block (a fence after <!-- output -->)"
    exit 1
fi
mask <"$tmp/shown" >"$tmp/shown.masked"
mask <"$page" >"$tmp/page.masked"
status=0
while IFS= read -r line; do
    [ -z "$line" ] && continue
    grep -qxF -- "$line" "$tmp/page.masked" || {
        echo "the page does not show this output line: $line"
        status=1
    }
done <"$tmp/out.masked"
while IFS= read -r line; do
    [ -z "$line" ] && continue
    grep -qxF -- "$line" "$tmp/out.masked" || {
        echo "the page shows output the program did not print: $line"
        status=1
    }
done <"$tmp/shown.masked"

# 3. Key lines, exactly but for pids (which depend on the order in which
# threads and processes first show up).
expect() {
    line=$(printf '%s\n' "$1" | sed -E 's/<0\.[0-9]+\.0>/<0.N.0>/g')
    sed -E 's/<0\.[0-9]+\.0>/<0.N.0>/g' "$tmp/out" | grep -qxF -- "$line" || {
        echo "missing from the output: $1"
        status=1
    }
}
expect '% spawned <0.3.0> as bank_teller:withdraw/2'
expect '% <0.1.0>(bank) <<< {call,{withdraw,"bob",50}}'
expect '% <<< {call,{withdraw,"bob",50}}'
expect '% bank:withdraw("bob", 50)'
expect '% exit insufficient_funds'
expect '% stopped: stopped by user (14 events, 0 dropped)'
expect 'get_state: {"accounts":{"alice":70,"bob":20},"transactions":3}'
expect 'replace_state: ok'
expect 'replace_state: CTRACE_EINVAL: bob: a balance is an integer >= 0'
expect 'get_state: {"accounts":{"alice":70,"bob":20,"carol":5},"transactions":3}'
expect '*DBG* bank got cast {deposit,"carol",10}'
expect 'call while suspended: ETIMEDOUT'
expect 'casts accepted: 7, then CTRACE_EFULL'
expect 'resumed: carol has 22'
expect 'get_state: {"accounts":{"alice":70,"bob":15,"carol":22},"transactions":13}'
expect 'bank: terminate(shutdown) with 3 accounts'
grep -q '^% bank:withdraw/2 -> insufficient_funds (' "$tmp/out" || {
    echo "missing from the output: the return of the refused withdraw"
    status=1
}
grep -qE '^statistics: messages_in 4, messages_out 2, queue_len 0, reductions [0-9]+$' "$tmp/out" || {
    echo "missing from the output: the statistics line"
    status=1
}
# The queue ranking is exact: the suspended bank holds all 8 messages.
grep -A1 '^proc_count(message_queue_len, 3):$' "$tmp/out" |
    grep -qE '^  <0\.[0-9]+\.0> +8  bank ' || {
    echo "the bank is not first by message_queue_len with 8 messages"
    status=1
}
[ "$status" -eq 0 ] && echo "processes-and-servers: the page's program and output hold"
exit "$status"
