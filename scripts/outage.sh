#!/usr/bin/env bash
# Database outage on PostgreSQL: the service reaches the database through a TCP proxy this
# script owns (scripts/tcp_proxy.py), which it takes down under load, so that the machine's
# PostgreSQL is never stopped. Every request that needs the database gets a 503 JSON answer
# within the pool timeout (no hang, no 500), a burst of 2,000 concurrent requests is answered
# 503 too (the circuit breaker fails them fast once the outage is known), and when the proxy
# is back the same process serves again, without a restart.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

pg_env || { echo "outage: FAIL: PostgreSQL could not be started" >&2; exit 1; }
script_init outage

dbname="users_outage_$$"
admin_url="${DATABASE_TEST_URL}"
pg_port="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).port or 5432)' "$admin_url")"
proxy_port="$(free_port)"
scripts/tcp_proxy.py "$proxy_port" "$pg_port" >"$work/proxy.log" 2>&1 &
proxy=$!
at_exit 'kill "$proxy" 2>/dev/null'
at_exit 'psql -q "$admin_url" -c "DROP DATABASE IF EXISTS ${dbname} WITH (FORCE)" >/dev/null 2>&1'
for _ in $(seq 1 50); do grep -q up "$work/proxy.log" 2>/dev/null && break; sleep 0.1; done
db_url="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p._replace(netloc=p.netloc.rsplit(":", 1)[0] + ":" + sys.argv[2], path="/" + sys.argv[3]).geturl())' "$admin_url" "$proxy_port" "$dbname")"

psql -q "$admin_url" -c "CREATE DATABASE ${dbname}" >/dev/null
env -i PATH="$PATH" DATABASE_URL="$db_url" PORT="$port" DB_POOL_TIMEOUT_SECONDS=2 \
    "$bin" >"$work/log" 2>&1 &
pid=$!
wait_started "$base/ready" "$pid" || fail "service did not start"
reg="$(curl -s -X POST "$base/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"u","email":"u@test.com","password":"pw"}')"
token="$(json_field "$reg" auth_token)"
[ -n "$token" ] || fail "register: $reg"

# Load: four clients hitting database routes until told to stop.
load() {
    while [ ! -f "$work/stop" ]; do
        curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 15 \
            -H "Authorization: Bearer $token" "$base/auth/status" >>"$work/load.$1" || echo "000 15" >>"$work/load.$1"
    done
}
loaders=()
for i in 1 2 3 4; do load "$i" & loaders+=($!); done
sleep 1

echo "taking the database proxy down under load" >&2
kill -USR1 "$proxy"
sleep 1
for path in /users /users/1 /auth/status /ready; do
    out="$(curl -s -w '\n%{http_code} %{time_total}' --max-time 15 -H "Authorization: Bearer $token" "$base$path")"
    body="$(echo "$out" | head -n 1)"; read -r code secs < <(echo "$out" | tail -n 1)
    [ "$code" = 503 ] || fail "$path during the outage: $code $body"
    [ "$body" = '{"message":"Service unavailable. Try again later.","status":"error"}' ] ||
        fail "$path body during the outage: $body"
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 10 else 1)" "$secs" || fail "$path took ${secs}s"
    echo "ok: $path -> 503 JSON in ${secs}s"
done
for path in /health /ping; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base$path")"
    [ "$code" = 200 ] || fail "$path during the outage: $code"
done
# 2,000 concurrent requests during the outage: every one a 503, none waiting longer than
# the pool timeout (2 s here) plus the time to be served.
burst="$(scripts/burst.py "$port" /users 2000)"
echo "burst of 2000 during the outage: $burst"
case "$burst" in
    "statuses={'503': 2000} "*) ;;
    *) fail "the burst during the outage: $burst" ;;
esac
python3 -c "import sys; m = float(sys.argv[1].rsplit('max=', 1)[1].rstrip('s')); sys.exit(0 if m < 10 else 1)" "$burst" ||
    fail "a request of the burst waited longer than 10 s: $burst"
sleep 1

echo "bringing the database proxy back" >&2
kill -USR2 "$proxy"
wait_ready "$base/ready" 300 || fail "/ready did not come back"
touch "$work/stop"
wait "${loaders[@]}"
code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/auth/status")"
[ "$code" = 200 ] || fail "/auth/status after the outage: $code"
kill -0 "$pid" || fail "the service died"

codes="$(cat "$work"/load.* | cut -d' ' -f1 | sort | uniq -c | tr '\n' ' ')"
echo "load during the outage, by status: $codes"
if cut -d' ' -f1 "$work"/load.* | grep -qvE '^(200|503)$'; then
    fail "a load request got something else than 200 or 503: $codes"
fi
grep -q '^503' "$work"/load.* || fail "the load never saw the outage"
echo "outage: 503 JSON during the outage, recovered without a restart"
