//! Protections that must hold under concurrency and hostile input (issue "protections
//! that hold"): each test fires its requests at once, or sends what an attacker would.

use std::time::{Duration, Instant};

use users_db::testing::TestDb;
use users_domain::Password;

use crate::helpers::TestApp;

/// Polls `f` until it is true or `limit` has passed; a bound on waiting, not a timing claim.
async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !f() {
        if Instant::now() > deadline {
            return false;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[actix_web::test]
async fn hashing_memory_is_freed_after_a_second_idle() {
    let t = TestApp::on(TestDb::sqlite());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // Twice as many jobs as threads, each holding its thread a moment, so that every
    // thread runs one and holds argon2 memory when the queue runs dry.
    let jobs: Vec<_> = (0..cores * 2)
        .map(|_| {
            let state = t.state.clone();
            actix_web::rt::spawn(async move {
                state
                    .hashing("hash", |h| {
                        let hash = h.hash(&Password::for_login("pw").unwrap());
                        std::thread::sleep(Duration::from_millis(100));
                        hash.is_ok()
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    for job in jobs {
        assert!(job.await.unwrap());
    }
    assert!(t.state.hashing_threads_holding_memory() >= 1);
    let holding = || t.state.hashing_threads_holding_memory();
    assert!(
        eventually(Duration::from_secs(10), || holding() == 0).await,
        "{} hashing threads still hold argon2 memory after 10 s idle",
        holding()
    );
}
