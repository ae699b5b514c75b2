//! New key pairs, written as PKCS#8 PEM (`users-api keygen`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::{KeyError, SigningAlgorithm};

/// The size of generated RSA keys, in bits.
pub const RSA_KEY_BITS: usize = 3072;

/// A new private key for `algorithm` as a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`):
/// Ed25519 for EdDSA, P-256 for ES256, RSA of [`RSA_KEY_BITS`] bits (e = 65537) for RS256.
/// HS256 has no key pair ([`KeyError::NoKeyPair`]).
///
/// The key is read back before it is returned, so what this writes the service can load.
pub fn generate_private_key_pem(algorithm: SigningAlgorithm) -> Result<String, KeyError> {
    if algorithm == SigningAlgorithm::Hs256 {
        return Err(KeyError::NoKeyPair);
    }
    let der = backend::pkcs8_der(algorithm)?;
    let pem = pem_armor("PRIVATE KEY", &der);
    let key = crate::asymmetric::read_pem(pem.as_bytes(), Some(algorithm))
        .map_err(|e| KeyError::Generation(format!("the new key does not read back: {e}")))?;
    if key.signing.is_none() {
        return Err(KeyError::Generation(
            "the new key is not private".to_owned(),
        ));
    }
    Ok(pem)
}

/// RFC 7468 text encoding: base64 in lines of 64 characters.
fn pem_armor(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(feature = "rust_crypto")]
mod backend {
    //! RustCrypto: the crates jsonwebtoken's `rust_crypto` backend already links (p256, rsa),
    //! and the operating system's RNG.

    use p256::elliptic_curve::Generate as _;
    use p256::pkcs8::EncodePrivateKey as _;

    use super::RSA_KEY_BITS;
    use crate::{KeyError, SigningAlgorithm};

    /// The operating system's RNG (getrandom) as a `rand_core` 0.10 cryptographic RNG.
    struct OsRng;

    impl rsa::rand_core::TryRng for OsRng {
        type Error = getrandom::Error;

        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            getrandom::u32()
        }

        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            getrandom::u64()
        }

        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            getrandom::fill(dst)
        }
    }

    impl rsa::rand_core::TryCryptoRng for OsRng {}

    pub(super) fn pkcs8_der(algorithm: SigningAlgorithm) -> Result<Vec<u8>, KeyError> {
        let failed = |e: &dyn std::fmt::Display| KeyError::Generation(e.to_string());
        let der = match algorithm {
            SigningAlgorithm::Hs256 => return Err(KeyError::NoKeyPair),
            SigningAlgorithm::EdDsa => {
                // RFC 8410: the 32-byte seed in a fixed PKCS#8 v1 envelope.
                let prefix = crate::asymmetric::ED25519_PKCS8_V1_PREFIX;
                let mut der = prefix.to_vec();
                der.resize(prefix.len() + 32, 0);
                getrandom::fill(&mut der[prefix.len()..]).map_err(|e| failed(&e))?;
                return Ok(der);
            }
            SigningAlgorithm::Es256 => p256::SecretKey::try_generate_from_rng(&mut OsRng)
                .map_err(|e| failed(&e))?
                .to_pkcs8_der()
                .map_err(|e| failed(&e))?,
            SigningAlgorithm::Rs256 => rsa::PrivateKey::new(&mut OsRng, RSA_KEY_BITS)
                .map_err(|e| failed(&e))?
                .to_pkcs8_der()
                .map_err(|e| failed(&e))?,
        };
        Ok(der.as_bytes().to_vec())
    }
}

#[cfg(all(feature = "aws_lc_rs", not(feature = "rust_crypto")))]
mod backend {
    //! aws-lc-rs: the crate jsonwebtoken's `aws_lc_rs` backend already links.

    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};

    use super::RSA_KEY_BITS;
    use crate::{KeyError, SigningAlgorithm};

    pub(super) fn pkcs8_der(algorithm: SigningAlgorithm) -> Result<Vec<u8>, KeyError> {
        let failed = |what: &str| KeyError::Generation(format!("aws-lc-rs: {what}"));
        Ok(match algorithm {
            SigningAlgorithm::Hs256 => return Err(KeyError::NoKeyPair),
            SigningAlgorithm::EdDsa => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| failed("Ed25519 generation"))?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| failed("P-256 generation"))?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::Rs256 => {
                let size = match RSA_KEY_BITS {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let key = RsaKeyPair::generate(size).map_err(|_| failed("RSA generation"))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
                    key.as_der().map_err(|_| failed("RSA PKCS#8 encoding"))?;
                der.as_ref().to_vec()
            }
        })
    }
}

#[cfg(not(any(feature = "rust_crypto", feature = "aws_lc_rs")))]
mod backend {
    use crate::{KeyError, SigningAlgorithm};

    pub(super) fn pkcs8_der(_: SigningAlgorithm) -> Result<Vec<u8>, KeyError> {
        Err(KeyError::NoCryptoBackend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armor_wraps_at_64() {
        let pem = pem_armor("PRIVATE KEY", &[0u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PRIVATE KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END PRIVATE KEY-----"));
        assert!(pem.ends_with("-----\n"));
    }

    #[test]
    fn hs256_has_no_key_pair() {
        assert_eq!(
            generate_private_key_pem(SigningAlgorithm::Hs256),
            Err(KeyError::NoKeyPair)
        );
    }
}
