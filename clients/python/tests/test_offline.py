"""(a) Offline verification: what the service issues verifies; forgeries, tampering,
expired tokens and algorithm confusion are refused."""

from __future__ import annotations

import json
import secrets
import time
from typing import Iterator

import jwt
import pytest
import requests

import tokens
from live_service import Api, LiveService
from users_verifier import (
    ExpiredToken,
    InvalidToken,
    VerificationError,
    Verifier,
)
from users_verifier.errors import MSG_EXPIRED, MSG_INVALID


def test_registered_token_verifies_offline(api: Api, verifier: Verifier) -> None:
    user = api.register()
    claims = verifier.verify(user["token"])
    fetches = verifier.jwks_fetches
    assert verifier.verify(user["token"]) == claims
    assert claims["sub"] == str(user["id"])
    assert {s["id"] for s in api.sessions(user["token"])} == {claims["sid"]}
    assert claims["exp"] > time.time() >= claims["iat"] - 1
    assert isinstance(claims["jti"], str) and claims["jti"]
    # Offline: the cached JWKS is enough.
    for _ in range(20):
        verifier.verify(user["token"])
    assert verifier.jwks_fetches == fetches
    # bytes are accepted too
    assert verifier.verify(user["token"].encode()) == claims


@pytest.mark.parametrize("garbage", [
    "", "garbage", "a.b.c", "a.b", "a.b.c.d", "eyJ.eyJ.", "x" * 9000,
    "eyJhbGciOiJFZERTQSJ9.W10.c2ln",  # claims that are a JSON array
    "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0=.c2ln",  # padding
    b"\xff\xfe.a.b",
])
def test_garbage_refused(verifier: Verifier, garbage) -> None:
    with pytest.raises(InvalidToken) as e:
        verifier.verify(garbage)
    assert e.value.message == MSG_INVALID and e.value.status == 401


def test_tampered_token_refused(api: Api, verifier: Verifier) -> None:
    token = api.register()["token"]
    head, body, sig = token.split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    payload = json.loads(jwt.utils.base64url_decode(body))
    payload["sub"] = "1"  # the admin
    forged_body = tokens.b64url(json.dumps(payload).encode())
    for bad in (f"{head}.{body}.{flipped}", f"{head}.{forged_body}.{sig}",
                f"{head}.{body}.{sig[:-4]}"):
        with pytest.raises(InvalidToken):
            verifier.verify(bad)
    verifier.verify(token)


def test_expired_token_refused(service: LiveService, api: Api, verifier: Verifier) -> None:
    user = api.register()
    kid = jwt.get_unverified_header(user["token"])["kid"]
    # Signed with the service's own key (k1.pem): the control verifies...
    ok = tokens.sign_with_pem(service.key_file, tokens.claims(str(user["id"])), kid)
    assert verifier.verify(ok)["sub"] == str(user["id"])
    # ...and the same one past its exp is refused with the service's message.
    expired = tokens.sign_with_pem(
        service.key_file, tokens.claims(str(user["id"]), iat=int(time.time()) - 60,
                                        exp=int(time.time()) - 1), kid)
    with pytest.raises(ExpiredToken) as e:
        verifier.verify(expired)
    assert e.value.message == MSG_EXPIRED and e.value.status == 401
    # exp is required
    no_exp = tokens.claims(str(user["id"]))
    del no_exp["exp"]
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.sign_with_pem(service.key_file, no_exp, kid))


def test_algorithm_confusion_and_forged_kids_refused(api: Api, service: LiveService,
                                                     verifier: Verifier) -> None:
    user = api.register()
    kid = jwt.get_unverified_header(user["token"])["kid"]
    jwks = requests.get(service.base_url + "/.well-known/jwks.json", timeout=5).json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    public_x = jwt.utils.base64url_decode(jwk["x"])
    payload = tokens.claims(str(user["id"]))
    forged = {
        "HS256 with a forged kid": tokens.hand_made(
            {"alg": "HS256", "typ": "JWT", "kid": secrets.token_urlsafe(32)}, payload,
            b"secret"),
        "HS256 with the real kid, keyed with the public key": tokens.hand_made(
            {"alg": "HS256", "typ": "JWT", "kid": kid}, payload, public_x),
        "HS256 keyed with the JWK's JSON": tokens.hand_made(
            {"alg": "HS256", "typ": "JWT", "kid": kid}, payload, json.dumps(jwk).encode()),
        "HS256 without kid": tokens.hand_made({"alg": "HS256", "typ": "JWT"}, payload,
                                              b"secret"),
        "alg none": tokens.hand_made({"alg": "none", "typ": "JWT", "kid": kid}, payload, None),
        "alg None": tokens.hand_made({"alg": "None", "kid": kid}, payload, None),
        "EdDSA by another key, real kid": tokens.random_eddsa(payload, kid),
        "EdDSA by another key, no kid": tokens.random_eddsa(payload, None),
        "ES256 header on the EdDSA kid": tokens.random_es256(payload, kid),
    }
    for what, token in forged.items():
        with pytest.raises(InvalidToken, match="Invalid token"):
            verifier.verify(token)
            pytest.fail(f"accepted: {what}")
    # Even a verifier that accepts HS256 (with the right secret) refuses them.
    with Verifier(service.base_url, algorithms=("HS256", "EdDSA"), secret="another-secret-of-at-least-32-bytes",
                  feed_token=service.feed_token) as hs:
        for what in ("HS256 with a forged kid", "HS256 with the real kid, keyed with the "
                     "public key", "alg none"):
            with pytest.raises(InvalidToken):
                hs.verify(forged[what])
        assert hs.verify(user["token"])["sub"] == str(user["id"])


def test_constructor_refuses_unsafe_settings(service: LiveService) -> None:
    for bad in (dict(algorithms=("none",)), dict(algorithms=("HS256",)),
                dict(secret="s"), dict(algorithms=()), dict(on_feed_down="open"),
                dict(fail_closed_after=0)):
        with pytest.raises(ValueError):
            Verifier(service.base_url, **bad)


# -- a second service: HS256, 3-second tokens, issuer and audience ----------------------------

SECRET = "s" * 40
ISSUER, AUDIENCE = "https://users.test", "resource-servers"


@pytest.fixture(scope="module")
def hs_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    svc = LiveService(tmp_path_factory.mktemp("hs256"), name="hs256", env={
        "JWT_ALGORITHM": "HS256", "SECRET_KEY": SECRET, "TOKEN_EXPIRATION_DAYS": "0",
        "TOKEN_EXPIRATION_SECONDS": "3", "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE,
    }).start()
    yield svc
    svc.stop()


def test_hs256_issuer_audience_and_real_expiry(hs_service: LiveService) -> None:
    api = Api(hs_service.base_url)
    options = dict(feed_token=hs_service.feed_token, feed_wait=1)
    with Verifier(hs_service.base_url, algorithms=("HS256",), secret=SECRET, issuer=ISSUER,
                  audience=AUDIENCE, **options) as good:
        user = api.register()
        claims = good.verify(user["token"])
        assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, AUDIENCE,
                                                                 str(user["id"]))
        refusing = [
            Verifier(hs_service.base_url, algorithms=("HS256",), secret=SECRET + "x",
                     issuer=ISSUER, audience=AUDIENCE, **options),
            Verifier(hs_service.base_url, algorithms=("HS256",), secret=SECRET,
                     issuer="https://other", audience=AUDIENCE, **options),
            Verifier(hs_service.base_url, algorithms=("HS256",), secret=SECRET,
                     issuer=ISSUER, audience="other", **options),
            # a token with an aud is refused by a verifier that expects none
            Verifier(hs_service.base_url, algorithms=("HS256",), secret=SECRET, **options),
            # HS256 is not among the default algorithms
            Verifier(hs_service.base_url, **options),
        ]
        try:
            for v in refusing:
                with pytest.raises(InvalidToken):
                    v.verify(user["token"])
        finally:
            for v in refusing:
                v.close()
        # The service's own 3-second lifetime: refused from exp on, as the service does.
        wait = claims["exp"] - time.time()
        assert 0 < wait <= 3.5
        time.sleep(max(0.0, wait - 0.3))
        deadline = claims["exp"] + 0.5
        while time.time() < deadline:
            before = time.time()
            try:
                good.verify(user["token"])
                assert before < claims["exp"], "accepted at or past exp"
            except VerificationError as e:
                assert isinstance(e, ExpiredToken) and time.time() >= claims["exp"]
                break
            time.sleep(0.02)
        else:
            pytest.fail("not refused after exp")
        r = requests.get(hs_service.base_url + "/auth/status",
                         headers={"Authorization": f"Bearer {user['token']}"}, timeout=5)
        assert (r.status_code, r.json()["message"]) == (401, MSG_EXPIRED)
