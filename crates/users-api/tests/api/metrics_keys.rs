//! `/metrics`, `/.well-known/jwks.json`, and the service running on asymmetric keys.

use auth_token::SigningAlgorithm;
use base64::Engine as _;
use serde_json::json;
use users_db::testing::TestDb;

use crate::helpers::{TestApp, bearer, get, login, post_json, send};
use crate::init;

#[actix_web::test]
async fn metrics_export_the_contract_series() {
    for t in TestApp::all() {
        let app = init!(t);
        t.add_user("test", "test@test.com", "test");
        send(&app, get("/ping")).await;
        send(&app, get("/users/7")).await;
        let token = login(&app, "test@test.com", "test").await;
        send(&app, bearer(get("/auth/status"), &token)).await;
        let body = json!({"email": "test@test.com", "password": "wrong"});
        send(&app, post_json("/auth/login", &body)).await;
        let r = actix_web::test::call_service(&app, get("/metrics").to_request()).await;
        assert_eq!(r.status().as_u16(), 200);
        assert!(
            r.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = String::from_utf8(actix_web::test::read_body(r).await.to_vec()).unwrap();
        for series in [
            r#"http_requests_total{method="GET",route="/ping",status="200"} 1"#,
            r#"http_requests_total{method="GET",route="/users/{id}",status="404"} 1"#,
            r#"http_requests_total{method="POST",route="/auth/login",status="404"} 1"#,
            r#"http_request_duration_seconds_bucket{"#,
            r#"login_attempts_total{outcome="success"} 1"#,
            r#"login_attempts_total{outcome="failure"} 1"#,
            r#"tokens_issued_total{outcome="access"} 1"#,
            r#"tokens_issued_total{outcome="refresh"} 1"#,
            "refresh_token_reuse_detected_total 0",
            "throttled_requests_total 0",
            r#"password_hash_duration_seconds_count{outcome="verify"} 2"#,
            "db_pool_connections ",
            "db_pool_idle_connections ",
            "db_pool_max_connections ",
        ] {
            assert!(
                text.contains(series),
                "{}: missing {series}\n{text}",
                t.backend()
            );
        }
    }
}

#[actix_web::test]
async fn hs256_publishes_no_keys() {
    for t in TestApp::all() {
        let app = init!(t);
        let r = send(&app, get("/.well-known/jwks.json")).await;
        assert_eq!(r.status.as_u16(), 200);
        assert_eq!(r.body, json!({"keys": []}));
        assert_eq!(
            r.headers.get("cache-control").unwrap(),
            "public, max-age=300"
        );
    }
}

fn key_file(dir: &tempfile::TempDir, name: &str, alg: SigningAlgorithm) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, auth_token::generate_private_key_pem(alg).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn header_of(token: &str) -> serde_json::Value {
    let b64 = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[actix_web::test]
async fn asymmetric_keys_jwks_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let old_key = key_file(&dir, "old.pem", SigningAlgorithm::Es256);
    let new_key = key_file(&dir, "new.pem", SigningAlgorithm::EdDsa);
    for db in TestDb::all() {
        let backend = db.backend();
        // Before the rotation: ES256 with the old key.
        let before = TestApp::with_vars(
            db,
            &[
                ("JWT_ALGORITHM", "ES256"),
                ("JWT_PRIVATE_KEY_FILE", &old_key),
            ],
        );
        let app = init!(before);
        before.add_user("test", "test@test.com", "test");
        let old_token = login(&app, "test@test.com", "test").await;
        let old_kid = header_of(&old_token)["kid"].as_str().unwrap().to_owned();
        assert_eq!(header_of(&old_token)["alg"], "ES256");
        let jwks = send(&app, get("/.well-known/jwks.json")).await.body;
        assert_eq!(jwks["keys"][0]["kid"], old_kid.as_str());
        assert_eq!(jwks["keys"][0]["use"], "sig");
        assert!(jwks["keys"][0].get("d").is_none(), "no private part");

        // After: EdDSA with the new key; the old key only verifies.
        let after = TestApp::with_vars(
            before.db,
            &[
                ("JWT_ALGORITHM", "EdDSA"),
                ("JWT_PRIVATE_KEY_FILE", &new_key),
                ("JWT_PREVIOUS_KEY_FILES", &old_key),
            ],
        );
        let app = init!(after);
        let r = send(&app, bearer(get("/auth/status"), &old_token)).await;
        assert_eq!(
            r.status.as_u16(),
            200,
            "{backend}: a rotation logs nobody out"
        );
        let new_token = login(&app, "test@test.com", "test").await;
        assert_eq!(header_of(&new_token)["alg"], "EdDSA");
        let jwks = send(&app, get("/.well-known/jwks.json")).await.body;
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids.len(), 2);
        assert!(kids.contains(&old_kid.as_str()));
        assert!(kids.contains(&header_of(&new_token)["kid"].as_str().unwrap()));

        // Algorithm confusion: an HS256 token signed with SECRET_KEY is refused.
        let hs = TestApp::with_vars(TestDb::sqlite(), &[]);
        let user_id = users_domain::UserId::new(1);
        let hs_token = hs.state.tokens.encode_auth_token(user_id).unwrap();
        send(&app, bearer(get("/auth/status"), &hs_token))
            .await
            .assert(401, "error", "Invalid token. Please log in again.");
        // And the reverse: an HS256 service refuses our EdDSA token.
        let hs_app = init!(hs);
        hs.add_user("test", "test@test.com", "test");
        send(&hs_app, bearer(get("/auth/status"), &new_token))
            .await
            .assert(401, "error", "Invalid token. Please log in again.");
    }
}
