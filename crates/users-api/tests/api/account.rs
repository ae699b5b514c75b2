//! Part C's account and sessions view: `GET /auth/account`, `GET /auth/sessions` and
//! `DELETE /auth/sessions/{id}`. Every backend.

use actix_web::test::TestRequest;
use diesel::prelude::*;
use serde_json::{Value, json};
use users_db::schema::sessions;

use crate::helpers::{Reply, TestApp, bearer, get, post_json, send};
use crate::init;

const PASSWORD: &str = "correct horse";

macro_rules! call {
    ($app:expr, $req:expr) => {
        send(&$app, $req).await
    };
}

fn with_agent(req: TestRequest, agent: Option<&str>) -> TestRequest {
    match agent {
        Some(a) => req.insert_header(("user-agent", a)),
        None => req,
    }
}

#[track_caller]
fn ok(r: &Reply) {
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.word(), "success", "{}", r.body);
}

fn is_http_date(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        chrono::NaiveDateTime::parse_from_str(s, "%a, %d %b %Y %H:%M:%S GMT").is_ok()
    })
}

#[actix_web::test]
async fn the_account_shows_verification_and_the_second_factor() {
    for t in TestApp::all() {
        let b = t.backend();
        let app = init!(t);
        let r = call!(
            app,
            post_json(
                "/auth/register",
                &json!({"username": "ann", "email": "ann@test.com", "password": crate::mfa::PASSWORD})
            )
        );
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        let r = call!(app, bearer(get("/auth/account"), &token));
        ok(&r);
        let data = &r.body["data"];
        let keys: Vec<&str> = data
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys.len(),
            7,
            "{b}: id, username, email, email_verified, mfa_enabled, recovery_codes_left, created_at: {keys:?}"
        );
        assert!(data["id"].is_i64(), "{b}");
        assert_eq!(data["username"], "ann");
        assert_eq!(data["email"], "ann@test.com");
        assert_eq!(
            data["email_verified"], false,
            "{b}: a new account starts unverified"
        );
        assert_eq!(data["mfa_enabled"], false);
        assert_eq!(data["recovery_codes_left"], 0);
        assert!(
            is_http_date(&data["created_at"]),
            "{b}: {}",
            data["created_at"]
        );

        let (_, codes) = crate::mfa::enable(&app, &token).await;
        let data = call!(app, bearer(get("/auth/account"), &token)).body["data"].clone();
        assert_eq!(data["mfa_enabled"], true, "{b}");
        assert_eq!(data["recovery_codes_left"], 10, "{b}");
        // A recovery code spent at login: nine left.
        let first = call!(
            app,
            post_json(
                "/auth/login",
                &json!({"email": "ann@test.com", "password": crate::mfa::PASSWORD})
            )
        );
        let mfa = first.body["mfa_token"].as_str().unwrap();
        call!(
            app,
            post_json(
                "/auth/login/mfa",
                &json!({"mfa_token": mfa, "recovery_code": codes[0]})
            )
        )
        .assert(200, "success", "Successfully logged in.");
        let data = call!(app, bearer(get("/auth/account"), &token)).body["data"].clone();
        assert_eq!(data["recovery_codes_left"], 9, "{b}");
        // Without a token: the usual 403.
        call!(app, get("/auth/account")).assert(403, "error", "Provide a valid auth token.");
    }
}

#[actix_web::test]
async fn sessions_are_listed_newest_first_and_can_be_ended_one_by_one() {
    for t in TestApp::all() {
        let b = t.backend();
        let app = init!(t);
        let register = with_agent(
            post_json(
                "/auth/register",
                &json!({"username": "bob", "email": "bob@test.com", "password": PASSWORD}),
            ),
            Some("agent-one"),
        );
        let first = call!(app, register);
        let login = |agent: Option<&'static str>| {
            with_agent(
                post_json(
                    "/auth/login",
                    &json!({"email": "bob@test.com", "password": PASSWORD}),
                ),
                agent,
            )
        };
        let second = call!(app, login(Some("agent-two")));
        let third = call!(app, login(None));
        let (t1, t2, t3) = (
            first.body["auth_token"].as_str().unwrap().to_owned(),
            second.body["auth_token"].as_str().unwrap().to_owned(),
            third.body["auth_token"].as_str().unwrap().to_owned(),
        );
        // Distinct creation times, so that "newest first" is observable (after the user's
        // own: a session older than its user is not theirs).
        let ids: Vec<String> = sessions::table
            .order(sessions::created_at.asc())
            .select(sessions::id)
            .load(&mut t.db.connect())
            .unwrap();
        assert_eq!(ids.len(), 3, "{b}");
        for (i, id) in ids.iter().enumerate() {
            let at = users_domain::now_utc() + chrono::TimeDelta::seconds(10 * (i as i64 + 1));
            diesel::update(sessions::table.find(id))
                .set((sessions::created_at.eq(at), sessions::last_seen_at.eq(at)))
                .execute(&mut t.db.connect())
                .unwrap();
        }

        let r = call!(app, bearer(get("/auth/sessions"), &t2));
        ok(&r);
        let list = r.body["data"]["sessions"].as_array().unwrap().clone();
        assert_eq!(list.len(), 3, "{b}: {list:?}");
        let agents: Vec<&Value> = list.iter().map(|s| &s["user_agent"]).collect();
        assert_eq!(
            agents,
            [&Value::Null, &json!("agent-two"), &json!("agent-one")],
            "{b}: newest first"
        );
        let current: Vec<bool> = list.iter().map(|s| s["current"] == true).collect();
        assert_eq!(current, [false, true, false], "{b}");
        for s in &list {
            assert!(
                is_http_date(&s["created_at"]) && is_http_date(&s["last_seen_at"]),
                "{s}"
            );
            assert_eq!(s.as_object().unwrap().len(), 5, "{b}: {s}");
        }
        let id_of = |i: usize| list[i]["id"].as_str().unwrap().to_owned();
        let (third_id, first_id) = (id_of(0), id_of(2));

        // last_seen_at moves at refresh.
        let before = list[2]["last_seen_at"].clone();
        let refresh = first.body["refresh_token"].as_str().unwrap();
        call!(
            app,
            post_json("/auth/refresh", &json!({"refresh_token": refresh}))
        )
        .assert(200, "success", "Token refreshed.");
        let list = call!(app, bearer(get("/auth/sessions"), &t2)).body["data"]["sessions"].clone();
        let moved = list
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == first_id.as_str())
            .unwrap();
        assert_ne!(
            moved["last_seen_at"], before,
            "{b}: refresh moves last_seen_at"
        );

        // Ending another of one's sessions.
        let end = |id: &str, token: &str| {
            bearer(
                TestRequest::delete().uri(&format!("/auth/sessions/{id}")),
                token,
            )
        };
        call!(app, end(&third_id, &t2)).assert(200, "success", "Session revoked.");
        call!(app, bearer(get("/auth/status"), &t3)).assert(
            401,
            "error",
            "Token revoked. Please log in again.",
        );
        call!(app, end(&third_id, &t2)).assert(404, "fail", "Session not found.");
        call!(app, end("no-such-session", &t2)).assert(404, "fail", "Session not found.");
        let list = call!(app, bearer(get("/auth/sessions"), &t2)).body["data"]["sessions"].clone();
        assert_eq!(list.as_array().unwrap().len(), 2, "{b}");
        // A logged-out session is not listed either.
        call!(app, bearer(get("/auth/logout"), &t1));
        let list = call!(app, bearer(get("/auth/sessions"), &t2)).body["data"]["sessions"].clone();
        assert_eq!(list.as_array().unwrap().len(), 1, "{b}");

        // Another user's session is not the caller's.
        let other = call!(
            app,
            post_json(
                "/auth/register",
                &json!({"username": "cy", "email": "cy@test.com", "password": PASSWORD})
            )
        );
        let other_token = other.body["auth_token"].as_str().unwrap();
        let mine = list[0]["id"].as_str().unwrap().to_owned();
        call!(app, end(&mine, other_token)).assert(404, "fail", "Session not found.");
        ok(&call!(app, bearer(get("/auth/status"), &t2)));
        // Ending one's own current session logs the caller out.
        call!(app, end(&mine, &t2)).assert(200, "success", "Session revoked.");
        call!(app, bearer(get("/auth/status"), &t2)).assert(
            401,
            "error",
            "Token revoked. Please log in again.",
        );
    }
}
