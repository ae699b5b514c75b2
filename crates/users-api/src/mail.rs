//! Mail: the links of Part C (verification, address change, password reset) and the notice
//! to an old address, queued in the database outbox and delivered over SMTP (`lettre`) by a
//! background thread of every instance.
//!
//! A request never talks to the SMTP server: it writes the token and the mail in one
//! transaction (`users_db::mail`) and wakes the delivery thread. The thread claims due
//! mails for a lease (no two instances hold one mail at once), sends each over a connection
//! of its own, and records the outcome: sent (the body is erased), retried later with
//! exponential backoff (the server unreachable, a timeout or a 4xx: 2 s, then doubling, at
//! most 60 s), or given up (a 5xx, or `MAIL_MAX_ATTEMPTS` reached). A mail whose holder died
//! is taken again when its lease ends, so delivery survives a restart and is at least once.
//!
//! Bodies are stored sealed (XChaCha20-Poly1305 under an HKDF key from `SECRET_KEY` with a
//! label of its own), so no table holds a link token in plain text; tokens themselves are
//! stored as SHA-256 hashes only.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::TimeDelta;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{SmtpTransport, Transport as _};
use users_db::mail::{Claimed, NewMail, NewToken, Queued, TokenPurpose};
use users_db::{DbError, DbPool};
use users_domain::{User, UserId, now_utc};

use crate::config::{Config, Profile};
use crate::error::{ApiError, ErrorChain, Word};
use crate::metrics::Metrics;
use crate::opaque::OpaqueToken;
use crate::state::AppState;

/// `Subject` of the verification mail.
pub const SUBJECT_VERIFY: &str = "Verify your email address";
/// `Subject` of the confirmation mail to a new address.
pub const SUBJECT_CHANGE: &str = "Confirm your new email address";
/// `Subject` of the notice to the old address.
pub const SUBJECT_NOTICE: &str = "Your email address was changed";
/// `Subject` of the password reset mail.
pub const SUBJECT_RESET: &str = "Reset your password";

/// 503 of the routes that send mail, in production without `SMTP_URL`.
pub const NOT_CONFIGURED: &str = "Email delivery is not configured.";

/// Checks `SMTP_URL` as lettre reads it (scheme, host, `tls`); the URL, unchanged.
pub fn check_smtp_url(url: &str) -> Result<String, String> {
    SmtpTransport::from_url(url).map_err(|e| {
        format!(
            "is not smtp://[user:pass@]host[:port][?tls=required] or smtps://…: {}",
            ErrorChain(&e)
        )
    })?;
    Ok(url.to_owned())
}

/// Checks `MAIL_FROM` as a mailbox (`Name <address>` or `address`); the text, unchanged.
pub fn check_mailbox(from: &str) -> Result<String, String> {
    from.parse::<Mailbox>()
        .map_err(|e| format!("{from:?} is not a mailbox: {e}"))?;
    Ok(from.to_owned())
}

/// Keys and the wake-up line of the mail machinery; one per process, in [`AppState`].
pub struct Mailer {
    sealer: users_domain::totp::Sealer,
    wake_tx: crossbeam_channel::Sender<()>,
    wake_rx: crossbeam_channel::Receiver<()>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailer(<redacted>)")
    }
}

impl Mailer {
    /// The sealing key is HKDF-SHA256 of `secret_key` with a label of its own.
    pub fn new(secret_key: &[u8]) -> Self {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        Self {
            sealer: users_domain::totp::Sealer::new(secret_key, "users-service/mail-body/v1"),
            wake_tx,
            wake_rx,
        }
    }

    fn seal(&self, recipient: &str, body: &str) -> Result<String, ApiError> {
        self.sealer
            .seal(body.as_bytes(), recipient.as_bytes())
            .map_err(ApiError::internal)
    }

    fn open(&self, recipient: &str, sealed: &str) -> Option<String> {
        let bytes = self.sealer.open(sealed, recipient.as_bytes()).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Tells the delivery thread that a mail is due (it also polls, for other instances'
    /// mail).
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }
}

/// Whether this process may queue mail: with `SMTP_URL`, or outside production (where mail
/// is written to the log). Otherwise the routes that send mail answer 503.
pub fn ensure_configured(config: &Config) -> Result<(), ApiError> {
    if config.mail.smtp_url.is_some() || config.profile != Profile::Production {
        return Ok(());
    }
    Err(ApiError::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        Word::Error,
        NOT_CONFIGURED,
    ))
}

/// "24 hours", "1 hour", "30 minutes", for the mail text.
fn lifetime_text(secs: u32) -> String {
    let plural = |n: u32, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs >= 60 {
        plural(secs.div_ceil(60), "minute")
    } else {
        plural(secs, "second")
    }
}

/// The mail of a link: subject, page path and the sentence before the link.
fn link_mail(purpose: TokenPurpose) -> (&'static str, &'static str, &'static str) {
    match purpose {
        TokenPurpose::Verify => (
            SUBJECT_VERIFY,
            "/verify-email",
            "To verify your email address, open this link and press the button:",
        ),
        TokenPurpose::Change => (
            SUBJECT_CHANGE,
            "/verify-email",
            "To make this your account's email address, open this link and press the button:",
        ),
        TokenPurpose::Reset => (
            SUBJECT_RESET,
            "/reset-password",
            "To choose a new password, open this link:",
        ),
    }
}

/// The link of a token: `{APP_URL}{page}?token=T`.
pub fn link(config: &Config, purpose: TokenPurpose, token: &str) -> String {
    let (_, page, _) = link_mail(purpose);
    format!("{}{page}?token={token}", config.mail.app_url)
}

fn greeting(username: Option<&str>) -> String {
    username.map_or_else(|| "Hello,".to_owned(), |name| format!("Hello {name},"))
}

fn link_body(
    config: &Config,
    username: Option<&str>,
    purpose: TokenPurpose,
    token: &str,
    ttl: u32,
) -> String {
    let (_, _, lead) = link_mail(purpose);
    format!(
        "{hello}\n\n{lead}\n\n{link}\n\nThe link works once and expires in {ttl}. \
         If you did not ask for this, you can ignore this mail.\n",
        hello = greeting(username),
        link = link(config, purpose, token),
        ttl = lifetime_text(ttl),
    )
}

fn notice_body(username: Option<&str>, new_email: &str) -> String {
    format!(
        "{hello}\n\nSomeone signed in to your account asked to change its email address \
         to {new_email}. The change takes effect when the new address is confirmed.\n\n\
         If this was not you, change your password now and contact us.\n",
        hello = greeting(username),
    )
}

/// Whom a mail is about: the account's id, name and current address.
#[derive(Debug, Clone, Copy)]
pub struct Addressee<'a> {
    /// The account (a placeholder until it is inserted: see [`Pending::for_user`]).
    pub id: UserId,
    /// Its username, for the greeting (none: a plain "Hello,").
    pub username: Option<&'a str>,
    /// Its current address.
    pub email: &'a str,
}

impl<'a> From<&'a User> for Addressee<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id,
            username: Some(user.username.as_str()),
            email: user.email.as_str(),
        }
    }
}

/// What to write for one link mail (and the notice that goes with an address change):
/// run [`Pending::queue`] inside the transaction that makes the mail due (a registration,
/// say), or [`send_link`] on its own. The body is composed and sealed here, off the
/// database.
#[derive(Debug, Clone)]
pub struct Pending {
    user_id: UserId,
    token: NewToken,
    mails: Vec<NewMail>,
    max_per_hour: i64,
}

impl Pending {
    /// A new token of `purpose` and its link to `to` for `who`; for
    /// [`TokenPurpose::Change`] also the notice to `who`'s current address.
    pub fn new(
        config: &Config,
        mailer: &Mailer,
        who: Addressee<'_>,
        purpose: TokenPurpose,
        to: &str,
    ) -> Result<Self, ApiError> {
        let token = OpaqueToken::generate()?;
        let ttl = match purpose {
            TokenPurpose::Reset => config.mail.reset_ttl_secs,
            TokenPurpose::Verify | TokenPurpose::Change => config.mail.email_token_ttl_secs,
        };
        let (subject, _, _) = link_mail(purpose);
        let body = link_body(config, who.username, purpose, token.as_str(), ttl);
        let stored = NewToken {
            token_hash: OpaqueToken::hash(token.as_str()),
            purpose,
            email: to.to_owned(),
            expires_at: now_utc() + TimeDelta::seconds(i64::from(ttl)),
        };
        let mut mails = vec![NewMail {
            user_id: who.id,
            purpose: purpose.as_str(),
            recipient: to.to_owned(),
            subject: subject.to_owned(),
            body_sealed: mailer.seal(to, &body)?,
        }];
        if purpose == TokenPurpose::Change {
            mails.push(NewMail {
                user_id: who.id,
                purpose: users_db::mail::NOTICE,
                recipient: who.email.to_owned(),
                subject: SUBJECT_NOTICE.to_owned(),
                body_sealed: mailer.seal(who.email, &notice_body(who.username, to))?,
            });
        }
        Ok(Self {
            user_id: who.id,
            token: stored,
            mails,
            max_per_hour: i64::from(config.mail.max_per_hour),
        })
    }

    /// For a user inserted in the same transaction: its id is known only then.
    pub fn for_user(mut self, id: UserId) -> Self {
        self.user_id = id;
        for mail in &mut self.mails {
            mail.user_id = id;
        }
        self
    }

    /// Writes the token and its mails (or nothing, past the hourly cap).
    pub fn queue(&self, conn: &mut users_db::DbConnection) -> Result<Queued, DbError> {
        users_db::mail::queue_with_token(
            conn,
            self.user_id,
            &self.token,
            &self.mails,
            now_utc(),
            self.max_per_hour,
        )
    }
}

/// Queues a link of `purpose` to `to` for `who` in a transaction of its own and wakes the
/// delivery thread. Past the hourly cap nothing is written (the caller answers as usual).
pub async fn send_link(
    state: &AppState,
    who: Addressee<'_>,
    purpose: TokenPurpose,
    to: &str,
) -> Result<Queued, ApiError> {
    ensure_configured(&state.config)?;
    let pending = Pending::new(&state.config, &state.mailer, who, purpose, to)?;
    let queued = state.db(move |conn| pending.queue(conn)).await?;
    state.mailer.wake();
    Ok(queued)
}

// ---------------------------------------------------------------------------------------
// Delivery.

/// How the delivery thread works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Longest sleep between looks at the outbox (mail queued by other instances is seen
    /// within it; this instance's own wakes the thread at once).
    pub poll: Duration,
    /// How long a claim holds a mail; a holder that died lets it go after this.
    pub lease: Duration,
    /// Mails claimed at once.
    pub batch: i64,
    /// SMTP connect and read/write timeout.
    pub smtp_timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(300),
            batch: 16,
            smtp_timeout: Duration::from_secs(20),
        }
    }
}

/// The delay before attempt `attempts + 1`: 2 s after the first, doubling, at most 60 s.
pub fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 6) - 1).unwrap_or(0);
    Duration::from_secs((2u64 << exp).min(60))
}

/// The running delivery thread: dropping it stops the thread (after the mail in hand).
#[derive(Debug)]
pub struct Delivery {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Delivery {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where mail goes.
enum Outlet {
    Smtp(SmtpTransport),
    /// Development and testing without `SMTP_URL`: the mail is written to the log.
    Log,
}

/// Starts the delivery thread of `state`. In production without `SMTP_URL` there is none
/// (nothing is queued there). Keep the value for as long as the service runs.
pub fn spawn(state: &AppState) -> Delivery {
    spawn_with(state, DeliverySettings::default())
}

/// [`spawn`] with explicit settings (tests use a short poll).
pub fn spawn_with(state: &AppState, settings: DeliverySettings) -> Delivery {
    let none = Delivery {
        stop: None,
        thread: None,
    };
    let outlet = match &state.config.mail.smtp_url {
        Some(url) => match SmtpTransport::from_url(url) {
            Ok(builder) => Outlet::Smtp(builder.timeout(Some(settings.smtp_timeout)).build()),
            Err(e) => {
                tracing::error!(error = %ErrorChain(&e), "mail: SMTP_URL unusable; mail is not delivered");
                return none;
            }
        },
        None if state.config.profile == Profile::Production => return none,
        None => Outlet::Log,
    };
    let from = match state.config.mail.from.parse::<Mailbox>() {
        Ok(from) => from,
        Err(e) => {
            tracing::error!(error = %e, "mail: MAIL_FROM unusable; mail is not delivered");
            return none;
        }
    };
    let worker = Worker {
        pool: state.pool.clone(),
        mailer: Arc::clone(&state.mailer),
        metrics: Arc::clone(&state.metrics),
        outlet,
        from,
        max_attempts: i32::try_from(state.config.mail.max_attempts).unwrap_or(i32::MAX),
        settings,
    };
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let thread = std::thread::Builder::new()
        .name("mail".into())
        .spawn(move || worker.run(&stopped));
    match thread {
        Ok(thread) => Delivery {
            stop: Some(stop),
            thread: Some(thread),
        },
        Err(e) => {
            tracing::error!(error = %e, "mail: cannot start the delivery thread");
            none
        }
    }
}

struct Worker {
    pool: DbPool,
    mailer: Arc<Mailer>,
    metrics: Arc<Metrics>,
    outlet: Outlet,
    from: Mailbox,
    max_attempts: i32,
    settings: DeliverySettings,
}

/// What one attempt came to.
enum Attempt {
    Sent,
    Retry(String),
    GiveUp(String),
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Worker {
    fn run(&self, stopped: &crossbeam_channel::Receiver<()>) {
        loop {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.round()));
            let wait = match outcome {
                Ok(Ok(Some(wait))) => wait,
                Ok(Ok(None)) => Duration::ZERO,
                Ok(Err(e)) => {
                    tracing::warn!(error = %ErrorChain(&e), "mail: outbox unreachable; retrying");
                    self.settings.poll
                }
                Err(_) => {
                    tracing::error!("mail: a delivery round panicked; retrying");
                    self.settings.poll
                }
            };
            if wait.is_zero() {
                if stopped.try_recv() != Err(crossbeam_channel::TryRecvError::Empty) {
                    return;
                }
                continue;
            }
            crossbeam_channel::select! {
                recv(stopped) -> _ => return,
                recv(self.mailer.wake_rx) -> _ => {}
                default(wait) => {}
            }
        }
    }

    /// Claims and delivers one batch. `None`: a full batch, look again at once; otherwise
    /// how long to sleep (until the next due mail, at most the poll interval).
    fn round(&self) -> Result<Option<Duration>, DbError> {
        let now = now_utc();
        let lease_until = now + delta(self.settings.lease);
        let claimed = users_db::with_conn(&self.pool, |conn| {
            users_db::mail::claim(conn, now, lease_until, self.settings.batch)
        })?;
        let full = i64::try_from(claimed.len()).unwrap_or(i64::MAX) >= self.settings.batch;
        for mail in claimed {
            self.deliver(mail)?;
        }
        let (backlog, due) = users_db::with_conn(&self.pool, |conn| {
            Ok((
                users_db::mail::backlog(conn)?,
                users_db::mail::next_due(conn)?,
            ))
        })?;
        self.metrics.mail_backlog.set(backlog);
        if full {
            return Ok(None);
        }
        let until_due = due.map_or(self.settings.poll, |due| {
            (due - now_utc())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(10))
        });
        Ok(Some(until_due.min(self.settings.poll)))
    }

    fn deliver(&self, mail: Claimed) -> Result<(), DbError> {
        let attempt = self.attempt(&mail);
        let now = now_utc();
        users_db::with_conn(&self.pool, |conn| match attempt {
            Attempt::Sent => {
                self.metrics.mail_sent.inc();
                users_db::mail::mark_sent(conn, mail.id, now).map(drop)
            }
            Attempt::Retry(error) if mail.attempts < self.max_attempts => {
                self.metrics.mail_retried.inc();
                let next = now + delta(backoff(mail.attempts));
                tracing::info!(mail_id = mail.id, attempts = mail.attempts, error = %error, "mail: delivery failed for now; will retry");
                users_db::mail::mark_retry(conn, mail.id, next, &error).map(drop)
            }
            Attempt::Retry(error) | Attempt::GiveUp(error) => {
                self.metrics.mail_failed.inc();
                tracing::warn!(mail_id = mail.id, attempts = mail.attempts, error = %error, "mail: given up");
                users_db::mail::mark_failed(conn, mail.id, now, &error).map(drop)
            }
        })
    }

    fn attempt(&self, mail: &Claimed) -> Attempt {
        let Some(body) = mail
            .body
            .as_deref()
            .and_then(|sealed| self.mailer.open(&mail.recipient, sealed))
        else {
            // Sealed under another SECRET_KEY, or erased: nothing can be sent.
            return Attempt::GiveUp("the body cannot be opened".to_owned());
        };
        let to = match mail.recipient.parse::<Mailbox>() {
            Ok(to) => to,
            Err(e) => return Attempt::GiveUp(format!("bad recipient: {e}")),
        };
        match &self.outlet {
            Outlet::Log => {
                tracing::info!(
                    mail_id = mail.id,
                    to = %mail.recipient,
                    subject = %mail.subject,
                    body = %body,
                    "mail (not sent: no SMTP_URL)"
                );
                Attempt::Sent
            }
            Outlet::Smtp(transport) => {
                let message = Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(mail.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(body);
                let message = match message {
                    Ok(m) => m,
                    Err(e) => return Attempt::GiveUp(format!("cannot build the message: {e}")),
                };
                match transport.send(&message) {
                    Ok(_) => Attempt::Sent,
                    Err(e) if e.is_permanent() => Attempt::GiveUp(ErrorChain(&e).to_string()),
                    Err(e) => Attempt::Retry(ErrorChain(&e).to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_within_five_seconds_doubles_and_stops_at_a_minute() {
        let secs: Vec<u64> = (1..=8).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(0).as_secs(), 2);
        assert_eq!(backoff(i32::MAX).as_secs(), 60);
    }

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime_text(86_400), "24 hours");
        assert_eq!(lifetime_text(3600), "1 hour");
        assert_eq!(lifetime_text(1800), "30 minutes");
        assert_eq!(lifetime_text(90), "2 minutes");
        assert_eq!(lifetime_text(60), "1 minute");
    }

    #[test]
    fn smtp_urls_and_mailboxes_are_checked() {
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(check_smtp_url("smtp://u:p@relay.example.com:587?tls=required").is_ok());
        assert!(check_smtp_url("smtps://u:p@smtp.example.com").is_ok());
        assert!(check_smtp_url("http://example.com").is_err());
        assert!(check_smtp_url("smtp://").is_err());
        assert!(check_mailbox("users-service <no-reply@localhost>").is_ok());
        assert!(check_mailbox("not a mailbox").is_err());
    }

    #[test]
    fn sealed_bodies_open_only_for_their_recipient() {
        let m = Mailer::new(b"a secret key of at least thirty-two bytes");
        let sealed = m.seal("ann@example.com", "the link").unwrap();
        assert!(!sealed.contains("the link"));
        assert_eq!(
            m.open("ann@example.com", &sealed).as_deref(),
            Some("the link")
        );
        assert_eq!(m.open("bob@example.com", &sealed), None);
        let other = Mailer::new(b"another secret key of thirty-two bytes!");
        assert_eq!(other.open("ann@example.com", &sealed), None);
    }
}
