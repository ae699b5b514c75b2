//! The Flask suite's `test_user_model.py`, ported (6 tests), each on every backend.

use users_db::{DbError, UniqueField};
use users_domain::{Email, NewUser, Password, PasswordHasher, Username};

use crate::helpers::TestApp;

#[test]
fn test_add_user() {
    for t in TestApp::all() {
        let user = t.add_user("justatest", "test@test.com", "test");
        assert!(user.id.get() > 0);
        assert_eq!(user.username, "justatest");
        assert_eq!(user.email, "test@test.com");
        assert!(user.password_hash.as_str().starts_with("$argon2id$"));
        assert!(user.active);
        assert!(!user.admin);
        let age = users_domain::now_utc() - user.created_at;
        assert!(age.num_seconds().abs() < 60, "{}", t.backend());
    }
}

#[test]
fn test_encode_auth_token() {
    for t in TestApp::all() {
        let user = t.add_user("justatest", "test@test.com", "test");
        let token = t.state.tokens.encode_auth_token(user.id).unwrap();
        assert_eq!(token.split('.').count(), 3);
    }
}

#[test]
fn test_decode_auth_token() {
    for t in TestApp::all() {
        let user = t.add_user("justatest", "test@test.com", "test");
        let token = t.state.tokens.encode_auth_token(user.id).unwrap();
        assert_eq!(
            t.state.tokens.decode_auth_token(&token).unwrap().sub,
            user.id
        );
    }
}

fn insert(t: &TestApp, username: &str, email: &str) -> Result<users_domain::User, DbError> {
    let hasher = PasswordHasher::new(t.state.config.hash_cost).unwrap();
    let user = NewUser::new(
        Username::parse(username).unwrap(),
        Email::parse(email).unwrap(),
        hasher.hash(&Password::for_login("test").unwrap()).unwrap(),
    );
    users_db::users::insert(&mut t.db.conn(), &user)
}

#[test]
fn test_add_user_duplicate_username() {
    for t in TestApp::all() {
        insert(&t, "justatest", "test@test.com").unwrap();
        let err = insert(&t, "justatest", "test@test2.com").unwrap_err();
        assert!(
            matches!(
                err,
                DbError::Duplicate {
                    field: UniqueField::Username
                }
            ),
            "{}: {err:?}",
            t.backend()
        );
    }
}

#[test]
fn test_add_user_duplicate_email() {
    for t in TestApp::all() {
        insert(&t, "justatest", "test@test.com").unwrap();
        let err = insert(&t, "justatest2", "test@test.com").unwrap_err();
        assert!(
            matches!(
                err,
                DbError::Duplicate {
                    field: UniqueField::Email
                }
            ),
            "{}: {err:?}",
            t.backend()
        );
    }
}

#[test]
fn test_passwords_are_random() {
    for t in TestApp::all() {
        let one = t.add_user("justatest", "test@test.com", "greaterthaneight");
        let two = t.add_user("justatest2", "test@test2.com", "greaterthaneight");
        assert_ne!(one.password_hash, two.password_hash);
    }
}
