//! `/auth`: register, login, logout, status.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use users_db::DbError;
use users_domain::{Email, NewUser, Password, Signup};

use crate::bodies::{
    BodyErrors, DatabaseErrors, ErrorResponse, LoginRequest, LoginResponse, MessageResponse,
    MfaRequiredResponse, PasswordChangeRequest, ProtectedErrors, RefreshRequest, RegisterRequest,
    RegisterResponse, Reply, StatusResponse, StatusUser, ThrottleErrors, TokenResponse,
};
use crate::config::EmailVerification;
use crate::error::{ApiError, ErrorChain, Word, msg};
use crate::mail;

use crate::extract::{AuthUser, Body};
use crate::routes::mfa;
use crate::sessions;
use crate::state::AppState;
use crate::throttle;

/// 400 on `PUT /auth/password` when the old password is wrong.
const OLD_PASSWORD_INCORRECT: &str = "Old password is incorrect.";

/// Register
///
/// `POST /auth/register`.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered (active, not admin), with a new session; with `EMAIL_VERIFICATION` `optional` or `required` a verification mail is sent, and with `required` there is no session (nor tokens) until the address is verified.", body = RegisterResponse,
            examples(
                ("Registered" = (value = json!({"status": "success", "message": "Successfully registered.", "auth_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "refresh_token": "q9Xv..."}))),
                ("Verify first" = (value = json!({"status": "success", "message": REGISTERED_VERIFY_FIRST})))
            )),
        (status = 400, description = "A bad body, a field missing or invalid, or a username or email taken.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "error", "message": msg::INVALID_PAYLOAD}))),
                ("Taken" = (value = json!({"status": "error", "message": msg::USER_EXISTS})))
            )),
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<RegisterRequest>,
) -> Result<Reply<RegisterResponse>, ApiError> {
    let body = body.into_inner(Word::Error)?;
    let exists = || ApiError::new(StatusCode::BAD_REQUEST, Word::Error, msg::USER_EXISTS);
    let signup = signup(&state, &body, Word::Error)?;

    // Checked before hashing so that a duplicate costs no CPU; the unique indexes still
    // decide when two registrations race.
    let (u, e) = (signup.username.clone(), signup.email.clone());
    let taken = state
        .db(move |conn| users_db::users::find_by_username_or_email(conn, &u, &e))
        .await?;
    if !taken.is_empty() {
        return Err(exists());
    }
    let verification = state.config.mail.verification;
    let mail = verification_mail(&state, &signup)?;
    let new_user = hash_signup(&state, signup).await?;
    // The user, its verification mail and its first session in one transaction: a failure
    // between them leaves no user behind. With verification required there is no session
    // until the address is verified.
    let session = (verification != EmailVerification::Required)
        .then(|| sessions::NewSession::for_request(&state, &req));
    let pending = session.clone();
    let queued = mail.is_some();
    let user = match state
        .db_raw(move |conn| {
            users_db::write_transaction(conn, |conn| {
                let user = users_db::users::insert(conn, &new_user)?;
                if let Some(mail) = mail {
                    mail.for_user(user.id).queue(conn)?;
                }
                if let Some(pending) = &pending {
                    pending.insert(conn, user.id)?;
                }
                Ok(user)
            })
        })
        .await?
    {
        Ok(user) => user,
        Err(DbError::Duplicate { .. }) => return Err(exists()),
        Err(e) => return Err(e.into()),
    };
    if queued {
        state.mailer.wake();
    }
    let Some(session) = session else {
        return Ok(Reply::created(RegisterResponse::VerifyFirst(
            MessageResponse::new(REGISTERED_VERIFY_FIRST),
        )));
    };
    let tokens = session.tokens(&state, user.id)?;
    Ok(Reply::created(RegisterResponse::Tokens(
        TokenResponse::new("Successfully registered.", tokens),
    )))
}

/// 201 of `POST /auth/register` with `EMAIL_VERIFICATION=required`.
pub const REGISTERED_VERIFY_FIRST: &str =
    "Successfully registered. Please verify your email address.";

/// 401 at `POST /auth/login` for a right password of an unverified account, with
/// `EMAIL_VERIFICATION=required`.
pub const VERIFY_FIRST: &str = "Please verify your email address.";

/// The verification mail of a new account, when `EMAIL_VERIFICATION` asks for one: to be
/// queued in the transaction that inserts the user ([`mail::Pending::for_user`]).
pub(crate) fn verification_mail(
    state: &AppState,
    signup: &Signup,
) -> Result<Option<mail::Pending>, ApiError> {
    if state.config.mail.verification == EmailVerification::Off {
        return Ok(None);
    }
    mail::ensure_configured(&state.config)?;
    mail::Pending::new(
        &state.config,
        &state.mailer,
        mail::Addressee {
            id: users_domain::UserId::new(0),
            username: Some(signup.username.as_str()),
            email: signup.email.as_str(),
        },
        users_db::mail::TokenPurpose::Verify,
        signup.email.as_str(),
    )
    .map(Some)
}

/// The fields of a new account, each parsed into its value type; any missing or invalid is
/// 400 `"Invalid payload."` with the route's word.
pub(crate) fn signup(
    state: &AppState,
    body: &RegisterRequest,
    word: Word,
) -> Result<Signup, ApiError> {
    let invalid = || ApiError::invalid_payload(word);
    let (Some(username), Some(email), Some(password)) =
        (body.username.get(), body.email.get(), body.password.get())
    else {
        return Err(invalid());
    };
    Signup::parse(username, email, password, state.password_policy()).map_err(|_| invalid())
}

/// Hashes a signup's password on the hashing threads: the user to insert.
pub(crate) async fn hash_signup(state: &AppState, signup: Signup) -> Result<NewUser, ApiError> {
    state
        .hashing("hash", move |h| signup.hash(h))
        .await?
        .map_err(ApiError::internal)
}

/// Log in
///
/// `POST /auth/login`. Unknown email and wrong password cost the same hashing time and get
/// the same answer. `active` is not checked here (the seed issues the token).
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in, with a new session; or, for a user with a second factor, the `mfa_token` for `POST /auth/login/mfa`.", body = LoginResponse,
            examples(
                ("Logged in" = (value = json!({"status": "success", "message": "Successfully logged in.", "auth_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "refresh_token": "q9Xv..."}))),
                ("Second factor required" = (value = json!({"status": "success", "message": "Second factor required.", "mfa_token": "Zk9x..."})))
            )),
        (status = 400, description = "The body is empty, not JSON, not an object, or `email` or `password` is missing or empty.", body = ErrorResponse,
            example = json!({"status": "error", "message": msg::INVALID_PAYLOAD})),
        (status = 404, description = "Unknown email or wrong password (the same answer for both).",
            body = ErrorResponse, example = json!({"status": "error", "message": msg::LOGIN_FAILED})),
        (status = 401, description = "With `EMAIL_VERIFICATION=required`: a right password for an account whose address is not verified.",
            body = ErrorResponse, example = json!({"status": "error", "message": VERIFY_FIRST})),
        (status = 500, description = "Unexpected failure.", body = ErrorResponse,
            example = json!({"status": "error", "message": msg::TRY_AGAIN})),
        BodyErrors,
        ThrottleErrors,
        DatabaseErrors,
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body<LoginRequest>,
) -> Result<Reply<LoginResponse>, ApiError> {
    let body = body.into_inner(Word::Error)?;
    let (Some(email), Some(password)) = (body.email.get(), body.password.get()) else {
        return Err(ApiError::invalid_payload(Word::Error));
    };

    let account = throttle::account_key(email);
    let address = throttle::client_address(&req, &state.config.trusted_proxies);
    let email = Email::parse(email).ok();
    let cfg = state.config.throttle;
    // First hop: the attempt is taken (or refused) atomically, and the user read, with
    // whether they have a second factor.
    let (attempt, user, second_factor) = state
        .db(move |conn| {
            Ok(match throttle::take(conn, cfg, &account, &address)? {
                Ok(attempt) => {
                    let user = match &email {
                        Some(email) => users_db::users::find_by_email(conn, email)?,
                        None => None,
                    };
                    let second_factor = match &user {
                        Some(user) => users_db::mfa::is_enabled(conn, user.id)?,
                        None => false,
                    };
                    Ok((attempt, user, second_factor))
                }
                Err(throttled) => Err(throttled),
            })
        })
        .await?
        .map_err(|t| t.into_error(&state))?;
    let failed = || {
        state.metrics.login("failure");
        ApiError::new(StatusCode::NOT_FOUND, Word::Error, msg::LOGIN_FAILED)
    };
    let Ok(password) = Password::for_login(password) else {
        return Err(failed());
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let (verified, rehash) = state
        .hashing("verify", move |h| match stored {
            Some(hash) if h.verify(&password, &hash) => {
                let rehash = h.needs_rehash(&hash).then(|| h.hash(&password));
                (true, rehash)
            }
            Some(_) => (false, None),
            None => (h.verify_dummy(&password), None),
        })
        .await?;
    let user = match user {
        Some(user) if verified => user,
        // The attempt stays recorded as a failure.
        _ => return Err(failed()),
    };
    if state.config.mail.verification == EmailVerification::Required
        && user.email_verified_at.is_none()
    {
        // A right password: the attempt no longer counts, but no session opens.
        state.db(move |conn| attempt.withdrawn(conn)).await?;
        return Err(ApiError::unauthorized(VERIFY_FIRST));
    }
    let rehash = match rehash {
        Some(Ok(hash)) => Some(hash),
        Some(Err(e)) => {
            tracing::warn!(user_id = %user.id, error = %ErrorChain(&e), "password re-hash failed");
            None
        }
        None => None,
    };
    if second_factor {
        // Second hop: the attempt no longer counts (the account's count is cleared only by
        // the completed login), an upgraded hash is stored, and the `mfa_token` made.
        let token = mfa::new_mfa_token()?;
        let (id, stored_token, upgraded) = (user.id, token.clone(), rehash.is_some());
        state
            .db(move |conn| {
                users_db::write_transaction(conn, |conn| {
                    if let Some(hash) = &rehash {
                        users_db::users::set_password_hash(conn, id, hash)?;
                    }
                    mfa::start_second_step(conn, &attempt, id, &stored_token)
                })
            })
            .await?;
        if upgraded {
            state.changed_user(id);
        }
        return Ok(Reply::ok(LoginResponse::SecondFactor(
            MfaRequiredResponse {
                status: crate::bodies::Success::Success,
                message: mfa::SECOND_FACTOR_REQUIRED.to_owned(),
                mfa_token: token,
            },
        )));
    }
    // Second hop: the success settles the attempt, stores an upgraded hash, opens the session.
    let session = sessions::NewSession::for_request(&state, &req);
    let (id, pending, upgraded) = (user.id, session.clone(), rehash.is_some());
    state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                attempt.succeeded(conn)?;
                if let Some(hash) = &rehash {
                    users_db::users::set_password_hash(conn, id, hash)?;
                }
                pending.insert(conn, id)
            })
        })
        .await?;
    state.metrics.login("success");
    if upgraded {
        state.changed_user(id);
        tracing::info!(user_id = %id, "password hash upgraded to the current cost");
    }
    let tokens = session.tokens(&state, user.id)?;
    Ok(Reply::ok(LoginResponse::Tokens(TokenResponse::new(
        "Successfully logged in.",
        tokens,
    ))))
}

fn logged_out() -> Reply<MessageResponse> {
    Reply::ok(MessageResponse::new("Successfully logged out."))
}

/// Log out
///
/// `GET /auth/logout`: revokes the caller's session, so its access tokens are refused.
/// A legacy token (no `sid`) has no session to revoke.
#[utoipa::path(
    get,
    path = "/auth/logout",
    tag = "auth",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller's session is revoked.", body = MessageResponse,
            example = json!({"status": "success", "message": "Successfully logged out."})),
        ProtectedErrors,
        DatabaseErrors,
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<Reply<MessageResponse>, ApiError> {
    if let Some(sid) = caller.claims.sid {
        sessions::revoke(&state, sid).await?;
    }
    Ok(logged_out())
}

/// Log out everywhere
///
/// `POST /auth/logout/all`: revokes every session of the caller.
#[utoipa::path(
    post,
    path = "/auth/logout/all",
    tag = "auth",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Every session of the caller is revoked.", body = MessageResponse,
            example = json!({"status": "success", "message": "Successfully logged out."})),
        ProtectedErrors,
        DatabaseErrors,
    )
)]
pub async fn logout_all(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<Reply<MessageResponse>, ApiError> {
    sessions::revoke_all(&state, caller.user.id, None).await?;
    Ok(logged_out())
}

/// Refresh the tokens
///
/// `POST /auth/refresh`: a new access token and the next refresh token of the session.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new access token and the next refresh token of the session.", body = TokenResponse,
            example = json!({"status": "success", "message": "Token refreshed.", "auth_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "refresh_token": "q9Xv..."})),
        (status = 400, description = "The body is empty, not JSON, not an object, or `refresh_token` is missing or empty.", body = ErrorResponse,
            example = json!({"status": "error", "message": msg::INVALID_PAYLOAD})),
        (status = 401, description = "An unknown, expired or revoked refresh token, or a reused one (which revokes the session).",
            body = ErrorResponse, example = json!({"status": "error", "message": "Invalid refresh token. Please log in again."})),
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    body: Body<RefreshRequest>,
) -> Result<Reply<TokenResponse>, ApiError> {
    let body = body.into_inner(Word::Error)?;
    let token = body
        .refresh_token
        .get()
        .ok_or_else(|| ApiError::invalid_payload(Word::Error))?;
    let tokens = sessions::refresh(&state, token).await?;
    Ok(Reply::ok(TokenResponse::new("Token refreshed.", tokens)))
}

/// Change the password
///
/// `PUT /auth/password`: checks the old password, stores the new one, and revokes every
/// other session of the user (the caller's stays).
#[utoipa::path(
    put,
    path = "/auth/password",
    tag = "auth",
    request_body = PasswordChangeRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Changed; every other session of the user is revoked.", body = MessageResponse,
            example = json!({"status": "success", "message": "Password updated."})),
        (status = 400, description = "A bad body, a field missing, a new password outside the policy, or a wrong old password.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "error", "message": msg::INVALID_PAYLOAD}))),
                ("Wrong old password" = (value = json!({"status": "error", "message": OLD_PASSWORD_INCORRECT})))
            )),
        ProtectedErrors,
        BodyErrors,
        ThrottleErrors,
        DatabaseErrors,
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    body: Body<PasswordChangeRequest>,
) -> Result<Reply<MessageResponse>, ApiError> {
    let body = body.into_inner(Word::Error)?;
    let invalid = || ApiError::invalid_payload(Word::Error);
    let old = body.old_password.get().ok_or_else(invalid)?;
    let new = body
        .new_password
        .get()
        .and_then(|p| Password::parse(p, state.password_policy()).ok())
        .ok_or_else(invalid)?;
    // Wrong old passwords count as failed logins of the account.
    let account = throttle::account_key(&caller.user.email);
    let address = throttle::client_address(&req, &state.config.trusted_proxies);
    let attempt = throttle::begin(&state, &account, &address).await?;
    let incorrect = || {
        state.metrics.login("failure");
        ApiError::new(StatusCode::BAD_REQUEST, Word::Error, OLD_PASSWORD_INCORRECT)
    };
    let old = Password::for_login(old).ok();
    let stored = caller.user.password_hash.clone();
    let expected = stored.clone();
    let new_hash = state
        .hashing("verify", move |h| match old {
            Some(old) if h.verify(&old, &stored) => Some(h.hash(&new)),
            _ => None,
        })
        .await?
        .ok_or_else(incorrect)?
        .map_err(ApiError::internal)?;
    let (id, keep) = (caller.user.id, caller.claims.sid);
    // One conditional transaction: the hash changes only if it is still the one the old
    // password was checked against, so of two concurrent changes one wins and the other is
    // told its old password is no longer right.
    let changed = state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                if !users_db::users::set_password_hash_if(conn, id, &expected, &new_hash)? {
                    return Ok(false);
                }
                users_db::sessions::revoke_all_for_user(
                    conn,
                    id,
                    keep.as_deref(),
                    users_domain::now_utc(),
                )?;
                // A right old password withdraws this attempt; the account's earlier
                // failures are cleared by a completed login only.
                attempt.withdrawn(conn)?;
                Ok(true)
            })
        })
        .await?;
    if !changed {
        return Err(incorrect());
    }
    state.changed_user(id);
    Ok(Reply::ok(MessageResponse::new("Password updated.")))
}

/// The caller
///
/// `GET /auth/status`.
#[utoipa::path(
    get,
    path = "/auth/status",
    tag = "auth",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The authenticated user.", body = StatusResponse),
        ProtectedErrors,
        DatabaseErrors,
    )
)]
pub async fn status(caller: AuthUser) -> Reply<StatusResponse> {
    Reply::ok(StatusResponse::new(StatusUser::from(&caller.user)))
}
