//! Test support (feature `test-support`): a fresh, migrated database per test.
//!
//! ```no_run
//! use users_db::testing::TestDb;
//!
//! for db in TestDb::all() {
//!     let mut conn = db.conn();
//!     assert!(users_db::users::list_newest(&mut conn, 10).unwrap().is_empty(), "{}", db.backend());
//! }
//! ```
//!
//! SQLite is always tested; PostgreSQL when `DATABASE_TEST_URL` is a `postgres://` or
//! `postgresql://` URL of a role allowed to create databases (`scripts/ci-postgres.sh` sets
//! one up). With `REQUIRE_POSTGRES=1`, a missing PostgreSQL URL is a panic, so CI cannot pass
//! having tested SQLite only.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::connection::{DbUrl, PooledConnection};
use crate::{DbConnection, DbPool, PoolOptions, build_pool, get_conn, run_migrations};

/// The environment variable naming the PostgreSQL server for tests.
pub const DATABASE_TEST_URL: &str = "DATABASE_TEST_URL";

/// Set to `1` to make [`TestDb::all`] panic when PostgreSQL is not configured.
pub const REQUIRE_POSTGRES: &str = "REQUIRE_POSTGRES";

/// Pool settings of a test database: enough connections for concurrency tests, opened on
/// demand, and a short timeout so that a broken test fails fast instead of hanging.
fn test_pool_options() -> PoolOptions {
    PoolOptions {
        max_size: 24,
        connection_timeout: Duration::from_secs(10),
        min_idle: Some(0),
    }
}

/// A fresh, migrated database owned by one test, removed when dropped: a SQLite file in its
/// own temporary directory, or a PostgreSQL database `users_test_<uuid>` (dropped with
/// `DROP DATABASE ... WITH (FORCE)`).
pub struct TestDb {
    url: String,
    backend: &'static str,
    pool: DbPool,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(
        #[expect(
            dead_code,
            reason = "held so the directory lives as long as the database"
        )]
        tempfile::TempDir,
    ),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl TestDb {
    /// A new SQLite database file in a fresh temporary directory, migrated.
    ///
    /// # Panics
    /// If the directory or database cannot be created or migrated.
    pub fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("users-db-test-")
            .tempdir()
            .unwrap_or_else(|e| {
                panic!("create a temporary directory for a SQLite test database: {e}")
            });
        let path = dir.path().join("users.db");
        let Some(url) = path.to_str().map(str::to_owned) else {
            panic!(
                "the temporary directory's path is not UTF-8: {}",
                path.display()
            );
        };
        Self::migrated(url, "sqlite", Cleanup::Sqlite(dir))
    }

    /// A new PostgreSQL database on the server `DATABASE_TEST_URL` names, migrated; `None`
    /// when that variable is unset or not a PostgreSQL URL.
    ///
    /// # Panics
    /// If the variable names PostgreSQL but the server cannot be reached, or the database
    /// cannot be created or migrated: a configured backend that does not work is a failure,
    /// not a skip.
    pub fn postgres() -> Option<Self> {
        Self::postgres_created_with("")
    }

    /// Like [`TestDb::postgres`], but the database has the `C` collation and ctype, whose
    /// `lower()` folds ASCII only: what the service must cope with on such a server.
    pub fn postgres_c_locale() -> Option<Self> {
        Self::postgres_created_with(
            " TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
        )
    }

    fn postgres_created_with(options: &str) -> Option<Self> {
        let admin_url = postgres_test_url()?;
        let name = format!("users_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
            panic!("{DATABASE_TEST_URL} is set, but connecting to PostgreSQL failed: {e}")
        });
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\"{options}"))
            .unwrap_or_else(|e| {
                panic!("CREATE DATABASE {name} failed (does the role have CREATEDB?): {e}")
            });
        drop(admin);
        let url = with_database(&admin_url, &name);
        Some(Self::migrated(
            url,
            "postgres",
            Cleanup::Postgres { admin_url, name },
        ))
    }

    /// SQLite, plus PostgreSQL when `DATABASE_TEST_URL` names it: loop over these to run a
    /// test on every configured backend.
    ///
    /// # Panics
    /// If `REQUIRE_POSTGRES=1` and `DATABASE_TEST_URL` is not a PostgreSQL URL, or a backend
    /// cannot be set up.
    pub fn all() -> Vec<Self> {
        let mut dbs = vec![Self::sqlite()];
        match Self::postgres() {
            Some(db) => dbs.push(db),
            None if postgres_required() => panic!(
                "{REQUIRE_POSTGRES}=1 but {DATABASE_TEST_URL} is not a postgres:// URL; \
                 run `eval \"$(scripts/ci-postgres.sh)\"` first"
            ),
            None => {}
        }
        dbs
    }

    fn migrated(url: String, backend: &'static str, cleanup: Cleanup) -> Self {
        let mut conn = DbConnection::open(&url)
            .unwrap_or_else(|e| panic!("open the {backend} test database: {}", error_chain(&e)));
        run_migrations(&mut conn)
            .unwrap_or_else(|e| panic!("migrate the {backend} test database: {}", error_chain(&e)));
        drop(conn);
        let pool = build_pool(&url, test_pool_options())
            .unwrap_or_else(|e| panic!("pool for the {backend} test database: {e}"));
        Self {
            url,
            backend,
            pool,
            cleanup,
        }
    }

    /// The database's URL (a file path for SQLite), e.g. to start the app against it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `"sqlite"` or `"postgres"`, for assertion messages.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// A pool on this database (up to 24 connections).
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// A connection from the pool.
    ///
    /// # Panics
    /// If no connection can be had.
    pub fn conn(&self) -> PooledConnection {
        get_conn(&self.pool).unwrap_or_else(|e| {
            panic!(
                "connection to the {} test database: {}",
                self.backend,
                error_chain(&e)
            )
        })
    }

    /// A new connection outside the pool.
    ///
    /// # Panics
    /// If it cannot connect.
    pub fn connect(&self) -> DbConnection {
        DbConnection::open(&self.url).unwrap_or_else(|e| {
            panic!(
                "connection to the {} test database: {}",
                self.backend,
                error_chain(&e)
            )
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup
            && let Err(e) = drop_postgres_database(admin_url, name)
        {
            eprintln!("users-db: could not drop test database {name}: {e}");
        }
    }
}

fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut admin = PgConnection::establish(admin_url)?;
    if admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .is_err()
    {
        // PostgreSQL before 13 has no FORCE.
        admin.batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'; \
             DROP DATABASE IF EXISTS \"{name}\""
        ))?;
    }
    Ok(())
}

/// `DATABASE_TEST_URL` when it is a PostgreSQL URL.
pub fn postgres_test_url() -> Option<String> {
    let url = std::env::var(DATABASE_TEST_URL).ok()?;
    matches!(DbUrl::parse(&url), DbUrl::Postgres(_)).then_some(url)
}

/// Whether `REQUIRE_POSTGRES=1`.
pub fn postgres_required() -> bool {
    std::env::var(REQUIRE_POSTGRES).is_ok_and(|v| v.trim() == "1")
}

/// The same server URL with another database name (the path), query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_replaces_the_path() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "t1"),
            "postgres://u:p@127.0.0.1:5432/t1"
        );
        assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
        assert_eq!(
            with_database("postgresql://h/db?sslmode=disable", "t1"),
            "postgresql://h/t1?sslmode=disable"
        );
    }
}
