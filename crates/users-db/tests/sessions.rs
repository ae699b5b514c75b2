//! `users_db::sessions`: a session belongs to the user who opened it, whatever removes that
//! user's row and whoever gets the id next.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use users_db::testing::TestDb;
use users_db::{DbConnection, sessions, users};
use users_domain::{Email, NewUser, PasswordHash, User, UserId, Username, now_utc};

fn new_user(name: &str) -> NewUser {
    NewUser::new(
        Username::parse(name).unwrap(),
        Email::parse(&format!("{name}@example.com")).unwrap(),
        PasswordHash::from_stored(format!("$argon2id$v=19$m=1024,t=1,p=1$salt${name}")),
    )
}

/// A connection as an operator's `sqlite3` or `psql` opens it: on SQLite, foreign keys are
/// off (SQLite's default; diesel's `establish` turns them on, so they are turned off again).
fn plain_connection(db: &TestDb) -> DbConnection {
    use diesel::connection::SimpleConnection as _;
    match db.backend() {
        "sqlite" => {
            let mut raw = SqliteConnection::establish(db.url()).unwrap();
            raw.batch_execute("PRAGMA foreign_keys = OFF; PRAGMA busy_timeout = 5000")
                .unwrap();
            #[derive(QueryableByName)]
            struct Fk {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                foreign_keys: i32,
            }
            let fk: Fk = diesel::sql_query("PRAGMA foreign_keys")
                .get_result(&mut raw)
                .unwrap();
            assert_eq!(fk.foreign_keys, 0, "a plain SQLite connection has them off");
            DbConnection::Sqlite(raw)
        }
        _ => db.connect(),
    }
}

fn sql(conn: &mut DbConnection, query: &str) {
    match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(query).execute(c),
        DbConnection::Postgres(c) => diesel::sql_query(query).execute(c),
    }
    .unwrap_or_else(|e| panic!("{query}: {e}"));
}

/// Whether the session authenticates `user_id` now (what the access-token check asks).
fn authenticates(conn: &mut DbConnection, user_id: UserId, sid: &str) -> bool {
    sessions::auth_lookup(conn, user_id, Some(sid))
        .unwrap()
        .and_then(|r| r.session)
        .is_some_and(|s| s.is_live(now_utc()))
}

/// Whether refresh would find the session live (what `users-api` `sessions::decide` asks).
fn refreshable(conn: &mut DbConnection, sid: &str) -> bool {
    sessions::find(conn, sid)
        .unwrap()
        .is_some_and(|s| s.is_live(now_utc()))
}

fn open_session(conn: &mut DbConnection, user: &User, sid: &str) {
    let now = now_utc();
    sessions::create(conn, sid, user.id, now, now + TimeDelta::days(30)).unwrap();
    assert!(authenticates(conn, user.id, sid));
    assert!(refreshable(conn, sid));
}

#[test]
fn a_deleted_users_sessions_do_not_work_for_the_next_holder_of_the_id() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let old = users::insert(&mut conn, &new_user("old")).unwrap();
        open_session(&mut conn, &old, "old-session");
        let id = old.id.get();

        // An operator deletes the user with plain SQL (no foreign keys on SQLite), then a
        // new person gets the same id, created later.
        let mut plain = plain_connection(&db);
        sql(&mut plain, &format!("DELETE FROM users WHERE id = {id}"));
        assert!(!refreshable(&mut conn, "old-session"), "{b}: user gone");
        sql(
            &mut plain,
            &format!(
                "INSERT INTO users (id, username, email, password) \
                 VALUES ({id}, 'new', 'new@example.com', 'h')"
            ),
        );
        assert!(
            !authenticates(&mut conn, old.id, "old-session"),
            "{b}: the old session authenticates the new user"
        );
        assert!(
            !refreshable(&mut conn, "old-session"),
            "{b}: the old session refreshes for the new user"
        );
    }
}

#[test]
fn an_import_into_a_deleted_users_id_does_not_inherit_their_sessions() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let old = users::insert(&mut conn, &new_user("old")).unwrap();
        open_session(&mut conn, &old, "old-session");
        let mut plain = plain_connection(&db);
        sql(
            &mut plain,
            &format!("DELETE FROM users WHERE id = {}", old.id),
        );
        // import-flask copies ids and dates: the newcomer is older than the session, so
        // only removing the sessions with the row protects them.
        let imported = User {
            id: old.id,
            username: "flask".into(),
            email: "flask@example.com".into(),
            password_hash: PasswordHash::from_stored("$2b$04$hash".into()),
            active: true,
            admin: false,
            created_at: NaiveDate::from_ymd_opt(2017, 6, 20)
                .unwrap()
                .and_hms_opt(19, 25, 48)
                .unwrap(),
            email_verified_at: None,
        };
        assert_eq!(
            users::import(&mut conn, &imported).unwrap(),
            users::ImportOutcome::Imported,
            "{b}"
        );
        assert!(
            !authenticates(&mut conn, old.id, "old-session"),
            "{b}: the old session authenticates the imported user"
        );
        assert!(!refreshable(&mut conn, "old-session"), "{b}");
    }
}

/// A session row older than the user it names (left over from an earlier holder of the id,
/// however it survived) is not that user's.
#[test]
fn a_session_older_than_its_user_is_not_theirs() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let user = users::insert(&mut conn, &new_user("ann")).unwrap();
        let before: NaiveDateTime = user.created_at - TimeDelta::hours(1);
        let expires = now_utc() + TimeDelta::days(30);
        let fmt = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        sql(
            &mut conn,
            &format!(
                "INSERT INTO sessions (id, user_id, created_at, expires_at) \
                 VALUES ('leftover', {}, '{}', '{}')",
                user.id,
                fmt(before),
                fmt(expires)
            ),
        );
        assert!(!authenticates(&mut conn, user.id, "leftover"), "{b}");
        assert!(!refreshable(&mut conn, "leftover"), "{b}");
        // The user is still found (the token is refused for its session only).
        let record = sessions::auth_lookup(&mut conn, user.id, Some("leftover"))
            .unwrap()
            .unwrap();
        assert_eq!(record.user.id, user.id, "{b}");
        assert!(record.session.is_none(), "{b}");
        // A session opened at the user's creation time is theirs.
        sessions::create(&mut conn, "same-time", user.id, user.created_at, expires).unwrap();
        assert!(authenticates(&mut conn, user.id, "same-time"), "{b}");
        assert!(refreshable(&mut conn, "same-time"), "{b}");
    }
}

/// Legacy tokens (no `sid`) carry only `iat`: one issued before the user existed is not
/// theirs either.
#[test]
fn legacy_tokens_issued_before_the_user_are_not_theirs() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let user = users::insert(&mut conn, &new_user("ann")).unwrap();
        let record = sessions::auth_lookup(&mut conn, user.id, None)
            .unwrap()
            .unwrap();
        let created = user.created_at.and_utc().timestamp();
        // `iat` is whole seconds: a token of the creation second is the user's.
        assert!(!record.issued_before_user(created as u64), "{b}");
        assert!(!record.issued_before_user(created as u64 + 10), "{b}");
        assert!(record.issued_before_user(created as u64 - 1), "{b}");
    }
}

#[test]
fn user_ids_are_never_reused() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let a = users::insert(&mut conn, &new_user("a")).unwrap();
        let z = users::insert(&mut conn, &new_user("z")).unwrap();
        // Deleting the newest row, by the service or by plain SQL, frees no id.
        assert!(users::delete(&mut conn, z.id).unwrap());
        let c = users::insert(&mut conn, &new_user("c")).unwrap();
        assert!(c.id > z.id, "{b}: {c:?} after {z:?}");
        let mut plain = plain_connection(&db);
        sql(
            &mut plain,
            &format!("DELETE FROM users WHERE id = {}", c.id),
        );
        let d = users::insert(&mut conn, &new_user("d")).unwrap();
        assert!(d.id > c.id, "{b}: {d:?} after {c:?}");
        // An explicit id (import-flask) moves the sequence past it.
        let imported = User {
            id: UserId::new(d.id.get() + 100),
            username: "imported".into(),
            email: "imported@example.com".into(),
            ..users::find_by_id(&mut conn, a.id).unwrap().unwrap()
        };
        users::import(&mut conn, &imported).unwrap();
        users::sync_id_sequence(&mut conn).unwrap();
        sql(
            &mut plain,
            &format!("DELETE FROM users WHERE id = {}", imported.id),
        );
        let e = users::insert(&mut conn, &new_user("e")).unwrap();
        assert!(e.id > imported.id, "{b}: {e:?} after {imported:?}");
    }
}

#[test]
fn rotating_the_current_token_in_one_statement_keeps_every_condition() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let ann = users::insert(&mut conn, &new_user("ann")).unwrap();
        open_session(&mut conn, &ann, "s1");
        let now = now_utc();
        // The current counter (0) rotates, once.
        assert_eq!(
            sessions::rotate_current(&mut conn, "s1", 0, now).unwrap(),
            Some(ann.id),
            "{b}"
        );
        assert_eq!(
            sessions::rotate_current(&mut conn, "s1", 0, now).unwrap(),
            None,
            "{b}"
        );
        assert_eq!(
            sessions::find(&mut conn, "s1")
                .unwrap()
                .unwrap()
                .refresh_counter,
            1
        );
        // An unknown session, an inactive user, a revoked or ended session: nothing moves.
        assert_eq!(
            sessions::rotate_current(&mut conn, "nope", 0, now).unwrap(),
            None
        );
        users::set_active(&mut conn, ann.id, false).unwrap();
        users::set_active(&mut conn, ann.id, true).unwrap();
        // (Deactivation revoked it: a trigger.)
        assert_eq!(
            sessions::rotate_current(&mut conn, "s1", 1, now).unwrap(),
            None,
            "{b}"
        );
        open_session(&mut conn, &ann, "s2");
        sql(
            &mut conn,
            "UPDATE users SET active = false WHERE username = 'ann'",
        );
        sql(
            &mut conn,
            "UPDATE sessions SET revoked_at = NULL WHERE id = 's2'",
        );
        assert_eq!(
            sessions::rotate_current(&mut conn, "s2", 0, now).unwrap(),
            None,
            "{b}: inactive user"
        );
        sql(
            &mut conn,
            "UPDATE users SET active = true WHERE username = 'ann'",
        );
        sql(
            &mut conn,
            "UPDATE sessions SET revoked_at = NULL WHERE id = 's2'",
        );
        assert_eq!(
            sessions::rotate_current(&mut conn, "s2", 0, now + TimeDelta::days(31)).unwrap(),
            None,
            "{b}: ended"
        );
        // A session older than its user (an id reused by an import) is not theirs.
        sql(
            &mut conn,
            "UPDATE sessions SET created_at = '2000-01-01 00:00:00' WHERE id = 's2'",
        );
        assert_eq!(
            sessions::rotate_current(&mut conn, "s2", 0, now).unwrap(),
            None,
            "{b}"
        );
        assert_eq!(
            sessions::rotate_current(&mut conn, "s2", i64::MAX, now).unwrap(),
            None
        );
    }
}
