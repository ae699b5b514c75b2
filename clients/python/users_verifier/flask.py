"""Flask integration: a decorator for protected views.

    from flask import Flask, g
    from users_verifier import Verifier
    from users_verifier.flask import require_token

    verifier = Verifier("http://users:5000", feed_token="...").start()
    app = Flask(__name__)

    @app.get("/me")
    @require_token(verifier)
    def me():
        return {"user_id": g.claims["sub"]}

Answers as the users service does: 403 ``Provide a valid auth token.`` without an
``Authorization`` header, 401 with the service's message for a bad, expired or revoked
token, and 503 ``Service unavailable. Try again later.`` when the verifier cannot tell
whether a token was revoked (:class:`~users_verifier.Unavailable`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, TypeVar, cast

import flask

from .errors import VerificationError
from .verifier import Headers, Verifier
from .verifier import verify_request_headers as _verify_request_headers

F = TypeVar("F", bound=Callable[..., Any])


def verify_request_headers(verifier: Verifier, headers: Headers) -> Dict[str, Any]:
    """The claims of the request's bearer token; see
    :func:`users_verifier.verify_request_headers` (raises a VerificationError)."""
    return _verify_request_headers(verifier, headers)


def error_response(error: VerificationError) -> flask.Response:
    """The JSON answer for a refused token: ``{"status": "error", "message": ...}``."""
    response = flask.jsonify({"status": "error", "message": error.message})
    response.status_code = error.status
    return response


def require_token(verifier: Verifier) -> Callable[[F], F]:
    """A view decorator: verifies ``Authorization: Bearer <token>`` with ``verifier`` and
    puts the claims in ``flask.g.claims``, or answers 403/401/503 without calling the
    view."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                claims = _verify_request_headers(verifier, flask.request.headers)
            except VerificationError as error:
                return error_response(error)
            flask.g.claims = claims
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


__all__ = ["require_token", "verify_request_headers", "error_response"]
