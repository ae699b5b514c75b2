//! `/auth`: register, login, logout, status.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use users_db::DbError;
use users_domain::{Email, NewUser, Password, Username};

use super::{http_date, json};
use crate::error::{ApiError, ErrorChain, Word, msg};
use crate::extract::{AuthUser, JsonBody, str_field};
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
    request_body = crate::bodies::RegisterRequest,
    responses(
        (status = 201, description = "Registered (active, not admin), with a new session.", body = crate::bodies::TokenResponse,
            example = json!({"status": "success", "message": "Successfully registered.", "auth_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "refresh_token": "q9Xv..."})),
        (status = 400, description = "A bad body, a field missing or invalid, or a username or email taken.", body = crate::bodies::ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "error", "message": msg::INVALID_PAYLOAD}))),
                ("Taken" = (value = json!({"status": "error", "message": msg::USER_EXISTS})))
            )),
        crate::bodies::BodyErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body = body.object(Word::Error)?;
    let invalid = || ApiError::invalid_payload(Word::Error);
    let exists = || ApiError::new(StatusCode::BAD_REQUEST, Word::Error, msg::USER_EXISTS);
    let username = str_field(&body, "username")
        .and_then(|u| Username::parse(u).ok())
        .ok_or_else(invalid)?;
    let email = str_field(&body, "email")
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(invalid)?;
    let password = str_field(&body, "password")
        .and_then(|p| Password::parse(p, state.password_policy()).ok())
        .ok_or_else(invalid)?;

    // Checked before hashing so that a duplicate costs no CPU; the unique indexes still
    // decide when two registrations race.
    let (u, e) = (username.clone(), email.clone());
    let taken = state
        .db(move |conn| users_db::users::find_by_username_or_email(conn, &u, &e))
        .await?;
    if !taken.is_empty() {
        return Err(exists());
    }
    let hash = state
        .hashing("hash", move |h| h.hash(&password))
        .await?
        .map_err(ApiError::internal)?;
    let new_user = NewUser::new(username, email, hash);
    // The user and its first session in one transaction: a failure between them leaves
    // no user behind.
    let session = sessions::NewSession::new(&state);
    let pending = session.clone();
    let user = match state
        .db_raw(move |conn| {
            users_db::write_transaction(conn, |conn| {
                let user = users_db::users::insert(conn, &new_user)?;
                pending.insert(conn, user.id)?;
                Ok(user)
            })
        })
        .await?
    {
        Ok(user) => user,
        Err(DbError::Duplicate { .. }) => return Err(exists()),
        Err(e) => return Err(e.into()),
    };
    let tokens = session.tokens(&state, user.id)?;
    Ok(json(
        StatusCode::CREATED,
        json!({
            "status": "success",
            "message": "Successfully registered.",
            "auth_token": tokens.access,
            "refresh_token": tokens.refresh,
        }),
    ))
}

/// Log in
///
/// `POST /auth/login`. Unknown email and wrong password cost the same hashing time and get
/// the same answer. `active` is not checked here (the seed issues the token).
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = crate::bodies::LoginRequest,
    responses(
        (status = 200, description = "Logged in, with a new session.", body = crate::bodies::TokenResponse,
            example = json!({"status": "success", "message": "Successfully logged in.", "auth_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "refresh_token": "q9Xv..."})),
        (status = 400, description = "The body is empty, not JSON, not an object, or `email` or `password` is missing or empty.", body = crate::bodies::ErrorResponse,
            example = json!({"status": "error", "message": msg::INVALID_PAYLOAD})),
        (status = 404, description = "Unknown email or wrong password (the same answer for both).",
            body = crate::bodies::ErrorResponse, example = json!({"status": "error", "message": msg::LOGIN_FAILED})),
        (status = 500, description = "Unexpected failure.", body = crate::bodies::ErrorResponse,
            example = json!({"status": "error", "message": msg::TRY_AGAIN})),
        crate::bodies::BodyErrors,
        crate::bodies::ThrottleErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body = body.object(Word::Error)?;
    let invalid = || ApiError::invalid_payload(Word::Error);
    let email = str_field(&body, "email").ok_or_else(invalid)?;
    let password = str_field(&body, "password").ok_or_else(invalid)?;

    let account = throttle::account_key(email);
    let address = throttle::client_address(&req, &state.config.trusted_proxies);
    let email = Email::parse(email).ok();
    let cfg = state.config.throttle;
    // First hop: the attempt is taken (or refused) atomically, and the user read.
    let (attempt, user) = state
        .db(move |conn| {
            Ok(match throttle::take(conn, cfg, &account, &address)? {
                Ok(attempt) => {
                    let user = match &email {
                        Some(email) => users_db::users::find_by_email(conn, email)?,
                        None => None,
                    };
                    Ok((attempt, user))
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
    let rehash = match rehash {
        Some(Ok(hash)) => Some(hash),
        Some(Err(e)) => {
            tracing::warn!(user_id = %user.id, error = %ErrorChain(&e), "password re-hash failed");
            None
        }
        None => None,
    };
    // Second hop: the success settles the attempt, stores an upgraded hash, opens the session.
    let session = sessions::NewSession::new(&state);
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
        tracing::info!(user_id = %id, "password hash upgraded to the current cost");
    }
    let tokens = session.tokens(&state, user.id)?;
    Ok(json(
        StatusCode::OK,
        json!({
            "status": "success",
            "message": "Successfully logged in.",
            "auth_token": tokens.access,
            "refresh_token": tokens.refresh,
        }),
    ))
}

fn logged_out() -> HttpResponse {
    json(
        StatusCode::OK,
        json!({"status": "success", "message": "Successfully logged out."}),
    )
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
        (status = 200, description = "The caller's session is revoked.", body = crate::bodies::MessageResponse,
            example = json!({"status": "success", "message": "Successfully logged out."})),
        crate::bodies::ProtectedErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
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
        (status = 200, description = "Every session of the caller is revoked.", body = crate::bodies::MessageResponse,
            example = json!({"status": "success", "message": "Successfully logged out."})),
        crate::bodies::ProtectedErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn logout_all(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
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
    request_body = crate::bodies::RefreshRequest,
    responses(
        (status = 200, description = "A new access token and the next refresh token of the session.", body = crate::bodies::TokenResponse,
            example = json!({"status": "success", "message": "Token refreshed.", "auth_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "refresh_token": "q9Xv..."})),
        (status = 400, description = "The body is empty, not JSON, not an object, or `refresh_token` is missing or empty.", body = crate::bodies::ErrorResponse,
            example = json!({"status": "error", "message": msg::INVALID_PAYLOAD})),
        (status = 401, description = "An unknown, expired or revoked refresh token, or a reused one (which revokes the session).",
            body = crate::bodies::ErrorResponse, example = json!({"status": "error", "message": "Invalid refresh token. Please log in again."})),
        crate::bodies::BodyErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn refresh(state: web::Data<AppState>, body: JsonBody) -> Result<HttpResponse, ApiError> {
    let body = body.object(Word::Error)?;
    let token =
        str_field(&body, "refresh_token").ok_or_else(|| ApiError::invalid_payload(Word::Error))?;
    let tokens = sessions::refresh(&state, token).await?;
    Ok(json(
        StatusCode::OK,
        json!({
            "status": "success",
            "message": "Token refreshed.",
            "auth_token": tokens.access,
            "refresh_token": tokens.refresh,
        }),
    ))
}

/// Change the password
///
/// `PUT /auth/password`: checks the old password, stores the new one, and revokes every
/// other session of the user (the caller's stays).
#[utoipa::path(
    put,
    path = "/auth/password",
    tag = "auth",
    request_body = crate::bodies::PasswordChangeRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Changed; every other session of the user is revoked.", body = crate::bodies::MessageResponse,
            example = json!({"status": "success", "message": "Password updated."})),
        (status = 400, description = "A bad body, a field missing, a new password outside the policy, or a wrong old password.", body = crate::bodies::ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "error", "message": msg::INVALID_PAYLOAD}))),
                ("Wrong old password" = (value = json!({"status": "error", "message": OLD_PASSWORD_INCORRECT})))
            )),
        crate::bodies::ProtectedErrors,
        crate::bodies::BodyErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body = body.object(Word::Error)?;
    let invalid = || ApiError::invalid_payload(Word::Error);
    let old = str_field(&body, "old_password").ok_or_else(invalid)?;
    let new = str_field(&body, "new_password")
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
                attempt.succeeded(conn)?;
                Ok(true)
            })
        })
        .await?;
    if !changed {
        return Err(incorrect());
    }
    Ok(json(
        StatusCode::OK,
        json!({"status": "success", "message": "Password updated."}),
    ))
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
        (status = 200, description = "The authenticated user.", body = crate::bodies::StatusResponse),
        crate::bodies::ProtectedErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn status(caller: AuthUser) -> HttpResponse {
    let u = caller.user;
    json(
        StatusCode::OK,
        json!({"status": "success", "data": {
            "id": u.id.get(),
            "username": u.username,
            "email": u.email,
            "active": u.active,
            "created_at": http_date(&u.created_at),
        }}),
    )
}
