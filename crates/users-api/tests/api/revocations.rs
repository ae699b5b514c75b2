//! Part C's revocation feed over HTTP: its guard (404 unset, 401 without or with a wrong
//! token, 400 on a bad query), an event for every revocation path (the service's routes
//! and an operator's plain SQL), paging with `next`, long polling, and no event missed by a
//! reader resuming from `next` while revocations commit concurrently. Every backend.

use diesel::connection::SimpleConnection as _;
use futures_util::future::join_all;
use serde_json::{Value, json};
use users_db::testing::TestDb;

use crate::helpers::{TestApp, bearer, get, post_json, send};
use crate::init;

const FEED: &str = "feed-token-0123456789abcdef0123456789";

fn apps() -> Vec<TestApp> {
    TestDb::all()
        .into_iter()
        .map(|db| TestApp::with_vars(db, &[("REVOCATION_FEED_TOKEN", FEED)]))
        .collect()
}

fn feed(query: &str) -> actix_web::test::TestRequest {
    bearer(get(&format!("/auth/revocations{query}")), FEED)
}

fn events(body: &Value) -> Vec<Value> {
    body["data"]["events"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn the_feed_is_guarded() {
    for t in TestApp::all() {
        let app = init!(t);
        send(&app, feed("")).await.assert(404, "fail", "Not found.");
    }
    for t in apps() {
        let app = init!(t);
        send(&app, get("/auth/revocations")).await.assert(
            401,
            "error",
            "Invalid token. Please log in again.",
        );
        send(&app, bearer(get("/auth/revocations"), "wrong"))
            .await
            .assert(401, "error", "Invalid token. Please log in again.");
        for q in [
            "?after=-1",
            "?after=x",
            "?wait=31",
            "?wait=-1",
            "?wait=1.5",
            "?after=99999999999999999999",
        ] {
            send(&app, feed(q))
                .await
                .assert(400, "fail", "Invalid payload.");
        }
        let r = send(&app, feed("?wait=0")).await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        assert_eq!(r.body["data"], json!({"events": [], "next": 0}));
    }
    // A token shorter than 32 bytes is a configuration error.
    let err = users_api::Config::from_vars(|k| match k {
        "APP_ENV" => Some("testing".into()),
        "REVOCATION_FEED_TOKEN" => Some("short".into()),
        _ => None,
    });
    assert!(format!("{:?}", err.err()).contains("REVOCATION_FEED_TOKEN"));
}

#[actix_web::test]
async fn every_revocation_path_writes_an_event() {
    for t in apps() {
        let b = t.backend();
        let app = init!(t);
        let lifetime = i64::try_from(t.state.config.token.lifetime_secs()).unwrap();
        let register = |name: &str| {
            post_json(
                "/auth/register",
                &json!({"username": name, "email": format!("{name}@test.com"), "password": "pw"}),
            )
        };
        let sid = |token: &str| {
            t.state
                .tokens
                .decode_auth_token(token)
                .unwrap()
                .sid
                .unwrap()
        };
        let token = |r: &crate::helpers::Reply| r.body["auth_token"].as_str().unwrap().to_owned();
        let mut expected: Vec<Value> = Vec::new();

        // Logout.
        let a = token(&send(&app, register("ann")).await);
        send(&app, bearer(get("/auth/logout"), &a)).await;
        expected.push(json!({"sid": sid(&a)}));
        // Logout everywhere.
        let a2 = crate::helpers::login(&app, "ann@test.com", "pw").await;
        send(&app, bearer(post_json("/auth/logout/all", &json!({})), &a2)).await;
        expected.push(json!({"sid": sid(&a2)}));
        // A password change revokes the other sessions.
        let keep = crate::helpers::login(&app, "ann@test.com", "pw").await;
        let other = crate::helpers::login(&app, "ann@test.com", "pw").await;
        let r = send(
            &app,
            bearer(
                post_json(
                    "/auth/password",
                    &json!({"old_password": "pw", "new_password": "pw2"}),
                )
                .method(actix_web::http::Method::PUT),
                &keep,
            ),
        )
        .await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        expected.push(json!({"sid": sid(&other)}));
        // Plain SQL: deactivation (its sessions too) and deletion.
        let bob = token(&send(&app, register("bob")).await);
        let bob_id = t.state.tokens.decode_auth_token(&bob).unwrap().sub;
        t.db.connect()
            .batch_execute(&format!(
                "UPDATE users SET active = false WHERE id = {bob_id}"
            ))
            .unwrap();
        let cid = token(&send(&app, register("cid")).await);
        let cid_id = t.state.tokens.decode_auth_token(&cid).unwrap().sub;
        t.db.connect()
            .batch_execute(&format!("DELETE FROM users WHERE id = {cid_id}"))
            .unwrap();

        let before = chrono::Utc::now().timestamp();
        let r = send(&app, feed("")).await;
        let got = events(&r.body);
        let has = |want: &Value| {
            got.iter().any(|e| {
                want.as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| e.get(k) == Some(v))
            })
        };
        for want in &expected {
            assert!(has(want), "{b}: {want} missing from {got:?}");
        }
        assert!(
            has(&json!({"sid": sid(&bob)})),
            "{b}: deactivation's session"
        );
        assert!(has(&json!({"user_id": bob_id.get()})), "{b}: deactivation");
        assert!(has(&json!({"user_id": cid_id.get()})), "{b}: deletion");
        assert!(has(&json!({"sid": sid(&cid)})), "{b}: deletion's session");
        // seq increases; exp is a token lifetime after now (give or take the test's time).
        let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{b}: {seqs:?}");
        for e in &got {
            let exp = e["exp"].as_i64().unwrap();
            assert!(
                exp > before + lifetime - 120 && exp <= before + lifetime + 2,
                "{b}: {e}"
            );
            assert_eq!(e.as_object().unwrap().len(), 3, "{b}: {e}");
        }
        assert_eq!(r.body["data"]["next"], json!(seqs.last().unwrap()), "{b}");
        // Resuming from next: nothing new.
        let r = send(&app, feed(&format!("?after={}", seqs.last().unwrap()))).await;
        assert!(events(&r.body).is_empty(), "{b}");
        assert_eq!(r.body["data"]["next"], json!(seqs.last().unwrap()), "{b}");
        // From the middle.
        let r = send(&app, feed(&format!("?after={}", seqs[1]))).await;
        assert_eq!(events(&r.body).len(), seqs.len() - 2, "{b}");
    }
}

#[actix_web::test]
async fn a_page_holds_at_most_a_thousand_events() {
    for t in apps() {
        let b = t.backend();
        let app = init!(t);
        let rows: Vec<String> = (0..1005).map(|i| format!("('s{i}')")).collect();
        t.db.connect()
            .batch_execute(&format!(
                "INSERT INTO revocation_events (sid) VALUES {}",
                rows.join(",")
            ))
            .unwrap();
        let r = send(&app, feed("")).await;
        let first = events(&r.body);
        assert_eq!(first.len(), 1000, "{b}");
        let next = r.body["data"]["next"].as_i64().unwrap();
        let r = send(&app, feed(&format!("?after={next}"))).await;
        assert_eq!(events(&r.body).len(), 5, "{b}");
    }
}

#[actix_web::test]
async fn a_long_poll_answers_when_an_event_arrives() {
    for t in apps() {
        let b = t.backend();
        let app = init!(t);
        let r = send(
            &app,
            post_json(
                "/auth/register",
                &json!({"username": "ann", "email": "ann@test.com", "password": "pw"}),
            ),
        )
        .await;
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        let sid = t
            .state
            .tokens
            .decode_auth_token(&token)
            .unwrap()
            .sid
            .unwrap();
        // Nothing within the wait: an empty answer.
        let r = send(&app, feed("?wait=1")).await;
        assert!(events(&r.body).is_empty(), "{b}");
        // A logout while the poll waits (up to 30 s) ends it with the event.
        let poll = send(&app, feed("?after=0&wait=30"));
        let logout = async {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
            send(&app, bearer(get("/auth/logout"), &token)).await
        };
        let (r, _) = futures_util::future::join(poll, logout).await;
        let got = events(&r.body);
        assert_eq!(got.len(), 1, "{b}: {got:?}");
        assert_eq!(got[0]["sid"], json!(sid), "{b}");
    }
}

#[actix_web::test]
async fn a_reader_resuming_from_next_misses_no_event() {
    for t in apps() {
        let b = t.backend();
        let app = init!(t);
        let mut tokens = Vec::new();
        for i in 0..40 {
            let r = send(
                &app,
                post_json(
                    "/auth/register",
                    &json!({"username": format!("u{i}"), "email": format!("u{i}@test.com"), "password": "pw"}),
                ),
            )
            .await;
            tokens.push(r.body["auth_token"].as_str().unwrap().to_owned());
        }
        let seen = std::cell::RefCell::new(Vec::<i64>::new());
        let done = std::cell::Cell::new(false);
        let reader = async {
            let mut next = 0;
            loop {
                let finished = done.get();
                let r = send(&app, feed(&format!("?after={next}"))).await;
                for e in events(&r.body) {
                    seen.borrow_mut().push(e["seq"].as_i64().unwrap());
                }
                next = r.body["data"]["next"].as_i64().unwrap();
                if finished {
                    break;
                }
            }
        };
        let writers = async {
            join_all(
                tokens
                    .iter()
                    .map(|tok| send(&app, bearer(get("/auth/logout"), tok))),
            )
            .await;
            done.set(true);
        };
        futures_util::future::join(reader, writers).await;
        let r = send(&app, feed("")).await;
        let all: Vec<i64> = events(&r.body)
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(all.len(), 40, "{b}");
        assert_eq!(*seen.borrow(), all, "{b}: the reader missed events");
    }
}
