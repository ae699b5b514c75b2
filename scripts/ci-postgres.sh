#!/usr/bin/env bash
# Ensures a local PostgreSQL is installed and running, with a role `users` (password
# `users`, CREATEDB) for the test suites, then prints on stdout the one line to eval:
#
#   pg_env="$(scripts/ci-postgres.sh)" && eval "$pg_env"    # sets DATABASE_TEST_URL
#
# (not `eval "$(scripts/ci-postgres.sh)"`: eval of nothing succeeds, hiding a failure; the
# scripts use pg_env from scripts/lib.sh.)
# Idempotent: safe to run again while the cluster is up. Everything else goes to stderr.
# Runs as root (as CI does) or as a user allowed to `sudo -u postgres`.
set -euo pipefail

PG_USER="${PG_USER:-users}"
PG_PASSWORD="${PG_PASSWORD:-users}"
PG_HOST="${PG_HOST:-127.0.0.1}"

log() { printf 'ci-postgres: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        sudo -u postgres "$@"
    fi
}

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v pg_lsclusters >/dev/null 2>&1; then
    log "installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >&2
    as_root apt-get install -y -qq postgresql >&2
fi

# The first cluster listed (Debian's packages create `<version> main`).
read -r PG_VERSION PG_CLUSTER PG_PORT PG_STATUS _ < <(pg_lsclusters --no-header | head -n 1) || true
if [ -z "${PG_VERSION:-}" ]; then
    PG_VERSION="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
    PG_CLUSTER=main
    log "creating cluster ${PG_VERSION}/${PG_CLUSTER}"
    as_root pg_createcluster "$PG_VERSION" "$PG_CLUSTER" >&2
    read -r PG_VERSION PG_CLUSTER PG_PORT PG_STATUS _ < <(pg_lsclusters --no-header | head -n 1)
fi

if [ "$PG_STATUS" != "online" ]; then
    log "starting cluster ${PG_VERSION}/${PG_CLUSTER} on port ${PG_PORT}"
    as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >&2
fi

for _ in $(seq 1 60); do
    if as_postgres psql -p "$PG_PORT" -qAtc 'SELECT 1' >/dev/null 2>&1; then
        break
    fi
    sleep 0.5
done
as_postgres psql -p "$PG_PORT" -qAtc 'SELECT 1' >/dev/null

log "ensuring role ${PG_USER} (LOGIN CREATEDB)"
as_postgres psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt >&2 <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${PG_USER}') THEN
        CREATE ROLE "${PG_USER}" LOGIN CREATEDB PASSWORD '${PG_PASSWORD}';
    ELSE
        ALTER ROLE "${PG_USER}" LOGIN CREATEDB PASSWORD '${PG_PASSWORD}';
    END IF;
END
\$\$;
SQL

URL="postgres://${PG_USER}:${PG_PASSWORD}@${PG_HOST}:${PG_PORT}/postgres"
if ! PGPASSWORD="$PG_PASSWORD" psql "$URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    log "cannot log in as ${PG_USER} over TCP at ${PG_HOST}:${PG_PORT}"
    exit 1
fi
log "ready: ${PG_VERSION}/${PG_CLUSTER} on ${PG_HOST}:${PG_PORT}"
printf 'export DATABASE_TEST_URL=%q\n' "$URL"
