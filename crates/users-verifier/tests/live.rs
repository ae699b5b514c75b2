//! The verifier against a live users service (the real `users-api` app, served over TCP on
//! loopback by the test, on a fresh database per test and backend): offline verification,
//! logout, logout-all, deactivation and deletion refused within a second, a key rotation
//! picked up without restarting the verifier, a forged-`kid` flood, the feed down and back
//! under both policies, HS256 with the shared secret, and the actix extractor.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::{HttpServer, web};
use auth_token::SigningAlgorithm;
use serde_json::{Value, json};
use users_api::{AppState, Config, build_app};
use users_db::testing::TestDb;
use users_verifier::{FeedPolicy, Settings, Verifier, VerifyError};

const SECRET: &str = "verifier-test-secret-0123456789abcdef";
const FEED_TOKEN: &str = "feed-token-0123456789abcdef0123456789";
/// Part C's bound.
const BOUND: Duration = Duration::from_secs(1);

/// The users service, served on a port of its own until dropped.
struct Service {
    port: u16,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        futures_stop(&self.handle);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn futures_stop(handle: &actix_web::dev::ServerHandle) {
    let handle = handle.clone();
    let stopped = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(handle.stop(false));
    });
    let _ = stopped.join();
}

fn key_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        auth_token::generate_private_key_pem(SigningAlgorithm::EdDsa).unwrap(),
    )
    .unwrap();
    path
}

/// Starts the service on `db` (on `port`, or any) with `vars` over the test defaults.
fn serve(db: &TestDb, port: u16, vars: &[(&str, &str)]) -> Service {
    let url = db.url().to_owned();
    let mut all: Vec<(String, String)> = vec![
        ("APP_ENV".into(), "testing".into()),
        ("DATABASE_TEST_URL".into(), url),
        ("SECRET_KEY".into(), SECRET.into()),
        ("TOKEN_EXPIRATION_SECONDS".into(), "3600".into()),
        ("REVOCATION_FEED_TOKEN".into(), FEED_TOKEN.into()),
    ];
    all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let config = Config::from_vars(|k| {
        all.iter()
            .rev()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    })
    .expect("config");
    let state = web::Data::new(AppState::new(config, db.pool().clone()).expect("state"));
    // As `serve` does: the auth cache's listener, which also wakes the feed's long polls.
    let changes = state.listen();
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || build_app(state.clone()))
                .workers(2)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
            tx.send(server.handle()).unwrap();
            let _ = server.await;
            drop(changes);
        });
    });
    let handle = rx.recv().unwrap();
    Service {
        port,
        handle,
        thread: Some(thread),
    }
}

fn base(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// `(status, body)` of a JSON request.
fn call(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let agent = agent();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(body.map(|b| b.to_string()).unwrap_or_default())
        .unwrap();
    let mut res = agent.run(req).unwrap();
    let mut text = String::new();
    res.body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .unwrap();
    (
        res.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn register(port: u16, name: &str) -> (String, i32) {
    let (status, body) = call(
        "POST",
        &format!("{}/auth/register", base(port)),
        None,
        Some(json!({"username": name, "email": format!("{name}@example.com"), "password": "pw"})),
    );
    assert_eq!(status, 201, "{body}");
    let token = body["auth_token"].as_str().unwrap().to_owned();
    let (_, status) = call(
        "GET",
        &format!("{}/auth/status", base(port)),
        Some(&token),
        None,
    );
    (token, status["data"]["id"].as_i64().unwrap() as i32)
}

fn login(port: u16, name: &str) -> String {
    let (status, body) = call(
        "POST",
        &format!("{}/auth/login", base(port)),
        None,
        Some(json!({"email": format!("{name}@example.com"), "password": "pw"})),
    );
    assert_eq!(status, 200, "{body}");
    body["auth_token"].as_str().unwrap().to_owned()
}

fn admin(db: &TestDb, port: u16) -> String {
    let (token, id) = register(port, "root");
    users_db::users::set_admin(&mut db.conn(), users_domain::UserId::new(id), true).unwrap();
    token
}

/// Polls `verify` until it refuses; how long it took.
fn refused_after(v: &Verifier, token: &str, want: VerifyError) -> Duration {
    let started = Instant::now();
    loop {
        match v.verify(token) {
            Err(e) => {
                assert_eq!(e, want);
                return started.elapsed();
            }
            Ok(_) => {
                assert!(started.elapsed() < Duration::from_secs(10), "never refused");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn verifier(port: u16) -> Verifier {
    Verifier::start(Settings::new(base(port)).feed_token(FEED_TOKEN)).unwrap()
}

#[test]
fn logout_logout_all_deactivation_and_deletion_are_refused_within_a_second() {
    for db in TestDb::all() {
        let b = db.backend();
        let dir = tempfile::tempdir().unwrap();
        let k1 = key_file(dir.path(), "k1.pem");
        let service = serve(
            &db,
            0,
            &[
                ("JWT_ALGORITHM", "EdDSA"),
                ("JWT_PRIVATE_KEY_FILE", k1.to_str().unwrap()),
            ],
        );
        let port = service.port;
        let root = admin(&db, port);
        let v = verifier(port);
        assert!(v.feed_is_current(), "{b}: caught up at start");

        let (token, id) = register(port, "ann");
        let claims = v.verify(&token).unwrap();
        assert_eq!(claims.sub.get(), id);
        assert!(claims.sid.is_some());
        assert_eq!(v.verify("not.a.token"), Err(VerifyError::Invalid));
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(v.verify(&forged), Err(VerifyError::Invalid), "{b}");

        let mut delays = Vec::new();
        call(
            "GET",
            &format!("{}/auth/logout", base(port)),
            Some(&token),
            None,
        );
        delays.push(("logout", refused_after(&v, &token, VerifyError::Revoked)));

        let (one, _) = (login(port, "ann"), ());
        let two = login(port, "ann");
        call(
            "POST",
            &format!("{}/auth/logout/all", base(port)),
            Some(&one),
            None,
        );
        delays.push(("logout-all", refused_after(&v, &one, VerifyError::Revoked)));
        assert_eq!(v.verify(&two), Err(VerifyError::Revoked), "{b}");

        let (bob, bob_id) = register(port, "bob");
        v.verify(&bob).unwrap();
        let (status, _) = call(
            "PATCH",
            &format!("{}/users/{bob_id}", base(port)),
            Some(&root),
            Some(json!({"active": false})),
        );
        assert_eq!(status, 200);
        delays.push((
            "deactivation",
            refused_after(&v, &bob, VerifyError::Revoked),
        ));
        // Active again: a token issued after the event is good.
        call(
            "PATCH",
            &format!("{}/users/{bob_id}", base(port)),
            Some(&root),
            Some(json!({"active": true})),
        );
        // (An event's `exp` is a second past the last token it can revoke: a token issued
        // within that second is refused too, conservatively.)
        std::thread::sleep(Duration::from_millis(2100));
        let again = login(port, "bob");
        v.verify(&again).unwrap();

        let (cy, cy_id) = register(port, "cy");
        v.verify(&cy).unwrap();
        let (status, _) = call(
            "DELETE",
            &format!("{}/users/{cy_id}", base(port)),
            Some(&root),
            None,
        );
        assert_eq!(status, 200);
        delays.push(("deletion", refused_after(&v, &cy, VerifyError::Revoked)));
        for (what, delay) in delays {
            eprintln!("{b}: {what} refused by the verifier after {delay:?}");
            assert!(delay < BOUND, "{b}: {what} took {delay:?}");
        }
        assert!(v.revocations_held() >= 4);
    }
}

#[test]
fn a_key_rotation_needs_no_verifier_restart_and_forged_kids_cost_one_fetch_per_cool_down() {
    for db in TestDb::all() {
        let b = db.backend();
        let dir = tempfile::tempdir().unwrap();
        let (k1, k2) = (
            key_file(dir.path(), "k1.pem"),
            key_file(dir.path(), "k2.pem"),
        );
        let service = serve(
            &db,
            0,
            &[
                ("JWT_ALGORITHM", "EdDSA"),
                ("JWT_PRIVATE_KEY_FILE", k1.to_str().unwrap()),
            ],
        );
        let port = service.port;
        let v = Verifier::start(
            Settings::new(base(port))
                .feed_token(FEED_TOKEN)
                .jwks_cooldown(Duration::from_secs(2)),
        )
        .unwrap();
        let (old, _) = register(port, "ann");
        v.verify(&old).unwrap();

        // Forged kids: the first unknown one fetches; the rest of the flood does not.
        let fetches = v.jwks_fetches();
        let (_, payload_sig) = old.split_once('.').unwrap();
        for i in 0..200 {
            let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": format!("forged-{i}")});
            let header = base64url(header.to_string().as_bytes());
            assert_eq!(
                v.verify(&format!("{header}.{payload_sig}")),
                Err(VerifyError::Invalid)
            );
        }
        assert_eq!(
            v.jwks_fetches(),
            fetches + 1,
            "{b}: one fetch for the flood"
        );
        std::thread::sleep(Duration::from_millis(2100));
        let header = base64url(
            json!({"alg": "EdDSA", "kid": "forged-after"})
                .to_string()
                .as_bytes(),
        );
        let _ = v.verify(&format!("{header}.{payload_sig}"));
        assert_eq!(v.jwks_fetches(), fetches + 2, "{b}: the cool-down is over");

        // Rotation: the service restarts with a new key, the old one still verifying.
        drop(service);
        let service = serve(
            &db,
            port,
            &[
                ("JWT_ALGORITHM", "EdDSA"),
                ("JWT_PRIVATE_KEY_FILE", k2.to_str().unwrap()),
                ("JWT_PREVIOUS_KEY_FILES", k1.to_str().unwrap()),
            ],
        );
        std::thread::sleep(Duration::from_millis(2100));
        let new = login(service.port, "ann");
        v.verify(&new).unwrap();
        v.verify(&old).unwrap();
    }
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn with_the_feed_down_each_policy_holds_and_a_revocation_made_meanwhile_is_honoured() {
    for db in TestDb::all() {
        let b = db.backend();
        let dir = tempfile::tempdir().unwrap();
        let k1 = key_file(dir.path(), "k1.pem");
        let vars = [
            ("JWT_ALGORITHM", "EdDSA"),
            ("JWT_PRIVATE_KEY_FILE", k1.to_str().unwrap()),
        ];
        let service = serve(&db, 0, &vars);
        let port = service.port;
        let closed = Verifier::start(
            Settings::new(base(port))
                .feed_token(FEED_TOKEN)
                .feed_policy(FeedPolicy::FailClosedAfter(Duration::from_secs(1))),
        )
        .unwrap();
        let open = Verifier::start(
            Settings::new(base(port))
                .feed_token(FEED_TOKEN)
                .feed_policy(FeedPolicy::SignaturesOnly),
        )
        .unwrap();
        let (token, _) = register(port, "ann");
        let spare = login(port, "ann");
        let sid = closed.verify(&token).unwrap().sid.unwrap();
        open.verify(&token).unwrap();

        drop(service);
        // The session is revoked while the service (and its feed) is down.
        users_db::sessions::revoke(&mut db.conn(), &sid, users_domain::now_utc()).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            closed.verify(&spare),
            Err(VerifyError::Unavailable),
            "{b}: fail closed"
        );
        assert!(open.verify(&spare).is_ok(), "{b}: signatures only");
        assert!(
            open.verify(&token).is_ok(),
            "{b}: the revocation is not heard yet"
        );

        let service = serve(&db, port, &vars);
        let started = Instant::now();
        while closed.verify(&spare).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{b}: never back"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(closed.verify(&token), Err(VerifyError::Revoked), "{b}");
        refused_after(&open, &token, VerifyError::Revoked);
        drop(service);
    }
}

#[test]
fn hs256_with_the_shared_secret() {
    for db in TestDb::all() {
        let service = serve(&db, 0, &[]);
        let port = service.port;
        let v = Verifier::start(
            Settings::new(base(port))
                .secret(SECRET.as_bytes())
                .feed_token(FEED_TOKEN),
        )
        .unwrap();
        let (token, _) = register(port, "ann");
        v.verify(&token).unwrap();
        assert_eq!(v.jwks_fetches(), 0, "a shared secret needs no JWKS");
        let wrong =
            Verifier::start(Settings::new(base(port)).secret(b"another secret".to_vec())).unwrap();
        assert_eq!(wrong.verify(&token), Err(VerifyError::Invalid));
        call(
            "GET",
            &format!("{}/auth/logout", base(port)),
            Some(&token),
            None,
        );
        let delay = refused_after(&v, &token, VerifyError::Revoked);
        assert!(delay < BOUND);
    }
}

#[actix_web::test]
async fn the_actix_extractor_answers_as_the_service_does() {
    use actix_web::{App, test};
    use users_verifier::actix::Authenticated;

    let db = TestDb::sqlite();
    let service = serve(&db, 0, &[]);
    let port = service.port;
    let v = web::Data::new(
        Verifier::start(
            Settings::new(base(port))
                .secret(SECRET.as_bytes())
                .feed_token(FEED_TOKEN),
        )
        .unwrap(),
    );
    let app = test::init_service(App::new().app_data(v.clone()).route(
        "/hello",
        web::get().to(|Authenticated(c): Authenticated| async move { format!("user {}", c.sub) }),
    ))
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/hello").to_request()).await;
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(
        body,
        json!({"status": "error", "message": "Provide a valid auth token."})
    );
    let (token, id) = register(port, "ann");
    let req = test::TestRequest::get()
        .uri("/hello")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(test::read_body(res).await, format!("user {id}"));
    let req = test::TestRequest::get()
        .uri("/hello")
        .insert_header(("authorization", "Basic abc"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status().as_u16(), 401);
    call(
        "GET",
        &format!("{}/auth/logout", base(port)),
        Some(&token),
        None,
    );
    refused_after(&v, &token, VerifyError::Revoked);
    let req = test::TestRequest::get()
        .uri("/hello")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status().as_u16(), 401);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["message"], "Token revoked. Please log in again.");
}
