//! The signing algorithms a deployment may choose (`JWT_ALGORITHM`).

use std::fmt;
use std::str::FromStr;

use jsonwebtoken::Algorithm;

/// The algorithm that signs access tokens. Each maps to exactly one JWS `alg` and one key
/// type; nothing else is ever accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 with the shared `SECRET_KEY` (the seed's algorithm, the default).
    Hs256,
    /// Ed25519 signatures (RFC 8037).
    EdDsa,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (keys of 2048 bits or more).
    Rs256,
}

impl SigningAlgorithm {
    /// Every algorithm, the default first.
    pub const ALL: [SigningAlgorithm; 4] = [Self::Hs256, Self::EdDsa, Self::Es256, Self::Rs256];

    /// The JWS `alg` value: `HS256`, `EdDSA`, `ES256` or `RS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    /// True for the algorithms that sign with a private key and publish a JWKS.
    pub fn is_asymmetric(self) -> bool {
        self != Self::Hs256
    }

    /// The key this algorithm needs, for error messages.
    pub(crate) fn key_description(self) -> &'static str {
        match self {
            Self::Hs256 => "a shared secret",
            Self::EdDsa => "an Ed25519 key",
            Self::Es256 => "a P-256 EC key",
            Self::Rs256 => "an RSA key",
        }
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
            Self::Rs256 => Algorithm::RS256,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of `HS256`, `EdDSA`, `ES256`, `RS256` (in any case).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown JWT algorithm {0:?}: expected one of HS256, EdDSA, ES256, RS256")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for SigningAlgorithm {
    type Err = UnknownAlgorithm;

    /// Case-insensitive: `eddsa`, `EdDSA` and `EDDSA` are all EdDSA. Surrounding spaces are
    /// not trimmed: `" HS256"` is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case() {
        for (text, alg) in [
            ("HS256", SigningAlgorithm::Hs256),
            ("hs256", SigningAlgorithm::Hs256),
            ("EdDSA", SigningAlgorithm::EdDsa),
            ("eddsa", SigningAlgorithm::EdDsa),
            ("EDDSA", SigningAlgorithm::EdDsa),
            ("es256", SigningAlgorithm::Es256),
            ("Rs256", SigningAlgorithm::Rs256),
        ] {
            assert_eq!(text.parse::<SigningAlgorithm>(), Ok(alg), "{text}");
        }
        for alg in SigningAlgorithm::ALL {
            assert_eq!(alg.as_str().parse::<SigningAlgorithm>(), Ok(alg));
            assert_eq!(alg.to_string(), alg.as_str());
        }
    }

    #[test]
    fn refuses_others() {
        for text in [
            "", "none", "HS384", "ES384", "PS256", "Ed25519", " HS256", "HS256 ",
        ] {
            let err = text.parse::<SigningAlgorithm>().unwrap_err();
            assert_eq!(err, UnknownAlgorithm(text.to_owned()));
        }
        assert!(
            "x".parse::<SigningAlgorithm>()
                .unwrap_err()
                .to_string()
                .contains("HS256, EdDSA, ES256, RS256")
        );
    }
}
