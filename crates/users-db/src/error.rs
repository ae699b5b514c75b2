//! The one error type of this crate, classified so that callers never match on messages.

use std::error::Error as StdError;
use std::fmt;

use diesel::result::{ConnectionError, DatabaseErrorInformation, DatabaseErrorKind};

/// A column that must be unique in the `users` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UniqueField {
    /// `users.username` (index `users_username_key`).
    Username,
    /// `users.email` (index `users_email_key`).
    Email,
}

impl fmt::Display for UniqueField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Username => "username",
            Self::Email => "email",
        })
    }
}

/// A boxed cause, kept for the error chain (logs), never shown to clients.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique index refused the write: the username or email is taken.
    #[error("duplicate {field}")]
    Duplicate {
        /// The column whose value is already used.
        field: UniqueField,
    },
    /// The database cannot be reached right now: pool timeout, refused or lost connection,
    /// a server shutting down, or SQLite still locked after its busy timeout. Transient;
    /// the API answers 503.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// Any other query failure (a bug, or a constraint this crate does not classify).
    #[error("database query failed")]
    Query(#[source] diesel::result::Error),
    /// Running or reverting migrations failed.
    #[error("database migration failed")]
    Migration(#[source] BoxError),
}

impl DbError {
    /// True for [`DbError::Unavailable`]: retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The duplicated column, for [`DbError::Duplicate`].
    ///
    /// Only for tests (feature `test-support`): the service does not use it.
    #[cfg(feature = "test-support")]
    pub fn duplicate_field(&self) -> Option<UniqueField> {
        match self {
            Self::Duplicate { field } => Some(*field),
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match e {
            E::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info) => {
                match unique_field(info.as_ref()) {
                    Some(field) => Self::Duplicate { field },
                    None => Self::Query(e),
                }
            }
            E::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | E::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _)
            | E::BrokenTransactionManager => Self::Unavailable(Box::new(e)),
            E::DatabaseError(_, ref info) if is_unavailable_message(info.message()) => {
                Self::Unavailable(Box::new(e))
            }
            e => Self::Query(e),
        }
    }
}

impl From<ConnectionError> for DbError {
    /// Every failure to connect is [`DbError::Unavailable`], the cause kept for the logs (a
    /// bad URL shows up there, at start-up, when migrations first connect).
    fn from(e: ConnectionError) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

impl From<diesel::r2d2::PoolError> for DbError {
    /// The pool gave no connection within its timeout.
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// Which unique index a unique violation names: PostgreSQL reports the constraint name
/// (`users_email_key`), SQLite only a message (`UNIQUE constraint failed: users.email`).
fn unique_field(info: &(dyn DatabaseErrorInformation + Send + Sync)) -> Option<UniqueField> {
    if let Some(name) = info.constraint_name() {
        return match name {
            "users_username_key" => Some(UniqueField::Username),
            "users_email_key" => Some(UniqueField::Email),
            _ => None,
        };
    }
    let columns = info
        .message()
        .strip_prefix("UNIQUE constraint failed: ")?
        .split(',')
        .map(str::trim);
    let mut field = None;
    for column in columns {
        let this = match column {
            "users.username" => UniqueField::Username,
            "users.email" => UniqueField::Email,
            _ => return None,
        };
        // An index over several columns is no single field.
        if field.replace(this).is_some() {
            return None;
        }
    }
    field
}

/// Messages of errors that mean "try again later" although diesel files them under
/// `Unknown`: SQLite past its busy timeout, PostgreSQL shutting down or refusing.
fn is_unavailable_message(message: &str) -> bool {
    const TRANSIENT: &[&str] = &[
        "database is locked",
        "database table is locked",
        "server closed the connection",
        "terminating connection",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "too many clients already",
        "no connection to the server",
        "could not connect",
        "connection refused",
    ];
    TRANSIENT.iter().any(|t| message.contains(t))
}

#[cfg(test)]
mod tests {
    use diesel::result::Error as E;

    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> E {
        E::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn sqlite_unique_messages_name_the_field() {
        let email = db_error(
            DatabaseErrorKind::UniqueViolation,
            "UNIQUE constraint failed: users.email",
        );
        assert_eq!(
            DbError::from(email).duplicate_field(),
            Some(UniqueField::Email)
        );
        let username = db_error(
            DatabaseErrorKind::UniqueViolation,
            "UNIQUE constraint failed: users.username",
        );
        assert_eq!(
            DbError::from(username).duplicate_field(),
            Some(UniqueField::Username)
        );
    }

    #[test]
    fn other_unique_violations_are_query_errors() {
        for message in [
            "UNIQUE constraint failed: sessions.id",
            "UNIQUE constraint failed: users.username, users.email",
            "UNIQUE constraint failed: users.id",
            "something else",
        ] {
            let e = DbError::from(db_error(DatabaseErrorKind::UniqueViolation, message));
            assert!(matches!(e, DbError::Query(_)), "{message}: {e:?}");
        }
    }

    #[test]
    fn transient_failures_are_unavailable() {
        assert!(DbError::from(db_error(DatabaseErrorKind::ClosedConnection, "x")).is_unavailable());
        assert!(
            DbError::from(db_error(DatabaseErrorKind::Unknown, "database is locked"))
                .is_unavailable()
        );
        assert!(
            DbError::from(db_error(
                DatabaseErrorKind::Unknown,
                "FATAL:  terminating connection due to administrator command"
            ))
            .is_unavailable()
        );
        assert!(
            DbError::from(ConnectionError::BadConnection("could not connect".into()))
                .is_unavailable()
        );
        assert!(
            !DbError::from(db_error(DatabaseErrorKind::Unknown, "syntax error")).is_unavailable()
        );
        assert!(matches!(
            DbError::from(E::NotFound),
            DbError::Query(E::NotFound)
        ));
    }

    #[test]
    fn messages_have_no_trailing_period_and_keep_the_cause() {
        let e = DbError::from(db_error(DatabaseErrorKind::ClosedConnection, "gone"));
        assert_eq!(e.to_string(), "database unavailable");
        assert_eq!(e.source().map(ToString::to_string).as_deref(), Some("gone"));
        let dup = DbError::Duplicate {
            field: UniqueField::Email,
        };
        assert_eq!(dup.to_string(), "duplicate email");
    }
}
