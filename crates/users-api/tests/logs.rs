//! No password, hash, token or secret ever reaches the log output, at any level.
//!
//! Its own test binary, so that it can install a global subscriber that records everything
//! (TRACE, every target, text and JSON) while a whole session runs through the API.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::test::{self, TestRequest};
use actix_web::web;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;
use users_api::{AppState, Config};
use users_db::testing::TestDb;

#[expect(dead_code, reason = "this test uses a part of the shared helpers")]
mod common;

use common::{post_json, send};

const SECRET: &str = "log-test-secret-key-0123456789abcdef";
const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

#[actix_web::test]
async fn nothing_secret_reaches_the_log() {
    let buffer = Buffer::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buffer.clone())
        .json()
        .init();

    let mut secrets: Vec<String> = vec![SECRET.into(), PASSWORD.into(), NEW_PASSWORD.into()];
    for db in TestDb::all() {
        let url = db.url().to_owned();
        let config = Config::from_vars(|k| match k {
            "APP_ENV" => Some("testing".into()),
            "DATABASE_TEST_URL" => Some(url.clone()),
            "SECRET_KEY" => Some(SECRET.into()),
            "LOGIN_MAX_FAILURES_PER_ACCOUNT" => Some("2".into()),
            _ => None,
        })
        .unwrap();
        tracing::info!(config = ?config, "config at start-up");
        let state = web::Data::new(AppState::new(config, db.pool().clone()).unwrap());
        let app = test::init_service(users_api::build_app(state)).await;

        let reg = send(
            &app,
            post_json(
                "/auth/register",
                &json!({"username": "logtest", "email": "log@test.com", "password": PASSWORD}),
            ),
        )
        .await
        .body;
        let login = send(
            &app,
            post_json(
                "/auth/login",
                &json!({"email": "log@test.com", "password": PASSWORD}),
            ),
        )
        .await
        .body;
        let access = login["auth_token"].as_str().unwrap().to_owned();
        let refresh = login["refresh_token"].as_str().unwrap().to_owned();
        let refreshed = send(
            &app,
            post_json("/auth/refresh", &json!({"refresh_token": refresh})),
        )
        .await
        .body;
        // Reuse after the grace window is not needed here; a second refresh still logs.
        send(
            &app,
            post_json("/auth/refresh", &json!({"refresh_token": "forged.0.AAAA"})),
        )
        .await;
        let auth = |req: TestRequest, token: &str| {
            req.insert_header(("authorization", format!("Bearer {token}")))
        };
        send(&app, auth(TestRequest::get().uri("/auth/status"), &access)).await;
        send(
            &app,
            auth(TestRequest::get().uri("/auth/status"), "not.a.token"),
        )
        .await;
        send(
            &app,
            auth(
                TestRequest::put()
                    .uri("/auth/password")
                    .insert_header(("content-type", "application/json"))
                    .set_payload(
                        json!({"old_password": PASSWORD, "new_password": NEW_PASSWORD}).to_string(),
                    ),
                &access,
            ),
        )
        .await;
        for _ in 0..3 {
            send(
                &app,
                post_json(
                    "/auth/login",
                    &json!({"email": "log@test.com", "password": PASSWORD}),
                ),
            )
            .await;
        }
        send(&app, auth(TestRequest::get().uri("/auth/logout"), &access)).await;

        let user = users_db::users::find_by_email(
            &mut db.conn(),
            &users_domain::Email::parse("log@test.com").unwrap(),
        )
        .unwrap()
        .unwrap();
        secrets.push(user.password_hash.as_str().to_owned());
        for v in [
            &reg["auth_token"],
            &reg["refresh_token"],
            &refreshed["auth_token"],
            &refreshed["refresh_token"],
        ] {
            secrets.push(v.as_str().unwrap().to_owned());
        }
        secrets.push(access);
        secrets.push(refresh);
    }

    // An error is logged once, on its request's line, with its cause chain.
    let dead = "postgres://nobody:nothing@127.0.0.1:1/none";
    let config = Config::from_vars(|k| match k {
        "APP_ENV" => Some("testing".into()),
        "DATABASE_TEST_URL" => Some(dead.into()),
        "SECRET_KEY" => Some(SECRET.into()),
        _ => None,
    })
    .unwrap();
    let options = users_db::PoolOptions {
        max_size: 1,
        connection_timeout: std::time::Duration::from_millis(300),
        ..users_db::PoolOptions::default()
    };
    let pool = users_db::build_pool(dead, options).unwrap();
    let state = web::Data::new(AppState::new(config, pool).unwrap());
    let app = test::init_service(users_api::build_app(state)).await;
    let res = test::call_service(&app, TestRequest::get().uri("/users").to_request()).await;
    assert_eq!(res.status().as_u16(), 503);
    let request_id = res
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();

    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let mentions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("database unavailable"))
        .collect();
    assert_eq!(mentions.len(), 1, "logged once: {mentions:#?}");
    assert!(
        mentions[0].contains(&request_id) && mentions[0].contains("\"status\":503"),
        "on the request's own line: {}",
        mentions[0]
    );
    assert!(
        mentions[0].contains("Connection refused")
            || mentions[0].contains("connection refused")
            || mentions[0].contains("timed out"),
        "with its cause chain: {}",
        mentions[0]
    );
    assert!(
        log.contains("\"route\":\"/auth/login\""),
        "the requests were logged:\n{log}"
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "secret {secret:?} found in the log"
        );
        // Neither the JWT signature alone.
        if let Some(sig) = secret.rsplit('.').next().filter(|s| s.len() > 20) {
            assert!(!log.contains(sig), "a signature found in the log");
        }
    }
}
