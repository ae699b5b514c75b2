//! The Rust half of `scripts/interop.sh`: our tokens checked by PyJWT, PyJWT's by us.
//!
//! `issue_tokens issue` prints one JSON document: for HS256 a token and the secret
//! (`SECRET_KEY` from the environment, else a random one); for EdDSA, ES256 and RS256 a token,
//! the JWKS (signing key and a previous key of another type), a token of that previous key,
//! and the private key PEM (so the other side can also sign tokens for us to verify). Every
//! token carries the claims listed next to it.
//!
//! `issue_tokens verify` reads JSON lines from stdin, each
//! `{"token": "...", "secret": "..."}` (HS256) or `{"token": "...", "jwks": {...}}`, with
//! optional `"issuer"`/`"audience"`, and prints one JSON line per input:
//! `{"ok": true, "sub": 42, "sid": null, "iat": ..., "exp": ...}` or
//! `{"ok": false, "error": "Invalid token. Please log in again.", "reason": "..."}`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use auth_token::{
    Claims, JwksVerifier, SecretKey, SigningAlgorithm, TokenError, TokenService, TokenSettings,
    generate_private_key_pem, unix_now,
};
use serde_json::{Value, json};
use users_domain::UserId;

const ISSUER: &str = "https://users.interop.test";
const AUDIENCE: &str = "interop-client";

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let result = match mode.as_str() {
        "issue" => issue(),
        "verify" => verify(),
        _ => Err("usage: issue_tokens issue | issue_tokens verify < lines".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("issue_tokens: {e}");
            ExitCode::FAILURE
        }
    }
}

fn settings(issuer: Option<&str>, audience: Option<&str>) -> TokenSettings {
    TokenSettings {
        expiration_days: 0,
        expiration_seconds: 600,
        issuer: issuer.map(str::to_owned),
        audience: audience.map(str::to_owned),
    }
}

fn secret_from_env() -> Result<SecretKey, String> {
    let bytes = match std::env::var("SECRET_KEY") {
        Ok(s) if !s.is_empty() => s.into_bytes(),
        // 244 random bits, from a crate every backend build has.
        _ => format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
        .into_bytes(),
    };
    SecretKey::new(bytes).map_err(|e| e.to_string())
}

/// A token and the claims it carries.
fn token_entry(service: &TokenService, user: i32, sid: &str) -> Result<Value, String> {
    let claims = service.claims_for(UserId::new(user), Some(sid), unix_now());
    let token = service.encode(&claims).map_err(|e| e.to_string())?;
    Ok(
        json!({ "token": token, "claims": serde_json::to_value(&claims).map_err(|e| e.to_string())? }),
    )
}

fn issue() -> Result<(), String> {
    let secret = secret_from_env()?;
    let hs = TokenService::hs256(&secret, settings(None, None)).map_err(|e| e.to_string())?;
    let mut out = json!({
        "secret": String::from_utf8_lossy(secret.expose()),
        "hs256": token_entry(&hs, 42, "sid-hs256")?,
        "asymmetric": [],
    });

    // Each algorithm's previous key is of another type: a rotation that changed algorithm.
    let algs = [
        (SigningAlgorithm::EdDsa, SigningAlgorithm::Es256),
        (SigningAlgorithm::Es256, SigningAlgorithm::Rs256),
        (SigningAlgorithm::Rs256, SigningAlgorithm::EdDsa),
    ];
    let mut pems = std::collections::HashMap::new();
    for (alg, _) in algs {
        pems.insert(
            alg,
            generate_private_key_pem(alg).map_err(|e| e.to_string())?,
        );
    }
    for (alg, previous_alg) in algs {
        let settings = settings(Some(ISSUER), Some(AUDIENCE));
        let previous_pem = &pems[&previous_alg];
        let old = TokenService::new(
            previous_alg,
            &secret,
            Some(previous_pem.as_bytes()),
            &[],
            settings.clone(),
        )
        .map_err(|e| e.to_string())?;
        let service = TokenService::new(
            alg,
            &secret,
            Some(pems[&alg].as_bytes()),
            &[previous_pem.as_bytes().to_vec()],
            settings,
        )
        .map_err(|e| e.to_string())?;
        service.self_test().map_err(|e| e.to_string())?;
        let entry = json!({
            "alg": alg.as_str(),
            "kid": service.kid(),
            "jwks": service.jwks(),
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "current": token_entry(&service, 42, &format!("sid-{alg}"))?,
            "previous": token_entry(&old, 43, &format!("sid-{previous_alg}"))?,
            "previous_alg": previous_alg.as_str(),
            "private_key_pem": pems[&alg],
        });
        if let Some(list) = out["asymmetric"].as_array_mut() {
            list.push(entry);
        }
    }
    println!("{out}");
    Ok(())
}

fn verify() -> Result<(), String> {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let input: Value = serde_json::from_str(&line).map_err(|e| format!("bad input: {e}"))?;
        let token = input["token"].as_str().unwrap_or_default();
        let settings = settings(input["issuer"].as_str(), input["audience"].as_str());
        let result: Result<Claims, TokenError> = if let Some(secret) = input["secret"].as_str() {
            let secret = SecretKey::new(secret).map_err(|e| e.to_string())?;
            TokenService::hs256(&secret, settings)
                .map_err(|e| e.to_string())?
                .decode_auth_token(token)
        } else {
            JwksVerifier::from_jwks_json(&input["jwks"].to_string(), &settings)
                .map_err(|e| e.to_string())?
                .decode(token)
        };
        let output = match result {
            Ok(c) => json!({
                "ok": true,
                "sub": c.sub.get(),
                "sid": c.sid,
                "iat": c.iat,
                "exp": c.exp,
            }),
            Err(e) => json!({ "ok": false, "error": e.to_string(), "reason": format!("{e:?}") }),
        };
        writeln!(stdout, "{output}").map_err(|e| e.to_string())?;
    }
    Ok(())
}
