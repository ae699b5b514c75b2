//! Part B admin and users API: keyset paging, prefix search, PATCH and DELETE.

use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::helpers::{TestApp, bearer, days_ago, get, login, send};
use crate::init;

fn patch(path: &str, body: &Value, token: &str) -> TestRequest {
    bearer(
        TestRequest::patch()
            .uri(path)
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_string()),
        token,
    )
}

#[actix_web::test]
async fn keyset_paging_walks_every_user_once_newest_first() {
    for t in TestApp::all() {
        let app = init!(t);
        // 25 users; groups of three share a created_at, so the id breaks ties.
        let base = days_ago(30);
        for i in 0..25 {
            t.add_user_with(&format!("user{i:02}"), &format!("u{i}@x.io"), "pw", |u| {
                u.created_at = base + chrono::Duration::days(i64::from(i / 3));
            });
        }
        let mut seen = Vec::new();
        let mut url = "/users?limit=7".to_owned();
        loop {
            let r = send(&app, get(&url)).await;
            assert_eq!(r.status.as_u16(), 200, "{}", r.body);
            let page = r.body["data"]["users"].as_array().unwrap().clone();
            seen.extend(
                page.iter()
                    .map(|u| u["username"].as_str().unwrap().to_owned()),
            );
            match r.body["data"]["next"].as_str() {
                Some(next) => url = format!("/users?limit=7&after={next}"),
                None => break,
            }
        }
        let mut expected: Vec<String> = (0..25).map(|i| format!("user{i:02}")).collect();
        // Newest first: higher i is newer; within one created_at, higher id first.
        expected.reverse();
        assert_eq!(seen, expected, "{}", t.backend());
    }
}

#[actix_web::test]
async fn default_page_and_prefix_search() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("Michael", "michael@realpython.com", "pw");
        t.add_user("fletcher", "fletcher@realpython.com", "pw");
        t.add_user("mia", "zzz@example.com", "pw");
        t.add_user("100%_real", "pct@example.com", "pw");
        let r = send(&app, get("/users")).await;
        assert_eq!(r.body["data"]["users"].as_array().unwrap().len(), 4);
        assert!(r.body["data"]["next"].is_null());
        let names = |r: &crate::helpers::Reply| -> Vec<String> {
            r.body["data"]["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned())
                .collect()
        };
        let r = send(&app, get("/users?q=MI")).await;
        assert_eq!(names(&r), ["mia", "Michael"], "{}", t.backend());
        let r = send(&app, get("/users?q=fletcher%40")).await;
        assert_eq!(names(&r), ["fletcher"]);
        // LIKE wildcards match literally.
        let r = send(&app, get("/users?q=100%25_")).await;
        assert_eq!(names(&r), ["100%_real"]);
        let r = send(&app, get("/users?q=1%25")).await;
        assert!(names(&r).is_empty());
    }
}

#[actix_web::test]
async fn bad_paging_parameters_are_400() {
    for t in TestApp::all() {
        let app = init!(t);
        for q in [
            "limit=0",
            "limit=1001",
            "limit=abc",
            "after=notacursor",
            "after=",
            "limit=%ZZ",
        ] {
            let r = send(&app, get(&format!("/users?{q}"))).await;
            r.assert(400, "fail", "Invalid payload.");
        }
    }
}

#[actix_web::test]
async fn patch_users() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user_with("admin", "admin@test.com", "pw", |u| u.admin = true);
        let target = t.add_user("bob", "bob@test.com", "pw");
        t.add_user("carol", "carol@test.com", "pw");
        let admin = login(&app, "admin@test.com", "pw").await;
        let path = format!("/users/{}", target.id);

        let r = send(
            &app,
            patch(&path, &json!({"admin": true, "username": "robert"}), &admin),
        )
        .await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        assert_eq!(r.word(), "success");
        let d = &r.body["data"];
        assert_eq!(d["id"], target.id.get());
        assert_eq!(
            (d["username"].as_str(), d["admin"].as_bool()),
            (Some("robert"), Some(true))
        );
        assert_eq!(
            (d["email"].as_str(), d["active"].as_bool()),
            (Some("bob@test.com"), Some(true))
        );
        assert!(d["created_at"].is_string());

        for taken in [
            json!({"username": "carol"}),
            json!({"email": "CAROL@test.com"}),
        ] {
            send(&app, patch(&path, &taken, &admin)).await.assert(
                400,
                "fail",
                "Sorry. That user already exists.",
            );
        }
        for bad in [
            json!({}),
            json!({"active": "yes"}),
            json!({"email": "nope"}),
            json!({"username": ""}),
            json!({"admin": 1}),
            json!({"unknown": true}),
        ] {
            send(&app, patch(&path, &bad, &admin))
                .await
                .assert(400, "fail", "Invalid payload.");
        }
        for missing in ["/users/999", "/users/blah"] {
            send(&app, patch(missing, &json!({"active": false}), &admin))
                .await
                .assert(404, "fail", "User does not exist");
        }
        // Deactivation revokes the user's sessions.
        let bob = login(&app, "bob@test.com", "pw").await;
        let r = send(&app, patch(&path, &json!({"active": false}), &admin)).await;
        assert_eq!(r.body["data"]["active"], false);
        send(&app, patch(&path, &json!({"active": true}), &admin)).await;
        send(&app, bearer(get("/auth/status"), &bob)).await.assert(
            401,
            "error",
            "Token revoked. Please log in again.",
        );

        // Not an admin: 401; no token: 403.
        let carol = login(&app, "carol@test.com", "pw").await;
        send(&app, patch(&path, &json!({"admin": true}), &carol))
            .await
            .assert(401, "error", "You do not have permission to do that.");
        let r = send(&app, TestRequest::patch().uri(&path)).await;
        r.assert(403, "error", "Provide a valid auth token.");
    }
}

#[actix_web::test]
async fn delete_users() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user_with("admin", "admin@test.com", "pw", |u| u.admin = true);
        let target = t.add_user("bob", "bob@test.com", "pw");
        let admin = login(&app, "admin@test.com", "pw").await;
        let bob = login(&app, "bob@test.com", "pw").await;
        let path = format!("/users/{}", target.id);
        send(&app, bearer(TestRequest::delete().uri(&path), &bob))
            .await
            .assert(401, "error", "You do not have permission to do that.");
        send(&app, bearer(TestRequest::delete().uri(&path), &admin))
            .await
            .assert(200, "success", "User deleted.");
        send(&app, bearer(TestRequest::delete().uri(&path), &admin))
            .await
            .assert(404, "fail", "User does not exist");
        send(&app, get(&path))
            .await
            .assert(404, "fail", "User does not exist");
        send(&app, bearer(get("/auth/status"), &bob)).await.assert(
            401,
            "error",
            "Something went wrong. Please contact us.",
        );
    }
}
