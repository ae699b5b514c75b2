//! Typed errors whose `Display` is the contract's client-facing text.

use crate::SigningAlgorithm;

/// A token that cannot be accepted. Only two messages ever reach a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token's `exp` has passed.
    #[error("Signature expired. Please log in again.")]
    Expired,
    /// Anything else: bad signature, algorithm, shape, claims. The reason is for logs only.
    #[error("Invalid token. Please log in again.")]
    Invalid(&'static str),
}

/// A token could not be issued (a server-side fault, never the client's). The cause is its
/// [`source`](std::error::Error::source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not issue a token")]
pub struct IssueError(#[from] pub(crate) jsonwebtoken::errors::Error);

/// A key or the token settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// An empty HMAC secret.
    #[error("the secret key is empty")]
    EmptySecret,
    /// A key the crypto backend (jsonwebtoken) refuses; the backend's error is the source.
    #[error("the key cannot be used: {what}")]
    Unusable {
        /// What could not be done with the key, e.g. "an RSA key that cannot be read".
        what: &'static str,
        /// The backend's error.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// A public key whose parameters are not those of a key of its type (checked here, so
    /// there is no other error behind it).
    #[error("the key cannot be used: {0}")]
    InvalidPublicKey(&'static str),
    /// No crypto backend for jsonwebtoken (a build without exactly one of its features).
    #[error("no crypto backend is available for jsonwebtoken")]
    NoCryptoBackend,
    /// An asymmetric algorithm was chosen but no private key was given.
    #[error("{0} needs a PEM private key")]
    MissingPrivateKey(SigningAlgorithm),
    /// The bytes are not a PEM key this crate reads (the reason says what to do).
    #[error("the key is not a usable PEM key: {0}")]
    UnreadablePem(String),
    /// A key of another type than the algorithm needs, e.g. an RSA key with ES256.
    #[error("{algorithm} needs {expected}, but the key is {found}")]
    WrongKeyType {
        /// The configured algorithm.
        algorithm: SigningAlgorithm,
        /// The key it needs.
        expected: &'static str,
        /// The key that was given.
        found: &'static str,
    },
    /// A public key where a private key is needed to sign.
    #[error("the signing key must be a private key, but a public key was given")]
    PublicKeyCannotSign,
    /// An RSA key under 2048 bits.
    #[error("the RSA key has {0} bits; at least 2048 are required")]
    WeakRsaKey(usize),
    /// HS256 has no key pair: it signs with the shared secret.
    #[error("HS256 signs with the shared secret; there is no key pair to generate")]
    NoKeyPair,
    /// The backend could not generate a key.
    #[error("key generation failed: {0}")]
    Generation(String),
    /// One of the previous (verify-only) keys, numbered from 1 in the order given; what is
    /// wrong with it is the source.
    #[error("previous key {index} cannot be used")]
    PreviousKey {
        /// 1-based position in the list of previous keys.
        index: usize,
        /// What is wrong with it.
        #[source]
        error: Box<KeyError>,
    },
    /// A JWKS document that cannot be used to verify tokens.
    #[error("the JWKS cannot be used: {0}")]
    InvalidJwks(String),
}

/// The start-up self-test of a [`TokenService`](crate::TokenService) failed: a token it
/// issued did not come back. The cause, when there is one, is the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelfTestError {
    /// The token could not be issued.
    #[error("token self-test: the token could not be issued")]
    Issue(#[source] IssueError),
    /// The service's own published JWKS does not load into a verifier.
    #[error("token self-test: our own JWKS does not load")]
    Jwks(#[source] KeyError),
    /// A verifier refused the token. The source is the client-facing [`TokenError`]; the
    /// reason it carries for logs is in this error's message.
    #[error("token self-test{}: the token was refused ({reason})", .check.suffix())]
    Refused {
        /// Which verification refused it.
        check: SelfTestCheck,
        /// Why, for logs (`TokenError::Invalid`'s reason, or `"expired"`).
        reason: &'static str,
        /// The verifier's error.
        #[source]
        source: TokenError,
    },
    /// A verifier accepted the token but read another subject.
    #[error("token self-test{}: the token decoded to the wrong subject", .0.suffix())]
    WrongSubject(SelfTestCheck),
}

/// The verifications of [`TokenService::self_test`](crate::TokenService::self_test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfTestCheck {
    /// The service's own verification.
    Service,
    /// A `JwksVerifier` built from the published JWKS alone, as another service would.
    Jwks,
}

impl SelfTestCheck {
    fn suffix(self) -> &'static str {
        match self {
            Self::Service => "",
            Self::Jwks => " with the JWKS",
        }
    }
}

impl TokenError {
    /// Why the token was refused, for logs: `"expired"` or the reason of
    /// [`Invalid`](Self::Invalid). Never shown to a client.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Invalid(reason) => reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn self_test_errors_keep_their_cause_as_the_source() {
        let refused = SelfTestError::Refused {
            check: SelfTestCheck::Jwks,
            reason: TokenError::Invalid("signature").reason(),
            source: TokenError::Invalid("signature"),
        };
        assert_eq!(
            refused.to_string(),
            "token self-test with the JWKS: the token was refused (signature)"
        );
        let source = refused.source().expect("the TokenError is the source");
        assert_eq!(source.to_string(), "Invalid token. Please log in again.");

        let jwks = SelfTestError::Jwks(KeyError::InvalidJwks("no keys".into()));
        assert_eq!(
            jwks.source().map(ToString::to_string).as_deref(),
            Some("the JWKS cannot be used: no keys")
        );
        assert!(!jwks.to_string().contains("no keys"));

        let issue = SelfTestError::Issue(IssueError(jsonwebtoken::errors::new_error(
            jsonwebtoken::errors::ErrorKind::InvalidKeyFormat,
        )));
        let cause = issue.source().and_then(|e| e.source());
        assert!(cause.is_some(), "the chain reaches jsonwebtoken's error");
        assert_eq!(
            SelfTestError::WrongSubject(SelfTestCheck::Service).to_string(),
            "token self-test: the token decoded to the wrong subject"
        );
    }

    #[test]
    fn token_error_reasons_are_for_logs_and_the_display_stays_the_contracts() {
        assert_eq!(TokenError::Expired.reason(), "expired");
        assert_eq!(TokenError::Invalid("kid").reason(), "kid");
        assert_eq!(
            TokenError::Invalid("kid").to_string(),
            "Invalid token. Please log in again."
        );
    }
}
