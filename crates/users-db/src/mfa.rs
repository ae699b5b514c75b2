//! The second factor's tables: `mfa_totp` (a sealed secret, pending or enabled, with the
//! last accepted step), `mfa_recovery_codes` (keyed hashes, single use) and
//! `mfa_login_tokens` (the hashed `mfa_token` of a two-step login).
//!
//! Every check that must hold under concurrency is one conditional `UPDATE`: a step is
//! accepted only if it is newer than the last one, a recovery code or an `mfa_token` is
//! spent only if unspent, so two requests racing with the same code cannot both win.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use users_domain::UserId;

use crate::schema::{mfa_login_tokens, mfa_recovery_codes, mfa_totp};
use crate::{DbConnection, DbError, write_transaction};

/// Wrong codes an `mfa_token` survives; the next one ends it.
pub const MAX_WRONG_CODES: i32 = 5;

/// A user's TOTP row.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = mfa_totp)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Totp {
    /// The user.
    pub user_id: i32,
    /// The sealed secret.
    pub secret_sealed: String,
    /// Enrolment started.
    pub created_at: NaiveDateTime,
    /// Confirmed; `None` while pending.
    pub enabled_at: Option<NaiveDateTime>,
    /// Step of the last accepted code.
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("user_id", &self.user_id)
            .field("secret_sealed", &"<redacted>")
            .field("enabled_at", &self.enabled_at)
            .field("last_step", &self.last_step)
            .finish()
    }
}

/// The user's factor, pending or enabled.
pub fn find(conn: &mut DbConnection, user_id: UserId) -> Result<Option<Totp>, DbError> {
    Ok(mfa_totp::table
        .find(user_id.get())
        .select(Totp::as_select())
        .first(conn)
        .optional()?)
}

/// Whether the user has an enabled factor.
pub fn is_enabled(conn: &mut DbConnection, user_id: UserId) -> Result<bool, DbError> {
    Ok(find(conn, user_id)?.is_some_and(|t| t.enabled_at.is_some()))
}

/// Serialises the changes to one user's factor until the transaction ends (an enrolment
/// restarted while another request confirms it, say): a transaction-level advisory lock on
/// PostgreSQL; SQLite's write transaction already excludes every other writer.
fn lock_factor(conn: &mut DbConnection, user_id: UserId) -> Result<(), DbError> {
    crate::advisory_lock(conn, &format!("mfa:{}", user_id.get()))
}

/// Starts (or restarts) a pending enrolment with a sealed secret. `false` when a factor is
/// already enabled (nothing changes then).
pub fn begin_enrolment(
    conn: &mut DbConnection,
    user_id: UserId,
    secret_sealed: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    write_transaction(conn, |conn| {
        lock_factor(conn, user_id)?;
        if is_enabled(conn, user_id)? {
            return Ok(false);
        }
        diesel::delete(mfa_totp::table.find(user_id.get())).execute(conn)?;
        diesel::insert_into(mfa_totp::table)
            .values((
                mfa_totp::user_id.eq(user_id.get()),
                mfa_totp::secret_sealed.eq(secret_sealed),
                mfa_totp::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// Enables the pending factor whose secret is `secret_sealed` (the one the code was checked
/// against: a concurrent restart of the enrolment makes this fail), with `step` as the last
/// accepted step, replacing the user's recovery codes with `code_hashes`. `false` when
/// there is no such pending enrolment. Call it inside the caller's transaction when other
/// writes (revoking sessions) must go with it.
pub fn enable(
    conn: &mut DbConnection,
    user_id: UserId,
    secret_sealed: &str,
    step: i64,
    code_hashes: &[String],
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    lock_factor(conn, user_id)?;
    let n = diesel::update(
        mfa_totp::table
            .filter(mfa_totp::user_id.eq(user_id.get()))
            .filter(mfa_totp::secret_sealed.eq(secret_sealed))
            .filter(mfa_totp::enabled_at.is_null()),
    )
    .set((mfa_totp::enabled_at.eq(now), mfa_totp::last_step.eq(step)))
    .execute(conn)?;
    if n != 1 {
        return Ok(false);
    }
    diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user_id.get())))
        .execute(conn)?;
    for hash in code_hashes {
        diesel::insert_into(mfa_recovery_codes::table)
            .values((
                mfa_recovery_codes::user_id.eq(user_id.get()),
                mfa_recovery_codes::code_hash.eq(hash),
            ))
            .execute(conn)?;
    }
    Ok(true)
}

/// Records `step` as accepted for the enabled factor if it is newer than the last accepted
/// one: `false` when it is not (a replay, or a race with the same code that the other
/// request won).
pub fn accept_step(conn: &mut DbConnection, user_id: UserId, step: i64) -> Result<bool, DbError> {
    let n = diesel::update(
        mfa_totp::table
            .filter(mfa_totp::user_id.eq(user_id.get()))
            .filter(mfa_totp::enabled_at.is_not_null())
            .filter(
                mfa_totp::last_step
                    .is_null()
                    .or(mfa_totp::last_step.lt(step)),
            ),
    )
    .set(mfa_totp::last_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

/// Spends one unused recovery code of the user; `false` when it is unknown or used.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    user_id: UserId,
    code_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        mfa_recovery_codes::table
            .filter(mfa_recovery_codes::user_id.eq(user_id.get()))
            .filter(mfa_recovery_codes::code_hash.eq(code_hash))
            .filter(mfa_recovery_codes::used_at.is_null()),
    )
    .set(mfa_recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Unused recovery codes of the user.
pub fn recovery_codes_left(conn: &mut DbConnection, user_id: UserId) -> Result<i64, DbError> {
    Ok(mfa_recovery_codes::table
        .filter(mfa_recovery_codes::user_id.eq(user_id.get()))
        .filter(mfa_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Removes the user's factor, recovery codes and pending `mfa_token`s; `true` when a factor
/// (pending or enabled) was there.
pub fn disable(conn: &mut DbConnection, user_id: UserId) -> Result<bool, DbError> {
    write_transaction(conn, |conn| {
        let n = diesel::delete(mfa_totp::table.find(user_id.get())).execute(conn)?;
        diesel::delete(
            mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user_id.get())),
        )
        .execute(conn)?;
        drop_login_tokens(conn, user_id)?;
        Ok(n > 0)
    })
}

/// Ends the user's pending `mfa_token`s (a password reset: the password they proved is no
/// longer the account's); how many.
pub fn drop_login_tokens(conn: &mut DbConnection, user_id: UserId) -> Result<usize, DbError> {
    Ok(
        diesel::delete(mfa_login_tokens::table.filter(mfa_login_tokens::user_id.eq(user_id.get())))
            .execute(conn)?,
    )
}

/// Stores a new `mfa_token` (its hash) for the user.
pub fn create_login_token(
    conn: &mut DbConnection,
    user_id: UserId,
    token_hash: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(mfa_login_tokens::table)
        .values((
            mfa_login_tokens::token_hash.eq(token_hash),
            mfa_login_tokens::user_id.eq(user_id.get()),
            mfa_login_tokens::created_at.eq(now),
            mfa_login_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user of a usable `mfa_token` (unspent, unexpired, under the wrong-code limit).
pub fn login_token_user(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<UserId>, DbError> {
    Ok(mfa_login_tokens::table
        .filter(mfa_login_tokens::token_hash.eq(token_hash))
        .filter(mfa_login_tokens::used_at.is_null())
        .filter(mfa_login_tokens::expires_at.gt(now))
        .filter(mfa_login_tokens::wrong_codes.lt(MAX_WRONG_CODES))
        .select(mfa_login_tokens::user_id)
        .first::<i32>(conn)
        .optional()?
        .map(UserId::new))
}

/// Charges one wrong code to a usable `mfa_token` before its code is checked; `false` when
/// it is no longer usable (unknown, spent, expired or out of wrong codes). Charging first, in
/// the transaction that checks the code, makes concurrent checks with one token queue on its
/// row: no more than [`MAX_WRONG_CODES`] codes are ever checked with it. A right code is
/// refunded by [`spend_login_token`].
pub fn charge_login_token(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        mfa_login_tokens::table
            .filter(mfa_login_tokens::token_hash.eq(token_hash))
            .filter(mfa_login_tokens::used_at.is_null())
            .filter(mfa_login_tokens::expires_at.gt(now))
            .filter(mfa_login_tokens::wrong_codes.lt(MAX_WRONG_CODES)),
    )
    .set(mfa_login_tokens::wrong_codes.eq(mfa_login_tokens::wrong_codes + 1))
    .execute(conn)?;
    Ok(n == 1)
}

/// Spends an `mfa_token` charged by [`charge_login_token`] in the same transaction (a
/// completed login), refunding the charge; `false` when it was spent already.
pub fn spend_login_token(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        mfa_login_tokens::table
            .filter(mfa_login_tokens::token_hash.eq(token_hash))
            .filter(mfa_login_tokens::used_at.is_null()),
    )
    .set((
        mfa_login_tokens::used_at.eq(now),
        mfa_login_tokens::wrong_codes.eq(mfa_login_tokens::wrong_codes - 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes up to `batch` `mfa_token`s that expired before `before`; how many.
pub fn purge_login_tokens(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    let ids: Vec<String> = mfa_login_tokens::table
        .filter(mfa_login_tokens::expires_at.lt(before))
        .select(mfa_login_tokens::token_hash)
        .limit(batch)
        .load(conn)?;
    Ok(
        diesel::delete(mfa_login_tokens::table.filter(mfa_login_tokens::token_hash.eq_any(ids)))
            .execute(conn)?,
    )
}
