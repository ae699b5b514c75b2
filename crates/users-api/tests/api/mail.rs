//! Part C's account lifecycle over mail, through a real SMTP conversation: an SMTP server
//! over TCP (`smtp_sink`) receives what the service's delivery thread sends with lettre.
//! Verification (optional and required), address change, password recovery, superseded
//! and expired tokens, the hourly cap (also under concurrency), the outbox through an SMTP
//! outage, a restart and a permanent refusal, two instances on one database, production
//! without SMTP, the pages, and no token in plain text anywhere. Every backend.

use std::time::Duration;

use actix_web::test::TestRequest;
use diesel::prelude::*;
use futures_util::future::join_all;
use serde_json::{Value, json};
use users_api::AppState;
use users_api::mail::{DeliverySettings, spawn_with};
use users_db::schema::{mail_outbox, mail_tokens, users};
use users_db::testing::TestDb;

use crate::helpers::{Reply, TestApp, bearer, get, post_json, send};
use crate::init;
use crate::smtp_sink::{Mode, Received, SmtpSink};

const APP_URL: &str = "https://app.example.com";
const PASSWORD: &str = "correct horse";
/// Long enough for a delivery thread that polls every 50 ms and retries after 2 s.
const WAIT: Duration = Duration::from_secs(20);

macro_rules! call {
    ($app:expr, $req:expr) => {
        send(&$app, $req).await
    };
}

/// Test apps on every backend, sending to `sink`, with `extra` settings.
fn apps(sink: &SmtpSink, extra: &[(&str, &str)]) -> Vec<TestApp> {
    let url = sink.url();
    let mut vars: Vec<(&str, &str)> = vec![("SMTP_URL", &url), ("APP_URL", APP_URL)];
    vars.extend_from_slice(extra);
    TestDb::all()
        .into_iter()
        .map(|db| TestApp::with_vars(db, &vars))
        .collect()
}

fn fast() -> DeliverySettings {
    DeliverySettings {
        poll: Duration::from_millis(50),
        ..DeliverySettings::default()
    }
}

fn register_req(username: &str, email: &str) -> TestRequest {
    post_json(
        "/auth/register",
        &json!({"username": username, "email": email, "password": PASSWORD}),
    )
}

fn login_req(email: &str, password: &str) -> TestRequest {
    post_json(
        "/auth/login",
        &json!({"email": email, "password": password}),
    )
}

fn authed_post(path: &str, token: &str, body: &Value) -> TestRequest {
    bearer(post_json(path, body), token)
}

/// The mails to `to` with `subject`.
fn mails_to(mails: &[Received], to: &str, subject: &str) -> Vec<Received> {
    mails
        .iter()
        .filter(|m| m.to == [to] && m.header("Subject").as_deref() == Some(subject))
        .cloned()
        .collect()
}

/// Waits for the `n`th mail to `to` with `subject` and returns its link and token.
fn nth_link(sink: &SmtpSink, to: &str, subject: &str, n: usize, page: &str) -> (String, String) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = mails_to(&sink.received(), to, subject);
        if found.len() >= n {
            let mail = &found[n - 1];
            return mail
                .link(&format!("{APP_URL}{page}?token="))
                .unwrap_or_else(|| panic!("no {page} link in: {}", mail.body()));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail #{n} to {to} with subject {subject:?}; got {:?}",
            sink.received()
                .iter()
                .map(|m| (m.to.clone(), m.header("Subject")))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `n` mails to `to` with `subject` arrived; returns them.
fn wait_mails_to(sink: &SmtpSink, to: &str, subject: &str, n: usize) -> Vec<Received> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = mails_to(&sink.received(), to, subject);
        if found.len() >= n || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn account<S, B>(app: &S, token: &str) -> Value
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = send(app, bearer(get("/auth/account"), token)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    r.body["data"].clone()
}

/// The reset mail's outbox row, as the delivery thread left it.
#[derive(Debug, Queryable)]
struct ResetRow {
    attempts: i32,
    last_error: Option<String>,
    sent_at: Option<chrono::NaiveDateTime>,
    failed_at: Option<chrono::NaiveDateTime>,
    body: Option<String>,
}

/// Waits (up to [`WAIT`]) until the reset mail's row satisfies `done`; returns it.
fn reset_row_when(t: &TestApp, what: &str, done: impl Fn(&ResetRow) -> bool) -> ResetRow {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let row: ResetRow = mail_outbox::table
            .filter(mail_outbox::purpose.eq("reset"))
            .select((
                mail_outbox::attempts,
                mail_outbox::last_error,
                mail_outbox::sent_at,
                mail_outbox::failed_at,
                mail_outbox::body,
            ))
            .first(&mut t.db.connect())
            .unwrap();
        if done(&row) {
            return row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}: never {what}: {row:?}",
            t.backend()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn confirm_req(token: &str) -> TestRequest {
    post_json("/auth/email/confirm", &json!({"token": token}))
}

fn outbox_rows(t: &TestApp) -> i64 {
    mail_outbox::table
        .filter(mail_outbox::purpose.ne("none"))
        .count()
        .get_result(&mut t.db.connect())
        .unwrap()
}

#[actix_web::test]
async fn verification_in_optional_mode_goes_through_a_real_smtp_conversation() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[("EMAIL_VERIFICATION", "optional")]) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let email = format!("ann-{b}@example.com");
        let r = call!(app, register_req(&format!("ann-{b}"), &email));
        r.assert(201, "success", "Successfully registered.");
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        assert_eq!(account(&app, &token).await["email_verified"], false, "{b}");

        let (link, t1) = nth_link(
            &sink,
            &email,
            "Verify your email address",
            1,
            "/verify-email",
        );
        let mail = &mails_to(&sink.received(), &email, "Verify your email address")[0];
        assert_eq!(mail.from, "no-reply@localhost", "{b}");
        assert_eq!(
            mail.header("From").as_deref(),
            Some("users-service <no-reply@localhost>"),
            "{b}"
        );
        assert_eq!(mail.header("To").as_deref(), Some(email.as_str()), "{b}");
        assert!(
            link.starts_with(&format!("{APP_URL}/verify-email?token=")),
            "{link}"
        );
        assert!(t1.len() >= 43, "{b}: a token of at least 32 bytes: {t1}");

        call!(app, confirm_req(&t1)).assert(200, "success", "Email verified.");
        assert_eq!(account(&app, &token).await["email_verified"], true, "{b}");
        // Single use.
        call!(app, confirm_req(&t1)).assert(400, "fail", "Invalid or expired token.");
        call!(app, authed_post("/auth/email/verify", &token, &json!({}))).assert(
            400,
            "fail",
            "Email already verified.",
        );
        call!(app, confirm_req("not-a-token")).assert(400, "fail", "Invalid or expired token.");
        for body in [
            json!({}),
            json!({"token": 5}),
            json!({"token": ""}),
            json!([1]),
        ] {
            call!(app, post_json("/auth/email/confirm", &body)).assert(
                400,
                "fail",
                "Invalid payload.",
            );
        }
    }
}

#[actix_web::test]
async fn a_new_link_supersedes_the_old_and_the_hourly_cap_keeps_the_last() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[("MAIL_MAX_PER_HOUR", "2")]) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let email = format!("bob-{b}@example.com");
        // EMAIL_VERIFICATION is off: registration sends nothing, and the account starts
        // unverified.
        let r = call!(app, register_req(&format!("bob-{b}"), &email));
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        assert_eq!(account(&app, &token).await["email_verified"], false, "{b}");
        assert_eq!(
            outbox_rows(&t),
            0,
            "{b}: no mail with EMAIL_VERIFICATION=off"
        );

        for _ in 0..2 {
            call!(app, authed_post("/auth/email/verify", &token, &json!({}))).assert(
                202,
                "success",
                "Verification email sent.",
            );
        }
        let (_, first) = nth_link(
            &sink,
            &email,
            "Verify your email address",
            1,
            "/verify-email",
        );
        let (_, second) = nth_link(
            &sink,
            &email,
            "Verify your email address",
            2,
            "/verify-email",
        );
        assert_ne!(first, second, "{b}");
        // Past the cap: the usual answer, no new token, no mail.
        call!(app, authed_post("/auth/email/verify", &token, &json!({}))).assert(
            202,
            "success",
            "Verification email sent.",
        );
        assert_eq!(outbox_rows(&t), 2, "{b}: the third request wrote no mail");
        // The first link was superseded; the last one sent is still good.
        call!(app, confirm_req(&first)).assert(400, "fail", "Invalid or expired token.");
        call!(app, confirm_req(&second)).assert(200, "success", "Email verified.");
    }
}

#[actix_web::test]
async fn the_hourly_cap_holds_under_concurrent_requests() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[("MAIL_MAX_PER_HOUR", "5")]) {
        let b = t.backend();
        let app = init!(t);
        let r = call!(app, register_req("cap", "cap@example.com"));
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        let replies = join_all(
            (0..100).map(|_| send(&app, authed_post("/auth/email/verify", &token, &json!({})))),
        )
        .await;
        for r in &replies {
            r.assert(202, "success", "Verification email sent.");
        }
        assert_eq!(outbox_rows(&t), 5, "{b}: 25 concurrent requests, cap 5");
        let unused: i64 = mail_tokens::table
            .filter(mail_tokens::used_at.is_null())
            .count()
            .get_result(&mut t.db.connect())
            .unwrap();
        assert_eq!(
            unused, 1,
            "{b}: one live token: each new one supersedes the last"
        );
    }
}

#[actix_web::test]
async fn with_verification_required_no_session_opens_until_the_link_is_followed() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[("EMAIL_VERIFICATION", "required")]) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let email = format!("cy-{b}@example.com");
        let r = call!(app, register_req("cy", &email));
        r.assert(
            201,
            "success",
            "Successfully registered. Please verify your email address.",
        );
        assert!(r.body.get("auth_token").is_none(), "{b}: {}", r.body);
        assert!(r.body.get("refresh_token").is_none(), "{b}: {}", r.body);
        let sessions: i64 = users_db::schema::sessions::table
            .count()
            .get_result(&mut t.db.connect())
            .unwrap();
        assert_eq!(sessions, 0, "{b}");
        call!(app, login_req(&email, PASSWORD)).assert(
            401,
            "error",
            "Please verify your email address.",
        );
        call!(app, login_req(&email, "wrong")).assert(404, "error", "User does not exist.");
        let (_, token) = nth_link(
            &sink,
            &email,
            "Verify your email address",
            1,
            "/verify-email",
        );
        call!(app, confirm_req(&token)).assert(200, "success", "Email verified.");
        call!(app, login_req(&email, PASSWORD)).assert(200, "success", "Successfully logged in.");
    }
}

#[actix_web::test]
async fn an_address_change_is_confirmed_from_the_new_address_with_a_notice_to_the_old() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[]) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let (old, new) = (
            format!("dee-{b}@example.com"),
            format!("dee-new-{b}@example.com"),
        );
        let r = call!(app, register_req("dee", &old));
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        call!(app, register_req("taken", "taken@example.com"));
        let change = |email: &str, password: &str| {
            authed_post(
                "/auth/email/change",
                &token,
                &json!({"email": email, "password": password}),
            )
        };
        call!(app, change(&new, "wrong")).assert(400, "fail", "Password is incorrect.");
        call!(app, change("not an address", PASSWORD)).assert(400, "fail", "Invalid payload.");
        call!(app, change("taken@example.com", PASSWORD)).assert(
            400,
            "fail",
            "Sorry. That user already exists.",
        );
        for body in [
            json!({"email": new}),
            json!({"email": 5, "password": PASSWORD}),
        ] {
            call!(app, authed_post("/auth/email/change", &token, &body)).assert(
                400,
                "fail",
                "Invalid payload.",
            );
        }
        call!(app, change(&new, PASSWORD)).assert(202, "success", "Confirmation email sent.");
        let (link, change_token) = nth_link(
            &sink,
            &new,
            "Confirm your new email address",
            1,
            "/verify-email",
        );
        assert!(link.starts_with(APP_URL), "{link}");
        let notice = wait_mails_to(&sink, &old, "Your email address was changed", 1);
        assert_eq!(notice.len(), 1, "{b}: one notice to the old address");
        assert!(
            !notice[0].body().contains("token="),
            "{b}: the notice carries no link"
        );
        assert!(
            notice[0].body().contains(&new),
            "{b}: it names the new address"
        );
        // Not changed until confirmed.
        let status = call!(app, bearer(get("/auth/status"), &token));
        assert_eq!(status.body["data"]["email"], old.as_str(), "{b}");

        call!(app, confirm_req(&change_token)).assert(200, "success", "Email updated.");
        let data = account(&app, &token).await;
        assert_eq!(data["email"], new.as_str(), "{b}");
        assert_eq!(data["email_verified"], true, "{b}");
        call!(app, login_req(&new, PASSWORD)).assert(200, "success", "Successfully logged in.");

        // An address taken between the request and the confirmation.
        let other = format!("dee-third-{b}@example.com");
        call!(app, change(&other, PASSWORD)).assert(202, "success", "Confirmation email sent.");
        let (_, late) = nth_link(
            &sink,
            &other,
            "Confirm your new email address",
            1,
            "/verify-email",
        );
        call!(app, register_req("squatter", &other)).assert(
            201,
            "success",
            "Successfully registered.",
        );
        call!(app, confirm_req(&late)).assert(400, "fail", "Sorry. That user already exists.");
        assert_eq!(account(&app, &token).await["email"], new.as_str(), "{b}");
    }
}

#[actix_web::test]
async fn a_verification_link_for_an_address_the_account_no_longer_has_is_refused() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[]) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let (old, new) = (
            format!("eve-{b}@example.com"),
            format!("eve-new-{b}@example.com"),
        );
        let r = call!(app, register_req("eve", &old));
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        call!(app, authed_post("/auth/email/verify", &token, &json!({})));
        let (_, verify) = nth_link(&sink, &old, "Verify your email address", 1, "/verify-email");
        // An admin changes the address meanwhile (plain SQL, as an operator would).
        diesel::update(users::table)
            .set(users::email.eq(&new))
            .execute(&mut t.db.connect())
            .unwrap();
        call!(app, confirm_req(&verify)).assert(400, "fail", "Invalid or expired token.");
    }
}

#[actix_web::test]
async fn password_recovery_resets_revokes_and_keeps_the_second_factor() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(
        &sink,
        &[
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
            ("PASSWORD_MIN_LENGTH", "8"),
        ],
    ) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let email = &format!("ann-{b}@test.com");
        let r = call!(app, register_req("ann", email));
        let access = r.body["auth_token"].as_str().unwrap().to_owned();
        let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
        let (secret, _) = crate::mfa::enable(&app, &access).await;
        call!(app, register_req("gone", "gone@test.com"));
        let gone = users::table
            .filter(users::email.eq("gone@test.com"))
            .select(users::id)
            .first::<i32>(&mut t.db.connect())
            .unwrap();
        diesel::update(users::table.find(gone))
            .set(users::active.eq(false))
            .execute(&mut t.db.connect())
            .unwrap();

        // The same answer for a registered, an unknown and an inactive address.
        let forgot = |email: &str| post_json("/auth/password/forgot", &json!({"email": email}));
        for address in [email.as_str(), "nobody@test.com", "gone@test.com"] {
            call!(app, forgot(address)).assert(
                202,
                "success",
                "If that email is registered, a reset link has been sent.",
            );
        }
        for body in [
            json!({}),
            json!({"email": 5}),
            json!({"email": "not an address"}),
        ] {
            call!(app, post_json("/auth/password/forgot", &body)).assert(
                400,
                "fail",
                "Invalid payload.",
            );
        }
        let (link, token) = nth_link(&sink, email, "Reset your password", 1, "/reset-password");
        assert!(
            link.starts_with(&format!("{APP_URL}/reset-password?token=")),
            "{link}"
        );
        // Only the registered, active address got a mail; the others left stand-in rows.
        let recipients: Vec<String> = mail_outbox::table
            .filter(mail_outbox::purpose.eq("reset"))
            .select(mail_outbox::recipient)
            .load(&mut t.db.connect())
            .unwrap();
        assert_eq!(recipients, [email.as_str()], "{b}");

        // Three wrong passwords: throttled.
        for _ in 0..3 {
            call!(app, login_req(email, "wrong"));
        }
        call!(app, login_req(email, PASSWORD)).assert(
            429,
            "error",
            "Too many login attempts. Try again later.",
        );

        let reset = |password: &str| {
            post_json(
                "/auth/password/reset",
                &json!({"token": token, "password": password}),
            )
        };
        // A password outside the policy: 400, and the token stays usable.
        call!(app, reset("short")).assert(400, "fail", "Invalid payload.");
        call!(
            app,
            post_json("/auth/password/reset", &json!({"token": token}))
        )
        .assert(400, "fail", "Invalid payload.");
        call!(app, reset("a brand new password")).assert(
            200,
            "success",
            "Password has been reset.",
        );
        call!(app, reset("another new password")).assert(400, "fail", "Invalid or expired token.");

        // Every session revoked: access and refresh tokens.
        call!(app, bearer(get("/auth/status"), &access)).assert(
            401,
            "error",
            "Token revoked. Please log in again.",
        );
        call!(
            app,
            post_json("/auth/refresh", &json!({"refresh_token": refresh}))
        )
        .assert(401, "error", "Invalid refresh token. Please log in again.");
        // The failed-login count is cleared; the old password is gone; the second factor
        // is still on.
        call!(app, login_req(email, PASSWORD)).assert(404, "error", "User does not exist.");
        let r = call!(app, login_req(email, "a brand new password"));
        r.assert(200, "success", "Second factor required.");
        let mfa = r.body["mfa_token"].as_str().unwrap();
        let code = secret.code_string_at_step(crate::mfa::now_step() + 1);
        let r = call!(
            app,
            post_json("/auth/login/mfa", &json!({"mfa_token": mfa, "code": code}))
        );
        r.assert(200, "success", "Successfully logged in.");
        let fresh = r.body["auth_token"].as_str().unwrap();
        let data = account(&app, fresh).await;
        assert_eq!(
            data["email_verified"], true,
            "{b}: a reset verifies the address"
        );
        assert_eq!(data["mfa_enabled"], true, "{b}");
    }
}

#[actix_web::test]
async fn expired_and_superseded_reset_links_are_refused() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[]) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let email = format!("fay-{b}@example.com");
        call!(app, register_req("fay", &email));
        let forgot = post_json("/auth/password/forgot", &json!({"email": email}));
        call!(app, forgot);
        let (_, first) = nth_link(&sink, &email, "Reset your password", 1, "/reset-password");
        let forgot = post_json("/auth/password/forgot", &json!({"email": email}));
        call!(app, forgot);
        let (_, second) = nth_link(&sink, &email, "Reset your password", 2, "/reset-password");
        let reset = |token: &str| {
            post_json(
                "/auth/password/reset",
                &json!({"token": token, "password": "new password"}),
            )
        };
        call!(app, reset(&first)).assert(400, "fail", "Invalid or expired token.");
        diesel::update(mail_tokens::table)
            .set(mail_tokens::expires_at.eq(users_domain::now_utc()))
            .execute(&mut t.db.connect())
            .unwrap();
        call!(app, reset(&second)).assert(400, "fail", "Invalid or expired token.");
        // A reset token is not a verification token, nor the reverse.
        call!(app, confirm_req(&second)).assert(400, "fail", "Invalid or expired token.");
    }
}

/// A second `AppState` on `t`'s database with its own pool: another instance.
fn another_instance(t: &TestApp) -> AppState {
    let pool =
        users_db::build_pool(t.db.url(), users_db::PoolOptions::default()).expect("a second pool");
    AppState::new((*t.state.config).clone(), pool).expect("a second instance")
}

#[actix_web::test]
async fn the_outbox_rides_out_an_smtp_outage_and_a_restart_and_delivers_once() {
    let sink = SmtpSink::start(Mode::Refuse);
    for t in apps(&sink, &[]) {
        let b = t.backend();
        let before = sink.received().len();
        let conversations = sink.conversations();
        let delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let email = format!("gus-{b}@example.com");
        call!(app, register_req("gus", &email));
        // The request does not wait for SMTP: answered while the server refuses.
        call!(
            app,
            post_json("/auth/password/forgot", &json!({"email": email}))
        )
        .assert(
            202,
            "success",
            "If that email is registered, a reset link has been sent.",
        );
        // The first attempt meets the 421 and is put off.
        sink.wait_for_conversations(conversations + 1, WAIT);
        let row = reset_row_when(&t, "put off", |r| r.last_error.is_some());
        let (attempts, error) = (row.attempts, row.last_error);
        assert!(attempts >= 1, "{b}");
        assert!(
            error.is_some_and(|e| e.contains("421")),
            "{b}: the 421 is recorded"
        );
        assert!(t.state.metrics.mail_retried.get() >= 1, "{b}");
        // The instance stops with the mail pending.
        drop(delivery);
        assert_eq!(sink.received().len(), before, "{b}");

        // Another instance starts on the same database; the server is back.
        sink.set_mode(Mode::Accept);
        let restarted = another_instance(&t);
        let _delivery = spawn_with(&restarted, fast());
        let (_, token) = nth_link(&sink, &email, "Reset your password", 1, "/reset-password");
        assert!(!token.is_empty());
        // Once, and its body erased.
        let row = reset_row_when(&t, "marked sent", |r| r.sent_at.is_some());
        assert!(row.body.is_none(), "{b}: the body is erased once delivered");
        assert_eq!(
            mails_to(&sink.received(), &email, "Reset your password").len(),
            1,
            "{b}: delivered exactly once"
        );
        assert_eq!(restarted.metrics.mail_sent.get(), 1, "{b}");
        sink.set_mode(Mode::Refuse);
    }
}

#[actix_web::test]
async fn a_permanent_refusal_gives_the_mail_up() {
    let sink = SmtpSink::start(Mode::Reject);
    for t in apps(&sink, &[]) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let email = format!("hal-{b}@example.com");
        call!(app, register_req("hal", &email));
        call!(
            app,
            post_json("/auth/password/forgot", &json!({"email": email}))
        );
        let row = reset_row_when(&t, "given up", |r| r.failed_at.is_some());
        assert_eq!(row.attempts, 1, "{b}: a 5xx is not retried");
        assert!(row.body.is_none(), "{b}: the body is erased when given up");
        assert_eq!(t.state.metrics.mail_failed.get(), 1, "{b}");
        let metrics = call!(app, get("/metrics"));
        let text = String::from_utf8_lossy(&metrics.raw).into_owned();
        for series in [
            "mail_sent_total",
            "mail_failed_total 1",
            "mail_retried_total",
            "mail_outbox_backlog",
        ] {
            assert!(text.contains(series), "{b}: {series} in /metrics");
        }
    }
}

#[actix_web::test]
async fn two_instances_on_one_database_deliver_each_mail_once() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[]) {
        let b = t.backend();
        let before = sink.received().len();
        let other = another_instance(&t);
        let app = init!(t);
        const N: usize = 30;
        for i in 0..N {
            call!(
                app,
                register_req(&format!("u{i}"), &format!("u{i}-{b}@example.com"))
            );
        }
        // Queued first, then both instances deliver at once.
        for i in 0..N {
            call!(
                app,
                post_json(
                    "/auth/password/forgot",
                    &json!({"email": format!("u{i}-{b}@example.com")})
                )
            );
        }
        let small = DeliverySettings { batch: 2, ..fast() };
        let one = spawn_with(&t.state, small);
        let two = spawn_with(&other, small);
        sink.wait_for(before + N, WAIT);
        // A moment more for any duplicate to arrive.
        std::thread::sleep(Duration::from_millis(500));
        drop((one, two));
        let got = &sink.received()[before..];
        assert_eq!(got.len(), N, "{b}: {} mails for {N}", got.len());
        let mut to: Vec<&str> = got.iter().map(|m| m.to[0].as_str()).collect();
        to.sort_unstable();
        to.dedup();
        assert_eq!(to.len(), N, "{b}: a mail went out twice");
        let by_one = t.state.metrics.mail_sent.get();
        let by_two = other.metrics.mail_sent.get();
        assert_eq!(by_one + by_two, N as u64, "{b}");
    }
}

#[actix_web::test]
async fn without_smtp_production_refuses_to_send_and_testing_logs() {
    // Production without SMTP_URL: the routes that would send mail answer 503.
    for db in TestDb::all() {
        let url = db.url().to_owned();
        let t = TestApp::with_vars(
            db,
            &[
                ("APP_ENV", "production"),
                ("DATABASE_URL", &url),
                ("ARGON2_MEMORY_KIB", "1024"),
                ("ARGON2_ITERATIONS", "1"),
            ],
        );
        let b = t.backend();
        let app = init!(t);
        let r = call!(app, register_req("ivy", "ivy@example.com"));
        r.assert(201, "success", "Successfully registered.");
        let token = r.body["auth_token"].as_str().unwrap().to_owned();
        let unavailable = |r: Reply| r.assert(503, "error", "Email delivery is not configured.");
        unavailable(call!(
            app,
            post_json(
                "/auth/password/forgot",
                &json!({"email": "ivy@example.com"})
            )
        ));
        unavailable(call!(
            app,
            authed_post("/auth/email/verify", &token, &json!({}))
        ));
        unavailable(call!(
            app,
            authed_post(
                "/auth/email/change",
                &token,
                &json!({"email": "ivy2@example.com", "password": PASSWORD})
            )
        ));
        assert_eq!(outbox_rows(&t), 0, "{b}");
    }
    // Testing without SMTP_URL: the mail is written to the log, and counts as sent.
    for t in TestApp::all() {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        call!(app, register_req("jo", "jo@example.com"));
        call!(
            app,
            post_json("/auth/password/forgot", &json!({"email": "jo@example.com"}))
        )
        .assert(
            202,
            "success",
            "If that email is registered, a reset link has been sent.",
        );
        let deadline = std::time::Instant::now() + WAIT;
        while t.state.metrics.mail_sent.get() == 0 {
            assert!(std::time::Instant::now() < deadline, "{b}: never logged");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[actix_web::test]
async fn the_pages_never_spend_a_token_on_get_and_work_as_forms() {
    let sink = SmtpSink::start(Mode::Accept);
    for t in apps(&sink, &[("EMAIL_VERIFICATION", "optional")]) {
        let b = t.backend();
        let _delivery = spawn_with(&t.state, fast());
        let app = init!(t);
        let email = format!("kim-{b}@example.com");
        call!(app, register_req("kim", &email));
        let (_, token) = nth_link(
            &sink,
            &email,
            "Verify your email address",
            1,
            "/verify-email",
        );
        for _ in 0..3 {
            let page = call!(app, get(&format!("/verify-email?token={token}")));
            assert_eq!(page.status.as_u16(), 200, "{b}");
            let html = String::from_utf8_lossy(&page.raw).into_owned();
            assert!(
                html.contains("<form method=\"post\" action=\"/verify-email\">"),
                "{html}"
            );
            assert!(html.contains(&format!("value=\"{token}\"")), "{b}");
            assert!(!html.contains("<script"), "{b}: no script");
            let csp = page.header("content-security-policy").unwrap();
            assert!(csp.starts_with("default-src 'none'"), "{csp}");
            assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
            assert_eq!(page.header("cache-control"), Some("no-store"));
            assert!(
                page.header("content-type")
                    .unwrap()
                    .starts_with("text/html")
            );
        }
        // Still unused: the form's POST spends it.
        let form = |path: &str, body: String| {
            TestRequest::post()
                .uri(path)
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(body)
        };
        let done = call!(app, form("/verify-email", format!("token={token}")));
        let html = String::from_utf8_lossy(&done.raw).into_owned();
        assert!(
            html.contains("<p id=\"result\">Email verified.</p>"),
            "{b}: {html}"
        );
        let again = call!(app, form("/verify-email", format!("token={token}")));
        let html = String::from_utf8_lossy(&again.raw).into_owned();
        assert!(html.contains("Invalid or expired token."), "{b}: {html}");

        // The reset page: a GET shows the form; different passwords keep the token usable.
        call!(
            app,
            post_json("/auth/password/forgot", &json!({"email": email}))
        );
        let (_, reset) = nth_link(&sink, &email, "Reset your password", 1, "/reset-password");
        let page = call!(app, get(&format!("/reset-password?token={reset}")));
        let html = String::from_utf8_lossy(&page.raw).into_owned();
        assert!(html.contains("name=\"password\""), "{b}: {html}");
        let differ = call!(
            app,
            form(
                "/reset-password",
                format!("token={reset}&password=one+password&confirm=another")
            )
        );
        let html = String::from_utf8_lossy(&differ.raw).into_owned();
        assert!(html.contains("The two passwords differ."), "{b}: {html}");
        let ok = call!(
            app,
            form(
                "/reset-password",
                format!("token={reset}&password=the+new+one&confirm=the+new+one")
            )
        );
        let html = String::from_utf8_lossy(&ok.raw).into_owned();
        assert!(html.contains("Password has been reset."), "{b}: {html}");
        call!(app, login_req(&email, "the new one")).assert(
            200,
            "success",
            "Successfully logged in.",
        );
        // A page without a token says so.
        let page = call!(app, get("/reset-password"));
        let html = String::from_utf8_lossy(&page.raw).into_owned();
        assert!(html.contains("This link is incomplete."), "{b}");
    }
}

/// Every text of every table, as the database stores it: PostgreSQL renders each row as
/// text; SQLite's file and write-ahead log are read as bytes.
fn everything_stored(t: &TestApp) -> Vec<u8> {
    let mut conn = t.db.connect();
    match &mut conn {
        users_db::DbConnection::Postgres(pg) => {
            #[derive(QueryableByName)]
            struct Name {
                #[diesel(sql_type = diesel::sql_types::Text)]
                table_name: String,
            }
            #[derive(QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Text)]
                row: String,
            }
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT table_name::text AS table_name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .load(pg)
            .unwrap();
            assert!(tables.len() >= 9, "every table is read");
            let mut all = Vec::new();
            for table in tables {
                let rows: Vec<Row> = diesel::sql_query(format!(
                    "SELECT t::text AS row FROM \"{}\" t",
                    table.table_name
                ))
                .load(pg)
                .unwrap();
                for r in rows {
                    all.extend_from_slice(r.row.as_bytes());
                }
            }
            all
        }
        users_db::DbConnection::Sqlite(_) => {
            let mut all = std::fs::read(t.db.url()).unwrap();
            if let Ok(wal) = std::fs::read(format!("{}-wal", t.db.url())) {
                all.extend(wal);
            }
            all
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[actix_web::test]
async fn no_link_token_is_stored_in_plain_text_before_or_after_delivery() {
    let sink = SmtpSink::start(Mode::Refuse);
    for t in apps(&sink, &[("EMAIL_VERIFICATION", "optional")]) {
        let b = t.backend();
        let app = init!(t);
        let email = format!("lee-{b}@example.com");
        call!(app, register_req("lee", &email));
        let r = call!(app, login_req(&email, PASSWORD));
        let access = r.body["auth_token"].as_str().unwrap().to_owned();
        call!(
            app,
            post_json("/auth/password/forgot", &json!({"email": email}))
        );
        call!(
            app,
            authed_post(
                "/auth/email/change",
                &access,
                &json!({"email": format!("lee-new-{b}@example.com"), "password": PASSWORD})
            )
        );
        // Pending (the server refuses): the bodies that hold the tokens are sealed.
        let pending = everything_stored(&t);
        assert!(
            !contains(&pending, "token="),
            "{b}: a link in plain text before delivery"
        );
        assert!(
            !contains(&pending, APP_URL),
            "{b}: a link in plain text before delivery"
        );
        sink.set_mode(Mode::Accept);
        let _delivery = spawn_with(&t.state, fast());
        let (_, verify) = nth_link(
            &sink,
            &email,
            "Verify your email address",
            1,
            "/verify-email",
        );
        let (_, reset) = nth_link(&sink, &email, "Reset your password", 1, "/reset-password");
        let (_, change) = nth_link(
            &sink,
            &format!("lee-new-{b}@example.com"),
            "Confirm your new email address",
            1,
            "/verify-email",
        );
        let stored = everything_stored(&t);
        for token in [&verify, &reset, &change] {
            assert!(
                !contains(&pending, token),
                "{b}: a token in plain text before delivery"
            );
            assert!(
                !contains(&stored, token),
                "{b}: a token in plain text after delivery"
            );
        }
        sink.set_mode(Mode::Refuse);
    }
}
