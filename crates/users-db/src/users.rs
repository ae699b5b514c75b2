//! The `users` table: its row model and small connection-first query functions.
//!
//! Uniqueness of username and email is enforced by the database's unique indexes, never by
//! a check-then-insert: a violation comes back as [`DbError::Duplicate`].

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use users_domain::{Email, NewUser, PasswordHash, User, UserId, Username};

use crate::schema::users;
use crate::{DbConnection, DbError, UniqueField};

/// Most rows one listing returns.
pub const MAX_LIST_LIMIT: i64 = 1000;

/// A `users` row as stored. Convert it with `User::from`.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct UserRow {
    /// Primary key.
    pub id: i32,
    /// Username.
    pub username: String,
    /// Email.
    pub email: String,
    /// The password hash (column `password`).
    #[diesel(column_name = password)]
    pub password_hash: String,
    /// Active flag.
    pub active: bool,
    /// Admin flag.
    pub admin: bool,
    /// Creation time, UTC.
    pub created_at: NaiveDateTime,
    /// Verification time, UTC.
    pub email_verified_at: Option<NaiveDateTime>,
}

impl fmt::Debug for UserRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("active", &self.active)
            .field("admin", &self.admin)
            .field("created_at", &self.created_at)
            .field("email_verified_at", &self.email_verified_at)
            .finish()
    }
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId::new(row.id),
            username: row.username,
            email: row.email,
            password_hash: PasswordHash::from_stored(row.password_hash),
            active: row.active,
            admin: row.admin,
            created_at: row.created_at,
            email_verified_at: row.email_verified_at,
        }
    }
}

/// The case folding of prefix search, applied on both sides: to the stored
/// `username_folded` / `email_folded` columns (written here, never by SQL, whose `lower()`
/// folds ASCII only on SQLite and depends on the ctype on PostgreSQL) and to the query.
///
/// Each character is lower-cased on its own (Unicode, not only ASCII), and a final sigma is
/// an ordinary one: so `fold(a + b) == fold(a) + fold(b)`, and a prefix of a name folds to a
/// prefix of the folded name (`str::to_lowercase` folds a final `Σ` to `ς` by context).
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect()
}

#[derive(Insertable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct NewUserRow<'a> {
    username: &'a str,
    email: &'a str,
    password: &'a str,
    active: bool,
    admin: bool,
    created_at: NaiveDateTime,
    username_folded: String,
    email_folded: String,
}

impl<'a> From<&'a NewUser> for NewUserRow<'a> {
    fn from(user: &'a NewUser) -> Self {
        Self {
            username: user.username.as_str(),
            email: user.email.as_str(),
            password: user.password_hash.as_str(),
            active: user.active,
            admin: user.admin,
            created_at: user.created_at,
            username_folded: fold(user.username.as_str()),
            email_folded: fold(user.email.as_str()),
        }
    }
}

/// Changes to a user; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// A new username.
    pub username: Option<Username>,
    /// A new email.
    pub email: Option<Email>,
    /// A new active flag.
    pub active: Option<bool>,
    /// A new admin flag.
    pub admin: Option<bool>,
}

impl UserChanges {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.active.is_none()
            && self.admin.is_none()
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangeset<'a> {
    username: Option<&'a str>,
    email: Option<&'a str>,
    active: Option<bool>,
    admin: Option<bool>,
    username_folded: Option<String>,
    email_folded: Option<String>,
}

/// Where a newest-first page starts: just after the row with this `created_at` and `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    /// `created_at` of the last row of the previous page.
    pub created_at: NaiveDateTime,
    /// `id` of the last row of the previous page.
    pub id: UserId,
}

impl From<&User> for PageCursor {
    fn from(user: &User) -> Self {
        Self {
            created_at: user.created_at,
            id: user.id,
        }
    }
}

/// A newest-first listing request (keyset paging on `(created_at DESC, id DESC)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Rows wanted, clamped to `1..=MAX_LIST_LIMIT`.
    pub limit: i64,
    /// Start after this row; `None` for the newest page.
    pub after: Option<PageCursor>,
    /// Only users whose username or email starts with this, case-insensitively ([`fold`]
    /// on both sides, the same on both backends). `%` and `_` match literally.
    pub prefix: Option<String>,
}

/// The columns of a [`UserRow`], for `RETURNING`. `as_returning()` cannot serve here: a
/// multi-backend `RETURNING` clause must be valid SQL for each backend, and `SelectBy` is
/// only valid for the multi-backend itself; the plain column tuple is valid everywhere.
fn row_columns() -> <UserRow as Selectable<diesel::pg::Pg>>::SelectExpression {
    <UserRow as Selectable<diesel::pg::Pg>>::construct_selection()
}

/// Runs a write with `RETURNING` to completion and gives its rows.
///
/// Never `get_result` for a write: it steps the statement once, reads the row and resets
/// the statement, and on SQLite an error raised when the statement completes (the commit of
/// an autocommit statement, `SQLITE_FULL` on a full disk, say) comes back from that reset,
/// which diesel drops: the caller got the new row of a write that was rolled back. `load`
/// steps until the statement is done, so that error is the result.
fn write_returning<'q, Q>(conn: &mut DbConnection, write: Q) -> Result<Vec<UserRow>, DbError>
where
    Q: diesel::query_dsl::LoadQuery<'q, DbConnection, UserRow>,
{
    Ok(write.load::<UserRow>(conn)?)
}

/// Inserts a user and returns it as stored (with its id).
///
/// A taken username or email is [`DbError::Duplicate`]; the database decides, so of many
/// concurrent inserts of one email exactly one succeeds. A write that fails (a full disk)
/// is an error, never a user that was not stored.
pub fn insert(conn: &mut DbConnection, user: &NewUser) -> Result<User, DbError> {
    let write = diesel::insert_into(users::table)
        .values(NewUserRow::from(user))
        .returning(row_columns());
    let row = write_returning(conn, write)?
        .pop()
        .ok_or(DbError::Query(diesel::result::Error::NotFound))?;
    Ok(User::from(row))
}

/// The user with this id.
pub fn find_by_id(conn: &mut DbConnection, id: UserId) -> Result<Option<User>, DbError> {
    let row = users::table
        .find(id.get())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(User::from))
}

/// The user with this email (emails are stored lower-cased, as [`Email`] holds them).
pub fn find_by_email(conn: &mut DbConnection, email: &Email) -> Result<Option<User>, DbError> {
    let row = users::table
        .filter(users::email.eq(email.as_str()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(User::from))
}

/// The user with this username.
///
/// Only for tests (feature `test-support`): the service does not use it.
#[cfg(feature = "test-support")]
pub fn find_by_username(
    conn: &mut DbConnection,
    username: &Username,
) -> Result<Option<User>, DbError> {
    let row = users::table
        .filter(users::username.eq(username.as_str()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(User::from))
}

/// The users holding this username or this email: none, one, or two different users,
/// ordered by id.
pub fn find_by_username_or_email(
    conn: &mut DbConnection,
    username: &Username,
    email: &Email,
) -> Result<Vec<User>, DbError> {
    let rows = users::table
        .filter(
            users::username
                .eq(username.as_str())
                .or(users::email.eq(email.as_str())),
        )
        .order(users::id.asc())
        .select(UserRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(User::from).collect())
}

/// The newest users, newest first (`created_at DESC, id DESC`), at most `limit` of them
/// (clamped to `1..=MAX_LIST_LIMIT`).
///
/// Only for tests (feature `test-support`): the service does not use it.
#[cfg(feature = "test-support")]
pub fn list_newest(conn: &mut DbConnection, limit: i64) -> Result<Vec<User>, DbError> {
    list(
        conn,
        &ListQuery {
            limit,
            ..ListQuery::default()
        },
    )
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One newest-first page: keyset paging on the `(created_at DESC, id DESC)` index, no
/// `OFFSET`. The next page starts after the last row returned ([`PageCursor::from`]).
///
/// A prefix search compares the folded columns (`username_folded`, `email_folded`, see
/// [`fold`]) with the folded prefix. Walking the `created_at` index and filtering is fast
/// when matches are common and a walk of the whole table when they are rare. PostgreSQL's
/// planner picks the folded columns' indexes (`COLLATE "C"`, so a prefix is a byte range)
/// for rare prefixes by itself; on SQLite, whose planner does not weigh the two,
/// [`list_prefix_sqlite`] tries the newest rows first and otherwise asks those indexes.
pub fn list(conn: &mut DbConnection, query: &ListQuery) -> Result<Vec<User>, DbError> {
    match (&*conn, query.prefix.as_deref()) {
        (DbConnection::Sqlite(_), Some(prefix)) => list_prefix_sqlite(conn, query, prefix),
        (_, prefix) => page(conn, query, prefix.map(prefix_range)),
    }
}

/// A `WHERE` condition on `users`, for boxed queries.
type BoxedCondition =
    Box<dyn BoxableExpression<users::table, <DbConnection as Connection>::Backend, SqlType = Bool>>;

/// `(created_at, id) < (c, i)`, written so that both planners seek the index to
/// `created_at <= c` instead of scanning it from the newest row: the plain
/// `created_at < c OR (created_at = c AND id < i)` made SQLite walk every newer row.
fn before(c: PageCursor) -> BoxedCondition {
    Box::new(
        users::created_at.le(c.created_at).and(
            users::created_at
                .lt(c.created_at)
                .or(users::id.lt(c.id.get())),
        ),
    )
}

/// `(created_at, id) >= (c, i)`, the same way round.
fn at_or_after(c: PageCursor) -> BoxedCondition {
    Box::new(
        users::created_at.ge(c.created_at).and(
            users::created_at
                .gt(c.created_at)
                .or(users::id.ge(c.id.get())),
        ),
    )
}

/// Username or email starts with `prefix`, case-insensitively, as `LIKE` on the folded
/// columns (`%` and `_` literal). SQLite uses no index for it (its `LIKE` is
/// ASCII-case-insensitive, which changes nothing on folded text), so the newest-rows walk
/// of [`list_prefix_sqlite`] stays a walk of the `created_at` index.
fn prefix_like(prefix: &str) -> BoxedCondition {
    let pattern = escape_like(&fold(prefix));
    Box::new(
        users::username_folded
            .like(pattern.clone())
            .escape('\\')
            .or(users::email_folded.like(pattern).escape('\\')),
    )
}

/// The same as [`prefix_like`] written as byte ranges on the folded columns, which their
/// indexes serve on both backends: the strings with this prefix are those in
/// [prefix, successor) in code point order (SQLite's `BINARY`, PostgreSQL's `"C"`).
fn prefix_range(prefix: &str) -> BoxedCondition {
    let lo = fold(prefix);
    let (name, mail) = (|| users::username_folded, || users::email_folded);
    match prefix_successor(&lo) {
        Some(hi) => Box::new(
            name()
                .ge(lo.clone())
                .and(name().lt(hi.clone()))
                .or(mail().ge(lo).and(mail().lt(hi))),
        ),
        None => Box::new(name().ge(lo.clone()).or(mail().ge(lo))),
    }
}

/// One newest-first page from the cursor on, with the extra conditions.
fn page(
    conn: &mut DbConnection,
    query: &ListQuery,
    conditions: impl IntoIterator<Item = BoxedCondition>,
) -> Result<Vec<User>, DbError> {
    let mut q = users::table
        .select(UserRow::as_select())
        .order((users::created_at.desc(), users::id.desc()))
        .limit(query.limit.clamp(1, MAX_LIST_LIMIT))
        .into_boxed();
    if let Some(after) = query.after {
        q = q.filter(before(after));
    }
    for condition in conditions {
        q = q.filter(condition);
    }
    let rows = q.load(conn)?;
    Ok(rows.into_iter().map(User::from).collect())
}

/// A newest-first page of a database with only the Flask service's `users` columns (the
/// source of `import-flask`): no column of ours is read. Its users existed before Part C,
/// so they count as verified (`email_verified_at` is their `created_at`).
pub fn list_contract_columns(
    conn: &mut DbConnection,
    after: Option<PageCursor>,
    limit: i64,
) -> Result<Vec<User>, DbError> {
    let mut q = users::table
        .select((
            users::id,
            users::username,
            users::email,
            users::password,
            users::active,
            users::admin,
            users::created_at,
        ))
        .order((users::created_at.desc(), users::id.desc()))
        .limit(limit.clamp(1, MAX_LIST_LIMIT))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(before(after));
    }
    let rows: Vec<(i32, String, String, String, bool, bool, NaiveDateTime)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, username, email, password_hash, active, admin, created_at)| {
                User::from(UserRow {
                    id,
                    username,
                    email,
                    password_hash,
                    active,
                    admin,
                    created_at,
                    email_verified_at: Some(created_at),
                })
            },
        )
        .collect())
}

/// How many of the newest rows a SQLite prefix search reads before it turns to the folded
/// columns' indexes.
const RECENT_ROWS: i64 = 2000;

/// Prefix search on SQLite. First the newest [`RECENT_ROWS`] rows (from the cursor on):
/// if they hold a full page of matches, those are the newest matches of all. Otherwise the
/// matches are rare, and the folded columns' indexes find every one of them, sorted
/// afterwards.
/// Each path is fast exactly where the other is slow.
fn list_prefix_sqlite(
    conn: &mut DbConnection,
    query: &ListQuery,
    prefix: &str,
) -> Result<Vec<User>, DbError> {
    // The row RECENT_ROWS deep: a bounded walk of the index, not paging by OFFSET.
    let mut deep = users::table
        .select((users::created_at, users::id))
        .order((users::created_at.desc(), users::id.desc()))
        .offset(RECENT_ROWS - 1)
        .into_boxed();
    if let Some(after) = query.after {
        deep = deep.filter(before(after));
    }
    let Some((created_at, id)) = deep.first::<(NaiveDateTime, i32)>(conn).optional()? else {
        // Fewer rows than that from here on: one walk reads them all.
        return page(conn, query, [prefix_like(prefix)]);
    };
    let floor = PageCursor {
        created_at,
        id: UserId::new(id),
    };
    let recent = page(conn, query, [at_or_after(floor), prefix_like(prefix)])?;
    if recent.len() as i64 >= query.limit.clamp(1, MAX_LIST_LIMIT) {
        return Ok(recent);
    }
    page(conn, query, [prefix_range(prefix)])
}

/// The smallest string greater than every string that starts with `prefix` (in code point,
/// hence UTF-8 byte, order): the last character moved up by one, skipping surrogates, after
/// dropping trailing characters that cannot move. `None` when there is none.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Sets `active`; true if the user exists.
///
/// Only for tests (feature `test-support`): the service does not use it.
#[cfg(feature = "test-support")]
pub fn set_active(conn: &mut DbConnection, id: UserId, active: bool) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.get()))
        .set(users::active.eq(active))
        .execute(conn)?;
    Ok(n > 0)
}

/// Sets `admin`; true if the user exists.
///
/// Only for tests (feature `test-support`): the service does not use it.
#[cfg(feature = "test-support")]
pub fn set_admin(conn: &mut DbConnection, id: UserId, admin: bool) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.get()))
        .set(users::admin.eq(admin))
        .execute(conn)?;
    Ok(n > 0)
}

/// Replaces the password hash (after a password change or a re-hash at login); true if the
/// user exists.
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: UserId,
    hash: &PasswordHash,
) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.get()))
        .set(users::password.eq(hash.as_str()))
        .execute(conn)?;
    Ok(n > 0)
}

/// Replaces the password hash only if it is still `expected` (the hash the caller verified
/// the old password against): two concurrent changes cannot both succeed. True if replaced.
pub fn set_password_hash_if(
    conn: &mut DbConnection,
    id: UserId,
    expected: &PasswordHash,
    hash: &PasswordHash,
) -> Result<bool, DbError> {
    let n = diesel::update(
        users::table
            .find(id.get())
            .filter(users::password.eq(expected.as_str())),
    )
    .set(users::password.eq(hash.as_str()))
    .execute(conn)?;
    Ok(n > 0)
}

/// Marks the address verified at `now` if the user still has exactly this address (and it
/// was not verified before: an earlier time is kept). True if the user has this address.
pub fn mark_email_verified(
    conn: &mut DbConnection,
    id: UserId,
    email: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let mine = users::table.find(id.get()).filter(users::email.eq(email));
    diesel::update(mine.filter(users::email_verified_at.is_null()))
        .set(users::email_verified_at.eq(now))
        .execute(conn)?;
    let n: i64 = mine.count().get_result(conn)?;
    Ok(n == 1)
}

/// Makes `email` the user's address, verified at `now` (a confirmed address change). A
/// taken address is [`DbError::Duplicate`]. True if the user exists.
pub fn change_email(
    conn: &mut DbConnection,
    id: UserId,
    email: &Email,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.get()))
        .set((
            users::email.eq(email.as_str()),
            users::email_folded.eq(fold(email.as_str())),
            users::email_verified_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Applies the changes in one statement and returns the user as stored, or `None` if there
/// is no such user. A taken username or email is [`DbError::Duplicate`]. No changes at all
/// just reads the user. A write that fails (a full disk) is an error, never the new row of
/// a change that did not happen.
pub fn update(
    conn: &mut DbConnection,
    id: UserId,
    changes: &UserChanges,
) -> Result<Option<User>, DbError> {
    if changes.is_empty() {
        return find_by_id(conn, id);
    }
    let changeset = UserChangeset {
        username: changes.username.as_ref().map(Username::as_str),
        email: changes.email.as_ref().map(Email::as_str),
        active: changes.active,
        admin: changes.admin,
        username_folded: changes.username.as_ref().map(|u| fold(u.as_str())),
        email_folded: changes.email.as_ref().map(|e| fold(e.as_str())),
    };
    let write = diesel::update(users::table.find(id.get()))
        .set(changeset)
        .returning(row_columns());
    Ok(write_returning(conn, write)?.pop().map(User::from))
}

/// Deletes the user; true if there was one.
pub fn delete(conn: &mut DbConnection, id: UserId) -> Result<bool, DbError> {
    let n = diesel::delete(users::table.find(id.get())).execute(conn)?;
    Ok(n > 0)
}

/// What importing one user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Inserted with its id.
    Imported,
    /// This user is already here with this id and email (an earlier import): left as it is.
    AlreadyPresent,
    /// Another user here has this id: not imported.
    IdTaken,
    /// Another user here has this username or email: not imported.
    Conflict(UniqueField),
}

/// The email as this service stores it: lower-cased exactly as [`Email::parse`] does, so that
/// a login with the address finds it. (A source address `Email` refuses is still kept.)
fn stored_email(email: &str) -> String {
    Email::parse(email).map_or_else(|_| email.to_lowercase(), |e| e.as_str().to_owned())
}

/// Inserts a user copied from another database, keeping its id, hash, flags and date.
/// The email is stored lower-cased as [`Email`] does (two source users whose emails differ
/// only in case, ASCII or not, are a conflict). Idempotent: a user already present with the
/// same id and (so stored) email is left alone.
pub fn import(conn: &mut DbConnection, user: &User) -> Result<ImportOutcome, DbError> {
    let email = stored_email(&user.email);
    if let Some(existing) = find_by_id(conn, user.id)? {
        return Ok(if existing.email == email {
            ImportOutcome::AlreadyPresent
        } else {
            ImportOutcome::IdTaken
        });
    }
    let result = diesel::insert_into(users::table)
        .values((
            users::id.eq(user.id.get()),
            users::username.eq(&user.username),
            users::username_folded.eq(fold(&user.username)),
            users::email_folded.eq(fold(&email)),
            users::email.eq(email),
            users::password.eq(user.password_hash.as_str()),
            users::active.eq(user.active),
            users::admin.eq(user.admin),
            users::created_at.eq(user.created_at),
            users::email_verified_at.eq(user.email_verified_at),
        ))
        .execute(conn);
    match result.map_err(DbError::from) {
        Ok(_) => Ok(ImportOutcome::Imported),
        Err(DbError::Duplicate { field }) => Ok(ImportOutcome::Conflict(field)),
        Err(e) => Err(e),
    }
}

/// After inserts with explicit ids, moves PostgreSQL's identity sequence past the largest id
/// so the next registration does not collide. SQLite's AUTOINCREMENT follows by itself.
pub fn sync_id_sequence(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), \
             COALESCE((SELECT MAX(id) FROM users), 0) + 1, false)",
        )
        .execute(pg)?;
    }
    Ok(())
}

/// Most rows [`backfill_folded`] reads and updates in one transaction.
const BACKFILL_BATCH: i64 = 500;

/// Fills in `username_folded` / `email_folded` where they are `''` (rows that existed before
/// the folded columns, or that plain SQL inserted since): with them, such rows are found by
/// prefix search. [`crate::run_migrations`] calls it after migrating, so every start-up
/// does; it is one indexed query when there is nothing to do. Safe beside the service and
/// other instances: a row renamed meanwhile is left for the next run, never given the fold
/// of its old name. Returns how many rows it filled in.
pub fn backfill_folded(conn: &mut DbConnection) -> Result<usize, DbError> {
    let mut total = 0;
    loop {
        let rows: Vec<(i32, String, String)> = users::table
            .filter(
                (users::username_folded.eq("").and(users::username.ne("")))
                    .or(users::email_folded.eq("").and(users::email.ne(""))),
            )
            .select((users::id, users::username, users::email))
            .order(users::id.asc())
            .limit(BACKFILL_BATCH)
            .load(conn)?;
        let n = rows.len();
        crate::write_transaction(conn, |conn| {
            for (id, username, email) in &rows {
                total += diesel::update(
                    users::table
                        .find(id)
                        .filter(users::username.eq(username))
                        .filter(users::email.eq(email)),
                )
                .set((
                    users::username_folded.eq(fold(username)),
                    users::email_folded.eq(fold(email)),
                ))
                .execute(conn)?;
            }
            Ok::<_, DbError>(())
        })?;
        if n < BACKFILL_BATCH as usize {
            return Ok(total);
        }
    }
}

/// How many users there are.
///
/// Only for tests (feature `test-support`): the service does not use it.
#[cfg(feature = "test-support")]
pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successors() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        assert_eq!(prefix_successor(""), None);
    }

    #[test]
    fn fold_lowercases_each_character_and_keeps_prefixes() {
        assert_eq!(fold("ÉMILE Иван"), "émile иван");
        assert_eq!(fold("ΟΔΟΣ"), "οδοσ");
        assert_eq!(fold("οδος"), "οδοσ");
        for (s, prefix) in [("ΟΔΟΣ", "ΟΔΟΣ"), ("ΑΣΑ", "ΑΣ"), ("İstanbul", "İ")] {
            assert!(fold(s).starts_with(&fold(prefix)), "{s} / {prefix}");
        }
    }

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(escape_like("ab"), "ab%");
        assert_eq!(escape_like("a%b_c\\"), "a\\%b\\_c\\\\%");
    }

    #[test]
    fn row_debug_hides_the_hash() {
        let row = UserRow {
            id: 1,
            username: "u".into(),
            email: "e@x.io".into(),
            password_hash: "$argon2id$secret".into(),
            active: true,
            admin: false,
            created_at: NaiveDateTime::default(),
            email_verified_at: None,
        };
        assert!(!format!("{row:?}").contains("secret"));
    }
}
