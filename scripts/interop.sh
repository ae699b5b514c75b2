#!/usr/bin/env bash
# Interoperability of our tokens with PyJWT, an implementation we did not write (issue 5):
# our EdDSA/ES256/RS256 tokens verify with PyJWT given only the JWKS, HS256 with the secret;
# PyJWT's tokens (a Flask-style HS256 token with an integer sub and no sid, and asymmetric
# tokens signed with our key) verify with our decoder, and forgeries are refused.
#
# PyJWT and cryptography go into a virtualenv under target/ (set INTEROP_PYTHON to use a
# Python that already has them). AUTH_TOKEN_FEATURES=aws_lc_rs checks the other backend.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
script_name=interop

target_dir="${CARGO_TARGET_DIR:-target}"
python="${INTEROP_PYTHON:-}"
if [ -z "$python" ]; then
    venv="$target_dir/interop-venv"
    python="$venv/bin/python"
    if ! "$python" -c 'import jwt, cryptography' 2>/dev/null; then
        echo "interop: installing PyJWT and cryptography into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$python" -m pip install --quiet --disable-pip-version-check 'pyjwt[crypto]>=2.8,<3'
    fi
fi

features=()
if [ -n "${AUTH_TOKEN_FEATURES:-}" ]; then
    features=(--no-default-features --features "$AUTH_TOKEN_FEATURES")
fi
# Build the example and find its path from cargo's own report.
binary="$(cargo build -q -p auth-token --example issue_tokens "${features[@]}" \
    --message-format=json-render-diagnostics |
    "$python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "issue_tokens":
        print(m["executable"])')"
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    fail "could not build the issue_tokens example"
fi
exec "$python" scripts/interop.py "$binary"
