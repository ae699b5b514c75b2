"""Offline verification of the users service's access tokens, with revocations.

:class:`Verifier` checks a token's signature and claims with keys it holds (the JWKS, or
the shared secret for HS256) and, when given the revocation feed's token, refuses tokens
whose session or user the service has revoked, as the feed reports them: a logout is
refused here well within a second.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from typing import Any, Dict, Iterable, List, Optional, Protocol, Union

import jwt
import requests

from .errors import (
    MSG_USER_GONE,
    ExpiredToken,
    InvalidToken,
    MissingToken,
    RevokedToken,
    Unavailable,
)
from .feed import MAX_WAIT, RevocationFeed
from .jwks import JwksCache

log = logging.getLogger("users_verifier")

#: Longest token accepted, bytes (the users service's limit).
MAX_TOKEN_BYTES = 8 * 1024
ASYMMETRIC = ("EdDSA", "ES256", "RS256")
SUPPORTED = ("HS256",) + ASYMMETRIC
FAIL_CLOSED = "fail_closed"
SIGNATURES_ONLY = "signatures_only"

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_DECIMAL = re.compile(r"^[1-9][0-9]{0,18}$")


# Verifiers alive in this process, so that a forked child (gunicorn --preload, ...) gets its
# own feed thread: fork() copies no thread.
_LIVE: "weakref.WeakSet[Verifier]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for verifier in list(_LIVE):
        verifier._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Verifier:
    """Verifies access tokens of the users service without calling it per request.

    Args:
        base_url: the users service, e.g. ``http://users:5000``; the JWKS is read from
            ``<base_url>/.well-known/jwks.json`` and the feed from
            ``<base_url>/auth/revocations``.
        algorithms: the algorithms accepted (a token's ``alg`` must be one of them, and the
            key its ``kid`` names must be of that algorithm). ``"HS256"`` needs ``secret``.
        secret: the service's ``SECRET_KEY``, for HS256 tokens only (never used with a
            ``kid`` or any key of the JWKS).
        issuer: required ``iss`` (the service's ``JWT_ISSUER``), or None.
        audience: required ``aud`` (the service's ``JWT_AUDIENCE``), or None; a token
            carrying an ``aud`` is refused when this is None.
        feed_token: the service's ``REVOCATION_FEED_TOKEN``. None: revocations are not
            checked (a logged-out token stays valid until it expires).
        feed_wait: seconds of each long poll of the feed (0..30). Under ``fail_closed`` it
            is at most ``fail_closed_after / 2`` (whole seconds), so an idle but healthy
            feed answers often enough never to look down; 0 means a poll every
            ``min(0.25, fail_closed_after / 4)`` seconds.
        on_feed_down: ``"fail_closed"``: refuse every token (:class:`Unavailable`) once
            the feed has not answered for ``fail_closed_after`` seconds, and, at start,
            wait up to that long for the first answer. ``"signatures_only"``: go on
            verifying signatures with the revocations known so far (a warning is logged).
        fail_closed_after: seconds without a successful feed answer before refusing.
        jwks_cooldown: least seconds between two JWKS fetches caused by unknown ``kid``\\ s.
        session: the ``requests.Session`` for the JWKS and the feed (one is made if None;
            the feed then gets its own).
        leeway: seconds of clock skew allowed on ``exp``, ``iat`` and ``nbf``.

    The feed follower starts with :meth:`start` (or ``with Verifier(...) as v:``, or at
    the first :meth:`verify`) and stops with :meth:`close`. One verifier serves any number
    of threads; a process forked after :meth:`start` (gunicorn ``--preload``) starts its
    own follower, from what the parent knew.
    """

    def __init__(
        self,
        base_url: str,
        *,
        algorithms: Iterable[str] = ASYMMETRIC,
        secret: Union[str, bytes, None] = None,
        issuer: Optional[str] = None,
        audience: Optional[str] = None,
        feed_token: Optional[str] = None,
        feed_wait: int = 25,
        on_feed_down: str = FAIL_CLOSED,
        fail_closed_after: float = 10.0,
        jwks_cooldown: float = 30.0,
        session: Optional[requests.Session] = None,
        leeway: float = 0,
    ) -> None:
        self.algorithms = tuple(algorithms)
        unknown = [a for a in self.algorithms if a not in SUPPORTED]
        if unknown or not self.algorithms:
            raise ValueError(f"algorithms must be among {SUPPORTED}, got {self.algorithms}")
        if ("HS256" in self.algorithms) != (secret is not None):
            raise ValueError("HS256 needs secret, and secret is only for HS256")
        if on_feed_down not in (FAIL_CLOSED, SIGNATURES_ONLY):
            raise ValueError(f"on_feed_down must be {FAIL_CLOSED!r} or {SIGNATURES_ONLY!r}")
        if fail_closed_after <= 0:
            raise ValueError("fail_closed_after must be positive")
        if feed_token is not None and not feed_token:
            raise ValueError("feed_token is empty")
        self.base_url = base_url.rstrip("/")
        self.issuer = issuer
        self.audience = audience
        self.leeway = float(leeway)
        self.on_feed_down = on_feed_down
        self.fail_closed_after = float(fail_closed_after)
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self._own_sessions: List[requests.Session] = []
        if session is None:
            session = requests.Session()
            self._own_sessions.append(session)
        self._jwks = JwksCache(
            self.base_url + "/.well-known/jwks.json", session, cooldown=jwks_cooldown
        )
        require = ["exp", "iat", "sub"]
        if issuer is not None:
            require.append("iss")
        if audience is not None:
            require.append("aud")
        # Any: PyJWT's own type for options differs between versions.
        self._options: Any = {"require": require, "verify_sub": False}
        self._feed: Optional[RevocationFeed] = None
        self._state_lock = threading.Lock()
        self._started_at: Optional[float] = None
        self._closed = False
        self._warned_not_caught_up = False
        self._warned_stale = False
        _LIVE.add(self)
        if feed_token is None:
            log.warning("no feed_token: revocations are not checked (a logged-out token "
                        "stays valid until it expires)")
            return
        wait = max(0, min(int(feed_wait), MAX_WAIT))
        if on_feed_down == FAIL_CLOSED:
            wait = min(wait, int(self.fail_closed_after / 2))
        feed_session = session
        if self._own_sessions:
            feed_session = requests.Session()
            self._own_sessions.append(feed_session)
        self._feed = RevocationFeed(
            self.base_url + "/auth/revocations",
            feed_token,
            feed_session,
            wait=wait,
            pause=min(0.25, self.fail_closed_after / 4),
            leeway=self.leeway,
        )

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> "Verifier":
        """Starts following the revocation feed (a daemon thread); idempotent."""
        with self._state_lock:
            if self._closed:
                raise RuntimeError("this verifier is closed")
            if self._started_at is None:
                self._started_at = time.monotonic()
                if self._feed is not None:
                    self._feed.start()
                if any(alg in ASYMMETRIC for alg in self.algorithms):
                    threading.Thread(target=self._jwks.prefetch, daemon=True,
                                     name="users-verifier-jwks").start()
        return self

    def close(self) -> None:
        """Stops the feed follower and closes the sessions this verifier made."""
        with self._state_lock:
            self._closed = True
        if self._feed is not None:
            self._feed.stop()
        for session in self._own_sessions:
            session.close()

    def _after_fork(self) -> None:
        """In a forked child: new locks and sessions, and a follower thread of its own if
        the parent's was running."""
        self._state_lock = threading.Lock()
        own = bool(self._own_sessions)
        if own:
            for session in self._own_sessions:
                session.close()  # the child's copies only; the parent's sockets stay open
            self._own_sessions = [requests.Session(), requests.Session()]
        self._jwks.after_fork(self._own_sessions[0] if own else None)
        if self._feed is not None:
            self._feed = self._feed.forked(
                self._own_sessions[1] if own else self._feed._session
            )
        if self._started_at is not None and not self._closed:
            self._started_at = None
            self.start()

    def __enter__(self) -> "Verifier":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- what tests and health checks read --------------------------------------------------

    @property
    def jwks_fetches(self) -> int:
        """HTTP requests made to the JWKS so far."""
        return self._jwks.fetches

    @property
    def caught_up(self) -> bool:
        """True once the feed has answered with every kept event (True without a feed)."""
        return self._feed is None or self._feed.caught_up

    def feed_age(self) -> Optional[float]:
        """Seconds since the feed's last successful answer (None: never, or no feed)."""
        if self._feed is None or self._feed.last_ok is None:
            return None
        return time.monotonic() - self._feed.last_ok

    def status(self) -> Dict[str, Any]:
        """A snapshot for health endpoints and tests; contains no secret."""
        sessions, users = self._feed.counts() if self._feed is not None else (0, 0)
        return {
            "feed": self._feed is not None,
            "caught_up": self.caught_up,
            "feed_age": self.feed_age(),
            "next": self._feed.next_seq if self._feed is not None else None,
            "revoked_sessions": sessions,
            "revoked_users": users,
            "jwks_fetches": self.jwks_fetches,
            "jwks_kids": self._jwks.kids,
            "jwks_max_age": self._jwks.max_age,
        }

    # -- verification --------------------------------------------------------------------------

    def verify(self, token: Union[str, bytes]) -> Dict[str, Any]:
        """The token's claims, or an error.

        Order: shape, algorithm and key, signature, ``exp`` (:class:`ExpiredToken`), the
        other claims (:class:`InvalidToken`), then revocations (:class:`RevokedToken`) and
        the feed's health (:class:`Unavailable`).
        """
        claims = self._decode(token)
        if self._feed is None:
            return claims
        if self._started_at is None:
            self.start()  # at the first verify, unless start() was called
        user_id = _user_id(claims["sub"])
        reason = self._feed.revoked(claims.get("sid"), user_id, claims["exp"])
        if reason == "user":
            raise RevokedToken(MSG_USER_GONE, reason="user")
        if reason == "session":
            raise RevokedToken(reason="session")
        self._check_feed_health()
        # The first answer may have arrived while we waited: check again.
        reason = self._feed.revoked(claims.get("sid"), user_id, claims["exp"])
        if reason == "user":
            raise RevokedToken(MSG_USER_GONE, reason="user")
        if reason == "session":
            raise RevokedToken(reason="session")
        return claims

    def _check_feed_health(self) -> None:
        feed = self._feed
        assert feed is not None and self._started_at is not None
        fail_closed = self.on_feed_down == FAIL_CLOSED
        if not feed.caught_up:
            if fail_closed:
                remaining = self._started_at + self.fail_closed_after - time.monotonic()
                if not feed.wait_caught_up(remaining):
                    raise Unavailable(reason="feed never answered")
            elif not self._warned_not_caught_up:
                self._warned_not_caught_up = True
                log.warning("revocation feed not caught up yet: verifying signatures only")
                return
            else:
                return
        last_ok = feed.last_ok
        stale = last_ok is None or time.monotonic() - last_ok > self.fail_closed_after
        if not stale:
            self._warned_stale = False
            return
        if fail_closed:
            raise Unavailable(reason="feed down")
        if not self._warned_stale:
            self._warned_stale = True
            log.warning("revocation feed silent for over %.1f s: verifying signatures only",
                        self.fail_closed_after)

    def _decode(self, token: Union[str, bytes]) -> Dict[str, Any]:
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise InvalidToken(reason="shape") from None
        if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken(reason="shape")
        segments = token.split(".")
        if len(segments) != 3 or not all(_SEGMENT.match(s) for s in segments):
            raise InvalidToken(reason="shape")
        # A JSON object's base64url starts with "e" ("{" = 0x7B): the claims must be one.
        if not segments[1].startswith("e"):
            raise InvalidToken(reason="shape")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken(reason="header") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken(reason="algorithm")
        key: Any
        if alg == "HS256":
            key = self._secret
        else:
            kid = header.get("kid")
            if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
                raise InvalidToken(reason="kid")
            key = self._jwks.key_for(kid, alg)
        try:
            claims: Dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options=self._options,
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredToken(reason="expired") from None
        except jwt.PyJWTError as e:
            raise InvalidToken(reason=type(e).__name__) from None
        except (TypeError, ValueError):
            raise InvalidToken(reason="malformed") from None
        if _user_id(claims.get("sub")) is None:
            raise InvalidToken(reason="sub")
        sid = claims.get("sid")
        if sid is not None and not (isinstance(sid, str) and sid):
            raise InvalidToken(reason="sid")
        if not isinstance(claims.get("exp"), int) or isinstance(claims.get("exp"), bool):
            raise InvalidToken(reason="exp")
        return claims


def _user_id(sub: Any) -> Optional[int]:
    """The user id a ``sub`` names: a decimal string (or, from the Flask service, an
    integer) of a positive id; None otherwise."""
    if isinstance(sub, bool):
        return None
    if isinstance(sub, int):
        return sub if sub > 0 else None
    if isinstance(sub, str) and _DECIMAL.match(sub):
        return int(sub)
    return None


class Headers(Protocol):
    """Request headers: anything with ``get(name)`` (Flask's/Werkzeug's, Django's
    ``request.headers``, a dict)."""

    def get(self, key: str) -> Optional[str]: ...


def verify_request_headers(verifier: Verifier, headers: Headers) -> Dict[str, Any]:
    """The claims of the token in ``Authorization: Bearer <token>``.

    Raises :class:`MissingToken` (403, "Provide a valid auth token.") when there is no
    header or it is empty, :class:`InvalidToken` when it is not ``Bearer <token>``, and
    whatever :meth:`Verifier.verify` raises. ``headers`` is any mapping: Flask's, Django's
    ``request.headers``, or a plain dict (looked up case-insensitively).
    """
    value = headers.get("Authorization")
    if value is None and isinstance(headers, dict):  # plain dicts are case-sensitive
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        raise MissingToken()
    if len(value) > MAX_TOKEN_BYTES + 16:
        raise InvalidToken(reason="header")
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken(reason="header")
    return verifier.verify(token)
