#!/usr/bin/env bash
# Graceful shutdown: SIGTERM, then SIGINT, while requests are in flight. Every request in
# flight completes with its normal answer, the process exits 0, and new connections are
# refused afterwards. A long poll of the revocation feed (wait=30) in flight answers at once
# with an empty page instead of holding the stop for its 30 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# Both stop signals, each on a fresh service.
if [ -z "${SHUTDOWN_SIGNAL:-}" ]; then
    for signal in TERM INT; do
        SHUTDOWN_SIGNAL="$signal" "$PWD/scripts/shutdown.sh" || exit 1
    done
    exit 0
fi

script_init shutdown

# A deliberately slow hash (about a second), so that logins are in flight when the signal lands.
feed_token="shutdown-feed-token-0123456789abcdef"
env -i PATH="$PATH" DATABASE_URL="$work/db.sqlite" PORT="$port" WORKERS=2 \
    ARGON2_MEMORY_KIB=65536 ARGON2_ITERATIONS=12 REVOCATION_FEED_TOKEN="$feed_token" \
    "$bin" >"$work/log" 2>&1 &
pid=$!
wait_started "$base/health" "$pid" || fail "service did not start"

curl -fs -o /dev/null -X POST "$base/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"u","email":"u@test.com","password":"pw"}' || fail "register"

# The long poll: no events after the current end, so it waits (up to 30 s) for one. Its
# 20 s limit only catches a stop that waited for it.
curl -s -o "$work/feed.out" -w '%{http_code}' --max-time 20 \
    -H "Authorization: Bearer $feed_token" "$base/auth/revocations?wait=30&after=1000000" \
    >"$work/feed.code" &
n=6
for i in $(seq 1 "$n"); do
    curl -s -o "$work/out.$i" -w '%{http_code}' --max-time 60 -X POST "$base/auth/login" \
        -H 'Content-Type: application/json' -d '{"email":"u@test.com","password":"pw"}' \
        >"$work/code.$i" &
done
# Every request on an established connection first (a fixed sleep alone raced with curl's
# start on a loaded machine), then half a second so that the workers have read them.
for _ in $(seq 1 100); do
    established="$(ss -Htn state established "( sport = :${port} )" | wc -l)"
    [ "$established" -ge $((n + 1)) ] && break
    sleep 0.05
done
[ "$established" -ge $((n + 1)) ] || fail "only $established of $((n + 1)) connections established"
sleep 0.5
kill -"$SHUTDOWN_SIGNAL" "$pid"
wait_start=$(date +%s)
rc=0
wait "$pid" || rc=$?
pid=""
wait # the curls
echo "service exited with $rc after $(( $(date +%s) - wait_start )) s"
[ "$rc" = 0 ] || fail "exit code $rc"
for i in $(seq 1 "$n"); do
    code="$(cat "$work/code.$i")"
    [ "$code" = 200 ] || fail "request $i in flight got $code: $(cat "$work/out.$i")"
    grep -q '"Successfully logged in."' "$work/out.$i" || fail "request $i body"
done
feed_code="$(cat "$work/feed.code")"
[ "$feed_code" = 200 ] || fail "the feed's long poll got ${feed_code} (000: it was held until curl gave up)"
python3 -c 'import json, sys
page = json.load(open(sys.argv[1]))["data"]
assert page["events"] == [] and page["next"] == 1000000, page' "$work/feed.out" ||
    fail "the feed's long poll answer: $(cat "$work/feed.out")"
if curl -s -o /dev/null --max-time 2 "$base/ping"; then
    fail "still accepting after shutdown"
fi
echo "shutdown: SIG${SHUTDOWN_SIGNAL}: ${n} requests in flight all completed (200), the feed's long poll answered an empty page, exit 0, no new connections"
