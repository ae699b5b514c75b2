//! A full disk never turns into an acknowledged write that did not happen (SQLite): every
//! write function of users-db reports the failure, and the row is unchanged afterwards.
//!
//! The test mounts a small tmpfs (it needs root, as CI runs); where mounting is not
//! permitted it says so on stderr and checks nothing.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::TimeDelta;
use users_db::users::{self, UserChanges};
use users_db::{DbConnection, DbError, sessions, write_transaction};
use users_domain::{Email, NewUser, PasswordHash, User, UserId, Username, now_utc};

/// A tmpfs of `size` mounted on a fresh temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("users-db-full-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir: Some(dir) })
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            // Lazy, so that a connection a failed assertion left open cannot keep it mounted.
            let status = Command::new("umount").arg("-l").arg(dir.path()).status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("full_disk: could not unmount {}", dir.path().display());
            }
        }
    }
}

/// Fills the filesystem with one file, to the last byte; the file is returned to be removed.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in [64 * 1024, 4096, 512, 1] {
        let buf = vec![0u8; chunk];
        while file.write_all(&buf).is_ok() {}
    }
    let _ = file.sync_all();
    path
}

fn new_user(name: &str) -> NewUser {
    NewUser::new(
        Username::parse(name).unwrap(),
        Email::parse(&format!("{name}@example.com")).unwrap(),
        PasswordHash::from_stored(format!("$argon2id$v=19$m=1024,t=1,p=1$salt${name}")),
    )
}

fn must_fail<T: std::fmt::Debug>(what: &str, result: Result<T, DbError>) {
    match result {
        Err(e) => eprintln!("full_disk: {what}: {e:?}"),
        Ok(v) => panic!("{what} succeeded on a full disk: {v:?}"),
    }
}

#[test]
fn every_write_on_a_full_disk_reports_its_failure() {
    let fs = match Tmpfs::mount("1m") {
        Ok(fs) => fs,
        Err(reason) => {
            eprintln!("SKIPPED every_write_on_a_full_disk_reports_its_failure: {reason}");
            return;
        }
    };
    let url = fs.path().join("users.db").to_str().unwrap().to_owned();
    let mut conn = DbConnection::open(&url).unwrap();
    users_db::run_migrations(&mut conn).unwrap();
    let ann = users::insert(&mut conn, &new_user("ann")).unwrap();
    let now = now_utc();
    sessions::create(&mut conn, "s1", ann.id, now, now + TimeDelta::days(1)).unwrap();

    let filler = fill(fs.path());
    let deactivate = UserChanges {
        active: Some(false),
        ..UserChanges::default()
    };
    let rename = UserChanges {
        username: Some(Username::parse("anne").unwrap()),
        ..UserChanges::default()
    };
    must_fail(
        "update active",
        users::update(&mut conn, ann.id, &deactivate),
    );
    must_fail("update username", users::update(&mut conn, ann.id, &rename));
    must_fail("insert", users::insert(&mut conn, &new_user("bob")));
    must_fail("set_active", users::set_active(&mut conn, ann.id, false));
    must_fail("set_admin", users::set_admin(&mut conn, ann.id, true));
    let hash = PasswordHash::from_stored("$argon2id$v=19$m=1024,t=1,p=1$new$hash".into());
    must_fail(
        "set_password_hash",
        users::set_password_hash(&mut conn, ann.id, &hash),
    );
    must_fail("delete", users::delete(&mut conn, ann.id));
    let imported = User {
        id: UserId::new(500),
        username: "imported".into(),
        email: "imported@example.com".into(),
        ..ann.clone()
    };
    must_fail("import", users::import(&mut conn, &imported));
    must_fail(
        "sessions::create",
        sessions::create(&mut conn, "s2", ann.id, now, now + TimeDelta::days(1)),
    );
    must_fail(
        "sessions::rotate",
        sessions::rotate(&mut conn, "s1", 0, now),
    );
    must_fail("sessions::revoke", sessions::revoke(&mut conn, "s1", now));
    must_fail(
        "sessions::revoke_all_for_user",
        sessions::revoke_all_for_user(&mut conn, ann.id, None, now),
    );
    must_fail(
        "write_transaction",
        write_transaction(&mut conn, |conn| users::set_admin(conn, ann.id, true)),
    );

    // Space again: nothing of the above happened, and the connection works.
    std::fs::remove_file(filler).unwrap();
    for conn in [&mut conn, &mut DbConnection::open(&url).unwrap()] {
        assert_eq!(users::find_by_id(conn, ann.id).unwrap(), Some(ann.clone()));
        assert_eq!(users::count(conn).unwrap(), 1);
        let s1 = sessions::find(conn, "s1").unwrap().unwrap();
        assert_eq!((s1.refresh_counter, s1.revoked_at), (0, None));
        assert_eq!(sessions::find(conn, "s2").unwrap(), None);
    }
    let updated = users::update(&mut conn, ann.id, &deactivate)
        .unwrap()
        .unwrap();
    assert!(!updated.active);
    drop(conn);
}
