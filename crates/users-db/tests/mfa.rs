//! `users_db::mfa` under real concurrency: an enrolment restarted while another request
//! confirms the pending one never leaves a confirmed factor switched off. Every backend.

use std::sync::{Arc, Barrier};
use std::thread;

use users_db::testing::TestDb;
use users_db::{mfa, users, write_transaction};
use users_domain::{Email, NewUser, PasswordHash, Username, now_utc};

#[test]
fn a_restarted_enrolment_racing_a_confirmation_never_loses_the_factor() {
    for db in TestDb::all() {
        let b = db.backend();
        let id = users::insert(
            &mut db.conn(),
            &NewUser::new(
                Username::parse("ann").unwrap(),
                Email::parse("ann@example.com").unwrap(),
                PasswordHash::from_stored("$argon2id$v=19$m=1024,t=1,p=1$salt$ann".to_owned()),
            ),
        )
        .unwrap()
        .id;
        let codes: Vec<String> = (0..10).map(|i| format!("{i:064}")).collect();
        for round in 0..40 {
            // A clean pending enrolment with secret `s{round}`.
            mfa::disable(&mut db.conn(), id).unwrap();
            let secret = format!("s{round}");
            assert!(mfa::begin_enrolment(&mut db.conn(), id, &secret, now_utc()).unwrap());
            let barrier = Arc::new(Barrier::new(2));
            let confirm = {
                let (barrier, pool, secret, codes) = (
                    Arc::clone(&barrier),
                    db.pool().clone(),
                    secret.clone(),
                    codes.clone(),
                );
                thread::spawn(move || {
                    let mut conn = users_db::get_conn(&pool).unwrap();
                    barrier.wait();
                    write_transaction(&mut conn, |conn| {
                        mfa::enable(conn, id, &secret, 1, &codes, now_utc())
                    })
                    .unwrap()
                })
            };
            let restart = {
                let (barrier, pool) = (Arc::clone(&barrier), db.pool().clone());
                thread::spawn(move || {
                    let mut conn = users_db::get_conn(&pool).unwrap();
                    barrier.wait();
                    mfa::begin_enrolment(&mut conn, id, &format!("r{round}"), now_utc()).unwrap()
                })
            };
            let (enabled, restarted) = (confirm.join().unwrap(), restart.join().unwrap());
            let row = mfa::find(&mut db.conn(), id).unwrap();
            if enabled {
                assert!(
                    row.as_ref().is_some_and(|t| t.enabled_at.is_some()),
                    "{b} round {round}: confirmed, then the restart (answered {restarted}) left {row:?}"
                );
                assert!(!restarted, "{b} round {round}: both won");
            } else {
                assert!(restarted, "{b} round {round}: neither won");
            }
        }
    }
}
