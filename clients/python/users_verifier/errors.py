"""The errors :meth:`users_verifier.Verifier.verify` raises.

Every one is a :class:`VerificationError` carrying the HTTP status a resource server
should answer (``status``) and a ``message`` that is, where the users service has one for
the same case, the service's own text, so that clients see the same answers whichever
service refused their token.
"""

from __future__ import annotations

from typing import Optional

#: The users service's texts.
MSG_INVALID = "Invalid token. Please log in again."
MSG_EXPIRED = "Signature expired. Please log in again."
MSG_REVOKED = "Token revoked. Please log in again."
MSG_USER_GONE = "Something went wrong. Please contact us."
MSG_PROVIDE_TOKEN = "Provide a valid auth token."
MSG_UNAVAILABLE = "Service unavailable. Try again later."


class VerificationError(Exception):
    """A token was not accepted.

    Attributes:
        message: the text to show the client (the users service's text where it has one).
        status: the HTTP status a resource server answers with.
        reason: a short machine-readable cause, for logs and metrics; never the token.
    """

    default_message = MSG_INVALID
    status = 401

    def __init__(self, message: Optional[str] = None, *, reason: str = "") -> None:
        self.message: str = message if message is not None else self.default_message
        self.reason: str = reason
        super().__init__(self.message)


class InvalidToken(VerificationError):
    """Malformed, wrongly signed, unknown key, wrong algorithm, issuer or audience."""

    default_message = MSG_INVALID


class ExpiredToken(VerificationError):
    """The token's ``exp`` has passed (a valid signature otherwise)."""

    default_message = MSG_EXPIRED


class RevokedToken(VerificationError):
    """The token was revoked: its session ended (``reason == "session"``: logout, logout
    everywhere, password change, ...) or its user was deactivated or deleted
    (``reason == "user"``, with the service's message for that case)."""

    default_message = MSG_REVOKED


class MissingToken(VerificationError):
    """No ``Authorization`` header (or an empty one): 403, as the users service answers."""

    default_message = MSG_PROVIDE_TOKEN
    status = 403


class Unavailable(VerificationError):
    """The verifier cannot tell whether the token was revoked (the revocation feed has not
    answered for longer than ``fail_closed_after`` seconds under ``fail_closed``), or has no
    signing keys at all (the JWKS could never be fetched): 503, try again later."""

    default_message = MSG_UNAVAILABLE
    status = 503


__all__ = [
    "VerificationError",
    "InvalidToken",
    "ExpiredToken",
    "RevokedToken",
    "MissingToken",
    "Unavailable",
    "MSG_INVALID",
    "MSG_EXPIRED",
    "MSG_REVOKED",
    "MSG_USER_GONE",
    "MSG_PROVIDE_TOKEN",
    "MSG_UNAVAILABLE",
]
