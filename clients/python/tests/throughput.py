"""Throughput, printed, never asserted (scripts/verifier-python.sh runs it):

* offline verifications per second: one thread, EdDSA, the revocation check included
  (the feed followed in the background);
* ``GET /auth/status`` per second with a ``requests.Session`` (keep-alive), one thread:
  what asking the service for every request costs.

Each for 2 seconds against a live users-api on a fresh database.

    python clients/python/tests/throughput.py [SECONDS]
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import requests

from live_service import Api, LiveService, keygen
from users_verifier import Verifier


def rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``call``, in a loop of ``seconds``."""
    count, began = 0, time.perf_counter()
    end = began + seconds
    while True:
        call()
        count += 1
        now = time.perf_counter()
        if now >= end:
            return count / (now - began)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        service = LiveService(work, key_file=keygen(work / "k1.pem"), name="throughput").start()
        try:
            user = Api(service.base_url).register()
            token = user["token"]
            with Verifier(service.base_url, feed_token=service.feed_token, feed_wait=2) as v:
                assert v._feed is not None and v._feed.wait_caught_up(10)
                rate(lambda: v.verify(token), 0.2)  # warm-up
                offline = rate(lambda: v.verify(token), seconds)
                fetches = v.jwks_fetches
            session = requests.Session()
            headers = {"Authorization": f"Bearer {token}"}
            url = service.base_url + "/auth/status"

            def status() -> None:
                response = session.get(url, headers=headers, timeout=5)
                assert response.status_code == 200, response.text

            rate(status, 0.2)  # warm-up
            online = rate(status, seconds)
            session.close()
        finally:
            service.stop()
    line = "verifier-python: throughput ({:.0f} s each, one thread):".format(seconds)
    sys.stdout.write(
        f"{line}\n"
        f"  offline Verifier.verify (EdDSA, revocation check on): {offline:10.0f} /s "
        f"(JWKS fetched {fetches} time(s))\n"
        f"  GET /auth/status, requests.Session:                   {online:10.0f} /s\n"
        f"  ratio: {offline / online:.1f}x\n"
    )


if __name__ == "__main__":
    main()
