//! Failed-login throttling, per account and per client address, counted in the database.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use chrono::TimeDelta;
use users_db::throttle;
use users_domain::now_utc;

use crate::config::ThrottleConfig;
use crate::error::{ApiError, Word};
use crate::state::AppState;

/// 429 message.
pub const TOO_MANY: &str = "Too many login attempts. Try again later.";

/// The client address: the socket peer, or, when the peer is a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy itself. Entries are read in
/// every form proxies write them (`ip`, `ip:port`, `[v6]`, `[v6]:port`); an entry that is no
/// address at all (`unknown`, an obfuscated name) is where the chain of trust ends, so it is
/// the client as written: never skipped, or the attacker's own entry to its left would count.
pub fn client_address(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> String {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let Some(peer) = req.peer_addr().map(|a| a.ip().to_canonical()) else {
        return "unknown".to_owned();
    };
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for entry in entries.iter().rev() {
        match forwarded_ip(entry) {
            Some(ip) if is_trusted(&ip) => continue,
            Some(ip) => return ip.to_string(),
            None => return entry.chars().take(64).collect(),
        }
    }
    // Every hop is a trusted proxy: the left-most is the closest to the client.
    entries
        .first()
        .and_then(|e| forwarded_ip(e))
        .unwrap_or(peer)
        .to_string()
}

/// The address of one `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:80`.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    parse_forwarded(entry).map(|ip| ip.to_canonical())
}

fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|v6| v6.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

/// The account key: the email as given, trimmed and lower-cased, so unknown emails count too.
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(peer: &str, forwarded: &[&str], trusted: &[&str]) -> String {
        let mut req = actix_web::test::TestRequest::default().peer_addr(peer.parse().unwrap());
        for f in forwarded {
            req = req.append_header(("x-forwarded-for", *f));
        }
        let trusted: Vec<ipnet::IpNet> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        client_address(&req.to_http_request(), &trusted)
    }

    #[test]
    fn every_form_a_proxy_writes_is_read() {
        let proxy = "10.0.0.1:9000";
        let trusted = ["10.0.0.0/8"];
        // The attacker writes their own entry first; the proxy appends the real client.
        for (entry, client) in [
            ("203.0.113.9", "203.0.113.9"),
            ("203.0.113.9:51234", "203.0.113.9"),
            ("2001:db8::9", "2001:db8::9"),
            ("[2001:db8::9]", "2001:db8::9"),
            ("[2001:db8::9]:443", "2001:db8::9"),
        ] {
            let header = format!("198.51.100.66, {entry}");
            assert_eq!(address(proxy, &[&header], &trusted), client, "{entry}");
            // Also when the proxy adds a header line of its own.
            assert_eq!(
                address(proxy, &["198.51.100.66", entry], &trusted),
                client,
                "{entry}"
            );
        }
    }

    #[test]
    fn trusted_hops_are_skipped_and_untrusted_peers_ignored() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            address(
                "10.0.0.1:1",
                &["203.0.113.9, 10.0.0.2:80, [::ffff:10.0.0.3]"],
                &trusted
            ),
            "203.0.113.9"
        );
        // Not from a trusted proxy: the header is the client's own word and is ignored.
        assert_eq!(
            address("192.0.2.1:1", &["203.0.113.9"], &trusted),
            "192.0.2.1"
        );
        // An entry that is no address ends the chain of trust, as written.
        assert_eq!(
            address("10.0.0.1:1", &["198.51.100.66, unknown"], &trusted),
            "unknown"
        );
    }
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

/// An attempt taken against the limits, recorded as a failure until [`Attempt::succeeded`].
#[derive(Debug)]
pub struct Attempt {
    account: String,
    taken: throttle::Taken,
}

/// An attempt refused at a limit: seconds until one is allowed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    retry_after: u64,
}

/// Takes an attempt for `account` from `address` (on a database connection, so that the
/// caller can do more in the same hop): counted and recorded atomically before any password
/// is checked, so concurrent guesses cannot pass the count together.
pub fn take(
    conn: &mut users_db::DbConnection,
    cfg: ThrottleConfig,
    account: &str,
    address: &str,
) -> Result<Result<Attempt, Throttled>, users_db::DbError> {
    let window = TimeDelta::seconds(i64::from(cfg.window_secs));
    let now = now_utc();
    let limits = throttle::Limits {
        per_account: i64::from(cfg.max_per_account),
        per_address: i64::from(cfg.max_per_address),
        since: now - window,
    };
    Ok(match throttle::take(conn, account, address, now, limits)? {
        throttle::Take::Taken(taken) => Ok(Attempt {
            account: account.to_owned(),
            taken,
        }),
        throttle::Take::Refused { account, address } => {
            let wait = [
                retry_after(&account, cfg.max_per_account, window),
                retry_after(&address, cfg.max_per_address, window),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(1);
            Err(Throttled { retry_after: wait })
        }
    })
}

impl Attempt {
    /// The password was right: the account's failures are forgotten and this attempt no
    /// longer counts against the address.
    pub fn succeeded(&self, conn: &mut users_db::DbConnection) -> Result<(), users_db::DbError> {
        throttle::succeeded(conn, &self.account, &self.taken)
    }
}

impl Attempt {
    /// The password was right but a second factor follows: this attempt no longer counts,
    /// and the account's earlier failures stay until the login completes.
    pub fn withdrawn(&self, conn: &mut users_db::DbConnection) -> Result<(), users_db::DbError> {
        throttle::withdrawn(conn, &self.taken)
    }
}

impl Throttled {
    /// 429 with `Retry-After`, counted in the metrics.
    pub fn into_error(self, state: &AppState) -> ApiError {
        state.metrics.throttled.inc();
        state.metrics.login("throttled");
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, Word::Error, TOO_MANY)
            .with_header("retry-after", self.retry_after.to_string())
    }
}

/// [`take`] in a hop of its own: the attempt, or the 429.
pub async fn begin(state: &AppState, account: &str, address: &str) -> Result<Attempt, ApiError> {
    let cfg = state.config.throttle;
    let (account, address) = (account.to_owned(), address.to_owned());
    state
        .db(move |conn| take(conn, cfg, &account, &address))
        .await?
        .map_err(|t| t.into_error(state))
}
