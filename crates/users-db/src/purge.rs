//! Deletes rows that no longer serve anything: sessions past their end, and failed logins
//! older than the throttling window. The tables would otherwise only grow.
//!
//! Each call deletes one bounded batch (`DELETE ... WHERE id IN (SELECT id ... LIMIT n)`),
//! so a large backlog never becomes one long statement holding the write lock; callers
//! repeat while a call deletes a full batch. Safe with many instances purging at once: on
//! PostgreSQL each batch takes rows no other purger holds (`FOR UPDATE SKIP LOCKED`), so
//! purgers neither wait on nor deadlock with each other; SQLite runs one write at a time.
//! Each deleted row is counted by exactly one call.

use chrono::NaiveDateTime;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Timestamp};

use crate::{DbConnection, DbError};

/// `DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {column} {op} t LIMIT n)`,
/// with `FOR UPDATE SKIP LOCKED` on PostgreSQL; returns the number of rows deleted. Plain
/// SQL: diesel's DSL refuses a subquery on the table being deleted from. Only called with
/// this module's constant names.
fn delete_batch(
    conn: &mut DbConnection,
    table: &str,
    condition: &str,
    at: NaiveDateTime,
    limit: i64,
) -> Result<usize, DbError> {
    delete_batch_by(conn, table, "id", condition, at, limit)
}

/// [`delete_batch`] for a table whose key column is `key`.
fn delete_batch_by(
    conn: &mut DbConnection,
    table: &str,
    key: &str,
    condition: &str,
    at: NaiveDateTime,
    limit: i64,
) -> Result<usize, DbError> {
    let n = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(format!(
            "DELETE FROM {table} WHERE {key} IN \
             (SELECT {key} FROM {table} WHERE {condition} $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
        ))
        .bind::<Timestamp, _>(at)
        .bind::<BigInt, _>(limit)
        .execute(pg)?,
        DbConnection::Sqlite(lite) => diesel::sql_query(format!(
            "DELETE FROM {table} WHERE {key} IN \
             (SELECT {key} FROM {table} WHERE {condition} ? LIMIT ?)"
        ))
        .bind::<Timestamp, _>(at)
        .bind::<BigInt, _>(limit)
        .execute(lite)?,
    };
    Ok(n)
}

/// Deletes at most `batch` sessions that can no longer be used: those whose `expires_at`
/// is not after `now` (no token of theirs is accepted any more), and those revoked before
/// `revoked_before` (the caller keeps revoked ones for a while, e.g. an access token's
/// lifetime). Live sessions, and sessions revoked since `revoked_before`, stay. Returns how
/// many it deleted: fewer than `batch` when nothing more is due (or other purgers hold the
/// rest).
pub fn sessions(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    revoked_before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    let batch = batch.max(1);
    let ended = delete_batch(conn, "sessions", "expires_at <=", now, batch)?;
    let left = batch - i64::try_from(ended).unwrap_or(batch);
    if left <= 0 {
        return Ok(ended);
    }
    let revoked = delete_batch(conn, "sessions", "revoked_at <", revoked_before, left)?;
    Ok(ended + revoked)
}

/// Deletes at most `batch` failed logins older than `before` (the start of the throttling
/// window: they no longer count). Returns how many it deleted.
pub fn login_failures(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    delete_batch(conn, "login_failures", "failed_at <", before, batch.max(1))
}

/// Deletes at most `batch` finished mails (sent, given up, or stand-ins) written before
/// `before`: their bodies are already erased; they are kept a while for the hourly cap and
/// for operators. Returns how many it deleted.
pub fn finished_mail(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    delete_batch(
        conn,
        "mail_outbox",
        "(sent_at IS NOT NULL OR failed_at IS NOT NULL) AND created_at <",
        before,
        batch.max(1),
    )
}

/// Deletes at most `batch` mail tokens that expired before `before`, spent or not (neither
/// can serve any more). Returns how many it deleted.
pub fn mail_tokens(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    delete_batch_by(
        conn,
        "mail_tokens",
        "token_hash",
        "expires_at <",
        before,
        batch.max(1),
    )
}
