//! Test harness: one app per backend, direct inserts (the seed's `add_user`), requests.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;

pub use crate::common::*;
use actix_web::web;
use chrono::NaiveDateTime;
use users_api::{AppState, Config};
use users_db::testing::TestDb;
use users_domain::{Email, NewUser, Password, PasswordHasher, User, Username, now_utc};

/// The key every test app signs with.
pub const SECRET: &str = "test-secret-key-0123456789abcdef0123";

/// A fresh database and the application state on top of it.
pub struct TestApp {
    pub db: TestDb,
    pub state: web::Data<AppState>,
}

impl TestApp {
    /// One app per configured backend, each on its own fresh database.
    pub fn all() -> Vec<TestApp> {
        TestDb::all().into_iter().map(TestApp::on).collect()
    }

    /// An app in the testing profile on `db`.
    pub fn on(db: TestDb) -> TestApp {
        Self::with_vars(db, &[])
    }

    /// An app on `db` with extra configuration variables.
    pub fn with_vars(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
        let url = db.url().to_owned();
        let mut vars: Vec<(String, String)> = vec![
            ("APP_ENV".into(), "testing".into()),
            ("DATABASE_TEST_URL".into(), url),
            ("SECRET_KEY".into(), SECRET.into()),
        ];
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let config = Config::from_vars(|k| {
            vars.iter()
                .rev()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
        .expect("test configuration");
        let state = AppState::new(config, db.pool().clone()).expect("app state");
        TestApp {
            db,
            state: web::Data::new(state),
        }
    }

    /// `sqlite` or `postgres`, for assertion messages.
    pub fn backend(&self) -> &'static str {
        self.db.backend()
    }

    /// The seed's `add_user`: a row inserted directly, active, not admin, created now.
    pub fn add_user(&self, username: &str, email: &str, password: &str) -> User {
        self.add_user_with(username, email, password, |_| {})
    }

    /// `add_user` with changes to the row before insert (admin, active, created_at).
    pub fn add_user_with(
        &self,
        username: &str,
        email: &str,
        password: &str,
        change: impl FnOnce(&mut NewUser),
    ) -> User {
        let hasher = PasswordHasher::new(self.state.config.hash_cost).unwrap();
        let hash = hasher
            .hash(&Password::for_login(password).unwrap())
            .unwrap();
        let mut user = NewUser::new(
            Username::parse(username).unwrap(),
            Email::parse(email).unwrap(),
            hash,
        );
        change(&mut user);
        users_db::users::insert(&mut self.db.conn(), &user).unwrap()
    }

    /// Flips `active` directly in the database, as an operator would.
    pub fn set_active(&self, user: &User, active: bool) {
        users_db::users::set_active(&mut self.db.conn(), user.id, active).unwrap();
    }
}

/// `created_at` a number of days ago.
pub fn days_ago(days: i64) -> NaiveDateTime {
    now_utc() - chrono::Duration::days(days)
}

/// Builds the service for a test app (a macro: the service type cannot be named).
#[macro_export]
macro_rules! init {
    ($t:expr) => {
        actix_web::test::init_service(users_api::build_app($t.state.clone())).await
    };
}

/// Logs in and returns the auth token, asserting success.
pub async fn login<S, B>(app: &S, email: &str, password: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        post_json(
            "/auth/login",
            &serde_json::json!({"email": email, "password": password}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
    r.body["auth_token"].as_str().unwrap().to_owned()
}
