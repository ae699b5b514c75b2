"""Offline verification of the users service's access tokens, honouring logout.

    from users_verifier import Verifier, VerificationError

    verifier = Verifier("http://users:5000", feed_token=os.environ["REVOCATION_FEED_TOKEN"])
    verifier.start()
    try:
        claims = verifier.verify(token)       # {"sub": "42", "sid": ..., "exp": ...}
    except VerificationError as e:
        ...                                    # e.status (401/403/503), e.message

Flask: :mod:`users_verifier.flask` (``pip install 'users-service-verifier[flask]'``).
"""

from .errors import (
    ExpiredToken,
    InvalidToken,
    MissingToken,
    RevokedToken,
    Unavailable,
    VerificationError,
)
from .verifier import FAIL_CLOSED, SIGNATURES_ONLY, Verifier, verify_request_headers

__version__ = "0.1.0"

__all__ = [
    "Verifier",
    "verify_request_headers",
    "VerificationError",
    "InvalidToken",
    "ExpiredToken",
    "RevokedToken",
    "MissingToken",
    "Unavailable",
    "FAIL_CLOSED",
    "SIGNATURES_ONLY",
]
