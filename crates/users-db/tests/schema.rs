//! The migrations: the `users` table of the contract on both backends, and every migration
//! reversible (applied, reverted, re-applied with the schema unchanged).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

use chrono::TimeDelta;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel_migrations::MigrationHarness;
use users_db::testing::TestDb;
use users_db::{
    DbConnection, has_pending_migrations, revert_all_migrations, run_migrations, users,
};
use users_domain::{UserId, now_utc};

#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct SqliteObject {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
}

#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    r#type: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Nullable<Text>)]
    dflt_value: Option<String>,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Nullable<Integer>)]
    max_length: Option<i32>,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Nullable<Text>)]
    column_default: Option<String>,
    #[diesel(sql_type = Bool)]
    identity: bool,
}

#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    indexname: String,
    #[diesel(sql_type = Text)]
    indexdef: String,
}

#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct PgConstraint {
    #[diesel(sql_type = Text)]
    conname: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// Everything the migrations create, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
enum Snapshot {
    Sqlite(Vec<SqliteObject>, Vec<SqliteColumn>),
    Postgres(Vec<PgColumn>, Vec<PgIndex>, Vec<PgConstraint>),
}

fn snapshot(conn: &mut DbConnection) -> Snapshot {
    match conn {
        DbConnection::Sqlite(c) => Snapshot::Sqlite(
            diesel::sql_query(
                "SELECT type AS kind, name, sql FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' \
                 ORDER BY type, name",
            )
            .load(c)
            .unwrap(),
            diesel::sql_query(
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('users') \
                 ORDER BY cid",
            )
            .load(c)
            .unwrap(),
        ),
        DbConnection::Postgres(c) => Snapshot::Postgres(
            diesel::sql_query(
                "SELECT column_name::text, data_type::text, \
                 character_maximum_length::integer AS max_length, \
                 (is_nullable = 'YES') AS nullable, column_default::text, \
                 (is_identity = 'YES') AS identity \
                 FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = 'users' \
                 ORDER BY ordinal_position",
            )
            .load(c)
            .unwrap(),
            diesel::sql_query(
                "SELECT indexname::text, indexdef FROM pg_indexes \
                 WHERE schemaname = 'public' AND tablename NOT LIKE '__diesel%' \
                 ORDER BY indexname",
            )
            .load(c)
            .unwrap(),
            diesel::sql_query(
                "SELECT conname::text, pg_get_constraintdef(c.oid) AS definition \
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                 WHERE n.nspname = 'public' AND conrelid <> 0 \
                 AND conrelid::regclass::text NOT LIKE '__diesel%' \
                 ORDER BY conname",
            )
            .load(c)
            .unwrap(),
        ),
    }
}

fn users_table_exists(conn: &mut DbConnection) -> bool {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let count: Count = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'users'",
        )
        .get_result(c)
        .unwrap(),
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name = 'users'",
        )
        .get_result(c)
        .unwrap(),
    };
    count.n == 1
}

#[test]
fn migrations_revert_and_reapply_to_the_same_schema() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.connect();
        assert!(!has_pending_migrations(&mut conn).unwrap(), "{b}");
        assert!(
            run_migrations(&mut conn).unwrap().is_empty(),
            "{b}: nothing pending"
        );
        let before = snapshot(&mut conn);

        let reverted = revert_all_migrations(&mut conn).unwrap();
        assert!(!reverted.is_empty(), "{b}");
        assert!(
            !users_table_exists(&mut conn),
            "{b}: down.sql drops the table"
        );
        assert!(has_pending_migrations(&mut conn).unwrap(), "{b}");
        let empty = snapshot(&mut conn);
        assert_ne!(empty, before, "{b}");

        let applied = run_migrations(&mut conn).unwrap();
        assert_eq!(
            applied,
            {
                let mut r = reverted.clone();
                r.reverse();
                r
            },
            "{b}"
        );
        assert_eq!(snapshot(&mut conn), before, "{b}: schema after re-applying");

        // And once more, so `down.sql` also works on a re-applied schema.
        revert_all_migrations(&mut conn).unwrap();
        run_migrations(&mut conn).unwrap();
        assert_eq!(snapshot(&mut conn), before, "{b}");
    }
}

fn step_up(conn: &mut DbConnection) {
    match conn {
        DbConnection::Postgres(c) => c
            .run_next_migration(users_db::POSTGRES_MIGRATIONS)
            .map(drop),
        DbConnection::Sqlite(c) => c.run_next_migration(users_db::SQLITE_MIGRATIONS).map(drop),
    }
    .unwrap();
}

fn step_down(conn: &mut DbConnection) {
    match conn {
        DbConnection::Postgres(c) => c
            .revert_last_migration(users_db::POSTGRES_MIGRATIONS)
            .map(drop),
        DbConnection::Sqlite(c) => c
            .revert_last_migration(users_db::SQLITE_MIGRATIONS)
            .map(drop),
    }
    .unwrap();
}

#[test]
fn each_migration_is_reversible_on_its_own() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.connect();
        let full = snapshot(&mut conn);
        let versions = revert_all_migrations(&mut conn).unwrap();
        let mut snapshots = vec![snapshot(&mut conn)];
        // Step up one migration at a time, checking each down/up pair in between.
        for _ in &versions {
            step_up(&mut conn);
            let up = snapshot(&mut conn);
            step_down(&mut conn);
            assert_eq!(
                &snapshot(&mut conn),
                snapshots.last().unwrap(),
                "{b}: down undoes up"
            );
            step_up(&mut conn);
            assert_eq!(
                snapshot(&mut conn),
                up,
                "{b}: up again gives the same schema"
            );
            snapshots.push(up);
        }
        assert_eq!(snapshot(&mut conn), full, "{b}");
    }
}

#[test]
fn sqlite_users_table_matches_the_contract() {
    let db = TestDb::sqlite();
    let mut conn = db.connect();
    let Snapshot::Sqlite(objects, columns) = snapshot(&mut conn) else {
        unreachable!()
    };
    let col = |name: &str, ty: &str, default: Option<&str>, pk: i32| SqliteColumn {
        name: name.into(),
        r#type: ty.into(),
        notnull: 1,
        dflt_value: default.map(Into::into),
        pk,
    };
    assert_eq!(
        columns,
        [
            col("id", "INTEGER", None, 1),
            col("username", "VARCHAR(128)", None, 0),
            col("email", "VARCHAR(128)", None, 0),
            col("password", "VARCHAR(255)", None, 0),
            col("active", "BOOLEAN", Some("TRUE"), 0),
            col("admin", "BOOLEAN", Some("FALSE"), 0),
            col("created_at", "TIMESTAMP", Some("CURRENT_TIMESTAMP"), 0),
            // Beyond the contract's columns: prefix search, folded by users-db.
            col("username_folded", "TEXT", Some("''"), 0),
            col("email_folded", "TEXT", Some("''"), 0),
            // Part C: NULL until the address is verified.
            SqliteColumn {
                notnull: 0,
                ..col("email_verified_at", "TIMESTAMP", None, 0)
            },
        ]
    );
    let table_sql = objects
        .iter()
        .find(|o| o.kind == "table" && o.name == "users")
        .and_then(|o| o.sql.as_deref())
        .unwrap();
    assert!(table_sql.contains("AUTOINCREMENT"), "{table_sql}");
    let index = |name: &str| {
        objects
            .iter()
            .find(|o| o.kind == "index" && o.name == name)
            .and_then(|o| o.sql.clone())
            .unwrap_or_else(|| panic!("index {name} missing: {objects:?}"))
    };
    assert_eq!(
        index("users_username_key"),
        "CREATE UNIQUE INDEX users_username_key ON users (username)"
    );
    assert_eq!(
        index("users_email_key"),
        "CREATE UNIQUE INDEX users_email_key ON users (email)"
    );
    assert_eq!(
        index("users_created_at_id_idx"),
        "CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC)"
    );
    assert_eq!(
        index("users_username_folded_idx"),
        "CREATE INDEX users_username_folded_idx ON users (username_folded)"
    );
    assert_eq!(
        index("users_email_folded_idx"),
        "CREATE INDEX users_email_folded_idx ON users (email_folded)"
    );
}

#[test]
fn postgres_users_table_matches_the_contract() {
    let Some(db) = TestDb::postgres() else {
        assert!(
            !users_db::testing::postgres_required(),
            "REQUIRE_POSTGRES=1 without a postgres DATABASE_TEST_URL"
        );
        eprintln!("skipped: DATABASE_TEST_URL is not a postgres:// URL");
        return;
    };
    let mut conn = db.connect();
    let Snapshot::Postgres(columns, indexes, constraints) = snapshot(&mut conn) else {
        unreachable!()
    };
    let col = |name: &str, ty: &str, len: Option<i32>, default: Option<&str>| PgColumn {
        column_name: name.into(),
        data_type: ty.into(),
        max_length: len,
        nullable: false,
        column_default: default.map(Into::into),
        identity: name == "id",
    };
    assert_eq!(
        columns,
        [
            col("id", "integer", None, None),
            col("username", "character varying", Some(128), None),
            col("email", "character varying", Some(128), None),
            col("password", "character varying", Some(255), None),
            col("active", "boolean", None, Some("true")),
            col("admin", "boolean", None, Some("false")),
            col(
                "created_at",
                "timestamp without time zone",
                None,
                Some("(now() AT TIME ZONE 'utc'::text)")
            ),
            // Beyond the contract's columns: prefix search, folded by users-db.
            col("username_folded", "text", None, Some("''::text")),
            col("email_folded", "text", None, Some("''::text")),
            // Part C: NULL until the address is verified.
            PgColumn {
                nullable: true,
                ..col(
                    "email_verified_at",
                    "timestamp without time zone",
                    None,
                    None
                )
            },
        ]
    );
    let index = |name: &str| {
        indexes
            .iter()
            .find(|i| i.indexname == name)
            .map(|i| i.indexdef.clone())
            .unwrap_or_else(|| panic!("index {name} missing: {indexes:?}"))
    };
    assert_eq!(
        index("users_username_key"),
        "CREATE UNIQUE INDEX users_username_key ON public.users USING btree (username)"
    );
    assert_eq!(
        index("users_email_key"),
        "CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)"
    );
    assert_eq!(
        index("users_created_at_id_idx"),
        "CREATE INDEX users_created_at_id_idx ON public.users USING btree (created_at DESC, id DESC)"
    );
    // The folded columns are COLLATE "C", so their plain indexes serve prefix ranges.
    assert_eq!(
        index("users_username_folded_idx"),
        "CREATE INDEX users_username_folded_idx ON public.users USING btree (username_folded)"
    );
    assert_eq!(
        index("users_email_folded_idx"),
        "CREATE INDEX users_email_folded_idx ON public.users USING btree (email_folded)"
    );
    #[derive(QueryableByName)]
    struct Collation {
        #[diesel(sql_type = Nullable<Text>)]
        collation_name: Option<String>,
    }
    let collations: Vec<Collation> = diesel::sql_query(
        "SELECT collation_name::text FROM information_schema.columns \
         WHERE table_name = 'users' AND column_name LIKE '%\\_folded' ORDER BY column_name",
    )
    .load(&mut conn)
    .unwrap();
    let collations: Vec<_> = collations.into_iter().map(|c| c.collation_name).collect();
    assert_eq!(collations, [Some("C".to_owned()), Some("C".to_owned())]);
    let constraint = |name: &str| {
        constraints
            .iter()
            .find(|c| c.conname == name)
            .map(|c| c.definition.clone())
            .unwrap_or_else(|| panic!("constraint {name} missing: {constraints:?}"))
    };
    assert_eq!(constraint("users_pkey"), "PRIMARY KEY (id)");
    assert_eq!(constraint("users_username_key"), "UNIQUE (username)");
    assert_eq!(constraint("users_email_key"), "UNIQUE (email)");
}

/// Operators and tests write this table with plain SQL (CONTRACT.md): the defaults fill in
/// the rest, and the service reads such rows.
#[test]
fn plain_sql_rows_get_the_contract_defaults() {
    for db in TestDb::all() {
        let b = db.backend();
        let mut conn = db.conn();
        diesel::sql_query(
            "INSERT INTO users (username, email, password) VALUES ('ops', 'ops@x.io', 'h')",
        )
        .execute(&mut **conn)
        .unwrap();
        let user = users::find_by_id(&mut conn, UserId::new(1))
            .unwrap()
            .unwrap();
        assert_eq!(
            (user.username.as_str(), user.email.as_str()),
            ("ops", "ops@x.io"),
            "{b}"
        );
        assert_eq!(user.password_hash.as_str(), "h", "{b}");
        assert!(user.active, "{b}");
        assert!(!user.admin, "{b}");
        let age = now_utc() - user.created_at;
        assert!(
            age.abs() < TimeDelta::seconds(60),
            "{b}: created_at is UTC now, got {age}"
        );

        diesel::sql_query("UPDATE users SET active = false, admin = true WHERE id = 1")
            .execute(&mut **conn)
            .unwrap();
        let user = users::find_by_id(&mut conn, UserId::new(1))
            .unwrap()
            .unwrap();
        assert!(!user.active && user.admin, "{b}");

        // An explicit id, as an import from the Flask service would write, then a default
        // one (PostgreSQL's identity does not see explicit ids: use ids above the import's).
        diesel::sql_query(
            "INSERT INTO users (id, username, email, password) VALUES (100, 'imp', 'imp@x.io', 'h')",
        )
        .execute(&mut **conn)
        .unwrap();
        assert!(
            users::find_by_id(&mut conn, UserId::new(100))
                .unwrap()
                .is_some(),
            "{b}"
        );
    }
}
