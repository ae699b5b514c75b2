//! Typed errors whose `Display` is the contract's client-facing text.

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
}
