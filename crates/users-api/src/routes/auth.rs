//! `/auth`: register, login, logout, status.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use users_db::DbError;
use users_domain::{Email, NewUser, Password, User, Username};

use super::{http_date, json};
use crate::error::{ApiError, Word, msg};
use crate::extract::{AuthUser, JsonBody, str_field};
use crate::sessions;
use crate::state::AppState;
use crate::throttle;

/// `POST /auth/register`.
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
        .hashing(move |h| h.hash(&password))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    let new_user = NewUser::new(username, email, hash);
    let user = match state
        .db_raw(move |conn| users_db::users::insert(conn, &new_user))
        .await?
    {
        Ok(user) => user,
        Err(DbError::Duplicate { .. }) => return Err(exists()),
        Err(e) => return Err(e.into()),
    };
    let tokens = sessions::open(&state, user.id).await?;
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

/// `POST /auth/login`. Unknown email and wrong password cost the same hashing time and get
/// the same answer. `active` is not checked here (the seed issues the token).
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
    throttle::check(&state, &account, &address).await?;
    let failed = || async {
        throttle::record_failure(&state, &account, &address).await?;
        Err::<HttpResponse, _>(ApiError::new(
            StatusCode::NOT_FOUND,
            Word::Error,
            msg::LOGIN_FAILED,
        ))
    };
    let Ok(password) = Password::for_login(password) else {
        return failed().await;
    };

    let user = match Email::parse(email) {
        Ok(email) => {
            state
                .db(move |conn| users_db::users::find_by_email(conn, &email))
                .await?
        }
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let (verified, rehash) = state
        .hashing(move |h| match stored {
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
        _ => return failed().await,
    };
    throttle::clear_account(&state, &account).await?;
    if let Some(new_hash) = rehash {
        upgrade_hash(&state, &user, new_hash).await;
    }
    let tokens = sessions::open(&state, user.id).await?;
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

/// Stores a hash at the current cost; a failure is logged and the login goes on.
async fn upgrade_hash(
    state: &AppState,
    user: &User,
    new_hash: Result<users_domain::PasswordHash, users_domain::PasswordError>,
) {
    let id = user.id;
    let result = match new_hash {
        Ok(hash) => state
            .db(move |conn| users_db::users::set_password_hash(conn, id, &hash))
            .await
            .map(|_| ()),
        Err(e) => Err(ApiError::internal(&e)),
    };
    match result {
        Ok(()) => tracing::info!(user_id = %id, "password hash upgraded to the current cost"),
        Err(e) => tracing::warn!(user_id = %id, error = %e, "password hash upgrade failed"),
    }
}

fn logged_out() -> HttpResponse {
    json(
        StatusCode::OK,
        json!({"status": "success", "message": "Successfully logged out."}),
    )
}

/// `GET /auth/logout`: revokes the caller's session, so its access tokens are refused.
/// A legacy token (no `sid`) has no session to revoke.
pub async fn logout(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    if let Some(sid) = caller.claims.sid {
        sessions::revoke(&state, sid).await?;
    }
    Ok(logged_out())
}

/// `POST /auth/logout/all`: revokes every session of the caller.
pub async fn logout_all(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    sessions::revoke_all(&state, caller.user.id, None).await?;
    Ok(logged_out())
}

/// `POST /auth/refresh`: a new access token and the next refresh token of the session.
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

/// `PUT /auth/password`: checks the old password, stores the new one, and revokes every
/// other session of the user (the caller's stays).
pub async fn change_password(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body = body.object(Word::Error)?;
    let invalid = || ApiError::invalid_payload(Word::Error);
    let old = str_field(&body, "old_password").ok_or_else(invalid)?;
    let new = str_field(&body, "new_password")
        .and_then(|p| Password::parse(p, state.password_policy()).ok())
        .ok_or_else(invalid)?;
    let old = Password::for_login(old).ok();
    let stored = caller.user.password_hash.clone();
    let new_hash = state
        .hashing(move |h| match old {
            Some(old) if h.verify(&old, &stored) => Some(h.hash(&new)),
            _ => None,
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                Word::Error,
                "Old password is incorrect.",
            )
        })?
        .map_err(|e| ApiError::internal(&e))?;
    let (id, keep) = (caller.user.id, caller.claims.sid);
    state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                users_db::users::set_password_hash(conn, id, &new_hash)?;
                users_db::sessions::revoke_all_for_user(
                    conn,
                    id,
                    keep.as_deref(),
                    users_domain::now_utc(),
                )
            })
        })
        .await?;
    Ok(json(
        StatusCode::OK,
        json!({"status": "success", "message": "Password updated."}),
    ))
}

/// `GET /auth/status`.
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
