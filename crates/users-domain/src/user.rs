//! Users as stored and as created.

use chrono::{NaiveDateTime, SubsecRound, Utc};

use crate::{Email, PasswordHash, UserId, Username};

/// A stored user. Text fields are plain strings: rows may have been written by operators
/// with plain SQL, and a read must not fail on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// Unique username.
    pub username: String,
    /// Unique email, lower-cased when written by this service.
    pub email: String,
    /// The argon2id (or imported bcrypt) PHC string.
    pub password_hash: PasswordHash,
    /// Inactive users cannot use protected routes.
    pub active: bool,
    /// Admins may create users.
    pub admin: bool,
    /// UTC, without zone.
    pub created_at: NaiveDateTime,
}

/// A user to insert: every field already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Username.
    pub username: Username,
    /// Email.
    pub email: Email,
    /// Hash of the password.
    pub password_hash: PasswordHash,
    /// Active (true for registrations).
    pub active: bool,
    /// Admin (false for registrations).
    pub admin: bool,
    /// Creation time, UTC.
    pub created_at: NaiveDateTime,
}

impl NewUser {
    /// An active, non-admin user created now.
    pub fn new(username: Username, email: Email, password_hash: PasswordHash) -> Self {
        Self {
            username,
            email,
            password_hash,
            active: true,
            admin: false,
            created_at: now_utc(),
        }
    }
}

/// The current UTC time at microsecond precision, the precision both backends store.
pub fn now_utc() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}
