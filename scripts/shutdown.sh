#!/usr/bin/env bash
# Graceful shutdown: SIGTERM, then SIGINT, while requests are in flight. Every request in
# flight completes with its normal answer, the process exits 0, and new connections are
# refused afterwards.
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
env -i PATH="$PATH" DATABASE_URL="$work/db.sqlite" PORT="$port" WORKERS=2 \
    ARGON2_MEMORY_KIB=65536 ARGON2_ITERATIONS=12 \
    "$bin" >"$work/log" 2>&1 &
pid=$!
wait_started "$base/health" "$pid" || fail "service did not start"

curl -fs -o /dev/null -X POST "$base/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"u","email":"u@test.com","password":"pw"}' || fail "register"

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
    [ "$established" -ge "$n" ] && break
    sleep 0.05
done
[ "$established" -ge "$n" ] || fail "only $established of $n connections established"
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
if curl -s -o /dev/null --max-time 2 "$base/ping"; then
    fail "still accepting after shutdown"
fi
echo "shutdown: SIG${SHUTDOWN_SIGNAL}: ${n} requests in flight all completed (200), exit 0, no new connections"
