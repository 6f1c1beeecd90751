# SPDX-License-Identifier: MIT
# Sourced by the benchmark scripts that drive cat_traveler with cat_load:
# checks the programs, makes $tmp (removed at exit), starts and stops the
# service, and runs the load. Needs bench (the script's name, for errors),
# bin, secs, threads, concurrency and cats set first. A tracer started in
# the background with its pid in $tracer is stopped with SIGINT at exit.

for prog in cat_traveler cat_load ctrace; do
    [ -x "$bin/$prog" ] || {
        echo "$bench: no $bin/$prog; build first" >&2
        exit 2
    }
done

tmp=$(mktemp -d)
srv=""
tracer=""
cleanup() {
    [ -n "$tracer" ] && kill -INT "$tracer" 2>/dev/null || true
    [ -n "$tracer" ] && wait "$tracer" 2>/dev/null || true
    if [ -n "$srv" ]; then
        kill -TERM "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# start_service [FLAG...]: cat_traveler with its admin endpoint on
# ephemeral ports and these extra flags; sets srv, url and admin. Its
# output is in $tmp/srv.log.
start_service() {
    : >"$tmp/srv.log"
    "$bin/cat_traveler" --port 0 --admin-port 0 --threads "$threads" \
        --token-file "$tmp/token" "$@" >"$tmp/srv.log" 2>&1 &
    srv=$!
    url=""
    admin=""
    for _ in $(seq 100); do
        url=$(sed -n 's/^cat_traveler listening on //p' "$tmp/srv.log")
        admin=$(sed -n \
            's/^cat_traveler: admin endpoint on \([^ ]*\) .*/\1/p' \
            "$tmp/srv.log")
        [ -n "$url" ] && [ -n "$admin" ] && break
        sleep 0.1
    done
    [ -n "$url" ] && [ -n "$admin" ] || {
        cat "$tmp/srv.log" >&2
        echo "$bench: cat_traveler did not start" >&2
        exit 1
    }
}

stop_service() {
    kill -TERM "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    srv=""
}

# load: runs cat_load at full speed for $secs seconds; prints its requests
# per second.
load() {
    "$bin/cat_load" --url "$url" --rate 0 --duration "$secs" \
        --concurrency "$concurrency" --cats "$cats" >"$tmp/load.out" 2>&1 ||
        {
            tail -5 "$tmp/load.out" >&2
            echo "$bench: cat_load failed" >&2
            exit 1
        }
    sed -n 's/.* in [0-9.]* s: \([0-9.]*\) req\/s.*/\1/p' "$tmp/load.out" |
        tail -1
}
