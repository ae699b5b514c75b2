//! The embedded migrations of both backends, run on whichever one is connected.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{DbConnection, DbError};

/// The SQLite migrations (`migrations/sqlite`), compiled into the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The PostgreSQL migrations (`migrations/postgres`), compiled into the binary.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The migrations of the connection's backend.
fn migrations_for(conn: &DbConnection) -> EmbeddedMigrations {
    match conn {
        DbConnection::Postgres(_) => POSTGRES_MIGRATIONS,
        DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
    }
}

/// Runs every pending migration of the connection's backend, each in its own transaction;
/// returns the versions applied (empty when the schema was current).
///
/// Then fills in the folded search columns of rows that lack them
/// ([`crate::users::backfill_folded`]): SQL cannot fold Unicode the way users-db does, so
/// that step is Rust's, and it runs at every start-up (one indexed query when there is
/// nothing to do), which also covers rows that plain SQL inserted since the last one.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let migrations = migrations_for(conn);
    let applied = match conn {
        DbConnection::Postgres(c) => c.run_pending_migrations(migrations),
        DbConnection::Sqlite(c) => c.run_pending_migrations(migrations),
    }
    .map_err(DbError::Migration)?
    .into_iter()
    .map(|v| v.to_string())
    .collect();
    crate::users::backfill_folded(conn)?;
    Ok(applied)
}

/// Reverts every applied migration, newest first, leaving an empty schema (for tests and
/// `recreate-db`); returns the versions reverted.
pub fn revert_all_migrations(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let migrations = migrations_for(conn);
    let reverted = match conn {
        DbConnection::Postgres(c) => c.revert_all_migrations(migrations),
        DbConnection::Sqlite(c) => c.revert_all_migrations(migrations),
    }
    .map_err(DbError::Migration)?;
    Ok(reverted.into_iter().map(|v| v.to_string()).collect())
}

/// Whether migrations of the connection's backend are waiting to run.
///
/// Only for tests (feature `test-support`): the service does not use it.
#[cfg(feature = "test-support")]
pub fn has_pending_migrations(conn: &mut DbConnection) -> Result<bool, DbError> {
    let migrations = migrations_for(conn);
    match conn {
        DbConnection::Postgres(c) => c.has_pending_migration(migrations),
        DbConnection::Sqlite(c) => c.has_pending_migration(migrations),
    }
    .map_err(DbError::Migration)
}
