//! Users as stored and as created.

use chrono::{NaiveDateTime, SubsecRound, Utc};

use crate::{
    Email, Password, PasswordError, PasswordHash, PasswordHasher, PasswordPolicy, UserId, Username,
    ValueError,
};

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
    /// When the address was verified (UTC); `None` while it is not.
    pub email_verified_at: Option<NaiveDateTime>,
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

/// A new account as a request or the command line gives it, each field parsed into its
/// value type: the one way the API's registration, its admin `POST /users`, and the CLI's
/// `create-user` and `seed-db` turn raw fields into a user to insert.
#[derive(Debug)]
pub struct Signup {
    /// The username.
    pub username: Username,
    /// The email.
    pub email: Email,
    /// The password, before hashing.
    pub password: Password,
}

impl Signup {
    /// Parses the three fields; the first invalid one is the error.
    pub fn parse(
        username: &str,
        email: &str,
        password: &str,
        policy: PasswordPolicy,
    ) -> Result<Self, InvalidField> {
        let invalid = |field| move |reason| InvalidField { field, reason };
        Ok(Self {
            username: Username::parse(username).map_err(invalid("username"))?,
            email: Email::parse(email).map_err(invalid("email"))?,
            password: Password::parse(password, policy).map_err(invalid("password"))?,
        })
    }

    /// Hashes the password: the user to insert (active, not admin, created now).
    pub fn hash(self, hasher: &PasswordHasher) -> Result<NewUser, PasswordError> {
        Ok(NewUser::new(
            self.username,
            self.email,
            hasher.hash(&self.password)?,
        ))
    }
}

/// A field of a [`Signup`] that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}")]
pub struct InvalidField {
    /// `username`, `email` or `password`.
    pub field: &'static str,
    /// Why.
    #[source]
    pub reason: ValueError,
}
