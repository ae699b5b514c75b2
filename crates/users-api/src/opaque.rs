//! Opaque tokens handed to clients and stored only as a hash: the `mfa_token` of a two-step
//! login and the tokens of mail links.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;

/// 32 random bytes as URL-safe base64 without padding (43 characters). Only
/// [`OpaqueToken::hash`] of it is stored. `Debug` does not show it.
pub struct OpaqueToken(String);

impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

impl OpaqueToken {
    /// Draws a token from the operating system's generator.
    pub fn generate() -> Result<Self, ApiError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| ApiError::internal(std::io::Error::other(e.to_string())))?;
        Ok(Self(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// The token, for the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token, for the client.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The stored form of a token: hex SHA-256.
    pub fn hash(token: &str) -> String {
        Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_random_bytes_url_safe_and_stored_hashed() {
        let a = OpaqueToken::generate().unwrap();
        let b = OpaqueToken::generate().unwrap();
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 43);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let h = OpaqueToken::hash(a.as_str());
        assert_eq!(h.len(), 64);
        assert!(!h.contains(a.as_str()));
        assert_eq!(format!("{a:?}"), "OpaqueToken(<redacted>)");
    }
}
