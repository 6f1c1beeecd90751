#!/bin/sh
# SPDX-License-Identifier: MIT
# Replacing a server's state while it works: the real cat_traveler under
# load from cat_load, and an operator loop that reads the state and writes
# it back. Written back whole and unconditionally, the state puts back every
# cat that moved in between, and cat_load sees answers it did not expect
# (the lost update). With --if-version (If-Match on a version) or --patch (a
# JSON merge patch the server applies between two messages) none is lost.
# Also checks the HTTP side: ETag, 412, 415 and 400 answers.
# Usage: replace_state.sh CTRACE CAT_TRAVELER CAT_LOAD
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

# The state as `ctrace state --json` prints it: {"pid":..,"state":S,
# "version":V}, with the version last. Sets $state and $version.
read_state() {
    "$ctrace" state --json cat_traveler_srv >"$tmp/get" 2>"$tmp/get.err" ||
        return 1
    state=$(sed -n 's/^{"pid":"[^"]*","state":\(.*\),"version":"[0-9a-f]*"}$/\1/p' \
        "$tmp/get")
    version=$(sed -n 's/.*,"version":"\([0-9a-f]*\)"}$/\1/p' "$tmp/get")
    [ -n "$state" ] && [ -n "$version" ]
}

# load_start: cat_load for a few seconds, at a rate where a read and a write
# of the state are nearly always a few cat moves apart.
load_start() {
    "$load" --url "http://127.0.0.1:$port" --cats 8 --concurrency 4 \
        --rate 150 --duration 4 --seed 7 >"$tmp/load.out" 2>&1 &
    load_pid=$!
}

# load_errors: waits for cat_load; sets $load_rc and $errors (the answers
# it did not expect).
load_wait() {
    wait "$load_pid"
    load_rc=$?
    load_pid=
    errors=$(grep -c '^ERROR: ' "$tmp/load.out")
}

# ---- The lost update: read, then write back the whole state. ----

load_start
writes=0
while kill -0 "$load_pid" 2>/dev/null; do
    read_state || continue
    printf '%s' "$state" >"$tmp/state.json"
    if "$ctrace" replace-state cat_traveler_srv "@$tmp/state.json" \
        >/dev/null 2>&1; then
        writes=$((writes + 1))
    fi
done
load_wait
echo "whole state written back: $writes writes, $errors unexpected answers"
if [ "$writes" -gt 0 ] && [ "$errors" -gt 0 ] && [ "$load_rc" -eq 1 ]; then
    ok
else
    bad "writing back a state read earlier loses cat_load's updates" \
        "writes $writes, cat_load exit $load_rc, unexpected answers $errors" \
        "$(tail -3 "$tmp/load.out")"
fi

# ---- The same loop with --if-version: stale writes are refused. ----

load_start
writes=0
stale=0
while kill -0 "$load_pid" 2>/dev/null; do
    read_state || continue
    printf '%s' "$state" >"$tmp/state.json"
    if "$ctrace" replace-state --if-version "$version" cat_traveler_srv \
        "@$tmp/state.json" >/dev/null 2>"$tmp/put.err"; then
        writes=$((writes + 1))
    elif grep -qF "the state changed since version $version was read" \
        "$tmp/put.err"; then
        stale=$((stale + 1))
    else
        bad "a stale --if-version write says why" "$(cat "$tmp/put.err")"
        break
    fi
done
load_wait
echo "--if-version: $writes writes, $stale refused as stale, $errors unexpected answers"
if [ "$errors" -eq 0 ] && [ "$load_rc" -eq 0 ] &&
    [ $((writes + stale)) -gt 0 ]; then
    ok
else
    bad "--if-version loses no update" \
        "writes $writes, stale $stale, cat_load exit $load_rc, unexpected answers $errors" \
        "$(grep '^ERROR: ' "$tmp/load.out" | head -3)"
fi
# Nothing moves now: a write of the version just read is taken.
read_state
printf '%s' "$state" >"$tmp/state.json"
if "$ctrace" replace-state --if-version "$version" cat_traveler_srv \
    "@$tmp/state.json" >"$tmp/out" 2>"$tmp/err" && grep -qx ok "$tmp/out"; then
    ok
else
    bad "a write of the current version is taken" "$(cat "$tmp/out" "$tmp/err")"
fi

# ---- A merge patch, applied by the server between two messages. ----

# The operator's own cat moves between towns; cat_load's cats keep moving.
load_start
patches=0
town=Oslo
while kill -0 "$load_pid" 2>/dev/null; do
    if "$ctrace" replace-state --patch cat_traveler_srv \
        "{\"cats\":{\"Kuzja\":\"$town\"},\"towns\":null}" >/dev/null \
        2>"$tmp/patch.err"; then
        patches=$((patches + 1))
        [ "$town" = Oslo ] && town=Bergen || town=Oslo
    else
        bad "a patch moving a cat of its own is taken" "$(cat "$tmp/patch.err")"
        break
    fi
done
load_wait
echo "--patch: $patches patches, $errors unexpected answers"
# The patch's cat is not cat_load's, so its final check of the agent's cats
# may only complain about Kuzja; the answers it got must all be expected.
if [ "$errors" -eq 0 ] && [ "$patches" -gt 0 ]; then
    ok
else
    bad "--patch loses no update" \
        "patches $patches, unexpected answers $errors" \
        "$(grep '^ERROR: ' "$tmp/load.out" | head -3)"
fi
read_state
last=$([ "$town" = Oslo ] && echo Bergen || echo Oslo)
case $state in
*"\"Kuzja\":\"$last\""*"\"$last\":["*"\"Kuzja\""*) ok ;;
*) bad "the last patch is the state" "expected Kuzja in $last: $state" ;;
esac

# ---- HTTP: ETag, If-Match, Content-Type. ----

api=$CTRACE_URL/api/v1/procs/cat_traveler_srv/state
auth="Authorization: Bearer $(cat "$token")"
# http NAME WANT-STATUS WANT-TEXT CURL-ARGS...: one request and its answer.
http() {
    name=$1
    want=$2
    text=$3
    shift 3
    code=$(curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' \
        -H "$auth" "$@" "$api")
    if [ "$code" != "$want" ] || ! grep -qF -- "$text" "$tmp/body" "$tmp/head"; then
        bad "$name" "status $code, expected $want with '$text'" \
            "$(cat "$tmp/head" "$tmp/body")"
    else
        ok
    fi
}

read_state
http "GET gives the version as ETag" 200 "ETag: \"$version\""
http "a stale If-Match gets 412" 412 '"error":"stale"' -X PUT \
    -H 'If-Match: "0000000000000000"' -H 'Content-Type: application/json' \
    --data-binary "$state"
http "a malformed If-Match gets 400" 400 'If-Match must be' -X PUT \
    -H 'If-Match: W/"abc"' -H 'Content-Type: application/json' \
    --data-binary "$state"
http "If-Match * replaces" 200 '"result":"ok"' -X PUT -H 'If-Match: *' \
    -H 'Content-Type: application/json' --data-binary "$state"
http "PATCH needs the merge-patch type" 415 'application/merge-patch+json' \
    -X PATCH -H 'Content-Type: application/json' --data-binary '{}'
http "PATCH of bad JSON gets 400" 400 '"error":"bad_request"' -X PATCH \
    -H 'Content-Type: application/merge-patch+json' --data-binary '{"cats":'
http "a patch the server refuses gets 422" 422 'towns does not list' \
    -X PATCH -H 'Content-Type: application/merge-patch+json' \
    --data-binary '{"cats":{"Kuzja":"Minsk"}}'
http "PATCH answers the new state and its ETag" 200 '"Kuzja":"Tromso"' \
    -X PATCH -H 'Content-Type: application/merge-patch+json' \
    --data-binary '{"cats":{"Kuzja":"Tromso"},"towns":null}'
grep -qF 'ETag: "' "$tmp/head" && ok || bad "PATCH sends an ETag" "$(cat "$tmp/head")"
http "DELETE is not allowed and Allow lists PATCH" 405 \
    'Allow: GET, HEAD, PUT, PATCH' -X DELETE

# ---- The CLI's messages. ----

"$ctrace" replace-state --if-version xyz cat_traveler_srv '{}' \
    >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -qF -- "--if-version takes the 16 hex digits" "$tmp/err"; then
    ok
else
    bad "a bad --if-version is a usage error" "exit $rc: $(cat "$tmp/err")"
fi
"$ctrace" replace-state --patch cat_traveler_srv '{"cats":' >/dev/null \
    2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -qF "the patch is not JSON" "$tmp/err"; then
    ok
else
    bad "a patch that is not JSON is a usage error" "exit $rc: $(cat "$tmp/err")"
fi

summary replace_state
