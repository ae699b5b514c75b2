//! The `revocation_events` table: what the revocation feed serves. Rows are written by
//! triggers (see the migration `revocation_events`) in the transaction that revokes, so no
//! path can revoke without an event, and they commit in `seq` order.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::revocation_events;
use crate::{DbConnection, DbError};

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = revocation_events)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Event {
    /// Increasing.
    pub seq: i64,
    /// A revoked session.
    pub sid: Option<String>,
    /// A deactivated or deleted user.
    pub user_id: Option<i32>,
    /// Written at, UTC.
    pub created_at: NaiveDateTime,
}

/// Up to `limit` events after `after` (all kept events when `None`), in `seq` order.
pub fn after(
    conn: &mut DbConnection,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Event>, DbError> {
    let mut q = revocation_events::table
        .select(Event::as_select())
        .order(revocation_events::seq.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(revocation_events::seq.gt(after));
    }
    Ok(q.load(conn)?)
}

/// The newest event's `seq`, if any is kept.
pub fn latest(conn: &mut DbConnection) -> Result<Option<i64>, DbError> {
    Ok(revocation_events::table
        .select(diesel::dsl::max(revocation_events::seq))
        .first(conn)?)
}

/// Deletes up to `batch` events written before `before` (they revoke nothing that could
/// still be valid); how many.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> Result<usize, DbError> {
    let seqs: Vec<i64> = revocation_events::table
        .filter(revocation_events::created_at.lt(before))
        .order(revocation_events::seq.asc())
        .select(revocation_events::seq)
        .limit(batch)
        .load(conn)?;
    Ok(
        diesel::delete(revocation_events::table.filter(revocation_events::seq.eq_any(seqs)))
            .execute(conn)?,
    )
}
