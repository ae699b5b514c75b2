//! `users_db::purge`: rows past their use go in bounded batches, live ones stay, and many
//! purgers at once neither fail nor count a row twice.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use std::sync::{Arc, Barrier};
use std::thread;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::RunQueryDsl;
use users_db::testing::TestDb;
use users_db::throttle::{self, Scope};
use users_db::{DbConnection, purge, sessions, users};
use users_domain::{Email, NewUser, PasswordHash, User, Username, now_utc};

fn user(conn: &mut DbConnection, name: &str) -> User {
    let new = NewUser::new(
        Username::parse(name).unwrap(),
        Email::parse(&format!("{name}@example.com")).unwrap(),
        PasswordHash::from_stored("$argon2id$v=19$m=1024,t=1,p=1$salt$hash".into()),
    );
    users::insert(conn, &new).unwrap()
}

fn sql(conn: &mut DbConnection, query: &str) {
    match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(query).execute(c),
        DbConnection::Postgres(c) => diesel::sql_query(query).execute(c),
    }
    .unwrap_or_else(|e| panic!("{query}: {e}"));
}

fn session_ids(conn: &mut DbConnection) -> Vec<String> {
    use diesel::prelude::*;
    use users_db::schema::sessions;
    sessions::table
        .select(sessions::id)
        .order(sessions::id)
        .load(conn)
        .unwrap()
}

fn count_failures(conn: &mut DbConnection) -> i64 {
    use diesel::prelude::*;
    use users_db::schema::login_failures;
    login_failures::table.count().get_result(conn).unwrap()
}

/// `n` sessions `<stem><i>` of `user_id`, ended an hour before `now`, in one statement.
fn bulk_ended_sessions(conn: &mut DbConnection, user_id: i32, stem: &str, n: u32) {
    let query = match conn {
        DbConnection::Sqlite(_) => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO sessions (id, user_id, created_at, expires_at)
             SELECT '{stem}' || i, {user_id}, datetime('now', '-2 days'),
                    datetime('now', '-1 hours') FROM n"
        ),
        DbConnection::Postgres(_) => format!(
            "INSERT INTO sessions (id, user_id, created_at, expires_at)
             SELECT '{stem}' || i, {user_id}, (now() AT TIME ZONE 'utc') - interval '2 days',
                    (now() AT TIME ZONE 'utc') - interval '1 hour'
             FROM generate_series(1, {n}) AS i"
        ),
    };
    sql(conn, &query);
}

#[test]
fn sessions_past_their_end_go_and_live_ones_stay() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let ann = user(&mut conn, "ann");
        let now = now_utc();
        let day = TimeDelta::days(1);
        let retention = now - TimeDelta::minutes(15);
        let open = |conn: &mut DbConnection, id: &str, created: NaiveDateTime, ends| {
            sessions::create(conn, id, ann.id, created, ends).unwrap();
        };
        open(&mut conn, "live", now, now + day);
        open(&mut conn, "ended", now - day * 2, now - day);
        open(&mut conn, "ends-now", now - day, now);
        open(&mut conn, "revoked-long-ago", now - day, now + day);
        sessions::revoke(&mut conn, "revoked-long-ago", now - TimeDelta::hours(1)).unwrap();
        open(&mut conn, "revoked-recently", now - day, now + day);
        sessions::revoke(&mut conn, "revoked-recently", now - TimeDelta::minutes(1)).unwrap();

        assert_eq!(
            purge::sessions(&mut conn, now, retention, 100).unwrap(),
            3,
            "{b}"
        );
        assert_eq!(session_ids(&mut conn), ["live", "revoked-recently"], "{b}");
        assert_eq!(
            purge::sessions(&mut conn, now, retention, 100).unwrap(),
            0,
            "{b}"
        );
        assert!(
            sessions::auth_lookup(&mut conn, ann.id, Some("live"))
                .unwrap()
                .unwrap()
                .session
                .is_some_and(|s| s.is_live(now)),
            "{b}"
        );
    }
}

#[test]
fn old_login_failures_go_and_recent_ones_stay() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let now = now_utc();
        let window_start = now - TimeDelta::minutes(15);
        let long_ago = now - TimeDelta::days(365);
        for (subject, at) in [
            ("old@x.io", now - TimeDelta::hours(1)),
            ("old@x.io", now - TimeDelta::minutes(16)),
            ("recent@x.io", now - TimeDelta::minutes(14)),
            ("recent@x.io", now),
        ] {
            throttle::record(&mut conn, Scope::Account, subject, at, long_ago).unwrap();
        }
        throttle::record(
            &mut conn,
            Scope::Address,
            "10.0.0.1",
            now - TimeDelta::hours(2),
            long_ago,
        )
        .unwrap();
        assert_eq!(
            purge::login_failures(&mut conn, window_start, 100).unwrap(),
            3,
            "{b}"
        );
        assert_eq!(count_failures(&mut conn), 2, "{b}");
        let recent =
            throttle::recent(&mut conn, Scope::Account, "recent@x.io", window_start, 10).unwrap();
        assert_eq!(recent.len(), 2, "{b}");
        assert_eq!(
            purge::login_failures(&mut conn, window_start, 100).unwrap(),
            0,
            "{b}"
        );
    }
}

#[test]
fn each_call_deletes_one_bounded_batch() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let ann = user(&mut conn, "ann");
        bulk_ended_sessions(&mut conn, ann.id.get(), "s", 250);
        let now = now_utc();
        let counts: Vec<usize> = (0..4)
            .map(|_| purge::sessions(&mut conn, now, now, 100).unwrap())
            .collect();
        assert_eq!(counts, [100, 100, 50, 0], "{b}");

        let long_ago = now - TimeDelta::days(365);
        for i in 0..25 {
            throttle::record(
                &mut conn,
                Scope::Address,
                &format!("10.0.0.{i}"),
                now - TimeDelta::hours(1),
                long_ago,
            )
            .unwrap();
        }
        let counts: Vec<usize> = (0..3)
            .map(|_| purge::login_failures(&mut conn, now, 10).unwrap())
            .collect();
        assert_eq!(counts, [10, 10, 5], "{b}");
        assert_eq!(count_failures(&mut conn), 0, "{b}");
    }
}

#[test]
fn concurrent_purgers_neither_fail_nor_count_twice() {
    const PURGERS: usize = 4;
    const ENDED: u32 = 2000;
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let ann = user(&mut conn, "ann");
        bulk_ended_sessions(&mut conn, ann.id.get(), "ended", ENDED);
        let now = now_utc();
        for i in 0..20 {
            sessions::create(
                &mut conn,
                &format!("live{i:02}"),
                ann.id,
                now,
                now + TimeDelta::days(1),
            )
            .unwrap();
        }
        drop(conn);
        let barrier = Arc::new(Barrier::new(PURGERS));
        let totals: Vec<Result<usize, users_db::DbError>> = thread::scope(|s| {
            let handles: Vec<_> = (0..PURGERS)
                .map(|_| {
                    let mut conn = db.connect();
                    let barrier = Arc::clone(&barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let mut total = 0;
                        loop {
                            let n = purge::sessions(&mut conn, now, now, 50)?;
                            assert!(n <= 50);
                            total += n;
                            if n < 50 {
                                return Ok(total);
                            }
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let totals: Vec<usize> = totals
            .into_iter()
            .map(|t| t.unwrap_or_else(|e| panic!("{b}: a purger failed: {e:?}")))
            .collect();
        assert_eq!(
            totals.iter().sum::<usize>(),
            ENDED as usize,
            "{b}: {totals:?}"
        );
        let left = session_ids(&mut db.conn());
        assert_eq!(left.len(), 20, "{b}");
        assert!(left.iter().all(|id| id.starts_with("live")), "{b}");
    }
}

/// The purge's scans are index searches, not walks of the table (SQLite's plan; the
/// PostgreSQL migration creates the same indexes).
#[test]
fn the_purge_scans_use_indexes() {
    use diesel::sql_types::Text;
    #[derive(diesel::QueryableByName)]
    struct Step {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    let db = TestDb::sqlite();
    let DbConnection::Sqlite(mut conn) = db.connect() else {
        unreachable!()
    };
    for (query, index) in [
        (
            "SELECT id FROM sessions WHERE expires_at <= '2026-01-01' LIMIT 10",
            "sessions_expires_at_idx",
        ),
        (
            "SELECT id FROM sessions WHERE revoked_at < '2026-01-01' LIMIT 10",
            "sessions_revoked_at_idx",
        ),
        (
            "SELECT id FROM login_failures WHERE failed_at < '2026-01-01' LIMIT 10",
            "login_failures_failed_at_idx",
        ),
    ] {
        let plan: Vec<Step> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}"))
            .load(&mut conn)
            .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|s| s.detail).collect();
        assert!(plan.iter().any(|d| d.contains(index)), "{query}: {plan:?}");
    }
}
