//! What every handler shares, and the two ways off the async workers: the database pool
//! and the bounded password-hashing pool.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};

use actix_web::web;
use auth_token::{RefreshTokens, TokenService};

use crate::metrics::Metrics;
use tokio::sync::oneshot;
use users_db::{DbConnection, DbError, DbPool};
use users_domain::{PasswordHasher, PasswordPolicy};

use crate::config::Config;
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
    /// Requests being handled right now (the request log middleware keeps it), so that a
    /// shutdown can wait for them.
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// Password hashing runs here, one thread per core, so that a login flood queues
    /// instead of starving the blocking pool that database calls use.
    hash_pool: Arc<HashPool>,
}

type HashJob = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// How long a hashing thread keeps its argon2 memory without work.
const HASH_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// A fixed set of threads that run password hashing jobs in arrival order. Fixed threads
/// also bound argon2's working memory: each thread keeps one buffer while it is busy (see
/// `users_domain::PasswordHasher`) and frees it after `HASH_IDLE` without work, so the
/// process holds at most `threads x ARGON2_MEMORY_KIB`, however many logins it serves.
struct HashPool {
    jobs: std::sync::mpsc::Sender<HashJob>,
}

/// One hashing thread: runs jobs from the shared queue until the pool is dropped.
fn hash_thread(rx: &Mutex<Receiver<HashJob>>, hasher: &PasswordHasher) {
    let mut holds_memory = false;
    loop {
        // The lock is held only while waiting for the next job. A thread that
        // holds argon2 memory waits at most HASH_IDLE, then frees it and lets
        // the next thread wait; one without memory waits for as long as it
        // takes. So an idle service gives its hashing memory back.
        let Ok(queue) = rx.lock() else { return };
        let job = if holds_memory {
            match queue.recv_timeout(HASH_IDLE) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    drop(queue);
                    users_domain::release_hash_memory();
                    holds_memory = false;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        drop(queue);
        holds_memory = true;
        // A panicking job must not take the thread with it; its caller
        // sees the dropped reply channel as an internal error.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            job(hasher);
        }));
    }
}

impl HashPool {
    fn new(threads: usize, hasher: Arc<PasswordHasher>) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let (rx, hasher) = (Arc::clone(&rx), Arc::clone(&hasher));
            std::thread::Builder::new()
                .name(format!("hash-{i}"))
                .spawn(move || hash_thread(&rx, &hasher))?;
        }
        Ok(Self { jobs: tx })
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
        self.jobs.send(job).map_err(|e| ApiError::internal(&e))?;
        answer.await.map_err(|e| ApiError::internal(&e))
    }
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The token key or backend does not work.
    #[error("token set-up failed: {0}")]
    Token(String),
    /// The hashing parameters are invalid.
    #[error("password hashing set-up failed: {0}")]
    Hash(#[from] users_domain::PasswordError),
    /// The hashing threads could not be started.
    #[error("could not start the password hashing threads: {0}")]
    Threads(#[from] std::io::Error),
}

impl AppState {
    /// Builds the state: token service (with its self-test) and password hasher (with its
    /// dummy hash).
    pub fn new(config: Config, pool: DbPool) -> Result<Self, StateError> {
        let tokens = config
            .token_service()
            .map_err(|e| StateError::Token(e.to_string()))?;
        tokens.self_test().map_err(StateError::Token)?;
        let hasher = PasswordHasher::new(config.hash_cost)?;
        let refresh = RefreshTokens::new(&config.secret_key);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let hasher = Arc::new(hasher);
        let hash_pool = Arc::new(HashPool::new(cores, Arc::clone(&hasher))?);
        Ok(Self {
            config: Arc::new(config),
            pool,
            tokens: Arc::new(tokens),
            refresh: Arc::new(refresh),
            hasher,
            metrics: Arc::new(Metrics::new()),
            in_flight: Arc::default(),
            hash_pool,
        })
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
        let pool = self.pool.clone();
        let result = web::block(move || {
            let mut conn = users_db::get_conn(&pool)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
        Ok(result?)
    }

    /// Like [`db`](Self::db), but hands back the database error for the caller to map
    /// (a duplicate, say); unavailability is still 503.
    pub async fn db_raw<T, F>(&self, f: F) -> Result<Result<T, DbError>, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || users_db::with_conn(&pool, f))
            .await
            .map_err(|e| ApiError::internal(&e))
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
                let started = std::time::Instant::now();
                let result = f(hasher);
                (result, started.elapsed().as_secs_f64())
            })
            .await?;
        self.metrics.hash_seconds(op, seconds);
        Ok(result)
    }
}
