//! `users_db::mail` under real concurrency (threads on their own connections, released
//! together by a barrier): the hourly cap, the single use of a token, and the claim that
//! keeps two deliverers off one mail. Every backend.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;

use chrono::TimeDelta;
use users_db::mail::{self, NewMail, NewToken, Queued, TokenPurpose};
use users_db::testing::TestDb;
use users_db::users;
use users_domain::{Email, NewUser, PasswordHash, User, UserId, Username, now_utc};

const THREADS: usize = 16;

fn user(db: &TestDb, name: &str) -> User {
    users::insert(
        &mut db.conn(),
        &NewUser::new(
            Username::parse(name).unwrap(),
            Email::parse(&format!("{name}@example.com")).unwrap(),
            PasswordHash::from_stored(format!("$argon2id$v=19$m=1024,t=1,p=1$salt${name}")),
        ),
    )
    .unwrap()
}

fn token(hash: &str, purpose: TokenPurpose) -> NewToken {
    NewToken {
        token_hash: hash.to_owned(),
        purpose,
        email: "ann@example.com".to_owned(),
        expires_at: now_utc() + TimeDelta::hours(1),
    }
}

fn mail_for(id: UserId, purpose: &'static str) -> NewMail {
    NewMail {
        user_id: id,
        purpose,
        recipient: "ann@example.com".to_owned(),
        subject: "s".to_owned(),
        body_sealed: "sealed".to_owned(),
    }
}

/// Runs `f(i)` on `THREADS` threads released together; their results.
fn at_once<T: Send + 'static>(
    db: &TestDb,
    f: impl Fn(usize, &mut users_db::DbConnection) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (barrier, f, pool) = (Arc::clone(&barrier), Arc::clone(&f), db.pool().clone());
            thread::spawn(move || {
                let mut conn = users_db::get_conn(&pool).unwrap();
                barrier.wait();
                f(i, &mut conn)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn the_hourly_cap_holds_when_requests_race() {
    for db in TestDb::all() {
        let b = db.backend();
        let id = user(&db, "ann").id;
        let outcomes = at_once(&db, move |i, conn| {
            mail::queue_with_token(
                conn,
                id,
                &token(&format!("h{i}"), TokenPurpose::Verify),
                &[mail_for(id, "verify")],
                now_utc(),
                3,
            )
            .unwrap()
        });
        let queued = outcomes.iter().filter(|q| **q == Queued::Queued).count();
        assert_eq!(
            queued, 3,
            "{b}: {queued} of {THREADS} racing requests queued, cap 3"
        );
        assert_eq!(mail::backlog(&mut db.conn()).unwrap(), 3, "{b}");
    }
}

#[test]
fn a_token_is_spent_once_however_many_race_for_it() {
    for db in TestDb::all() {
        let b = db.backend();
        let id = user(&db, "bob").id;
        mail::queue_with_token(
            &mut db.conn(),
            id,
            &token("the-hash", TokenPurpose::Reset),
            &[mail_for(id, "reset")],
            now_utc(),
            5,
        )
        .unwrap();
        let wins = at_once(&db, |_, conn| {
            mail::spend_token(conn, "the-hash", &[TokenPurpose::Reset], now_utc())
                .unwrap()
                .is_some()
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{b}");
        // Another purpose cannot spend it, used or not.
        assert!(
            mail::spend_token(
                &mut db.conn(),
                "the-hash",
                &[TokenPurpose::Verify],
                now_utc()
            )
            .unwrap()
            .is_none()
        );
    }
}

#[test]
fn racing_deliverers_never_hold_the_same_mail() {
    for db in TestDb::all() {
        let b = db.backend();
        const MAILS: usize = 64;
        for i in 0..MAILS {
            let id = user(&db, &format!("u{i}")).id;
            mail::queue(&mut db.conn(), &mail_for(id, "reset"), now_utc()).unwrap();
        }
        let claims = at_once(&db, |_, conn| {
            let now = now_utc();
            let mut mine = Vec::new();
            loop {
                let got = mail::claim(conn, now, now + TimeDelta::minutes(5), 3).unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|c| (c.id, c.attempts)));
            }
        });
        let all: Vec<(i64, i32)> = claims.into_iter().flatten().collect();
        let ids: HashSet<i64> = all.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            all.len(),
            MAILS,
            "{b}: {} claims of {MAILS} mails",
            all.len()
        );
        assert_eq!(ids.len(), MAILS, "{b}: a mail was claimed twice");
        assert!(all.iter().all(|(_, attempts)| *attempts == 1), "{b}");
        // Held: nobody takes them again before the lease ends; after it, they come back.
        let now = now_utc();
        let again = mail::claim(&mut db.conn(), now, now + TimeDelta::minutes(5), 100).unwrap();
        assert!(again.is_empty(), "{b}");
        let later = now + TimeDelta::minutes(6);
        let again = mail::claim(&mut db.conn(), later, later + TimeDelta::minutes(5), 100).unwrap();
        assert_eq!(
            again.len(),
            MAILS,
            "{b}: a holder that died lets go at the end of its lease"
        );
        assert!(again.iter().all(|c| c.attempts == 2), "{b}");
    }
}

#[test]
fn delivered_and_given_up_mails_lose_their_body_and_leave_the_backlog() {
    for db in TestDb::all() {
        let b = db.backend();
        let id = user(&db, "cy").id;
        for _ in 0..3 {
            mail::queue(&mut db.conn(), &mail_for(id, "verify"), now_utc()).unwrap();
        }
        let now = now_utc();
        let got = mail::claim(&mut db.conn(), now, now + TimeDelta::minutes(5), 10).unwrap();
        assert_eq!(got.len(), 3, "{b}");
        let mut conn = db.conn();
        assert!(mail::mark_sent(&mut conn, got[0].id, now).unwrap());
        assert!(mail::mark_failed(&mut conn, got[1].id, now, "550 no").unwrap());
        assert!(
            mail::mark_retry(&mut conn, got[2].id, now + TimeDelta::seconds(2), "421").unwrap()
        );
        // A finished mail is not marked again.
        assert!(!mail::mark_sent(&mut conn, got[1].id, now).unwrap(), "{b}");
        assert_eq!(mail::backlog(&mut conn).unwrap(), 1, "{b}");
        assert_eq!(
            mail::next_due(&mut conn).unwrap(),
            Some(now + TimeDelta::seconds(2)),
            "{b}"
        );
        // Not due yet, then due.
        assert!(
            mail::claim(&mut conn, now, now, 10).unwrap().is_empty(),
            "{b}"
        );
        let later = now + TimeDelta::seconds(3);
        let retried = mail::claim(&mut conn, later, later, 10).unwrap();
        assert_eq!(retried.len(), 1, "{b}");
        assert_eq!(retried[0].body.as_deref(), Some("sealed"), "{b}");
    }
}
