//! Key material.

use std::fmt;

use crate::KeyError;

/// An HMAC secret. `Debug` shows its length, never its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Wraps secret bytes; an empty secret is refused.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(KeyError::EmptySecret);
        }
        Ok(Self(bytes))
    }

    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: an empty secret cannot be built.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<redacted {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_secret_is_refused() {
        assert_eq!(SecretKey::new(Vec::new()), Err(KeyError::EmptySecret));
    }

    #[test]
    fn debug_is_redacted() {
        let k = SecretKey::new(b"super-secret-value".to_vec()).unwrap();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("super"), "{dbg}");
        assert!(dbg.contains("18 bytes"));
    }
}
