//! The Flask suite's `test_auth.py`, ported (16 tests), each on every backend.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, bearer, get, login, post_json, send};
use crate::init;

fn justatest() -> serde_json::Value {
    json!({"username": "justatest", "email": "test@test.com", "password": "123456"})
}

#[actix_web::test]
async fn test_user_registration() {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, post_json("/auth/register", &justatest())).await;
        r.assert(201, "success", "Successfully registered.");
        assert!(r.body["auth_token"].as_str().is_some_and(|s| !s.is_empty()));
    }
}

#[actix_web::test]
async fn test_user_registration_duplicate_email() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let body = json!({"username": "michael", "email": "test@test.com", "password": "test"});
        let r = send(&app, post_json("/auth/register", &body)).await;
        r.assert(400, "error", "Sorry. That user already exists.");
    }
}

#[actix_web::test]
async fn test_user_registration_duplicate_username() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let body = json!({"username": "test", "email": "test@test.com2", "password": "test"});
        let r = send(&app, post_json("/auth/register", &body)).await;
        r.assert(400, "error", "Sorry. That user already exists.");
    }
}

async fn register_invalid(body: serde_json::Value) {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, post_json("/auth/register", &body)).await;
        r.assert(400, "error", "Invalid payload.");
    }
}

#[actix_web::test]
async fn test_user_registration_invalid_json() {
    register_invalid(json!({})).await;
}

#[actix_web::test]
async fn test_user_registration_invalid_json_keys_no_username() {
    register_invalid(json!({"email": "test@test.com", "password": "test"})).await;
}

#[actix_web::test]
async fn test_user_registration_invalid_json_keys_no_email() {
    register_invalid(json!({"username": "justatest", "password": "test"})).await;
}

#[actix_web::test]
async fn test_user_registration_invalid_json_keys_no_password() {
    register_invalid(json!({"username": "justatest", "email": "test@test.com"})).await;
}

#[actix_web::test]
async fn test_registered_user_login() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let body = json!({"email": "test@test.com", "password": "test"});
        let r = send(&app, post_json("/auth/login", &body)).await;
        r.assert(200, "success", "Successfully logged in.");
        assert!(r.body["auth_token"].as_str().is_some_and(|s| !s.is_empty()));
    }
}

#[actix_web::test]
async fn test_not_registered_user_login() {
    for t in TestApp::all() {
        let app = init!(t);
        let body = json!({"email": "test@test.com", "password": "test"});
        let r = send(&app, post_json("/auth/login", &body)).await;
        r.assert(404, "error", "User does not exist.");
    }
}

#[actix_web::test]
async fn test_valid_logout() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let token = login(&app, "test@test.com", "test").await;
        let r = send(&app, bearer(get("/auth/logout"), &token)).await;
        r.assert(200, "success", "Successfully logged out.");
    }
}

/// Time itself is under test: the testing profile's tokens live 3 seconds.
#[actix_web::test]
async fn test_invalid_logout_expired_token() {
    let apps = TestApp::all();
    let mut tokens = Vec::new();
    for t in &apps {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        tokens.push(login(&app, "test@test.com", "test").await);
    }
    // One wait for every backend.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for (t, token) in apps.iter().zip(tokens) {
        let app = init!(t);
        let r = send(&app, bearer(get("/auth/logout"), &token)).await;
        r.assert(401, "error", "Signature expired. Please log in again.");
    }
}

#[actix_web::test]
async fn test_invalid_logout() {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, bearer(get("/auth/logout"), "invalid")).await;
        r.assert(401, "error", "Invalid token. Please log in again.");
    }
}

#[actix_web::test]
async fn test_invalid_logout_inactive() {
    for t in TestApp::all() {
        let app = init!(t);
        let user = t.add_user("test", "test@test.com", "test");
        t.set_active(&user, false);
        let token = login(&app, "test@test.com", "test").await;
        let r = send(&app, bearer(get("/auth/logout"), &token)).await;
        r.assert(401, "error", "Something went wrong. Please contact us.");
    }
}

#[actix_web::test]
async fn test_user_status() {
    for t in TestApp::all() {
        let app = init!(t);
        let user = t.add_user("test", "test@test.com", "test");
        let token = login(&app, "test@test.com", "test").await;
        let r = send(&app, bearer(get("/auth/status"), &token)).await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        assert_eq!(r.word(), "success");
        let data = &r.body["data"];
        assert!(data["created_at"].is_string());
        assert_eq!(data["username"], "test");
        assert_eq!(data["email"], "test@test.com");
        assert_eq!(data["active"], true);
        assert_eq!(data["id"], user.id.get());
    }
}

#[actix_web::test]
async fn test_invalid_status() {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, bearer(get("/auth/status"), "invalid")).await;
        r.assert(401, "error", "Invalid token. Please log in again.");
    }
}

#[actix_web::test]
async fn test_invalid_status_inactive() {
    for t in TestApp::all() {
        let app = init!(t);
        let user = t.add_user("test", "test@test.com", "test");
        t.set_active(&user, false);
        let token = login(&app, "test@test.com", "test").await;
        let r = send(&app, bearer(get("/auth/status"), &token)).await;
        r.assert(401, "error", "Something went wrong. Please contact us.");
    }
}
