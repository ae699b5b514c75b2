//! Asymmetric keys: EdDSA, ES256 and RS256 tokens, `kid`, previous keys, algorithm confusion,
//! the JWKS and `JwksVerifier`.
//!
//! Keys come from `generate_private_key_pem` (EdDSA, ES256) and from OpenSSL-made fixtures
//! (`tests/fixtures/`, RSA so that debug-build tests need not generate RSA keys). Attack tokens
//! are signed by hand (HMAC) or with jsonwebtoken's own encoder given a forged header, never
//! with our service, so the service cannot be asked to produce what it refuses.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a step that fails fails the test"
)]

use std::sync::OnceLock;

use auth_token::{
    JwksVerifier, KeyError, SecretKey, SigningAlgorithm, TokenError, TokenService, TokenSettings,
    generate_private_key_pem,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use users_domain::{Claims, UserId};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const ISSUER: &str = "https://users.example.test";
const AUDIENCE: &str = "testdriven-client";
const ASYMMETRIC: [SigningAlgorithm; 3] = [
    SigningAlgorithm::EdDsa,
    SigningAlgorithm::Es256,
    SigningAlgorithm::Rs256,
];

// RFC 7638 section 3.1.
const RFC7638_KID: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/", $name))
    };
}

const RSA_A: &str = fixture!("rsa2048-a.pem");
const RSA_B: &str = fixture!("rsa2048-b.pem");
const RSA_B_PUBLIC: &str = fixture!("rsa2048-b.pub.pem");
const RSA_PKCS1: &str = fixture!("rsa2048-pkcs1.pem");
const RSA_WEAK: &str = fixture!("rsa1024-weak.pem");
const ED25519_OPENSSL: &str = fixture!("ed25519-openssl.pem");
const ED25519_OPENSSL_PUBLIC: &str = fixture!("ed25519-openssl.pub.pem");
const ED25519_ENCRYPTED: &str = fixture!("ed25519-encrypted.pem");
const P256_OPENSSL: &str = fixture!("p256-openssl.pem");
const P256_OPENSSL_PUBLIC: &str = fixture!("p256-openssl.pub.pem");
const P256_SEC1: &str = fixture!("p256-sec1.pem");
const P384: &str = fixture!("p384.pem");
const RFC7638_PUBLIC: &str = fixture!("rfc7638-rsa.pub.pem");

// ---------------------------------------------------------------------------------------
// Keys and services.

/// Three distinct private keys of `alg`'s type: current, previous, unknown.
fn keys(alg: SigningAlgorithm) -> &'static [String; 3] {
    static ED: OnceLock<[String; 3]> = OnceLock::new();
    static EC: OnceLock<[String; 3]> = OnceLock::new();
    static RSA: OnceLock<[String; 3]> = OnceLock::new();
    let generate = || [0, 1, 2].map(|_| generate_private_key_pem(alg).unwrap());
    match alg {
        SigningAlgorithm::EdDsa => ED.get_or_init(generate),
        SigningAlgorithm::Es256 => EC.get_or_init(generate),
        SigningAlgorithm::Rs256 => RSA.get_or_init(|| [RSA_A, RSA_B, RSA_PKCS1].map(str::to_owned)),
        SigningAlgorithm::Hs256 => unreachable!("no key pair"),
    }
}

fn current(alg: SigningAlgorithm) -> &'static str {
    &keys(alg)[0]
}

fn previous(alg: SigningAlgorithm) -> &'static str {
    &keys(alg)[1]
}

fn unknown(alg: SigningAlgorithm) -> &'static str {
    &keys(alg)[2]
}

fn settings() -> TokenSettings {
    TokenSettings {
        expiration_days: 30,
        expiration_seconds: 0,
        issuer: None,
        audience: None,
    }
}

fn secret() -> SecretKey {
    SecretKey::new(SECRET).unwrap()
}

fn build(
    alg: SigningAlgorithm,
    pem: Option<&str>,
    previous: &[&str],
    settings: TokenSettings,
) -> Result<TokenService, KeyError> {
    let previous: Vec<Vec<u8>> = previous.iter().map(|p| p.as_bytes().to_vec()).collect();
    TokenService::new(alg, &secret(), pem.map(str::as_bytes), &previous, settings)
}

/// A service signing with `pem` (of `alg`'s type) and verifying also with `previous`.
fn service(alg: SigningAlgorithm, pem: &str, previous: &[&str]) -> TokenService {
    build(alg, Some(pem), previous, settings()).unwrap_or_else(|e| panic!("{alg}: {e}"))
}

fn hs256_service() -> TokenService {
    TokenService::hs256(&secret(), settings()).unwrap()
}

// ---------------------------------------------------------------------------------------
// Hand-made tokens.

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    auth_token::unix_now()
}

fn claims_json() -> Value {
    let now = now();
    json!({ "sub": "42", "iat": now, "exp": now + 3600, "sid": "s1", "jti": "j1" })
}

fn claims() -> Claims {
    serde_json::from_value(claims_json()).unwrap()
}

/// An HMAC-SHA256 token over `header`, keyed with `key`.
fn hmac_token(key: &[u8], header: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims_json().to_string().as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// A token signed with the private key `pem` (of `alg`'s type) under the header we choose.
fn signed_with(alg: SigningAlgorithm, pem: &str, kid: Option<&str>) -> String {
    let (jwt_alg, key) = match alg {
        SigningAlgorithm::EdDsa => (Algorithm::EdDSA, EncodingKey::from_ed_pem(pem.as_bytes())),
        SigningAlgorithm::Es256 => (Algorithm::ES256, EncodingKey::from_ec_pem(pem.as_bytes())),
        SigningAlgorithm::Rs256 => (Algorithm::RS256, EncodingKey::from_rsa_pem(pem.as_bytes())),
        SigningAlgorithm::Hs256 => (Algorithm::HS256, EncodingKey::from_secret(SECRET)),
    };
    let mut header = Header::new(jwt_alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims(), &key.unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

fn sub(result: Result<Claims, TokenError>) -> Result<UserId, TokenError> {
    result.map(|c| c.sub)
}

/// The RFC 7638 thumbprint of a public JWK, computed here from its required members in
/// lexicographic order (independently of jsonwebtoken's implementation).
fn thumbprint(jwk: &Value) -> String {
    let s = |k: &str| jwk[k].as_str().unwrap().to_owned();
    let canonical = match jwk["kty"].as_str().unwrap() {
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        other => panic!("unexpected kty {other}"),
    };
    b64(&Sha256::digest(canonical.as_bytes()))
}

// ---------------------------------------------------------------------------------------
// Round trips and headers.

#[test]
fn each_algorithm_round_trips() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[]);
        assert_eq!(s.algorithm(), alg);
        let token = s.encode_session_token(UserId::new(42), "sess").unwrap();
        let claims = s.decode_auth_token(&token).unwrap();
        assert_eq!(claims.sub, UserId::new(42), "{alg}");
        assert_eq!(claims.sid.as_deref(), Some("sess"), "{alg}");
        assert!(claims.jti.is_some(), "{alg}");
        assert_eq!(claims.exp - claims.iat, 30 * 86_400, "{alg}");
        let header = header_of(&token);
        assert_eq!(header["alg"], alg.as_str(), "{alg}");
        assert_eq!(header["typ"], "JWT", "{alg}");
        assert_eq!(header["kid"].as_str(), s.kid(), "{alg}");
        // The seed's pair works the same.
        let token = s.encode_auth_token(UserId::new(7)).unwrap();
        assert_eq!(
            sub(s.decode_auth_token(&token)),
            Ok(UserId::new(7)),
            "{alg}"
        );
        s.self_test().unwrap();
    }
}

#[test]
fn openssl_made_keys_are_read() {
    for (alg, pem) in [
        (SigningAlgorithm::EdDsa, ED25519_OPENSSL),
        (SigningAlgorithm::Es256, P256_OPENSSL),
        (SigningAlgorithm::Rs256, RSA_A),
        (SigningAlgorithm::Rs256, RSA_PKCS1),
    ] {
        let s = service(alg, pem, &[]);
        let token = s.encode_auth_token(UserId::new(3)).unwrap();
        assert_eq!(
            sub(s.decode_auth_token(&token)),
            Ok(UserId::new(3)),
            "{alg}"
        );
    }
}

#[test]
fn generated_keys_are_pkcs8_pem_and_distinct() {
    for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
        let [a, b, _] = keys(alg);
        assert!(a.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{a}");
        assert!(a.ends_with("-----END PRIVATE KEY-----\n"), "{a}");
        assert_ne!(a, b);
        assert_ne!(service(alg, a, &[]).kid(), service(alg, b, &[]).kid());
    }
}

#[test]
fn generated_rsa_key_has_the_documented_size() {
    let pem = generate_private_key_pem(SigningAlgorithm::Rs256).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let s = service(SigningAlgorithm::Rs256, &pem, &[]);
    let n = s.jwks()["keys"][0]["n"].as_str().unwrap().to_owned();
    let n = URL_SAFE_NO_PAD.decode(n).unwrap();
    assert_eq!(n.len() * 8, auth_token::RSA_KEY_BITS);
    assert!(n[0] & 0x80 != 0, "no leading zero byte in n");
    s.self_test().unwrap();
}

#[test]
fn hs256_has_no_key_pair_to_generate() {
    assert_eq!(
        generate_private_key_pem(SigningAlgorithm::Hs256),
        Err(KeyError::NoKeyPair)
    );
}

// ---------------------------------------------------------------------------------------
// kid = RFC 7638 thumbprint.

#[test]
fn kid_is_the_rfc7638_thumbprint() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[]);
        let jwk = &s.jwks()["keys"][0];
        let kid = thumbprint(jwk);
        assert_eq!(s.kid(), Some(kid.as_str()), "{alg}");
        assert_eq!(jwk["kid"], kid, "{alg}");
        // 32 bytes of SHA-256, base64url without padding.
        assert_eq!(kid.len(), 43, "{alg}");
    }
}

#[test]
fn kid_matches_the_rfc7638_example() {
    // The RFC's key is public: it verifies as a previous key and is published with the
    // RFC's thumbprint and the RFC's modulus, byte for byte.
    let s = service(SigningAlgorithm::Rs256, RSA_A, &[RFC7638_PUBLIC]);
    let jwks = s.jwks();
    let jwk = &jwks["keys"][1];
    assert_eq!(jwk["kid"], RFC7638_KID);
    assert_eq!(jwk["n"], RFC7638_N);
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(thumbprint(jwk), RFC7638_KID);
}

#[test]
fn the_same_key_has_the_same_kid_whatever_its_pem_form() {
    let private = service(SigningAlgorithm::Rs256, RSA_B, &[]);
    let with_public = service(SigningAlgorithm::Rs256, RSA_A, &[RSA_B_PUBLIC]);
    assert_eq!(with_public.jwks()["keys"][1]["kid"].as_str(), private.kid());
    let ed = service(SigningAlgorithm::EdDsa, ED25519_OPENSSL, &[]);
    let ed_public = service(SigningAlgorithm::Rs256, RSA_A, &[ED25519_OPENSSL_PUBLIC]);
    assert_eq!(ed_public.jwks()["keys"][1]["kid"].as_str(), ed.kid());
    let ec = service(SigningAlgorithm::Es256, P256_OPENSSL, &[]);
    let ec_public = service(SigningAlgorithm::Rs256, RSA_A, &[P256_OPENSSL_PUBLIC]);
    assert_eq!(ec_public.jwks()["keys"][1]["kid"].as_str(), ec.kid());
}

// ---------------------------------------------------------------------------------------
// Rotation: previous keys verify, never sign.

#[test]
fn a_token_signed_with_a_previous_key_verifies() {
    for alg in ASYMMETRIC {
        let old = service(alg, previous(alg), &[]);
        let token = old.encode_session_token(UserId::new(42), "s").unwrap();

        let rotated = service(alg, current(alg), &[previous(alg)]);
        assert_eq!(
            sub(rotated.decode_auth_token(&token)),
            Ok(UserId::new(42)),
            "{alg}"
        );
        // The rotated service signs with the new key only.
        let fresh = rotated.encode_auth_token(UserId::new(1)).unwrap();
        assert_eq!(header_of(&fresh)["kid"].as_str(), rotated.kid(), "{alg}");
        assert_ne!(rotated.kid(), old.kid(), "{alg}");
        // Once the old key is removed, its tokens are refused.
        let done = service(alg, current(alg), &[]);
        assert_eq!(
            sub(done.decode_auth_token(&token)),
            Err(TokenError::Invalid("unknown key")),
            "{alg}"
        );
    }
}

#[test]
fn a_rotation_may_change_the_algorithm() {
    // ES256 -> EdDSA, EdDSA -> RS256, RS256 -> ES256: each previous key keeps its algorithm.
    for (from, to) in [
        (SigningAlgorithm::Es256, SigningAlgorithm::EdDsa),
        (SigningAlgorithm::EdDsa, SigningAlgorithm::Rs256),
        (SigningAlgorithm::Rs256, SigningAlgorithm::Es256),
    ] {
        let old = service(from, current(from), &[]);
        let token = old.encode_auth_token(UserId::new(5)).unwrap();
        let new = service(to, current(to), &[current(from)]);
        assert_eq!(new.algorithm(), to);
        assert_eq!(
            sub(new.decode_auth_token(&token)),
            Ok(UserId::new(5)),
            "{from} -> {to}"
        );
        let keys = new.jwks()["keys"].as_array().unwrap().clone();
        assert_eq!(keys[0]["alg"], to.as_str());
        assert_eq!(keys[1]["alg"], from.as_str());
    }
}

#[test]
fn a_previous_key_may_be_a_public_key() {
    for (alg, private, public) in [
        (
            SigningAlgorithm::EdDsa,
            ED25519_OPENSSL,
            ED25519_OPENSSL_PUBLIC,
        ),
        (SigningAlgorithm::Es256, P256_OPENSSL, P256_OPENSSL_PUBLIC),
        (SigningAlgorithm::Rs256, RSA_B, RSA_B_PUBLIC),
    ] {
        let token = service(alg, private, &[])
            .encode_auth_token(UserId::new(8))
            .unwrap();
        let s = service(
            SigningAlgorithm::EdDsa,
            current(SigningAlgorithm::EdDsa),
            &[public],
        );
        assert_eq!(
            sub(s.decode_auth_token(&token)),
            Ok(UserId::new(8)),
            "{alg}"
        );
    }
}

#[test]
fn a_key_listed_twice_is_published_once() {
    let alg = SigningAlgorithm::EdDsa;
    let s = service(
        alg,
        current(alg),
        &[current(alg), previous(alg), previous(alg)],
    );
    assert_eq!(s.jwks()["keys"].as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Unknown keys.

#[test]
fn a_token_signed_with_an_unknown_key_is_refused() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[previous(alg)]);
        let stranger = service(alg, unknown(alg), &[]);
        let token = stranger.encode_auth_token(UserId::new(42)).unwrap();
        assert_eq!(
            sub(s.decode_auth_token(&token)),
            Err(TokenError::Invalid("unknown key")),
            "{alg}"
        );
    }
}

#[test]
fn a_forged_kid_naming_our_key_is_refused() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[previous(alg)]);
        // Signed with a stranger's key of the same type, under the current key's kid...
        let forged = signed_with(alg, unknown(alg), s.kid());
        assert_eq!(header_of(&forged)["kid"].as_str(), s.kid());
        assert_eq!(
            sub(s.decode_auth_token(&forged)),
            Err(TokenError::Invalid("signature")),
            "{alg}"
        );
        // ...or the previous key's kid.
        let previous_kid = s.jwks()["keys"][1]["kid"].as_str().unwrap().to_owned();
        let forged = signed_with(alg, unknown(alg), Some(&previous_kid));
        assert_eq!(
            sub(s.decode_auth_token(&forged)),
            Err(TokenError::Invalid("signature")),
            "{alg}"
        );
        // Control: the same construction with our key is accepted.
        let genuine = signed_with(alg, current(alg), s.kid());
        assert_eq!(
            sub(s.decode_auth_token(&genuine)),
            Ok(UserId::new(42)),
            "{alg}"
        );
    }
}

#[test]
fn without_kid_only_the_current_key_is_tried() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[previous(alg)]);
        let by_current = signed_with(alg, current(alg), None);
        assert_eq!(
            sub(s.decode_auth_token(&by_current)),
            Ok(UserId::new(42)),
            "{alg}"
        );
        let by_previous = signed_with(alg, previous(alg), None);
        assert_eq!(
            sub(s.decode_auth_token(&by_previous)),
            Err(TokenError::Invalid("signature")),
            "{alg}"
        );
        let by_stranger = signed_with(alg, unknown(alg), None);
        assert_eq!(
            sub(s.decode_auth_token(&by_stranger)),
            Err(TokenError::Invalid("signature")),
            "{alg}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Algorithm confusion.

#[test]
fn an_hs256_token_is_refused_by_an_asymmetric_service() {
    for alg in ASYMMETRIC {
        // The service holds the same SECRET_KEY the token is signed with.
        let s = service(alg, current(alg), &[previous(alg)]);
        let previous_kid = s.jwks()["keys"][1]["kid"].as_str().unwrap().to_owned();
        for header in [
            json!({ "typ": "JWT", "alg": "HS256" }),
            json!({ "typ": "JWT", "alg": "HS256", "kid": s.kid() }),
            json!({ "typ": "JWT", "alg": "HS256", "kid": previous_kid }),
        ] {
            let token = hmac_token(SECRET, &header);
            assert_eq!(
                sub(s.decode_auth_token(&token)),
                Err(TokenError::Invalid("algorithm")),
                "{alg} {header}"
            );
        }
        // The classic confusion: HMAC keyed with the published public key, in any form.
        let jwk = s.jwks()["keys"][0].clone();
        for public in [
            jwk.to_string(),
            jwk["x"].as_str().unwrap_or_default().to_owned(),
            jwk["n"].as_str().unwrap_or_default().to_owned(),
        ] {
            let token = hmac_token(
                public.as_bytes(),
                &json!({ "alg": "HS256", "kid": s.kid() }),
            );
            assert_eq!(
                sub(s.decode_auth_token(&token)),
                Err(TokenError::Invalid("algorithm")),
                "{alg}"
            );
        }
    }
}

#[test]
fn an_asymmetric_token_is_refused_by_an_hs256_service() {
    let hs = hs256_service();
    for alg in ASYMMETRIC {
        let token = service(alg, current(alg), &[])
            .encode_auth_token(UserId::new(42))
            .unwrap();
        assert_eq!(
            sub(hs.decode_auth_token(&token)),
            Err(TokenError::Invalid("algorithm")),
            "{alg}"
        );
    }
    // Control: the HS256 service accepts a hand-made HS256 token with the secret.
    let token = hmac_token(SECRET, &json!({ "alg": "HS256" }));
    assert_eq!(sub(hs.decode_auth_token(&token)), Ok(UserId::new(42)));
}

#[test]
fn a_header_alg_other_than_the_keys_is_refused() {
    // One service verifying with keys of every type; each token names one key's kid but
    // another algorithm (and is signed with a key of that other type).
    let s = service(
        SigningAlgorithm::EdDsa,
        current(SigningAlgorithm::EdDsa),
        &[
            current(SigningAlgorithm::Es256),
            current(SigningAlgorithm::Rs256),
        ],
    );
    let jwks = s.jwks();
    let kid_of = |alg: SigningAlgorithm| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["alg"] == alg.as_str())
            .unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for named in ASYMMETRIC {
        for signer in ASYMMETRIC {
            let token = signed_with(signer, current(signer), Some(&kid_of(named)));
            let expected = if named == signer {
                Ok(UserId::new(42))
            } else {
                Err(TokenError::Invalid("algorithm"))
            };
            assert_eq!(
                sub(s.decode_auth_token(&token)),
                expected,
                "kid of {named}, signed {signer}"
            );
        }
    }
    // Algorithms we never accept, whatever the kid.
    for alg in ["none", "HS384", "RS512", "PS256", "ES384"] {
        let token = hmac_token(SECRET, &json!({ "alg": alg, "kid": s.kid() }));
        assert!(
            matches!(s.decode_auth_token(&token), Err(TokenError::Invalid(_))),
            "{alg}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The strict checks stay on asymmetric services.

#[test]
fn asymmetric_services_keep_every_check() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[]);
        let now = now();
        let mut c = s.claims_for(UserId::new(1), None, now - 100);
        c.exp = now - 1;
        assert_eq!(
            sub(s.decode_auth_token(&s.encode(&c).unwrap())),
            Err(TokenError::Expired),
            "{alg}"
        );
        let mut c = s.claims_for(UserId::new(1), None, now);
        c.nbf = Some(now + 60);
        assert_eq!(
            sub(s.decode_auth_token(&s.encode(&c).unwrap())),
            Err(TokenError::Invalid("not yet valid")),
            "{alg}"
        );
        let token = s.encode_auth_token(UserId::new(1)).unwrap();
        let [h, p, sig] = {
            let v: Vec<&str> = token.split('.').collect();
            [v[0], v[1], v[2]]
        };
        assert_eq!(
            sub(s.decode_auth_token(&format!("{h}.{p}"))),
            Err(TokenError::Invalid("shape"))
        );
        let long = format!("{h}.{p}{}.{sig}", "A".repeat(auth_token::MAX_TOKEN_BYTES));
        assert_eq!(
            sub(s.decode_auth_token(&long)),
            Err(TokenError::Invalid("too long"))
        );
        // Payload swapped after signing.
        let evil = b64(json!({ "sub": "2", "iat": now, "exp": now + 60 })
            .to_string()
            .as_bytes());
        assert_eq!(
            sub(s.decode_auth_token(&format!("{h}.{evil}.{sig}"))),
            Err(TokenError::Invalid("signature")),
            "{alg}"
        );
        // A flipped bit in the signature.
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[5] ^= 1;
        assert_eq!(
            sub(s.decode_auth_token(&format!("{h}.{p}.{}", b64(&raw)))),
            Err(TokenError::Invalid("signature")),
            "{alg}"
        );
    }
}

#[test]
fn issuer_and_audience_are_written_and_required() {
    for alg in ASYMMETRIC {
        let with = |iss: Option<&str>, aud: Option<&str>| {
            build(
                alg,
                Some(current(alg)),
                &[],
                TokenSettings {
                    issuer: iss.map(str::to_owned),
                    audience: aud.map(str::to_owned),
                    ..settings()
                },
            )
            .unwrap()
        };
        let s = with(Some(ISSUER), Some(AUDIENCE));
        let token = s.encode_auth_token(UserId::new(4)).unwrap();
        let claims = s.decode_auth_token(&token).unwrap();
        assert_eq!(claims.iss.as_deref(), Some(ISSUER));
        let bare = with(None, None).encode_auth_token(UserId::new(4)).unwrap();
        assert_eq!(
            sub(s.decode_auth_token(&bare)),
            Err(TokenError::Invalid("missing claim")),
            "{alg}"
        );
        let other = with(Some("https://evil.test"), Some(AUDIENCE))
            .encode_auth_token(UserId::new(4))
            .unwrap();
        assert_eq!(
            sub(s.decode_auth_token(&other)),
            Err(TokenError::Invalid("issuer")),
            "{alg}"
        );
        let other = with(Some(ISSUER), Some("someone-else"))
            .encode_auth_token(UserId::new(4))
            .unwrap();
        assert_eq!(
            sub(s.decode_auth_token(&other)),
            Err(TokenError::Invalid("audience")),
            "{alg}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The JWKS.

/// Members a public JWK of ours may have, by `kty`.
fn allowed_members(kty: &str) -> &'static [&'static str] {
    match kty {
        "OKP" => &["kty", "kid", "alg", "use", "crv", "x"],
        "EC" => &["kty", "kid", "alg", "use", "crv", "x", "y"],
        "RSA" => &["kty", "kid", "alg", "use", "n", "e"],
        other => panic!("unexpected kty {other}"),
    }
}

#[test]
fn jwks_has_the_public_parameters_only() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[previous(alg)]);
        let jwks = s.jwks();
        let text = s.jwks_json();
        assert_eq!(serde_json::from_str::<Value>(text).unwrap(), jwks);
        assert_eq!(jwks.as_object().unwrap().len(), 1, "only \"keys\"");
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "{alg}");
        assert_eq!(keys[0]["kid"].as_str(), s.kid(), "the signing key first");
        for jwk in keys {
            let (kty, members): (&str, &[&str]) = match alg {
                SigningAlgorithm::EdDsa => ("OKP", &["crv", "x"]),
                SigningAlgorithm::Es256 => ("EC", &["crv", "x", "y"]),
                _ => ("RSA", &["n", "e"]),
            };
            assert_eq!(jwk["kty"], kty, "{alg}");
            assert_eq!(jwk["use"], "sig", "{alg}");
            assert_eq!(jwk["alg"], alg.as_str(), "{alg}");
            assert_eq!(jwk["kid"], thumbprint(jwk), "{alg}");
            for m in members {
                assert!(jwk[m].is_string(), "{alg} {m}");
            }
            match alg {
                SigningAlgorithm::EdDsa => assert_eq!(jwk["crv"], "Ed25519"),
                SigningAlgorithm::Es256 => assert_eq!(jwk["crv"], "P-256"),
                _ => assert_eq!(jwk["e"], "AQAB"),
            }
            for (name, _) in jwk.as_object().unwrap() {
                assert!(
                    allowed_members(kty).contains(&name.as_str()),
                    "{alg}: unexpected member {name} in {jwk}"
                );
            }
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(jwk.get(private).is_none(), "{alg}: {private} published");
            }
        }
    }
}

#[test]
fn hs256_jwks_is_empty() {
    let s = hs256_service();
    assert_eq!(s.jwks(), json!({ "keys": [] }));
    assert_eq!(s.jwks_json(), r#"{"keys":[]}"#);
    assert_eq!(s.algorithm(), SigningAlgorithm::Hs256);
    assert_eq!(s.kid(), None);
}

#[test]
fn hs256_through_new_ignores_pems() {
    let alg = SigningAlgorithm::EdDsa;
    let s = build(
        SigningAlgorithm::Hs256,
        Some(current(alg)),
        &[previous(alg)],
        settings(),
    )
    .unwrap();
    assert_eq!(s.algorithm(), SigningAlgorithm::Hs256);
    assert_eq!(s.jwks(), json!({ "keys": [] }));
    let token = s.encode_auth_token(UserId::new(9)).unwrap();
    assert_eq!(header_of(&token), json!({ "typ": "JWT", "alg": "HS256" }));
    // Same tokens as the seed's constructor.
    assert_eq!(
        sub(hs256_service().decode_auth_token(&token)),
        Ok(UserId::new(9))
    );
    // And an EdDSA token signed with the ignored key is refused.
    let eddsa = service(alg, current(alg), &[])
        .encode_auth_token(UserId::new(9))
        .unwrap();
    assert_eq!(
        sub(s.decode_auth_token(&eddsa)),
        Err(TokenError::Invalid("algorithm"))
    );
}

#[test]
fn debug_shows_no_key_material() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[]);
        let dbg = format!("{s:?}");
        assert!(dbg.contains(alg.as_str()), "{dbg}");
        assert!(dbg.contains(s.kid().unwrap()), "{dbg}");
        let pem_body = current(alg).lines().nth(1).unwrap();
        assert!(!dbg.contains(&pem_body[..20]), "{dbg}");
    }
    let dbg = format!("{:?}", hs256_service());
    assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
}

// ---------------------------------------------------------------------------------------
// Bad keys.

#[test]
fn asymmetric_algorithms_need_a_private_key() {
    for alg in ASYMMETRIC {
        let err = build(alg, None, &[], settings()).unwrap_err();
        assert_eq!(err, KeyError::MissingPrivateKey(alg));
        assert!(err.to_string().contains(alg.as_str()), "{err}");
    }
}

#[test]
fn a_key_of_the_wrong_type_is_refused() {
    for (alg, pem, found) in [
        (SigningAlgorithm::Es256, RSA_A, "an RSA key"),
        (SigningAlgorithm::Es256, ED25519_OPENSSL, "an Ed25519 key"),
        (SigningAlgorithm::EdDsa, P256_OPENSSL, "an EC key"),
        (SigningAlgorithm::EdDsa, RSA_PKCS1, "an RSA key"),
        (SigningAlgorithm::Rs256, ED25519_OPENSSL, "an Ed25519 key"),
        (SigningAlgorithm::Rs256, P256_OPENSSL, "an EC key"),
        (SigningAlgorithm::Rs256, P256_OPENSSL_PUBLIC, "an EC key"),
    ] {
        let err = build(alg, Some(pem), &[], settings()).unwrap_err();
        match &err {
            KeyError::WrongKeyType {
                algorithm,
                found: f,
                ..
            } => {
                assert_eq!(*algorithm, alg);
                assert_eq!(*f, found);
            }
            other => panic!("{alg}: {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(alg.as_str()) && text.contains(found),
            "{text}"
        );
    }
}

#[test]
fn es256_refuses_other_curves() {
    let err = build(SigningAlgorithm::Es256, Some(P384), &[], settings()).unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::WrongKeyType {
                algorithm: SigningAlgorithm::Es256,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unreadable_keys_are_refused_with_a_hint() {
    for (pem, hint) in [
        ("".as_bytes(), "BEGIN"),
        (b"not a key".as_slice(), "BEGIN"),
        (&[0x30, 0x82, 0xff, 0xfe][..], "DER"),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "private key",
        ),
        (
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            "unsupported",
        ),
        (P256_SEC1.as_bytes(), "openssl pkcs8 -topk8"),
        (ED25519_ENCRYPTED.as_bytes(), "encrypted"),
    ] {
        let err = TokenService::new(
            SigningAlgorithm::Es256,
            &secret(),
            Some(pem),
            &[],
            settings(),
        )
        .unwrap_err();
        assert!(matches!(err, KeyError::UnreadablePem(_)), "{err:?}");
        assert!(err.to_string().contains(hint), "{hint}: {err}");
    }
}

#[test]
fn a_public_key_cannot_sign() {
    let err = build(
        SigningAlgorithm::EdDsa,
        Some(ED25519_OPENSSL_PUBLIC),
        &[],
        settings(),
    )
    .unwrap_err();
    assert_eq!(err, KeyError::PublicKeyCannotSign);
}

#[test]
fn a_weak_rsa_key_is_refused() {
    let err = build(SigningAlgorithm::Rs256, Some(RSA_WEAK), &[], settings()).unwrap_err();
    assert_eq!(err, KeyError::WeakRsaKey(1024));
    let err = build(
        SigningAlgorithm::EdDsa,
        Some(current(SigningAlgorithm::EdDsa)),
        &[RSA_WEAK],
        settings(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        KeyError::PreviousKey {
            index: 1,
            error: Box::new(KeyError::WeakRsaKey(1024))
        }
    );
}

#[test]
fn a_bad_previous_key_is_named_by_its_position() {
    let alg = SigningAlgorithm::EdDsa;
    let err = build(
        alg,
        Some(current(alg)),
        &[previous(alg), "garbage"],
        settings(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, KeyError::PreviousKey { index: 2, error } if matches!(**error, KeyError::UnreadablePem(_))),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "previous key 2 cannot be used");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        source.is_some_and(|s| s.starts_with("the key is not a usable PEM key")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------
// JwksVerifier: another service, holding only our JWKS.

fn verifier_for(s: &TokenService) -> JwksVerifier {
    JwksVerifier::from_jwks_json(s.jwks_json(), s.settings()).unwrap()
}

#[test]
fn jwks_verifier_accepts_our_tokens() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[previous(alg)]);
        let v = verifier_for(&s);
        let kids: Vec<(String, SigningAlgorithm)> =
            v.keys().map(|(k, a)| (k.to_owned(), a)).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(Some(kids[0].0.as_str()), s.kid());
        let token = s.encode_session_token(UserId::new(42), "sid-1").unwrap();
        let claims = v.decode(&token).unwrap();
        assert_eq!(claims.sub, UserId::new(42));
        assert_eq!(claims.sid.as_deref(), Some("sid-1"));
        // A token of the previous key too.
        let old = service(alg, previous(alg), &[])
            .encode_auth_token(UserId::new(43))
            .unwrap();
        assert_eq!(sub(v.decode(&old)), Ok(UserId::new(43)), "{alg}");
    }
}

#[test]
fn jwks_verifier_refuses_others() {
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[]);
        let v = verifier_for(&s);
        let stranger = service(alg, unknown(alg), &[])
            .encode_auth_token(UserId::new(1))
            .unwrap();
        assert_eq!(
            sub(v.decode(&stranger)),
            Err(TokenError::Invalid("unknown key"))
        );
        let forged = signed_with(alg, unknown(alg), s.kid());
        assert_eq!(
            sub(v.decode(&forged)),
            Err(TokenError::Invalid("signature"))
        );
        let hs = hmac_token(SECRET, &json!({ "alg": "HS256", "kid": s.kid() }));
        assert_eq!(sub(v.decode(&hs)), Err(TokenError::Invalid("algorithm")));
        let hs = hs256_service().encode_auth_token(UserId::new(1)).unwrap();
        assert_eq!(sub(v.decode(&hs)), Err(TokenError::Invalid("algorithm")));
        let mut c = s.claims_for(UserId::new(1), None, now() - 100);
        c.exp = now() - 1;
        assert_eq!(
            sub(v.decode(&s.encode(&c).unwrap())),
            Err(TokenError::Expired)
        );
        assert_eq!(
            sub(v.decode("a.b.c")),
            Err(TokenError::Invalid("claims not an object"))
        );
    }
}

#[test]
fn jwks_verifier_checks_issuer_and_audience() {
    let alg = SigningAlgorithm::EdDsa;
    let strict = TokenSettings {
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        ..settings()
    };
    let s = build(alg, Some(current(alg)), &[], strict.clone()).unwrap();
    let token = s.encode_auth_token(UserId::new(6)).unwrap();
    let v = JwksVerifier::from_jwks_json(s.jwks_json(), &strict).unwrap();
    assert_eq!(sub(v.decode(&token)), Ok(UserId::new(6)));
    let other = TokenSettings {
        audience: Some("another-client".into()),
        ..strict
    };
    let v = JwksVerifier::from_jwks_json(s.jwks_json(), &other).unwrap();
    assert_eq!(sub(v.decode(&token)), Err(TokenError::Invalid("audience")));
}

#[test]
fn jwks_verifier_reads_keys_without_kid_or_alg() {
    let alg = SigningAlgorithm::Es256;
    let s = service(alg, current(alg), &[]);
    let mut jwk = s.jwks()["keys"][0].clone();
    let obj = jwk.as_object_mut().unwrap();
    obj.remove("kid");
    obj.remove("alg");
    obj.remove("use");
    let jwks = json!({ "keys": [
        { "kty": "RSA", "use": "enc", "n": RFC7638_N, "e": "AQAB", "alg": "RSA-OAEP" },
        jwk,
    ] });
    let v = JwksVerifier::from_jwks_json(&jwks.to_string(), &settings()).unwrap();
    let kids: Vec<&str> = v.keys().map(|(k, _)| k).collect();
    assert_eq!(
        kids,
        [s.kid().unwrap()],
        "enc key skipped, kid = thumbprint"
    );
    let token = s.encode_auth_token(UserId::new(2)).unwrap();
    assert_eq!(sub(v.decode(&token)), Ok(UserId::new(2)));
    // A token without kid is checked against the first key.
    let no_kid = signed_with(alg, current(alg), None);
    assert_eq!(sub(v.decode(&no_kid)), Ok(UserId::new(42)));
}

#[test]
fn jwks_verifier_refuses_unusable_documents() {
    let ed = service(
        SigningAlgorithm::EdDsa,
        current(SigningAlgorithm::EdDsa),
        &[],
    );
    let good = ed.jwks()["keys"][0].clone();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut k = good.clone();
        f(k.as_object_mut().unwrap());
        json!({ "keys": [k] }).to_string()
    };
    let weak_rsa = service(SigningAlgorithm::Rs256, RSA_A, &[]).jwks()["keys"][0].clone();
    let mut weak_rsa = weak_rsa.as_object().unwrap().clone();
    weak_rsa.insert("n".into(), json!(b64(&[0xc5; 128])));
    for (doc, why) in [
        (r#"{"keys":[]}"#.to_owned(), "no signature keys"),
        (hs256_service().jwks_json().to_owned(), "no signature keys"),
        ("not json".to_owned(), ""),
        (r#"{"keys":{}}"#.to_owned(), ""),
        (
            json!({ "keys": [{ "kty": "oct", "k": b64(SECRET), "alg": "HS256", "kid": "x" }] })
                .to_string(),
            "symmetric",
        ),
        (
            with(&|k| {
                k.insert("alg".into(), json!("RS256"));
            }),
            "\"alg\" is RS256",
        ),
        (
            with(&|k| {
                k.insert("alg".into(), json!("HS256"));
            }),
            "\"alg\" is HS256",
        ),
        (
            with(&|k| {
                k.insert("crv".into(), json!("Ed448"));
            }),
            "unsupported",
        ),
        (
            with(&|k| {
                k.insert("x".into(), json!("AAAA"));
            }),
            "parameters",
        ),
        (
            json!({ "keys": [good.clone(), good.clone()] }).to_string(),
            "duplicate kid",
        ),
        (json!({ "keys": [weak_rsa] }).to_string(), "1024 bits"),
    ] {
        let err = JwksVerifier::from_jwks_json(&doc, &settings()).unwrap_err();
        assert!(matches!(err, KeyError::InvalidJwks(_)), "{doc}: {err:?}");
        assert!(err.to_string().contains(why), "{doc}: {err}");
    }
}

#[test]
fn an_ed25519_pkcs8_v2_key_is_read() {
    // ring and aws-lc write Ed25519 keys as PKCS#8 v2 (the public key appended). Built here
    // from the OpenSSL v1 fixture: same seed, so the same key and kid.
    use base64::engine::general_purpose::STANDARD;
    let body: String = ED25519_OPENSSL
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let v1 = STANDARD.decode(body).unwrap();
    assert_eq!(v1.len(), 48);
    let seed = &v1[16..];
    let v1_service = service(SigningAlgorithm::EdDsa, ED25519_OPENSSL, &[]);
    let x = v1_service.jwks()["keys"][0]["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let public = URL_SAFE_NO_PAD.decode(x).unwrap();
    let mut v2 = vec![
        0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    v2.extend_from_slice(seed);
    v2.extend_from_slice(&[0x81, 0x21, 0x00]);
    v2.extend_from_slice(&public);
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(&v2)
    );
    let v2_service = service(SigningAlgorithm::EdDsa, &pem, &[]);
    assert_eq!(v2_service.kid(), v1_service.kid());
    let token = v2_service.encode_auth_token(UserId::new(11)).unwrap();
    assert_eq!(
        sub(v1_service.decode_auth_token(&token)),
        Ok(UserId::new(11))
    );
}

#[test]
fn keys_embedded_in_the_header_are_ignored() {
    // A token carrying its own key (`jwk`, `jku`, `x5u`) is checked with our keys only.
    for alg in ASYMMETRIC {
        let s = service(alg, current(alg), &[]);
        let stranger = service(alg, unknown(alg), &[]);
        let stranger_jwk = stranger.jwks()["keys"][0].clone();
        let (jwt_alg, key) = match alg {
            SigningAlgorithm::EdDsa => (
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(unknown(alg).as_bytes()),
            ),
            SigningAlgorithm::Es256 => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(unknown(alg).as_bytes()),
            ),
            _ => (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(unknown(alg).as_bytes()),
            ),
        };
        for kid in [None, s.kid()] {
            let mut header = Header::new(jwt_alg);
            header.kid = kid.map(str::to_owned);
            header.jwk = Some(serde_json::from_value(stranger_jwk.clone()).unwrap());
            header.jku = Some("https://evil.test/jwks.json".into());
            header.x5u = Some("https://evil.test/cert.pem".into());
            let token = jsonwebtoken::encode(&header, &claims(), key.as_ref().unwrap()).unwrap();
            assert_eq!(
                sub(s.decode_auth_token(&token)),
                Err(TokenError::Invalid("signature")),
                "{alg} kid {kid:?}"
            );
        }
    }
}
