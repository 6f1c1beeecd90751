# SPDX-License-Identifier: MIT
# Sourced by the shell integration tests: starts the real cat_traveler with
# its admin endpoint on ephemeral ports and a token file of its own, and
# points ctrace at it. Needs support/check.sh sourced first (for $tmp and
# wait_for) and $traveler (the binary); sets svc_pid, port, admin_port,
# token, and exports CTRACE_URL and CTRACE_TOKEN_FILE. Exits 1 with the
# service's output when it does not come up.

# start_service: the service, its ports and its token.
start_service() {
    token=$tmp/token
    "$traveler" --port 0 --threads 2 --admin-port 0 --token-file "$token" \
        >"$tmp/svc.out" 2>"$tmp/svc.err" &
    svc_pid=$!
    if ! wait_for "$tmp/svc.out" "cat_traveler listening on" 20; then
        echo "cat_traveler did not start:"
        cat "$tmp/svc.out" "$tmp/svc.err"
        exit 1
    fi
    port=$(sed -n \
        's|^cat_traveler listening on http://127.0.0.1:\([0-9]*\).*|\1|p' \
        "$tmp/svc.out")
    admin_port=$(sed -n \
        's|.*admin endpoint on http://127.0.0.1:\([0-9][0-9]*\).*|\1|p' \
        "$tmp/svc.out" | head -1)
    if [ -z "$port" ] || [ -z "$admin_port" ] || [ ! -s "$token" ]; then
        echo "cat_traveler did not print its ports or make its token file:"
        cat "$tmp/svc.out" "$tmp/svc.err"
        exit 1
    fi
    CTRACE_URL=http://127.0.0.1:$admin_port
    CTRACE_TOKEN_FILE=$token
    export CTRACE_URL CTRACE_TOKEN_FILE
    unset http_proxy HTTP_PROXY
}
