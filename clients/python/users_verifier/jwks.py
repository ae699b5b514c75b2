"""The signing keys of the users service, from ``GET /.well-known/jwks.json``.

:class:`JwksCache` keeps the key set in memory and refetches it:

* when it is stale, per the answer's ``Cache-Control: max-age`` (300 s from the users
  service; ``no-cache``/``no-store`` count as 0; no header: 300 s), at most once per
  ``min(cooldown, 1 s)`` while fetches fail or the max-age is shorter than that;
* when a token names a ``kid`` the set does not have (a key rotation), at most once per
  ``cooldown`` seconds, so a flood of tokens with made-up ``kid``\\ s costs one fetch per
  cool-down, not one per token.

Each key verifies with exactly one algorithm: the one its type implies (``OKP``/Ed25519:
EdDSA, ``EC``/P-256: ES256, ``RSA`` of 2048 bits or more: RS256), which its ``alg``, when
present, must name. Symmetric (``oct``) keys are never taken from a document, keys whose
``use`` is not ``sig`` are skipped, and a key without ``kid`` is named by its RFC 7638
thumbprint, as the users service names its keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

import jwt
import requests

from .errors import InvalidToken, Unavailable

log = logging.getLogger("users_verifier")

#: Seconds a key set is kept when the answer has no usable ``Cache-Control``.
DEFAULT_MAX_AGE = 300.0
#: Longest a key set is kept, whatever the answer says.
MAX_MAX_AGE = 86400.0
#: Smallest RSA modulus accepted, bits (the users service's limit).
MIN_RSA_BITS = 2048

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])no-(?:cache|store)(?:$|[,\s=])", re.IGNORECASE)

_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


class Key(NamedTuple):
    """One verification key: its ``kid``, the one algorithm it verifies, the key object."""

    kid: str
    alg: str
    key: Any


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint of a public JWK (SHA-256, base64url without padding)."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _algorithm_of(jwk: Mapping[str, Any]) -> Optional[str]:
    """The one algorithm a public key's type allows, or None for a type we do not use."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "Ed25519":
        return "EdDSA"
    if kty == "EC" and crv == "P-256":
        return "ES256"
    if kty == "RSA":
        return "RS256"
    return None


def parse_jwks(document: Any) -> Tuple[Dict[str, Key], Optional[Key]]:
    """The usable keys of a JWKS document by ``kid``, and its first usable key (the
    users service's current signing key, which verifies tokens that carry no ``kid``).

    Raises ValueError when the document is not ``{"keys": [...]}``.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWKS document ({"keys": [...]})')
    keys: Dict[str, Key] = {}
    first: Optional[Key] = None
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        if jwk.get("kty") == "oct":
            log.warning("JWKS: a symmetric (oct) key was skipped: shared secrets are never "
                        "taken from a document")
            continue
        if any(name in jwk for name in ("d", "p", "q", "dp", "dq", "qi", "k")):
            log.warning("JWKS: a key with private members was skipped")
            continue
        alg = _algorithm_of(jwk)
        if alg is None or jwk.get("alg", alg) != alg:
            log.warning("JWKS: a key of type %s/%s with alg %s was skipped",
                        jwk.get("kty"), jwk.get("crv"), jwk.get("alg"))
            continue
        try:
            kid = jwk.get("kid") or thumbprint(jwk)
            if not isinstance(kid, str):
                raise ValueError("kid is not a string")
            key = jwt.PyJWK(jwk, algorithm=alg).key
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as e:
            log.warning("JWKS: an unusable %s key was skipped: %s", alg, e)
            continue
        if alg == "RS256" and key.key_size < MIN_RSA_BITS:
            log.warning("JWKS: RSA key %s of %d bits was skipped (at least %d)", kid,
                        key.key_size, MIN_RSA_BITS)
            continue
        if kid in keys:
            log.warning("JWKS: duplicate kid %s: the first one is kept", kid)
            continue
        keys[kid] = Key(kid, alg, key)
        if first is None:
            first = keys[kid]
    return keys, first


def max_age_of(headers: Mapping[str, str]) -> float:
    """Seconds a response may be cached, from ``Cache-Control`` (less ``Age``)."""
    value = headers.get("Cache-Control") or ""
    if _NO_CACHE.search(value):
        return 0.0
    match = _MAX_AGE.search(value)
    if match is None:
        return DEFAULT_MAX_AGE
    age = float(match.group(1))
    try:
        age -= float(headers.get("Age") or 0)
    except ValueError:
        pass
    return max(0.0, min(age, MAX_MAX_AGE))


class JwksCache:
    """The key set of one JWKS URL, fetched when needed; safe to share between threads.

    Args:
        url: the JWKS URL.
        session: the ``requests.Session`` to fetch with.
        cooldown: least seconds between two fetches caused by an unknown ``kid``.
        timeout: seconds to connect and to read the answer.
        clock: a monotonic clock (for tests).
    """

    def __init__(
        self,
        url: str,
        session: requests.Session,
        *,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._session = session
        self._cooldown = float(cooldown)
        self._retry = min(self._cooldown, 1.0)
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        # Replaced whole (never mutated), so readers need no lock.
        self._keys: Dict[str, Key] = {}
        self._first: Optional[Key] = None
        self._loaded = False
        self._expires_at = float("-inf")
        self._last_attempt = float("-inf")
        self._last_miss_fetch = float("-inf")
        self.max_age: Optional[float] = None
        #: HTTP requests made to the JWKS URL, successful or not.
        self.fetches = 0

    @property
    def kids(self) -> List[str]:
        """The ``kid`` of every key held, in the document's order."""
        return list(self._keys)

    def key_for(self, kid: Optional[str], alg: str) -> Any:
        """The key that verifies a token with this header ``kid`` and ``alg``.

        Raises:
            InvalidToken: no such key (after a refetch when the cool-down allows one), or
                the key verifies with another algorithm.
            Unavailable: the key set could never be fetched.
        """
        fetched_now = False
        if not self._loaded or self._clock() >= self._expires_at:
            fetched_now = self._refresh(unknown_kid=False)
        key = self._first if kid is None else self._keys.get(kid)
        if key is None and kid is not None and not fetched_now:
            if self._refresh(unknown_kid=True):
                key = self._keys.get(kid)
        if key is None:
            if not self._loaded:
                raise Unavailable(reason="jwks unavailable")
            raise InvalidToken(reason="unknown key")
        if key.alg != alg:
            raise InvalidToken(reason="algorithm")
        return key.key

    def after_fork(self, session: Optional[requests.Session]) -> None:
        """In a child process after ``fork()``: a new lock (the parent's may have been
        held by a thread the child does not have) and, if given, a new session."""
        self._lock = threading.Lock()
        if session is not None:
            self._session = session

    def prefetch(self) -> None:
        """Fetches the key set unless it is fresh (for a start-up in the background)."""
        self._refresh(unknown_kid=False)

    def _refresh(self, *, unknown_kid: bool) -> bool:
        """Fetches the key set if the rules allow it now; True when a fetch succeeded
        (by this call or, while it waited for the lock, by another thread's)."""
        with self._lock:
            now = self._clock()
            if unknown_kid:
                if now - self._last_miss_fetch < self._cooldown:
                    return False
                self._last_miss_fetch = now
            else:
                if self._loaded and now < self._expires_at:
                    return True
                if now - self._last_attempt < self._retry:
                    return False
            self._last_attempt = now
            return self._fetch(now)

    def _fetch(self, now: float) -> bool:
        self.fetches += 1
        try:
            response = self._session.get(
                self.url,
                timeout=self._timeout,
                # Fetched every few minutes: an idle keep-alive connection would only delay
                # the service's graceful shutdown (by its 5 s keep-alive timeout).
                headers={"Accept": "application/json", "Connection": "close"},
            )
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            keys, first = parse_jwks(response.json())
        except (requests.RequestException, ValueError) as e:
            log.warning("JWKS fetch from %s failed: %s", self.url, e)
            return False
        max_age = max_age_of(response.headers)
        if keys.keys() != self._keys.keys():
            log.info("JWKS: signing keys now %s", ", ".join(keys) or "(none)")
        self._keys, self._first = keys, first
        self._loaded = True
        self.max_age = max_age
        self._expires_at = now + max_age
        return True
