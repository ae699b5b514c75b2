#!/usr/bin/env bash
# The whole test suite. SQLite is always tested; PostgreSQL too when it can be started here
# (scripts/ci-postgres.sh installs and starts it; it needs root or sudo). Set
# REQUIRE_POSTGRES=1 (as .ci/run does) to fail instead of skipping PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_TEST_URL:-}" ] || [[ "${DATABASE_TEST_URL}" != postgres* ]]; then
    if pg_env="$(scripts/ci-postgres.sh)"; then
        eval "$pg_env"
    elif [ "${REQUIRE_POSTGRES:-0}" = 1 ]; then
        echo "test.sh: PostgreSQL could not be started and REQUIRE_POSTGRES=1" >&2
        exit 1
    else
        echo "test.sh: PostgreSQL unavailable; testing SQLite only" >&2
        unset DATABASE_TEST_URL
    fi
fi
export DATABASE_TEST_URL

backends="sqlite"
[[ "${DATABASE_TEST_URL:-}" == postgres* ]] && backends="sqlite postgres"
echo "test.sh: backends under test: ${backends}" >&2

cargo test --workspace --all-targets
cargo test --workspace --doc
# The patched jsonwebtoken (not a workspace member): its own tests and the patch's.
cargo test --manifest-path patches/jsonwebtoken/Cargo.toml --features rust_crypto --locked \
    --target-dir target/jsonwebtoken-patch
echo "test.sh: all tests passed on: ${backends}" >&2
