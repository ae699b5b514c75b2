#!/usr/bin/env python3
"""Interoperability of auth-token with PyJWT, a JWT implementation we did not write.

Usage: interop.py ISSUE_TOKENS_BINARY   (see scripts/interop.sh)

1. Our tokens, every algorithm, verified by PyJWT given only the JWKS (or the secret for
   HS256): signature, alg, kid = RFC 7638 thumbprint (computed here), sub/iat/exp/sid/iss/aud.
2. PyJWT's tokens verified by ours: an HS256 token made the way the Flask service made them
   (integer sub, no sid), and EdDSA/ES256/RS256 tokens signed by PyJWT with our key, checked
   with our JwksVerifier and the JWKS alone. Forgeries must be refused.

Exits non-zero on any mismatch.
"""

import base64
import datetime
import hashlib
import json
import subprocess
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

FAILURES = []
CHECKS = 0


def check(condition, what):
    global CHECKS
    CHECKS += 1
    if condition:
        print(f"ok    {what}")
    else:
        print(f"FAIL  {what}")
        FAILURES.append(what)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk):
    """RFC 7638: SHA-256 of the required members, sorted, no whitespace."""
    required = {"OKP": ["crv", "kty", "x"], "EC": ["crv", "kty", "x", "y"], "RSA": ["e", "kty", "n"]}
    members = {k: jwk[k] for k in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def unverified_header(token):
    return jwt.get_unverified_header(token)


def run(binary, mode, stdin=None):
    out = subprocess.run([binary, mode], input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        raise SystemExit(f"{binary} {mode} failed with exit code {out.returncode}")
    return out.stdout


def our_verify(binary, requests):
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    answers = [json.loads(l) for l in run(binary, "verify", lines).splitlines() if l.strip()]
    if len(answers) != len(requests):
        raise SystemExit(f"expected {len(requests)} answers, got {len(answers)}")
    return answers


def fresh_private_key_pem(alg):
    key = {
        "EdDSA": lambda: ed25519.Ed25519PrivateKey.generate(),
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }[alg]()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
KTY = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA"}


def pyjwt_verifies_ours(issued):
    print("\n== PyJWT verifies our tokens ==")
    # HS256 with the shared secret.
    hs = issued["hs256"]
    header = unverified_header(hs["token"])
    check(header == {"typ": "JWT", "alg": "HS256"}, f"HS256 header is {header}")
    try:
        claims = jwt.decode(
            hs["token"],
            issued["secret"],
            algorithms=["HS256"],
            options={"require": ["exp", "iat", "sub"]},
        )
        check(claims == hs["claims"], "HS256: PyJWT decodes sub/iat/exp/sid/jti as issued")
        check(claims["sub"] == "42" and claims["sid"] == "sid-hs256", "HS256: sub and sid")
        check(claims["exp"] > time.time() >= claims["iat"] - 5, "HS256: iat/exp around now")
    except jwt.PyJWTError as e:
        check(False, f"HS256: PyJWT refused our token: {e!r}")
    try:
        jwt.decode(hs["token"], issued["secret"] + "x", algorithms=["HS256"])
        check(False, "HS256: PyJWT must refuse a wrong secret")
    except jwt.InvalidSignatureError:
        check(True, "HS256: PyJWT refuses a wrong secret (control)")

    for entry in issued["asymmetric"]:
        alg = entry["alg"]
        jwks = entry["jwks"]
        keys = jwks["keys"]
        check(set(jwks) == {"keys"} and len(keys) == 2, f"{alg}: JWKS has the signing and previous keys")
        for jwk in keys:
            check(jwk.get("use") == "sig", f"{alg}: JWK {jwk.get('kid')} use=sig")
            check(not (PRIVATE_MEMBERS & set(jwk)), f"{alg}: JWK {jwk.get('kid')} has no private member")
            check(jwk["kid"] == thumbprint(jwk), f"{alg}: JWK kid {jwk['kid']} = RFC 7638 thumbprint")
        check(keys[0]["kid"] == entry["kid"] and keys[0]["alg"] == alg, f"{alg}: signing key first")
        check(keys[0]["kty"] == KTY[alg], f"{alg}: kty {keys[0]['kty']}")
        check(keys[1]["alg"] == entry["previous_alg"], f"{alg}: previous key is {entry['previous_alg']}")

        key_set = jwt.PyJWKSet.from_dict(jwks)
        for which in ["current", "previous"]:
            token, expected = entry[which]["token"], entry[which]["claims"]
            header = unverified_header(token)
            want_alg = alg if which == "current" else entry["previous_alg"]
            check(header.get("alg") == want_alg and header.get("typ") == "JWT", f"{alg}/{which}: header {header}")
            try:
                key = key_set[header["kid"]]
            except KeyError:
                check(False, f"{alg}/{which}: kid {header.get('kid')} not in the JWKS")
                continue
            check(key.algorithm_name == want_alg, f"{alg}/{which}: PyJWK algorithm {key.algorithm_name}")
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[want_alg],
                    audience=entry["audience"],
                    issuer=entry["issuer"],
                    options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                )
                check(claims == expected, f"{alg}/{which}: PyJWT verifies with the JWKS; claims as issued")
                check(claims["sid"] == f"sid-{want_alg}", f"{alg}/{which}: sid")
            except jwt.PyJWTError as e:
                check(False, f"{alg}/{which}: PyJWT refused our token: {e!r}")

        # Controls: PyJWT refuses a tampered payload and the other key.
        token = entry["current"]["token"]
        h, p, s = token.split(".")
        evil = dict(entry["current"]["claims"], sub="1")
        tampered = ".".join([h, b64url(json.dumps(evil).encode()), s])
        key = key_set[entry["kid"]]
        try:
            jwt.decode(tampered, key, algorithms=[alg], audience=entry["audience"])
            check(False, f"{alg}: PyJWT must refuse a tampered token")
        except jwt.InvalidSignatureError:
            check(True, f"{alg}: PyJWT refuses a tampered token (control)")


def flask_token(secret, seconds, sub=42):
    """Exactly as the Flask service's User.encode_auth_token did."""
    now = datetime.datetime.now(datetime.timezone.utc)
    payload = {
        "exp": now + datetime.timedelta(days=0, seconds=seconds),
        "iat": now,
        "sub": sub,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def ours_verifies_pyjwt(binary, issued):
    print("\n== our decoder verifies PyJWT's tokens ==")
    secret = issued["secret"]
    now = int(time.time())
    requests, expectations = [], []

    def expect(request, what, ok, sub=None, sid=None, reason=None, error=None):
        requests.append(request)
        expectations.append((what, ok, sub, sid, reason, error))

    flask = flask_token(secret, 3600)
    check(isinstance(jwt.decode(flask, options={"verify_signature": False})["sub"], int), "Flask token has an integer sub")
    expect({"token": flask, "secret": secret}, "Flask-style HS256 token (integer sub, no sid)", True, sub=42)
    expect({"token": flask_token(secret, -10), "secret": secret}, "expired Flask-style token", False, reason="Expired",
           error="Signature expired. Please log in again.")
    expect({"token": flask_token(secret + "!", 3600), "secret": secret}, "Flask-style token, wrong secret", False,
           reason='Invalid("signature")', error="Invalid token. Please log in again.")
    expect({"token": flask_token(secret, 3600, sub=0), "secret": secret}, "Flask-style token with sub 0", False)
    modern = jwt.encode({"sub": "7", "iat": now, "exp": now + 60, "sid": "s-7"}, secret, algorithm="HS256")
    expect({"token": modern, "secret": secret}, "PyJWT HS256 token with string sub and sid", True, sub=7, sid="s-7")
    hs384 = jwt.encode({"sub": "7", "iat": now, "exp": now + 60}, secret, algorithm="HS384")
    expect({"token": hs384, "secret": secret}, "PyJWT HS384 token (right secret)", False, reason='Invalid("algorithm")')

    for entry in issued["asymmetric"]:
        alg, kid, jwks = entry["alg"], entry["kid"], entry["jwks"]
        base = {"jwks": jwks, "issuer": entry["issuer"], "audience": entry["audience"]}
        claims = {"sub": "5", "iat": now, "exp": now + 60, "sid": f"py-{alg}",
                  "iss": entry["issuer"], "aud": entry["audience"]}
        pem = entry["private_key_pem"]
        signed = jwt.encode(claims, pem, algorithm=alg, headers={"kid": kid})
        expect(dict(base, token=signed), f"{alg}: PyJWT-signed token with our key and kid", True, sub=5, sid=f"py-{alg}")
        no_kid = jwt.encode(claims, pem, algorithm=alg)
        expect(dict(base, token=no_kid), f"{alg}: PyJWT-signed token without kid (first key)", True, sub=5,
               sid=f"py-{alg}")
        forged = jwt.encode(claims, fresh_private_key_pem(alg), algorithm=alg, headers={"kid": kid})
        expect(dict(base, token=forged), f"{alg}: token signed by another key under our kid", False,
               reason='Invalid("signature")')
        stranger = jwt.encode(claims, fresh_private_key_pem(alg), algorithm=alg, headers={"kid": "someone-else"})
        expect(dict(base, token=stranger), f"{alg}: token with an unknown kid", False, reason='Invalid("unknown key")')
        confused = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})
        expect(dict(base, token=confused), f"{alg}: HS256 token under our kid (algorithm confusion)", False,
               reason='Invalid("algorithm")')
        wrong_aud = jwt.encode(dict(claims, aud="another"), pem, algorithm=alg, headers={"kid": kid})
        expect(dict(base, token=wrong_aud), f"{alg}: another audience", False, reason='Invalid("audience")')
        expired = jwt.encode(dict(claims, exp=now - 1), pem, algorithm=alg, headers={"kid": kid})
        expect(dict(base, token=expired), f"{alg}: expired", False, reason="Expired")
        # Our HS256 service refuses PyJWT's asymmetric token.
        expect({"token": signed, "secret": secret}, f"{alg}: PyJWT token refused by an HS256 service", False,
               reason='Invalid("algorithm")')

    for (what, ok, sub, sid, reason, error), answer in zip(expectations, our_verify(binary, requests)):
        good = answer["ok"] == ok
        if ok:
            good = good and (sub is None or answer["sub"] == sub) and answer.get("sid") == sid
        else:
            good = good and (reason is None or answer["reason"] == reason)
            good = good and (error is None or answer["error"] == error)
        check(good, f"{what}: {'accepted' if ok else 'refused'} -> {json.dumps(answer)}")


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    check(thumbprint({"kty": "RSA", "e": "AQAB", "n": RFC7638_N}) == RFC7638_KID,
          "the thumbprint used here gives RFC 7638's example (control)")
    issued = json.loads(run(binary, "issue"))
    print(f"PyJWT {jwt.__version__}; algorithms: HS256, " + ", ".join(e["alg"] for e in issued["asymmetric"]))
    pyjwt_verifies_ours(issued)
    ours_verifies_pyjwt(binary, issued)
    print(f"\n{CHECKS - len(FAILURES)}/{CHECKS} checks passed")
    if FAILURES:
        print("interop FAILED:", *FAILURES, sep="\n  ")
        sys.exit(1)


RFC7638_KID = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
    "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
    "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
    "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)

if __name__ == "__main__":
    main()
