//! Another Rust service verifying the users service's tokens with nothing but its JWKS.
//!
//! ```text
//! cargo run -p auth-token --example verify_with_jwks                    # self-contained demo
//! cargo run -p auth-token --example verify_with_jwks -- jwks.json TOKEN # a real JWKS + token
//! ```
//!
//! The demo plays both sides: the users service (a fresh EdDSA key, a token, the JWKS it
//! serves at `GET /.well-known/jwks.json`), then the other service, which gets the JWKS
//! text only, builds a `JwksVerifier` once and checks tokens with it. In a real service,
//! fetch the JWKS at start-up, refetch it when `Cache-Control: max-age` runs out, and
//! rebuild the verifier; see the key rotation procedure in the crate's README for how a new
//! key is published before it signs.

use std::process::ExitCode;

use auth_token::{
    JwksVerifier, SecretKey, SigningAlgorithm, TokenService, TokenSettings,
    generate_private_key_pem,
};
use users_domain::UserId;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => demo(),
        [jwks_file, token] => verify_file(jwks_file, token),
        _ => Err("usage: verify_with_jwks [JWKS_FILE TOKEN]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verify_with_jwks: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the verifying service requires: our issuer and audience, when the users service
/// sets `JWT_ISSUER` / `JWT_AUDIENCE` (then tokens without them are refused).
fn settings() -> TokenSettings {
    TokenSettings {
        // Lifetimes matter to the issuer only; a verifier reads `exp` from the token.
        expiration_days: 0,
        expiration_seconds: 900,
        issuer: Some("https://users.example.com".to_owned()),
        audience: Some("example-client".to_owned()),
    }
}

fn demo() -> Result<(), String> {
    // --- The users service -------------------------------------------------------------
    let pem = generate_private_key_pem(SigningAlgorithm::EdDsa).map_err(|e| e.to_string())?;
    let unused_secret = SecretKey::new("only HS256 uses SECRET_KEY").map_err(|e| e.to_string())?;
    let users = TokenService::new(
        SigningAlgorithm::EdDsa,
        &unused_secret,
        Some(pem.as_bytes()),
        &[],
        settings(),
    )
    .map_err(|e| e.to_string())?;
    let token = users
        .encode_session_token(UserId::new(42), "session-1")
        .map_err(|e| e.to_string())?;
    let jwks = users.jwks_json().to_owned();
    println!("users service: kid {}", users.kid().unwrap_or_default());
    println!("GET /.well-known/jwks.json -> {jwks}");
    println!("token: {token}\n");

    // --- Another service: the JWKS text and the token, nothing else ---------------------
    let verifier = JwksVerifier::from_jwks_json(&jwks, &settings()).map_err(|e| e.to_string())?;
    let claims = verifier.decode(&token).map_err(|e| e.to_string())?;
    println!(
        "other service: accepted, user {} session {}",
        claims.sub,
        claims.sid.as_deref().unwrap_or("-")
    );

    // Anything else is refused with the contract's message.
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let refused = verifier
        .decode(&tampered)
        .err()
        .ok_or("a tampered token was accepted")?;
    println!("other service: tampered token refused: {refused} ({refused:?})");

    let stranger_pem =
        generate_private_key_pem(SigningAlgorithm::EdDsa).map_err(|e| e.to_string())?;
    let stranger = TokenService::new(
        SigningAlgorithm::EdDsa,
        &unused_secret,
        Some(stranger_pem.as_bytes()),
        &[],
        settings(),
    )
    .map_err(|e| e.to_string())?;
    let forged = stranger
        .encode_auth_token(UserId::new(1))
        .map_err(|e| e.to_string())?;
    let refused = verifier
        .decode(&forged)
        .err()
        .ok_or("a token of another key was accepted")?;
    println!("other service: token of another key refused: {refused} ({refused:?})");
    Ok(())
}

fn verify_file(jwks_file: &str, token: &str) -> Result<(), String> {
    let jwks = std::fs::read_to_string(jwks_file).map_err(|e| format!("{jwks_file}: {e}"))?;
    let issuer = std::env::var("JWT_ISSUER").ok();
    let audience = std::env::var("JWT_AUDIENCE").ok();
    let settings = TokenSettings {
        expiration_days: 0,
        expiration_seconds: 0,
        issuer,
        audience,
    };
    let verifier = JwksVerifier::from_jwks_json(&jwks, &settings).map_err(|e| e.to_string())?;
    for (kid, alg) in verifier.keys() {
        println!("key {kid} ({alg})");
    }
    let claims = verifier
        .decode(token)
        .map_err(|e| format!("refused: {e} ({e:?})"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&claims).map_err(|e| e.to_string())?
    );
    Ok(())
}
