//! The second factor: TOTP enrolment, confirmation and removal, and the second step of a
//! two-step login.
//!
//! The secret is sealed at rest with a key HKDF derives from `SECRET_KEY` for this use
//! alone; recovery codes and `mfa_token`s are stored only as hashes. A code is accepted at
//! most once per account (the last accepted step is kept, and moving it is one conditional
//! update). Wrong codes at the second step count as failed logins of the account, taken
//! before the code is checked, so no number of `mfa_token`s can brute-force a code past
//! Part B's limit.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use chrono::TimeDelta;
use users_domain::totp::{
    TotpSecret, generate_recovery_codes, hash_recovery_code, normalize_recovery_code,
};
use users_domain::{Password, User, UserId, now_utc};

use crate::bodies::{
    AdminErrors, BodyErrors, DatabaseErrors, ErrorResponse, MessageResponse, MfaLoginRequest,
    OptText, PasswordConfirmRequest, ProtectedErrors, RecoveryCodes, Reply, ThrottleErrors,
    TokenResponse, TotpCodeRequest, TotpDisableRequest, TotpEnabledResponse, TotpEnrolment,
    TotpEnrolmentResponse,
};
use crate::error::{ApiError, Word, msg};
use crate::extract::{AuthUser, Body};
use crate::opaque::OpaqueToken;
use crate::sessions;
use crate::state::AppState;
use crate::throttle;

/// 400 when the password given to a factor route is wrong.
pub const PASSWORD_INCORRECT: &str = "Password is incorrect.";
/// 400 / 401 for a wrong, replayed or used code.
pub const INVALID_CODE: &str = "Invalid code.";
/// 401 for an unknown, expired, spent or exhausted `mfa_token`.
pub const INVALID_MFA_TOKEN: &str = "Invalid or expired token.";
/// 400 when enrolling with a factor already enabled.
pub const ALREADY_ENABLED: &str = "Two-factor authentication is already enabled.";
/// 200 once the factor is enabled.
pub const ENABLED: &str = "Two-factor authentication enabled.";
/// 200 once the factor is removed.
pub const DISABLED: &str = "Two-factor authentication disabled.";
/// The first step's message for an enrolled user.
pub const SECOND_FACTOR_REQUIRED: &str = "Second factor required.";
/// How long an `mfa_token` lives.
pub const MFA_TOKEN_SECONDS: i64 = 300;
/// The issuer an authenticator app shows.
const ISSUER: &str = "users-service";

/// The keys of the second factor, derived from `SECRET_KEY` once at start-up.
pub struct MfaKeys {
    sealer: users_domain::totp::Sealer,
    recovery: [u8; 32],
}

impl std::fmt::Debug for MfaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKeys(<redacted>)")
    }
}

impl MfaKeys {
    /// Keys for TOTP secrets and recovery codes, each with its own HKDF label.
    pub fn new(secret_key: &[u8]) -> Self {
        Self {
            sealer: users_domain::totp::Sealer::new(secret_key, "users-service/totp-secret/v1"),
            recovery: users_domain::totp::derive_key(secret_key, "users-service/recovery-codes/v1"),
        }
    }

    fn context(user_id: UserId) -> Vec<u8> {
        format!("user:{user_id}").into_bytes()
    }

    fn seal(&self, user_id: UserId, secret: &TotpSecret) -> Result<String, ApiError> {
        self.sealer
            .seal(secret.as_bytes(), &Self::context(user_id))
            .map_err(ApiError::internal)
    }

    fn open(&self, user_id: UserId, sealed: &str) -> Result<TotpSecret, ApiError> {
        self.sealer
            .open(sealed, &Self::context(user_id))
            .map(TotpSecret::from_bytes)
            .map_err(ApiError::internal)
    }

    fn recovery_hash(&self, code: &str) -> String {
        hash_recovery_code(&self.recovery, code)
    }
}

fn bad(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Word::Fail, message)
}

fn unauthorized(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, Word::Error, message)
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

/// Checks the caller's password, taken as a login attempt of the account (so wrong
/// passwords here are throttled like logins): the attempt, settled by the caller on success.
pub(crate) async fn check_password(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    password: &str,
) -> Result<throttle::Attempt, ApiError> {
    let account = throttle::account_key(&user.email);
    let address = throttle::client_address(req, &state.config.trusted_proxies);
    let attempt = throttle::begin(state, &account, &address).await?;
    let password = Password::for_login(password).ok();
    let stored = user.password_hash.clone();
    let right = state
        .hashing("verify", move |h| {
            password.is_some_and(|p| h.verify(&p, &stored))
        })
        .await?;
    if right {
        Ok(attempt)
    } else {
        state.metrics.login("failure");
        Err(bad(PASSWORD_INCORRECT))
    }
}

/// A second-factor code as given.
enum Code {
    /// A six-digit TOTP code.
    Totp(String),
    /// A recovery code.
    Recovery(String),
}

impl Code {
    /// Six digits are a TOTP code; anything else is taken as a recovery code.
    fn classify(code: &str) -> Self {
        let trimmed = code.trim();
        if trimmed.len() == 6 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            Self::Totp(trimmed.to_owned())
        } else {
            Self::Recovery(code.to_owned())
        }
    }
}

/// A code checked against what the factor's row said: a TOTP step to accept, a recovery
/// code's hash to spend, or wrong.
enum Checked {
    Step(i64),
    Recovery(String),
    Wrong,
}

/// Checks `code` against the user's enabled factor (`totp`, as read): the TOTP secret is
/// opened here, off the database hop.
fn check_code(
    keys: &MfaKeys,
    user_id: UserId,
    totp: Option<&users_db::mfa::Totp>,
    code: &Code,
) -> Result<Checked, ApiError> {
    let Some(totp) = totp.filter(|t| t.enabled_at.is_some()) else {
        return Ok(Checked::Wrong);
    };
    Ok(match code {
        Code::Totp(code) => {
            let secret = keys.open(user_id, &totp.secret_sealed)?;
            let last = totp.last_step.and_then(|s| u64::try_from(s).ok());
            match secret.verify(code, unix_now(), last) {
                Some(step) => Checked::Step(step_i64(step)),
                None => Checked::Wrong,
            }
        }
        Code::Recovery(code) if !normalize_recovery_code(code).is_empty() => {
            Checked::Recovery(keys.recovery_hash(code))
        }
        Code::Recovery(_) => Checked::Wrong,
    })
}

/// Uses a checked code: a TOTP step is accepted only if newer than the last accepted one
/// (one conditional update, so a replay or a race with the same code loses), a recovery
/// code is spent only if unspent. `false` when it does not hold.
fn use_code(
    conn: &mut users_db::DbConnection,
    user_id: UserId,
    checked: &Checked,
) -> Result<bool, users_db::DbError> {
    match checked {
        Checked::Step(step) => users_db::mfa::accept_step(conn, user_id, *step),
        Checked::Recovery(hash) => users_db::mfa::use_recovery_code(conn, user_id, hash, now_utc()),
        Checked::Wrong => Ok(false),
    }
}

/// Start enrolling TOTP
///
/// `POST /auth/mfa/totp`: a new pending secret (replacing a pending one), to be confirmed
/// with a code.
#[utoipa::path(
    post,
    path = "/auth/mfa/totp",
    tag = "mfa",
    request_body = PasswordConfirmRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "A pending enrolment: the secret and its otpauth URI.", body = TotpEnrolmentResponse,
            example = json!({"status": "success", "data": {"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "otpauth_uri": "otpauth://totp/users-service:ann%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=users-service&algorithm=SHA1&digits=6&period=30"}})),
        (status = 400, description = "A bad body, a wrong password, or a factor already enabled.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Wrong password" = (value = json!({"status": "fail", "message": PASSWORD_INCORRECT}))),
                ("Already enabled" = (value = json!({"status": "fail", "message": ALREADY_ENABLED})))
            )),
        ProtectedErrors,
        BodyErrors,
        ThrottleErrors,
        DatabaseErrors,
    )
)]
pub async fn enrol(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    body: Body<PasswordConfirmRequest>,
) -> Result<Reply<TotpEnrolmentResponse>, ApiError> {
    let body = body.into_inner(Word::Fail)?;
    let password = body
        .password
        .get()
        .ok_or_else(|| ApiError::invalid_payload(Word::Fail))?;
    let attempt = check_password(&state, &req, &caller.user, password).await?;
    let secret = TotpSecret::generate().map_err(ApiError::internal)?;
    let id = caller.user.id;
    let sealed = state.mfa.seal(id, &secret)?;
    let started = state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                // A right password: the attempt no longer counts, but only a completed login
                // clears the account's failures.
                attempt.withdrawn(conn)?;
                users_db::mfa::begin_enrolment(conn, id, &sealed, now_utc())
            })
        })
        .await?;
    if !started {
        return Err(bad(ALREADY_ENABLED));
    }
    Ok(Reply::ok(TotpEnrolmentResponse::new(TotpEnrolment {
        otpauth_uri: secret.otpauth_uri(ISSUER, &caller.user.email),
        secret: secret.to_base32(),
    })))
}

/// Confirm TOTP
///
/// `POST /auth/mfa/totp/confirm`: a current code of the pending secret enables the factor,
/// answers ten recovery codes (shown once), and revokes the caller's other sessions.
#[utoipa::path(
    post,
    path = "/auth/mfa/totp/confirm",
    tag = "mfa",
    request_body = TotpCodeRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Enabled; the user's other sessions are revoked.", body = TotpEnabledResponse,
            example = json!({"status": "success", "message": ENABLED, "data": {"recovery_codes": ["ABCD-EFGH-IJKL"]}})),
        (status = 400, description = "A bad body, a wrong code, or no pending enrolment.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Invalid code" = (value = json!({"status": "fail", "message": INVALID_CODE})))
            )),
        ProtectedErrors,
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn confirm(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Body<TotpCodeRequest>,
) -> Result<Reply<TotpEnabledResponse>, ApiError> {
    let body = body.into_inner(Word::Fail)?;
    let code = body
        .code
        .get()
        .ok_or_else(|| ApiError::invalid_payload(Word::Fail))?
        .to_owned();
    let id = caller.user.id;
    let pending = state
        .db(move |conn| users_db::mfa::find(conn, id))
        .await?
        .filter(|t| t.enabled_at.is_none())
        .ok_or_else(|| bad(INVALID_CODE))?;
    let secret = state.mfa.open(id, &pending.secret_sealed)?;
    let step = secret
        .verify(&code, unix_now(), None)
        .ok_or_else(|| bad(INVALID_CODE))?;
    let codes = generate_recovery_codes().map_err(ApiError::internal)?;
    let hashes: Vec<String> = codes.iter().map(|c| state.mfa.recovery_hash(c)).collect();
    let (sealed, keep) = (pending.secret_sealed, caller.claims.sid.clone());
    let enabled = state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                let now = now_utc();
                if !users_db::mfa::enable(conn, id, &sealed, step_i64(step), &hashes, now)? {
                    return Ok(false);
                }
                users_db::sessions::revoke_all_for_user(conn, id, keep.as_deref(), now)?;
                Ok(true)
            })
        })
        .await?;
    if !enabled {
        return Err(bad(INVALID_CODE));
    }
    state.changed_user(id);
    Ok(Reply::ok(TotpEnabledResponse {
        status: crate::bodies::Success::Success,
        message: ENABLED.to_owned(),
        data: RecoveryCodes {
            recovery_codes: codes,
        },
    }))
}

/// Remove TOTP
///
/// `DELETE /auth/mfa/totp` with the password and a current code or a recovery code.
#[utoipa::path(
    delete,
    path = "/auth/mfa/totp",
    tag = "mfa",
    request_body = TotpDisableRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The factor and its recovery codes are removed.", body = MessageResponse,
            example = json!({"status": "success", "message": DISABLED})),
        (status = 400, description = "A bad body, a wrong password, or a wrong code.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Wrong password" = (value = json!({"status": "fail", "message": PASSWORD_INCORRECT}))),
                ("Invalid code" = (value = json!({"status": "fail", "message": INVALID_CODE})))
            )),
        ProtectedErrors,
        BodyErrors,
        ThrottleErrors,
        DatabaseErrors,
    )
)]
pub async fn disable(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    body: Body<TotpDisableRequest>,
) -> Result<Reply<MessageResponse>, ApiError> {
    let body = body.into_inner(Word::Fail)?;
    let invalid = || ApiError::invalid_payload(Word::Fail);
    let password = body.password.get().ok_or_else(invalid)?;
    let code = Code::classify(body.code.get().ok_or_else(invalid)?);
    let attempt = check_password(&state, &req, &caller.user, password).await?;
    let id = caller.user.id;
    let totp = state.db(move |conn| users_db::mfa::find(conn, id)).await?;
    let checked = check_code(&state.mfa, id, totp.as_ref(), &code)?;
    let done = state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                // A wrong code leaves the attempt recorded as a failed login of the account
                // (so codes cannot be guessed here either); a right one withdraws it.
                if !use_code(conn, id, &checked)? {
                    return Ok(false);
                }
                attempt.withdrawn(conn)?;
                users_db::mfa::disable(conn, id)
            })
        })
        .await?;
    if !done {
        return Err(bad(INVALID_CODE));
    }
    Ok(Reply::ok(MessageResponse::new(DISABLED)))
}

/// Remove a user's TOTP (admin)
///
/// `DELETE /users/{id}/mfa` (admin): for a user who lost the device.
#[utoipa::path(
    delete,
    path = "/users/{id}/mfa",
    tag = "users",
    params(("id" = i32, Path, description = "The user id. Anything that is not a positive integer gets 404.")),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The user's factor (if any) and recovery codes are removed.", body = MessageResponse,
            example = json!({"status": "success", "message": DISABLED})),
        (status = 404, description = "No such user.",
            body = ErrorResponse, example = json!({"status": "fail", "message": msg::USER_NOT_FOUND})),
        AdminErrors,
        DatabaseErrors,
    )
)]
pub async fn admin_disable(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<Reply<MessageResponse>, ApiError> {
    caller.require_admin()?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, Word::Fail, msg::USER_NOT_FOUND);
    let id = UserId::parse(&path).ok_or_else(not_found)?;
    let found = state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                if users_db::users::find_by_id(conn, id)?.is_none() {
                    return Ok(false);
                }
                users_db::mfa::disable(conn, id)?;
                Ok(true)
            })
        })
        .await?;
    if !found {
        return Err(not_found());
    }
    Ok(Reply::ok(MessageResponse::new(DISABLED)))
}

/// The first step of a login whose password was right, for a user with a factor: the
/// attempt no longer counts (the account's earlier failures stay until the second step),
/// and a new `mfa_token` is stored. Runs inside the login's second hop.
pub fn start_second_step(
    conn: &mut users_db::DbConnection,
    attempt: &throttle::Attempt,
    user_id: UserId,
    token: &str,
) -> Result<(), users_db::DbError> {
    attempt.withdrawn(conn)?;
    let now = now_utc();
    users_db::mfa::create_login_token(
        conn,
        user_id,
        &OpaqueToken::hash(token),
        now,
        now + TimeDelta::seconds(MFA_TOKEN_SECONDS),
    )
}

/// How the second step's transaction ended.
enum SecondStep {
    LoggedIn,
    WrongCode,
    BadToken,
}

/// A new `mfa_token` for the first step.
pub fn new_mfa_token() -> Result<String, ApiError> {
    OpaqueToken::generate().map(OpaqueToken::into_string)
}

/// Log in, second step
///
/// `POST /auth/login/mfa` with the `mfa_token` of `POST /auth/login` and a current code or a
/// recovery code: answers as a login. A wrong code counts as a failed login of the account.
#[utoipa::path(
    post,
    path = "/auth/login/mfa",
    tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Logged in, with a new session.", body = TokenResponse,
            example = json!({"status": "success", "message": "Successfully logged in.", "auth_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "refresh_token": "q9Xv..."})),
        (status = 400, description = "A bad body: `mfa_token` missing, or neither `code` nor `recovery_code`.", body = ErrorResponse,
            example = json!({"status": "fail", "message": msg::INVALID_PAYLOAD})),
        (status = 401, description = "A wrong, replayed or used code, or an unknown, expired, spent or exhausted `mfa_token`.", body = ErrorResponse,
            examples(
                ("Invalid code" = (value = json!({"status": "error", "message": INVALID_CODE}))),
                ("Invalid token" = (value = json!({"status": "error", "message": INVALID_MFA_TOKEN})))
            )),
        BodyErrors,
        ThrottleErrors,
        DatabaseErrors,
    )
)]
pub async fn login_second_step(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<MfaLoginRequest>,
) -> Result<Reply<TokenResponse>, ApiError> {
    let body = body.into_inner(Word::Fail)?;
    let invalid = || ApiError::invalid_payload(Word::Fail);
    let token = body.mfa_token.get().ok_or_else(invalid)?;
    // Exactly one of the two, a non-empty string; a field of the wrong type is 400 even
    // beside a good one.
    let code = match (body.code, body.recovery_code) {
        (OptText::Given(code), OptText::Absent) => Code::Totp(code.trim().to_owned()),
        (OptText::Absent, OptText::Given(recovery)) => Code::Recovery(recovery),
        _ => return Err(invalid()),
    };
    let hash = OpaqueToken::hash(token);
    let address = throttle::client_address(&req, &state.config.trusted_proxies);
    let cfg = state.config.throttle;
    let lookup_hash = hash.clone();
    // First hop: the token's user, and an attempt taken against the account before the
    // code is checked.
    let (user, totp, attempt) = state
        .db(move |conn| {
            let now = now_utc();
            let Some(user_id) = users_db::mfa::login_token_user(conn, &lookup_hash, now)? else {
                return Ok(Err(None));
            };
            let Some(user) = users_db::users::find_by_id(conn, user_id)? else {
                return Ok(Err(None));
            };
            let totp = users_db::mfa::find(conn, user_id)?;
            let account = throttle::account_key(&user.email);
            Ok(match throttle::take(conn, cfg, &account, &address)? {
                Ok(attempt) => Ok((user, totp, attempt)),
                Err(throttled) => Err(Some(throttled)),
            })
        })
        .await?
        .map_err(|e| match e {
            Some(throttled) => throttled.into_error(&state),
            None => unauthorized(INVALID_MFA_TOKEN),
        })?;
    let checked = check_code(&state.mfa, user.id, totp.as_ref(), &code)?;
    let session = sessions::NewSession::for_request(&state, &req);
    let (pending, id) = (session.clone(), user.id);
    // Second hop, one transaction: the token is charged a wrong code first (so concurrent
    // checks with one token queue on its row and at most five codes are ever checked with
    // it), then the code is used (a replay or a race with the same code loses); a right code
    // spends the token (refunding the charge), settles the attempt and opens the session. A
    // wrong one commits the charge, and the attempt stays recorded as a failed login.
    let outcome = state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                let now = now_utc();
                if !users_db::mfa::charge_login_token(conn, &hash, now)? {
                    return Ok(SecondStep::BadToken);
                }
                if !use_code(conn, id, &checked)? {
                    return Ok(SecondStep::WrongCode);
                }
                users_db::mfa::spend_login_token(conn, &hash, now)?;
                attempt.succeeded(conn)?;
                pending.insert(conn, id)?;
                Ok(SecondStep::LoggedIn)
            })
        })
        .await?;
    match outcome {
        SecondStep::LoggedIn => {}
        SecondStep::WrongCode => {
            state.metrics.login("failure");
            return Err(unauthorized(INVALID_CODE));
        }
        SecondStep::BadToken => return Err(unauthorized(INVALID_MFA_TOKEN)),
    }
    state.metrics.login("success");
    let tokens = session.tokens(&state, user.id)?;
    Ok(Reply::ok(TokenResponse::new(
        "Successfully logged in.",
        tokens,
    )))
}
