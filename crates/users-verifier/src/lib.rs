#![doc = include_str!("../README.md")]

mod feed;
mod keys;

#[cfg(feature = "actix")]
pub mod actix;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use users_domain::Claims;

use crate::feed::Feed;
use crate::keys::Keys;

/// What the verifier does when the revocation feed cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedPolicy {
    /// Keep verifying with what was heard until the feed has been unreachable for this
    /// long, then refuse every token ([`VerifyError::Unavailable`]) until it answers again.
    /// The default, with 10 seconds.
    FailClosedAfter(Duration),
    /// Keep verifying signatures and the revocations already heard, however long the feed
    /// is down (a logout made meanwhile is not honoured until it is back).
    SignaturesOnly,
}

impl Default for FeedPolicy {
    fn default() -> Self {
        Self::FailClosedAfter(Duration::from_secs(10))
    }
}

/// Where the verification keys come from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The service's JWKS (`GET /.well-known/jwks.json`): EdDSA, ES256 or RS256.
    Jwks,
    /// The service's `SECRET_KEY`, for HS256 (a shared secret is never published).
    Secret(Vec<u8>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Jwks => f.write_str("Jwks"),
            Self::Secret(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

/// How to reach and trust the users service.
#[derive(Clone)]
pub struct Settings {
    /// The service's base URL, e.g. `http://users:5000` (no trailing `/`).
    pub base_url: String,
    /// JWKS or shared secret.
    pub keys: KeySource,
    /// Required `iss`, when the service sets `JWT_ISSUER`.
    pub issuer: Option<String>,
    /// Required `aud`, when the service sets `JWT_AUDIENCE`.
    pub audience: Option<String>,
    /// The service's `REVOCATION_FEED_TOKEN`; without it, logouts are not honoured (the
    /// verifier checks signatures only).
    pub feed_token: Option<String>,
    /// What to do while the feed is unreachable.
    pub feed_policy: FeedPolicy,
    /// The fewest seconds between two JWKS fetches caused by an unknown `kid` (a flood of
    /// forged `kid`s costs at most one fetch per cool-down).
    pub jwks_cooldown: Duration,
    /// Timeout of one HTTP request (a long poll adds its wait).
    pub http_timeout: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("base_url", &self.base_url)
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "feed_token",
                &self.feed_token.as_ref().map(|_| "<redacted>"),
            )
            .field("feed_policy", &self.feed_policy)
            .field("jwks_cooldown", &self.jwks_cooldown)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// JWKS keys, no `iss`/`aud`, no feed, fail closed after 10 s, a 30 s JWKS cool-down.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            keys: KeySource::Jwks,
            issuer: None,
            audience: None,
            feed_token: None,
            feed_policy: FeedPolicy::default(),
            jwks_cooldown: Duration::from_secs(30),
            http_timeout: Duration::from_secs(5),
        }
    }

    /// Verify HS256 tokens with the service's `SECRET_KEY`.
    pub fn secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.keys = KeySource::Secret(secret.into());
        self
    }

    /// Follow the revocation feed with this `REVOCATION_FEED_TOKEN`.
    pub fn feed_token(mut self, token: impl Into<String>) -> Self {
        self.feed_token = Some(token.into());
        self
    }

    /// Require this `iss`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Require this `aud`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// What to do while the feed is unreachable.
    pub fn feed_policy(mut self, policy: FeedPolicy) -> Self {
        self.feed_policy = policy;
        self
    }

    /// The JWKS cool-down.
    pub fn jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_cooldown = cooldown;
        self
    }

    fn token_settings(&self) -> auth_token::TokenSettings {
        auth_token::TokenSettings {
            expiration_days: 0,
            expiration_seconds: 0,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
        }
    }
}

/// Why a token is refused. `Display` is the users service's own message for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a token of the service: bad shape, signature, algorithm, key, `iss` or `aud`.
    #[error("Invalid token. Please log in again.")]
    Invalid,
    /// Past its `exp`.
    #[error("Signature expired. Please log in again.")]
    Expired,
    /// Its session was revoked (logout, ...) or its user deactivated or deleted.
    #[error("Token revoked. Please log in again.")]
    Revoked,
    /// The keys or the revocation feed cannot be reached (see [`FeedPolicy`]).
    #[error("Service unavailable. Try again later.")]
    Unavailable,
}

impl VerifyError {
    /// The HTTP status a resource server answers with: 401, or 503 for `Unavailable`.
    pub fn status(self) -> u16 {
        match self {
            Self::Unavailable => 503,
            _ => 401,
        }
    }
}

/// Why an `Authorization` header is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No header (or an empty one): 403.
    #[error("Provide a valid auth token.")]
    Missing,
    /// The header is not `Bearer <token>`, or the token is refused.
    #[error(transparent)]
    Token(#[from] VerifyError),
}

impl AuthError {
    /// The HTTP status: 403 without a header, else the token error's.
    pub fn status(self) -> u16 {
        match self {
            Self::Missing => 403,
            Self::Token(e) => e.status(),
        }
    }
}

/// A verifier could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HS256 secret is empty or unusable.
    #[error("the secret cannot be used")]
    Secret(#[source] auth_token::KeyError),
    /// The feed thread could not be started.
    #[error("cannot start the revocation feed thread")]
    Thread(#[source] std::io::Error),
}

/// What every clone of a [`Verifier`] shares with the feed thread.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) agent: ureq::Agent,
    pub(crate) keys: Keys,
    pub(crate) feed: Feed,
    pub(crate) stop: AtomicBool,
}

/// Stops the feed thread when the last [`Verifier`] clone goes.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

/// Verifies the users service's access tokens offline, and refuses those its revocation
/// feed revoked. Cheap to clone (one shared state); `Send + Sync`.
#[derive(Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Verifier {
    /// Makes a verifier: fetches the JWKS and reads the revocation feed once (a failure of
    /// either is not fatal: they are retried), then follows the feed on a thread of its own
    /// for as long as a clone of the verifier lives.
    pub fn start(settings: Settings) -> Result<Self, StartError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(settings.http_timeout))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::NativeTls)
                    .build(),
            )
            .build()
            .into();
        let keys = Keys::new(&settings).map_err(StartError::Secret)?;
        let shared = Arc::new(Shared {
            feed: Feed::new(&settings),
            settings,
            agent,
            keys,
            stop: AtomicBool::new(false),
        });
        shared.keys.refresh_if_needed(&shared);
        if shared.settings.feed_token.is_some() {
            feed::catch_up(&shared);
            let thread_state = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("users-verifier-feed".into())
                .spawn(move || feed::follow(&thread_state))
                .map_err(StartError::Thread)?;
        }
        Ok(Self {
            _stop: Arc::new(StopOnDrop(Arc::clone(&shared))),
            shared,
        })
    }

    /// Verifies a token: its signature (with the key its `kid` names, fetched again when
    /// unknown, at most once per cool-down), `exp` with zero leeway, `iss`/`aud` when set,
    /// then that the feed revoked neither its session nor its user.
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims = self.shared.keys.verify(&self.shared, token)?;
        self.shared.feed.check(&self.shared.settings, &claims)?;
        Ok(claims)
    }

    /// Verifies the value of an `Authorization` header (`None` when absent), as the users
    /// service does: no header 403, not `Bearer <token>` 401.
    pub fn verify_authorization(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let header = header.filter(|h| !h.is_empty()).ok_or(AuthError::Missing)?;
        let (scheme, token) = header.split_once(' ').ok_or(VerifyError::Invalid)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(VerifyError::Invalid.into());
        }
        Ok(self.verify(token)?)
    }

    /// JWKS documents fetched so far.
    pub fn jwks_fetches(&self) -> u64 {
        self.shared.keys.fetches()
    }

    /// Whether the feed answered within the fail-closed limit (or the last 10 s with
    /// [`FeedPolicy::SignaturesOnly`]); always false without a feed token.
    pub fn feed_is_current(&self) -> bool {
        self.shared.feed.is_current(&self.shared.settings)
    }

    /// Revocations held in memory (sessions and users), until their `exp`.
    pub fn revocations_held(&self) -> usize {
        self.shared.feed.held()
    }
}

/// How long ago `at` was, saturating.
pub(crate) fn since(at: Instant) -> Duration {
    Instant::now().saturating_duration_since(at)
}
