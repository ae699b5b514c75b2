//! The `login_failures` table: failed logins counted in the database, so that every
//! instance of the service agrees.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::login_failures;
use crate::{DbConnection, DbError};

/// What a failure is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The account: the email as given, lower-cased (also for emails that do not exist).
    Account,
    /// The client address.
    Address,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Address => "address",
        }
    }
}

/// Longest subject stored; longer ones are cut (the column is `VARCHAR(255)`).
const MAX_SUBJECT_CHARS: usize = 255;

fn subject(s: &str) -> String {
    s.chars().take(MAX_SUBJECT_CHARS).collect()
}

/// The times of the most recent failures of `subject` since `since`, newest first, at most
/// `limit` of them.
pub fn recent(
    conn: &mut DbConnection,
    scope: Scope,
    subject_: &str,
    since: NaiveDateTime,
    limit: i64,
) -> Result<Vec<NaiveDateTime>, DbError> {
    Ok(login_failures::table
        .filter(login_failures::scope.eq(scope.as_str()))
        .filter(login_failures::subject.eq(subject(subject_)))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at.desc())
        .limit(limit)
        .select(login_failures::failed_at)
        .load(conn)?)
}

/// Records one failure at `now`, and forgets this subject's failures older than `forget_before`.
pub fn record(
    conn: &mut DbConnection,
    scope: Scope,
    subject_: &str,
    now: NaiveDateTime,
    forget_before: NaiveDateTime,
) -> Result<(), DbError> {
    let subject_ = subject(subject_);
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::scope.eq(scope.as_str()),
            login_failures::subject.eq(&subject_),
            login_failures::failed_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(
        login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(&subject_))
            .filter(login_failures::failed_at.lt(forget_before)),
    )
    .execute(conn)?;
    Ok(())
}

/// Forgets every failure of `subject` (after a successful login).
pub fn clear(conn: &mut DbConnection, scope: Scope, subject_: &str) -> Result<(), DbError> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(subject(subject_))),
    )
    .execute(conn)?;
    Ok(())
}
