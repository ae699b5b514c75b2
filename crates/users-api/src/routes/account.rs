//! `/auth/account` and `/auth/sessions`: the caller's own account and live sessions.

use actix_web::http::StatusCode;
use actix_web::web;
use users_domain::now_utc;

use crate::bodies::{
    AccountInfo, AccountResponse, DatabaseErrors, ErrorResponse, MessageResponse, ProtectedErrors,
    Reply, SessionInfo, SessionList, SessionListResponse,
};
use crate::error::{ApiError, Word};
use crate::extract::AuthUser;
use crate::routes::http_date;
use crate::state::AppState;

/// 404 for a session that is not a live session of the caller.
pub const SESSION_NOT_FOUND: &str = "Session not found.";

/// The caller's account
///
/// `GET /auth/account`: the account, whether its address is verified, and its second factor.
#[utoipa::path(
    get,
    path = "/auth/account",
    tag = "auth",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller's account.", body = AccountResponse,
            example = json!({"status": "success", "data": {"id": 1, "username": "michael", "email": "michael@example.com", "email_verified": true, "mfa_enabled": false, "recovery_codes_left": 0, "created_at": "Tue, 20 Jun 2017 19:25:48 GMT"}})),
        ProtectedErrors,
        DatabaseErrors,
    )
)]
pub async fn account(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<Reply<AccountResponse>, ApiError> {
    let id = caller.user.id;
    let (mfa_enabled, recovery_codes_left) = state
        .db(move |conn| {
            let enabled = users_db::mfa::is_enabled(conn, id)?;
            let left = if enabled {
                users_db::mfa::recovery_codes_left(conn, id)?
            } else {
                0
            };
            Ok((enabled, left))
        })
        .await?;
    let user = caller.user;
    Ok(Reply::ok(AccountResponse::new(AccountInfo {
        id: user.id.get(),
        email_verified: user.email_verified_at.is_some(),
        mfa_enabled,
        recovery_codes_left,
        created_at: http_date(&user.created_at),
        username: user.username,
        email: user.email,
    })))
}

/// The caller's sessions
///
/// `GET /auth/sessions`: the caller's live sessions, newest first; `current` marks the
/// caller's own.
#[utoipa::path(
    get,
    path = "/auth/sessions",
    tag = "auth",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller's live sessions.", body = SessionListResponse,
            example = json!({"status": "success", "data": {"sessions": [{"id": "9f0c6d0e5b1a4c2e8f3b7a6d5c4b3a21", "created_at": "Wed, 02 Dec 2026 10:00:00 GMT", "last_seen_at": "Wed, 02 Dec 2026 10:30:00 GMT", "user_agent": "Mozilla/5.0", "current": true}]}})),
        ProtectedErrors,
        DatabaseErrors,
    )
)]
pub async fn sessions(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<Reply<SessionListResponse>, ApiError> {
    let id = caller.user.id;
    let rows = state
        .db(move |conn| users_db::sessions::list_live(conn, id, now_utc()))
        .await?;
    let current = caller.claims.sid;
    let sessions = rows
        .into_iter()
        .map(|s| SessionInfo {
            created_at: http_date(&s.created_at),
            last_seen_at: http_date(&s.last_seen_at.or(s.rotated_at).unwrap_or(s.created_at)),
            user_agent: s.user_agent,
            current: current.as_deref() == Some(s.id.as_str()),
            id: s.id,
        })
        .collect();
    Ok(Reply::ok(SessionListResponse::new(SessionList {
        sessions,
    })))
}

/// End one of the caller's sessions
///
/// `DELETE /auth/sessions/{id}`: its access tokens are refused from then on and its refresh
/// token is invalid.
#[utoipa::path(
    delete,
    path = "/auth/sessions/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "The session id (the `sid` of its tokens).")),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The session is revoked.", body = MessageResponse,
            example = json!({"status": "success", "message": "Session revoked."})),
        (status = 404, description = "Not a live session of the caller.", body = ErrorResponse,
            example = json!({"status": "fail", "message": SESSION_NOT_FOUND})),
        ProtectedErrors,
        DatabaseErrors,
    )
)]
pub async fn revoke_session(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<Reply<MessageResponse>, ApiError> {
    let (id, sid) = (caller.user.id, path.into_inner());
    let revoked = state
        .db(move |conn| users_db::sessions::revoke_own(conn, id, &sid, now_utc()))
        .await?;
    state.changed_user(id);
    if !revoked {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Word::Fail,
            SESSION_NOT_FOUND,
        ));
    }
    Ok(Reply::ok(MessageResponse::new("Session revoked.")))
}
