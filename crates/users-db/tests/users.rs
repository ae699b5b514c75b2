//! Every query of `users_db::users` on every configured backend, the duplicate
//! classification, and concurrent writers.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use std::sync::{Arc, Barrier};
use std::thread;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use users_db::testing::TestDb;
use users_db::users::{self, ListQuery, PageCursor, UserChanges};
use users_db::{DbConnection, DbError, UniqueField, write_transaction};
use users_domain::{Email, NewUser, PasswordHash, User, UserId, Username, now_utc};

fn username(s: &str) -> Username {
    Username::parse(s).unwrap()
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn new_user(name: &str, mail: &str) -> NewUser {
    NewUser::new(
        username(name),
        email(mail),
        PasswordHash::from_stored(format!("$argon2id$v=19$m=1024,t=1,p=1$salt${name}")),
    )
}

fn at(day: u32, secs: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, day)
        .unwrap()
        .and_hms_micro_opt(0, 0, secs, 123_456)
        .unwrap()
}

fn new_user_at(name: &str, created_at: NaiveDateTime) -> NewUser {
    NewUser {
        created_at,
        ..new_user(name, &format!("{name}@example.com"))
    }
}

fn names(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.username.as_str()).collect()
}

#[test]
fn insert_returns_the_stored_user() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let new = NewUser {
            admin: true,
            ..new_user("michael", "michael@mherman.org")
        };
        let user = users::insert(&mut conn, &new).unwrap();
        assert!(user.id.get() > 0, "{b}");
        assert_eq!(user.username, "michael", "{b}");
        assert_eq!(user.email, "michael@mherman.org", "{b}");
        assert_eq!(user.password_hash, new.password_hash, "{b}");
        assert!(user.active, "{b}");
        assert!(user.admin, "{b}");
        // Microseconds survive the round trip on both backends.
        assert_eq!(user.created_at, new.created_at, "{b}");

        let second = users::insert(&mut conn, &new_user("other", "other@x.io")).unwrap();
        assert!(second.id > user.id, "{b}");
        assert_eq!(users::count(&mut conn).unwrap(), 2, "{b}");
    }
}

#[test]
fn find_by_id_email_and_username() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let user = users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap();
        users::insert(&mut conn, &new_user("bob", "bob@x.io")).unwrap();

        assert_eq!(
            users::find_by_id(&mut conn, user.id).unwrap().as_ref(),
            Some(&user),
            "{b}"
        );
        assert_eq!(
            users::find_by_id(&mut conn, UserId::new(9999)).unwrap(),
            None,
            "{b}"
        );

        let found = users::find_by_email(&mut conn, &email("ANN@X.IO")).unwrap();
        assert_eq!(found.as_ref(), Some(&user), "{b}");
        assert_eq!(
            users::find_by_email(&mut conn, &email("nobody@x.io")).unwrap(),
            None,
            "{b}"
        );

        let found = users::find_by_username(&mut conn, &username("ann")).unwrap();
        assert_eq!(found.as_ref(), Some(&user), "{b}");
        assert_eq!(
            users::find_by_username(&mut conn, &username("Ann")).unwrap(),
            None,
            "{b}"
        );
    }
}

#[test]
fn find_by_username_or_email() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let ann = users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap();
        let bob = users::insert(&mut conn, &new_user("bob", "bob@x.io")).unwrap();

        let both =
            users::find_by_username_or_email(&mut conn, &username("ann"), &email("bob@x.io"))
                .unwrap();
        assert_eq!(both, vec![ann.clone(), bob.clone()], "{b}");
        let one = users::find_by_username_or_email(&mut conn, &username("ann"), &email("ann@x.io"))
            .unwrap();
        assert_eq!(one, vec![ann.clone()], "{b}");
        let by_email =
            users::find_by_username_or_email(&mut conn, &username("zed"), &email("bob@x.io"))
                .unwrap();
        assert_eq!(by_email, vec![bob], "{b}");
        let none = users::find_by_username_or_email(&mut conn, &username("zed"), &email("z@x.io"))
            .unwrap();
        assert!(none.is_empty(), "{b}");
    }
}

#[test]
fn list_newest_orders_by_created_at_then_id() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        assert!(users::list_newest(&mut conn, 10).unwrap().is_empty(), "{b}");
        // Inserted out of order, two with the same created_at (the later id wins the tie).
        for (name, created_at) in [
            ("middle", at(2, 0)),
            ("oldest", at(1, 0)),
            ("tie_a", at(3, 0)),
            ("tie_b", at(3, 0)),
            ("newest", at(4, 30)),
        ] {
            users::insert(&mut conn, &new_user_at(name, created_at)).unwrap();
        }
        let all = users::list_newest(&mut conn, 100).unwrap();
        assert_eq!(
            names(&all),
            ["newest", "tie_b", "tie_a", "middle", "oldest"],
            "{b}"
        );
        let two = users::list_newest(&mut conn, 2).unwrap();
        assert_eq!(names(&two), ["newest", "tie_b"], "{b}");
        // Limits are clamped, not errors.
        assert_eq!(users::list_newest(&mut conn, 0).unwrap().len(), 1, "{b}");
        assert_eq!(users::list_newest(&mut conn, -5).unwrap().len(), 1, "{b}");
        assert_eq!(
            users::list_newest(&mut conn, i64::MAX).unwrap().len(),
            5,
            "{b}"
        );
    }
}

#[test]
fn list_pages_with_a_cursor_and_filters_by_prefix() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        for i in 0..7u32 {
            // Pairs share a created_at, so pages split ties.
            users::insert(&mut conn, &new_user_at(&format!("user{i}"), at(1, i / 2))).unwrap();
        }
        users::insert(&mut conn, &new_user("Alice_Smith", "Alice%1@Example.com")).unwrap();
        users::insert(&mut conn, &new_user("alicexsmith", "ax@example.com")).unwrap();

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = users::list(
                &mut conn,
                &ListQuery {
                    limit: 3,
                    after,
                    prefix: Some("user".into()),
                },
            )
            .unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(PageCursor::from);
            seen.extend(page.into_iter().map(|u| u.username));
        }
        assert_eq!(
            seen,
            [
                "user6", "user5", "user4", "user3", "user2", "user1", "user0"
            ],
            "{b}"
        );

        let prefix = |p: &str, conn: &mut DbConnection| {
            let q = ListQuery {
                limit: 100,
                after: None,
                prefix: Some(p.into()),
            };
            let mut found: Vec<String> = users::list(conn, &q)
                .unwrap()
                .into_iter()
                .map(|u| u.username)
                .collect();
            found.sort();
            found
        };
        // Case-insensitive, on username or email.
        assert_eq!(
            prefix("ALICE", &mut conn),
            ["Alice_Smith", "alicexsmith"],
            "{b}"
        );
        assert_eq!(prefix("ax@", &mut conn), ["alicexsmith"], "{b}");
        // `_` and `%` are literal, not wildcards.
        assert_eq!(prefix("alice_", &mut conn), ["Alice_Smith"], "{b}");
        assert_eq!(prefix("alice%", &mut conn), ["Alice_Smith"], "{b}");
        assert!(prefix("nobody", &mut conn).is_empty(), "{b}");
    }
}

#[test]
fn set_active_admin_and_password_hash() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let user = users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap();
        let missing = UserId::new(user.id.get() + 100);

        assert!(users::set_active(&mut conn, user.id, false).unwrap(), "{b}");
        assert!(users::set_admin(&mut conn, user.id, true).unwrap(), "{b}");
        let hash = PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$new$hash".into());
        assert!(
            users::set_password_hash(&mut conn, user.id, &hash).unwrap(),
            "{b}"
        );
        let stored = users::find_by_id(&mut conn, user.id).unwrap().unwrap();
        assert!(!stored.active, "{b}");
        assert!(stored.admin, "{b}");
        assert_eq!(stored.password_hash, hash, "{b}");
        assert_eq!(stored.created_at, user.created_at, "{b}");

        // Setting the same value again still finds the row.
        assert!(users::set_active(&mut conn, user.id, false).unwrap(), "{b}");
        assert!(!users::set_active(&mut conn, missing, true).unwrap(), "{b}");
        assert!(!users::set_admin(&mut conn, missing, true).unwrap(), "{b}");
        assert!(
            !users::set_password_hash(&mut conn, missing, &hash).unwrap(),
            "{b}"
        );
    }
}

#[test]
fn update_changes_columns_in_one_statement() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let ann = users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap();
        let bob = users::insert(&mut conn, &new_user("bob", "bob@x.io")).unwrap();

        let changes = UserChanges {
            username: Some(username("anne")),
            email: Some(email("Anne@X.io")),
            active: Some(false),
            admin: Some(true),
        };
        let updated = users::update(&mut conn, ann.id, &changes).unwrap().unwrap();
        assert_eq!(updated.username, "anne", "{b}");
        assert_eq!(updated.email, "anne@x.io", "{b}");
        assert!(!updated.active && updated.admin, "{b}");
        assert_eq!(updated.created_at, ann.created_at, "{b}");
        assert_eq!(
            users::find_by_id(&mut conn, ann.id).unwrap(),
            Some(updated.clone()),
            "{b}"
        );

        let only_admin = UserChanges {
            admin: Some(false),
            ..UserChanges::default()
        };
        let updated = users::update(&mut conn, ann.id, &only_admin)
            .unwrap()
            .unwrap();
        assert_eq!(updated.username, "anne", "{b}");
        assert!(!updated.admin, "{b}");

        let unchanged = users::update(&mut conn, ann.id, &UserChanges::default()).unwrap();
        assert_eq!(unchanged, Some(updated), "{b}");

        let missing = UserId::new(bob.id.get() + 100);
        assert_eq!(
            users::update(&mut conn, missing, &only_admin).unwrap(),
            None,
            "{b}"
        );
        assert_eq!(
            users::update(&mut conn, missing, &UserChanges::default()).unwrap(),
            None,
            "{b}"
        );

        let taken = UserChanges {
            email: Some(email("bob@x.io")),
            ..UserChanges::default()
        };
        let err = users::update(&mut conn, ann.id, &taken).unwrap_err();
        assert!(
            matches!(
                err,
                DbError::Duplicate {
                    field: UniqueField::Email
                }
            ),
            "{b}: {err:?}"
        );
        let taken = UserChanges {
            username: Some(username("bob")),
            ..UserChanges::default()
        };
        let err = users::update(&mut conn, ann.id, &taken).unwrap_err();
        assert!(
            matches!(
                err,
                DbError::Duplicate {
                    field: UniqueField::Username
                }
            ),
            "{b}: {err:?}"
        );
    }
}

#[test]
fn delete_removes_the_row() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let ann = users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap();
        let bob = users::insert(&mut conn, &new_user("bob", "bob@x.io")).unwrap();
        assert!(users::delete(&mut conn, ann.id).unwrap(), "{b}");
        assert!(!users::delete(&mut conn, ann.id).unwrap(), "{b}");
        assert_eq!(users::find_by_id(&mut conn, ann.id).unwrap(), None, "{b}");
        assert_eq!(users::list_newest(&mut conn, 10).unwrap(), vec![bob], "{b}");
        // The username and email are free again.
        users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap();
    }
}

#[test]
fn duplicates_name_the_field() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap();

        let err = users::insert(&mut conn, &new_user("other", "ANN@x.io")).unwrap_err();
        assert!(
            matches!(
                err,
                DbError::Duplicate {
                    field: UniqueField::Email
                }
            ),
            "{b}: {err:?}"
        );
        assert_eq!(err.duplicate_field(), Some(UniqueField::Email), "{b}");

        let err = users::insert(&mut conn, &new_user("ann", "other@x.io")).unwrap_err();
        assert!(
            matches!(
                err,
                DbError::Duplicate {
                    field: UniqueField::Username
                }
            ),
            "{b}: {err:?}"
        );

        // Both taken: a duplicate either way.
        let err = users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap_err();
        assert!(err.duplicate_field().is_some(), "{b}: {err:?}");

        // Nothing was written, and the connection is still usable.
        assert_eq!(users::count(&mut conn).unwrap(), 1, "{b}");
    }
}

#[test]
fn twenty_concurrent_inserts_of_one_email_make_one_user() {
    const THREADS: usize = 20;
    for db in TestDb::all() {
        let b = db.backend();
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                // Each thread its own connection, opened before the race starts.
                let mut conn = db.connect();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    users::insert(&mut conn, &new_user(&format!("racer{i}"), "same@x.io"))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

        let ok = results.iter().filter(|r| r.is_ok()).count();
        let duplicates = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(DbError::Duplicate {
                        field: UniqueField::Email
                    })
                )
            })
            .count();
        let others: Vec<_> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .filter(|e| e.duplicate_field() != Some(UniqueField::Email))
            .collect();
        assert!(others.is_empty(), "{b}: unexpected errors {others:?}");
        assert_eq!((ok, duplicates), (1, THREADS - 1), "{b}");
        let mut conn = db.conn();
        assert_eq!(users::count(&mut conn).unwrap(), 1, "{b}");
        let winner = users::find_by_email(&mut conn, &email("same@x.io"))
            .unwrap()
            .unwrap();
        let ok_user = results.into_iter().find_map(Result::ok).unwrap();
        assert_eq!(winner, ok_user, "{b}");
    }
}

#[test]
fn twenty_concurrent_writers_through_the_pool_never_see_a_lock() {
    const THREADS: usize = 20;
    for db in TestDb::all() {
        let b = db.backend();
        let barrier = Arc::new(Barrier::new(THREADS));
        let errors: Vec<DbError> = thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|i| {
                    let barrier = Arc::clone(&barrier);
                    let pool = db.pool();
                    s.spawn(move || -> Result<(), DbError> {
                        let mut conn = users_db::get_conn(pool)?;
                        barrier.wait();
                        // A distinct insert, then a read-then-write in a write transaction:
                        // with deferred transactions SQLite would answer "database is
                        // locked" to some of these.
                        users::insert(
                            &mut conn,
                            &new_user(&format!("w{i}"), &format!("w{i}@x.io")),
                        )?;
                        write_transaction(&mut conn, |conn| {
                            let n = users::count(conn)?;
                            let name = format!("t{i}_{n}");
                            users::insert(conn, &new_user(&name, &format!("{name}@x.io")))?;
                            Ok::<_, DbError>(())
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap().err())
                .collect()
        });
        assert!(errors.is_empty(), "{b}: {errors:?}");
        let mut conn = db.conn();
        assert_eq!(users::count(&mut conn).unwrap(), 2 * THREADS as i64, "{b}");
    }
}

#[test]
fn write_transaction_commits_or_rolls_back() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let ann = write_transaction(&mut conn, |conn| {
            users::insert(conn, &new_user("ann", "ann@x.io"))
        })
        .unwrap();
        let err = write_transaction(&mut conn, |conn| {
            users::set_admin(conn, ann.id, true)?;
            users::insert(conn, &new_user("ann", "again@x.io"))
        })
        .unwrap_err();
        assert_eq!(err.duplicate_field(), Some(UniqueField::Username), "{b}");
        let stored = users::find_by_id(&mut conn, ann.id).unwrap().unwrap();
        assert!(!stored.admin, "{b}: the first update was rolled back");

        // Nested: a savepoint inside the outer transaction.
        let inner: Result<(), DbError> = write_transaction(&mut conn, |conn| {
            users::set_active(conn, ann.id, false)?;
            let nested = write_transaction(conn, |conn| {
                users::set_admin(conn, ann.id, true)?;
                Err::<(), _>(DbError::Duplicate {
                    field: UniqueField::Email,
                })
            });
            assert!(nested.is_err());
            Ok(())
        });
        inner.unwrap();
        let stored = users::find_by_id(&mut conn, ann.id).unwrap().unwrap();
        assert!(!stored.active, "{b}: outer change committed");
        assert!(!stored.admin, "{b}: inner change rolled back");
    }
}

#[test]
fn now_utc_round_trips() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        let before = now_utc();
        let user = users::insert(&mut conn, &new_user("ann", "ann@x.io")).unwrap();
        let stored = users::find_by_id(&mut conn, user.id).unwrap().unwrap();
        assert_eq!(stored.created_at, user.created_at, "{b}");
        assert!(stored.created_at - before < TimeDelta::seconds(60), "{b}");
    }
}

/// Inserts `n` users `<stem><i>` (i = 1..=n), user i created i seconds into 2026: the
/// highest i is the newest.
fn bulk_insert(conn: &mut DbConnection, stem: &str, n: u32, offset: u32) {
    use diesel::RunQueryDsl;
    let sql = match conn {
        DbConnection::Sqlite(_) => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO users (username, email, password, created_at)
             SELECT '{stem}' || i, '{stem}' || i || '@example.com', 'h',
                    datetime('2026-01-01 00:00:00', '+' || (i + {offset}) || ' seconds') FROM n"
        ),
        DbConnection::Postgres(_) => format!(
            "INSERT INTO users (username, email, password, created_at)
             SELECT '{stem}' || i, '{stem}' || i || '@example.com', 'h',
                    timestamp '2026-01-01 00:00:00' + (i + {offset}) * interval '1 second'
             FROM generate_series(1, {n}) AS i"
        ),
    };
    diesel::sql_query(sql).execute(conn).unwrap();
    // What the service does at start-up: rows written by plain SQL get their folded search
    // columns here.
    users_db::run_migrations(conn).unwrap();
}

#[test]
fn prefix_search_matches_a_plain_filter_for_rare_and_common_prefixes() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        // Old rare users, then many newer ones: a rare prefix is not among the newest rows.
        bulk_insert(&mut conn, "Rare_", 30, 0);
        bulk_insert(&mut conn, "common", 3000, 100);
        let all = users::list_newest(&mut conn, 1000).unwrap();
        let everyone: Vec<User> = {
            let mut v = all;
            let mut after = v.last().map(PageCursor::from);
            while let Some(cursor) = after {
                let page = users::list(
                    &mut conn,
                    &ListQuery {
                        limit: 1000,
                        after: Some(cursor),
                        prefix: None,
                    },
                )
                .unwrap();
                after = page.last().map(PageCursor::from);
                v.extend(page);
            }
            v
        };
        assert_eq!(everyone.len(), 3030, "{b}");
        for (prefix, limit) in [
            ("rare_", 100), // 30 matches, all older than the newest 2000 rows
            ("RARE_1", 5),  // case-insensitive, paged
            ("common1", 100),
            ("common", 7),
            ("c", 1000),
            ("nobody", 10),
            ("rare_%", 10), // `%` matches literally: nothing
            ("common2999", 10),
        ] {
            let want: Vec<&str> = everyone
                .iter()
                .filter(|u| {
                    let p = prefix.to_lowercase();
                    u.username.to_lowercase().starts_with(&p) || u.email.starts_with(&p)
                })
                .map(|u| u.username.as_str())
                .collect();
            // Every page, following the cursor, until the matches run out.
            let mut got: Vec<String> = Vec::new();
            let mut after = None;
            loop {
                let page = users::list(
                    &mut conn,
                    &ListQuery {
                        limit,
                        after,
                        prefix: Some(prefix.to_owned()),
                    },
                )
                .unwrap();
                assert!(page.len() as i64 <= limit, "{b} {prefix}");
                got.extend(page.iter().map(|u| u.username.clone()));
                if (page.len() as i64) < limit {
                    break;
                }
                after = page.last().map(PageCursor::from);
            }
            assert_eq!(got, want, "{b}: q={prefix} limit={limit}");
        }
    }
}

/// Every configured backend, plus PostgreSQL with the `C` ctype, whose `lower()` folds
/// ASCII only.
fn all_with_c_locale() -> Vec<TestDb> {
    let mut dbs = TestDb::all();
    dbs.extend(TestDb::postgres_c_locale());
    dbs
}

fn at_year(year: i32, secs: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, secs)
        .unwrap()
}

/// Every page of a prefix search, following the cursor.
fn search_all(conn: &mut DbConnection, prefix: &str, limit: i64) -> Vec<String> {
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = users::list(
            conn,
            &ListQuery {
                limit,
                after,
                prefix: Some(prefix.to_owned()),
            },
        )
        .unwrap();
        assert!(page.len() as i64 <= limit, "{prefix}");
        got.extend(page.iter().map(|u| u.username.clone()));
        if (page.len() as i64) < limit {
            return got;
        }
        after = page.last().map(PageCursor::from);
    }
}

#[test]
fn prefix_search_folds_non_ascii_case_beyond_the_newest_rows() {
    for db in all_with_c_locale() {
        let b = db.backend();
        let mut conn = db.conn();
        // Old users with non-ASCII names, 3000 newer ASCII ones, then two newest non-ASCII
        // ones: the old ones are far past the newest 2000 rows.
        let old = [
            ("Émile", "emile@example.com"),
            ("ÉLODIE", "elodie@example.com"),
            ("Иван", "ivan@example.com"),
            ("ИВАНОВА", "ivanova@example.com"),
            ("Øyvind", "oyvind@example.com"),
            ("zoe", "Zoë.Ö@Example.com"),
        ];
        for (i, (name, mail)) in old.into_iter().enumerate() {
            let user = NewUser {
                created_at: at_year(2025, i as u32),
                ..new_user(name, mail)
            };
            users::insert(&mut conn, &user).unwrap();
        }
        bulk_insert(&mut conn, "common", 3000, 100);
        for (i, (name, mail)) in [
            ("Émilie", "emilie@example.com"),
            ("иванна", "ivanna@example.com"),
        ]
        .into_iter()
        .enumerate()
        {
            let user = NewUser {
                created_at: at_year(2027, i as u32),
                ..new_user(name, mail)
            };
            users::insert(&mut conn, &user).unwrap();
        }
        for (prefix, want) in [
            ("émile", &["Émile"][..]),
            ("ÉMILE", &["Émile"]),
            ("ÉmIl", &["Émilie", "Émile"]),
            ("élo", &["ÉLODIE"]),
            ("иван", &["иванна", "ИВАНОВА", "Иван"]),
            ("ИВАНО", &["ИВАНОВА"]),
            ("øY", &["Øyvind"]),
            ("zoë.ö", &["zoe"]),
            ("ZOË.Ö@", &["zoe"]),
            ("é", &["Émilie", "ÉLODIE", "Émile"]),
        ] {
            for limit in [1, 2, 100] {
                assert_eq!(
                    search_all(&mut conn, prefix, limit),
                    want,
                    "{b}: q={prefix} limit={limit}"
                );
            }
        }
    }
}

/// A row an operator inserted with plain SQL has no folded search columns yet: searching
/// still works, and the row is found after the next start-up (`run_migrations`).
#[test]
fn plain_sql_rows_are_searchable_after_start_up() {
    use diesel::RunQueryDsl;
    for db in all_with_c_locale() {
        let b = db.backend();
        let mut conn = db.conn();
        users::insert(&mut conn, &new_user("Ærø", "aero@example.com")).unwrap();
        diesel::sql_query(
            "INSERT INTO users (username, email, password) VALUES ('ÆRØSKØBING', 'ops@x.io', 'h')",
        )
        .execute(&mut **conn)
        .unwrap();
        let before = search_all(&mut conn, "ærø", 100);
        assert!(before.contains(&"Ærø".to_owned()), "{b}: {before:?}");
        users_db::run_migrations(&mut conn).unwrap();
        let mut after = search_all(&mut conn, "ærø", 100);
        after.sort();
        assert_eq!(after, ["ÆRØSKØBING", "Ærø"], "{b}");
    }
}

/// The import folds source emails as `Email` does, on both the comparison and the insert:
/// two source emails that differ only in non-ASCII case are one address here.
#[test]
fn import_folds_emails_as_login_does() {
    for db in all_with_c_locale() {
        let b = db.backend();
        let mut conn = db.conn();
        let source = |id: i32, name: &str, mail: &str| User {
            id: UserId::new(id),
            username: name.into(),
            email: mail.into(),
            password_hash: PasswordHash::from_stored("$2b$04$hash".into()),
            active: true,
            admin: false,
            created_at: at(1, id as u32),
            email_verified_at: None,
        };
        let emile = source(10, "Émile", "ÉMILE@Example.com");
        let twin = source(11, "emile2", "émile@example.com");
        assert_eq!(
            users::import(&mut conn, &emile).unwrap(),
            users::ImportOutcome::Imported,
            "{b}"
        );
        assert_eq!(
            users::import(&mut conn, &twin).unwrap(),
            users::ImportOutcome::Conflict(UniqueField::Email),
            "{b}"
        );
        // A second run finds the user it imported, whatever the case of the source email.
        assert_eq!(
            users::import(&mut conn, &emile).unwrap(),
            users::ImportOutcome::AlreadyPresent,
            "{b}"
        );
        let found = users::find_by_email(&mut conn, &email("Émile@EXAMPLE.com"))
            .unwrap()
            .unwrap();
        assert_eq!(found.id, emile.id, "{b}");
        assert_eq!(found.email, "émile@example.com", "{b}");
        // Found by a prefix of either column, in any case.
        assert_eq!(search_all(&mut conn, "ÉMI", 10), ["Émile"], "{b}");
        assert_eq!(search_all(&mut conn, "émile@", 10), ["Émile"], "{b}");
    }
}
