//! The `login_failures` table: failed logins counted in the database, so that every
//! instance of the service agrees.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::login_failures;
use crate::{DbConnection, DbError, write_transaction};

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

/// The limits an attempt is taken against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures of the account allowed within the window.
    pub per_account: i64,
    /// Failures of the address allowed within the window.
    pub per_address: i64,
    /// The window starts here: older failures do not count (and are forgotten).
    pub since: NaiveDateTime,
}

/// What [`take`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// Under both limits: the attempt is recorded as a failure of the account and the
    /// address until [`succeeded`] says otherwise.
    Taken(Taken),
    /// At a limit: nothing was recorded. The recent failures (newest first, at most the
    /// limit) of the account and of the address, to compute `Retry-After`.
    Refused {
        /// The account's recent failures.
        account: Vec<NaiveDateTime>,
        /// The address's recent failures.
        address: Vec<NaiveDateTime>,
    },
}

/// An attempt taken by [`take`]: the row it holds for the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    account_row: i32,
    address_row: i32,
}

/// Takes one attempt for `account` from `address`, before any password is checked: in one
/// write transaction that serialises the attempts of the same account and address (SQLite's
/// `BEGIN IMMEDIATE`; PostgreSQL transaction-level advisory locks on both keys, always
/// account first), counts their failures since `limits.since` and, when both are under
/// their limits, records the attempt as a failure of each. So of any number of concurrent
/// attempts at most the limit are taken: the count and the record cannot interleave. The
/// caller checks the password only for a taken attempt and calls [`succeeded`] when it was
/// right.
pub fn take(
    conn: &mut DbConnection,
    account: &str,
    address: &str,
    now: NaiveDateTime,
    limits: Limits,
) -> Result<Take, DbError> {
    let (account, address) = (subject(account), subject(address));
    write_transaction(conn, |conn| {
        lock(conn, Scope::Account, &account)?;
        lock(conn, Scope::Address, &address)?;
        let by_account = recent(
            conn,
            Scope::Account,
            &account,
            limits.since,
            limits.per_account,
        )?;
        let by_address = recent(
            conn,
            Scope::Address,
            &address,
            limits.since,
            limits.per_address,
        )?;
        if by_account.len() as i64 >= limits.per_account
            || by_address.len() as i64 >= limits.per_address
        {
            return Ok(Take::Refused {
                account: by_account,
                address: by_address,
            });
        }
        forget_before(conn, Scope::Account, &account, limits.since)?;
        forget_before(conn, Scope::Address, &address, limits.since)?;
        let account_row = insert(conn, Scope::Account, &account, now)?;
        let address_row = insert(conn, Scope::Address, &address, now)?;
        Ok(Take::Taken(Taken {
            account_row,
            address_row,
        }))
    })
}

/// The attempt was a right password: the account's failures are forgotten (as after any
/// successful login), and the attempt's own address row goes.
pub fn succeeded(conn: &mut DbConnection, account: &str, attempt: &Taken) -> Result<(), DbError> {
    clear(conn, Scope::Account, account)?;
    diesel::delete(login_failures::table.find(attempt.address_row)).execute(conn)?;
    Ok(())
}

/// The attempt was a right password that is not yet a login (a second factor follows): it
/// no longer counts against the account or the address, but the account's earlier failures
/// stay until the login completes.
pub fn withdrawn(conn: &mut DbConnection, attempt: &Taken) -> Result<(), DbError> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::id.eq_any([attempt.account_row, attempt.address_row])),
    )
    .execute(conn)?;
    Ok(())
}

/// Serialises the attempts on one subject until the transaction ends. SQLite needs nothing:
/// its write transaction (`BEGIN IMMEDIATE`) already excludes every other writer.
fn lock(conn: &mut DbConnection, scope: Scope, subject_: &str) -> Result<(), DbError> {
    crate::advisory_lock(
        conn,
        &format!("login_failures:{}:{subject_}", scope.as_str()),
    )
}

fn insert(
    conn: &mut DbConnection,
    scope: Scope,
    subject_: &str,
    now: NaiveDateTime,
) -> Result<i32, DbError> {
    Ok(diesel::insert_into(login_failures::table)
        .values((
            login_failures::scope.eq(scope.as_str()),
            login_failures::subject.eq(subject_),
            login_failures::failed_at.eq(now),
        ))
        .returning(login_failures::id)
        .get_result(conn)?)
}

fn forget_before(
    conn: &mut DbConnection,
    scope: Scope,
    subject_: &str,
    before: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(subject_))
            .filter(login_failures::failed_at.lt(before)),
    )
    .execute(conn)?;
    Ok(())
}

/// Records one failure at `now`, and forgets this subject's failures older than `forget_before`.
///
/// Only for tests (feature `test-support`): the service does not use it.
#[cfg(feature = "test-support")]
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
