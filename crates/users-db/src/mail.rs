//! Mail: the transactional outbox (`mail_outbox`) and the single-use tokens that mail links
//! carry (`mail_tokens`).
//!
//! A token and the mail that carries it are written in one transaction
//! ([`queue_with_token`]), so a mail is never sent for a token that was not stored, nor a
//! token stored whose mail is lost. Tokens are stored as hashes only; mail bodies arrive
//! sealed (the API encrypts them) and are erased once delivered or given up.
//!
//! Delivery ([`claim`], then [`mark_sent`], [`mark_retry`] or [`mark_failed`]) is safe with
//! many instances on one database: a claim takes due rows for a lease in one statement
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer), so two instances never
//! hold the same mail at once; a mail whose holder died is taken again when its lease ends
//! (delivery is at least once).

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use users_domain::UserId;

use crate::schema::{mail_outbox, mail_tokens};
use crate::{DbConnection, DbError, write_transaction};

/// What a mail token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Verify the account's address.
    Verify,
    /// Confirm a new address.
    Change,
    /// Reset the password.
    Reset,
}

impl TokenPurpose {
    /// The stored name (also the outbox purpose of the mail that carries it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Change => "change",
            Self::Reset => "reset",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "verify" => Some(Self::Verify),
            "change" => Some(Self::Change),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// The outbox purpose of the notice to an old address (no token).
pub const NOTICE: &str = "notice";
/// The outbox purpose of a row that stands in for a mail (`POST /auth/password/forgot` for
/// an address that gets none), written finished so that it is never sent.
pub const NONE: &str = "none";

/// A mail to queue. `Debug` does not show the body.
#[derive(Clone, PartialEq, Eq)]
pub struct NewMail {
    /// The account it is about.
    pub user_id: UserId,
    /// A [`TokenPurpose`] name or [`NOTICE`].
    pub purpose: &'static str,
    /// The `To` address.
    pub recipient: String,
    /// The `Subject`.
    pub subject: String,
    /// The body, sealed by the caller.
    pub body_sealed: String,
}

impl std::fmt::Debug for NewMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMail")
            .field("user_id", &self.user_id)
            .field("purpose", &self.purpose)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A token to store: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// What it is for.
    pub purpose: TokenPurpose,
    /// The address the link goes to.
    pub email: String,
    /// Refused from this time, UTC.
    pub expires_at: NaiveDateTime,
}

/// What [`queue_with_token`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// The token is stored (earlier unused ones of its purpose are gone) and the mails are
    /// queued.
    Queued,
    /// The account had its hourly share of mails of this purpose: nothing was written, and
    /// the last link sent stays valid.
    Capped,
}

/// In one write transaction, serialised per account and purpose: unless the account was
/// sent `max_per_hour` mails of the token's purpose in the hour before `now`, deletes the
/// account's unused tokens of that purpose (a new token supersedes them), stores `token`
/// and queues `mails` (due at once). Concurrent requests cannot exceed the cap: the count
/// and the insert cannot interleave.
pub fn queue_with_token(
    conn: &mut DbConnection,
    user_id: UserId,
    token: &NewToken,
    mails: &[NewMail],
    now: NaiveDateTime,
    max_per_hour: i64,
) -> Result<Queued, DbError> {
    write_transaction(conn, |conn| {
        lock(conn, user_id, token.purpose.as_str())?;
        if sent_within_hour(conn, user_id, token.purpose.as_str(), now)? >= max_per_hour {
            return Ok(Queued::Capped);
        }
        diesel::delete(
            mail_tokens::table
                .filter(mail_tokens::user_id.eq(user_id.get()))
                .filter(mail_tokens::purpose.eq(token.purpose.as_str()))
                .filter(mail_tokens::used_at.is_null()),
        )
        .execute(conn)?;
        diesel::insert_into(mail_tokens::table)
            .values((
                mail_tokens::token_hash.eq(&token.token_hash),
                mail_tokens::user_id.eq(user_id.get()),
                mail_tokens::purpose.eq(token.purpose.as_str()),
                mail_tokens::email.eq(&token.email),
                mail_tokens::created_at.eq(now),
                mail_tokens::expires_at.eq(token.expires_at),
            ))
            .execute(conn)?;
        for mail in mails {
            insert_mail(conn, mail, now)?;
        }
        Ok(Queued::Queued)
    })
}

/// The work of [`queue_with_token`] without its effect, for a request that must cost the
/// same whether or not it sends a mail (`POST /auth/password/forgot` for an unknown
/// address): the same lock, count and delete (on no rows), and one outbox row written
/// already finished, so it is never sent (and is purged with delivered mail).
pub fn queue_nothing(conn: &mut DbConnection, now: NaiveDateTime) -> Result<(), DbError> {
    let nobody = UserId::new(0);
    write_transaction(conn, |conn| {
        lock(conn, nobody, NONE)?;
        sent_within_hour(conn, nobody, NONE, now)?;
        diesel::delete(
            mail_tokens::table
                .filter(mail_tokens::user_id.eq(nobody.get()))
                .filter(mail_tokens::used_at.is_null()),
        )
        .execute(conn)?;
        diesel::insert_into(mail_outbox::table)
            .values((
                mail_outbox::purpose.eq(NONE),
                mail_outbox::recipient.eq(""),
                mail_outbox::subject.eq(""),
                mail_outbox::created_at.eq(now),
                mail_outbox::next_attempt_at.eq(now),
                mail_outbox::sent_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Queues a mail without a token, due at once.
///
/// Only for tests (feature `test-support`): the service queues mail with its token
/// ([`queue_with_token`]).
#[cfg(feature = "test-support")]
pub fn queue(conn: &mut DbConnection, mail: &NewMail, now: NaiveDateTime) -> Result<(), DbError> {
    insert_mail(conn, mail, now)
}

fn insert_mail(conn: &mut DbConnection, mail: &NewMail, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::user_id.eq(mail.user_id.get()),
            mail_outbox::purpose.eq(mail.purpose),
            mail_outbox::recipient.eq(&mail.recipient),
            mail_outbox::subject.eq(&mail.subject),
            mail_outbox::body.eq(&mail.body_sealed),
            mail_outbox::created_at.eq(now),
            mail_outbox::next_attempt_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Mails of `purpose` queued for the account in the hour before `now`.
fn sent_within_hour(
    conn: &mut DbConnection,
    user_id: UserId,
    purpose: &str,
    now: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(mail_outbox::table
        .filter(mail_outbox::user_id.eq(user_id.get()))
        .filter(mail_outbox::purpose.eq(purpose))
        .filter(mail_outbox::created_at.gt(now - TimeDelta::hours(1)))
        .count()
        .get_result(conn)?)
}

/// Serialises the mails of one account and purpose until the transaction ends.
fn lock(conn: &mut DbConnection, user_id: UserId, purpose: &str) -> Result<(), DbError> {
    crate::advisory_lock(conn, &format!("mail:{}:{purpose}", user_id.get()))
}

/// A stored token (its hash).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = mail_tokens)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct MailToken {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The account.
    pub user_id: i32,
    /// The stored purpose name.
    pub purpose: String,
    /// The address the link went to.
    pub email: String,
    /// Made at, UTC.
    pub created_at: NaiveDateTime,
    /// Refused from this time, UTC.
    pub expires_at: NaiveDateTime,
    /// Spent at, UTC.
    pub used_at: Option<NaiveDateTime>,
}

impl MailToken {
    /// What it is for (`None` for a purpose this version does not know).
    pub fn purpose(&self) -> Option<TokenPurpose> {
        TokenPurpose::parse(&self.purpose)
    }

    /// The account.
    pub fn user(&self) -> UserId {
        UserId::new(self.user_id)
    }

    /// Whether it may be spent at `now`: unused and unexpired.
    pub fn is_usable(&self, now: NaiveDateTime) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

/// The token with this hash, usable or not.
pub fn find_token(conn: &mut DbConnection, token_hash: &str) -> Result<Option<MailToken>, DbError> {
    Ok(mail_tokens::table
        .find(token_hash)
        .select(MailToken::as_select())
        .first(conn)
        .optional()?)
}

/// Spends a token of one of `purposes`: one conditional update (unused, unexpired), so of
/// concurrent requests with one token exactly one gets it. `None` when it is unknown,
/// used, expired, superseded (deleted) or of another purpose. Meant to run inside the
/// transaction that acts on it, so that a failure there leaves it unspent.
pub fn spend_token(
    conn: &mut DbConnection,
    token_hash: &str,
    purposes: &[TokenPurpose],
    now: NaiveDateTime,
) -> Result<Option<MailToken>, DbError> {
    let names: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    let n = diesel::update(
        mail_tokens::table
            .filter(mail_tokens::token_hash.eq(token_hash))
            .filter(mail_tokens::used_at.is_null())
            .filter(mail_tokens::expires_at.gt(now))
            .filter(mail_tokens::purpose.eq_any(&names)),
    )
    .set(mail_tokens::used_at.eq(now))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    find_token(conn, token_hash)
}

/// Deletes the account's unused tokens of `purpose` (a token whose address is no longer
/// the account's, say).
pub fn drop_unused_tokens(
    conn: &mut DbConnection,
    user_id: UserId,
    purpose: TokenPurpose,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        mail_tokens::table
            .filter(mail_tokens::user_id.eq(user_id.get()))
            .filter(mail_tokens::purpose.eq(purpose.as_str()))
            .filter(mail_tokens::used_at.is_null()),
    )
    .execute(conn)?)
}

/// A mail taken for delivery by [`claim`]. `Debug` does not show the body.
#[derive(Clone, PartialEq, Eq, QueryableByName)]
pub struct Claimed {
    /// The outbox row.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The account, if it still exists.
    #[diesel(sql_type = Nullable<Integer>)]
    pub user_id: Option<i32>,
    /// Its purpose name.
    #[diesel(sql_type = Text)]
    pub purpose: String,
    /// The `To` address.
    #[diesel(sql_type = Text)]
    pub recipient: String,
    /// The `Subject`.
    #[diesel(sql_type = Text)]
    pub subject: String,
    /// The sealed body.
    #[diesel(sql_type = Nullable<Text>)]
    pub body: Option<String>,
    /// Attempts made, this one included.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Takes up to `limit` due mails (pending, due by `now`, held by nobody or by a holder
/// whose lease ended) until `lease_until`, counting an attempt on each, oldest due first.
/// One statement: on PostgreSQL the rows are locked and those another instance is taking
/// are skipped (`FOR UPDATE SKIP LOCKED`); SQLite runs it under its write lock. So no two
/// instances hold one mail at the same time.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Claimed>, DbError> {
    const COLUMNS: &str = "id, user_id, purpose, recipient, subject, body, attempts";
    write_transaction(conn, |conn| {
        Ok(match conn {
            DbConnection::Postgres(pg) => diesel::sql_query(format!(
                "UPDATE mail_outbox SET claimed_until = $1, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM mail_outbox \
                   WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 \
                   AND (claimed_until IS NULL OR claimed_until <= $2) \
                   ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 RETURNING {COLUMNS}"
            ))
            .bind::<Timestamp, _>(lease_until)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(pg)?,
            DbConnection::Sqlite(lite) => diesel::sql_query(format!(
                "UPDATE mail_outbox SET claimed_until = ?, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM mail_outbox \
                   WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? \
                   AND (claimed_until IS NULL OR claimed_until <= ?) \
                   ORDER BY next_attempt_at, id LIMIT ?) \
                 RETURNING {COLUMNS}"
            ))
            .bind::<Timestamp, _>(lease_until)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(lite)?,
        })
    })
}

/// The query of one pending mail.
type PendingMail = diesel::dsl::Filter<
    diesel::dsl::Filter<ById, diesel::dsl::IsNull<mail_outbox::sent_at>>,
    diesel::dsl::IsNull<mail_outbox::failed_at>,
>;
type ById = diesel::dsl::Filter<mail_outbox::table, diesel::dsl::Eq<mail_outbox::id, i64>>;

/// A pending mail (neither sent nor given up).
fn pending(id: i64) -> PendingMail {
    mail_outbox::table
        .filter(mail_outbox::id.eq(id))
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
}

/// Longest error text kept (the column is `VARCHAR(255)`).
const MAX_ERROR_CHARS: usize = 255;

fn error_text(e: &str) -> String {
    e.chars().take(MAX_ERROR_CHARS).collect()
}

/// The mail was accepted by the SMTP server: it is done and its body is erased.
pub fn mark_sent(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<bool, DbError> {
    let n = diesel::update(pending(id))
        .set((
            mail_outbox::sent_at.eq(now),
            mail_outbox::body.eq(None::<String>),
            mail_outbox::claimed_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// The attempt failed for now (the server unreachable, or a 4xx): try again at `next`.
pub fn mark_retry(
    conn: &mut DbConnection,
    id: i64,
    next: NaiveDateTime,
    error: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(pending(id))
        .set((
            mail_outbox::next_attempt_at.eq(next),
            mail_outbox::claimed_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(error_text(error)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Given up (a 5xx, or too many attempts): done, and its body is erased.
pub fn mark_failed(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
    error: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(pending(id))
        .set((
            mail_outbox::failed_at.eq(now),
            mail_outbox::body.eq(None::<String>),
            mail_outbox::claimed_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(error_text(error)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Mails neither sent nor given up.
pub fn backlog(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .count()
        .get_result(conn)?)
}

/// When the earliest pending mail is due (its lease, if held, included), if any.
pub fn next_due(conn: &mut DbConnection) -> Result<Option<NaiveDateTime>, DbError> {
    let rows: Vec<(NaiveDateTime, Option<NaiveDateTime>)> = mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .order(mail_outbox::next_attempt_at.asc())
        .select((mail_outbox::next_attempt_at, mail_outbox::claimed_until))
        .limit(16)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(due, lease)| lease.map_or(due, |l| l.max(due)))
        .min())
}
