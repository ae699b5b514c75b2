//! `GET /auth/revocations`: the revocation feed, for services that verify our tokens
//! offline (with the JWKS or the shared secret) and must still honour logout.
//!
//! Events come from `revocation_events`, written by database triggers in the transaction
//! that revokes (so every path, plain SQL included, writes one) and committed in `seq`
//! order (so a reader resuming after `next` misses none, whichever instance wrote them).
//! A long poll (`wait`) re-reads the table when this instance's listener hears a change
//! (every revocation is one), at least every second, or every [`POLL`] while no listener
//! vouches for the auth cache.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, web};
use subtle::ConstantTimeEq;

use crate::bodies::{
    DatabaseErrors, ErrorResponse, FeedParams, Reply, RevocationEvent, RevocationFeedResponse,
    RevocationPage,
};
use crate::error::{ApiError, Word, msg};
use crate::state::AppState;

/// Most events in one answer.
pub const MAX_EVENTS: i64 = 1000;
/// Longest `wait`, seconds.
pub const MAX_WAIT_SECONDS: u64 = 30;
/// How often a long poll re-reads the table when this instance hears no changes.
const POLL: Duration = Duration::from_millis(50);
/// How often it re-reads the table anyway while the listener wakes it on every change.
const HEARD_POLL: Duration = Duration::from_secs(1);
/// 401 for a missing or wrong feed token.
const INVALID_TOKEN: &str = "Invalid token. Please log in again.";

fn parse_params(p: &FeedParams) -> Option<(Option<i64>, u64)> {
    let after = match &p.after {
        None => None,
        Some(s) => Some(s.parse::<i64>().ok().filter(|n| *n >= 0)?),
    };
    let wait = match &p.wait {
        None => 0,
        Some(s) => s.parse::<u64>().ok().filter(|n| *n <= MAX_WAIT_SECONDS)?,
    };
    Some((after, wait))
}

fn authorized(req: &HttpRequest, expected: &str) -> bool {
    let Some(value) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && bool::from(token.trim().as_bytes().ct_eq(expected.as_bytes()))
}

/// The revocation feed
///
/// `GET /auth/revocations?after=SEQ&wait=S` with `Authorization: Bearer
/// <REVOCATION_FEED_TOKEN>`: session and user revocations in `seq` order, each with the
/// Unix time after which it no longer matters. The route exists only when
/// `REVOCATION_FEED_TOKEN` is set.
#[utoipa::path(
    get,
    path = "/auth/revocations",
    tag = "auth",
    params(FeedParams),
    security(("feedToken" = [])),
    responses(
        (status = 200, description = "Events after `after` (at most 1,000), and the `after` of the next call.", body = RevocationFeedResponse,
            example = json!({"status": "success", "data": {"events": [{"seq": 41, "sid": "9f0c...", "exp": 1767225600}, {"seq": 42, "user_id": 7, "exp": 1767225660}], "next": 42}})),
        (status = 400, description = "A bad `after` or `wait`.", body = ErrorResponse,
            example = json!({"status": "fail", "message": msg::INVALID_PAYLOAD})),
        (status = 401, description = "No `Authorization` header, or not the feed token.", body = ErrorResponse,
            example = json!({"status": "error", "message": INVALID_TOKEN})),
        (status = 404, description = "The feed is not configured (`REVOCATION_FEED_TOKEN` unset).", body = ErrorResponse,
            example = json!({"status": "fail", "message": msg::NOT_FOUND})),
        DatabaseErrors,
    )
)]
pub async fn feed(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<FeedParams>,
) -> Result<Reply<RevocationFeedResponse>, ApiError> {
    let Some(expected) = state.config.revocation_feed_token.as_deref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Word::Fail,
            msg::NOT_FOUND,
        ));
    };
    if !authorized(&req, expected) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            Word::Error,
            INVALID_TOKEN,
        ));
    }
    let (after, wait) =
        parse_params(&params).ok_or_else(|| ApiError::invalid_payload(Word::Fail))?;
    let deadline = Instant::now() + Duration::from_secs(wait);
    let lifetime = i64::try_from(state.config.token.lifetime_secs()).unwrap_or(i64::MAX);
    loop {
        // Armed before the read, so that a change committed after it wakes this poll.
        let changed = state.auth_cache.changes().notified();
        let mut changed = std::pin::pin!(changed);
        changed.as_mut().enable();
        let events = state
            .db(move |conn| users_db::revocations::after(conn, after, MAX_EVENTS))
            .await?;
        // A stopping server answers at once: its drain would otherwise wait for the poll.
        if !events.is_empty() || Instant::now() >= deadline || state.stopping() {
            let next = events.last().map_or(after.unwrap_or(0), |e| e.seq);
            let events = events
                .into_iter()
                .map(|e| RevocationEvent {
                    seq: e.seq,
                    sid: e.sid,
                    user_id: e.user_id,
                    // An access token issued at the revocation at the latest (a session's
                    // tokens are refused once it is revoked) ends a lifetime later; one
                    // second more covers sub-second issue times.
                    exp: e
                        .created_at
                        .and_utc()
                        .timestamp()
                        .saturating_add(lifetime)
                        .saturating_add(1),
                })
                .collect();
            return Ok(Reply::ok(RevocationFeedResponse::new(RevocationPage {
                events,
                next,
            })));
        }
        // While this instance's listener hears every change (every revocation notifies it),
        // sleep until one comes; otherwise re-read the table every POLL.
        let step = if state.auth_cache.serving() {
            HEARD_POLL
        } else {
            POLL
        };
        let _ = actix_web::rt::time::timeout(
            step.min(deadline.saturating_duration_since(Instant::now())),
            changed,
        )
        .await;
    }
}
