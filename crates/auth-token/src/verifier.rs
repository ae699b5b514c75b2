//! Strict verification, shared by [`TokenService`](crate::TokenService) and [`JwksVerifier`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use users_domain::Claims;

use crate::asymmetric::read_public_jwk;
use crate::{KeyError, SigningAlgorithm, TokenError, TokenSettings};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// One key that verifies, with the only algorithm it accepts.
#[derive(Clone)]
pub(crate) struct VerifyKey {
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) kid: Option<String>,
    decoding: DecodingKey,
    validation: Validation,
}

impl VerifyKey {
    pub(crate) fn new(
        algorithm: SigningAlgorithm,
        kid: Option<String>,
        decoding: DecodingKey,
        settings: &TokenSettings,
    ) -> Self {
        Self {
            validation: strict_validation(algorithm, settings),
            algorithm,
            kid,
            decoding,
        }
    }
}

/// How a token finds its key.
#[derive(Clone)]
pub(crate) enum Verifier {
    /// HS256: the one shared secret. The header's `kid` is not consulted (the signature
    /// covers the header, so a `kid` changes nothing).
    Secret(Arc<VerifyKey>),
    /// Asymmetric: the key the header's `kid` names; without `kid`, the first key (the
    /// current signing key). Never empty.
    ByKid(Arc<[VerifyKey]>),
}

impl Verifier {
    /// Verifies signature, algorithm and claims.
    pub(crate) fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        check_shape(token)?;
        let key = match self {
            Self::Secret(key) => key,
            Self::ByKid(keys) => {
                let header = jsonwebtoken::decode_header(token).map_err(|e| map_error(&e))?;
                let key = match header.kid.as_deref() {
                    Some(kid) => keys
                        .iter()
                        .find(|k| k.kid.as_deref() == Some(kid))
                        .ok_or(TokenError::Invalid("unknown key"))?,
                    None => keys.first().ok_or(TokenError::Invalid("unknown key"))?,
                };
                // Each key verifies with exactly one algorithm: an HS256 token "signed" with a
                // public key, or an RS256 header on an Ed25519 key, never reaches the crypto.
                if header.alg != key.algorithm.jwt() {
                    return Err(TokenError::Invalid("algorithm"));
                }
                key
            }
        };
        let claims = jsonwebtoken::decode_claims::<Claims>(token, &key.decoding, &key.validation)
            .map_err(|e| map_error(&e))?;
        // jsonwebtoken compares `exp` with the current whole second and accepts `exp == now`,
        // so a token stayed valid for up to a second past its `exp`. Zero leeway means refused
        // from the instant `exp` names (PyJWT's `now >= exp`), on a sub-second clock.
        if is_expired(claims.exp, SystemTime::now()) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn keys(&self) -> &[VerifyKey] {
        match self {
            Self::Secret(key) => std::slice::from_ref(&**key),
            Self::ByKid(keys) => keys,
        }
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys().iter().map(|k| {
                format!(
                    "{} {}",
                    k.algorithm,
                    k.kid.as_deref().unwrap_or("(shared secret)")
                )
            }))
            .finish()
    }
}

/// True from the instant `exp` (Unix seconds) names, with no leeway.
pub(crate) fn is_expired(exp: u64, now: SystemTime) -> bool {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(exp))
        .is_some_and(|at| now >= at)
}

fn map_error(e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidSignature => TokenError::Invalid("signature"),
        ErrorKind::InvalidAlgorithm => TokenError::Invalid("algorithm"),
        ErrorKind::ImmatureSignature => TokenError::Invalid("not yet valid"),
        ErrorKind::InvalidIssuer => TokenError::Invalid("issuer"),
        ErrorKind::InvalidAudience => TokenError::Invalid("audience"),
        ErrorKind::MissingRequiredClaim(_) => TokenError::Invalid("missing claim"),
        _ => TokenError::Invalid("malformed"),
    }
}

fn strict_validation(alg: SigningAlgorithm, settings: &TokenSettings) -> Validation {
    let mut v = Validation::new(alg.jwt());
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
pub(crate) fn check_shape(token: &str) -> Result<(), TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Invalid("too long"));
    }
    // This runs on every token before anything else, so it is written to vectorize: the
    // alphabet check has no early exit inside a chunk, and the dots are found by memchr.
    let bytes = token.as_bytes();
    if !bytes
        .chunks(64)
        .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & is_token_byte(b)))
    {
        return Err(TokenError::Invalid("shape"));
    }
    let mut dots = memchr::memchr_iter(b'.', bytes);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(TokenError::Invalid("shape"));
    };
    // Three segments, none empty.
    if first == 0 || second == first + 1 || second + 1 == bytes.len() {
        return Err(TokenError::Invalid("shape"));
    }
    let claims = &token[first + 1..second];
    // The claims must be a JSON object: serde would read a JSON array as the claims
    // struct, field by field. A payload starting with `{` (0x7B = 011110_11) is the only
    // valid JSON whose base64url starts with `e` (011110).
    if !claims.starts_with('e') {
        return Err(TokenError::Invalid("claims not an object"));
    }
    Ok(())
}

/// The base64url alphabet and the segments' `.`, without branches.
fn is_token_byte(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter | digit | (b == b'-') | (b == b'_') | (b == b'.')
}

/// Verifies the users service's tokens with nothing but its JWKS
/// (`GET /.well-known/jwks.json`): for another service that trusts our tokens.
///
/// The checks are the service's own: the key named by the token's `kid` (the JWKS's first key
/// when the token has none), the `alg` that key's type implies and no other, signature, `exp`
/// and `nbf` with zero leeway, and `iss`/`aud` when `settings` names them. Symmetric (`oct`)
/// keys in a JWKS are refused: a shared secret is never taken from a document.
///
/// ```no_run
/// # fn jwks_json() -> String { String::new() }
/// use auth_token::{JwksVerifier, TokenSettings};
///
/// let settings = TokenSettings {
///     expiration_days: 0,     // unused when verifying
///     expiration_seconds: 0,  // unused when verifying
///     issuer: Some("https://users.example.com".into()),
///     audience: None,
/// };
/// let verifier = JwksVerifier::from_jwks_json(&jwks_json(), &settings)?;
/// match verifier.decode("eyJ...") {
///     Ok(claims) => println!("user {}", claims.sub),
///     Err(e) => println!("refused: {e}"),
/// }
/// # Ok::<(), auth_token::KeyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct JwksVerifier {
    verifier: Verifier,
}

impl JwksVerifier {
    /// Reads a JWKS document (`{"keys":[...]}`). Keys whose `use` is not `sig` are skipped;
    /// any other key must be an Ed25519 (`EdDSA`), P-256 (`ES256`) or RSA of 2048 bits or more
    /// (`RS256`) public key, with an `alg` (when present) matching its type. A key without
    /// `kid` is named by its RFC 7638 thumbprint. At least one key is required.
    pub fn from_jwks_json(json: &str, settings: &TokenSettings) -> Result<Self, KeyError> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(KeyError::NoCryptoBackend);
        }
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| KeyError::InvalidJwks(e.to_string()))?;
        let mut keys: Vec<VerifyKey> = Vec::with_capacity(set.keys.len());
        for jwk in &set.keys {
            let Some((algorithm, kid, decoding)) = read_public_jwk(jwk)? else {
                continue;
            };
            if keys.iter().any(|k| k.kid.as_deref() == Some(kid.as_str())) {
                return Err(KeyError::InvalidJwks(format!("duplicate kid {kid}")));
            }
            keys.push(VerifyKey::new(algorithm, Some(kid), decoding, settings));
        }
        if keys.is_empty() {
            return Err(KeyError::InvalidJwks(
                "no signature keys (an HS256 service publishes none: verify with its secret)"
                    .to_owned(),
            ));
        }
        Ok(Self {
            verifier: Verifier::ByKid(keys.into()),
        })
    }

    /// Verifies a token: `TokenError::Expired` past `exp`, `TokenError::Invalid` otherwise.
    pub fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        self.verifier.decode(token)
    }

    /// The `kid` of every key, in the JWKS's order, with the algorithm each accepts.
    pub fn keys(&self) -> impl Iterator<Item = (&str, SigningAlgorithm)> {
        self.verifier
            .keys()
            .iter()
            .map(|k| (k.kid.as_deref().unwrap_or_default(), k.algorithm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_has_no_leeway_within_the_second() {
        let exp = 1_700_000_000;
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(exp * 1000 + ms);
        assert!(!is_expired(exp, at(0) - Duration::from_millis(1)));
        assert!(is_expired(exp, at(0)));
        assert!(is_expired(exp, at(950)));
        assert!(
            !is_expired(u64::MAX, SystemTime::now()),
            "beyond the clock's range"
        );
    }

    #[test]
    fn shape_checks() {
        assert!(check_shape("a.eb.c").is_ok());
        assert!(check_shape("a.b.c").is_err());
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "a..c",
            "a.b=.c",
            "a.b+.c",
            "a.b/.c",
            "a b.c.d",
            ".eb.c",
            "a.eb.",
            "a.eb.c.",
            "..",
            "...",
            "a.eb..c",
            "\u{e4}.eb.c",
            "a.eb.c\n",
            "a.eb.c=",
        ] {
            assert!(check_shape(bad).is_err(), "{bad:?}");
        }
        let long = format!("a.e{}.c", "b".repeat(MAX_TOKEN_BYTES));
        assert_eq!(check_shape(&long), Err(TokenError::Invalid("too long")));
    }
}
