#!/usr/bin/env bash
# Three instances on one PostgreSQL behind HAProxy (round robin, GET /ready checks), driven
# by scripts/cluster.py:
#   propagation   a revocation through instance 1 (logout, logout-all, password change,
#                 deactivation) is refused by instances 2 and 3 within 1 s, under load
#                 through HAProxy; 60 concurrent wrong passwords over the three instances
#                 get at most LOGIN_MAX_FAILURES_PER_ACCOUNT checks; the auth cache serves
#   kill          kill -9 of instance 2 under load: no more failures than requests it could
#                 have had in flight, none once HAProxy has marked it DOWN; a token is
#                 revoked while it is down
#   after-restart instance 2 restarted (same port): back UP in HAProxy, refuses the token
#                 revoked while it was down, accepts a valid one
# A fresh database (dropped at exit); the machine's PostgreSQL is never stopped. Loopback
# only. Prints a summary block for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

started_at=$(date +%s)
pg_env || { echo "cluster: FAIL: PostgreSQL could not be started" >&2; exit 1; }
script_init cluster

# fail MESSAGE: as lib.sh's, with the logs of the three instances and of HAProxy.
fail() {
    echo "cluster: FAIL: $*" >&2
    local f shown=""
    for f in "$work"/log1 "$work"/log2.before-kill "$work"/log2 "$work"/log3 "$work"/haproxy.log; do
        [ -s "$f" ] || continue
        echo "--- ${f##*/} (last 30 lines) ---" >&2
        tail -n 30 "$f" >&2
        shown=1
    done
    [ -n "$shown" ] || echo "(the instances' logs, at RUST_LOG=warn, and HAProxy's are empty)" >&2
    exit 1
}

if ! command -v haproxy >/dev/null 2>&1; then
    echo "cluster: installing haproxy" >&2
    [ "$(id -u)" -eq 0 ] || fail "haproxy is missing and this is not root (apt-get install -y haproxy)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >&2 ||
        { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >&2; } ||
        fail "could not install haproxy"
fi

admin_url="$DATABASE_TEST_URL"
dbname="users_cluster_$$_${RANDOM}"
db_url="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$admin_url" "$dbname")"
secret="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"   # 40 characters
admin_password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"

inst_pids=("" "" "" "")   # 1-based: inst_pids[i] is instance i
inst_ports=("" "$(free_port)" "$(free_port)" "$(free_port)")
proxy_port="$(free_port)"
haproxy_pid=""
db_created=""

cluster_cleanup() {
    if [ -n "$haproxy_pid" ]; then
        kill "$haproxy_pid" 2>/dev/null || true
        wait "$haproxy_pid" 2>/dev/null || true
    fi
    local i
    for i in 1 2 3; do
        if [ -n "${inst_pids[$i]}" ]; then
            kill "${inst_pids[$i]}" 2>/dev/null || true
            wait "${inst_pids[$i]}" 2>/dev/null || true
            # A pid this shell cannot wait for (disowned): until it is gone (30 s drain at most).
            for _ in $(seq 1 350); do kill -0 "${inst_pids[$i]}" 2>/dev/null || break; sleep 0.1; done
        fi
    done
    if [ -n "$db_created" ]; then
        psql -q "$admin_url" -c "DROP DATABASE IF EXISTS ${dbname} WITH (FORCE)" >/dev/null 2>&1 ||
            echo "cluster: could not drop database ${dbname}" >&2
    fi
}
at_exit cluster_cleanup

# The environment every instance (and the command line) runs with, as `env -i` arguments.
run_env=(PATH="$PATH" APP_ENV=development DATABASE_URL="$db_url" SECRET_KEY="$secret"
    WORKERS=2 LOGIN_MAX_FAILURES_PER_ACCOUNT=10 LOGIN_MAX_FAILURES_PER_ADDRESS=100000
    TRUSTED_PROXIES=127.0.0.1 RUST_LOG=warn)

# start_instance I: instance I on its port, log in $work/logI. A simple command, not a
# function, in the background: $! is then the service itself (env execs it), which the
# driver kill -9s; a backgrounded function would be a subshell, and killing it would orphan
# the service.
start_instance() {
    local i="$1"
    env -i "${run_env[@]}" PORT="${inst_ports[$i]}" "$bin" serve >>"$work/log$i" 2>&1 &
    inst_pids[i]=$!
}

psql -q "$admin_url" -v ON_ERROR_STOP=1 -c "CREATE DATABASE ${dbname}" >/dev/null ||
    fail "could not create database ${dbname}"
db_created=1
env -i "${run_env[@]}" "$bin" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; fail "migrate"; }
printf '%s\n' "$admin_password" |
    env -i "${run_env[@]}" "$bin" create-user --username admin --email admin@example.com --admin >"$work/admin.log" 2>&1 ||
    { cat "$work/admin.log" >&2; fail "create-user admin"; }

for i in 1 2 3; do start_instance "$i"; done
for i in 1 2 3; do
    wait_started "http://127.0.0.1:${inst_ports[$i]}/ready" "${inst_pids[$i]}" ||
        fail "instance $i did not start"
    # The pid the driver kill -9s must be the service's own.
    [ "$(ps -o comm= -p "${inst_pids[$i]}")" = users-api ] || fail "instance $i: pid ${inst_pids[$i]} is not the service"
done

cat >"$work/haproxy.cfg" <<EOF
global
    log stderr format raw local0 notice
    maxconn 4096
    stats socket $work/haproxy.sock level admin

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 35s
    timeout server 35s
    retries 2
    option redispatch
    retry-on conn-failure empty-response

frontend http
    bind 127.0.0.1:${proxy_port}
    option forwardfor
    default_backend users_api

backend users_api
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    server s1 127.0.0.1:${inst_ports[1]} check inter 200ms fall 2 rise 2
    server s2 127.0.0.1:${inst_ports[2]} check inter 200ms fall 2 rise 2
    server s3 127.0.0.1:${inst_ports[3]} check inter 200ms fall 2 rise 2
EOF
haproxy -c -q -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 || fail "haproxy -c"
haproxy -f "$work/haproxy.cfg" -db >>"$work/haproxy.log" 2>&1 &
haproxy_pid=$!

export CLUSTER_PORTS="${inst_ports[1]} ${inst_ports[2]} ${inst_ports[3]}"
export CLUSTER_PROXY_PORT="$proxy_port"
export CLUSTER_SOCKET="$work/haproxy.sock"
export CLUSTER_WORK="$work"
export CLUSTER_ADMIN_EMAIL=admin@example.com
export CLUSTER_ADMIN_PASSWORD="$admin_password"
export CLUSTER_SUMMARY="$work/summary"
: >"$CLUSTER_SUMMARY"

# driver TIMEOUT PHASE: one phase of scripts/cluster.py, bounded.
driver() {
    local limit="$1" phase="$2" rc=0
    CLUSTER_PID2="${inst_pids[2]}" timeout -k 5 "$limit" python3 scripts/cluster.py "$phase" || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then fail "phase $phase took longer than ${limit} s"; fi
    [ "$rc" = 0 ] || fail "phase $phase (exit $rc)"
}

driver 15 wait-up
kill -0 "$haproxy_pid" 2>/dev/null || fail "haproxy exited"
driver 90 propagation
# The driver kill -9s instance 2: not a job of this shell any more, so that bash does not
# report it as "Killed".
disown "${inst_pids[2]}"
driver 30 kill
if kill -0 "${inst_pids[2]}" 2>/dev/null; then fail "instance 2 still runs after kill -9"; fi
mv "$work/log2" "$work/log2.before-kill"
echo "restarting instance 2 on port ${inst_ports[2]}"
start_instance 2
wait_started "http://127.0.0.1:${inst_ports[2]}/ready" "${inst_pids[2]}" || fail "instance 2 did not restart"
[ "$(ps -o comm= -p "${inst_pids[2]}")" = users-api ] || fail "instance 2: pid ${inst_pids[2]} is not the service"
driver 30 after-restart
for i in 1 2 3; do kill -0 "${inst_pids[$i]}" 2>/dev/null || fail "instance $i died"; done
kill -0 "$haproxy_pid" 2>/dev/null || fail "haproxy exited"

# Throughput of GET /auth/status through HAProxy (three instances) against one instance
# alone, with wrk on the same two cores: a figure for BENCHMARKS.md, not a check.
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >&2 || true; else sudo apt-get install -y -qq wrk >&2 || true; fi
fi
if command -v wrk >/dev/null 2>&1; then
    token="$(curl -fs -H 'Content-Type: application/json' \
        -d '{"username":"wrk","email":"wrk@example.com","password":"wrk-password"}' \
        "http://127.0.0.1:${inst_ports[1]}/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["auth_token"])')" ||
        fail "registering the throughput user"
    rps() { # URL -> requests/s of a 5 s wrk -t2 -c32 run
        wrk -t2 -c32 -d5s -H "Authorization: Bearer $token" "$1" | awk '/^Requests\/sec/ {print $2}'
    }
    one="$(rps "http://127.0.0.1:${inst_ports[1]}/auth/status")"
    three="$(rps "http://127.0.0.1:${proxy_port}/auth/status")"
    python3 - "$one" "$three" >>"$CLUSTER_SUMMARY" <<'PY'
import sys
one, three = float(sys.argv[1]), float(sys.argv[2])
print(f"cluster: GET /auth/status, wrk -t2 -c32 5 s: one instance alone {one:.0f} req/s; "
      f"three through HAProxy {three:.0f} req/s ({three / one:.2f}x); wrk, HAProxy and the "
      f"instances share the same 2 cores")
PY
fi

# What the instances and HAProxy logged (RUST_LOG=warn; HAProxy: notice and above).
for f in "$work"/log1 "$work"/log2.before-kill "$work"/log2 "$work"/log3 "$work"/haproxy.log; do
    n="$(wc -l <"$f")"
    echo "${f##*/}: ${n} lines"
    [ "$n" = 0 ] || tail -n 5 "$f" | cut -c1-300 | sed 's/^/    /'
done

echo
echo "--- summary ($(nproc) cores, 3 instances x WORKERS=2, one PostgreSQL, HAProxy $(haproxy -v | head -n 1 | cut -d' ' -f3)) ---"
cat "$CLUSTER_SUMMARY"
echo "cluster: all checks passed in $(( $(date +%s) - started_at )) s"
