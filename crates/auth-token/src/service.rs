//! Encoding and strict decoding of access tokens.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use users_domain::{Audience, Claims, UserId};

use crate::asymmetric::read_pem;
use crate::verifier::{Verifier, VerifyKey};
use crate::{
    IssueError, KeyError, SecretKey, SelfTestCheck, SelfTestError, SigningAlgorithm, TokenError,
};

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a deployment configures about its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// `TOKEN_EXPIRATION_DAYS`.
    pub expiration_days: u64,
    /// `TOKEN_EXPIRATION_SECONDS`.
    pub expiration_seconds: u64,
    /// `JWT_ISSUER`: written as `iss` and required on decode when set.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: written as `aud` and required on decode when set.
    pub audience: Option<String>,
}

impl TokenSettings {
    /// A token's lifetime in seconds: days and seconds added.
    pub fn lifetime_secs(&self) -> u64 {
        self.expiration_days
            .saturating_mul(86_400)
            .saturating_add(self.expiration_seconds)
    }
}

/// Issues and verifies access tokens, set up once: one signing key and algorithm, and the
/// keys that verify (the signing key and, for asymmetric algorithms, the previous keys).
#[derive(Clone)]
pub struct TokenService {
    algorithm: SigningAlgorithm,
    header: Header,
    encoding: EncodingKey,
    verifier: Verifier,
    jwks: Arc<Jwks>,
    settings: TokenSettings,
}

/// The published key set, rendered once.
struct Jwks {
    value: serde_json::Value,
    json: String,
}

impl Jwks {
    fn new(keys: Vec<Jwk>) -> Self {
        let value = serde_json::to_value(JwkSet { keys })
            .unwrap_or_else(|_| serde_json::json!({ "keys": [] }));
        let json = value.to_string();
        Self { value, json }
    }
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid())
            .field("verifies", &self.verifier)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service for `algorithm`.
    ///
    /// - HS256 signs and verifies with `secret`; the PEMs are ignored (an HS256 service
    ///   accepts HS256 tokens only).
    /// - EdDSA, ES256 and RS256 sign with `private_key_pem` (PKCS#8 `PRIVATE KEY`, or PKCS#1
    ///   `RSA PRIVATE KEY`), which must be of the algorithm's type (Ed25519, P-256, RSA of
    ///   2048 bits or more). Tokens carry `kid`, the key's RFC 7638 thumbprint.
    ///   `previous_key_pems` (private or public PEM keys, each of any supported type) verify
    ///   but never sign: a token is checked with the key its `kid` names, with that key's own
    ///   algorithm. `secret` is not used for tokens then.
    pub fn new(
        algorithm: SigningAlgorithm,
        secret: &SecretKey,
        private_key_pem: Option<&[u8]>,
        previous_key_pems: &[Vec<u8>],
        settings: TokenSettings,
    ) -> Result<Self, KeyError> {
        if algorithm == SigningAlgorithm::Hs256 {
            return Self::hs256(secret, settings);
        }
        check_backend()?;
        let pem = private_key_pem.ok_or(KeyError::MissingPrivateKey(algorithm))?;
        let current = read_pem(pem, Some(algorithm))?;
        let Some(encoding) = current.signing else {
            return Err(KeyError::PublicKeyCannotSign);
        };
        let mut header = Header::new(algorithm.jwt());
        header.typ = Some("JWT".to_owned());
        header.kid = Some(current.kid.clone());

        let mut keys = vec![VerifyKey::new(
            algorithm,
            Some(current.kid.clone()),
            decoding_from_jwk(&current.jwk)?,
            &settings,
        )];
        let mut published = vec![current.jwk];
        for (i, pem) in previous_key_pems.iter().enumerate() {
            let previous = read_pem(pem, None).map_err(|error| KeyError::PreviousKey {
                index: i + 1,
                error: Box::new(error),
            })?;
            // The same key listed twice (or the current key listed as previous) is one key.
            if keys
                .iter()
                .any(|k| k.kid.as_deref() == Some(previous.kid.as_str()))
            {
                continue;
            }
            keys.push(VerifyKey::new(
                previous.algorithm,
                Some(previous.kid),
                decoding_from_jwk(&previous.jwk)?,
                &settings,
            ));
            published.push(previous.jwk);
        }
        Ok(Self {
            algorithm,
            header,
            encoding,
            verifier: Verifier::ByKid(keys.into()),
            jwks: Arc::new(Jwks::new(published)),
            settings,
        })
    }

    /// An HS256 service signing with `secret` (the seed's setup).
    pub fn hs256(secret: &SecretKey, settings: TokenSettings) -> Result<Self, KeyError> {
        check_backend()?;
        let unusable = |source| KeyError::Unusable {
            what: "the crypto backend refuses the secret",
            source,
        };
        let encoding = EncodingKey::from_secret(secret.expose()).map_err(unusable)?;
        let decoding = DecodingKey::from_secret(secret.expose()).map_err(unusable)?;
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".to_owned());
        let key = VerifyKey::new(SigningAlgorithm::Hs256, None, decoding, &settings);
        Ok(Self {
            algorithm: SigningAlgorithm::Hs256,
            header,
            encoding,
            verifier: Verifier::Secret(Arc::new(key)),
            jwks: Arc::new(Jwks::new(Vec::new())),
            settings,
        })
    }

    /// The algorithm that signs.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The signing key's `kid` (its RFC 7638 thumbprint); `None` for HS256.
    pub fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// The public keys as a JWKS: `{"keys":[{"kty","kid","alg","use":"sig",...}]}`, the
    /// signing key first, then each previous key. No private parameter is ever included.
    /// HS256 gives `{"keys":[]}`: a shared secret is never published.
    pub fn jwks(&self) -> serde_json::Value {
        self.jwks.value.clone()
    }

    /// [`jwks`](Self::jwks) as JSON text, rendered once (for `GET /.well-known/jwks.json`).
    pub fn jwks_json(&self) -> &str {
        &self.jwks.json
    }

    /// The settings this service was built with.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The seed's `encode_auth_token`: a token for `user_id` with no session.
    pub fn encode_auth_token(&self, user_id: UserId) -> Result<String, IssueError> {
        self.encode(&self.claims_for(user_id, None, unix_now()))
    }

    /// A token for `user_id` in session `sid`.
    pub fn encode_session_token(&self, user_id: UserId, sid: &str) -> Result<String, IssueError> {
        self.encode(&self.claims_for(user_id, Some(sid), unix_now()))
    }

    /// The claims a token issued now would carry.
    pub fn claims_for(&self, user_id: UserId, sid: Option<&str>, now: u64) -> Claims {
        Claims {
            sub: user_id,
            iat: now,
            exp: now.saturating_add(self.settings.lifetime_secs()),
            nbf: None,
            jti: Some(uuid::Uuid::new_v4().simple().to_string()),
            sid: sid.map(str::to_owned),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone().map(Audience::One),
        }
    }

    /// Signs the given claims with the current key (header `kid` set when asymmetric).
    pub fn encode(&self, claims: &Claims) -> Result<String, IssueError> {
        Ok(jsonwebtoken::encode(&self.header, claims, &self.encoding)?)
    }

    /// The seed's `decode_auth_token`: verifies signature, algorithm and claims.
    ///
    /// Before any crypto: at most [`MAX_TOKEN_BYTES`](crate::MAX_TOKEN_BYTES), three base64url segments, claims that
    /// are a JSON object. Then, for an asymmetric service, the key the header's `kid` names
    /// (the signing key when there is no `kid`; an unknown `kid` is refused), and the header's
    /// `alg` must be that key's algorithm exactly. Then the signature, `exp` (required) and
    /// `nbf` with zero leeway, `iss`/`aud` when configured, and `sub`/`iat`.
    pub fn decode_auth_token(&self, token: &str) -> Result<Claims, TokenError> {
        self.verifier.decode(token)
    }

    /// Encodes and decodes one token, so that a misconfigured crypto backend or key fails
    /// at start-up rather than on the first request. For an asymmetric service the token is
    /// also verified with a [`JwksVerifier`](crate::JwksVerifier) built from the published
    /// JWKS alone, as another service would.
    pub fn self_test(&self) -> Result<(), SelfTestError> {
        let token = self
            .encode_auth_token(UserId::new(1))
            .map_err(SelfTestError::Issue)?;
        let mut results = vec![(SelfTestCheck::Service, self.decode_auth_token(&token))];
        if self.algorithm.is_asymmetric() {
            let jwks = crate::JwksVerifier::from_jwks_json(self.jwks_json(), &self.settings)
                .map_err(SelfTestError::Jwks)?;
            results.push((SelfTestCheck::Jwks, jwks.decode(&token)));
        }
        for (check, result) in results {
            match result {
                Ok(claims) if claims.sub == UserId::new(1) => {}
                Ok(_) => return Err(SelfTestError::WrongSubject(check)),
                // A zero lifetime is a legal (if odd) setting: the token may expire at once.
                Err(TokenError::Expired) if self.settings.lifetime_secs() == 0 => {}
                Err(source) => {
                    return Err(SelfTestError::Refused {
                        check,
                        reason: source.reason(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

fn check_backend() -> Result<(), KeyError> {
    match jsonwebtoken::crypto::CryptoProvider::try_get_default() {
        Some(_) => Ok(()),
        None => Err(KeyError::NoCryptoBackend),
    }
}

fn decoding_from_jwk(jwk: &Jwk) -> Result<DecodingKey, KeyError> {
    DecodingKey::from_jwk(jwk).map_err(|source| KeyError::Unusable {
        what: "the crypto backend refuses its public JWK",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(days: u64, secs: u64) -> TokenService {
        let key = SecretKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
        TokenService::hs256(
            &key,
            TokenSettings {
                expiration_days: days,
                expiration_seconds: secs,
                issuer: None,
                audience: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn encode_auth_token_gives_a_token() {
        let token = service(30, 0).encode_auth_token(UserId::new(1)).unwrap();
        assert_eq!(token.split('.').count(), 3);
    }

    #[test]
    fn decode_auth_token_round_trips_the_user_id() {
        let s = service(30, 0);
        let token = s.encode_auth_token(UserId::new(42)).unwrap();
        let claims = s.decode_auth_token(&token).unwrap();
        assert_eq!(claims.sub, UserId::new(42));
        assert_eq!(claims.exp - claims.iat, 30 * 86_400);
        assert!(claims.jti.is_some());
    }

    #[test]
    fn lifetime_adds_days_and_seconds() {
        let s = service(1, 3);
        let c = s.claims_for(UserId::new(1), Some("sid"), 1000);
        assert_eq!(c.exp, 1000 + 86_400 + 3);
        assert_eq!(c.sid.as_deref(), Some("sid"));
    }

    #[test]
    fn jti_is_unique() {
        let s = service(0, 3);
        let a = s.claims_for(UserId::new(1), None, 0).jti;
        let b = s.claims_for(UserId::new(1), None, 0).jti;
        assert_ne!(a, b);
    }

    #[test]
    fn self_test_passes() {
        service(0, 3).self_test().unwrap();
        service(0, 0).self_test().unwrap();
    }

    #[test]
    fn errors_display_the_contract_strings() {
        assert_eq!(
            TokenError::Expired.to_string(),
            "Signature expired. Please log in again."
        );
        assert_eq!(
            TokenError::Invalid("x").to_string(),
            "Invalid token. Please log in again."
        );
    }
}
