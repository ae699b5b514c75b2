//! `import-flask`: users copied from a Flask service database (its own schema, bcrypt
//! hashes), idempotently, then able to log in (and upgraded to argon2id).

use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::helpers::{TestApp, post_json, send};
use crate::init;

/// A SQLite database as Flask-SQLAlchemy created it for the course's `User` model.
fn flask_database(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("flask.db");
    let url = path.to_str().unwrap().to_owned();
    let mut conn = users_db::DbConnection::open(&url).unwrap();
    let hash = bcrypt::hash("flask-pass", 4).unwrap();
    let sql = format!(
        "CREATE TABLE users (
            id INTEGER NOT NULL,
            username VARCHAR(128) NOT NULL,
            email VARCHAR(128) NOT NULL,
            password VARCHAR(255) NOT NULL,
            active BOOLEAN NOT NULL,
            admin BOOLEAN NOT NULL,
            created_at DATETIME NOT NULL,
            PRIMARY KEY (id),
            UNIQUE (username),
            UNIQUE (email),
            CHECK (active IN (0, 1)),
            CHECK (admin IN (0, 1))
        );
        INSERT INTO users VALUES (1, 'michael', 'Michael@RealPython.com', '{hash}', 1, 1, '2017-06-20 19:25:48.123456');
        INSERT INTO users VALUES (2, 'fletcher', 'fletcher@realpython.com', '{hash}', 0, 0, '2017-06-21 08:00:00.000000');
        INSERT INTO users VALUES (7, 'taken', 'taken@realpython.com', '{hash}', 1, 0, '2017-06-22 08:00:00.000000');"
    );
    conn.batch_execute(&sql).unwrap();
    url
}

#[actix_web::test]
async fn import_flask_users_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let source_url = flask_database(&dir);
    for t in TestApp::all() {
        let mut source = users_db::DbConnection::open(&source_url).unwrap();
        let counts = |r: users_api::import::ImportReport| {
            (r.read, r.imported, r.already_present, r.conflicts)
        };
        let first = users_api::import::import_users(&mut source, &mut t.db.conn()).unwrap();
        assert_eq!(counts(first), (3, 3, 0, 0), "{}", t.backend());
        let again = users_api::import::import_users(&mut source, &mut t.db.conn()).unwrap();
        assert_eq!(counts(again), (3, 0, 3, 0), "idempotent");

        let michael = users_db::users::find_by_id(&mut t.db.conn(), users_domain::UserId::new(1))
            .unwrap()
            .unwrap();
        assert!(michael.admin && michael.active);
        // Flask kept emails as typed; here they are stored lower-cased, as logins look them up.
        assert_eq!(michael.email, "michael@realpython.com");
        assert_eq!(
            michael
                .created_at
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string(),
            "2017-06-20 19:25:48.123456"
        );
        let fletcher = users_db::users::find_by_id(&mut t.db.conn(), users_domain::UserId::new(2))
            .unwrap()
            .unwrap();
        assert!(!fletcher.active);

        let app = init!(t);
        let r = send(
            &app,
            post_json(
                "/auth/login",
                &json!({"email": "Michael@RealPython.com", "password": "flask-pass"}),
            ),
        )
        .await;
        r.assert(200, "success", "Successfully logged in.");
        // New registrations get fresh ids after the imported ones.
        let r = send(
            &app,
            post_json(
                "/auth/register",
                &json!({"username": "new", "email": "new@x.io", "password": "pw"}),
            ),
        )
        .await;
        assert_eq!(r.status.as_u16(), 201, "{}: {}", t.backend(), r.body);
    }
}

#[actix_web::test]
async fn import_flask_reports_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let source_url = flask_database(&dir);
    for t in TestApp::all() {
        // Here already: a different person with id 1, and the email of Flask user 7.
        t.add_user("someone", "someone@x.io", "x");
        t.add_user("other", "taken@realpython.com", "x");
        let mut source = users_db::DbConnection::open(&source_url).unwrap();
        let r = users_api::import::import_users(&mut source, &mut t.db.conn()).unwrap();
        assert_eq!(
            (r.read, r.imported, r.already_present, r.conflicts),
            (3, 0, 0, 3),
            "{}",
            t.backend()
        );
        let someone = users_db::users::find_by_id(&mut t.db.conn(), users_domain::UserId::new(1))
            .unwrap()
            .unwrap();
        assert_eq!(someone.username, "someone", "never overwritten");
    }
}
