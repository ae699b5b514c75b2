//! Behaviour the Flask code defines but its suite did not test; CORS; JSON 404/405.

use actix_web::test::TestRequest;
use serde_json::json;

use crate::helpers::{TestApp, bearer, get, login, post_json, post_raw, send};
use crate::init;

#[actix_web::test]
async fn no_authorization_header_is_403() {
    for t in TestApp::all() {
        let app = init!(t);
        for path in ["/auth/status", "/auth/logout"] {
            send(&app, get(path))
                .await
                .assert(403, "error", "Provide a valid auth token.");
        }
        let r = send(&app, post_json("/users", &json!({"username": "a"}))).await;
        r.assert(403, "error", "Provide a valid auth token.");
        // An empty header is no header, as in the seed (`if auth_header:`).
        let req = get("/auth/status").insert_header(("authorization", ""));
        send(&app, req)
            .await
            .assert(403, "error", "Provide a valid auth token.");
    }
}

#[actix_web::test]
async fn header_that_is_not_bearer_token_is_401() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let token = login(&app, "test@test.com", "test").await;
        for value in [
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            token.clone(),
            format!("Bearer{token}"),
            format!("Basic {token}"),
            "Bearer a.b.c".to_owned(),
        ] {
            let req = get("/auth/status").insert_header(("authorization", value.clone()));
            let r = send(&app, req).await;
            r.assert(401, "error", "Invalid token. Please log in again.");
        }
        // The scheme is case-insensitive (RFC 7235).
        let req = get("/auth/status").insert_header(("authorization", format!("bearer {token}")));
        assert_eq!(send(&app, req).await.status.as_u16(), 200);
    }
}

#[actix_web::test]
async fn wrong_password_is_404_user_does_not_exist() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let body = json!({"email": "test@test.com", "password": "wrong"});
        let r = send(&app, post_json("/auth/login", &body)).await;
        r.assert(404, "error", "User does not exist.");
    }
}

#[actix_web::test]
async fn empty_login_body_is_400() {
    for t in TestApp::all() {
        let app = init!(t);
        for body in ["", "{}", "[]", "null", "not json"] {
            let r = send(&app, post_raw("/auth/login", body)).await;
            r.assert(400, "error", "Invalid payload.");
        }
    }
}

#[actix_web::test]
async fn still_valid_token_of_a_deleted_user_is_401() {
    for t in TestApp::all() {
        let app = init!(t);
        let user = t.add_user("test", "test@test.com", "test");
        let token = login(&app, "test@test.com", "test").await;
        assert!(users_db::users::delete(&mut t.db.conn(), user.id).unwrap());
        let r = send(&app, bearer(get("/auth/status"), &token)).await;
        r.assert(401, "error", "Something went wrong. Please contact us.");
    }
}

#[actix_web::test]
async fn duplicate_username_on_post_users_is_invalid_payload() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user_with("test", "test@test.com", "test", |u| u.admin = true);
        let token = login(&app, "test@test.com", "test").await;
        let body = json!({"username": "test", "email": "new@test.com", "password": "x"});
        let r = send(&app, bearer(post_json("/users", &body), &token)).await;
        r.assert(400, "fail", "Invalid payload.");
    }
}

#[actix_web::test]
async fn post_users_checks_admin_before_body() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let token = login(&app, "test@test.com", "test").await;
        let r = send(&app, bearer(post_raw("/users", "not json"), &token)).await;
        r.assert(401, "error", "You do not have permission to do that.");
    }
}

#[actix_web::test]
async fn post_users_checks_email_before_other_fields() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user_with("test", "test@test.com", "test", |u| u.admin = true);
        let token = login(&app, "test@test.com", "test").await;
        let r = send(
            &app,
            bearer(
                post_json("/users", &json!({"email": "test@test.com"})),
                &token,
            ),
        )
        .await;
        r.assert(400, "fail", "Sorry. That email already exists.");
    }
}

#[actix_web::test]
async fn registered_token_works_and_emails_are_case_insensitive() {
    for t in TestApp::all() {
        let app = init!(t);
        let body = json!({"username": "a", "email": "Mixed@Case.COM", "password": "pw"});
        let r = send(&app, post_json("/auth/register", &body)).await;
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        let status = send(&app, bearer(get("/auth/status"), &token)).await;
        assert_eq!(status.body["data"]["email"], "mixed@case.com");
        login(&app, "MIXED@case.com", "pw").await;
        let again = json!({"username": "b", "email": "mixed@CASE.com", "password": "pw"});
        let r = send(&app, post_json("/auth/register", &again)).await;
        r.assert(400, "error", "Sorry. That user already exists.");
    }
}

#[actix_web::test]
async fn unknown_route_and_wrong_method_are_json() {
    for t in TestApp::all() {
        let app = init!(t);
        send(&app, get("/nope"))
            .await
            .assert(404, "fail", "Not found.");
        let r = send(&app, TestRequest::delete().uri("/ping")).await;
        r.assert(405, "fail", "Method not allowed.");
        let r = send(&app, TestRequest::put().uri("/auth/login")).await;
        r.assert(405, "fail", "Method not allowed.");
    }
}

#[actix_web::test]
async fn cors_preflight_and_simple_requests() {
    for t in TestApp::all() {
        let app = init!(t);
        for (path, method, headers) in [
            ("/auth/register", "POST", "content-type"),
            ("/auth/login", "POST", "content-type"),
            ("/auth/status", "GET", "authorization"),
        ] {
            let req = TestRequest::default()
                .method(actix_web::http::Method::OPTIONS)
                .uri(path)
                .insert_header(("origin", "http://localhost:3000"))
                .insert_header(("access-control-request-method", method))
                .insert_header(("access-control-request-headers", headers));
            let r = send(&app, req).await;
            assert_eq!(r.status.as_u16(), 200, "preflight {path}");
            let h = |name: &str| {
                r.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_ascii_lowercase()
            };
            assert_eq!(h("access-control-allow-origin"), "http://localhost:3000");
            assert!(h("vary").contains("origin"));
            assert!(
                h("access-control-allow-headers").contains(headers),
                "{path}"
            );
            for m in ["get", "head", "post", "put", "patch", "delete", "options"] {
                assert!(h("access-control-allow-methods").contains(m), "{m}");
            }
            assert!(r.headers.get("access-control-allow-credentials").is_none());
        }
        let req = get("/users").insert_header(("origin", "http://localhost:3000"));
        let r = send(&app, req).await;
        assert_eq!(r.status.as_u16(), 200);
        assert_eq!(
            r.headers.get("access-control-allow-origin").unwrap(),
            "http://localhost:3000"
        );
    }
}

#[actix_web::test]
async fn cors_allowed_origins_restricts() {
    let Some(db) = users_db::testing::TestDb::all().into_iter().next() else {
        return;
    };
    let t = TestApp::with_vars(db, &[("CORS_ALLOWED_ORIGINS", "http://good.example")]);
    let app = init!(t);
    let req = get("/ping").insert_header(("origin", "http://good.example"));
    let r = send(&app, req).await;
    assert_eq!(
        r.headers.get("access-control-allow-origin").unwrap(),
        "http://good.example"
    );
    let req = get("/ping").insert_header(("origin", "http://evil.example"));
    let r = send(&app, req).await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // A refused preflight is still a JSON answer.
    let req = TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/auth/login")
        .insert_header(("origin", "http://evil.example"))
        .insert_header(("access-control-request-method", "POST"));
    let r = send(&app, req).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(r.is_json() && r.word() == "fail", "{:?}", r.body);
}

#[actix_web::test]
async fn dead_database_is_503_not_a_hang() {
    use std::time::Duration;

    use actix_web::web;
    use users_api::{AppState, Config};

    // Nothing listens on port 1: every connection attempt is refused.
    let url = "postgres://nobody:nothing@127.0.0.1:1/none";
    let config = Config::from_vars(|k| match k {
        "APP_ENV" => Some("testing".into()),
        "DATABASE_TEST_URL" => Some(url.into()),
        "SECRET_KEY" => Some(crate::helpers::SECRET.into()),
        _ => None,
    })
    .unwrap();
    let options = users_db::PoolOptions {
        max_size: 2,
        connection_timeout: Duration::from_millis(500),
        ..users_db::PoolOptions::default()
    };
    let pool = users_db::build_pool(url, options).unwrap();
    let state = web::Data::new(AppState::new(config, pool).unwrap());
    let token = state
        .tokens
        .encode_auth_token(users_domain::UserId::new(1))
        .unwrap();
    let app = actix_web::test::init_service(users_api::build_app(state)).await;
    let unavailable = "Service unavailable. Try again later.";
    send(&app, get("/users"))
        .await
        .assert(503, "error", unavailable);
    send(&app, get("/users/1"))
        .await
        .assert(503, "error", unavailable);
    send(&app, bearer(get("/auth/status"), &token))
        .await
        .assert(503, "error", unavailable);
    let body = json!({"username": "a", "email": "a@b.c", "password": "pw"});
    send(&app, post_json("/auth/register", &body))
        .await
        .assert(503, "error", unavailable);
    let body = json!({"email": "a@b.c", "password": "pw"});
    send(&app, post_json("/auth/login", &body))
        .await
        .assert(503, "error", unavailable);
    // Routes that need no database still answer.
    send(&app, get("/ping"))
        .await
        .assert(200, "success", "pong!");
}
