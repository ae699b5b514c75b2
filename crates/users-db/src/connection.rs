//! One connection type over both backends, chosen by URL, and its r2d2 pool.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, ConnectionError, PgConnection, SqliteConnection};

use crate::DbError;

/// A connection to PostgreSQL or SQLite. Every query function of this crate takes one.
///
/// Open it with [`DbConnection::open`] (or through a [`DbPool`]), not with diesel's
/// `Connection::establish`: the derived `establish` tries each backend in turn and so loses
/// the reason a PostgreSQL connection failed.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// A PostgreSQL connection (`postgres://` or `postgresql://` URL).
    Postgres(PgConnection),
    /// A SQLite connection (any other URL: a file path or `:memory:`).
    Sqlite(SqliteConnection),
}

/// Which database a URL names, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbUrl<'a> {
    /// A PostgreSQL URL, as given.
    Postgres(&'a str),
    /// A SQLite path (or `:memory:`, or a `file:` URI), with any `sqlite://` prefix removed.
    Sqlite(&'a str),
}

impl<'a> DbUrl<'a> {
    /// `postgres://` and `postgresql://` URLs are PostgreSQL; anything else is a SQLite path,
    /// after stripping an optional `sqlite://` prefix.
    pub fn parse(url: &'a str) -> Self {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres(url)
        } else {
            Self::Sqlite(url.strip_prefix("sqlite://").unwrap_or(url))
        }
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend(self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// True for a SQLite database that lives in the connection's memory, so that every
    /// connection would see a different database.
    pub fn is_sqlite_memory(self) -> bool {
        match self {
            Self::Postgres(_) => false,
            Self::Sqlite(path) => path == ":memory:" || path.contains("mode=memory"),
        }
    }
}

/// libpq waits forever for a server that does not answer (a dropped SYN, say); this bound
/// applies unless the URL sets its own `connect_timeout`.
const PG_CONNECT_TIMEOUT_SECS: u32 = 5;

/// The PostgreSQL URL with `connect_timeout` added when it has none.
fn with_connect_timeout(url: &str) -> std::borrow::Cow<'_, str> {
    if url.contains("connect_timeout=") {
        return url.into();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={PG_CONNECT_TIMEOUT_SECS}").into()
}

/// Run on every new SQLite connection. `busy_timeout` comes first so that switching to WAL
/// waits for other connections instead of failing. WAL lets readers run beside the one
/// writer; `synchronous = NORMAL` is durable enough with WAL and much faster.
const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; \
     PRAGMA synchronous = NORMAL;";

impl DbConnection {
    /// Connects to the database the URL names (see [`DbUrl::parse`]); a SQLite connection
    /// gets its pragmas (WAL, busy timeout, foreign keys), a PostgreSQL URL without
    /// `connect_timeout` gets `connect_timeout=5` so that an unanswering server cannot hang
    /// the caller. Every failure is
    /// [`DbError::Unavailable`], with the driver's reason as its source.
    pub fn open(url: &str) -> Result<Self, DbError> {
        Ok(Self::connect(DbUrl::parse(url))?)
    }

    fn connect(url: DbUrl<'_>) -> Result<Self, ConnectionError> {
        match url {
            DbUrl::Postgres(url) => {
                PgConnection::establish(&with_connect_timeout(url)).map(Self::Postgres)
            }
            DbUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)?;
                conn.batch_execute(SQLITE_SETUP)
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(Self::Sqlite(conn))
            }
        }
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

/// The r2d2 connection manager for [`DbConnection`]: it connects by URL scheme (see
/// [`DbConnection::open`]), which diesel's generic `ConnectionManager` cannot do for a
/// multi-backend connection.
#[derive(Debug, Clone)]
pub struct DbConnectionManager {
    url: String,
}

impl DbConnectionManager {
    /// A manager for the database the URL names.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }
}

/// A PostgreSQL connection that proved alive this recently is not pinged again at check-out
/// (HikariCP's `aliveBypassWindowMs` is the same idea, at the same value): under load the
/// ping would be one extra round trip per request.
pub const ALIVE_BYPASS: Duration = Duration::from_millis(500);

/// A connection as the pool keeps it: derefs to [`DbConnection`], and remembers when it last
/// proved alive and whether a query on it found the database gone.
pub struct PoolSlot {
    conn: DbConnection,
    alive_at: Instant,
    lost: bool,
}

impl PoolSlot {
    /// Records the outcome of work done on this connection: an [`DbError::Unavailable`]
    /// marks it lost (the pool closes it instead of handing it out again); anything else
    /// proves it alive.
    pub fn record<T>(&mut self, result: &Result<T, DbError>) {
        match result {
            Err(DbError::Unavailable(_)) => self.lost = true,
            _ => self.alive_at = Instant::now(),
        }
    }
}

impl std::ops::Deref for PoolSlot {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolSlot {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl ManageConnection for DbConnectionManager {
    type Connection = PoolSlot;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolSlot, r2d2::Error> {
        let conn =
            DbConnection::connect(DbUrl::parse(&self.url)).map_err(r2d2::Error::ConnectionError)?;
        Ok(PoolSlot {
            conn,
            alive_at: Instant::now(),
            lost: false,
        })
    }

    /// Run on every check-out. A PostgreSQL connection is pinged (`SELECT 1`) unless it
    /// proved alive within [`ALIVE_BYPASS`]: after a server restart a pooled connection is
    /// dead, and libpq does not reconnect by itself. One that a query found dead is marked
    /// lost ([`PoolSlot::record`]) and closed by `has_broken`, so the bypass never hands out
    /// a connection known to be gone. A SQLite connection is a file handle in this process
    /// that cannot go away, so it is never pinged: the ping was a read transaction (file
    /// locks included) per request for nothing.
    fn is_valid(&self, slot: &mut PoolSlot) -> Result<(), r2d2::Error> {
        match slot.conn {
            DbConnection::Postgres(_) if slot.alive_at.elapsed() >= ALIVE_BYPASS => {
                slot.conn.ping().map_err(r2d2::Error::QueryError)?;
                slot.alive_at = Instant::now();
                Ok(())
            }
            DbConnection::Postgres(_) | DbConnection::Sqlite(_) => Ok(()),
        }
    }

    fn has_broken(&self, slot: &mut PoolSlot) -> bool {
        std::thread::panicking() || slot.lost || slot.conn.is_broken()
    }
}

/// A pool of [`DbConnection`]s.
pub type DbPool = r2d2::Pool<DbConnectionManager>;

/// A connection checked out of a [`DbPool`]; it derefs to [`DbConnection`].
pub type PooledConnection = r2d2::PooledConnection<DbConnectionManager>;

/// Pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most connections open at once. Forced to 1 for an in-memory SQLite database.
    pub max_size: u32,
    /// How long [`get_conn`] waits for a connection before [`DbError::Unavailable`].
    pub connection_timeout: Duration,
    /// Idle connections kept open; `None` keeps `max_size` open, `Some(0)` opens them on
    /// demand. An in-memory SQLite database always keeps its one connection.
    pub min_idle: Option<u32>,
}

impl Default for PoolOptions {
    /// 10 connections, 5 s timeout, connections opened on demand and kept.
    fn default() -> Self {
        Self {
            max_size: 10,
            connection_timeout: Duration::from_secs(5),
            min_idle: Some(0),
        }
    }
}

/// Builds a pool for the database the URL names, without connecting: the service starts
/// while the database is down, and each [`get_conn`] then fails with
/// [`DbError::Unavailable`] after `connection_timeout` until it is back.
///
/// An in-memory SQLite database (`:memory:`) gets exactly one connection that is never
/// closed for age or idleness: each new connection would be a new, empty database.
pub fn build_pool(url: &str, opts: PoolOptions) -> Result<DbPool, DbError> {
    let manager = DbConnectionManager::new(url);
    let builder = r2d2::Pool::builder()
        .connection_timeout(opts.connection_timeout)
        .test_on_check_out(true)
        .error_handler(Box::new(r2d2::NopErrorHandler));
    let builder = if DbUrl::parse(url).is_sqlite_memory() {
        builder
            .max_size(1)
            .min_idle(Some(1))
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        builder
            .max_size(opts.max_size.max(1))
            .min_idle(opts.min_idle)
    };
    Ok(builder.build_unchecked(manager))
}

/// Checks a connection out of the pool; a timeout (database down, pool exhausted) is
/// [`DbError::Unavailable`].
pub fn get_conn(pool: &DbPool) -> Result<PooledConnection, DbError> {
    Ok(pool.get()?)
}

/// Runs `f` on a pooled connection and records the outcome on it ([`PoolSlot::record`]), so
/// that a connection a query found dead is closed rather than reused.
pub fn with_conn<T>(
    pool: &DbPool,
    f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    with_conn_within(pool, pool.connection_timeout(), || false, f)
}

/// [`with_conn`], waiting at most `timeout` for a connection (a caller that already spent
/// part of its time budget in a queue passes what is left), and less when waiting is known
/// to be useless: the wait is cut into slices of [`WAIT_SLICE`]; a slice during which the
/// pool failed to open a connection ends the wait at once (the database refuses or drops
/// connections: [`DbError::Unavailable`] with the driver's reason), and between slices
/// `give_up` is asked whether the caller learnt meanwhile that the database is down.
pub fn with_conn_within<T>(
    pool: &DbPool,
    timeout: Duration,
    give_up: impl Fn() -> bool,
    f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let deadline = Instant::now() + timeout;
    let mut conn = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match pool.get_timeout(left.min(WAIT_SLICE)) {
            Ok(conn) => break conn,
            Err(e) if connect_failed(&e) => return Err(DbError::from(e)),
            Err(e) if left <= WAIT_SLICE || give_up() => return Err(DbError::from(e)),
            Err(_) => {}
        }
    };
    let result = f(&mut conn);
    conn.record(&result);
    result
}

/// How long one slice of a [`with_conn_within`] wait lasts.
pub const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Whether a pool timeout carries the error of a connection attempt made during the wait:
/// r2d2 appends the last connection error to its "timed out waiting for connection" (and
/// forgets it once a connection opens), so a longer message means the database refused.
fn connect_failed(e: &r2d2::PoolError) -> bool {
    const PLAIN: &str = "timed out waiting for connection";
    e.to_string().len() > PLAIN.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes_pick_the_backend() {
        assert_eq!(
            DbUrl::parse("postgres://u:p@h/db"),
            DbUrl::Postgres("postgres://u:p@h/db")
        );
        assert_eq!(
            DbUrl::parse("postgresql://h/db"),
            DbUrl::Postgres("postgresql://h/db")
        );
        assert_eq!(DbUrl::parse("users.db"), DbUrl::Sqlite("users.db"));
        assert_eq!(
            DbUrl::parse("sqlite://data/u.db"),
            DbUrl::Sqlite("data/u.db")
        );
        assert_eq!(DbUrl::parse(":memory:"), DbUrl::Sqlite(":memory:"));
        assert!(DbUrl::parse(":memory:").is_sqlite_memory());
        assert!(DbUrl::parse("sqlite://:memory:").is_sqlite_memory());
        assert!(!DbUrl::parse("users.db").is_sqlite_memory());
        assert_eq!(DbUrl::parse("postgres://h/db").backend(), "postgres");
        assert_eq!(DbUrl::parse("x.db").backend(), "sqlite");
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout() {
        assert_eq!(
            with_connect_timeout("postgres://h/db"),
            "postgres://h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable"),
            "postgres://h/db?sslmode=disable&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=1"),
            "postgres://h/db?connect_timeout=1"
        );
    }

    #[test]
    fn sqlite_connections_get_their_pragmas() {
        use diesel::sql_types::{BigInt, Text};
        #[derive(diesel::QueryableByName)]
        struct Mode {
            #[diesel(sql_type = Text)]
            journal_mode: String,
        }
        #[derive(diesel::QueryableByName)]
        struct Num {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut conn = DbConnection::open(path.to_str().unwrap()).unwrap();
        assert_eq!(conn.backend(), "sqlite");
        let DbConnection::Sqlite(raw) = &mut conn else {
            unreachable!()
        };
        use diesel::RunQueryDsl;
        let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(raw)
            .unwrap();
        assert_eq!(mode.journal_mode, "wal");
        let fk: Num = diesel::sql_query("SELECT foreign_keys AS n FROM pragma_foreign_keys")
            .get_result(raw)
            .unwrap();
        assert_eq!(fk.n, 1);
        let busy: Num = diesel::sql_query("SELECT timeout AS n FROM pragma_busy_timeout")
            .get_result(raw)
            .unwrap();
        assert_eq!(busy.n, 5000);
        let sync: Num = diesel::sql_query("SELECT synchronous AS n FROM pragma_synchronous")
            .get_result(raw)
            .unwrap();
        assert_eq!(sync.n, 1);
    }

    #[test]
    fn bundled_sqlite_has_the_workspace_compile_options() {
        // Set by LIBSQLITE3_FLAGS in .cargo/config.toml; without QPSG every `.first()`
        // query is re-prepared on each execution.
        use diesel::RunQueryDsl;
        use diesel::sql_types::BigInt;
        #[derive(diesel::QueryableByName)]
        struct Num {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let DbConnection::Sqlite(mut raw) = DbConnection::open(":memory:").unwrap() else {
            unreachable!()
        };
        for (query, want) in [
            ("SELECT sqlite_compileoption_used('ENABLE_QPSG') AS n", 1),
            (
                "SELECT sqlite_compileoption_used('DEFAULT_MEMSTATUS=0') AS n",
                1,
            ),
            ("SELECT sqlite_compileoption_used('THREADSAFE=2') AS n", 1),
        ] {
            let got: Num = diesel::sql_query(query).get_result(&mut raw).unwrap();
            assert_eq!(got.n, want, "{query}");
        }
    }

    #[test]
    fn a_connection_found_dead_is_closed_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("p.db");
        let pool = build_pool(url.to_str().unwrap(), PoolOptions::default()).unwrap();
        with_conn(&pool, |_| Ok(())).unwrap();
        assert_eq!(pool.state().connections, 1, "kept after success");
        let lost = with_conn(&pool, |_| {
            Err::<(), _>(DbError::Unavailable("connection reset".into()))
        });
        assert!(lost.is_err());
        assert_eq!(pool.state().connections, 0, "closed after Unavailable");
        let dup = with_conn(&pool, |_| {
            Err::<(), _>(DbError::Duplicate {
                field: crate::UniqueField::Email,
            })
        });
        assert!(dup.is_err());
        assert_eq!(pool.state().connections, 1, "a query error proves it alive");
    }

    #[test]
    fn a_refused_connection_ends_the_wait_with_its_reason() {
        // Nothing listens on port 1. Without the slices this waited the whole 30 s.
        let pool = build_pool(
            "postgres://nobody:nothing@127.0.0.1:1/none",
            PoolOptions {
                max_size: 1,
                connection_timeout: Duration::from_secs(30),
                min_idle: Some(0),
            },
        )
        .unwrap();
        let e = with_conn_within(&pool, Duration::from_secs(30), || false, |_| Ok(())).unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        let chain = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(chain.contains("refused"), "{chain}");
    }

    #[test]
    fn a_caller_that_gives_up_stops_waiting() {
        // A pool whose one connection is taken: every slice times out plainly.
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("p.db");
        let pool = build_pool(
            url.to_str().unwrap(),
            PoolOptions {
                max_size: 1,
                connection_timeout: Duration::from_secs(30),
                min_idle: Some(0),
            },
        )
        .unwrap();
        let _held = get_conn(&pool).unwrap();
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let give_up = || asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2;
        let e = with_conn_within(&pool, Duration::from_secs(30), give_up, |_| Ok(())).unwrap_err();
        assert!(e.is_unavailable());
        assert_eq!(
            asked.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "asked between slices"
        );
    }

    #[test]
    fn memory_pool_has_one_lasting_connection() {
        let pool = build_pool(":memory:", PoolOptions::default()).unwrap();
        assert_eq!(pool.max_size(), 1);
        let mut conn = get_conn(&pool).unwrap();
        conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        drop(conn);
        // The same connection, so the same database.
        let mut conn = get_conn(&pool).unwrap();
        conn.batch_execute("INSERT INTO t VALUES (1)").unwrap();
    }
}
