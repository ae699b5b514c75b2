//! The auth cache across instances: two instances (two pools, two listeners) on one
//! database. A record served from memory is dropped when any instance (or plain SQL)
//! changes it; when an instance's listener is lost the cache is bypassed, and when it comes
//! back it forgets what it may have missed (`pg_terminate_backend` on the listener, a
//! revocation meanwhile). Every backend (the listener kill: PostgreSQL).

use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use diesel::prelude::*;
use serde_json::json;
use users_api::AppState;
use users_db::schema::users;

use crate::helpers::{TestApp, bearer, get, post_json, send};
use crate::init;

const WAIT: Duration = Duration::from_secs(10);

macro_rules! call {
    ($app:expr, $req:expr) => {
        send(&$app, $req).await
    };
}

fn other_instance(t: &TestApp) -> AppState {
    let pool = users_db::build_pool(t.db.url(), users_db::PoolOptions::default()).unwrap();
    AppState::new((*t.state.config).clone(), pool).unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn hits(state: &AppState) -> u64 {
    state
        .metrics
        .auth_cache_lookups
        .get_or_create(&users_api::metrics::Outcome { outcome: "hit" })
        .get()
}

fn register(name: &str) -> TestRequest {
    post_json(
        "/auth/register",
        &json!({"username": name, "email": format!("{name}@test.com"), "password": "pw"}),
    )
}

/// Polls `GET /auth/status` on `app` with `token` until it is refused; how long it took.
macro_rules! refused_within {
    ($app:expr, $token:expr, $message:expr) => {{
        let started = Instant::now();
        loop {
            let r = call!($app, bearer(get("/auth/status"), $token));
            if r.status.as_u16() == 401 {
                assert_eq!(r.message(), $message);
                break started.elapsed();
            }
            assert!(started.elapsed() < WAIT, "never refused: {}", r.body);
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        }
    }};
}

#[actix_web::test]
async fn a_change_through_one_instance_reaches_the_others_cache() {
    for t in TestApp::all() {
        let b = t.backend();
        let other = actix_web::web::Data::new(other_instance(&t));
        let (_la, _lb) = (t.state.listen(), other.listen());
        wait_until("both caches serve", || {
            t.state.auth_cache.serving() && other.auth_cache.serving()
        });
        let one = init!(t);
        let two = actix_web::test::init_service(users_api::build_app(other.clone())).await;

        let r = call!(one, register("ann"));
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        let started = Instant::now();
        while hits(&other) == 0 {
            let r = call!(two, bearer(get("/auth/status"), &token));
            assert_eq!(r.status.as_u16(), 200, "{b}: {}", r.body);
            assert!(
                started.elapsed() < WAIT,
                "{b}: the second instance never answered from memory"
            );
        }

        // Logout through the first: the second refuses.
        call!(one, bearer(get("/auth/logout"), &token));
        let delay = refused_within!(two, &token, "Token revoked. Please log in again.");
        eprintln!("{b}: logout heard by the other instance after {delay:?}");

        // A username changed by plain SQL: the second instance's answer follows.
        let r = call!(
            two,
            post_json(
                "/auth/login",
                &json!({"email": "ann@test.com", "password": "pw"})
            )
        );
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        let r = call!(two, bearer(get("/auth/status"), &token));
        assert_eq!(r.body["data"]["username"], "ann", "{b}");
        diesel::update(users::table)
            .set(users::username.eq("ann2"))
            .execute(&mut t.db.connect())
            .unwrap();
        let started = Instant::now();
        while call!(two, bearer(get("/auth/status"), &token)).body["data"]["username"] != "ann2" {
            assert!(
                started.elapsed() < WAIT,
                "{b}: the new name never reached the cache"
            );
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        }

        // An admin demoted through the first instance loses the right on the second.
        t.add_user_with("root", "root@test.com", "rootpw", |u| u.admin = true);
        let r = call!(
            two,
            post_json(
                "/auth/login",
                &json!({"email": "root@test.com", "password": "rootpw"})
            )
        );
        let root = r.body["auth_token"].as_str().unwrap().to_owned();
        let create = |n: &str| {
            bearer(
                post_json(
                    "/users",
                    &json!({"username": n, "email": format!("{n}@test.com"), "password": "pw"}),
                ),
                &root,
            )
        };
        assert_eq!(call!(two, create("x1")).status.as_u16(), 201, "{b}");
        let root_id: i32 = users::table
            .filter(users::email.eq("root@test.com"))
            .select(users::id)
            .first(&mut t.db.connect())
            .unwrap();
        call!(
            one,
            bearer(
                TestRequest::patch()
                    .uri(&format!("/users/{root_id}"))
                    .insert_header(("content-type", "application/json"))
                    .set_payload(json!({"admin": false}).to_string()),
                &root
            )
        );
        let started = Instant::now();
        loop {
            let r = call!(two, create("x2"));
            if r.status.as_u16() == 401 {
                assert_eq!(r.message(), "You do not have permission to do that.");
                break;
            }
            assert!(
                started.elapsed() < WAIT,
                "{b}: the demotion never reached the cache"
            );
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        }
        // Deactivation by plain SQL.
        diesel::update(users::table.find(root_id))
            .set(users::active.eq(false))
            .execute(&mut t.db.connect())
            .unwrap();
        refused_within!(two, &root, "Something went wrong. Please contact us.");
    }
}

#[actix_web::test]
async fn this_instance_refuses_its_own_revocation_at_once() {
    for t in TestApp::all() {
        let b = t.backend();
        let _listener = t.state.listen();
        wait_until("the cache serves", || t.state.auth_cache.serving());
        let app = init!(t);
        let r = call!(app, register("bob"));
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        // Until it is served from memory (the registration's own change may still be on
        // its way to the listener, which then drops what a first read stored).
        let started = Instant::now();
        while hits(&t.state) == 0 {
            call!(app, bearer(get("/auth/status"), &token));
            assert!(started.elapsed() < WAIT, "{b}: never served from memory");
        }
        // The very next request after the logout's answer: no listener delay.
        call!(app, bearer(get("/auth/logout"), &token));
        call!(app, bearer(get("/auth/status"), &token)).assert(
            401,
            "error",
            "Token revoked. Please log in again.",
        );
    }
}

#[actix_web::test]
async fn a_revocation_made_while_the_listener_is_lost_is_never_served_from_memory() {
    for t in TestApp::all() {
        let b = t.backend();
        if b != "postgres" {
            continue;
        }
        let other = actix_web::web::Data::new(other_instance(&t));
        let listener = other.listen();
        wait_until("the cache serves", || other.auth_cache.serving());
        let one = init!(t);
        let two = actix_web::test::init_service(users_api::build_app(other.clone())).await;
        let r = call!(one, register("cy"));
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        let spare = call!(
            one,
            post_json(
                "/auth/login",
                &json!({"email": "cy@test.com", "password": "pw"})
            )
        );
        let spare = spare.body["auth_token"].as_str().unwrap().to_owned();
        let started = Instant::now();
        while hits(&other) == 0 {
            let r = call!(two, bearer(get("/auth/status"), &token));
            assert_eq!(r.status.as_u16(), 200, "{}", r.body);
            assert!(started.elapsed() < WAIT, "never served from memory");
        }
        let connects = other.metrics.auth_listener_connects.get();

        // Kill the second instance's listener, and revoke at once through the first: the
        // notification goes to nobody on the second instance.
        #[derive(QueryableByName)]
        struct Killed {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            killed: bool,
        }
        let killed: Vec<Killed> = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
             WHERE application_name = $1",
        )
        .bind::<diesel::sql_types::Text, _>(listener.name())
        .load(&mut t.db.connect())
        .unwrap();
        assert_eq!(
            killed.len(),
            1,
            "the listener's connection is found by its name"
        );
        assert!(killed[0].killed);
        call!(
            one,
            bearer(post_json("/auth/logout/all", &json!({})), &spare)
        );

        // Refused within Part C's bound: at once once the lost listener is noticed (a poll,
        // 5 ms), at worst when its lease ends (500 ms) ...
        let delay = refused_within!(two, &token, "Token revoked. Please log in again.");
        assert!(delay < Duration::from_secs(1), "refused after {delay:?}");
        // ... and after the listener is back, although it never heard the revocation.
        wait_until("the listener reconnects", || {
            other.metrics.auth_listener_connects.get() > connects && other.auth_cache.serving()
        });
        for _ in 0..3 {
            call!(two, bearer(get("/auth/status"), &token)).assert(
                401,
                "error",
                "Token revoked. Please log in again.",
            );
        }
        // And the cache serves again for live tokens.
        let r = call!(
            one,
            post_json(
                "/auth/login",
                &json!({"email": "cy@test.com", "password": "pw"})
            )
        );
        let fresh = r.body["auth_token"].as_str().unwrap().to_owned();
        let before = hits(&other);
        let started = Instant::now();
        while hits(&other) == before {
            let r = call!(two, bearer(get("/auth/status"), &fresh));
            assert_eq!(r.status.as_u16(), 200, "{}", r.body);
            assert!(
                started.elapsed() < WAIT,
                "not serving again after the reconnect"
            );
        }
        let text = String::from_utf8_lossy(&call!(two, get("/metrics")).raw).into_owned();
        for series in [
            "auth_cache_lookups_total{outcome=\"hit\"}",
            "auth_listener_up 1",
            "auth_cache_entries",
        ] {
            assert!(text.contains(series), "{series} in /metrics");
        }
    }
}
