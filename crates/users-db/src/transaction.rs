//! Transactions that write after reading, safe under concurrency on both backends.

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};

use crate::DbConnection;

/// Runs `f` in a transaction meant to write: on SQLite it starts with `BEGIN IMMEDIATE`, so
/// the write lock is taken up front and a concurrent writer waits (busy timeout) instead of
/// failing with "database is locked" when a read lock cannot be upgraded; on PostgreSQL it
/// is an ordinary transaction. Inside another transaction it is a savepoint.
///
/// Commits when `f` returns `Ok`, rolls back on `Err`. `E` is usually [`crate::DbError`].
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(c) => {
            let depth =
                AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()?;
            if depth.is_some() {
                AnsiTransactionManager::begin_transaction(c)?;
            } else {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            }
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// [`write_transaction`] for work that may decide, after some writes, that it must not
/// happen: `f` answers `Ok(Err(refusal))` and everything it wrote is rolled back, and the
/// refusal comes back as `Ok(Err(refusal))`. Database errors roll back too.
pub fn write_transaction_unless<T, R, F>(
    conn: &mut DbConnection,
    f: F,
) -> Result<Result<T, R>, crate::DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<Result<T, R>, crate::DbError>,
{
    enum Stop<R> {
        Db(crate::DbError),
        Refused(R),
    }
    impl<R> From<diesel::result::Error> for Stop<R> {
        fn from(e: diesel::result::Error) -> Self {
            Self::Db(e.into())
        }
    }
    let outcome = write_transaction(conn, |conn| match f(conn) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(refusal)) => Err(Stop::Refused(refusal)),
        Err(e) => Err(Stop::Db(e)),
    });
    match outcome {
        Ok(value) => Ok(Ok(value)),
        Err(Stop::Refused(refusal)) => Ok(Err(refusal)),
        Err(Stop::Db(e)) => Err(e),
    }
}

/// Serialises, until the transaction ends, the transactions that take the same `key`: a
/// PostgreSQL transaction-level advisory lock. SQLite needs none: its write transaction
/// ([`write_transaction`]) already excludes every other writer.
pub(crate) fn advisory_lock(conn: &mut DbConnection, key: &str) -> Result<(), crate::DbError> {
    if let DbConnection::Postgres(pg) = conn {
        use diesel::RunQueryDsl as _;
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(pg)?;
    }
    Ok(())
}
