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

/// A token could not be issued (a server-side fault, never the client's).
#[derive(Debug, thiserror::Error)]
#[error("could not issue a token: {0}")]
pub struct IssueError(#[from] pub(crate) jsonwebtoken::errors::Error);

/// A key or the token settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// An empty HMAC secret.
    #[error("the secret key is empty")]
    EmptySecret,
    /// A key the crypto backend refuses.
    #[error("the key cannot be used: {0}")]
    Unusable(String),
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
    /// One of the previous (verify-only) keys, numbered from 1 in the order given.
    #[error("previous key {index}: {error}")]
    PreviousKey {
        /// 1-based position in the list of previous keys.
        index: usize,
        /// What is wrong with it.
        error: Box<KeyError>,
    },
    /// A JWKS document that cannot be used to verify tokens.
    #[error("the JWKS cannot be used: {0}")]
    InvalidJwks(String),
}
