//! Part C's second factor over HTTP: TOTP enrolment and confirmation, the two-step login,
//! skew and replay, recovery codes, the `mfa_token`'s limits, throttling, removal by the
//! user and by an admin, and nothing secret stored in plain text. Codes come from the RFC
//! 6238 algorithm at the current time (`users_domain::totp`, checked against the RFC's
//! vectors; `scripts/totp.sh` checks the `otpauth://` URI with pyotp). Every backend.

use diesel::prelude::*;
use futures_util::future::join_all;
use serde_json::{Value, json};
use users_db::schema::{mfa_login_tokens, mfa_recovery_codes, mfa_totp};
use users_db::testing::TestDb;
use users_domain::totp::TotpSecret;

use crate::helpers::{Reply, TestApp, bearer, get, post_json, send};
use crate::init;

const EMAIL: &str = "ann@test.com";
pub(crate) const PASSWORD: &str = "correct horse";

fn apps(extra: &[(&str, &str)]) -> Vec<TestApp> {
    TestDb::all()
        .into_iter()
        .map(|db| TestApp::with_vars(db, extra))
        .collect()
}

pub(crate) fn now_step() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap() / 30
}

fn secret_of(r: &Reply) -> TotpSecret {
    let b32 = r.body["data"]["secret"].as_str().unwrap();
    TotpSecret::from_bytes(data_encoding_decode(b32))
}

/// RFC 4648 base32 (no padding) decoding, written here so the test does not trust the
/// encoder it checks.
fn data_encoding_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in s.bytes() {
        let v = alphabet.iter().position(|&a| a == c).expect("base32") as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn json_req(
    method: actix_web::http::Method,
    path: &str,
    body: &Value,
) -> actix_web::test::TestRequest {
    post_json(path, body).method(method)
}

macro_rules! call {
    ($app:expr, $req:expr) => {
        send(&$app, $req).await
    };
}

/// Registers through the API and logs in: (access token of the registration, user id).
async fn register<S, B>(app: &S) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = send(
        app,
        post_json(
            "/auth/register",
            &json!({"username": "ann", "email": EMAIL, "password": PASSWORD}),
        ),
    )
    .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    r.body["auth_token"].as_str().unwrap().to_owned()
}

/// Enrols and confirms TOTP for the caller: the secret and the recovery codes.
pub(crate) async fn enable<S, B>(app: &S, token: &str) -> (TotpSecret, Vec<String>)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = send(
        app,
        bearer(
            post_json("/auth/mfa/totp", &json!({"password": PASSWORD})),
            token,
        ),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let secret = secret_of(&r);
    let code = secret.code_string_at_step(now_step());
    let r = send(
        app,
        bearer(
            post_json("/auth/mfa/totp/confirm", &json!({"code": code})),
            token,
        ),
    )
    .await;
    r.assert(200, "success", "Two-factor authentication enabled.");
    let codes: Vec<String> = r.body["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// The first step: the `mfa_token`.
async fn first_step<S, B>(app: &S) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = send(
        app,
        post_json(
            "/auth/login",
            &json!({"email": EMAIL, "password": PASSWORD}),
        ),
    )
    .await;
    r.assert(200, "success", "Second factor required.");
    assert!(r.body.get("auth_token").is_none(), "{}", r.body);
    assert!(r.body.get("refresh_token").is_none(), "{}", r.body);
    r.body["mfa_token"].as_str().unwrap().to_owned()
}

fn second(mfa_token: &str, field: &str, code: &str) -> actix_web::test::TestRequest {
    post_json(
        "/auth/login/mfa",
        &json!({"mfa_token": mfa_token, field: code}),
    )
}

#[actix_web::test]
async fn enrolment_confirmation_and_two_step_login() {
    for t in TestApp::all() {
        let b = t.backend();
        let app = init!(t);
        let token = register(&app).await;
        // A second session, opened before the factor is enabled.
        let other = crate::helpers::login(&app, EMAIL, PASSWORD).await;

        let enrol = |password: &str| {
            bearer(
                post_json("/auth/mfa/totp", &json!({"password": password})),
                &token,
            )
        };
        call!(app, enrol("wrong")).assert(400, "fail", "Password is incorrect.");
        call!(app, bearer(post_json("/auth/mfa/totp", &json!({})), &token)).assert(
            400,
            "fail",
            "Invalid payload.",
        );
        call!(
            app,
            bearer(post_json("/auth/mfa/totp", &json!({"password": 5})), &token)
        )
        .assert(400, "fail", "Invalid payload.");
        let first = call!(app, enrol(PASSWORD));
        assert_eq!(first.status.as_u16(), 200, "{b}: {}", first.body);
        let uri = first.body["data"]["otpauth_uri"].as_str().unwrap();
        let b32 = first.body["data"]["secret"].as_str().unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={b32}")), "{uri}");
        // A new call replaces the pending enrolment: the first secret no longer confirms.
        let replaced = secret_of(&first);
        let r = call!(app, enrol(PASSWORD));
        let secret = secret_of(&r);
        assert_ne!(replaced, secret, "{b}");
        let confirm = |code: String| {
            bearer(
                post_json("/auth/mfa/totp/confirm", &json!({"code": code})),
                &token,
            )
        };
        call!(app, confirm(replaced.code_string_at_step(now_step()))).assert(
            400,
            "fail",
            "Invalid code.",
        );
        call!(app, confirm("000000".into())).assert(400, "fail", "Invalid code.");
        // The step whose code confirms: later codes are taken relative to it, so a step
        // boundary crossed during the test changes nothing.
        let step = now_step();
        let r = call!(app, confirm(secret.code_string_at_step(step)));
        r.assert(200, "success", "Two-factor authentication enabled.");
        let codes = r.body["data"]["recovery_codes"].as_array().unwrap();
        assert_eq!(codes.len(), 10, "{b}");
        // Enabling revoked the other session; the caller's stays.
        call!(app, bearer(get("/auth/status"), &other)).assert(
            401,
            "error",
            "Token revoked. Please log in again.",
        );
        assert_eq!(
            call!(app, bearer(get("/auth/status"), &token))
                .status
                .as_u16(),
            200
        );
        call!(app, enrol(PASSWORD)).assert(
            400,
            "fail",
            "Two-factor authentication is already enabled.",
        );
        // No pending enrolment any more.
        call!(app, confirm(secret.code_string_at_step(step + 1))).assert(
            400,
            "fail",
            "Invalid code.",
        );

        // Two steps. The confirmation's code cannot log in (no replay).
        let mfa = first_step(&app).await;
        call!(app, second(&mfa, "code", &secret.code_string_at_step(step))).assert(
            401,
            "error",
            "Invalid code.",
        );
        // The next step's code (one step of skew, or the current one) logs in, exactly as
        // a login.
        let r = call!(
            app,
            second(&mfa, "code", &secret.code_string_at_step(step + 1))
        );
        r.assert(200, "success", "Successfully logged in.");
        let access = r.body["auth_token"].as_str().unwrap();
        assert!(r.body["refresh_token"].as_str().is_some());
        assert_eq!(
            call!(app, bearer(get("/auth/status"), access))
                .status
                .as_u16(),
            200
        );
        // A spent mfa_token is refused.
        call!(
            app,
            second(&mfa, "code", &secret.code_string_at_step(now_step() + 1))
        )
        .assert(401, "error", "Invalid or expired token.");
        // The same code with a new token: a replay.
        let mfa = first_step(&app).await;
        call!(
            app,
            second(&mfa, "code", &secret.code_string_at_step(step + 1))
        )
        .assert(401, "error", "Invalid code.");
        // A recovery code, once.
        let recovery = codes[0].as_str().unwrap();
        call!(app, second(&mfa, "recovery_code", recovery)).assert(
            200,
            "success",
            "Successfully logged in.",
        );
        let mfa = first_step(&app).await;
        call!(app, second(&mfa, "recovery_code", recovery)).assert(401, "error", "Invalid code.");
        // Written differently (lower case, spaces), another code works.
        let typed = codes[1].as_str().unwrap().to_lowercase().replace('-', " ");
        call!(app, second(&mfa, "recovery_code", &typed)).assert(
            200,
            "success",
            "Successfully logged in.",
        );
        // Bad second-step bodies.
        let mfa = first_step(&app).await;
        for body in [
            json!({"mfa_token": mfa}),
            json!({"code": "123456"}),
            json!({"mfa_token": mfa, "code": 123456}),
            json!({"mfa_token": mfa, "code": "123456", "recovery_code": "x"}),
            // A field of the wrong type beside a good one.
            json!({"mfa_token": mfa, "code": "123456", "recovery_code": 7}),
            json!({"mfa_token": mfa, "code": 7, "recovery_code": codes[2]}),
            json!({"mfa_token": mfa, "code": "", "recovery_code": codes[2]}),
        ] {
            call!(app, post_json("/auth/login/mfa", &body)).assert(400, "fail", "Invalid payload.");
        }
        call!(app, second("not-a-token", "code", "123456")).assert(
            401,
            "error",
            "Invalid or expired token.",
        );
    }
}

#[actix_web::test]
async fn an_mfa_token_takes_five_wrong_codes_and_expires() {
    for t in TestApp::all() {
        let app = init!(t);
        let token = register(&app).await;
        let (secret, _) = enable(&app, &token).await;
        let mfa = first_step(&app).await;
        for _ in 0..5 {
            call!(app, second(&mfa, "code", "000000")).assert(401, "error", "Invalid code.");
        }
        // Then even a right code is refused with the token.
        call!(
            app,
            second(&mfa, "code", &secret.code_string_at_step(now_step() + 1))
        )
        .assert(401, "error", "Invalid or expired token.");

        // Expiry: a token whose time is up is refused.
        let mfa = first_step(&app).await;
        diesel::update(mfa_login_tokens::table)
            .set(mfa_login_tokens::expires_at.eq(users_domain::now_utc()))
            .execute(&mut t.db.connect())
            .unwrap();
        call!(
            app,
            second(&mfa, "code", &secret.code_string_at_step(now_step() + 1))
        )
        .assert(401, "error", "Invalid or expired token.");
    }
}

#[actix_web::test]
async fn concurrent_codes_with_one_token_check_at_most_five() {
    for t in apps(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1000"),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
    ]) {
        let b = t.backend();
        let app = init!(t);
        let token = register(&app).await;
        let (secret, codes) = enable(&app, &token).await;
        // 29 wrong codes and, last, a right one (a recovery code), all at once with one
        // token: at most five codes are checked, so the right one logs in only if it was
        // among the first five checked. Checking first and charging after would answer five
        // "Invalid code." and still let the right one in.
        for recovery in &codes[..3] {
            let mfa = first_step(&app).await;
            let mut requests: Vec<_> = (0..29)
                .map(|i| second(&mfa, "code", &format!("{:06}", (i * 7919 + 13) % 1_000_000)))
                .collect();
            requests.push(second(&mfa, "recovery_code", recovery));
            let replies = join_all(requests.into_iter().map(|r| send(&app, r))).await;
            let wrong = replies
                .iter()
                .filter(|r| r.message() == "Invalid code.")
                .count();
            let wins = replies.iter().filter(|r| r.status.as_u16() == 200).count();
            assert!(
                wrong + wins <= 5,
                "{b}: {} of 30 concurrent codes were checked with one token ({wins} logins)",
                wrong + wins
            );
            for r in replies.iter().filter(|r| r.status.as_u16() != 200) {
                assert_eq!(r.status.as_u16(), 401, "{b}: {}", r.body);
            }
        }
        // One code raced over many tokens: exactly one login.
        let mut tokens = Vec::new();
        for _ in 0..8 {
            tokens.push(first_step(&app).await);
        }
        let code = secret.code_string_at_step(now_step() + 1);
        let replies = join_all(tokens.iter().map(|m| send(&app, second(m, "code", &code)))).await;
        let wins = replies.iter().filter(|r| r.status.as_u16() == 200).count();
        assert_eq!(wins, 1, "{b}: {wins} logins with one code");
    }
}

#[actix_web::test]
async fn wrong_codes_count_as_failed_logins_of_the_account() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]) {
        let b = t.backend();
        let app = init!(t);
        let token = register(&app).await;
        let (secret, _) = enable(&app, &token).await;
        // Three wrong codes across three tokens reach the account's limit.
        for _ in 0..3 {
            let mfa = first_step(&app).await;
            call!(app, second(&mfa, "code", "000000")).assert(401, "error", "Invalid code.");
        }
        let r = call!(
            app,
            post_json(
                "/auth/login",
                &json!({"email": EMAIL, "password": PASSWORD})
            )
        );
        r.assert(429, "error", "Too many login attempts. Try again later.");
        assert!(r.header("retry-after").is_some(), "{b}");
        let _ = secret;
    }
    // A right password alone does not clear the count; a completed login does.
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]) {
        let b = t.backend();
        let app = init!(t);
        let token = register(&app).await;
        let (secret, _) = enable(&app, &token).await;
        for _ in 0..2 {
            let mfa = first_step(&app).await;
            call!(app, second(&mfa, "code", "000000")).assert(401, "error", "Invalid code.");
        }
        // The first step with the right password leaves the two failures: one more wrong
        // code reaches the limit.
        let mfa = first_step(&app).await;
        call!(app, second(&mfa, "code", "000000")).assert(401, "error", "Invalid code.");
        let throttled = call!(
            app,
            post_json(
                "/auth/login",
                &json!({"email": EMAIL, "password": PASSWORD})
            )
        );
        throttled.assert(429, "error", "Too many login attempts. Try again later.");
        // ... and at the second step itself.
        call!(
            app,
            second(&mfa, "code", &secret.code_string_at_step(now_step() + 1))
        )
        .assert(429, "error", "Too many login attempts. Try again later.");
        // A completed login clears the count (the window is over: failures forgotten).
        diesel::delete(users_db::schema::login_failures::table)
            .execute(&mut t.db.connect())
            .unwrap();
        for _ in 0..2 {
            let mfa = first_step(&app).await;
            call!(app, second(&mfa, "code", "000000")).assert(401, "error", "Invalid code.");
        }
        let mfa = first_step(&app).await;
        call!(
            app,
            second(&mfa, "code", &secret.code_string_at_step(now_step() + 1))
        )
        .assert(200, "success", "Successfully logged in.");
        // Cleared: three more wrong codes are needed to be throttled again.
        for _ in 0..2 {
            let mfa = first_step(&app).await;
            call!(app, second(&mfa, "code", "000000")).assert(401, "error", "Invalid code.");
        }
        let mfa = first_step(&app).await;
        assert!(!mfa.is_empty(), "{b}");
    }
}

#[actix_web::test]
async fn the_user_and_an_admin_can_remove_the_factor() {
    for t in TestApp::all() {
        let app = init!(t);
        let token = register(&app).await;
        let (secret, codes) = enable(&app, &token).await;
        let remove = |password: &str, code: &str| {
            bearer(
                json_req(
                    actix_web::http::Method::DELETE,
                    "/auth/mfa/totp",
                    &json!({"password": password, "code": code}),
                ),
                &token,
            )
        };
        call!(app, remove("wrong", &codes[0])).assert(400, "fail", "Password is incorrect.");
        call!(app, remove(PASSWORD, "000000")).assert(400, "fail", "Invalid code.");
        call!(app, remove(PASSWORD, "AAAA-BBBB-CCCC")).assert(400, "fail", "Invalid code.");
        call!(app, remove(PASSWORD, &codes[0])).assert(
            200,
            "success",
            "Two-factor authentication disabled.",
        );
        // Logins are one step again, and nothing of the factor is left.
        crate::helpers::login(&app, EMAIL, PASSWORD).await;
        let mut conn = t.db.connect();
        let left: (i64, i64, i64) = (
            mfa_totp::table.count().get_result(&mut conn).unwrap(),
            mfa_recovery_codes::table
                .count()
                .get_result(&mut conn)
                .unwrap(),
            mfa_login_tokens::table
                .count()
                .get_result(&mut conn)
                .unwrap(),
        );
        assert_eq!(left, (0, 0, 0));
        let _ = secret;

        // Removed with a current code from the authenticator.
        let (secret, _) = enable(&app, &token).await;
        call!(
            app,
            remove(PASSWORD, &secret.code_string_at_step(now_step() + 1))
        )
        .assert(200, "success", "Two-factor authentication disabled.");
        crate::helpers::login(&app, EMAIL, PASSWORD).await;

        // Admin reset.
        let (_, _) = enable(&app, &token).await;
        let user = users_db::users::find_by_email(
            &mut t.db.conn(),
            &users_domain::Email::parse(EMAIL).unwrap(),
        )
        .unwrap()
        .unwrap();
        let path = format!("/users/{}/mfa", user.id);
        let delete = |path: &str, token: &str| {
            bearer(actix_web::test::TestRequest::delete().uri(path), token)
        };
        call!(app, delete(&path, &token)).assert(
            401,
            "error",
            "You do not have permission to do that.",
        );
        t.add_user_with("root", "root@test.com", "rootpw", |u| u.admin = true);
        let root = crate::helpers::login(&app, "root@test.com", "rootpw").await;
        call!(app, delete("/users/999999/mfa", &root)).assert(404, "fail", "User does not exist");
        call!(app, delete(&path, &root)).assert(
            200,
            "success",
            "Two-factor authentication disabled.",
        );
        crate::helpers::login(&app, EMAIL, PASSWORD).await;
    }
}

#[actix_web::test]
async fn no_secret_code_or_token_is_stored_in_plain_text() {
    for t in TestApp::all() {
        let b = t.backend();
        let app = init!(t);
        let token = register(&app).await;
        let (secret, codes) = enable(&app, &token).await;
        let mfa = first_step(&app).await;
        let mut conn = t.db.connect();
        let mut stored: Vec<String> = mfa_totp::table
            .select(mfa_totp::secret_sealed)
            .load(&mut conn)
            .unwrap();
        stored.extend(
            mfa_recovery_codes::table
                .select(mfa_recovery_codes::code_hash)
                .load::<String>(&mut conn)
                .unwrap(),
        );
        stored.extend(
            mfa_login_tokens::table
                .select(mfa_login_tokens::token_hash)
                .load::<String>(&mut conn)
                .unwrap(),
        );
        assert_eq!(stored.len(), 1 + 10 + 1, "{b}");
        let b32 = secret.to_base32();
        let hex: String = secret
            .as_bytes()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        for value in &stored {
            assert!(
                !value.contains(&b32) && !value.contains(&hex),
                "{b}: secret stored"
            );
            assert!(!value.contains(&mfa), "{b}: mfa_token stored");
            for code in &codes {
                assert!(!value.contains(code.as_str()), "{b}: recovery code stored");
                assert!(
                    !value.contains(&code.replace('-', "")),
                    "{b}: recovery code stored"
                );
            }
        }
    }
}

#[actix_web::test]
async fn routes_that_check_the_password_or_a_code_neither_clear_nor_escape_the_count() {
    for t in apps(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "4")]) {
        let b = t.backend();
        let app = init!(t);
        let token = register(&app).await;
        let (_, _) = enable(&app, &token).await;
        let wrong_login =
            || post_json("/auth/login", &json!({"email": EMAIL, "password": "wrong"}));
        call!(app, wrong_login()).assert(404, "error", "User does not exist.");
        // A right password at enrolment (already enabled) clears nothing.
        call!(
            app,
            bearer(
                post_json("/auth/mfa/totp", &json!({"password": PASSWORD})),
                &token
            )
        )
        .assert(400, "fail", "Two-factor authentication is already enabled.");
        // Wrong codes at removal count as failed logins.
        for _ in 0..2 {
            call!(
                app,
                bearer(
                    json_req(
                        actix_web::http::Method::DELETE,
                        "/auth/mfa/totp",
                        &json!({"password": PASSWORD, "code": "000000"}),
                    ),
                    &token,
                )
            )
            .assert(400, "fail", "Invalid code.");
        }
        call!(app, wrong_login()).assert(404, "error", "User does not exist.");
        // Four failures: the limit, for a right password too.
        let r = call!(
            app,
            post_json(
                "/auth/login",
                &json!({"email": EMAIL, "password": PASSWORD})
            )
        );
        assert_eq!(r.status.as_u16(), 429, "{b}: {}", r.body);
    }
}
