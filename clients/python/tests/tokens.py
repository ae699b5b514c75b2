"""Tokens made in the tests: forgeries, and tokens signed with the service's own key."""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any, Dict, Optional

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub: str = "1", *, lifetime: int = 600, **extra: Any) -> Dict[str, Any]:
    now = int(time.time())
    base = {"sub": sub, "iat": now, "exp": now + lifetime, "sid": secrets.token_hex(16),
            "jti": secrets.token_hex(16)}
    base.update(extra)
    return base


def sign_with_pem(pem: Path, payload: Dict[str, Any], kid: Optional[str]) -> str:
    """An EdDSA token signed with a PEM private key (the service's own, for a control)."""
    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm="EdDSA", headers=headers)


def random_eddsa(payload: Dict[str, Any], kid: Optional[str]) -> str:
    """An EdDSA token signed with a key nobody knows."""
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA",
                      headers=headers)


def random_es256(payload: Dict[str, Any], kid: Optional[str]) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                      headers=headers)


def hand_made(header: Dict[str, Any], payload: Dict[str, Any], mac_key: Optional[bytes]) -> str:
    """A token assembled by hand: HS256 over any key bytes (even a public key, which PyJWT
    refuses to do), or no signature at all when mac_key is None (``alg: none``)."""
    import hashlib
    import hmac

    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(payload).encode()))
    if mac_key is None:
        return signing_input + "."
    mac = hmac.new(mac_key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)
