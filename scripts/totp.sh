#!/usr/bin/env bash
# The second factor against an implementation we did not write: pyotp reads the
# `otpauth://` URI the service hands out (as an authenticator app would), and its codes
# confirm the enrolment and complete a two-step login of the release binary; a replayed
# code is refused. pyotp goes into a virtualenv under target/ (TOTP_PYTHON to use a Python
# that already has it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

script_init totp

python="${TOTP_PYTHON:-}"
if [ -z "$python" ]; then
    venv="target/totp-venv"
    python="$venv/bin/python"
    if ! "$python" -c 'import pyotp' 2>/dev/null; then
        echo "totp: installing pyotp into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$python" -m pip install --quiet --disable-pip-version-check 'pyotp>=2.9,<3'
    fi
fi

env -i PATH="$PATH" APP_ENV=development DATABASE_URL="$work/totp.db" PORT="$port" \
    RUST_LOG=info "$bin" serve >"$work/log" 2>&1 &
pid=$!
wait_started "$base/ping" "$pid" || fail "service did not start"

"$python" - "$base" <<'PY' || fail "the pyotp walk failed"
import json, sys, time, urllib.request, urllib.error
import pyotp

base = sys.argv[1]

def call(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def expect(got, status, message=None):
    code, body = got
    assert code == status, (code, body)
    if message is not None:
        assert body.get("message") == message, body
    return body

email, password = "ann@example.com", "correct horse battery"
token = expect(call("POST", "/auth/register",
                    {"username": "ann", "email": email, "password": password}), 201)["auth_token"]
data = expect(call("POST", "/auth/mfa/totp", {"password": password}, token), 200)["data"]
totp = pyotp.parse_uri(data["otpauth_uri"])
assert totp.secret == data["secret"], (totp.secret, data["secret"])
assert totp.digits == 6 and totp.interval == 30, data["otpauth_uri"]
assert totp.issuer == "users-service", totp.issuer
assert totp.name == email, totp.name
# Confirm with pyotp's code of the step before (one step of skew), so the current one is
# still unused for the login below. The steps are fixed up front, a few seconds clear of a
# step boundary, so that a boundary passing mid-walk cannot make "before" two steps old.
if time.time() % 30 > 25:
    time.sleep(30 - time.time() % 30 + 0.1)
step = int(time.time() // 30)
before = totp.at((step - 1) * 30)
body = expect(call("POST", "/auth/mfa/totp/confirm", {"code": before}, token), 200,
              "Two-factor authentication enabled.")
assert len(body["data"]["recovery_codes"]) == 10, body
mfa = expect(call("POST", "/auth/login", {"email": email, "password": password}), 200,
             "Second factor required.")["mfa_token"]
expect(call("POST", "/auth/login/mfa", {"mfa_token": mfa, "code": before}), 401, "Invalid code.")
code = totp.at(step * 30)
body = expect(call("POST", "/auth/login/mfa", {"mfa_token": mfa, "code": code}), 200,
              "Successfully logged in.")
expect(call("GET", "/auth/status", None, body["auth_token"]), 200)
mfa = expect(call("POST", "/auth/login", {"email": email, "password": password}), 200)["mfa_token"]
expect(call("POST", "/auth/login/mfa", {"mfa_token": mfa, "code": code}), 401, "Invalid code.")
print("totp: pyotp read the otpauth URI; its codes confirmed the factor and completed a "
      "two-step login; replays were refused")
PY
