"""(c) Key rotation: the service restarted with a new key and the old one as previous; a
running verifier accepts tokens of both keys without a restart (the new kid causes one
JWKS fetch), and revocations keep flowing after the restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import jwt
import pytest

from live_service import Api, LiveService, flips_within, keygen
from users_verifier import RevokedToken, Verifier


@pytest.fixture
def rotating_service(tmp_path: Path) -> Iterator[LiveService]:
    svc = LiveService(tmp_path, key_file=keygen(tmp_path / "k1.pem"), name="rotation").start()
    yield svc
    svc.stop()


def test_rotation_without_restarting_the_verifier(rotating_service: LiveService,
                                                  tmp_path: Path) -> None:
    svc = rotating_service
    api = Api(svc.base_url)
    k2 = keygen(tmp_path / "k2.pem")
    # Default JWKS cool-down (30 s): the fetch caused by the new kid is the first one.
    with Verifier(svc.base_url, feed_token=svc.feed_token, feed_wait=2) as verifier:
        user = api.register()
        old_token = user["token"]
        old_kid = jwt.get_unverified_header(old_token)["kid"]
        assert verifier.verify(old_token)["sub"] == str(user["id"])
        assert verifier.status()["jwks_kids"] == [old_kid]
        assert verifier.status()["jwks_max_age"] == 300
        fetches = verifier.jwks_fetches

        stop_took = svc.restart(JWT_PRIVATE_KEY_FILE=str(k2),
                                JWT_PREVIOUS_KEY_FILES=str(svc.key_file))
        assert stop_took < 10, f"the stop took {stop_took:.1f} s"
        print(f"stop took {stop_took:.2f} s")
        new_token, _ = api.login(user["email"], user["password"])
        new_kid = jwt.get_unverified_header(new_token)["kid"]
        assert new_kid != old_kid

        assert verifier.verify(old_token)["sub"] == str(user["id"])
        assert verifier.jwks_fetches == fetches, "a known kid needs no fetch"
        assert verifier.verify(new_token)["sub"] == str(user["id"])
        assert verifier.jwks_fetches == fetches + 1, "the new kid: exactly one fetch"
        assert verifier.status()["jwks_kids"] == [new_kid, old_kid]
        assert verifier.verify(old_token)["sub"] == str(user["id"])
        assert verifier.jwks_fetches == fetches + 1

        # The feed resumes after the restart (same database, seq goes on): wait for a
        # fresh answer, then a logout of the new session is refused within a second.
        deadline = time.monotonic() + 20
        before = verifier._feed.answers
        while verifier._feed.answers == before or verifier.feed_age() > 0.5:
            assert time.monotonic() < deadline, "the feed did not come back"
            time.sleep(0.05)
        api.call("GET", "/auth/logout", token=new_token)
        took, error = flips_within(lambda: verifier.verify(new_token),
                                   since=time.monotonic())
        assert isinstance(error, RevokedToken) and took <= 1.0
        assert verifier.verify(old_token)["sub"] == str(user["id"])
