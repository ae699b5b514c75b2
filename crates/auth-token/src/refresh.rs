//! Opaque refresh tokens, derived rather than stored: `<sid>.<counter>.<mac>`, where `mac` is
//! HMAC-SHA256 over the session id and counter under a key derived from the server secret.
//! The database keeps only the session's current counter.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac};
use sha2::Sha256;

use crate::SecretKey;

type HmacSha256 = Hmac<Sha256>;

/// Longest refresh token accepted, in bytes.
const MAX_REFRESH_TOKEN_BYTES: usize = 256;

/// A refresh token's contents, once its MAC checks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshClaims {
    /// The session.
    pub sid: String,
    /// Which token of the session's chain.
    pub counter: i64,
}

/// Issues and checks refresh tokens.
#[derive(Clone)]
pub struct RefreshTokens {
    key: HmacSha256,
}

impl fmt::Debug for RefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokens(<redacted>)")
    }
}

impl RefreshTokens {
    /// Derives the refresh-token key from the server secret (domain-separated, so it never
    /// equals the access-token key).
    pub fn new(secret: &SecretKey) -> Self {
        let mut derive = HmacSha256::new_from_slice(secret.expose())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        derive.update(b"users-service refresh-token key v1");
        let key = derive.finalize().into_bytes();
        Self {
            key: HmacSha256::new_from_slice(&key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length")),
        }
    }

    fn mac(&self, sid: &str, counter: i64) -> HmacSha256 {
        let mut mac = self.key.clone();
        mac.update(sid.as_bytes());
        mac.update(b"|");
        mac.update(counter.to_string().as_bytes());
        mac
    }

    /// The token for step `counter` of session `sid`.
    pub fn issue(&self, sid: &str, counter: i64) -> String {
        let tag = self.mac(sid, counter).finalize().into_bytes();
        format!("{sid}.{counter}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Reads a token, verifying its MAC in constant time. `None` for anything not issued
    /// by [`issue`](Self::issue) with this key.
    pub fn verify(&self, token: &str) -> Option<RefreshClaims> {
        if token.len() > MAX_REFRESH_TOKEN_BYTES {
            return None;
        }
        let mut parts = token.split('.');
        let (sid, counter, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || sid.is_empty()
            || !sid.bytes().all(|b| b.is_ascii_alphanumeric())
            || counter.is_empty()
            || !counter.bytes().all(|b| b.is_ascii_digit())
            // No leading zeros: exactly one token per (sid, counter).
            || (counter.len() > 1 && counter.starts_with('0'))
        {
            return None;
        }
        let counter: i64 = counter.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(sid, counter).verify_slice(&tag).ok()?;
        Some(RefreshClaims {
            sid: sid.to_owned(),
            counter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &[u8]) -> RefreshTokens {
        RefreshTokens::new(&SecretKey::new(secret.to_vec()).unwrap())
    }

    #[test]
    fn round_trip() {
        let t = tokens(b"secret");
        let token = t.issue("abc123", 7);
        assert_eq!(
            t.verify(&token),
            Some(RefreshClaims {
                sid: "abc123".into(),
                counter: 7
            })
        );
        // 256-bit tag: far more than 128 bits of entropy.
        assert!(token.len() > "abc123.7.".len() + 40);
    }

    #[test]
    fn deterministic_per_session_and_counter() {
        let t = tokens(b"secret");
        assert_eq!(t.issue("s", 1), t.issue("s", 1));
        assert_ne!(t.issue("s", 1), t.issue("s", 2));
        assert_ne!(t.issue("s", 1), t.issue("t", 1));
    }

    #[test]
    fn forgeries_are_refused() {
        let t = tokens(b"secret");
        let other = tokens(b"other secret");
        let good = t.issue("abc", 3);
        assert_eq!(other.verify(&good), None);
        let (prefix, tag) = good.rsplit_once('.').unwrap();
        let bumped = format!("{}.4.{tag}", prefix.split('.').next().unwrap());
        for bad in [
            "",
            "abc",
            "abc.3",
            "abc.3.",
            "abc.03.x",
            bumped.as_str(),
            &format!("{good}.x"),
            &format!("{prefix}.{}", &tag[..tag.len() - 1]),
            &format!("{prefix}.{tag}="),
            &format!("a-b.3.{tag}"),
            &"a".repeat(300),
        ] {
            assert_eq!(t.verify(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn access_secret_is_not_the_refresh_key() {
        // A refresh MAC is not an HMAC under SECRET_KEY itself.
        let secret = b"secret";
        let t = tokens(secret);
        let token = t.issue("s", 0);
        let mut plain = HmacSha256::new_from_slice(secret).unwrap();
        plain.update(b"s|0");
        let plain = URL_SAFE_NO_PAD.encode(plain.finalize().into_bytes());
        assert!(!token.ends_with(&plain));
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", tokens(b"k")), "RefreshTokens(<redacted>)");
    }
}
