#!/usr/bin/env bash
# Database outage on PostgreSQL: stop the server under load; every request that needs the
# database gets a 503 JSON answer within the pool timeout (no hang, no 500); start it again
# and the same process serves again, without a restart.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

pg_env || { echo "outage: FAIL: PostgreSQL could not be started" >&2; exit 1; }
read -r pg_version pg_cluster _ < <(pg_lsclusters --no-header | head -n 1)
script_init outage

dbname="users_outage_$$"
admin_url="${DATABASE_TEST_URL}"
db_url="${admin_url%/*}/${dbname}"
pg_start() { pg_ctlcluster "$pg_version" "$pg_cluster" start >&2; }
at_exit 'pg_start 2>/dev/null'
at_exit 'psql -q "$admin_url" -c "DROP DATABASE IF EXISTS ${dbname} WITH (FORCE)" >/dev/null 2>&1'

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

echo "stopping PostgreSQL ${pg_version}/${pg_cluster} under load" >&2
pg_ctlcluster "$pg_version" "$pg_cluster" stop -m fast >&2
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
sleep 2

echo "starting PostgreSQL again" >&2
pg_start
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
