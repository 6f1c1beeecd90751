#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that calls between the library's areas go down only.
#
# The areas are given lowest first, each as `--area NAME OBJECT...`, the
# objects being what that area's CMake target compiled. A symbol that an
# object of one area uses and an object of another area defines is a
# reference between the two areas; it is allowed only when the defining
# area comes earlier in the list. Symbols defined outside the library
# (libc, jansson, libmicrohttpd, libdw) are not references between areas.
#
# Prints one line per upward reference (who uses what, defined where) and
# exits 1 when there is any; prints a summary and exits 0 otherwise. With
# `--graph` it also prints the references that are allowed, as
# "area -> area (count)".
#
# Usage: tests/layers/check.sh [--graph] --area base a.o b.o --area pattern ...
set -eu

graph=0
if [ "${1:-}" = --graph ]; then
    graph=1
    shift
fi
[ "${1:-}" = --area ] || {
    echo "check.sh: usage: check.sh [--graph] --area NAME OBJECT... [--area ...]" >&2
    exit 2
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/defs"
: >"$tmp/uses"
: >"$tmp/order"

# flush: records the definitions and uses of the objects in $objs, all of
# area $area (rank $rank), with one nm run each: a run per object took a
# minute under the sanitizer builds on a loaded machine.
objs=""
flush() {
    [ -n "$objs" ] || return 0
    # shellcheck disable=SC2086 # $objs is a list of paths without spaces
    # Defined symbols: code, data, bss, read-only data, common.
    nm -A --defined-only $objs |
        awk -v a="$area" -v r="$rank" \
            '{ f = $1; sub(/:[^:]*$/, "", f); n = split(f, p, "/");
               o = p[n]; sub(/\.o$/, "", o) }
             $(NF - 1) ~ /^[TDBRCVW]$/ { print $NF, a, r, o }' >>"$tmp/defs"
    # shellcheck disable=SC2086
    nm -A --undefined-only $objs |
        awk -v a="$area" -v r="$rank" \
            '{ f = $1; sub(/:[^:]*$/, "", f); n = split(f, p, "/");
               o = p[n]; sub(/\.o$/, "", o); print $NF, a, r, o }' >>"$tmp/uses"
    objs=""
}

rank=0
area=""
for arg in "$@"; do
    if [ "$arg" = --area ]; then
        flush
        area=""
        continue
    fi
    if [ -z "$area" ]; then
        area="$arg"
        rank=$((rank + 1))
        echo "$area $rank" >>"$tmp/order"
        continue
    fi
    [ -f "$arg" ] || { echo "check.sh: no object $arg" >&2; exit 2; }
    case "$arg" in
    *[[:space:]]*) echo "check.sh: object path with a space: $arg" >&2; exit 2 ;;
    esac
    objs="$objs $arg"
done
flush

# One line per reference between two different areas:
# user-area user-rank user-object symbol def-area def-rank def-object.
awk 'NR == FNR { def[$1] = $2 " " $3 " " $4; next }
     ($1 in def) {
         split(def[$1], d, " ")
         if (d[1] != $2)
             print $2, $3, $4, $1, d[1], d[2], d[3]
     }' "$tmp/defs" "$tmp/uses" | sort -u >"$tmp/refs"

awk '$2 < $6 { printf "upward: %s (%s) uses %s, defined in %s (%s)\n", $1, $3, $4, $5, $7 }' \
    "$tmp/refs" >"$tmp/bad"

if [ "$graph" = 1 ]; then
    awk '$2 > $6 { print $1 " -> " $5 }' "$tmp/refs" | sort | uniq -c |
        awk '{ printf "%s %s %s (%d)\n", $2, $3, $4, $1 }'
fi

if [ -s "$tmp/bad" ]; then
    cat "$tmp/bad"
    echo "layers: $(wc -l <"$tmp/bad") upward references; calls must go down:" \
         "$(cut -d' ' -f1 "$tmp/order" | tr '\n' ' ')(lowest first)"
    exit 1
fi
echo "layers: $(wc -l <"$tmp/refs") references between areas, all downward:" \
     "$(cut -d' ' -f1 "$tmp/order" | tr '\n' ' ')(lowest first)"
