"""The Flask decorator answers as the users service does (same status codes and messages for
the same Authorization headers), 503 when the feed is down; the example app works."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, Tuple

import flask
import pytest
import requests

from live_service import Api, LiveService, flips_within, free_port
from users_verifier import MissingToken, Verifier, verify_request_headers
from users_verifier.errors import MSG_PROVIDE_TOKEN, MSG_UNAVAILABLE
from users_verifier.flask import require_token

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "flask_app.py")


def make_app(verifier: Verifier) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/me")
    @require_token(verifier)
    def me() -> Dict[str, Any]:
        return {"status": "success", "data": {"sub": flask.g.claims["sub"]}}

    return app


def answer(client, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any]]:
    response = client.get("/me", headers=headers)
    return response.status_code, response.get_json()


def service_answer(api: Api, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any]]:
    response = requests.get(api.base_url + "/auth/status", headers=headers, timeout=5)
    return response.status_code, response.json()


def test_require_token_answers_as_the_service(api: Api, verifier: Verifier) -> None:
    client = make_app(verifier).test_client()
    user = api.register()
    cases = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer " + user["token"] + "x"},
        {"Authorization": "Bearer " + "a" * 9000},
    ]
    for headers in cases:
        ours, theirs = answer(client, headers), service_answer(api, headers)
        assert ours == (theirs[0], {"status": "error", "message": theirs[1]["message"]}), headers
    assert answer(client, {})[1]["message"] == MSG_PROVIDE_TOKEN
    ok = {"Authorization": "Bearer " + user["token"]}
    assert answer(client, ok) == (200, {"status": "success", "data": {"sub": str(user["id"])}})
    assert answer(client, {"authorization": "bearer " + user["token"]})[0] == 200
    api.call("GET", "/auth/logout", token=user["token"])

    def still_ok() -> None:
        assert answer(client, ok)[0] == 200

    took, _ = flips_within(still_ok)
    assert took <= 1.0
    ours, theirs = answer(client, ok), service_answer(api, ok)
    assert ours == (401, {"status": "error", "message": theirs[1]["message"]})


def test_unavailable_is_503(api: Api, make_verifier) -> None:
    verifier = make_verifier(feed_token="not-the-feed-token-" + "x" * 30, fail_closed_after=0.5)
    client = make_app(verifier).test_client()
    user = api.register()
    status, body = answer(client, {"Authorization": "Bearer " + user["token"]})
    assert (status, body) == (503, {"status": "error", "message": MSG_UNAVAILABLE})


def test_verify_request_headers(api: Api, verifier: Verifier) -> None:
    user = api.register()
    claims = verify_request_headers(verifier, {"authorization": "Bearer " + user["token"]})
    assert claims["sub"] == str(user["id"])
    with pytest.raises(MissingToken) as e:
        verify_request_headers(verifier, {"Accept": "*/*"})
    assert (e.value.status, e.value.message) == (403, MSG_PROVIDE_TOKEN)


@pytest.fixture
def example_app(service: LiveService) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, USERS_API_URL=service.base_url, PORT=str(port),
               REVOCATION_FEED_TOKEN=service.feed_token)
    proc = subprocess.Popen([sys.executable, EXAMPLE], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(url + "/notes", timeout=1)
            break
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the example app did not start"
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


def test_example_app(api: Api, example_app: str) -> None:
    user = api.register()
    headers = {"Authorization": "Bearer " + user["token"]}
    assert requests.get(example_app + "/notes", timeout=5).status_code == 403
    r = requests.get(example_app + "/notes", headers=headers, timeout=5)
    assert (r.status_code, r.json()["data"]["user_id"]) == (200, user["id"])
    api.call("GET", "/auth/logout", token=user["token"])

    def still_ok() -> None:
        assert requests.get(example_app + "/notes", headers=headers, timeout=5).ok

    took, _ = flips_within(still_ok)
    assert took <= 1.0
    r = requests.get(example_app + "/notes", headers=headers, timeout=5)
    assert (r.status_code, r.json()["message"]) == (401, "Token revoked. Please log in again.")
