//! Part B brute-force protection: failed logins counted per account and per address, in
//! the database.

use std::net::SocketAddr;

use actix_web::test::TestRequest;
use serde_json::json;
use users_db::testing::TestDb;

use crate::helpers::{Reply, TestApp, post_json, send};
use crate::init;

const TOO_MANY: &str = "Too many login attempts. Try again later.";

fn attempt(email: &str, password: &str, peer: &str) -> TestRequest {
    let peer: SocketAddr = format!("{peer}:4000").parse().unwrap();
    post_json(
        "/auth/login",
        &json!({"email": email, "password": password}),
    )
    .peer_addr(peer)
}

fn apps(extra: &[(&str, &str)]) -> Vec<TestApp> {
    TestDb::all()
        .into_iter()
        .map(|db| TestApp::with_vars(db, extra))
        .collect()
}

#[track_caller]
fn assert_throttled(r: &Reply, window: u64) {
    r.assert(429, "error", TOO_MANY);
    let retry: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
}

#[actix_web::test]
async fn account_is_throttled_past_its_limit_even_with_the_right_password() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "right");
        for _ in 0..3 {
            let r = send(&app, attempt("test@test.com", "wrong", "192.0.2.1")).await;
            r.assert(404, "error", "User does not exist.");
        }
        assert_throttled(
            &send(&app, attempt("test@test.com", "right", "192.0.2.1")).await,
            900,
        );
        // The account is throttled from any address, with any letter case.
        assert_throttled(
            &send(&app, attempt("TEST@test.com", "right", "192.0.2.99")).await,
            900,
        );
    }
}

#[actix_web::test]
async fn unknown_emails_are_counted_like_known_ones() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]) {
        let app = init!(t);
        for _ in 0..3 {
            let r = send(&app, attempt("nobody@test.com", "x", "192.0.2.1")).await;
            r.assert(404, "error", "User does not exist.");
        }
        assert_throttled(
            &send(&app, attempt("nobody@test.com", "x", "192.0.2.1")).await,
            900,
        );
    }
}

#[actix_web::test]
async fn success_clears_the_account_count() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "right");
        for _ in 0..2 {
            send(&app, attempt("test@test.com", "wrong", "192.0.2.1")).await;
        }
        let r = send(&app, attempt("test@test.com", "right", "192.0.2.1")).await;
        assert_eq!(r.status.as_u16(), 200);
        for _ in 0..2 {
            let r = send(&app, attempt("test@test.com", "wrong", "192.0.2.1")).await;
            r.assert(404, "error", "User does not exist.");
        }
    }
}

#[actix_web::test]
async fn address_is_throttled_across_accounts() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ADDRESS", "3")]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "right");
        for i in 0..3 {
            send(
                &app,
                attempt(&format!("u{i}@test.com"), "x", "198.51.100.7"),
            )
            .await;
        }
        assert_throttled(
            &send(&app, attempt("test@test.com", "right", "198.51.100.7")).await,
            900,
        );
        // Another address is not affected.
        let r = send(&app, attempt("test@test.com", "right", "198.51.100.8")).await;
        assert_eq!(r.status.as_u16(), 200);
        // X-Forwarded-For from an untrusted peer is ignored.
        let spoofed = attempt("test@test.com", "right", "198.51.100.7")
            .insert_header(("x-forwarded-for", "203.0.113.5"));
        assert_throttled(&send(&app, spoofed).await, 900);
    }
}

#[actix_web::test]
async fn forwarded_for_is_believed_from_trusted_proxies() {
    for t in apps(&[
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "2"),
        ("TRUSTED_PROXIES", "10.0.0.0/8"),
    ]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "right");
        let via_proxy = |client: &str, email: &str, pw: &str| {
            attempt(email, pw, "10.1.2.3")
                .insert_header(("x-forwarded-for", format!("{client}, 10.9.9.9")))
        };
        for i in 0..2 {
            send(&app, via_proxy("203.0.113.5", &format!("u{i}@t.com"), "x")).await;
        }
        assert_throttled(
            &send(&app, via_proxy("203.0.113.5", "test@test.com", "right")).await,
            900,
        );
        // A different client behind the same proxy is a different address.
        let r = send(&app, via_proxy("203.0.113.6", "test@test.com", "right")).await;
        assert_eq!(r.status.as_u16(), 200);
    }
}

#[actix_web::test]
async fn instances_sharing_a_database_agree() {
    for db in TestDb::all() {
        let url_db = db;
        let a = TestApp::with_vars(url_db, &[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2")]);
        // A second instance: its own state and pool, the same database.
        let b_pool = users_db::build_pool(a.db.url(), users_db::PoolOptions::default()).unwrap();
        let config = a.state.config.as_ref().clone();
        let b_state = actix_web::web::Data::new(users_api::AppState::new(config, b_pool).unwrap());
        let app_a = init!(a);
        let app_b = actix_web::test::init_service(users_api::build_app(b_state)).await;
        a.add_user("test", "test@test.com", "right");
        send(&app_a, attempt("test@test.com", "wrong", "192.0.2.1")).await;
        send(&app_b, attempt("test@test.com", "wrong", "192.0.2.2")).await;
        assert_throttled(
            &send(&app_a, attempt("test@test.com", "right", "192.0.2.3")).await,
            900,
        );
        assert_throttled(
            &send(&app_b, attempt("test@test.com", "right", "192.0.2.4")).await,
            900,
        );
    }
}

/// Time itself is under test: a 1-second window.
#[actix_web::test]
async fn the_window_slides() {
    for t in apps(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1"),
        ("LOGIN_FAILURE_WINDOW_SECONDS", "1"),
    ]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "right");
        send(&app, attempt("test@test.com", "wrong", "192.0.2.1")).await;
        assert_throttled(
            &send(&app, attempt("test@test.com", "right", "192.0.2.1")).await,
            1,
        );
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let r = send(&app, attempt("test@test.com", "right", "192.0.2.1")).await;
        assert_eq!(r.status.as_u16(), 200);
    }
}
