//! Part B sessions: logout that revokes, refresh rotation with reuse detection and a grace
//! window, password change, legacy tokens. Every test on every backend.

use futures_util::future::join_all;
use serde_json::{Value, json};
use users_db::testing::TestDb;

use crate::helpers::{Reply, TestApp, bearer, get, post_json, send};
use crate::init;

const REVOKED: &str = "Token revoked. Please log in again.";
const BAD_REFRESH: &str = "Invalid refresh token. Please log in again.";

fn creds() -> Value {
    json!({"email": "test@test.com", "password": "test"})
}

struct Pair {
    access: String,
    refresh: String,
}

fn pair(r: &Reply) -> Pair {
    assert!(r.status.is_success(), "{}", r.body);
    Pair {
        access: r.body["auth_token"].as_str().unwrap().to_owned(),
        refresh: r.body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

fn refresh_req(token: &str) -> actix_web::test::TestRequest {
    post_json("/auth/refresh", &json!({"refresh_token": token}))
}

/// Runs `body` on every backend with extra configuration.
fn apps(extra: &[(&str, &str)]) -> Vec<TestApp> {
    TestDb::all()
        .into_iter()
        .map(|db| TestApp::with_vars(db, extra))
        .collect()
}

#[actix_web::test]
async fn login_and_register_open_sessions() {
    for t in TestApp::all() {
        let app = init!(t);
        let body = json!({"username": "a", "email": "a@test.com", "password": "pw"});
        let reg = pair(&send(&app, post_json("/auth/register", &body)).await);
        t.add_user("test", "test@test.com", "test");
        let log = pair(&send(&app, post_json("/auth/login", &creds())).await);
        for p in [&reg, &log] {
            let claims = t.state.tokens.decode_auth_token(&p.access).unwrap();
            let sid = claims.sid.expect("sid");
            assert!(claims.jti.is_some());
            assert!(p.refresh.starts_with(&format!("{sid}.0.")));
            assert!(p.refresh.len() >= 32, "at least 128 bits");
        }
        let a = t.state.tokens.decode_auth_token(&reg.access).unwrap();
        let b = t.state.tokens.decode_auth_token(&log.access).unwrap();
        assert_ne!(a.sid, b.sid);
    }
}

#[actix_web::test]
async fn logout_revokes_only_that_session() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let one = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let two = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let r = send(&app, bearer(get("/auth/logout"), &one.access)).await;
        r.assert(200, "success", "Successfully logged out.");
        send(&app, bearer(get("/auth/status"), &one.access))
            .await
            .assert(401, "error", REVOKED);
        send(&app, bearer(get("/auth/logout"), &one.access))
            .await
            .assert(401, "error", REVOKED);
        let r = send(&app, bearer(get("/auth/status"), &two.access)).await;
        assert_eq!(r.status.as_u16(), 200, "{}: other session", t.backend());
        // Refresh after logout is refused.
        send(&app, refresh_req(&one.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
        assert_eq!(
            send(&app, refresh_req(&two.refresh)).await.status.as_u16(),
            200
        );
    }
}

#[actix_web::test]
async fn logout_all_revokes_every_session() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        t.add_user("other", "other@test.com", "test");
        let one = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let two = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let other_creds = json!({"email": "other@test.com", "password": "test"});
        let other = pair(&send(&app, post_json("/auth/login", &other_creds)).await);
        let r = send(
            &app,
            bearer(post_json("/auth/logout/all", &json!({})), &one.access),
        )
        .await;
        r.assert(200, "success", "Successfully logged out.");
        for p in [&one, &two] {
            send(&app, bearer(get("/auth/status"), &p.access))
                .await
                .assert(401, "error", REVOKED);
            send(&app, refresh_req(&p.refresh))
                .await
                .assert(401, "error", BAD_REFRESH);
        }
        let r = send(&app, bearer(get("/auth/status"), &other.access)).await;
        assert_eq!(
            r.status.as_u16(),
            200,
            "another user's session is untouched"
        );
    }
}

#[actix_web::test]
async fn refresh_rotates_and_keeps_the_session() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let first = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let r = send(&app, refresh_req(&first.refresh)).await;
        r.assert(200, "success", "Token refreshed.");
        let second = pair(&r);
        assert_ne!(second.refresh, first.refresh);
        let sid = |tok: &str| t.state.tokens.decode_auth_token(tok).unwrap().sid;
        assert_eq!(sid(&first.access), sid(&second.access));
        let r = send(&app, bearer(get("/auth/status"), &second.access)).await;
        assert_eq!(r.status.as_u16(), 200);
        // The new refresh token rotates in turn.
        let third = pair(&send(&app, refresh_req(&second.refresh)).await);
        assert_ne!(third.refresh, second.refresh);
    }
}

#[actix_web::test]
async fn predecessor_within_grace_gets_the_same_successor() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let first = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let a = pair(&send(&app, refresh_req(&first.refresh)).await);
        let b = pair(&send(&app, refresh_req(&first.refresh)).await);
        assert_eq!(a.refresh, b.refresh, "{}", t.backend());
        for p in [&a, &b] {
            let r = send(&app, bearer(get("/auth/status"), &p.access)).await;
            assert_eq!(r.status.as_u16(), 200);
        }
    }
}

#[actix_web::test]
async fn eight_simultaneous_refreshes_share_one_successor() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let first = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let replies = join_all((0..8).map(|_| send(&app, refresh_req(&first.refresh)))).await;
        let pairs: Vec<Pair> = replies.iter().map(pair).collect();
        assert!(
            pairs.iter().all(|p| p.refresh == pairs[0].refresh),
            "{}: one successor",
            t.backend()
        );
        assert_eq!(
            send(&app, refresh_req(&pairs[0].refresh))
                .await
                .status
                .as_u16(),
            200
        );
    }
}

#[actix_web::test]
async fn reuse_outside_grace_revokes_the_session() {
    for t in apps(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let first = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let second = pair(&send(&app, refresh_req(&first.refresh)).await);
        std::thread::sleep(std::time::Duration::from_millis(5));
        // The rotated-out token again: reuse.
        send(&app, refresh_req(&first.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
        // The whole session is gone: the legitimate successor and every access token.
        send(&app, refresh_req(&second.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
        for access in [&first.access, &second.access] {
            send(&app, bearer(get("/auth/status"), access))
                .await
                .assert(401, "error", REVOKED);
        }
    }
}

#[actix_web::test]
async fn older_token_is_reuse_even_within_grace() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let first = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let second = pair(&send(&app, refresh_req(&first.refresh)).await);
        let third = pair(&send(&app, refresh_req(&second.refresh)).await);
        send(&app, refresh_req(&first.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
        send(&app, refresh_req(&third.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
    }
}

#[actix_web::test]
async fn a_reuse_race_never_leaves_two_live_successors() {
    for t in apps(&[("REFRESH_REUSE_GRACE_SECONDS", "0")]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let first = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let replies = join_all((0..8).map(|_| send(&app, refresh_req(&first.refresh)))).await;
        let mut successors: Vec<String> = replies
            .iter()
            .filter(|r| r.status.as_u16() == 200)
            .map(|r| pair(r).refresh)
            .collect();
        successors.dedup();
        assert!(successors.len() <= 1, "{}: {successors:?}", t.backend());
        for r in replies.iter().filter(|r| r.status.as_u16() != 200) {
            r.assert(401, "error", BAD_REFRESH);
        }
        let live = join_all(successors.iter().map(|s| send(&app, refresh_req(s)))).await;
        let live = live.iter().filter(|r| r.status.as_u16() == 200).count();
        assert!(live <= 1);
    }
}

#[actix_web::test]
async fn inactive_user_gets_no_tokens_from_refresh() {
    for t in TestApp::all() {
        let app = init!(t);
        let user = t.add_user("test", "test@test.com", "test");
        t.set_active(&user, false);
        // Part A: login still succeeds for an inactive user...
        let first = pair(&send(&app, post_json("/auth/login", &creds())).await);
        // ...but the session gives no new tokens.
        send(&app, refresh_req(&first.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
    }
}

#[actix_web::test]
async fn expired_session_refuses_refresh() {
    for t in apps(&[("REFRESH_TOKEN_EXPIRATION_DAYS", "0")]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let first = pair(&send(&app, post_json("/auth/login", &creds())).await);
        send(&app, refresh_req(&first.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
        send(&app, bearer(get("/auth/status"), &first.access))
            .await
            .assert(401, "error", REVOKED);
    }
}

#[actix_web::test]
async fn bad_refresh_requests() {
    for t in TestApp::all() {
        let app = init!(t);
        for body in [
            "",
            "{}",
            "[]",
            "null",
            "{\"refresh_token\": 5}",
            "{\"refresh_token\": \"\"}",
        ] {
            let req = crate::helpers::post_raw("/auth/refresh", body);
            send(&app, req)
                .await
                .assert(400, "error", "Invalid payload.");
        }
        let other =
            auth_token::RefreshTokens::new(&auth_token::SecretKey::new(b"x".to_vec()).unwrap());
        for token in [
            "garbage".to_owned(),
            "a.0.b".to_owned(),
            other.issue("abc", 0),
        ] {
            send(&app, refresh_req(&token))
                .await
                .assert(401, "error", BAD_REFRESH);
        }
        // Well-formed and correctly signed, for a session that does not exist.
        let forged_ok = t.state.refresh.issue("doesnotexist", 0);
        send(&app, refresh_req(&forged_ok))
            .await
            .assert(401, "error", BAD_REFRESH);
    }
}

#[actix_web::test]
async fn password_change_revokes_other_sessions() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let mine = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let other = pair(&send(&app, post_json("/auth/login", &creds())).await);
        let put = |body: Value| {
            bearer(
                actix_web::test::TestRequest::put()
                    .uri("/auth/password")
                    .insert_header(("content-type", "application/json"))
                    .set_payload(body.to_string()),
                &mine.access,
            )
        };
        send(
            &app,
            put(json!({"old_password": "wrong", "new_password": "new-pass"})),
        )
        .await
        .assert(400, "error", "Old password is incorrect.");
        for bad in [
            json!({}),
            json!({"old_password": "test"}),
            json!({"old_password": "test", "new_password": ""}),
            json!({"old_password": "test", "new_password": "x".repeat(1025)}),
        ] {
            send(&app, put(bad))
                .await
                .assert(400, "error", "Invalid payload.");
        }
        let r = send(
            &app,
            put(json!({"old_password": "test", "new_password": "new-pass"})),
        )
        .await;
        r.assert(200, "success", "Password updated.");
        assert_eq!(
            send(&app, bearer(get("/auth/status"), &mine.access))
                .await
                .status
                .as_u16(),
            200
        );
        send(&app, bearer(get("/auth/status"), &other.access))
            .await
            .assert(401, "error", REVOKED);
        send(&app, refresh_req(&other.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
        send(&app, post_json("/auth/login", &creds())).await.assert(
            404,
            "error",
            "User does not exist.",
        );
        let new_creds = json!({"email": "test@test.com", "password": "new-pass"});
        assert_eq!(
            send(&app, post_json("/auth/login", &new_creds))
                .await
                .status
                .as_u16(),
            200
        );
    }
}

#[actix_web::test]
async fn deactivation_and_deletion_revoke_sessions() {
    for t in TestApp::all() {
        let app = init!(t);
        let user = t.add_user("test", "test@test.com", "test");
        let p = pair(&send(&app, post_json("/auth/login", &creds())).await);
        // Plain SQL deactivation (an operator), then reactivation: the session stays revoked.
        t.set_active(&user, false);
        send(&app, bearer(get("/auth/status"), &p.access))
            .await
            .assert(401, "error", "Something went wrong. Please contact us.");
        t.set_active(&user, true);
        send(&app, bearer(get("/auth/status"), &p.access))
            .await
            .assert(401, "error", REVOKED);
        send(&app, refresh_req(&p.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
        // Deletion cascades to the sessions.
        let q = pair(&send(&app, post_json("/auth/login", &creds())).await);
        assert!(users_db::users::delete(&mut t.db.conn(), user.id).unwrap());
        send(&app, refresh_req(&q.refresh))
            .await
            .assert(401, "error", BAD_REFRESH);
        let sid = t
            .state
            .tokens
            .decode_auth_token(&q.access)
            .unwrap()
            .sid
            .unwrap();
        assert!(
            users_db::sessions::find(&mut t.db.conn(), &sid)
                .unwrap()
                .is_none()
        );
    }
}

#[actix_web::test]
async fn legacy_tokens_without_sid() {
    for t in TestApp::all() {
        let app = init!(t);
        let user = t.add_user("test", "test@test.com", "test");
        let legacy = t.state.tokens.encode_auth_token(user.id).unwrap();
        let r = send(&app, bearer(get("/auth/status"), &legacy)).await;
        assert_eq!(r.status.as_u16(), 200, "accepted by default");
    }
    for t in apps(&[("ACCEPT_LEGACY_TOKENS", "false")]) {
        let app = init!(t);
        let user = t.add_user("test", "test@test.com", "test");
        let legacy = t.state.tokens.encode_auth_token(user.id).unwrap();
        send(&app, bearer(get("/auth/status"), &legacy))
            .await
            .assert(401, "error", "Invalid token. Please log in again.");
        let p = pair(&send(&app, post_json("/auth/login", &creds())).await);
        assert_eq!(
            send(&app, bearer(get("/auth/status"), &p.access))
                .await
                .status
                .as_u16(),
            200
        );
    }
}
