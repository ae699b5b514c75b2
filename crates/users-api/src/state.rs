//! What every handler shares, and the two ways off the async workers: the database pool
//! and the bounded password-hashing pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::web;
use auth_token::{RefreshTokens, SelfTestError, TokenService};

use crate::metrics::Metrics;
use tokio::sync::oneshot;
use users_db::{DbConnection, DbError, DbPool};
use users_domain::{PasswordHasher, PasswordPolicy};

use crate::config::{Config, ConfigError};
use crate::error::ApiError;

/// Shared application state, built once per process.
#[derive(Clone)]
pub struct AppState {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// Database connections.
    pub pool: DbPool,
    /// Token issue and verification.
    pub tokens: Arc<TokenService>,
    /// Refresh-token issue and verification.
    pub refresh: Arc<RefreshTokens>,
    /// Password hashing at the configured cost.
    pub hasher: Arc<PasswordHasher>,
    /// Prometheus series.
    pub metrics: Arc<Metrics>,
    /// The second factor's keys (derived from `SECRET_KEY`).
    pub mfa: Arc<crate::routes::mfa::MfaKeys>,
    /// Mail: the key that seals outbox bodies, and the delivery thread's wake-up.
    pub mailer: Arc<crate::mail::Mailer>,
    /// The user and session records of recent tokens; serves only while its listener
    /// (`auth_cache::spawn`) vouches for it.
    pub auth_cache: Arc<crate::auth_cache::AuthCache>,
    /// Tokens verified before, with their claims.
    pub verified_tokens: Arc<crate::auth_cache::VerifiedTokens>,
    /// Requests being handled right now (the request log middleware keeps it), so that a
    /// shutdown can wait for them.
    pub in_flight: Arc<AtomicUsize>,
    /// Set when the server begins to stop: long polls answer at once instead of holding
    /// the drain for up to their `wait`.
    stopping: Arc<AtomicBool>,
    /// Password hashing runs here, one thread per core, so that a login flood queues
    /// instead of starving the blocking pool that database calls use.
    hash_pool: Arc<HashPool>,
    /// Fails database calls fast while the database is known to be down.
    breaker: Arc<Breaker>,
    /// One permit per pooled connection, handed out first come, first served: a call waits
    /// here (asynchronously, in arrival order) rather than in the pool, whose waiters are
    /// woken in no particular order (see BENCHMARKS.md, the PostgreSQL tail).
    db_gate: Arc<tokio::sync::Semaphore>,
}

type HashJob = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// How long a hashing thread keeps its argon2 memory without work.
const HASH_IDLE: Duration = Duration::from_secs(1);

/// A fixed set of threads that run password hashing jobs in arrival order. Fixed threads
/// also bound argon2's working memory: each thread keeps one buffer while it is busy (see
/// `users_domain::PasswordHasher`) and frees it after `HASH_IDLE` without work, so the
/// process holds at most `threads x ARGON2_MEMORY_KIB`, however many logins it serves.
struct HashPool {
    jobs: crossbeam_channel::Sender<HashJob>,
    /// Threads holding argon2 memory right now.
    holding: Arc<AtomicUsize>,
}

/// One hashing thread: runs jobs from the shared queue until the pool is dropped. Every
/// thread waits on the queue itself (a multi-consumer channel, no lock around it), so a
/// thread that holds memory always gets its idle timeout: none waits behind another.
fn hash_thread(
    jobs: &crossbeam_channel::Receiver<HashJob>,
    hasher: &PasswordHasher,
    holding: &AtomicUsize,
) {
    let mut holds_memory = false;
    loop {
        let job = if holds_memory {
            match jobs.recv_timeout(HASH_IDLE) {
                Ok(job) => job,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    users_domain::release_hash_memory();
                    holds_memory = false;
                    holding.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        };
        if !holds_memory {
            holds_memory = true;
            holding.fetch_add(1, Ordering::SeqCst);
        }
        // A panicking job must not take the thread with it; its caller
        // sees the dropped reply channel as an internal error.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            job(hasher);
        }));
    }
    if holds_memory {
        users_domain::release_hash_memory();
        holding.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashPool {
    fn new(threads: usize, hasher: Arc<PasswordHasher>) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<HashJob>();
        let holding = Arc::new(AtomicUsize::new(0));
        for i in 0..threads {
            let (rx, hasher, holding) = (rx.clone(), Arc::clone(&hasher), Arc::clone(&holding));
            std::thread::Builder::new()
                .name(format!("hash-{i}"))
                .spawn(move || hash_thread(&rx, &hasher, &holding))?;
        }
        Ok(Self { jobs: tx, holding })
    }

    async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: HashJob = Box::new(move |hasher| {
            let _ = reply.send(f(hasher));
        });
        self.jobs.send(job).map_err(|_| {
            ApiError::internal(std::io::Error::other("the hashing threads are gone"))
        })?;
        answer.await.map_err(ApiError::internal)
    }
}

/// A circuit breaker in front of the pool. When a call finds the database unavailable, the
/// circuit opens: further calls answer 503 at once instead of each waiting out the pool
/// timeout (2,000 requests queued behind a dead database waited up to four times that
/// timeout). While it is open, one call at a time goes through as a probe; the first that
/// reaches the database closes it again.
#[derive(Debug, Default)]
struct Breaker {
    open: AtomicBool,
    probing: AtomicBool,
}

/// How a call was let through the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Closed,
    Probe,
}

impl Breaker {
    /// `None`: the circuit is open and a probe is already out, so fail fast.
    fn admit(&self) -> Option<Admission> {
        if !self.open.load(Ordering::SeqCst) {
            return Some(Admission::Closed);
        }
        self.probing
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| Admission::Probe)
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    fn record<T>(&self, result: &Result<T, DbError>) {
        let down = matches!(result, Err(e) if e.is_unavailable());
        if self.open.swap(down, Ordering::SeqCst) != down {
            if down {
                tracing::warn!(
                    "circuit opened: database calls fail fast until a probe reaches the database"
                );
            } else {
                tracing::info!("database reachable again");
            }
        }
    }
}

/// A call let through the breaker. Dropping a probe's ticket lets the next probe out, however
/// the call ended (an answer, a panic, or a blocking pool that never ran it), so the
/// circuit cannot stay open for want of a probe.
struct Ticket {
    breaker: Arc<Breaker>,
    admission: Admission,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.admission == Admission::Probe {
            self.breaker.probing.store(false, Ordering::SeqCst);
        }
    }
}

/// Why the state could not be built. Each cause is the error's source.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The token key or backend does not work.
    #[error("token set-up failed")]
    Token(#[source] ConfigError),
    /// The token service does not verify its own tokens.
    #[error("token set-up failed")]
    SelfTest(#[source] SelfTestError),
    /// The hashing parameters are invalid.
    #[error("password hashing set-up failed")]
    Hash(#[from] users_domain::PasswordError),
    /// The hashing threads could not be started.
    #[error("could not start the password hashing threads")]
    Threads(#[from] std::io::Error),
}

impl AppState {
    /// Builds the state: token service (with its self-test) and password hasher (with its
    /// dummy hash).
    pub fn new(config: Config, pool: DbPool) -> Result<Self, StateError> {
        let tokens = config.token_service().map_err(StateError::Token)?;
        tokens.self_test().map_err(StateError::SelfTest)?;
        let hasher = PasswordHasher::new(config.hash_cost)?;
        let refresh = RefreshTokens::new(&config.secret_key);
        let mfa = Arc::new(crate::routes::mfa::MfaKeys::new(config.secret_key.expose()));
        let mailer = Arc::new(crate::mail::Mailer::new(config.secret_key.expose()));
        let metrics = Arc::new(Metrics::new());
        let verified_tokens = Arc::new(crate::auth_cache::VerifiedTokens::new(
            config.auth_cache_entries,
        ));
        let auth_cache = Arc::new(crate::auth_cache::AuthCache::new(
            config.auth_cache_entries,
            Arc::clone(&metrics),
        ));
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let hasher = Arc::new(hasher);
        let hash_pool = Arc::new(HashPool::new(cores, Arc::clone(&hasher))?);
        Ok(Self {
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            refresh: Arc::new(refresh),
            hasher,
            metrics,
            mfa,
            mailer,
            auth_cache,
            verified_tokens,
            in_flight: Arc::default(),
            stopping: Arc::default(),
            hash_pool,
            breaker: Arc::default(),
            db_gate: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(pool.max_size()).unwrap_or(1).max(1),
            )),
            pool,
        })
    }

    /// Starts the auth cache's listener on this state's database (the cache serves only
    /// while it runs). Keep the value for as long as the service runs.
    pub fn listen(&self) -> crate::auth_cache::ListenerTask {
        // A SQLite database in memory is a different one on every connection: nothing
        // could be heard, so the cache never serves.
        if users_db::DbUrl::parse(&self.config.database_url).is_sqlite_memory() {
            return crate::auth_cache::ListenerTask::none(Arc::clone(&self.auth_cache));
        }
        crate::auth_cache::spawn(
            &self.config.database_url,
            Arc::clone(&self.auth_cache),
            Arc::clone(&self.metrics),
        )
    }

    /// The server is stopping: every long poll answers now with what it has (the feed's
    /// clients poll again, through the load balancer, elsewhere).
    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.auth_cache.changes().notify_waiters();
    }

    /// Whether [`AppState::begin_stop`] was called.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Forgets the cached records of a user whose row or sessions this instance just
    /// changed, so that the answer to the change and every request after it agree (other
    /// instances hear of it from the database).
    pub fn changed_user(&self, id: users_domain::UserId) {
        self.auth_cache.forget_user(id.get());
    }

    /// The password policy for new passwords.
    pub fn password_policy(&self) -> PasswordPolicy {
        self.config.password_policy
    }

    /// Runs `f` with a pooled connection on the blocking pool. A pool timeout or a dead
    /// database becomes 503; other database errors 500.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        Ok(self.db_raw(f).await??)
    }

    /// Like [`db`](Self::db), but hands back the database error for the caller to map (a
    /// duplicate, say); only a blocking pool that is gone (shutdown) is an `ApiError` here.
    /// Every database call of the service takes this one path: the breaker, the time budget
    /// and `users_db::with_conn_within`, which closes a connection a query found dead.
    pub async fn db_raw<T, F>(&self, f: F) -> Result<Result<T, DbError>, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(admission) = self.breaker.admit() else {
            return Ok(Err(DbError::Unavailable(
                "circuit open: the database was found down".into(),
            )));
        };
        // The whole wait (for a permit, then a blocking thread, then a connection) is bounded
        // by the pool timeout, not only the last part.
        let deadline = Instant::now() + self.pool.connection_timeout();
        let ticket = Ticket {
            breaker: Arc::clone(&self.breaker),
            admission,
        };
        let gate = Arc::clone(&self.db_gate);
        let permit = match actix_web::rt::time::timeout(
            self.pool.connection_timeout(),
            gate.acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                let result = Err(DbError::Unavailable(
                    "no connection within the pool timeout".into(),
                ));
                drop(ticket);
                return Ok(result);
            }
        };
        let pool = self.pool.clone();
        web::block(move || {
            let _permit = permit;
            let breaker = &ticket.breaker;
            let left = deadline.saturating_duration_since(Instant::now());
            // A call admitted while the circuit was closed stops waiting as soon as another
            // finds the database down.
            let opened = || admission == Admission::Closed && breaker.is_open();
            let result = if left.is_zero() {
                Err(DbError::Unavailable(
                    "no connection within the pool timeout".into(),
                ))
            } else if opened() {
                Err(DbError::Unavailable(
                    "circuit open: the database was found down".into(),
                ))
            } else {
                users_db::with_conn_within(&pool, left, opened, f)
            };
            breaker.record(&result);
            drop(ticket);
            result
        })
        .await
        .map_err(ApiError::internal)
    }

    /// How many hashing threads hold argon2 working memory now (each frees it after a
    /// second without work).
    pub fn hashing_threads_holding_memory(&self) -> usize {
        self.hash_pool.holding.load(Ordering::SeqCst)
    }

    /// Runs CPU-heavy password work on the hashing threads, one job per core at a time; its time
    /// is recorded as `password_hash_duration_seconds{outcome=op}`.
    pub async fn hashing<T, F>(&self, op: &'static str, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (result, seconds) = self
            .hash_pool
            .run(move |hasher| {
                let started = Instant::now();
                let result = f(hasher);
                (result, started.elapsed().as_secs_f64())
            })
            .await?;
        self.metrics.hash_seconds(op, seconds);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> Result<(), DbError> {
        Err(DbError::Unavailable("connection refused".into()))
    }

    #[test]
    fn the_breaker_opens_on_unavailable_and_lets_one_probe_through() {
        let b = Arc::new(Breaker::default());
        let ticket = |admission| Ticket {
            breaker: Arc::clone(&b),
            admission,
        };
        assert_eq!(b.admit(), Some(Admission::Closed));
        b.record(&down());
        // Open: one probe at a time, every other call fails fast.
        let probe = ticket(b.admit().unwrap());
        assert_eq!(probe.admission, Admission::Probe);
        assert_eq!(b.admit(), None);
        assert_eq!(b.admit(), None);
        // The probe finds it still down: still open, the next call probes again.
        b.record(&down());
        drop(probe);
        let probe = ticket(b.admit().unwrap());
        assert_eq!(probe.admission, Admission::Probe);
        // The probe reaches it: closed for everybody.
        b.record(&Ok(()));
        drop(probe);
        assert_eq!(b.admit(), Some(Admission::Closed));
        assert_eq!(b.admit(), Some(Admission::Closed));
    }

    #[test]
    fn a_probe_that_never_answers_still_lets_the_next_one_out() {
        let b = Arc::new(Breaker::default());
        b.record(&down());
        let probe = Ticket {
            breaker: Arc::clone(&b),
            admission: b.admit().unwrap(),
        };
        // Its call panicked, or the blocking pool dropped it: no record, only the drop.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _probe = probe;
            panic!("the probe's database work panicked");
        }));
        assert!(unwound.is_err());
        assert_eq!(b.admit(), Some(Admission::Probe));
    }

    #[test]
    fn state_errors_keep_their_cause_as_the_source() {
        use std::error::Error as _;
        let bad_cost = users_domain::HashCost {
            memory_kib: 1,
            ..users_domain::HashCost::FAST
        };
        let hash = StateError::from(PasswordHasher::new(bad_cost).unwrap_err());
        assert_eq!(hash.to_string(), "password hashing set-up failed");
        let cause = hash.source().expect("the PasswordError is the source");
        assert_eq!(cause.to_string(), "invalid argon2 parameters");
        assert!(
            cause.source().is_some(),
            "argon2's error is the next source"
        );

        // ES256 without a private key.
        let config = Config::from_vars(|k| (k == "JWT_ALGORITHM").then(|| "es256".to_owned()));
        let Err(config_error) = config else {
            panic!("ES256 without a key is a configuration error");
        };
        let token = StateError::Token(config_error);
        let cause = token.source().expect("the ConfigError is the source");
        assert!(!token.to_string().contains(&cause.to_string()));

        let self_test = StateError::SelfTest(SelfTestError::WrongSubject(
            auth_token::SelfTestCheck::Service,
        ));
        assert!(self_test.source().is_some());
    }

    #[test]
    fn query_errors_do_not_open_the_breaker() {
        let b = Breaker::default();
        let dup: Result<(), DbError> = Err(DbError::Duplicate {
            field: users_db::UniqueField::Email,
        });
        b.record(&dup);
        assert_eq!(b.admit(), Some(Admission::Closed));
    }
}
