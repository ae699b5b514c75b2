#!/usr/bin/env bash
# Schemathesis against the live service: start the release binary on a free port with a
# fresh SQLite file, then let schemathesis generate requests from GET /openapi.json and
# check every response: no 5xx, the documented status codes, content types, headers and
# body schemas. Five passes:
#   1. anonymous, every operation (401/403 paths, public routes, register, login);
#   2. as an admin, every operation but the ones that can end the admin's session
#      (the admin API's success paths), then PATCH and DELETE with a fresh admin token;
#   3. as an ordinary user, status and password change, then logout and logout/all with a
#      fresh token.
# Exits non-zero on any failure.
#
# Environment: SCHEMATHESIS_EXAMPLES (per operation and pass, default 40),
# SCHEMATHESIS_SEED (default fixed, so CI is reproducible; set another to explore),
# SCHEMATHESIS_DATABASE_URL (default: a fresh SQLite file; a PostgreSQL URL to a fresh,
# empty database runs the same passes there).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
root="$PWD"

SCHEMATHESIS_VERSION="4.32.5"
examples="${SCHEMATHESIS_EXAMPLES:-40}"
seed="${SCHEMATHESIS_SEED:-20240601}"

script_init schemathesis

venv="$root/target/schemathesis-venv"
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "schemathesis: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
st="$venv/bin/st"

database="${SCHEMATHESIS_DATABASE_URL:-$work/schemathesis.db}"

service_env=(env -i PATH="$PATH" APP_ENV=development DATABASE_URL="$database" PORT="$port")
"${service_env[@]}" RUST_LOG=warn "$bin" serve >"$work/log" 2>&1 &
pid=$!
wait_started "$base/ready" "$pid" || fail "service did not start"

# An admin (from the CLI, as an operator would) and an ordinary user, with their tokens.
printf 'admin-password\n' | "${service_env[@]}" "$bin" create-user \
    --username st-admin --email st-admin@example.com --admin >/dev/null
login() { # email password -> access token
    curl -fs -H 'Content-Type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$2\"}" "$base/auth/login" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["auth_token"])'
}
curl -fs -o /dev/null -H 'Content-Type: application/json' \
    -d '{"username":"st-user","email":"st-user@example.com","password":"user-password"}' \
    "$base/auth/register" || fail "registration of the ordinary user"
admin_token="$(login st-admin@example.com admin-password)" || fail "admin login"
user_token="$(login st-user@example.com user-password)" || fail "user login"

checks="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"
failed=0
pass() { # name, then extra st arguments
    local name="$1"
    shift
    echo
    echo "=== schemathesis pass: $name ==="
    if ! (cd "$work" && "$st" run "$base/openapi.json" \
        --checks "$checks" \
        --max-examples "$examples" \
        --seed "$seed" \
        --workers 1 \
        --generation-database none \
        --no-color \
        "$@"); then
        failed=1
        echo "schemathesis: pass '$name' FAILED" >&2
    fi
}

# Operations that end the caller's session (or its rights) run in passes of their own, last,
# with a fresh token, so that the passes before them test with a token that stays valid.
pass anonymous
pass admin -H "Authorization: Bearer $admin_token" \
    --exclude-method PATCH --exclude-method DELETE \
    --exclude-path /auth/password --exclude-path /auth/logout --exclude-path /auth/logout/all
pass admin-writes -H "Authorization: Bearer $(login st-admin@example.com admin-password)" \
    --include-method PATCH --include-method DELETE
pass user -H "Authorization: Bearer $user_token" \
    --include-path /auth/status --include-path /auth/password
pass user-logout -H "Authorization: Bearer $(login st-user@example.com user-password)" \
    --include-path /auth/logout --include-path /auth/logout/all

kill -0 "$pid" 2>/dev/null || fail "service died during the run"
if grep -q 'panicked' "$work/log"; then
    fail "a panic in the service log"
fi
[ "$failed" = 0 ] || fail "schemathesis found failures (see above)"
echo
echo "schemathesis: all passes passed"
