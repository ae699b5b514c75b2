//! The `sessions` table: open, check, rotate and revoke login sessions.
//!
//! A refresh token is derived from `(id, refresh_counter)` by the API with a server key, so
//! nothing secret is stored here: rotating is one conditional update of the counter.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use users_domain::{User, UserId};

use crate::schema::{sessions, users};
use crate::users::UserRow;
use crate::{DbConnection, DbError};

diesel::define_sql_function! {
    /// PostgreSQL's `rotate_session(id, presented, now)`: [`rotate_current`] in one call.
    fn rotate_session(
        id: diesel::sql_types::Text,
        presented: diesel::sql_types::BigInt,
        now: diesel::sql_types::Timestamp,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Integer>;
}

/// A `sessions` row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Session {
    /// Random session id (the tokens' `sid`).
    pub id: String,
    /// Owner.
    pub user_id: i32,
    /// Opened at, UTC.
    pub created_at: NaiveDateTime,
    /// Ends at, UTC.
    pub expires_at: NaiveDateTime,
    /// Revoked at, UTC.
    pub revoked_at: Option<NaiveDateTime>,
    /// Index of the current refresh token.
    pub refresh_counter: i64,
    /// When the counter last moved, UTC.
    pub rotated_at: Option<NaiveDateTime>,
    /// The `User-Agent` that opened it.
    pub user_agent: Option<String>,
    /// Opened or last refreshed at, UTC.
    pub last_seen_at: Option<NaiveDateTime>,
}

impl Session {
    /// Whether access and refresh tokens of this session may be used at `now`.
    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Insertable)]
#[diesel(table_name = sessions)]
struct NewSession<'a> {
    id: &'a str,
    user_id: i32,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    refresh_counter: i64,
    user_agent: Option<&'a str>,
    last_seen_at: NaiveDateTime,
}

/// Longest `user_agent` kept, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// Opens a session for `user_id`, ending at `expires_at`.
pub fn create(
    conn: &mut DbConnection,
    id: &str,
    user_id: UserId,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<Session, DbError> {
    create_with_agent(conn, id, user_id, now, expires_at, None)
}

/// [`create`], recording the `User-Agent` that opened the session (cut to
/// [`MAX_USER_AGENT_CHARS`] characters).
pub fn create_with_agent(
    conn: &mut DbConnection,
    id: &str,
    user_id: UserId,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
    user_agent: Option<&str>,
) -> Result<Session, DbError> {
    let agent: Option<String> = user_agent.map(|a| a.chars().take(MAX_USER_AGENT_CHARS).collect());
    diesel::insert_into(sessions::table)
        .values(NewSession {
            id,
            user_id: user_id.get(),
            created_at: now,
            expires_at,
            refresh_counter: 0,
            user_agent: agent.as_deref(),
            last_seen_at: now,
        })
        .execute(conn)?;
    Ok(sessions::table
        .find(id)
        .select(Session::as_select())
        .first(conn)?)
}

/// The session with this id, if it still belongs to its user: `None` when there is no such
/// session, when its user is gone, or when the session is older than the user (opened for
/// an earlier holder of the id, which plain SQL or an import can give to someone else).
/// Refresh reads the session through this, so such a session's refresh token is refused.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Session>, DbError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(id))
        .filter(sessions::created_at.ge(users::created_at))
        .select(Session::as_select())
        .first(conn)
        .optional()?)
}

/// What one authenticated request needs to know, read in one query.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    /// The user the token names.
    pub user: User,
    /// The token's session, when the token names one and it belongs to that user: the
    /// session's `user_id` is the user's, and it is not older than the user (a session
    /// opened for an earlier holder of the id is not this user's).
    pub session: Option<SessionStatus>,
}

impl AuthRecord {
    /// Whether a token issued at `iat` (seconds since the epoch, as in the claims) predates
    /// the user: then it was issued to an earlier holder of the id, not to this user, and
    /// must be refused. Session tokens need no such check (a session older than its user is
    /// already not returned); legacy tokens (no `sid`) carry only `iat`. Compared at whole
    /// seconds, as `iat` is: a token of the user's creation second is theirs.
    pub fn issued_before_user(&self, iat: u64) -> bool {
        let created = self.user.created_at.and_utc().timestamp();
        i64::try_from(iat).is_ok_and(|iat| iat < created)
    }
}

/// The state of a session at the time of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStatus {
    /// Revoked at, if revoked.
    pub revoked_at: Option<NaiveDateTime>,
    /// Ends at.
    pub expires_at: NaiveDateTime,
}

impl SessionStatus {
    /// Whether the session may be used at `now`.
    pub fn is_live(&self, now: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// The user `user_id` and, when `sid` is given, that session of theirs: one indexed query
/// (a left join on both primary keys). `None` when the user does not exist; `session` is
/// `None` when the session does not exist, is another user's, or is older than the user.
pub fn auth_lookup(
    conn: &mut DbConnection,
    user_id: UserId,
    sid: Option<&str>,
) -> Result<Option<AuthRecord>, DbError> {
    let Some(sid) = sid else {
        return Ok(
            crate::users::find_by_id(conn, user_id)?.map(|user| AuthRecord {
                user,
                session: None,
            }),
        );
    };
    let row: Option<(UserRow, Option<NaiveDateTime>, Option<NaiveDateTime>)> = users::table
        .left_join(
            sessions::table.on(sessions::id
                .eq(sid)
                .and(sessions::user_id.eq(users::id))
                .and(sessions::created_at.ge(users::created_at))),
        )
        .filter(users::id.eq(user_id.get()))
        .select((
            UserRow::as_select(),
            sessions::revoked_at.nullable(),
            sessions::expires_at.nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user, revoked_at, expires_at)| AuthRecord {
        user: user.into(),
        session: expires_at.map(|expires_at| SessionStatus {
            revoked_at,
            expires_at,
        }),
    }))
}

/// Moves the refresh counter from `from` to `from + 1` if it is still `from` and the session
/// is live: the single-use step of refresh rotation. `false` when another request rotated
/// first, or the session is no longer live.
pub fn rotate(
    conn: &mut DbConnection,
    id: &str,
    from: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::refresh_counter.eq(from))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now)),
    )
    .set((
        sessions::refresh_counter.eq(from + 1),
        sessions::rotated_at.eq(now),
        sessions::last_seen_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The common step of refresh rotation in one statement: when the presented counter is the
/// current one, the session live and its user active (and not younger than the session),
/// moves the counter on and answers the user. `None` otherwise (then the caller reads the
/// session and decides: a replay within the grace window, reuse, or a refusal). Three round
/// trips (session, user, update) become one; the conditions are those of [`find`],
/// `users::find_by_id` and [`rotate`] together.
pub fn rotate_current(
    conn: &mut DbConnection,
    id: &str,
    presented: i64,
    now: NaiveDateTime,
) -> Result<Option<UserId>, DbError> {
    let Some(next) = presented.checked_add(1) else {
        return Ok(None);
    };
    if let DbConnection::Postgres(pg) = conn {
        // The same statement inside a function, so that its plan is kept (see the migration
        // `rotate_session`): diesel does not prepare an UPDATE for reuse.
        let owner: Option<i32> =
            diesel::select(rotate_session(id, presented, now)).get_result(pg)?;
        return Ok(owner.map(UserId::new));
    }
    let owner_active = users::table
        .filter(users::id.eq(sessions::user_id))
        .filter(users::active.eq(true))
        .filter(users::created_at.le(sessions::created_at));
    let rows: Vec<i32> = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::refresh_counter.eq(presented))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(diesel::dsl::exists(owner_active)),
    )
    .set((
        sessions::refresh_counter.eq(next),
        sessions::rotated_at.eq(now),
        sessions::last_seen_at.eq(now),
    ))
    .returning(sessions::user_id)
    .load(conn)?;
    Ok(rows.first().map(|&id| UserId::new(id)))
}

/// Revokes one session; `false` when it was not live.
pub fn revoke(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let n = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// The user's live sessions (not revoked, not ended at `now`), newest first.
pub fn list_live(
    conn: &mut DbConnection,
    user_id: UserId,
    now: NaiveDateTime,
) -> Result<Vec<Session>, DbError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id.get()))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(Session::as_select())
        .load(conn)?)
}

/// Revokes session `id` if it is a live session of `user_id`; `false` otherwise (another
/// user's session, an ended or revoked one, or none).
pub fn revoke_own(
    conn: &mut DbConnection,
    user_id: UserId,
    id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::user_id.eq(user_id.get()))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now)),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revokes every live session of a user, but `except` when given; returns how many.
pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
    except: Option<&str>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let target = sessions::table
        .filter(sessions::user_id.eq(user_id.get()))
        .filter(sessions::revoked_at.is_null());
    let n = match except {
        Some(keep) => diesel::update(target.filter(sessions::id.ne(keep)))
            .set(sessions::revoked_at.eq(now))
            .execute(conn)?,
        None => diesel::update(target)
            .set(sessions::revoked_at.eq(now))
            .execute(conn)?,
    };
    Ok(n)
}
