//! Encoding and strict decoding of access tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use users_domain::{Audience, Claims, UserId};

use crate::{IssueError, KeyError, SecretKey, TokenError};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

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

/// Issues and verifies access tokens with one key and one algorithm, set up once.
#[derive(Clone)]
pub struct TokenService {
    header: Header,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: TokenSettings,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("algorithm", &self.header.alg)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// An HS256 service signing with `secret`.
    pub fn hs256(secret: &SecretKey, settings: TokenSettings) -> Result<Self, KeyError> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(KeyError::NoCryptoBackend);
        }
        let unusable = |e: jsonwebtoken::errors::Error| KeyError::Unusable(e.to_string());
        let encoding = EncodingKey::from_secret(secret.expose()).map_err(unusable)?;
        let decoding = DecodingKey::from_secret(secret.expose()).map_err(unusable)?;
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".to_owned());
        Ok(Self {
            validation: strict_validation(Algorithm::HS256, &settings),
            header,
            encoding,
            decoding,
            settings,
        })
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

    /// Signs the given claims.
    pub fn encode(&self, claims: &Claims) -> Result<String, IssueError> {
        Ok(jsonwebtoken::encode(&self.header, claims, &self.encoding)?)
    }

    /// The seed's `decode_auth_token`: verifies signature, algorithm and claims.
    pub fn decode_auth_token(&self, token: &str) -> Result<Claims, TokenError> {
        check_shape(token)?;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::Invalid("signature"),
                ErrorKind::InvalidAlgorithm => TokenError::Invalid("algorithm"),
                ErrorKind::ImmatureSignature => TokenError::Invalid("not yet valid"),
                ErrorKind::InvalidIssuer => TokenError::Invalid("issuer"),
                ErrorKind::InvalidAudience => TokenError::Invalid("audience"),
                ErrorKind::MissingRequiredClaim(_) => TokenError::Invalid("missing claim"),
                _ => TokenError::Invalid("malformed"),
            })
    }

    /// Encodes and decodes one token, so that a misconfigured crypto backend or key fails
    /// at start-up rather than on the first request.
    pub fn self_test(&self) -> Result<(), String> {
        let token = self
            .encode_auth_token(UserId::new(1))
            .map_err(|e| e.to_string())?;
        match self.decode_auth_token(&token) {
            Ok(claims) if claims.sub == UserId::new(1) => Ok(()),
            Ok(_) => Err("token self-test decoded the wrong subject".to_owned()),
            // A zero lifetime is a legal (if odd) setting: the token may expire at once.
            Err(TokenError::Expired) if self.settings.lifetime_secs() == 0 => Ok(()),
            Err(e) => Err(format!("token self-test failed: {e:?}")),
        }
    }
}

fn strict_validation(alg: Algorithm, settings: &TokenSettings) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = 0;
    v.validate_exp = true;
    v.validate_nbf = true;
    // `sub` is not in jsonwebtoken's list: its check reads `sub` as a string only, so it
    // would refuse the Flask service's integer `sub`. `Claims` itself requires `sub` (a
    // positive id, string or integer), and `iat`.
    let mut required = vec!["exp"];
    if let Some(iss) = &settings.issuer {
        v.set_issuer(&[iss]);
        required.push("iss");
    }
    match &settings.audience {
        Some(aud) => {
            v.set_audience(&[aud]);
            required.push("aud");
        }
        None => v.validate_aud = false,
    }
    v.set_required_spec_claims(&required);
    v
}

/// Cheap checks before any decoding: size, three segments, base64url alphabet only (so
/// padding and standard-alphabet characters are refused), and claims that are a JSON object.
fn check_shape(token: &str) -> Result<(), TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Invalid("too long"));
    }
    let mut segments = 0;
    for segment in token.split('.') {
        segments += 1;
        let ok = !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok || segments > 3 {
            return Err(TokenError::Invalid("shape"));
        }
        // The claims must be a JSON object: serde would read a JSON array as the claims
        // struct, field by field. A payload starting with `{` (0x7B = 011110_11) is the only
        // valid JSON whose base64url starts with `e` (011110).
        if segments == 2 && !segment.starts_with('e') {
            return Err(TokenError::Invalid("claims not an object"));
        }
    }
    if segments != 3 {
        return Err(TokenError::Invalid("shape"));
    }
    Ok(())
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
    fn shape_checks() {
        assert!(check_shape("a.eb.c").is_ok());
        assert!(check_shape("a.b.c").is_err());
        for bad in [
            "", "a.b", "a.b.c.d", "a..c", "a.b=.c", "a.b+.c", "a.b/.c", "a b.c.d",
        ] {
            assert!(check_shape(bad).is_err(), "{bad:?}");
        }
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
