#![doc = include_str!("../README.md")]

mod connection;
mod error;
pub mod listen;
pub mod mail;
pub mod mfa;
mod migrations;
pub mod purge;
pub mod revocations;
pub mod schema;
pub mod sessions;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod throttle;
mod transaction;
pub mod users;

pub use connection::{
    ALIVE_BYPASS, DbConnection, DbConnectionManager, DbPool, DbUrl, PoolOptions, PoolSlot,
    PooledConnection, build_pool, get_conn, with_conn, with_conn_within,
};
pub use error::{BoxError, DbError, UniqueField};
#[cfg(feature = "test-support")]
pub use migrations::has_pending_migrations;
pub use migrations::{
    POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, revert_all_migrations, run_migrations,
};
use transaction::advisory_lock;
pub use transaction::{write_transaction, write_transaction_unless};
pub use users::UserRow;

/// A trivial round trip (`SELECT 1`): `Ok` when the database answers. Readiness probes use
/// it; a failure is [`DbError::Unavailable`] when the database cannot be reached.
pub fn ping(conn: &mut DbConnection) -> Result<(), DbError> {
    use diesel::connection::SimpleConnection as _;
    conn.batch_execute("SELECT 1").map_err(DbError::from)
}
