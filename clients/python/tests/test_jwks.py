"""(d) The JWKS cache: a flood of made-up kids costs at most one fetch per cool-down;
Cache-Control max-age is honoured; failures are retried later; unusable keys are skipped."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

import tokens
from live_service import Api
from users_verifier import InvalidToken, Unavailable, Verifier
from users_verifier.jwks import max_age_of, parse_jwks, thumbprint


def test_forged_kid_flood(api: Api, make_verifier) -> None:
    cooldown = 2.0
    verifier = make_verifier(jwks_cooldown=cooldown, feed_wait=2)
    user = api.register()
    verifier.verify(user["token"])
    base = verifier.jwks_fetches
    forged = [tokens.random_eddsa(tokens.claims(str(user["id"])), secrets.token_urlsafe(32))
              for _ in range(200)]
    began = time.monotonic()
    for i, token in enumerate(forged):
        with pytest.raises(InvalidToken):
            verifier.verify(token)
        if i % 20 == 0:
            assert verifier.verify(user["token"])["sub"] == str(user["id"])
    flood_took = time.monotonic() - began
    assert flood_took < cooldown, f"the flood took {flood_took:.2f} s: too slow to judge"
    assert verifier.jwks_fetches - base <= 1, verifier.jwks_fetches - base
    assert verifier.jwks_fetches - base == 1, "the first unknown kid should have fetched"
    # After the cool-down, another unknown kid may fetch again (once).
    time.sleep(cooldown - flood_took + 0.1)
    for token in forged[:50]:
        with pytest.raises(InvalidToken):
            verifier.verify(token)
    assert verifier.jwks_fetches - base == 2


# -- a JWKS server of our own, whose answers the tests choose -------------------------------

class FakeJwks:
    def __init__(self) -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(alg="EdDSA", use="sig")
        jwk["kid"] = thumbprint(jwk)
        self.jwk = jwk
        self.status = 200
        self.cache_control = "public, max-age=1"
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.requests += 1
                body = json.dumps({"keys": [fake.jwk]}).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                if fake.cache_control:
                    self.send_header("Cache-Control", fake.cache_control)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, **extra: Any) -> str:
        return jwt.encode(tokens.claims("7", **extra), self.key, algorithm="EdDSA",
                          headers={"kid": self.jwk["kid"]})


@pytest.fixture
def fake_jwks() -> Iterator[FakeJwks]:
    fake = FakeJwks()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_max_age_honoured(fake_jwks: FakeJwks) -> None:
    with Verifier(fake_jwks.url, jwks_cooldown=30) as v:
        token = fake_jwks.token()
        assert v.verify(token)["sub"] == "7"
        fetches = v.jwks_fetches
        assert fetches == 1 and v.status()["jwks_max_age"] == 1
        for _ in range(10):
            v.verify(token)
        assert v.jwks_fetches == fetches, "fresh for max-age seconds"
        time.sleep(1.1)
        v.verify(token)
        assert v.jwks_fetches == fetches + 1, "stale after max-age: fetched again"
        # A key rotated out of the document is no longer accepted once the cache is stale.
        fake_jwks.jwk = dict(fake_jwks.jwk, kid="another")
        time.sleep(1.1)
        with pytest.raises(InvalidToken):
            v.verify(token)


def test_no_cache_is_not_a_fetch_per_token(fake_jwks: FakeJwks) -> None:
    fake_jwks.cache_control = "no-store"
    with Verifier(fake_jwks.url, jwks_cooldown=5) as v:
        token = fake_jwks.token()
        began = time.monotonic()
        while time.monotonic() - began < 1.5:
            v.verify(token)
        # min(cool-down, 1 s) between stale refetches: 2 or 3 fetches, not thousands.
        assert 1 <= v.jwks_fetches <= 3, v.jwks_fetches


def test_jwks_outage(fake_jwks: FakeJwks) -> None:
    fake_jwks.status = 500
    with Verifier(fake_jwks.url, jwks_cooldown=30) as v:
        token = fake_jwks.token()
        with pytest.raises(Unavailable) as e:
            v.verify(token)
        assert e.value.status == 503
        fake_jwks.status = 200
        deadline = time.monotonic() + 3
        while True:
            try:
                assert v.verify(token)["sub"] == "7"
                break
            except Unavailable:
                assert time.monotonic() < deadline, "never fetched again"
                time.sleep(0.1)
        # Later failures keep the keys held.
        fake_jwks.status = 500
        time.sleep(1.1)
        assert v.verify(token)["sub"] == "7"


def test_parse_jwks_skips_unusable_keys() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    good = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    keys: List[Dict[str, Any]] = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "secret", "alg": "HS256"},
        dict(good, kid="enc", use="enc"),
        dict(good, kid="mislabelled", alg="RS256"),
        dict(good, kid="private", d="AAAA"),
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"},
        "not a key",
        dict(good, alg="EdDSA"),  # no kid: named by its thumbprint
    ]
    parsed, first = parse_jwks({"keys": keys})
    assert list(parsed) == [thumbprint(good)]
    assert first is not None and first.alg == "EdDSA"
    with pytest.raises(ValueError):
        parse_jwks({"keys": "nope"})


def test_max_age_parsing() -> None:
    assert max_age_of({"Cache-Control": "public, max-age=300"}) == 300
    assert max_age_of({"Cache-Control": "max-age=300", "Age": "100"}) == 200
    assert max_age_of({"Cache-Control": "no-cache"}) == 0
    assert max_age_of({"Cache-Control": "private, no-store"}) == 0
    assert max_age_of({}) == 300
    assert max_age_of({"Cache-Control": "max-age=999999999"}) == 86400
