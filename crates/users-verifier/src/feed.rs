//! Following `GET /auth/revocations`: a long poll resumed from `next`, backing off while the
//! service is down; revoked sessions and users held until their `exp`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Deserialize;
use users_domain::Claims;

use crate::{FeedPolicy, Settings, Shared, VerifyError, since, unix_now};

/// With [`FeedPolicy::SignaturesOnly`], the feed counts as current this long after its last
/// answer (for [`crate::Verifier::feed_is_current`] only).
const CURRENT_WITHOUT_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
struct Answer {
    data: Page,
}

#[derive(Debug, Deserialize)]
struct Page {
    events: Vec<Event>,
    next: i64,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    user_id: Option<i32>,
    exp: u64,
}

#[derive(Default)]
struct Held {
    /// Revoked sessions, until their `exp`.
    sids: HashMap<String, u64>,
    /// Users deactivated or deleted: their tokens with an `exp` up to this are revoked.
    users: HashMap<i32, u64>,
    /// Where to resume.
    next: Option<i64>,
    /// The last answer.
    answered_at: Option<Instant>,
}

pub(crate) struct Feed {
    held: Mutex<Held>,
    started: Instant,
    enabled: bool,
}

fn lock(m: &Mutex<Held>) -> std::sync::MutexGuard<'_, Held> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The long poll's `wait`: a third of the fail-closed limit, so that a quiet feed answers
/// well before the verifier would give up on it (0 for limits under 3 s: then the feed is
/// asked again every [`SHORT_POLL`]).
fn wait_secs(policy: FeedPolicy) -> u64 {
    match policy {
        FeedPolicy::FailClosedAfter(limit) => (limit.as_secs() / 3).min(25),
        FeedPolicy::SignaturesOnly => 25,
    }
}

/// The pause between two polls that do not wait.
const SHORT_POLL: Duration = Duration::from_millis(100);

impl Feed {
    pub(crate) fn new(settings: &Settings) -> Self {
        Self {
            held: Mutex::default(),
            started: Instant::now(),
            enabled: settings.feed_token.is_some(),
        }
    }

    pub(crate) fn held(&self) -> usize {
        let held = lock(&self.held);
        held.sids.len() + held.users.len()
    }

    fn last_answer_age(&self) -> Duration {
        since(lock(&self.held).answered_at.unwrap_or(self.started))
    }

    pub(crate) fn is_current(&self, settings: &Settings) -> bool {
        let limit = match settings.feed_policy {
            FeedPolicy::FailClosedAfter(limit) => limit,
            FeedPolicy::SignaturesOnly => CURRENT_WITHOUT_LIMIT,
        };
        self.enabled && lock(&self.held).answered_at.is_some() && self.last_answer_age() <= limit
    }

    /// Refuses a token whose session or user the feed revoked; under fail-closed, refuses
    /// every token once the feed has not answered for the limit.
    pub(crate) fn check(&self, settings: &Settings, claims: &Claims) -> Result<(), VerifyError> {
        if !self.enabled {
            return Ok(());
        }
        if let FeedPolicy::FailClosedAfter(limit) = settings.feed_policy
            && self.last_answer_age() > limit
        {
            return Err(VerifyError::Unavailable);
        }
        let held = lock(&self.held);
        if let Some(sid) = &claims.sid
            && held.sids.contains_key(sid)
        {
            return Err(VerifyError::Revoked);
        }
        if held
            .users
            .get(&claims.sub.get())
            .is_some_and(|&revoked_up_to| claims.exp <= revoked_up_to)
        {
            return Err(VerifyError::Revoked);
        }
        Ok(())
    }

    fn apply(&self, page: Page) {
        let mut held = lock(&self.held);
        let now = unix_now();
        for e in page.events {
            if e.exp < now {
                continue;
            }
            if let Some(sid) = e.sid {
                held.sids.insert(sid, e.exp);
            }
            if let Some(user) = e.user_id {
                let up_to = held.users.entry(user).or_insert(0);
                *up_to = (*up_to).max(e.exp);
            }
        }
        held.sids.retain(|_, exp| *exp >= now);
        held.users.retain(|_, exp| *exp >= now);
        held.next = Some(page.next);
        held.answered_at = Some(Instant::now());
    }
}

/// One request to the feed: `Ok(true)` when it answered with events (read on at once).
fn poll(shared: &Shared, wait: u64) -> Result<bool, String> {
    let Some(token) = shared.settings.feed_token.as_deref() else {
        return Ok(false);
    };
    let next = lock(&shared.feed.held).next;
    let mut url = format!("{}/auth/revocations?wait={wait}", shared.settings.base_url);
    if let Some(next) = next {
        url.push_str(&format!("&after={next}"));
    }
    let mut res = shared
        .agent
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .config()
        .timeout_global(Some(
            shared.settings.http_timeout + Duration::from_secs(wait),
        ))
        .build()
        .call()
        .map_err(|e| e.to_string())?;
    if res.status() != 200 {
        return Err(format!("the feed answered {}", res.status()));
    }
    let body = res
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("the feed's answer cannot be read: {e}"))?;
    let answer: Answer = serde_json::from_str(&body)
        .map_err(|e| format!("the feed's answer cannot be read: {e}"))?;
    let got = !answer.data.events.is_empty();
    shared.feed.apply(answer.data);
    Ok(got)
}

/// Reads everything kept, once, at start (no waiting).
pub(crate) fn catch_up(shared: &Shared) {
    loop {
        match poll(shared, 0) {
            Ok(true) => continue,
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "users-verifier: the revocation feed cannot be read; retrying");
                return;
            }
        }
    }
}

/// Follows the feed until the verifier is dropped.
pub(crate) fn follow(shared: &Shared) {
    let wait = wait_secs(shared.settings.feed_policy);
    let mut backoff = Duration::from_millis(500);
    let mut down = false;
    while !shared.stop.load(Ordering::SeqCst) {
        match poll(shared, wait) {
            Ok(got) => {
                if down {
                    tracing::info!("users-verifier: the revocation feed answers again");
                }
                down = false;
                backoff = Duration::from_millis(500);
                if wait == 0 && !got {
                    std::thread::sleep(SHORT_POLL);
                }
            }
            Err(e) => {
                if !down {
                    tracing::warn!(error = %e, "users-verifier: the revocation feed cannot be read; backing off");
                }
                down = true;
                let until = Instant::now() + backoff;
                while Instant::now() < until && !shared.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_stays_inside_the_fail_closed_limit() {
        assert_eq!(
            wait_secs(FeedPolicy::FailClosedAfter(Duration::from_secs(10))),
            3
        );
        assert_eq!(
            wait_secs(FeedPolicy::FailClosedAfter(Duration::from_secs(1))),
            0
        );
        assert_eq!(
            wait_secs(FeedPolicy::FailClosedAfter(Duration::from_secs(600))),
            25
        );
        assert_eq!(wait_secs(FeedPolicy::SignaturesOnly), 25);
    }
}
