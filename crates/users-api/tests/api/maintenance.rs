//! The maintenance task: sessions past their end and old failed logins are purged with the
//! configured retention, in the background, and the task keeps going after database errors.

use std::time::Duration;

use chrono::TimeDelta;
use users_api::maintenance::{self, Report, Settings};
use users_db::throttle::{self, Scope};
use users_db::{DbConnection, sessions};
use users_domain::now_utc;

use crate::helpers::TestApp;

fn session_ids(conn: &mut DbConnection) -> Vec<String> {
    use diesel::prelude::*;
    use users_db::schema::sessions;
    sessions::table
        .select(sessions::id)
        .order(sessions::id)
        .load(conn)
        .unwrap()
}

/// Waits (a bounded poll, not a timed assertion) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what}: not after 30 s");
}

#[test]
fn a_run_purges_with_the_configured_retention() {
    for t in TestApp::all() {
        let b = t.backend();
        let user = t.add_user("ann", "ann@example.com", "pw");
        let settings = Settings::from_config(&t.state.config);
        let now = now_utc();
        let day = TimeDelta::days(1);
        let mut conn = t.db.conn();
        let open = |conn: &mut DbConnection, id: &str, ends| {
            sessions::create(conn, id, user.id, now - day * 3, ends).unwrap();
        };
        open(&mut conn, "live", now + day);
        open(&mut conn, "ended", now - day);
        open(&mut conn, "revoked-old", now + day);
        let old = now - settings.revoked_retention - TimeDelta::minutes(1);
        sessions::revoke(&mut conn, "revoked-old", old).unwrap();
        open(&mut conn, "revoked-new", now + day);
        sessions::revoke(&mut conn, "revoked-new", now).unwrap();
        let long_ago = now - day * 365;
        let past_window = now - settings.failure_window - TimeDelta::minutes(1);
        throttle::record(&mut conn, Scope::Account, "a@x.io", past_window, long_ago).unwrap();
        throttle::record(&mut conn, Scope::Account, "a@x.io", now, long_ago).unwrap();
        let mfa_token = |conn: &mut DbConnection, hash: &str, expires| {
            users_db::mfa::create_login_token(conn, user.id, hash, now - day, expires).unwrap();
        };
        mfa_token(&mut conn, "expired", now - TimeDelta::seconds(1));
        mfa_token(&mut conn, "valid", now + TimeDelta::minutes(5));
        // A revocation event older than a token lifetime revokes nothing still valid.
        diesel::connection::SimpleConnection::batch_execute(
            &mut t.db.connect(),
            "INSERT INTO revocation_events (sid, created_at) VALUES ('old', '2000-01-01 00:00:00')",
        )
        .unwrap();
        // Mail: a sent mail and a stand-in older than a day go; a recent sent one and an
        // old pending one stay. An expired token goes, a live one stays.
        let day_old = (now - TimeDelta::days(2)).format("%Y-%m-%d %H:%M:%S");
        let recent = (now - TimeDelta::hours(2)).format("%Y-%m-%d %H:%M:%S");
        let later = (now + TimeDelta::hours(1)).format("%Y-%m-%d %H:%M:%S");
        diesel::connection::SimpleConnection::batch_execute(
            &mut t.db.connect(),
            &format!(
                "INSERT INTO mail_outbox (purpose, recipient, subject, created_at, next_attempt_at, sent_at) \
                   VALUES ('reset', 'a@x.io', 's', '{day_old}', '{day_old}', '{day_old}'); \
                 INSERT INTO mail_outbox (purpose, recipient, subject, created_at, next_attempt_at, sent_at) \
                   VALUES ('none', '', '', '{day_old}', '{day_old}', '{day_old}'); \
                 INSERT INTO mail_outbox (purpose, recipient, subject, created_at, next_attempt_at, sent_at) \
                   VALUES ('reset', 'a@x.io', 's', '{recent}', '{recent}', '{recent}'); \
                 INSERT INTO mail_outbox (purpose, recipient, subject, body, created_at, next_attempt_at) \
                   VALUES ('reset', 'a@x.io', 's', 'sealed', '{day_old}', '{day_old}'); \
                 INSERT INTO mail_tokens (token_hash, user_id, purpose, email, created_at, expires_at) \
                   VALUES ('expired', {id}, 'reset', 'a@x.io', '{day_old}', '{recent}'); \
                 INSERT INTO mail_tokens (token_hash, user_id, purpose, email, created_at, expires_at) \
                   VALUES ('live', {id}, 'reset', 'a@x.io', '{recent}', '{later}');",
                id = user.id.get()
            ),
        )
        .unwrap();

        let report = maintenance::run_once(t.db.pool(), &settings, now).unwrap();
        assert_eq!(
            report,
            Report {
                sessions: 2,
                login_failures: 1,
                folded: 0,
                mfa_tokens: 1,
                revocation_events: 1,
                mails: 2,
                mail_tokens: 1,
            },
            "{b}"
        );
        assert_eq!(
            users_db::mfa::login_token_user(&mut conn, "valid", now).unwrap(),
            Some(user.id),
            "{b}"
        );
        assert_eq!(session_ids(&mut conn), ["live", "revoked-new"], "{b}");
        let window_start = now - settings.failure_window;
        let left = throttle::recent(&mut conn, Scope::Account, "a@x.io", window_start, 10);
        assert_eq!(left.unwrap(), [now], "{b}");
    }
}

#[test]
fn the_task_purges_in_the_background_and_stops_when_dropped() {
    for t in TestApp::all() {
        let b = t.backend();
        let user = t.add_user("ann", "ann@example.com", "pw");
        let now = now_utc();
        let mut conn = t.db.conn();
        sessions::create(&mut conn, "ended", user.id, now, now).unwrap();
        sessions::create(&mut conn, "live", user.id, now, now + TimeDelta::days(1)).unwrap();
        let settings = Settings {
            interval: Duration::from_millis(20),
            ..Settings::from_config(&t.state.config)
        };
        let task = maintenance::spawn_with(t.db.pool().clone(), settings);
        eventually(b, || session_ids(&mut conn) == ["live"]);
        drop(task);
    }
}

/// A database that is not there yet: every run fails, and the task keeps trying until it is.
#[test]
fn the_task_keeps_going_after_database_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("later");
    let url = missing.join("users.db").to_str().unwrap().to_owned();
    let pool = users_db::build_pool(
        &url,
        users_db::PoolOptions {
            connection_timeout: Duration::from_millis(100),
            ..users_db::PoolOptions::default()
        },
    )
    .unwrap();
    let t = TestApp::on(users_db::testing::TestDb::sqlite());
    let settings = Settings {
        interval: Duration::from_millis(20),
        ..Settings::from_config(&t.state.config)
    };
    let now = now_utc();
    assert!(maintenance::run_once(&pool, &settings, now).is_err());
    let task = maintenance::spawn_with(pool, settings);

    std::fs::create_dir(&missing).unwrap();
    let mut conn = DbConnection::open(&url).unwrap();
    users_db::run_migrations(&mut conn).unwrap();
    let user = users_db::users::insert(
        &mut conn,
        &users_domain::NewUser::new(
            users_domain::Username::parse("ann").unwrap(),
            users_domain::Email::parse("ann@example.com").unwrap(),
            users_domain::PasswordHash::from_stored("h".into()),
        ),
    )
    .unwrap();
    sessions::create(&mut conn, "ended", user.id, now, now).unwrap();
    eventually("purged once the database is there", || {
        session_ids(&mut conn).is_empty()
    });
    drop(task);
}
