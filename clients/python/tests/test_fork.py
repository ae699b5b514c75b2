"""A process forked after start() (gunicorn --preload) follows the feed with its own thread."""

from __future__ import annotations

import os
import time

import pytest

from live_service import Api, flips_within
from users_verifier import RevokedToken


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_forked_child_follows_the_feed(api: Api, make_verifier) -> None:
    v = make_verifier(feed_wait=1)
    user = api.register()
    v.verify(user["token"])
    parent_thread = v._feed._thread
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 10
        try:
            thread = v._feed._thread
            if thread is None or thread is parent_thread or not thread.is_alive():
                code = 11
            else:
                v.verify(user["token"])
                Api(api.base_url).call("GET", "/auth/logout", token=user["token"])
                took, error = flips_within(lambda: v.verify(user["token"]),
                                           since=time.monotonic())
                code = 0 if isinstance(error, RevokedToken) and took <= 1.0 else 12
        except BaseException:  # noqa: BLE001
            code = 13
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's own follower saw the child's logout too.
    _, error = flips_within(lambda: v.verify(user["token"]))
    assert isinstance(error, RevokedToken)
