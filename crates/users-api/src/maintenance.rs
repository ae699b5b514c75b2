//! Periodic upkeep of the database, in the background of `serve`: deletes sessions past
//! their end and failed logins older than the throttling window (`users_db::purge`), and
//! fills in the folded search columns of rows written by plain SQL
//! (`users_db::users::backfill_folded`).
//!
//! One thread per process, not a worker of the async runtime: it sleeps between runs and
//! takes a pooled connection only for one bounded batch at a time, so requests never wait
//! behind it for long. Every instance runs it; the purge is safe with many at once. Errors
//! (the database down, say) are logged and the next run tries again; it never panics the
//! process.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use users_db::{DbError, DbPool};

use crate::config::Config;
use crate::state::AppState;

/// What a run does, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Time between runs; the first one comes after a random part of it, so that instances
    /// started together do not purge together.
    pub interval: Duration,
    /// Most rows one statement deletes.
    pub batch: i64,
    /// Most batches per table in one run; the rest waits for the next run.
    pub max_batches: usize,
    /// How long revoked sessions are kept: the access-token lifetime, so that the tokens of a
    /// revoked session meet its row (and the message that it was revoked) until they expire.
    pub revoked_retention: TimeDelta,
    /// The throttling window: failed logins older than this no longer count.
    pub failure_window: TimeDelta,
}

impl Settings {
    /// Every 60 s, batches of 500, at most 20 batches per table and run; retention and
    /// window from the configuration.
    pub fn from_config(config: &Config) -> Self {
        let secs = |s: u64| TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        Self {
            interval: Duration::from_secs(60),
            batch: 500,
            max_batches: 20,
            revoked_retention: secs(config.token.lifetime_secs()),
            failure_window: secs(u64::from(config.throttle.window_secs)),
        }
    }
}

/// What one run deleted or filled in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Sessions deleted.
    pub sessions: usize,
    /// Failed logins deleted.
    pub login_failures: usize,
    /// Users whose folded search columns were filled in.
    pub folded: usize,
    /// Expired `mfa_token`s deleted.
    pub mfa_tokens: usize,
    /// Revocation events past their `exp` deleted.
    pub revocation_events: usize,
    /// Finished mails (sent or given up) older than a day deleted.
    pub mails: usize,
    /// Expired mail tokens deleted.
    pub mail_tokens: usize,
}

/// The running task: dropping it stops the thread (and waits for a run in progress).
#[derive(Debug)]
pub struct Maintenance {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the task for the service's pool and configuration. Keep the value for as long as
/// the service runs.
pub fn spawn(state: &AppState) -> Maintenance {
    spawn_with(state.pool.clone(), Settings::from_config(&state.config))
}

/// Starts the task with explicit settings (tests use a short interval).
pub fn spawn_with(pool: DbPool, settings: Settings) -> Maintenance {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("maintenance".into())
        .spawn(move || {
            let mut wait = jitter(settings.interval);
            // Wakes on the interval; ends when the `Maintenance` is dropped.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                wait = settings.interval;
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_once(&pool, &settings, users_domain::now_utc())
                }));
                match outcome {
                    Ok(Ok(report)) => tracing::debug!(
                        sessions = report.sessions,
                        login_failures = report.login_failures,
                        folded = report.folded,
                        mfa_tokens = report.mfa_tokens,
                        revocation_events = report.revocation_events,
                        mails = report.mails,
                        mail_tokens = report.mail_tokens,
                        "maintenance: purged"
                    ),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %crate::error::ErrorChain(&e), "maintenance: run failed; retrying at the next interval");
                    }
                    Err(_) => tracing::error!("maintenance: run panicked; retrying at the next interval"),
                }
            }
        });
    match thread {
        Ok(thread) => Maintenance {
            stop: Some(stop),
            thread: Some(thread),
        },
        Err(e) => {
            tracing::error!(error = %e, "maintenance: cannot start its thread; tables are not purged");
            Maintenance {
                stop: None,
                thread: None,
            }
        }
    }
}

/// One run at `now`: up to `max_batches` batches per table, each on a connection of its
/// own from the pool, stopping at the first batch that is not full. The first error ends the
/// run (what was deleted before it stays deleted).
pub fn run_once(pool: &DbPool, settings: &Settings, now: NaiveDateTime) -> Result<Report, DbError> {
    let mut report = Report::default();
    let revoked_before = now - settings.revoked_retention;
    report.sessions = batches(settings, || {
        users_db::with_conn(pool, |conn| {
            users_db::purge::sessions(conn, now, revoked_before, settings.batch)
        })
    })?;
    let forget_before = now - settings.failure_window;
    report.login_failures = batches(settings, || {
        users_db::with_conn(pool, |conn| {
            users_db::purge::login_failures(conn, forget_before, settings.batch)
        })
    })?;
    report.mfa_tokens = batches(settings, || {
        users_db::with_conn(pool, |conn| {
            users_db::mfa::purge_login_tokens(conn, now, settings.batch)
        })
    })?;
    // An event matters until every token it revokes has expired: a token lifetime (the
    // revoked-session retention) and a second after it was written.
    let events_before = revoked_before - TimeDelta::seconds(1);
    report.revocation_events = batches(settings, || {
        users_db::with_conn(pool, |conn| {
            users_db::revocations::purge(conn, events_before, settings.batch)
        })
    })?;
    // Finished mails are kept a day (the hourly cap counts them, operators read them);
    // their bodies are already erased.
    let mails_before = now - TimeDelta::days(1);
    report.mails = batches(settings, || {
        users_db::with_conn(pool, |conn| {
            users_db::purge::finished_mail(conn, mails_before, settings.batch)
        })
    })?;
    report.mail_tokens = batches(settings, || {
        users_db::with_conn(pool, |conn| {
            users_db::purge::mail_tokens(conn, now, settings.batch)
        })
    })?;
    report.folded = users_db::with_conn(pool, users_db::users::backfill_folded)?;
    Ok(report)
}

fn batches(
    settings: &Settings,
    mut batch: impl FnMut() -> Result<usize, DbError>,
) -> Result<usize, DbError> {
    let mut total = 0;
    for _ in 0..settings.max_batches {
        let n = batch()?;
        total += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < settings.batch {
            break;
        }
    }
    Ok(total)
}

/// A random duration in `[0, interval)`.
fn jitter(interval: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return interval / 2;
    }
    let millis = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(u64::from_le_bytes(bytes) % millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_the_interval() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(60)) < Duration::from_secs(60));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
