//! What changed in the database, for the caches of the service's instances: a connection
//! of its own that hears of every committed change to a user or a session, whichever
//! instance (or plain SQL) made it.
//!
//! PostgreSQL: `LISTEN auth_changes` (the triggers of the migration `auth_changes` notify
//! `u:<id>` and `s:<sid>` when the changing transaction commits). SQLite has no
//! notifications, but its `PRAGMA data_version` moves whenever another connection (of this
//! process or any other) commits: then everything may have changed.
//!
//! [`Listener::poll`] never blocks; a caller polls it often (every few milliseconds costs a
//! non-blocking read) and calls [`Listener::heartbeat`] now and then, since a connection
//! can die silently. Any error means the listener is lost: notifications may have been
//! missed, so whoever relied on it must forget what it cached and connect again.

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection as _;

use crate::{DbConnection, DbError};

/// The channel the PostgreSQL triggers notify.
pub const CHANNEL: &str = "auth_changes";

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A user row was updated or deleted.
    User(i32),
    /// A session was revoked, its end moved, or it was deleted.
    Session(String),
    /// Something changed, unknown what (SQLite).
    Everything,
}

impl Change {
    /// A notification payload (`u:<id>` or `s:<sid>`); anything else is [`Change::Everything`].
    pub fn parse(payload: &str) -> Self {
        if let Some(id) = payload.strip_prefix("u:")
            && let Ok(id) = id.parse()
        {
            return Self::User(id);
        }
        if let Some(sid) = payload.strip_prefix("s:") {
            return Self::Session(sid.to_owned());
        }
        Self::Everything
    }
}

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    data_version: i64,
}

#[derive(diesel::QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// A connection that hears of changes. `Debug` shows the backend only.
pub struct Listener {
    conn: DbConnection,
    /// SQLite: the last `data_version` seen.
    version: i64,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.conn {
            DbConnection::Postgres(_) => "postgres",
            DbConnection::Sqlite(_) => "sqlite",
        };
        f.debug_struct("Listener")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Connects and subscribes. `name` becomes the PostgreSQL `application_name` (letters,
    /// digits, `-` and `_` kept), so operators and tests can find the connection.
    pub fn connect(url: &str, name: &str) -> Result<Self, DbError> {
        let mut conn = DbConnection::open(url)?;
        let mut version = 0;
        match &mut conn {
            DbConnection::Postgres(pg) => {
                let name: String = name
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .take(60)
                    .collect();
                pg.batch_execute(&format!(
                    "SET application_name = '{name}'; LISTEN {CHANNEL}"
                ))?;
            }
            DbConnection::Sqlite(lite) => {
                version = diesel::sql_query("PRAGMA data_version")
                    .get_result::<Version>(lite)?
                    .data_version;
            }
        }
        Ok(Self { conn, version })
    }

    /// The changes committed since the last call (without waiting). An error: the listener
    /// is lost.
    pub fn poll(&mut self) -> Result<Vec<Change>, DbError> {
        match &mut self.conn {
            DbConnection::Postgres(pg) => {
                let mut changes = Vec::new();
                for n in pg.notifications_iter() {
                    let n = n.map_err(|e| DbError::Unavailable(Box::new(e)))?;
                    changes.push(Change::parse(&n.payload));
                }
                Ok(changes)
            }
            DbConnection::Sqlite(lite) => {
                let now = diesel::sql_query("PRAGMA data_version")
                    .get_result::<Version>(lite)?
                    .data_version;
                if now == self.version {
                    return Ok(Vec::new());
                }
                self.version = now;
                Ok(vec![Change::Everything])
            }
        }
    }

    /// A round trip, to learn that the connection is still there. An error: the listener
    /// is lost.
    pub fn heartbeat(&mut self) -> Result<(), DbError> {
        self.conn.batch_execute("SELECT 1").map_err(|e| match e {
            e @ diesel::result::Error::DatabaseError(..) => DbError::Unavailable(Box::new(e)),
            e => DbError::from(e),
        })
    }

    /// The PostgreSQL backend's process id (for `pg_terminate_backend` in tests); `None` on
    /// SQLite.
    pub fn backend_pid(&mut self) -> Result<Option<i32>, DbError> {
        match &mut self.conn {
            DbConnection::Postgres(pg) => Ok(Some(
                diesel::sql_query("SELECT pg_backend_pid() AS pid")
                    .get_result::<Pid>(pg)?
                    .pid,
            )),
            DbConnection::Sqlite(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_what_changed() {
        assert_eq!(Change::parse("u:42"), Change::User(42));
        assert_eq!(Change::parse("s:abc"), Change::Session("abc".to_owned()));
        assert_eq!(Change::parse("u:x"), Change::Everything);
        assert_eq!(Change::parse(""), Change::Everything);
    }
}
