//! The real `users-api` binary, run as an operator would: bad settings stop it at once with
//! exit code 2 and one line naming the variable, before any database is touched.

#![expect(
    clippy::expect_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_users-api");

/// Runs the binary in `dir` with only `vars` (and `PATH`) in its environment. A guard kills
/// it if it is still running after a minute (a hang is a failure, not a timing check).
fn run_in(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Result<Output, String> {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        // Should a case not be refused, it serves on a port of its own.
        .env("PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn users-api");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            return Err(format!(
                "{args:?} {vars:?}: still running after a minute; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child.wait_with_output().expect("output"))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Exit 2, one stderr line naming `variable`, no migration run and no file created; the
/// reason why not otherwise.
fn refused(args: &[&str], vars: &[(&str, &str)], variable: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_in(dir.path(), args, vars)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = if out.status.code() != Some(2) {
        format!("exit {:?}", out.status)
    } else if stderr.lines().count() != 1 {
        "not one line".to_owned()
    } else if !stderr.contains(variable) {
        format!("does not name {variable}")
    } else if stderr.contains("migrations applied") {
        "migrations ran".to_owned()
    } else if !files_in(dir.path()).is_empty() {
        format!("created {:?}", files_in(dir.path()))
    } else {
        return Ok(());
    };
    Err(format!("{args:?} {vars:?}: {why}; stderr: {stderr}"))
}

fn assert_refused(args: &[&str], vars: &[(&str, &str)], variable: &str) {
    if let Err(e) = refused(args, vars, variable) {
        panic!("{e}");
    }
}

#[test]
fn bad_settings_exit_2_naming_the_variable_before_anything_runs() {
    let missing = tempfile::tempdir().expect("tempdir");
    let missing_dir_db = missing.path().join("no-such-dir").join("x.db");
    let missing_dir_db = missing_dir_db.to_str().expect("utf-8 path");
    let mut failures = Vec::new();
    for (vars, variable) in [
        (
            &[("ARGON2_MEMORY_KIB", "4294967295")][..],
            "ARGON2_MEMORY_KIB",
        ),
        (&[("ARGON2_MEMORY_KIB", "4")][..], "ARGON2_MEMORY_KIB"),
        (&[("ARGON2_ITERATIONS", "0")][..], "ARGON2_ITERATIONS"),
        (&[("ARGON2_PARALLELISM", "0")][..], "ARGON2_PARALLELISM"),
        (&[("DATABASE_URL", "mysql://x/y")][..], "DATABASE_URL"),
        (&[("DATABASE_URL", missing_dir_db)][..], "DATABASE_URL"),
        (&[("DATABASE_URL", "")][..], "DATABASE_URL"),
        (&[("DATABASE_URL", "  ")][..], "DATABASE_URL"),
        (
            &[("APP_ENV", "testing"), ("DATABASE_TEST_URL", "mysql://x/y")][..],
            "DATABASE_TEST_URL",
        ),
        (&[("HOST", "not a host")][..], "HOST"),
        (&[("PORT", "99999")][..], "PORT"),
    ] {
        if let Err(e) = refused(&["serve"], vars, variable) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_port_in_use_exits_2_naming_port_before_migrations() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    assert_refused(&["serve"], &[("PORT", &port)], "PORT");
}

#[test]
fn a_host_that_does_not_resolve_exits_2_naming_host() {
    assert_refused(&["serve"], &[("HOST", "no-such-host.invalid")], "HOST");
}

/// Only `serve`, `migrate` and `recreate-db` create a SQLite file; the other commands refuse
/// a database that does not exist (run from another directory, they would work on a new,
/// empty one), and `import-flask` refuses a `--from` that does not exist.
#[test]
fn commands_other_than_serve_migrate_and_recreate_refuse_a_missing_sqlite_file() {
    let mut failures = Vec::new();
    for (args, variable) in [
        (
            &["create-user", "--username", "u", "--email", "u@example.com"][..],
            "DATABASE_URL",
        ),
        (&["seed-db"][..], "DATABASE_URL"),
        (&["import-flask", "--from", "missing.db"][..], "--from"),
    ] {
        if let Err(e) = refused(args, &[], variable) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // With the database made by `migrate`, the same commands run; --from is still checked.
    let dir = tempfile::tempdir().expect("tempdir");
    let migrate = run_in(dir.path(), &["migrate"], &[]).unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    assert_eq!(files_in(dir.path())[0], "users.db");
    let seed = run_in(dir.path(), &["seed-db"], &[]).unwrap();
    assert!(seed.status.success(), "{seed:?}");
    let import = run_in(dir.path(), &["import-flask", "--from", "missing.db"], &[]).unwrap();
    assert_eq!(import.status.code(), Some(2), "{import:?}");
    assert!(!dir.path().join("missing.db").exists());
}

/// Logs written to a pipe (or a file) carry no ANSI colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_in(dir.path(), &["migrate"], &[]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("migrations applied"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "colour codes in a pipe: {stderr:?}"
    );
}

#[test]
fn exit_codes_tell_an_unreachable_database_and_a_taken_user() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &["migrate"],
        &[
            ("DATABASE_URL", "postgres://nobody:nothing@127.0.0.1:1/none"),
            ("DB_POOL_TIMEOUT_SECONDS", "1"),
        ],
    )
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db = dir.path().join("u.db");
    let url = db.to_str().unwrap();
    assert!(
        run_in(dir.path(), &["migrate"], &[("DATABASE_URL", url)])
            .unwrap()
            .status
            .success()
    );
    let create = || {
        let mut child = Command::new(BIN)
            .args([
                "create-user",
                "--username",
                "root",
                "--email",
                "root@example.com",
            ])
            .current_dir(dir.path())
            .env_clear()
            .env("DATABASE_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a-password\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert_eq!(create().status.code(), Some(0));
    let again = create();
    assert_eq!(
        again.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
