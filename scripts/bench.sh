#!/usr/bin/env bash
# HTTP benchmark of the release binary with wrk on loopback, on a fresh database.
#
#   scripts/bench.sh [sqlite|postgres|all]     (default: sqlite)
#
# For each backend: start the service in the production profile (OWASP argon2id cost,
# RUST_LOG=warn so that the per-request log line is not measured), register a user, then
# drive GET /ping and GET /auth/status (three interleaved pairs), POST /auth/refresh,
# GET /users/{id}, GET /users?limit=100 and
# POST /auth/login; measure /ping latency while logins saturate the CPU and peak RSS with 256
# open connections; then grow the users table to BENCH_USERS rows (bulk SQL) and measure the
# first page, a page deep in the table, and a prefix search. Prints requests/s, p50/p99 and
# peak RSS for each run, the targets of BENCHMARKS.md as measured vs target, and the ratios
# to the Flask service's figures; writes the same as Markdown to $BENCH_OUT/<backend>.md.
#
# Environment: BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (closed-loop runs,
# default 32), BENCH_THREADS (wrk threads of the closed-loop runs, default 2), BENCH_WORKERS
# (the service's WORKERS, default 2), BENCH_USERS (default 1000000; 0 skips the big-table
# runs), BENCH_OUT (default target/bench).
# PostgreSQL comes from scripts/ci-postgres.sh (installed and started when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
. scripts/lib.sh

backends="${1:-sqlite}"
[ "$backends" = all ] && backends="sqlite postgres"
seconds="${BENCH_SECONDS:-10}"
conns="${BENCH_CONNECTIONS:-32}"
threads="${BENCH_THREADS:-2}"
workers="${BENCH_WORKERS:-2}"
million="${BENCH_USERS:-1000000}"
out="${BENCH_OUT:-$root/target/bench}"
cores="$(nproc)"
# Figures of the Flask service from the course on one of these 2-core machines (gunicorn,
# 2 workers, SQLite), as given in the performance issue.
flask_ping=3000
flask_status=530

if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >&2; else sudo apt-get install -y -qq wrk >&2; fi
fi
script_init bench
mkdir -p "$out"

pg_admin_url=""
pg_db=""
at_exit '[ -z "$pg_db" ] || psql -q "$pg_admin_url" -c "DROP DATABASE IF EXISTS ${pg_db} WITH (FORCE)" >/dev/null 2>&1'

db_url=""
start_service() {
    env -i PATH="$PATH" APP_ENV=production DATABASE_URL="$db_url" PORT="$port" WORKERS="$workers" \
        SECRET_KEY="bench-secret-0123456789abcdef0123456789" RUST_LOG=warn \
        "$bin" serve >>"$work/log" 2>&1 &
    pid=$!
    wait_started "$base/ready" "$pid" 300 || fail "service did not start"
}
# Peak RSS since the last reset, in KiB (writing 5 to clear_refs resets VmHWM).
rss_reset() { echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; }
rss_peak() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }

# wrk_run NAME SCRIPTS WRK-ARGS...: one wrk run; SCRIPTS is a space-separated list of Lua
# files after report.lua. Appends "name requests rps p50us p99us rsskib" to $results.
wrk_run() {
    local name="$1" scripts="$2"
    shift 2
    cat scripts/wrk/report.lua $scripts >"$work/$name.lua"
    rss_reset
    wrk --latency -s "$work/$name.lua" "$@" >"$work/$name.out" 2>&1 || fail "wrk $name: $(cat "$work/$name.out")"
    local line
    line="$(grep '^RESULT ' "$work/$name.out")" || fail "wrk $name printed no result: $(cat "$work/$name.out")"
    read -r _ n rps p50 p99 bad sockerr <<<"$line"
    [ "$bad" = 0 ] || fail "$name: $bad responses were not 2xx"
    [ "$sockerr" = 0 ] || echo "bench: $name: $sockerr socket errors" >&2
    echo "$name $n $rps $p50 $p99 $(rss_peak)" >>"$results"
    awk -v n="$name" -v r="$rps" -v a="$p50" -v b="$p99" -v m="$(rss_peak)" 'BEGIN {
        printf "%-22s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  peak RSS %6.1f MiB\n", n, r, a / 1000, b / 1000, m / 1024 }'
}

# hash_stats: "<count> <sum seconds>" of password verifications, from /metrics.
hash_stats() {
    curl -fs "$base/metrics" | python3 -c '
import sys
count = total = 0.0
for line in sys.stdin:
    if line.startswith("password_hash_duration_seconds_count{") and "verify" in line:
        count = float(line.split()[-1])
    if line.startswith("password_hash_duration_seconds_sum{") and "verify" in line:
        total = float(line.split()[-1])
print(count, total)'
}

# sql STATEMENT: run SQL on the bench database, either backend.
sql() {
    case "$backend" in
        sqlite) python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()' "$db_url" "$1" ;;
        postgres) psql -q -v ON_ERROR_STOP=1 "$db_url" -c "$1" >/dev/null ;;
    esac
}

bench_backend() {
    backend="$1"
    results="$work/results.$backend"
    : >"$results"
    case "$backend" in
        sqlite) db_url="$work/bench.db" ;;
        postgres)
            pg_env || fail "PostgreSQL could not be started"
            pg_admin_url="$DATABASE_TEST_URL"
            pg_db="users_bench_$$"
            psql -q "$pg_admin_url" -c "DROP DATABASE IF EXISTS ${pg_db} WITH (FORCE)" >/dev/null
            psql -q "$pg_admin_url" -c "CREATE DATABASE ${pg_db}" >/dev/null
            db_url="${pg_admin_url%/*}/${pg_db}"
            ;;
        *) fail "unknown backend $backend (sqlite, postgres or all)" ;;
    esac
    echo
    echo "=== $backend: $cores cores, $seconds s per run, $conns connections, wrk $(wrk --version 2>&1 | head -n 1 | awk '{print $2}') ==="
    start_service

    local body='{"username":"bench","email":"bench@example.com","password":"bench-password"}'
    local reg token id
    reg="$(curl -fs -H 'Content-Type: application/json' -d "$body" "$base/auth/register")" || fail "register"
    token="$(json_field "$reg" auth_token)"
    id="$(curl -fs -H "Authorization: Bearer $token" "$base/auth/status" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')"
    # 99 more, so that a page of 100 is full.
    seq 1 99 | xargs -P "$cores" -I{} curl -fs -o /dev/null -H 'Content-Type: application/json' \
        -d '{"username":"u{}","email":"u{}@example.com","password":"bench-password"}' "$base/auth/register" ||
        fail "registering the page's users"

    local w=(-t"$threads" -c"$conns" -d"${seconds}s")
    # Three interleaved pairs: /ping moves most with the host's noise, so the ratio and the
    # tail are taken as the median of three pairs rather than from one.
    local pair
    for pair in "" _2 _3; do
        wrk_run "ping$pair" "" "${w[@]}" "$base/ping"
        wrk_run "status$pair" "" "${w[@]}" -H "Authorization: Bearer $token" "$base/auth/status"
    done
    # Refresh rotation: 64 sessions, each request with the latest token of one of them.
    local i
    : >"$work/refresh-tokens"
    for i in $(seq 1 64); do
        json_field "$(curl -fs -H 'Content-Type: application/json' \
            -d '{"email":"bench@example.com","password":"bench-password"}' "$base/auth/login")" \
            refresh_token >>"$work/refresh-tokens" || fail "login for the refresh run"
    done
    BENCH_THREADS="$threads" BENCH_REFRESH_TOKENS="$work/refresh-tokens" \
        wrk_run refresh scripts/wrk/refresh.lua "${w[@]}" "$base/auth/refresh"
    wrk_run user_by_id "" "${w[@]}" "$base/users/$id"
    wrk_run users_page_100 "" "${w[@]}" "$base/users?limit=100"

    # One login at a time: the time of one verification, as the service measures it.
    local before after
    before="$(hash_stats)"
    BENCH_LOGIN_BODY='{"email":"bench@example.com","password":"bench-password"}' \
        wrk_run login_sequential scripts/wrk/login.lua -t1 -c1 -d5s "$base/auth/login"
    after="$(hash_stats)"
    hash_ms="$(python3 -c 'import sys
b = [float(x) for x in sys.argv[1].split()]; a = [float(x) for x in sys.argv[2].split()]
print((a[1] - b[1]) / (a[0] - b[0]) * 1000)' "$before" "$after")"
    printf '%-22s %9.2f ms per argon2id verification (m=19456 KiB, t=2, p=1)\n' hash_time "$hash_ms"

    BENCH_LOGIN_BODY='{"email":"bench@example.com","password":"bench-password"}' \
        wrk_run login_saturated scripts/wrk/login.lua -t1 -c$((4 * cores)) -d"${seconds}s" "$base/auth/login"

    # /ping at a steady 4 x 200 requests/s while logins keep every core busy hashing.
    BENCH_LOGIN_BODY='{"email":"bench@example.com","password":"bench-password"}' \
        wrk -t1 -c$((4 * cores)) -d$((seconds + 3))s -s scripts/wrk/login.lua "$base/auth/login" >"$work/bg-login.out" 2>&1 &
    local bg=$!
    sleep 1
    BENCH_DELAY_MS=5 wrk_run ping_during_logins scripts/wrk/paced.lua -t1 -c4 -d"${seconds}s" "$base/ping"
    wait "$bg" || true
    BENCH_DELAY_MS=5 wrk_run ping_paced_idle scripts/wrk/paced.lua -t1 -c4 -d"${seconds}s" "$base/ping"

    # Peak RSS over a run with 256 open connections (reset first: argon2's 19 MiB blocks of
    # the login runs are not part of it; the next line reports the whole process's peak).
    wrk_run status_256_conns "" -t1 -c256 -d"${seconds}s" -H "Authorization: Bearer $token" "$base/auth/status"

    if [ "$million" = 0 ]; then
        stop_service
        report "$backend" | tee "$out/$backend.md"
        return
    fi
    # A big table: BENCH_USERS rows in all, inserted by SQL with the bench user's hash.
    stop_service
    local rows=$((million - 100))
    echo "seeding $rows users" >&2
    local started=$SECONDS
    case "$backend" in
        sqlite) sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
            INSERT INTO users (username, email, password, active, admin, created_at)
            SELECT 'seed' || i, 'seed' || i || '@example.com',
                   (SELECT password FROM users WHERE username = 'bench'), 1, 0,
                   datetime('2026-01-01 00:00:00', '+' || i || ' seconds') FROM n;" ;;
        postgres) sql "INSERT INTO users (username, email, password, active, admin, created_at)
            SELECT 'seed' || i, 'seed' || i || '@example.com',
                   (SELECT password FROM users WHERE username = 'bench'), true, false,
                   timestamp '2026-01-01 00:00:00' + i * interval '1 second'
            FROM generate_series(1, $rows) AS i; ANALYZE users;" ;;
    esac
    echo "seeded in $((SECONDS - started)) s" >&2
    start_service
    # The same 256 connections on a process that has not hashed yet: the footprint of the
    # connections and the database, without the hashing threads' argon2 buffers.
    wrk_run status_256_conns_fresh "" -t1 -c256 -d"${seconds}s" -H "Authorization: Bearer $token" "$base/auth/status"
    # A cursor 10,000 rows deep, by following `next`.
    local cursor="" page
    for _ in $(seq 1 10); do
        page="$(curl -fs "$base/users?limit=1000${cursor:+&after=$cursor}")"
        cursor="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["next"])' <<<"$page")"
    done
    wrk_run page_1m_first "" "${w[@]}" "$base/users?limit=100"
    wrk_run page_1m_deep "" "${w[@]}" "$base/users?limit=100&after=$cursor"
    BENCH_DELAY_MS=5 wrk_run page_1m_first_paced scripts/wrk/paced.lua -t1 -c2 -d"${seconds}s" "$base/users?limit=100"
    BENCH_DELAY_MS=5 wrk_run page_1m_deep_paced scripts/wrk/paced.lua -t1 -c2 -d"${seconds}s" "$base/users?limit=100&after=$cursor"
    # 11 matches (seed12345, seed123450..9): fewer than a page, so the whole table is read.
    wrk_run search_1m_rare "" -t1 -c2 -d"${seconds}s" "$base/users?limit=100&q=seed12345"
    wrk_run search_1m_common "" -t1 -c2 -d"${seconds}s" "$base/users?limit=100&q=seed9"
    stop_service

    report "$backend" | tee "$out/$backend.md"
}

# report BACKEND: the targets and ratios, as Markdown.
report() {
    python3 - "$1" "$results" "$hash_ms" "$cores" "$flask_ping" "$flask_status" "$seconds" "$conns" "$million" "$threads" "$workers" <<'PY'
import sys
backend, path, hash_ms, cores, flask_ping, flask_status, seconds, conns, million, threads, workers = sys.argv[1:]
hash_ms, cores = float(hash_ms), int(cores)
r = {}
for line in open(path):
    name, n, rps, p50, p99, rss = line.split()
    r[name] = dict(n=int(n), rps=float(rps), p50=int(p50) / 1000, p99=int(p99) / 1000, rss=int(rss) / 1024)
print(f"### {backend}\n")
print(f"{cores} cores, wrk -t{threads}, {seconds} s per run, {conns} connections unless noted; "
      f"WORKERS={workers}; production profile; {million} users for the `1m` rows.\n")
print("| run | requests/s | p50 ms | p99 ms | peak RSS MiB |")
print("|---|---:|---:|---:|---:|")
for name, v in r.items():
    print(f"| {name} | {v['rps']:.0f} | {v['p50']:.2f} | {v['p99']:.2f} | {v['rss']:.1f} |")
ceiling = cores / (hash_ms / 1000)
status_goal = 0.80 if backend == "sqlite" else 0.60
# The median of the three interleaved pairs, each pair's figure listed after it.
pairs = ["", "_2", "_3"]
median = lambda xs: sorted(xs)[len(xs) // 2]
ratios = [r["status" + p]["rps"] / r["ping" + p]["rps"] for p in pairs]
tails = [r["status" + p]["p99"] / r["status" + p]["p50"] for p in pairs]
ratio, tail = median(ratios), median(tails)
listed = lambda xs, fmt: " (" + ", ".join(fmt.format(x) for x in xs) + ")"
per_core = lambda name: r[name]["rps"] / cores
rows = [
    ("/auth/status rps / /ping rps, median of 3 pairs" + listed(ratios, "{:.2f}"), ratio, f">= {status_goal:.2f}", ratio >= status_goal, "{:.2f}"),
    ("/auth/status p99 / p50, median of 3 runs" + listed(tails, "{:.1f}"), tail, "<= 10", tail <= 10, "{:.1f}"),
    ("POST /auth/refresh req/s per core", per_core("refresh"), ">= 2000", per_core("refresh") >= 2000, "{:.0f}"),
    ("password logins req/s per core (OWASP argon2id; Keycloak publishes 15)", per_core("login_saturated"), "none set", True, "{:.1f}"),
    (f"login rps / (cores / {hash_ms:.1f} ms hash)", r["login_saturated"]["rps"] / ceiling, ">= 0.90", r["login_saturated"]["rps"] / ceiling >= 0.90, "{:.2f}"),
    ("/ping p99 while logins saturate the CPU, ms", r["ping_during_logins"]["p99"], "<= 5", r["ping_during_logins"]["p99"] <= 5, "{:.2f}"),
    ("peak RSS with 256 connections, after logins, MiB", r["status_256_conns"]["rss"], "<= 50", r["status_256_conns"]["rss"] <= 50, "{:.1f}"),
]
if "page_1m_first_paced" in r:
    rows += [
        (f"peak RSS with 256 connections, {million} users, no hash yet, MiB", r["status_256_conns_fresh"]["rss"], "<= 50", r["status_256_conns_fresh"]["rss"] <= 50, "{:.1f}"),
        ("GET /users first page p99 (1m users, paced), ms", r["page_1m_first_paced"]["p99"], "<= 5", r["page_1m_first_paced"]["p99"] <= 5, "{:.2f}"),
        ("GET /users deep page p99 (1m users, paced), ms", r["page_1m_deep_paced"]["p99"], "<= 5", r["page_1m_deep_paced"]["p99"] <= 5, "{:.2f}"),
    ]
print("\n| target | measured | target | met |")
print("|---|---:|---:|---|")
for name, value, target, ok, fmt in rows:
    print(f"| {name} | {fmt.format(value)} | {target} | {'yes' if ok else 'NO'} |")
print(f"\nAgainst the Flask service (gunicorn, 2 workers, SQLite, same kind of machine): "
      f"/ping {r['ping']['rps'] / int(flask_ping):.1f}x ({r['ping']['rps']:.0f} vs {flask_ping} req/s), "
      f"/auth/status {r['status']['rps'] / int(flask_status):.1f}x ({r['status']['rps']:.0f} vs {flask_status} req/s).")
PY
}

for b in $backends; do
    bench_backend "$b"
done
