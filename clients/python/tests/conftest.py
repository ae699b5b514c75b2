"""Fixtures: one live users-api for the session (EdDSA, revocation feed on, an admin),
its HTTP API, and verifiers that are closed after use."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from live_service import Api, LiveService, keygen
from users_verifier import Verifier

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "adminpw"


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("users-api")


@pytest.fixture(scope="session")
def service(service_dir: Path) -> Iterator[LiveService]:
    """users-api serve: EdDSA with k1.pem, the feed on, an admin made with create-user."""
    k1 = keygen(service_dir / "k1.pem")
    svc = LiveService(service_dir, key_file=k1).start()
    svc.cli("create-user", "--username", "admin", "--email", ADMIN_EMAIL, "--admin",
            stdin=ADMIN_PASSWORD + "\n")
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def api(service: LiveService) -> Api:
    return Api(service.base_url)


@pytest.fixture(scope="session")
def admin_token(api: Api) -> str:
    return api.login(ADMIN_EMAIL, ADMIN_PASSWORD)[0]


@pytest.fixture
def make_verifier(service: LiveService) -> Iterator[Callable[..., Verifier]]:
    """Verifier(service, **options), started; every one is closed at the end of the test."""
    made: List[Verifier] = []

    def make(base_url: str = "", **options) -> Verifier:
        options.setdefault("feed_token", service.feed_token)
        verifier = Verifier(base_url or service.base_url, **options).start()
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        verifier.close()


@pytest.fixture(scope="session")
def verifier(service: LiveService) -> Iterator[Verifier]:
    """A verifier with the default settings but a 2 s long poll (so that stopping the
    service at the end does not wait for a longer one), caught up with the feed."""
    v = Verifier(service.base_url, feed_token=service.feed_token, feed_wait=2).start()
    assert v._feed is not None and v._feed.wait_caught_up(10), "the feed never answered"
    yield v
    v.close()


@pytest.fixture(autouse=True)
def _verifier_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="users_verifier")
