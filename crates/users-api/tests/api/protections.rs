//! Protections that must hold under concurrency and hostile input (issue "protections
//! that hold"): each test fires its requests at once, or sends what an attacker would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use futures_util::future::join_all;
use serde_json::json;
use users_db::testing::TestDb;
use users_domain::{Password, now_utc};

use crate::helpers::{TestApp, bearer, get, login, post_json, send};
use crate::init;

/// Polls `f` until it is true or `limit` has passed; a bound on waiting, not a timing claim.
async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !f() {
        if Instant::now() > deadline {
            return false;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[actix_web::test]
async fn hashing_memory_is_freed_after_a_second_idle() {
    let t = TestApp::on(TestDb::sqlite());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // Twice as many jobs as threads, each holding its thread a moment, so that every
    // thread runs one and holds argon2 memory when the queue runs dry.
    let jobs: Vec<_> = (0..cores * 2)
        .map(|_| {
            let state = t.state.clone();
            actix_web::rt::spawn(async move {
                state
                    .hashing("hash", |h| {
                        let hash = h.hash(&Password::for_login("pw").unwrap());
                        std::thread::sleep(Duration::from_millis(100));
                        hash.is_ok()
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    for job in jobs {
        assert!(job.await.unwrap());
    }
    assert!(t.state.hashing_threads_holding_memory() >= 1);
    let holding = || t.state.hashing_threads_holding_memory();
    assert!(
        eventually(Duration::from_secs(10), || holding() == 0).await,
        "{} hashing threads still hold argon2 memory after 10 s idle",
        holding()
    );
}

fn apps(extra: &[(&str, &str)]) -> Vec<TestApp> {
    TestDb::all()
        .into_iter()
        .map(|db| TestApp::with_vars(db, extra))
        .collect()
}

/// Fires every request at once on one app and returns the statuses.
async fn all_at_once<S, B>(app: &S, requests: Vec<TestRequest>) -> Vec<u16>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let calls: Vec<_> = requests.into_iter().map(|r| send(app, r)).collect();
    let mut statuses = Vec::new();
    for reply in join_all(calls).await {
        statuses.push(reply.status.as_u16());
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

fn login_from(email: &str, password: &str, peer: &str) -> TestRequest {
    let peer: SocketAddr = format!("{peer}:4000").parse().unwrap();
    post_json(
        "/auth/login",
        &json!({"email": email, "password": password}),
    )
    .peer_addr(peer)
}

#[actix_web::test]
async fn sixty_concurrent_guesses_check_at_most_the_account_limit() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "10")]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "right");
        let guesses = (0..60)
            .map(|i| login_from("test@test.com", &format!("wrong-{i}"), "192.0.2.1"))
            .collect();
        let statuses = all_at_once(&app, guesses).await;
        assert!(
            count(&statuses, 404) <= 10,
            "{}: {} of 60 concurrent guesses were checked, limit 10",
            t.backend(),
            count(&statuses, 404)
        );
        assert_eq!(
            count(&statuses, 404) + count(&statuses, 429),
            60,
            "{statuses:?}"
        );
        // The right password is refused too now.
        let r = send(&app, login_from("test@test.com", "right", "192.0.2.1")).await;
        assert_eq!(r.status.as_u16(), 429, "{}", t.backend());
    }
}

#[actix_web::test]
async fn sixty_concurrent_guesses_check_at_most_the_address_limit() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ADDRESS", "10")]) {
        let app = init!(t);
        let guesses = (0..60)
            .map(|i| login_from(&format!("user{i}@test.com"), "wrong", "192.0.2.7"))
            .collect();
        let statuses = all_at_once(&app, guesses).await;
        assert!(
            count(&statuses, 404) <= 10,
            "{}: {} of 60 concurrent guesses from one address were checked, limit 10",
            t.backend(),
            count(&statuses, 404)
        );
        assert_eq!(
            count(&statuses, 404) + count(&statuses, 429),
            60,
            "{statuses:?}"
        );
    }
}

fn change_password(token: &str, old: &str, new: &str) -> TestRequest {
    bearer(
        TestRequest::put()
            .uri("/auth/password")
            .insert_header(("content-type", "application/json"))
            .set_payload(json!({"old_password": old, "new_password": new}).to_string()),
        token,
    )
}

#[actix_web::test]
async fn wrong_old_passwords_are_throttled_as_failed_logins() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5")]) {
        let app = init!(t);
        t.add_user("test", "test@test.com", "right");
        let token = login(&app, "test@test.com", "right").await;
        let wrong = (0..30)
            .map(|i| change_password(&token, &format!("wrong-{i}"), "new-pass"))
            .collect();
        let statuses = all_at_once(&app, wrong).await;
        assert!(count(&statuses, 400) <= 5, "{}: {statuses:?}", t.backend());
        assert_eq!(
            count(&statuses, 400) + count(&statuses, 429),
            30,
            "{statuses:?}"
        );
        let r = send(&app, change_password(&token, "right", "new-pass")).await;
        r.assert(429, "error", "Too many login attempts. Try again later.");
        assert!(r.headers.contains_key("retry-after"));
        // And the account's logins are throttled by the same count.
        let r = send(&app, login_from("test@test.com", "right", "192.0.2.1")).await;
        assert_eq!(r.status.as_u16(), 429, "{}", t.backend());
    }
}

#[actix_web::test]
async fn concurrent_password_changes_let_exactly_one_win() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "old-pass");
        for round in 0..5 {
            let (old, a, b) = if round == 0 {
                (
                    "old-pass".to_owned(),
                    "new-a-0".to_owned(),
                    "new-b-0".to_owned(),
                )
            } else {
                (
                    format!("won-{}", round - 1),
                    format!("new-a-{round}"),
                    format!("new-b-{round}"),
                )
            };
            let first = login(&app, "test@test.com", &old).await;
            let second = login(&app, "test@test.com", &old).await;
            let replies = join_all([
                send(&app, change_password(&first, &old, &a)),
                send(&app, change_password(&second, &old, &b)),
            ])
            .await;
            let won: Vec<usize> = (0..2)
                .filter(|i| replies[*i].status.as_u16() == 200)
                .collect();
            assert_eq!(won.len(), 1, "{} round {round}: {replies:?}", t.backend());
            let loser = &replies[1 - won[0]];
            assert!(
                loser.message() == "Old password is incorrect."
                    || loser.message() == "Token revoked. Please log in again.",
                "{loser:?}"
            );
            let (winner_pw, loser_pw) = if won[0] == 0 { (&a, &b) } else { (&b, &a) };
            // Only the acknowledged password is in effect; the winner's session stays.
            let r = send(&app, login_from("test@test.com", loser_pw, "192.0.2.50")).await;
            assert_eq!(
                r.status.as_u16(),
                404,
                "{}: the loser's password works",
                t.backend()
            );
            let winner_token = if won[0] == 0 { &first } else { &second };
            let r = send(&app, bearer(get("/auth/status"), winner_token)).await;
            assert_eq!(r.status.as_u16(), 200, "{}: winner's session", t.backend());
            // Carry on from the winning password.
            let token = login(&app, "test@test.com", winner_pw).await;
            let next = format!("won-{round}");
            let r = send(&app, change_password(&token, winner_pw, &next)).await;
            assert_eq!(r.status.as_u16(), 200, "{}", r.body);
        }
    }
}

#[actix_web::test]
async fn a_legacy_token_older_than_its_user_is_refused() {
    for t in TestApp::all() {
        let app = init!(t);
        // The id's holder was created after the token was issued (an earlier holder was
        // deleted and an import wrote the id again).
        let user = t.add_user_with("test", "test@test.com", "pw", |u| {
            u.created_at = now_utc() + chrono::Duration::hours(1);
        });
        let legacy = t.state.tokens.encode_auth_token(user.id).unwrap();
        send(&app, bearer(get("/auth/status"), &legacy))
            .await
            .assert(401, "error", "Something went wrong. Please contact us.");
    }
}

#[actix_web::test]
async fn registration_leaves_no_user_when_its_session_cannot_be_written() {
    use diesel::connection::SimpleConnection as _;
    for t in TestApp::all() {
        let app = init!(t);
        let sabotage = match t.backend() {
            "sqlite" => {
                "CREATE TRIGGER no_sessions BEFORE INSERT ON sessions \
                         BEGIN SELECT RAISE(ABORT, 'no sessions today'); END;"
            }
            _ => {
                "CREATE FUNCTION no_sessions() RETURNS trigger LANGUAGE plpgsql AS \
                  $$ BEGIN RAISE EXCEPTION 'no sessions today'; END $$; \
                  CREATE TRIGGER no_sessions BEFORE INSERT ON sessions \
                  FOR EACH ROW EXECUTE FUNCTION no_sessions();"
            }
        };
        t.db.conn().batch_execute(sabotage).unwrap();
        let body = json!({"username": "a", "email": "a@test.com", "password": "pw"});
        let r = send(&app, post_json("/auth/register", &body)).await;
        assert!(r.status.is_server_error(), "{}: {:?}", t.backend(), r);
        let users = users_db::users::count(&mut t.db.conn()).unwrap();
        assert_eq!(
            users,
            0,
            "{}: a user without a session was left",
            t.backend()
        );
    }
}

#[actix_web::test]
async fn metric_labels_come_from_a_closed_set() {
    let t = TestApp::on(TestDb::sqlite());
    let app = init!(t);
    for i in 0..30 {
        let method = actix_web::http::Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        for path in ["/ping", &format!("/nowhere-{i}")] {
            send(
                &app,
                TestRequest::default().method(method.clone()).uri(path),
            )
            .await;
        }
    }
    let res = actix_web::test::call_service(&app, get("/metrics").to_request()).await;
    let text = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).unwrap();
    assert!(
        !text.contains("FOO"),
        "a client-chosen method became a label"
    );
    assert!(
        !text.contains("nowhere"),
        "a client-chosen path became a label"
    );
    assert!(text.contains(r#"method="OTHER""#), "{text}");
    assert!(text.contains(r#"route="<unknown>""#), "{text}");
}

#[actix_web::test]
async fn head_is_answered_as_get() {
    for t in TestApp::all() {
        let app = init!(t);
        for path in ["/ping", "/users", "/health", "/openapi.json"] {
            let r = send(
                &app,
                TestRequest::default()
                    .method(actix_web::http::Method::HEAD)
                    .uri(path),
            )
            .await;
            assert_eq!(r.status.as_u16(), 200, "{}: HEAD {path}", t.backend());
        }
    }
}

/// The app on a real TCP port, in a thread of its own; stopped when dropped.
struct Served {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    _t: TestApp,
}

impl Served {
    fn start(t: TestApp) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let state = t.state.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    actix_web::HttpServer::new(move || users_api::build_app(state.clone()))
                        .workers(1)
                        .on_connect(users_api::app::on_connect)
                        .disable_signals()
                        .bind(("127.0.0.1", 0))
                        .unwrap();
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).unwrap();
                server.await.unwrap();
            });
        });
        let (addr, handle) = rx.recv().unwrap();
        Served {
            addr,
            handle,
            _t: t,
        }
    }

    /// Writes `raw` and reads until the server closes the connection (or 10 s pass).
    fn exchange(&self, raw: &str) -> String {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

#[test]
fn content_length_with_chunked_is_refused_and_the_connection_closed() {
    let served = Served::start(TestApp::on(TestDb::sqlite()));
    let smuggled = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
    let body = format!("0\r\n\r\n{smuggled}");
    let raw = format!(
        "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{body}",
        body.len()
    );
    let out = served.exchange(&raw);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    // What followed on the connection is refused too (actix-http had read it already).
    assert_eq!(
        out.matches("HTTP/1.1 ").count(),
        out.matches("HTTP/1.1 400").count(),
        "{out}"
    );
    assert!(
        !out.contains("pong"),
        "the smuggled request was served: {out}"
    );
    assert!(out.contains(r#""status":"fail""#), "{out}");
}

#[test]
fn head_over_the_wire_has_no_body() {
    let served = Served::start(TestApp::on(TestDb::sqlite()));
    let out = served.exchange("HEAD /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{out}"
    );
    assert!(!out.contains("pong"), "HEAD sent a body: {out}");
}

#[actix_web::test]
async fn nul_bytes_are_invalid_input_on_every_backend() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "pw");
        let token = login(&app, "test@test.com", "pw").await;
        for q in ["%00", "te%00", "%00st"] {
            send(&app, get(&format!("/users?q={q}")))
                .await
                .assert(400, "fail", "Invalid payload.");
        }
        let cases = [
            (
                "/auth/login",
                json!({"email": "test@test.com\u{0}", "password": "pw"}),
                "error",
            ),
            (
                "/auth/login",
                json!({"email": "test@test.com", "password": "p\u{0}w"}),
                "error",
            ),
            (
                "/auth/register",
                json!({"username": "a\u{0}", "email": "a@test.com", "password": "pw"}),
                "error",
            ),
            ("/auth/refresh", json!({"refresh_token": "\u{0}"}), "error"),
        ];
        for (path, body, word) in cases {
            send(&app, post_json(path, &body))
                .await
                .assert(400, word, "Invalid payload.");
        }
        let body = json!({"username": "b\u{0}", "email": "b@test.com", "password": "pw"});
        let r = send(&app, bearer(post_json("/users", &body), &token)).await;
        assert_ne!(r.status.as_u16(), 500, "{}", t.backend());
    }
}
