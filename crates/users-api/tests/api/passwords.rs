//! Part B passwords: hashes from the Flask service (bcrypt) and hashes at another argon2
//! cost are verified and re-hashed at the current cost on the next successful login.

use serde_json::json;
use users_domain::{HashCost, Password, PasswordHash, PasswordHasher};

use crate::helpers::{TestApp, post_json, send};
use crate::init;

fn stored_hash(t: &TestApp, email: &str) -> String {
    let email = users_domain::Email::parse(email).unwrap();
    users_db::users::find_by_email(&mut t.db.conn(), &email)
        .unwrap()
        .unwrap()
        .password_hash
        .as_str()
        .to_owned()
}

fn login_body(password: &str) -> serde_json::Value {
    json!({"email": "test@test.com", "password": password})
}

#[actix_web::test]
async fn bcrypt_hash_from_flask_is_verified_and_upgraded() {
    for t in TestApp::all() {
        let app = init!(t);
        let bcrypt = bcrypt::hash("flask-password", 4).unwrap();
        t.add_user_with("test", "test@test.com", "unused", |u| {
            u.password_hash = PasswordHash::from_stored(bcrypt.clone());
        });
        let r = send(&app, post_json("/auth/login", &login_body("wrong"))).await;
        r.assert(404, "error", "User does not exist.");
        assert_eq!(
            stored_hash(&t, "test@test.com"),
            bcrypt,
            "no upgrade on failure"
        );
        let r = send(
            &app,
            post_json("/auth/login", &login_body("flask-password")),
        )
        .await;
        r.assert(200, "success", "Successfully logged in.");
        let upgraded = stored_hash(&t, "test@test.com");
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{}",
            t.backend()
        );
        let r = send(
            &app,
            post_json("/auth/login", &login_body("flask-password")),
        )
        .await;
        assert_eq!(r.status.as_u16(), 200);
    }
}

#[actix_web::test]
async fn argon2_hash_at_another_cost_is_upgraded() {
    for t in TestApp::all() {
        let app = init!(t);
        let cheap = HashCost {
            memory_kib: 512,
            iterations: 1,
            parallelism: 1,
        };
        let old = PasswordHasher::new(cheap)
            .unwrap()
            .hash(&Password::for_login("pw").unwrap())
            .unwrap();
        t.add_user_with("test", "test@test.com", "unused", |u| {
            u.password_hash = old.clone()
        });
        let r = send(&app, post_json("/auth/login", &login_body("pw"))).await;
        assert_eq!(r.status.as_u16(), 200);
        let now = stored_hash(&t, "test@test.com");
        assert_ne!(now, old.as_str());
        assert!(now.contains("m=1024,t=1,p=1"));
    }
}
