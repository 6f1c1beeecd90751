#!/bin/sh
# SPDX-License-Identifier: MIT
# ctrace next to its peers, in one run, on the same function: the
# benchmark's enter(cat, town) with a ctrace trace point (ctrace_bench),
# with an LTTng-UST tracepoint carrying the two strings as ctf_string
# fields (tests/bench/peers/), and under uftrace recording the call, both
# string arguments and the return value. Not run by ctest.
#
# Usage: tests/bench/compare.sh [BUILD_DIR] [ITERS] [RUNS]
#   BUILD_DIR holds bin/ctrace_bench (default: build); ITERS calls per run
#   (default 2000000); RUNS runs of every variant, interleaved, of which the
#   median is printed (default 7).
# Environment: CC (default cc) builds the peers; CALLGRIND=0 skips the
#   instruction counts (default: counted when valgrind is installed, with
#   CG_ITERS calls, default 20000); NO_UFTRACE=1 skips uftrace;
#   KEEP_SESSIOND=1 leaves an lttng-sessiond this script started running.
#
# Needs, and installs with apt-get when run as root: liblttng-ust-dev and
# lttng-tools (and uftrace, optional). Starts `lttng-sessiond --daemonize`
# when none runs (root: the session daemon runs in user space), creates its
# own LTTng session with one channel large enough not to discard at this
# rate, and destroys it on exit. All of it stays on this machine.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build="${1:-build}"
iters="${2:-2000000}"
runs="${3:-7}"
cc="${CC:-cc}"
cg_iters="${CG_ITERS:-20000}"
bench="$build/bin/ctrace_bench"

say() { printf 'compare.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

[ -x "$bench" ] || die "no $bench; build it first:
  cmake -S . -B $build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build $build --target ctrace_bench"
command -v "$cc" >/dev/null || die "no C compiler '$cc'"

# ---- Dependencies. ----
have_lttng() {
    command -v lttng >/dev/null && command -v lttng-sessiond >/dev/null &&
        echo '#include <lttng/tracepoint.h>' | "$cc" -E -x c - >/dev/null 2>&1
}
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        return 1
    fi
    say "installing $* (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1; }
}
if ! have_lttng; then
    apt_install liblttng-ust-dev lttng-tools ||
        die "LTTng-UST is missing; as root: apt-get install liblttng-ust-dev lttng-tools"
    have_lttng || die "LTTng-UST still missing after apt-get"
fi
use_uftrace=1
if [ "${NO_UFTRACE:-0}" = 1 ]; then
    use_uftrace=0
elif ! command -v uftrace >/dev/null; then
    apt_install uftrace || true
    command -v uftrace >/dev/null ||
        { say "uftrace is not available: its row is skipped"; use_uftrace=0; }
fi
use_cg=0
if [ "${CALLGRIND:-1}" = 1 ]; then
    if command -v valgrind >/dev/null; then
        use_cg=1
    else
        say "valgrind is not installed: instruction counts are skipped"
    fi
fi

tmp=$(mktemp -d)
session="ctrace-compare-$$"
session_made=0
sessiond_pid=""
cleanup() {
    if [ "$session_made" = 1 ]; then
        lttng destroy "$session" >/dev/null 2>&1 || true
    fi
    if [ -n "$sessiond_pid" ] && [ "${KEEP_SESSIOND:-0}" != 1 ]; then
        kill "$sessiond_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- The peers' program. ----
peers="$here/peers"
cflags="-O2 -g -gdwarf-4 -I$peers"
"$cc" $cflags -c "$peers/tp.c" -o "$tmp/tp.o" &&
    "$cc" $cflags -c "$peers/peer_bench.c" -o "$tmp/peer_bench.o" &&
    "$cc" $cflags -pg -c "$peers/peer_enter_pg.c" -o "$tmp/peer_enter_pg.o" &&
    "$cc" -o "$tmp/peer_bench" "$tmp/peer_bench.o" "$tmp/tp.o" \
        "$tmp/peer_enter_pg.o" -llttng-ust -ldl ||
    die "cannot build the LTTng-UST peer (see the errors above)"
peer="$tmp/peer_bench"

# ---- LTTng: session daemon, session, channel, event. ----
if ! pgrep -x lttng-sessiond >/dev/null; then
    lttng-sessiond --daemonize >/dev/null 2>&1 ||
        die "cannot start lttng-sessiond (run as root, or start it yourself)"
    sessiond_pid=$(pgrep -x -o lttng-sessiond || true)
fi
lttng create "$session" --output="$tmp/trace" >/dev/null ||
    die "lttng create failed"
session_made=1
# 8 x 4 MiB per CPU: the consumer daemon keeps up, so no event is
# discarded (a discarded event would be cheaper than a recorded one).
lttng enable-channel -u -s "$session" --subbuf-size=4M --num-subbuf=8 \
    bench >/dev/null || die "lttng enable-channel failed"
lttng enable-event -u -s "$session" -c bench ctrace_bench_peer:enter \
    >/dev/null || die "lttng enable-event failed"
lttng start "$session" >/dev/null || die "lttng start failed"
# Applications wait for the session daemon at start-up: without a limit,
# so that the event is on from the first call even under valgrind.
LTTNG_UST_REGISTER_TIMEOUT=-1
export LTTNG_UST_REGISTER_TIMEOUT

# ---- Timing: RUNS rounds, every variant once per round. ----
ctrace_variants="baseline disabled enabled_nomatch enabled_match enabled_match_return"
peer_variants="baseline lttng_disabled lttng_enabled"
ns_of() { sed -n 's/.*ns_per_call=\([0-9.]*\).*/\1/p'; }
r=1
while [ "$r" -le "$runs" ]; do
    for v in $ctrace_variants; do
        out=$("$bench" --variant "$v" --iters "$iters") ||
            die "ctrace_bench --variant $v failed: $out"
        echo "$out" | ns_of >>"$tmp/ctrace.$v"
    done
    for v in $peer_variants; do
        "$peer" --variant "$v" --iters "$iters" | ns_of >>"$tmp/peer.$v"
    done
    if [ "$use_uftrace" = 1 ]; then
        rm -rf "$tmp/uftrace.data"
        uftrace record -d "$tmp/uftrace.data" -F enter_pg \
            -A 'enter_pg@arg1/s,arg2/s' -R 'enter_pg@retval' \
            "$peer" --variant uftrace --iters "$iters" 2>/dev/null |
            ns_of >>"$tmp/peer.uftrace" || true
    fi
    r=$((r + 1))
done
lttng stop "$session" >"$tmp/stop.log" 2>&1 || true
discarded=$(lttng list "$session" 2>/dev/null |
    sed -n 's/.*Discarded events: *\([0-9]*\).*/\1/p' | head -n 1)

median() {
    [ -s "$1" ] || { echo "-"; return; }
    sort -n "$1" | awk '{ a[NR] = $1 } END {
        if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ---- Instructions. ----
if [ "$use_cg" = 1 ]; then
    lttng start "$session" >/dev/null 2>&1 || true
    sh "$here/callgrind.sh" "$bench" "$cg_iters" $ctrace_variants \
        >"$tmp/cg.ctrace" 2>"$tmp/cg.err" ||
        { say "callgrind of ctrace_bench failed:"; cat "$tmp/cg.err" >&2; use_cg=0; }
    sh "$here/callgrind.sh" "$peer" "$cg_iters" $peer_variants \
        >"$tmp/cg.peer" 2>>"$tmp/cg.err" ||
        { say "callgrind of peer_bench failed:"; cat "$tmp/cg.err" >&2; use_cg=0; }
    lttng stop "$session" >/dev/null 2>&1 || true
fi
ir_of() { # file variant
    [ "$use_cg" = 1 ] || { echo "-"; return; }
    awk -v v="$2" '$1 == v { print $2 }' "$1"
}

# ---- Report. ----
cb=$(median "$tmp/ctrace.baseline")
pb=$(median "$tmp/peer.baseline")
cib=$(ir_of "$tmp/cg.ctrace" baseline)
pib=$(ir_of "$tmp/cg.peer" baseline)
echo "compare.sh: $runs runs of $iters calls, medians; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-32s %10s %10s %12s %12s\n' variant ns/call +ns instr/call +instr
row() { # name ns base_ns ir base_ir
    awk -v n="$1" -v t="$2" -v b="$3" -v i="$4" -v bi="$5" 'BEGIN {
        dt = (t == "-" || b == "-") ? "-" : sprintf("%+.2f", t - b)
        di = (i == "-" || i == "" || bi == "-" || bi == "") ? "-" : sprintf("%+.1f", i - bi)
        if (i == "") i = "-"
        printf "%-32s %10s %10s %12s %12s\n", n, t, dt, i, di }'
}
for v in $ctrace_variants; do
    row "ctrace $v" "$(median "$tmp/ctrace.$v")" "$cb" \
        "$(ir_of "$tmp/cg.ctrace" "$v")" "$cib"
done
for v in $peer_variants; do
    row "peer $v" "$(median "$tmp/peer.$v")" "$pb" \
        "$(ir_of "$tmp/cg.peer" "$v")" "$pib"
done
if [ "$use_uftrace" = 1 ]; then
    row "peer uftrace (call+return+args)" "$(median "$tmp/peer.uftrace")" "$pb" - -
fi
echo "LTTng events discarded: ${discarded:-unknown}"

ratio() { # label ctrace_variant_file peer_variant_file target
    awk -v l="$1" -v a="$(median "$2")" -v ab="$cb" -v p="$(median "$3")" \
        -v pb="$pb" -v t="$4" 'BEGIN {
        if (a == "-" || p == "-") { printf "%s: not measured\n", l; exit }
        r = (a - ab) / (p - pb)
        printf "%s: %.2f (target <= %s): %s\n", l, r, t, r <= t ? "met" : "MISSED" }'
}
ratio "enabled_match / LTTng-UST recording" "$tmp/ctrace.enabled_match" \
    "$tmp/peer.lttng_enabled" 0.6
if [ "$use_uftrace" = 1 ]; then
    ratio "enabled_match_return / uftrace" "$tmp/ctrace.enabled_match_return" \
        "$tmp/peer.uftrace" 0.3
fi
