//! What every handler shares, and the two ways off the async workers: the database pool
//! and the bounded password-hashing pool.

use std::sync::Arc;

use actix_web::web;
use auth_token::{RefreshTokens, TokenService};

use crate::metrics::Metrics;
use tokio::sync::Semaphore;
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
    /// Bounds concurrent hashing to the number of cores so that a login flood queues
    /// instead of starving the blocking pool that database calls also use.
    hash_permits: Arc<Semaphore>,
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
        Ok(Self {
            config: Arc::new(config),
            pool,
            tokens: Arc::new(tokens),
            refresh: Arc::new(refresh),
            hasher: Arc::new(hasher),
            metrics: Arc::new(Metrics::new()),
            hash_permits: Arc::new(Semaphore::new(cores)),
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
        web::block(move || {
            let mut conn = users_db::get_conn(&pool)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| ApiError::internal(&e))
    }

    /// Runs CPU-heavy password work on the blocking pool, at most one job per core; its time
    /// is recorded as `password_hash_duration_seconds{outcome=op}`.
    pub async fn hashing<T, F>(&self, op: &'static str, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let hasher = Arc::clone(&self.hasher);
        let (result, seconds) = web::block(move || {
            let started = std::time::Instant::now();
            let result = f(&hasher);
            (result, started.elapsed().as_secs_f64())
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
        self.metrics.hash_seconds(op, seconds);
        Ok(result)
    }
}
