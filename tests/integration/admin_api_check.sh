#!/bin/sh
# SPDX-License-Identifier: MIT
# Keeps docs/admin-api.md honest, as tutorial_check.sh does the tutorial:
# starts the real cat_traveler (admin endpoint on an ephemeral port, a token
# file of its own) and checks the page against it:
# - every `METHOD /path` of an endpoint heading is routed: GETs answer 2xx,
#   other methods anything but 404, 405 or 5xx;
# - where a GET section shows an example object, the answer has each of its
#   top-level members, and each member of the answer is named in the
#   section (in the example or in backquotes);
# - the 401 bodies of the authentication table, verbatim;
# - every command and action of the sys table answers 2xx, `get` and
#   `print` of the log with the lines;
# - every metric of the /metrics table is in the answer, and every family
#   the answer has is in the table.
# Usage: admin_api_check.sh CAT_TRAVELER ADMIN_API_MD
set -u

traveler=$1
doc=$2
# shellcheck source=support/check.sh
. "$(dirname "$0")/support/check.sh"
kill_at_exit svc_pid

if [ ! -r "$doc" ]; then
    echo "cannot read $doc"
    exit 1
fi

# ---- The service (support/service.sh wants $tmp and $traveler). ----

# shellcheck source=support/service.sh
. "$(dirname "$0")/support/service.sh"
start_service
base=$CTRACE_URL
auth="Authorization: Bearer $(cat "$token")"

# req METHOD PATH [CURL-ARGS...]: sets $code; body in $tmp/body.
req() {
    m=$1
    p=$2
    shift 2
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time 10 \
        -X "$m" -H "$auth" "$@" "$base$p")
}

# keys FILE: the member names of the top-level object in FILE, one a line
# (lenient: placeholders such as {...} or .. in examples do no harm).
keys() {
    awk '
        BEGIN { RS = "\001" }
        {
            depth = 0; instr = 0; esc = 0; cur = ""
            n = length($0)
            for (i = 1; i <= n; i++) {
                c = substr($0, i, 1)
                if (instr) {
                    if (esc) { esc = 0; cur = cur c; continue }
                    if (c == "\\") { esc = 1; continue }
                    if (c == "\"") { instr = 0; last = cur; lastend = i; continue }
                    cur = cur c
                    continue
                }
                if (c == "\"") { instr = 1; cur = ""; continue }
                if (c == "{" || c == "[") depth++
                else if (c == "}" || c == "]") depth--
                else if (c == ":" && depth == 1 && lastend > 0) {
                    between = substr($0, lastend + 1, i - lastend - 1)
                    if (between ~ /^[ \t\n]*$/) print last
                }
                if (c != " " && c != "\t" && c != "\n") lastend = 0
            }
        }
    ' "$1" | sort -u
}

# ---- The endpoints of the page: "LINE<TAB>METHOD<TAB>PATH" per heading
# entry, and each section's text in $tmp/section.LINE. ----

awk -v dir="$tmp" '
    /^### / {
        sec = NR
        out = dir "/section." sec
        line = $0
        while (match(line, /`[A-Z]+ \/[^`]*`/)) {
            item = substr(line, RSTART + 1, RLENGTH - 2)
            sp = index(item, " ")
            printf "%s\t%s\t%s\n", sec, substr(item, 1, sp - 1), substr(item, sp + 1)
            line = substr(line, RSTART + RLENGTH)
        }
        next
    }
    /^## / { out = "" }
    out != "" { print > out }
' "$doc" >"$tmp/endpoints"

if [ "$(wc -l <"$tmp/endpoints")" -lt 15 ]; then
    echo "only $(wc -l <"$tmp/endpoints") endpoints found in $doc"
    cat "$tmp/endpoints"
    exit 1
fi

# A session to name in {id} paths, and a process for {proc}.
req POST /api/v1/sessions -H 'Content-Type: application/json' \
    --data-binary '{"specs":["cat_traveler:enter/2"],"time_ms":60000}'
id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' "$tmp/body")
if [ -z "$id" ]; then
    echo "cannot start a session: $code $(cat "$tmp/body")"
    exit 1
fi
proc=cat_traveler_srv

# concrete TEMPLATE: a path to send for the page's path template.
concrete() {
    printf '%s\n' "$1" | sed -e "s/{id}/$id/g" -e "s/{proc}/$proc/g" \
        -e 's/\[?[^]]*\]//g' -e 's/=ATTR/=reductions/g' -e 's/=N\b/=3/g' \
        -e 's/=N&/=3\&/g' -e 's/=MS/=100/g' -e 's/=GLOB/=cat_*/g'
}

# The DELETE of the session comes last, so that the others find it.
sort -t "$(printf '\t')" -k2,2 "$tmp/endpoints" | awk -F'\t' '$2 != "DELETE"' \
    >"$tmp/order"
awk -F'\t' '$2 == "DELETE"' "$tmp/endpoints" >>"$tmp/order"
seen_get=""
while IFS="$(printf '\t')" read -r sec method template; do
    path=$(concrete "$template")
    case $method in
    GET | HEAD)
        if [ "${template%/events}" != "$template" ]; then
            # A stream: only its start is awaited.
            req GET "$path" --max-time 2
        else
            req "$method" "$path"
        fi
        case $code in
        2??) ok ;;
        *) bad "$method $template answers 2xx" "$code $(head -c 300 "$tmp/body")" ;;
        esac
        # The section's example object, for the first GET of a heading.
        case " $seen_get " in *" $sec "*) continue ;; esac
        seen_get="$seen_get $sec"
        [ "${template%/events}" != "$template" ] && continue
        section=$tmp/section.$sec
        awk '/^```json/{f=1;next} /^```/{if(f)exit} f' "$section" >"$tmp/example"
        if [ ! -s "$tmp/example" ]; then
            grep -o '`{"[^`]*`' "$section" | head -1 | tr -d '`' >"$tmp/example"
        fi
        [ -s "$tmp/example" ] || continue
        keys "$tmp/example" >"$tmp/doc.keys"
        keys "$tmp/body" >"$tmp/real.keys"
        missing=$(comm -23 "$tmp/doc.keys" "$tmp/real.keys" | tr '\n' ' ')
        unnamed=""
        for k in $(comm -13 "$tmp/doc.keys" "$tmp/real.keys"); do
            grep -qF "\`$k\`" "$section" || unnamed="$unnamed $k"
        done
        if [ -z "$missing" ] && [ -z "$unnamed" ]; then
            ok
        else
            bad "GET $template answers what its section shows" \
                "in the example, not the answer: $missing" \
                "in the answer, not the section:$unnamed" \
                "answer: $(head -c 300 "$tmp/body")"
        fi
        ;;
    *)
        req "$method" "$path" -H 'Content-Type: application/json' \
            --data-binary '{}'
        case $code in
        404 | 405 | 5??)
            bad "$method $template is routed" "$code $(head -c 300 "$tmp/body")"
            ;;
        *) ok ;;
        esac
        ;;
    esac
done <"$tmp/order"

# ---- The 401 table, verbatim. ----

sed -n 's/^| 401 | `\({[^`]*}\)` | \(.*\) |$/\1\t\2/p' "$doc" >"$tmp/401"
[ "$(wc -l <"$tmp/401")" -eq 3 ] || bad "the page has three 401 rows" \
    "$(cat "$tmp/401")"
while IFS="$(printf '\t')" read -r body when; do
    case $when in
    "no header") set -- ;;
    "another scheme") set -- -H 'Authorization: Basic dXNlcjpwYXNz' ;;
    "wrong token") set -- -H 'Authorization: Bearer wrong' ;;
    *)
        bad "a known case in the 401 table" "$when"
        continue
        ;;
    esac
    got=$(curl -s -w ' %{http_code}' "$@" "$base/api/v1/system")
    if [ "$got" = "$body 401" ]; then
        ok
    else
        bad "401 for $when is as the page says" "page: $body" "got:  $got"
    fi
done <"$tmp/401"

# ---- The sys table: each command and action. ----

sys() {
    req POST "/api/v1/procs/$proc/sys" -H 'Content-Type: application/json' \
        --data-binary "$1"
    case $code in
    2??) ok ;;
    *) bad "sys $1 answers 2xx" "$code $(cat "$tmp/body")" ;;
    esac
}
sys_row() {
    grep "^| \`$1\`" "$doc" | head -1
}
for c in suspend resume; do
    sys_row "$c" | grep -qF "\`$c\`" || sys_row "suspend\`, \`$c" |
        grep -q . || bad "the sys table has $c"
done
sys '{"command":"suspend"}'
sys '{"command":"resume"}'
sys '{"command":"trace","on":true}'
sys '{"command":"trace","on":false}'
log_actions=$(sys_row log | cut -d'|' -f3 | grep -o '`[a-z]*`' | tr -d '`' |
    grep -v '^n$')
[ -n "$log_actions" ] || bad "the sys table has the log actions"
for a in on $log_actions; do
    [ "$a" = off ] && continue
    sys "{\"command\":\"log\",\"action\":\"$a\"}"
    case $a in
    get | print)
        if grep -q '^{"log":\[' "$tmp/body"; then
            ok
        else
            bad "log $a answers the lines" "$(cat "$tmp/body")"
        fi
        ;;
    esac
done
sys '{"command":"log","action":"off"}'
stat_actions=$(sys_row statistics | cut -d'|' -f3 | grep -o '`[a-z]*`' |
    tr -d '`')
for a in on $stat_actions; do
    [ "$a" = off ] && continue
    sys "{\"command\":\"statistics\",\"action\":\"$a\"}"
done
sys '{"command":"statistics","action":"off"}'

# ---- /metrics and its table. ----

curl -s -H "$auth" "$base/metrics" >"$tmp/metrics"
sed -n 's/^| `\(ctrace_[a-z_]*\).*/\1/p' "$doc" | sort -u >"$tmp/doc.metrics"
sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$tmp/metrics" | sort -u \
    >"$tmp/real.metrics"
missing=$(comm -23 "$tmp/doc.metrics" "$tmp/real.metrics" | tr '\n' ' ')
extra=$(comm -13 "$tmp/doc.metrics" "$tmp/real.metrics" | tr '\n' ' ')
# Families listed only while a session has points armed may be absent.
missing=$(printf '%s\n' $missing | grep -v '^ctrace_point_' | tr '\n' ' ')
if [ -z "$(echo "$missing" | tr -d ' ')" ] && [ -z "$extra" ]; then
    ok
else
    bad "/metrics has the families its table lists" \
        "in the table, not the answer: $missing" \
        "in the answer, not the table: $extra"
fi

summary admin_api_check
