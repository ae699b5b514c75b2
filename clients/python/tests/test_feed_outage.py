"""(e) The feed goes down and comes back (a TCP proxy, scripts/tcp_proxy.py, between the
verifiers and the service): fail_closed refuses with Unavailable after fail_closed_after,
signatures_only goes on; once the feed is back a logout made meanwhile is honoured."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from typing import Iterator

import pytest

from live_service import TCP_PROXY, Api, LiveService, flips_within, free_port
from users_verifier import RevokedToken, Unavailable, Verifier
from users_verifier.errors import MSG_UNAVAILABLE


class Proxy:
    """scripts/tcp_proxy.py LISTEN TARGET: SIGUSR1 down (refuses and cuts connections),
    SIGUSR2 up."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(TCP_PROXY), str(self.port), str(target_port)],
            stdout=subprocess.PIPE, text=True,
        )
        self._expect("proxy: up")

    def _expect(self, line: str) -> None:
        got = self.proc.stdout.readline().strip()
        assert got == line, f"tcp_proxy said {got!r}, expected {line!r}"

    def down(self) -> None:
        self.proc.send_signal(signal.SIGUSR1)
        self._expect("proxy: down")

    def up(self) -> None:
        self.proc.send_signal(signal.SIGUSR2)
        self._expect("proxy: up")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def proxy(service: LiveService) -> Iterator[Proxy]:
    p = Proxy(service.port)
    yield p
    p.close()


def caught_up(*verifiers: Verifier, timeout: float = 10.0) -> None:
    for v in verifiers:
        assert v._feed is not None and v._feed.wait_caught_up(timeout), "never caught up"


def test_feed_down_then_back(api: Api, service: LiveService, proxy: Proxy, make_verifier,
                             caplog: pytest.LogCaptureFixture) -> None:
    closed = make_verifier(proxy.url, fail_closed_after=1.0)
    open_ = make_verifier(proxy.url, on_feed_down="signatures_only", fail_closed_after=1.0,
                          feed_wait=2)
    caught_up(closed, open_)
    user, victim = api.register(), api.register()
    for v in (closed, open_):
        for u in (user, victim):
            assert v.verify(u["token"])["sub"] == str(u["id"])

    proxy.down()
    down_at = time.monotonic()
    took, error = flips_within(lambda: closed.verify(user["token"]), since=down_at,
                               period=0.02)
    assert isinstance(error, Unavailable), repr(error)
    assert (error.status, error.message) == (503, MSG_UNAVAILABLE)
    # Accepted until fail_closed_after (1 s) past the last answer, then refused.
    since_last_answer = down_at + took - closed._feed.last_ok
    assert 1.0 < since_last_answer <= 1.25, since_last_answer
    assert took <= 1.25, f"Unavailable only {took:.2f} s after the feed went down"
    time.sleep(max(0.0, down_at + 1.2 - time.monotonic()))
    assert open_.verify(user["token"])["sub"] == str(user["id"])
    assert "revocation feed silent for over 1.0 s: verifying signatures only" in caplog.text

    # A logout while the feed is down: the service refuses at once; signatures_only cannot
    # know yet (the price of that mode); fail_closed refuses everything anyway.
    api.call("GET", "/auth/logout", token=victim["token"])
    assert open_.verify(victim["token"])["sub"] == str(victim["id"])
    with pytest.raises(Unavailable):
        closed.verify(victim["token"])

    proxy.up()
    up_at = time.monotonic()
    # fail_closed never accepts the victim: Unavailable until it has caught up, then revoked.
    while True:
        try:
            closed.verify(victim["token"])
            pytest.fail("fail_closed accepted a token logged out while the feed was down")
        except RevokedToken:
            break
        except Unavailable:
            assert time.monotonic() - up_at < 15, "the feed did not come back"
            time.sleep(0.02)
    back_after = time.monotonic() - up_at
    assert closed.verify(user["token"])["sub"] == str(user["id"])
    took, error = flips_within(lambda: open_.verify(victim["token"]), give_up=15)
    assert isinstance(error, RevokedToken), repr(error)
    assert open_.verify(user["token"])["sub"] == str(user["id"])
    assert back_after < 12  # back-off: 0.5 s doubling to 10 s
    assert "revocation feed: back after" in caplog.text


def test_fail_closed_before_the_first_answer(api: Api, make_verifier,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """A wrong feed token (401): the feed never answers. fail_closed waits for it up to
    fail_closed_after, then refuses; signatures_only accepts and warns once."""
    user = api.register()
    wrong = "not-the-feed-token-" + "y" * 30
    closed = make_verifier(feed_token=wrong, fail_closed_after=1.0)
    began = time.monotonic()
    with pytest.raises(Unavailable):
        closed.verify(user["token"])
    assert 0.8 <= time.monotonic() - began <= 2.0
    began = time.monotonic()
    with pytest.raises(Unavailable):
        closed.verify(user["token"])
    assert time.monotonic() - began < 0.1, "no second wait"
    open_ = make_verifier(feed_token=wrong, on_feed_down="signatures_only")
    for _ in range(3):
        assert open_.verify(user["token"])["sub"] == str(user["id"])
    warnings = [r for r in caplog.records if "not caught up yet" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
