//! The Flask suite's `test_users.py`, ported (12 tests), each on every backend.

use serde_json::json;

use crate::helpers::{TestApp, bearer, days_ago, get, login, post_json, send};
use crate::init;

const MICHAEL: &str = "michael@realpython.com";

fn michael() -> serde_json::Value {
    json!({"username": "michael", "email": MICHAEL, "password": "test"})
}

#[actix_web::test]
async fn test_users_ping() {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, get("/ping")).await;
        r.assert(200, "success", "pong!");
    }
}

#[actix_web::test]
async fn test_add_user() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user_with("test", "test@test.com", "test", |u| u.admin = true);
        let token = login(&app, "test@test.com", "test").await;
        let r = send(&app, bearer(post_json("/users", &michael()), &token)).await;
        r.assert(201, "success", "michael@realpython.com was added!");
    }
}

#[actix_web::test]
async fn test_add_user_not_admin() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        let token = login(&app, "test@test.com", "test").await;
        let r = send(&app, bearer(post_json("/users", &michael()), &token)).await;
        r.assert(401, "error", "You do not have permission to do that.");
    }
}

#[actix_web::test]
async fn test_add_user_inactive() {
    for t in TestApp::all() {
        let app = init!(t);
        let admin = t.add_user_with("test", "test@test.com", "test", |u| u.admin = true);
        t.set_active(&admin, false);
        let token = login(&app, "test@test.com", "test").await;
        let r = send(&app, bearer(post_json("/users", &michael()), &token)).await;
        r.assert(401, "error", "Something went wrong. Please contact us.");
    }
}

async fn admin_posts(t: &TestApp, body: serde_json::Value, status: u16, word: &str, msg: &str) {
    let app = init!(t);
    t.add_user_with("test", "test@test.com", "test", |u| u.admin = true);
    let token = login(&app, "test@test.com", "test").await;
    let r = send(&app, bearer(post_json("/users", &body), &token)).await;
    r.assert(status, word, msg);
}

#[actix_web::test]
async fn test_add_user_invalid_json() {
    for t in TestApp::all() {
        admin_posts(&t, json!({}), 400, "fail", "Invalid payload.").await;
    }
}

#[actix_web::test]
async fn test_add_user_invalid_json_keys() {
    for t in TestApp::all() {
        let body = json!({"email": MICHAEL, "password": "test"});
        admin_posts(&t, body, 400, "fail", "Invalid payload.").await;
    }
}

#[actix_web::test]
async fn test_add_user_invalid_json_keys_no_password() {
    for t in TestApp::all() {
        let body = json!({"username": "michael", "email": MICHAEL});
        admin_posts(&t, body, 400, "fail", "Invalid payload.").await;
    }
}

#[actix_web::test]
async fn test_add_user_duplicate_email() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user_with("test", "test@test.com", "test", |u| u.admin = true);
        let token = login(&app, "test@test.com", "test").await;
        let first = send(&app, bearer(post_json("/users", &michael()), &token)).await;
        first.assert(201, "success", "michael@realpython.com was added!");
        let second = send(&app, bearer(post_json("/users", &michael()), &token)).await;
        second.assert(400, "fail", "Sorry. That email already exists.");
    }
}

#[actix_web::test]
async fn test_single_user() {
    for t in TestApp::all() {
        let app = init!(t);
        let user = t.add_user("michael", MICHAEL, "test");
        let r = send(&app, get(&format!("/users/{}", user.id))).await;
        assert_eq!(r.status.as_u16(), 200, "{}", t.backend());
        assert_eq!(r.word(), "success");
        let data = &r.body["data"];
        assert!(data["created_at"].is_string());
        assert_eq!(data["username"], "michael");
        assert_eq!(data["email"], MICHAEL);
        assert!(data.get("id").is_none(), "the seed's single user has no id");
    }
}

#[actix_web::test]
async fn test_single_user_no_id() {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, get("/users/blah")).await;
        r.assert(404, "fail", "User does not exist");
    }
}

#[actix_web::test]
async fn test_single_user_incorrect_id() {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, get("/users/999")).await;
        r.assert(404, "fail", "User does not exist");
    }
}

#[actix_web::test]
async fn test_all_users() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user_with("michael", MICHAEL, "test", |u| u.created_at = days_ago(30));
        t.add_user("fletcher", "fletcher@realpython.com", "test");
        let r = send(&app, get("/users")).await;
        assert_eq!(r.status.as_u16(), 200);
        assert_eq!(r.word(), "success");
        let users = r.body["data"]["users"].as_array().unwrap();
        assert_eq!(users.len(), 2, "{}", t.backend());
        assert!(users[0]["created_at"].is_string() && users[1]["created_at"].is_string());
        assert_eq!(users[0]["username"], "fletcher");
        assert_eq!(users[0]["email"], "fletcher@realpython.com");
        assert_eq!(users[1]["username"], "michael");
        assert_eq!(users[1]["email"], MICHAEL);
        assert!(users[0]["id"].is_i64());
    }
}
