"""(b) Revocations reach an offline verifier within a second: logout, logout everywhere,
ending one session, password change, deactivation and deletion of a user; a token issued
after a re-activation verifies."""

from __future__ import annotations

import logging
import time

import pytest

from live_service import Api, flips_within
from users_verifier import InvalidToken, RevokedToken, Verifier
from users_verifier.errors import MSG_REVOKED, MSG_USER_GONE

LIMIT = 1.0


def assert_flips(verifier: Verifier, token: str, began: float, message: str) -> float:
    """``token`` is refused (RevokedToken with ``message``) within LIMIT seconds of
    ``began`` (the monotonic time the revoking call returned); the seconds it took."""
    took, error = flips_within(lambda: verifier.verify(token), since=began)
    assert isinstance(error, RevokedToken), repr(error)
    assert error.message == message and error.status == 401
    assert took <= LIMIT, f"refused only {took:.3f} s after the revocation"
    return took


def test_logout_refused_within_a_second(api: Api, verifier: Verifier) -> None:
    user, bystander = api.register(), api.register()
    verifier.verify(user["token"])
    api.call("GET", "/auth/logout", token=user["token"])
    assert_flips(verifier, user["token"], time.monotonic(), MSG_REVOKED)
    # The service agrees, and nobody else was logged out.
    body = api.call("GET", "/auth/status", token=user["token"], expect=401)
    assert body["message"] == MSG_REVOKED
    assert verifier.verify(bystander["token"])["sub"] == str(bystander["id"])


def test_logout_all_refuses_every_session(api: Api, verifier: Verifier) -> None:
    user = api.register()
    second, _ = api.login(user["email"], user["password"])
    assert verifier.verify(user["token"])["sid"] != verifier.verify(second)["sid"]
    api.call("POST", "/auth/logout/all", token=second)
    began = time.monotonic()
    assert_flips(verifier, user["token"], began, MSG_REVOKED)
    assert_flips(verifier, second, began, MSG_REVOKED)


def test_refreshed_token_of_a_logged_out_session_refused(api: Api, verifier: Verifier) -> None:
    user = api.register()
    body = api.call("POST", "/auth/refresh", json={"refresh_token": user["refresh_token"]})
    refreshed = body["auth_token"]
    assert verifier.verify(refreshed)["sid"] == verifier.verify(user["token"])["sid"]
    api.call("GET", "/auth/logout", token=refreshed)
    began = time.monotonic()
    assert_flips(verifier, refreshed, began, MSG_REVOKED)
    assert_flips(verifier, user["token"], began, MSG_REVOKED)


def test_ending_one_session_and_password_change(api: Api, verifier: Verifier) -> None:
    user = api.register()
    laptop, _ = api.login(user["email"], user["password"])
    phone, _ = api.login(user["email"], user["password"])
    laptop_sid = verifier.verify(laptop)["sid"]
    # DELETE /auth/sessions/{id} from another session ends that one only.
    api.call("DELETE", f"/auth/sessions/{laptop_sid}", token=user["token"])
    assert_flips(verifier, laptop, time.monotonic(), MSG_REVOKED)
    verifier.verify(phone)
    # A password change revokes every other session, not the caller's.
    api.call("PUT", "/auth/password", token=user["token"],
             json={"old_password": user["password"], "new_password": "new-" + user["password"]})
    assert_flips(verifier, phone, time.monotonic(), MSG_REVOKED)
    verifier.verify(user["token"])


def test_deactivation_then_reactivation(api: Api, admin_token: str, verifier: Verifier) -> None:
    user = api.register()
    second, _ = api.login(user["email"], user["password"])
    verifier.verify(user["token"])
    api.call("PATCH", f"/users/{user['id']}", token=admin_token, json={"active": False})
    deactivated_at = time.time()
    began = time.monotonic()
    # The service answers a deactivated user's token with this message; so do we.
    assert_flips(verifier, user["token"], began, MSG_USER_GONE)
    assert_flips(verifier, second, began, MSG_USER_GONE)
    # A user event revokes the tokens that expire by its exp (issued up to the event; the
    # service adds a second for sub-second issue times): a token issued two whole seconds
    # later expires after it.
    time.sleep(max(0.0, int(deactivated_at) + 2 - time.time()))
    api.call("PATCH", f"/users/{user['id']}", token=admin_token, json={"active": True})
    fresh, _ = api.login(user["email"], user["password"])
    claims = verifier.verify(fresh)
    assert claims["sub"] == str(user["id"])
    api.call("GET", "/auth/status", token=fresh)
    # The old tokens stay refused.
    for old in (user["token"], second):
        with pytest.raises(RevokedToken):
            verifier.verify(old)


def test_deleted_user_refused_within_a_second(api: Api, admin_token: str,
                                              verifier: Verifier) -> None:
    user = api.register()
    verifier.verify(user["token"])
    api.call("DELETE", f"/users/{user['id']}", token=admin_token)
    assert_flips(verifier, user["token"], time.monotonic(), MSG_USER_GONE)


def test_no_token_or_secret_in_the_logs(api: Api, make_verifier,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="users_verifier")
    user = api.register()
    v = make_verifier(feed_wait=1)
    v.verify(user["token"])
    with pytest.raises(InvalidToken):
        v.verify(user["token"] + "x")
    api.call("GET", "/auth/logout", token=user["token"])
    flips_within(lambda: v.verify(user["token"]))
    bad_feed = make_verifier(feed_token="wrong-" + "x" * 40, fail_closed_after=0.5)
    with pytest.raises(Exception):
        bad_feed.verify(api.register()["token"])
    text = caplog.text
    assert "revocation feed: 401" in text
    secrets = [user["token"], user["refresh_token"], v._feed._headers["Authorization"]]
    secrets += [part for part in user["token"].split(".")]
    for secret in secrets:
        assert secret not in text
