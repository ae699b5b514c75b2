//! Bad input never yields a 5xx: every case gets the contract's 4xx JSON. And concurrency.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, bearer, get, login, post_json, post_raw, send};
use crate::init;

/// Bodies that are not a usable object, and objects with fields of the wrong type.
fn bad_bodies() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "{",
        "{\"username\": ",
        "not json",
        "[]",
        "[1,2]",
        "\"string\"",
        "42",
        "null",
        "true",
        "{}",
        "\u{0}\u{1}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for wrong in [
        json!(1),
        json!(true),
        json!({"a": 1}),
        json!([1]),
        Value::Null,
        json!(""),
    ] {
        v.push(json!({"username": wrong, "email": "a@b.c", "password": "pw"}).to_string());
        v.push(json!({"username": "a", "email": wrong, "password": "pw"}).to_string());
        v.push(json!({"username": "a", "email": "a@b.c", "password": wrong}).to_string());
    }
    v
}

#[actix_web::test]
async fn register_refuses_bad_bodies_with_400() {
    for t in TestApp::all() {
        let app = init!(t);
        for body in bad_bodies() {
            let r = send(&app, post_raw("/auth/register", &body)).await;
            assert_eq!(r.status.as_u16(), 400, "{body:?} -> {}", r.body);
            r.assert(400, "error", "Invalid payload.");
        }
    }
}

#[actix_web::test]
async fn post_users_refuses_bad_bodies_with_400() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user_with("admin", "admin@test.com", "pw", |u| u.admin = true);
        let token = login(&app, "admin@test.com", "pw").await;
        for body in bad_bodies() {
            let r = send(&app, bearer(post_raw("/users", &body), &token)).await;
            assert_eq!(r.status.as_u16(), 400, "{body:?} -> {}", r.body);
            r.assert(400, "fail", "Invalid payload.");
        }
    }
}

#[actix_web::test]
async fn login_refuses_bad_bodies_without_5xx() {
    for t in TestApp::all() {
        let app = init!(t);
        for body in bad_bodies() {
            let r = send(&app, post_raw("/auth/login", &body)).await;
            assert!(
                r.status.is_client_error() && r.is_json() && r.word() == "error",
                "{body:?} -> {} {}",
                r.status,
                r.body
            );
        }
    }
}

#[actix_web::test]
async fn long_unicode_and_control_strings() {
    for t in TestApp::all() {
        let app = init!(t);
        let long = "x".repeat(10_000);
        for (username, email, password, status) in [
            (long.as_str(), "a@b.c", "pw", 400),
            ("a", &format!("{long}@b.c") as &str, "pw", 400),
            ("a", "a@b.c", long.as_str(), 400),
            ("a\u{0}b", "a@b.c", "pw", 400),
            ("a", "a\n@b.c", "pw", 400),
            ("  ", "a@b.c", "pw", 400),
            ("Zoë 🦀 日本", "zoë@exämple.org", "pässwörd 🔑", 201),
        ] {
            let body = json!({"username": username, "email": email, "password": password});
            let r = send(&app, post_json("/auth/register", &body)).await;
            assert_eq!(r.status.as_u16(), status, "{} {}", t.backend(), r.body);
            assert!(r.is_json());
        }
        login(&app, "zoë@exämple.org", "pässwörd 🔑").await;
        let r = send(&app, get("/users")).await;
        assert_eq!(r.body["data"]["users"][0]["username"], "Zoë 🦀 日本");
        // A 10,000-character password at login is simply wrong, never a 5xx.
        let body = json!({"email": "zoë@exämple.org", "password": long});
        let r = send(&app, post_json("/auth/login", &body)).await;
        r.assert(404, "error", "User does not exist.");
    }
}

#[actix_web::test]
async fn huge_authorization_header_is_401() {
    for t in TestApp::all() {
        let app = init!(t);
        let huge = "a".repeat(1024 * 1024);
        let r = send(&app, bearer(get("/auth/status"), &huge)).await;
        r.assert(401, "error", "Invalid token. Please log in again.");
        let r = send(&app, bearer(get("/auth/status"), &format!("{huge}.b.c"))).await;
        r.assert(401, "error", "Invalid token. Please log in again.");
        let req = get("/auth/status").insert_header(("authorization", "Bearer é".to_owned()));
        send(&app, req)
            .await
            .assert(401, "error", "Invalid token. Please log in again.");
    }
}

#[actix_web::test]
async fn body_over_64_kib_is_413() {
    for t in TestApp::all() {
        let app = init!(t);
        let big = json!({"username": "a", "email": "a@b.c", "password": "x".repeat(70_000)});
        let r = send(&app, post_json("/auth/register", &big)).await;
        r.assert(413, "error", "Payload too large.");
        // Just under the limit is read and judged on its content.
        let fits = json!({"username": "a", "email": "a@b.c", "password": "x".repeat(60_000)});
        let r = send(&app, post_json("/auth/register", &fits)).await;
        r.assert(400, "error", "Invalid payload.");
    }
}

#[actix_web::test]
async fn authentication_is_checked_before_the_body_size() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("user", "user@test.com", "pw");
        t.add_user_with("admin", "admin@test.com", "pw", |u| u.admin = true);
        let big = json!({"username": "b", "email": "b@b.c", "password": "x".repeat(70_000)});
        // No token, a non-admin: the contract's auth steps answer, not the size limit.
        send(&app, post_json("/users", &big)).await.assert(
            403,
            "error",
            "Provide a valid auth token.",
        );
        let user = login(&app, "user@test.com", "pw").await;
        send(&app, bearer(post_json("/users", &big), &user))
            .await
            .assert(401, "error", "You do not have permission to do that.");
        let admin = login(&app, "admin@test.com", "pw").await;
        send(&app, bearer(post_json("/users", &big), &admin))
            .await
            .assert(413, "error", "Payload too large.");
    }
}

#[actix_web::test]
async fn twenty_concurrent_registrations_of_one_email() {
    for t in TestApp::all() {
        let app = init!(t);
        let requests = (0..20).map(|i| {
            let body =
                json!({"username": format!("user{i}"), "email": "race@test.com", "password": "pw"});
            send(&app, post_json("/auth/register", &body))
        });
        let replies = join_all(requests).await;
        let created = replies.iter().filter(|r| r.status.as_u16() == 201).count();
        assert_eq!(created, 1, "{}", t.backend());
        for r in replies.iter().filter(|r| r.status.as_u16() != 201) {
            r.assert(400, "error", "Sorry. That user already exists.");
        }
        let users = users_db::users::list_newest(&mut t.db.conn(), 100).unwrap();
        assert_eq!(users.len(), 1);
    }
}

#[actix_web::test]
async fn a_body_that_stops_arriving_gets_408() {
    use actix_web::test::{TestRequest, call_service, read_body};
    use actix_web::web::Bytes;
    use futures_util::{StreamExt as _, stream};
    use std::time::Duration;

    for t in TestApp::all() {
        let t = TestApp::with_vars(t.db, &[("REQUEST_TIMEOUT_SECONDS", "1")]);
        let app = init!(t);
        // Half a JSON object, then nothing: the client stalls without closing.
        let chunks = stream::iter([Ok::<_, actix_web::error::PayloadError>(Bytes::from_static(
            b"{\"username\": \"slow\", ",
        ))])
        .chain(stream::pending());
        let req = TestRequest::post()
            .uri("/auth/register")
            .insert_header(("content-type", "application/json"))
            .to_request();
        let payload: actix_http::BoxedPayloadStream = Box::pin(chunks);
        let (req, _) = req.replace_payload(actix_http::Payload::Stream { payload });
        // A guard against a hang (the bug this test is about), not a timing assertion.
        let res = actix_web::rt::time::timeout(Duration::from_secs(30), call_service(&app, req))
            .await
            .expect("the service must answer a stalled body, not wait for it");
        let status = res.status().as_u16();
        let body: Value = serde_json::from_slice(&read_body(res).await).unwrap();
        assert_eq!(status, 408, "{}: {body}", t.backend());
        assert_eq!(
            body,
            json!({"status": "error", "message": "Request timeout."}),
            "{}",
            t.backend()
        );
    }
}

#[actix_web::test]
async fn a_body_not_declared_as_json_is_no_payload() {
    use actix_web::test::TestRequest;
    for t in TestApp::all() {
        let app = init!(t);
        let body = json!({"username": "a", "email": "a@b.io", "password": "pw"}).to_string();
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let mut req = TestRequest::post()
                .uri("/auth/register")
                .set_payload(body.clone());
            if let Some(ct) = content_type {
                req = req.insert_header(("content-type", ct));
            }
            send(&app, req)
                .await
                .assert(400, "error", "Invalid payload.");
        }
        for (i, content_type) in [
            "application/json; charset=utf-8",
            "Application/Vnd.Api+JSON",
        ]
        .iter()
        .enumerate()
        {
            let body = json!({"username": format!("u{i}"), "email": format!("u{i}@b.io"), "password": "pw"});
            let req = TestRequest::post()
                .uri("/auth/register")
                .insert_header(("content-type", *content_type))
                .set_payload(body.to_string());
            let r = send(&app, req).await;
            assert_eq!(r.status.as_u16(), 201, "{content_type}: {}", r.body);
        }
    }
}
