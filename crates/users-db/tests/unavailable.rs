//! A database that cannot be reached is `DbError::Unavailable`, quickly, never a hang.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Integer;
use users_db::testing::TestDb;
use users_db::{DbConnection, DbError, PoolOptions, build_pool, get_conn, users};

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn chain(e: &DbError) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out = format!("{out}: {cause}");
        source = cause.source();
    }
    out
}

#[test]
fn connecting_to_a_closed_port_is_unavailable() {
    let url = format!(
        "postgres://users:users@127.0.0.1:{}/postgres",
        closed_port()
    );
    let started = Instant::now();
    let err = DbConnection::open(&url)
        .err()
        .expect("nothing listens there");
    assert!(err.is_unavailable(), "{err:?}");
    // The driver's reason is kept for the logs.
    let text = chain(&err);
    assert!(text.contains("onnect"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_pool_on_a_dead_database_builds_and_then_times_out() {
    let url = format!(
        "postgres://users:users@127.0.0.1:{}/postgres",
        closed_port()
    );
    let opts = PoolOptions {
        max_size: 2,
        connection_timeout: Duration::from_millis(300),
        ..PoolOptions::default()
    };
    // The service starts while the database is down.
    let pool = build_pool(&url, opts).unwrap();
    let started = Instant::now();
    let err = get_conn(&pool).err().expect("no connection can be made");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_unopenable_sqlite_path_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/users.db");
    let err = DbConnection::open(path.to_str().unwrap()).err().unwrap();
    assert!(err.is_unavailable(), "{err:?}");
}

#[test]
fn an_exhausted_pool_is_unavailable() {
    for db in TestDb::all() {
        let b = db.backend();
        let opts = PoolOptions {
            max_size: 1,
            connection_timeout: Duration::from_millis(200),
            ..PoolOptions::default()
        };
        let pool = build_pool(db.url(), opts).unwrap();
        let held = get_conn(&pool).unwrap();
        let started = Instant::now();
        let err = get_conn(&pool).err().expect("the only connection is held");
        assert!(err.is_unavailable(), "{b}: {err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{b}");
        drop(held);
        let mut conn = get_conn(&pool).unwrap();
        assert_eq!(users::count(&mut conn).unwrap(), 0, "{b}");
    }
}

#[test]
fn a_connection_killed_by_the_server_is_unavailable() {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    let Some(db) = TestDb::postgres() else {
        eprintln!("skipped: DATABASE_TEST_URL is not a postgres:// URL");
        return;
    };
    let mut victim = db.connect();
    let DbConnection::Postgres(raw) = &mut victim else {
        unreachable!()
    };
    let pid: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(raw)
        .unwrap();
    let mut killer = db.connect();
    let DbConnection::Postgres(raw) = &mut killer else {
        unreachable!()
    };
    diesel::sql_query("SELECT pg_terminate_backend($1)")
        .bind::<Integer, _>(pid.pid)
        .execute(raw)
        .unwrap();

    let err = users::count(&mut victim).unwrap_err();
    assert!(err.is_unavailable(), "{}", chain(&err));

    // A pool replaces such a connection: the next check-out works.
    let mut conn = db.conn();
    assert_eq!(users::count(&mut conn).unwrap(), 0);
}
