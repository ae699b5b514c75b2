#!/usr/bin/env bash
# The Python verifier client (clients/python, package users-service-verifier): its pytest
# suite against the release binary (the tests' fixtures start and stop users-api serve on
# fresh SQLite files, and a TCP proxy for the feed outage), then a throughput figure:
# offline verifications per second against GET /auth/status calls per second (printed, not
# asserted). The package goes into a virtualenv under target/verifier-venv (made once,
# reused; reinstalled when clients/python/pyproject.toml changes).
#
# USERS_API_BIN: the users-api binary to test; unset, the release binary is built first
# (cargo build --release -p users-api), as the other scripts do.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

if [ -z "${USERS_API_BIN:-}" ]; then
    cargo build --release -p users-api --quiet
    USERS_API_BIN="$PWD/target/release/users-api"
fi
[ -x "$USERS_API_BIN" ] || { echo "verifier-python: no binary at $USERS_API_BIN" >&2; exit 1; }
export USERS_API_BIN

venv="target/verifier-venv"
python="$venv/bin/python"
stamp="$venv/.users-verifier-installed"
want="$(sha256sum clients/python/pyproject.toml | cut -d' ' -f1) $PWD"
if [ ! -x "$python" ]; then
    echo "verifier-python: creating $venv"
    python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] ||
    ! "$python" -c 'import users_verifier, pytest, flask' 2>/dev/null; then
    echo "verifier-python: installing clients/python[test] into $venv"
    "$python" -m pip install --quiet --disable-pip-version-check -e 'clients/python[test]'
    echo "$want" >"$stamp"
fi

"$python" -m pytest -q -p no:cacheprovider clients/python/tests

"$python" clients/python/tests/throughput.py 2
echo "verifier-python: done in $((SECONDS - started)) s"
