//! Sessions: opened at login and registration, checked on every protected request, rotated
//! by refresh, revoked by logout, reuse detection and password change.

use chrono::{NaiveDateTime, TimeDelta};
use users_db::DbError;
use users_domain::{RefreshDecision, UserId, decide_refresh, now_utc};

use crate::error::ApiError;
use crate::state::AppState;

/// 401 for a refresh token that cannot be used.
pub const INVALID_REFRESH: &str = "Invalid refresh token. Please log in again.";

/// 401 for an access token of a revoked session.
pub const TOKEN_REVOKED: &str = "Token revoked. Please log in again.";

/// An access token and a refresh token of one session.
#[derive(Debug)]
pub struct TokenPair {
    /// The access token (JWT, with `sid`).
    pub access: String,
    /// The opaque refresh token.
    pub refresh: String,
}

fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A token pair for step `counter` of session `sid`.
fn issue(
    state: &AppState,
    user_id: UserId,
    sid: &str,
    counter: i64,
) -> Result<TokenPair, ApiError> {
    let access = state
        .tokens
        .encode_session_token(user_id, sid)
        .map_err(ApiError::internal)?;
    state.metrics.issued("access");
    state.metrics.issued("refresh");
    Ok(TokenPair {
        access,
        refresh: state.refresh.issue(sid, counter),
    })
}

/// A session about to be opened: its id and times, chosen before the database hop so that
/// the insert can share a transaction with other writes (registration, login).
#[derive(Debug, Clone)]
pub struct NewSession {
    sid: String,
    now: NaiveDateTime,
    expires: NaiveDateTime,
    user_agent: Option<String>,
}

impl NewSession {
    /// A new session id, starting now, ending after `REFRESH_TOKEN_EXPIRATION_DAYS`.
    pub fn new(state: &AppState) -> Self {
        let now = now_utc();
        Self {
            sid: new_session_id(),
            now,
            expires: now + TimeDelta::days(i64::from(state.config.refresh_expiration_days)),
            user_agent: None,
        }
    }

    /// [`NewSession::new`] for the request that opens it: its `User-Agent` is recorded
    /// (shown by `GET /auth/sessions`).
    pub fn for_request(state: &AppState, req: &actix_web::HttpRequest) -> Self {
        let mut session = Self::new(state);
        session.user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        session
    }

    /// Inserts the session row for `user_id` (inside the caller's database work).
    pub fn insert(
        &self,
        conn: &mut users_db::DbConnection,
        user_id: UserId,
    ) -> Result<(), DbError> {
        users_db::sessions::create_with_agent(
            conn,
            &self.sid,
            user_id,
            self.now,
            self.expires,
            self.user_agent.as_deref(),
        )
        .map(|_| ())
    }

    /// The first token pair of the session, once its row is written.
    pub fn tokens(&self, state: &AppState, user_id: UserId) -> Result<TokenPair, ApiError> {
        issue(state, user_id, &self.sid, 0)
    }
}

enum Outcome {
    Issued { user_id: UserId, counter: i64 },
    Reused,
    Refused,
}

/// Exchanges a refresh token for a new pair: the current token rotates (single use), its
/// immediate predecessor within the grace window gets the same successor, any other reuse
/// revokes the session.
pub async fn refresh(state: &AppState, token: &str) -> Result<TokenPair, ApiError> {
    let refused = || ApiError::unauthorized(INVALID_REFRESH);
    let claims = state.refresh.verify(token).ok_or_else(refused)?;
    let grace = TimeDelta::seconds(i64::from(state.config.refresh_reuse_grace_secs));
    let sid = claims.sid.clone();
    let outcome = state
        .db(move |conn| decide(conn, &sid, claims.counter, grace))
        .await?;
    match outcome {
        Outcome::Issued { user_id, counter } => issue(state, user_id, &claims.sid, counter),
        Outcome::Reused => {
            state.auth_cache.forget_session(&claims.sid);
            state.metrics.refresh_reuse.inc();
            Err(refused())
        }
        Outcome::Refused => Err(refused()),
    }
}

fn decide(
    conn: &mut users_db::DbConnection,
    sid: &str,
    presented: i64,
    grace: TimeDelta,
) -> Result<Outcome, DbError> {
    // The common case, the current token, in one statement.
    if let Some(user_id) = users_db::sessions::rotate_current(conn, sid, presented, now_utc())? {
        return Ok(Outcome::Issued {
            user_id,
            counter: presented.saturating_add(1),
        });
    }
    // A lost race re-reads the row; the winner moved the counter, so the second pass sees the
    // presented token as the immediate predecessor. Three passes cover any interleaving that
    // is not reuse.
    for _ in 0..3 {
        let now: NaiveDateTime = now_utc();
        let Some(session) = users_db::sessions::find(conn, sid)? else {
            return Ok(Outcome::Refused);
        };
        if !session.is_live(now) {
            return Ok(Outcome::Refused);
        }
        let user_id = UserId::new(session.user_id);
        // An inactive user can log in (Part A) and so holds a session, but gets no new
        // tokens from it, as every protected route refuses theirs.
        if !users_db::users::find_by_id(conn, user_id)?.is_some_and(|u| u.active) {
            return Ok(Outcome::Refused);
        }
        match decide_refresh(
            presented,
            session.refresh_counter,
            session.rotated_at,
            now,
            grace,
        ) {
            RefreshDecision::Rotate { from } => {
                if users_db::sessions::rotate(conn, sid, from, now)? {
                    return Ok(Outcome::Issued {
                        user_id,
                        counter: from + 1,
                    });
                }
            }
            RefreshDecision::Replay { successor } => {
                return Ok(Outcome::Issued {
                    user_id,
                    counter: successor,
                });
            }
            RefreshDecision::Reuse => {
                users_db::sessions::revoke(conn, sid, now)?;
                tracing::warn!(user_id = %user_id, "refresh token reuse detected: session revoked");
                return Ok(Outcome::Reused);
            }
        }
    }
    Ok(Outcome::Refused)
}

/// Revokes one session (logout).
pub async fn revoke(state: &AppState, sid: String) -> Result<(), ApiError> {
    let revoked = sid.clone();
    state
        .db(move |conn| users_db::sessions::revoke(conn, &revoked, now_utc()))
        .await?;
    state.auth_cache.forget_session(&sid);
    Ok(())
}

/// Revokes every session of a user but `except`.
pub async fn revoke_all(
    state: &AppState,
    user_id: UserId,
    except: Option<String>,
) -> Result<usize, ApiError> {
    let n = state
        .db(move |conn| {
            users_db::sessions::revoke_all_for_user(conn, user_id, except.as_deref(), now_utc())
        })
        .await?;
    state.changed_user(user_id);
    Ok(n)
}
