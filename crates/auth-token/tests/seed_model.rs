//! The seed's model tests for tokens (`test_user_model.py`), ported: `encode_auth_token`
//! gives a token, `decode_auth_token` gives back the user id. Plus the profiles' lifetimes.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a step that fails fails the test"
)]

use auth_token::{SecretKey, TokenError, TokenService, TokenSettings, unix_now};
use users_domain::UserId;

fn service(days: u64, seconds: u64) -> TokenService {
    let key = SecretKey::new(b"seed-model-test-secret-0123456789".to_vec()).unwrap();
    TokenService::hs256(
        &key,
        TokenSettings {
            expiration_days: days,
            expiration_seconds: seconds,
            issuer: None,
            audience: None,
        },
    )
    .unwrap()
}

#[test]
fn test_encode_auth_token() {
    let token = service(30, 0).encode_auth_token(UserId::new(1)).unwrap();
    // A JWS compact token: three non-empty base64url segments.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert!(parts.iter().all(|p| !p.is_empty()));
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    );
}

#[test]
fn test_decode_auth_token() {
    let s = service(30, 0);
    for id in [1, 2, 42, i32::MAX] {
        let token = s.encode_auth_token(UserId::new(id)).unwrap();
        assert_eq!(s.decode_auth_token(&token).unwrap().sub, UserId::new(id));
    }
}

#[test]
fn token_from_another_secret_is_refused() {
    let token = service(30, 0).encode_auth_token(UserId::new(1)).unwrap();
    let other = TokenService::hs256(
        &SecretKey::new(b"another-secret".to_vec()).unwrap(),
        service(30, 0).settings().clone(),
    )
    .unwrap();
    assert_eq!(
        other.decode_auth_token(&token),
        Err(TokenError::Invalid("signature"))
    );
}

#[test]
fn development_and_production_tokens_live_thirty_days() {
    let claims = service(30, 0)
        .decode_auth_token(&service(30, 0).encode_auth_token(UserId::new(3)).unwrap())
        .unwrap();
    assert_eq!(claims.exp - claims.iat, 30 * 86_400);
    let now = unix_now();
    assert!(claims.iat <= now && claims.iat + 5 >= now);
}

#[test]
fn testing_tokens_live_three_seconds() {
    let s = service(0, 3);
    let claims = s
        .decode_auth_token(&s.encode_auth_token(UserId::new(3)).unwrap())
        .unwrap();
    assert_eq!(claims.exp - claims.iat, 3);
}

#[test]
fn an_expired_token_says_signature_expired() {
    // The seed's expired-token test slept past a 3 s lifetime; issue in the past instead.
    let s = service(0, 3);
    let token = s
        .encode(&s.claims_for(UserId::new(3), None, unix_now() - 10))
        .unwrap();
    let err = s.decode_auth_token(&token).unwrap_err();
    assert_eq!(err, TokenError::Expired);
    assert_eq!(err.to_string(), "Signature expired. Please log in again.");
}

#[test]
fn a_bad_token_says_invalid_token() {
    let err = service(30, 0).decode_auth_token("not-a-token").unwrap_err();
    assert!(matches!(err, TokenError::Invalid(_)));
    assert_eq!(err.to_string(), "Invalid token. Please log in again.");
}

#[test]
fn session_tokens_carry_their_sid() {
    let s = service(30, 0);
    let token = s.encode_session_token(UserId::new(9), "sess-1").unwrap();
    let claims = s.decode_auth_token(&token).unwrap();
    assert_eq!(claims.sub, UserId::new(9));
    assert_eq!(claims.sid.as_deref(), Some("sess-1"));
}

#[test]
fn self_test_passes_with_every_profile_lifetime() {
    for (days, seconds) in [(30, 0), (0, 3), (0, 0)] {
        service(days, seconds).self_test().unwrap();
    }
}
