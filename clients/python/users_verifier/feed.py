"""The revocation feed follower: a daemon thread that long-polls
``GET /auth/revocations`` and keeps, in memory, what the feed has revoked.

The feed is ordered by ``seq``; each answer says which ``after`` to ask next (``next``).
An event revokes either a session (``sid``) or every token of a user issued up to the
event (``user_id``); its ``exp`` is the Unix time after which no token it revokes can
still be valid, so the entry is dropped then (plus the verifier's leeway).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import requests

log = logging.getLogger("users_verifier")

#: Most events the service sends in one answer; a full answer is followed at once.
MAX_EVENTS = 1000
#: Longest long poll the service accepts, seconds.
MAX_WAIT = 30
#: Back-off after a failed call: first delay and ceiling, seconds.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
#: Seconds between two purges of expired entries.
PURGE_EVERY = 5.0


class FeedError(Exception):
    """A feed answer that cannot be used (the message never contains a secret)."""


def parse_answer(body: Any) -> Tuple[List[Dict[str, Any]], int]:
    """The events and ``next`` of a 200 answer; FeedError when it is not the feed's shape."""
    try:
        data = body["data"]
        events, next_seq = data["events"], data["next"]
    except (KeyError, TypeError) as e:
        raise FeedError(f"unexpected answer shape ({e!r})") from None
    if not isinstance(events, list) or not _is_int(next_seq):
        raise FeedError("unexpected answer shape (events/next)")
    for event in events:
        if not isinstance(event, dict) or not _is_int(event.get("seq")) or not _is_int(
            event.get("exp")
        ):
            raise FeedError("an event without integer seq/exp")
        sid, user_id = event.get("sid"), event.get("user_id")
        if not (isinstance(sid, str) and sid) and not _is_int(user_id):
            raise FeedError("an event with neither sid nor user_id")
    return events, next_seq


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class RevocationFeed:
    """Follows the revocation feed in a daemon thread and answers "is this revoked?".

    Args:
        url: ``<base>/auth/revocations``.
        token: the feed's bearer token (``REVOCATION_FEED_TOKEN``); never logged.
        session: the ``requests.Session`` to call with.
        wait: seconds of each long poll (0..30). 0 polls without waiting, ``pause``
            seconds apart.
        pause: seconds between two polls when ``wait`` is 0 and nothing was new.
        leeway: seconds an entry is kept past its ``exp`` (the verifier's leeway).
        clock: a monotonic clock (for tests).
    """

    def __init__(
        self,
        url: str,
        token: str,
        session: requests.Session,
        *,
        wait: int,
        pause: float = 0.25,
        leeway: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        # A new connection per poll: the service keeps answering on an open keep-alive
        # connection while it shuts down (until its 30 s shutdown timeout), so a follower
        # reusing one would keep a stopping instance alive and answering.
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                         "Connection": "close"}
        self._session = session
        self.wait = max(0, min(int(wait), MAX_WAIT))
        self._pause = pause
        self._leeway = leeway
        self._clock = clock
        self._lock = threading.Lock()
        self._sids: Dict[str, int] = {}
        self._users: Dict[int, int] = {}
        self._next: Optional[int] = None
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._last_ok: Optional[float] = None
        self._last_purge = float("-inf")
        self._failures = 0
        #: Successful answers, failed calls (for monitoring and tests).
        self.answers = 0
        self.failed_calls = 0

    # -- state read by verifiers -------------------------------------------------------

    @property
    def caught_up(self) -> bool:
        """True once an answer has brought every event kept by the service."""
        return self._caught_up.is_set()

    @property
    def last_ok(self) -> Optional[float]:
        """Monotonic time of the last successful answer (None before the first)."""
        return self._last_ok

    @property
    def next_seq(self) -> Optional[int]:
        """The ``after`` of the next call (None: from the oldest kept event)."""
        return self._next

    def wait_caught_up(self, timeout: float) -> bool:
        """Blocks until caught up, at most ``timeout`` seconds; whether it is."""
        return self._caught_up.wait(max(0.0, timeout))

    def revoked(self, sid: Optional[str], user_id: Optional[int], exp: int) -> Optional[str]:
        """``"user"`` when the user's tokens up to ``exp`` were revoked, ``"session"`` when
        the session was, else None (the service checks the user first, and so do we)."""
        with self._lock:
            if user_id is not None:
                until = self._users.get(user_id)
                if until is not None and exp <= until:
                    return "user"
            if sid is not None and sid in self._sids:
                return "session"
        return None

    def counts(self) -> Tuple[int, int]:
        """How many revoked sessions and users are held."""
        with self._lock:
            return len(self._sids), len(self._users)

    def forked(self, session: requests.Session) -> "RevocationFeed":
        """For a child process after ``fork()`` (which copies no thread): a new, not
        started follower that knows what this one knew and goes on from there."""
        clone = RevocationFeed.__new__(RevocationFeed)
        clone.__dict__.update(self.__dict__)
        clone._session = session
        clone._lock = threading.Lock()
        clone._sids = dict(self._sids)
        clone._users = dict(self._users)
        clone._stop = threading.Event()
        clone._caught_up = threading.Event()
        if self._caught_up.is_set():
            clone._caught_up.set()
        clone._thread = None
        return clone

    # -- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the follower thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="users-verifier-feed", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 0.25) -> None:
        """Asks the thread to stop. A long poll in flight is not interrupted: the daemon
        thread ends when it answers (within ``wait`` seconds) and uses nothing after."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                full = self._poll_once()
            except Exception as e:  # noqa: BLE001 - the thread must survive anything
                self._failed(e)
                continue
            self._maybe_purge()
            if not full and self.wait == 0:
                self._stop.wait(self._pause)

    def _poll_once(self) -> bool:
        """One call; True when the answer was full (more events are waiting)."""
        wait = 0 if not self._caught_up.is_set() else self.wait
        params: Dict[str, int] = {"wait": wait}
        if self._next is not None:
            params["after"] = self._next
        try:
            response = self._session.get(
                self.url, params=params, headers=self._headers, timeout=(3.05, wait + 10.0)
            )
        except requests.RequestException as e:
            raise FeedError(f"{type(e).__name__}") from None
        if self._stop.is_set():
            return False
        if response.status_code == 401:
            raise FeedError("401: the feed token is not the service's REVOCATION_FEED_TOKEN")
        if response.status_code == 404:
            raise FeedError("404: the feed is not configured (REVOCATION_FEED_TOKEN unset) "
                            "or the base URL is wrong")
        if response.status_code != 200:
            raise FeedError(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise FeedError("an answer that is not JSON") from None
        events, next_seq = parse_answer(body)
        self._apply(events, next_seq)
        return len(events) >= MAX_EVENTS

    def _apply(self, events: List[Dict[str, Any]], next_seq: int) -> None:
        now = time.time()
        with self._lock:
            for event in events:
                exp = event["exp"]
                if exp + self._leeway < now:
                    continue
                sid, user_id = event.get("sid"), event.get("user_id")
                if isinstance(sid, str) and sid:
                    self._sids[sid] = max(exp, self._sids.get(sid, exp))
                if isinstance(user_id, int) and not isinstance(user_id, bool):
                    self._users[user_id] = max(exp, self._users.get(user_id, exp))
            self._next = next_seq
            self._last_ok = self._clock()
        self.answers += 1
        if self._failures:
            log.warning("revocation feed: back after %d failed call(s)", self._failures)
            self._failures = 0
        if len(events) < MAX_EVENTS and not self._caught_up.is_set():
            log.info("revocation feed: caught up (next %d)", next_seq)
            self._caught_up.set()

    def _failed(self, error: Exception) -> None:
        self.failed_calls += 1
        self._failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(self._failures - 1, 16))
        if self._failures == 1:
            log.warning("revocation feed: %s; retrying with back-off", error)
        else:
            log.debug("revocation feed: %s (failure %d, next try in %.1f s)", error,
                      self._failures, delay)
        self._stop.wait(delay)

    def _maybe_purge(self) -> None:
        now_mono = self._clock()
        if now_mono - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now_mono
        now = time.time() - self._leeway
        with self._lock:
            self._sids = {sid: exp for sid, exp in self._sids.items() if exp >= now}
            self._users = {uid: exp for uid, exp in self._users.items() if exp >= now}
