//! Failed-login throttling, per account and per client address, counted in the database.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use chrono::TimeDelta;
use users_db::throttle::{self, Scope};
use users_domain::now_utc;

use crate::config::ThrottleConfig;
use crate::error::{ApiError, Word};
use crate::state::AppState;

/// 429 message.
pub const TOO_MANY: &str = "Too many login attempts. Try again later.";

/// The client address: the socket peer, or, when the peer is a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy itself.
pub fn client_address(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> String {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".to_owned();
    };
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or_else(|| forwarded.first())
        .unwrap_or(&peer)
        .to_string()
}

/// The account key: the email as given, trimmed and lower-cased, so unknown emails count too.
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Seconds until the subject has fewer than `max` failures in the window, if it has `max` now.
fn retry_after(failures: &[chrono::NaiveDateTime], max: u32, window: TimeDelta) -> Option<u64> {
    let max = usize::try_from(max).ok()?;
    // `failures` is newest first; the `max`-th newest leaving the window frees a slot.
    let pivot = failures.get(max.checked_sub(1)?)?;
    let wait = (*pivot + window - now_utc()).num_milliseconds();
    Some(
        u64::try_from(wait.max(0))
            .unwrap_or(0)
            .div_ceil(1000)
            .max(1),
    )
}

/// 429 with `Retry-After` when the account or the address is over its limit.
pub async fn check(state: &AppState, account: &str, address: &str) -> Result<(), ApiError> {
    let cfg: ThrottleConfig = state.config.throttle;
    let window = TimeDelta::seconds(i64::from(cfg.window_secs));
    let (account_, address_) = (account.to_owned(), address.to_owned());
    let (by_account, by_address) = state
        .db(move |conn| {
            let since = now_utc() - window;
            Ok((
                throttle::recent(
                    conn,
                    Scope::Account,
                    &account_,
                    since,
                    i64::from(cfg.max_per_account),
                )?,
                throttle::recent(
                    conn,
                    Scope::Address,
                    &address_,
                    since,
                    i64::from(cfg.max_per_address),
                )?,
            ))
        })
        .await?;
    let wait = [
        retry_after(&by_account, cfg.max_per_account, window),
        retry_after(&by_address, cfg.max_per_address, window),
    ]
    .into_iter()
    .flatten()
    .max();
    match wait {
        Some(secs) => {
            state.metrics.throttled.inc();
            state.metrics.login("throttled");
            Err(
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, Word::Error, TOO_MANY)
                    .with_header("retry-after", secs.to_string()),
            )
        }
        None => Ok(()),
    }
}

/// Counts a failed login against the account and the address.
pub async fn record_failure(
    state: &AppState,
    account: &str,
    address: &str,
) -> Result<(), ApiError> {
    state.metrics.login("failure");
    let window = TimeDelta::seconds(i64::from(state.config.throttle.window_secs));
    let (account, address) = (account.to_owned(), address.to_owned());
    state
        .db(move |conn| {
            let now = now_utc();
            throttle::record(conn, Scope::Account, &account, now, now - window)?;
            throttle::record(conn, Scope::Address, &address, now, now - window)
        })
        .await
}

/// Forgets the account's failures after a successful login.
pub async fn clear_account(state: &AppState, account: &str) -> Result<(), ApiError> {
    state.metrics.login("success");
    let account = account.to_owned();
    state
        .db(move |conn| throttle::clear(conn, Scope::Account, &account))
        .await
}
