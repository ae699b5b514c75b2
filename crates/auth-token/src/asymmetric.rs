//! Asymmetric keys: reading PEM files, their public JWK and `kid` (RFC 7638 thumbprint).
//!
//! Everything goes through jsonwebtoken (PEM parsing, public components, thumbprint), so
//! both crypto backends read keys the same way. The public JWK is the single source of truth
//! for verification: the service verifies its own tokens with the key rebuilt from the JWK it
//! publishes, exactly as another service holding only the JWKS would.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse,
    ThumbprintHash,
};
use jsonwebtoken::{DecodingKey, EncodingKey};

use crate::{KeyError, SigningAlgorithm};

/// The smallest RSA modulus accepted, in bits.
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// The key families this crate supports; each has exactly one algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Ed25519,
    Ec,
    Rsa,
}

impl Family {
    fn algorithm(self) -> SigningAlgorithm {
        match self {
            Self::Ed25519 => SigningAlgorithm::EdDsa,
            Self::Ec => SigningAlgorithm::Es256,
            Self::Rsa => SigningAlgorithm::Rs256,
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::Ed25519 => "an Ed25519 key",
            Self::Ec => "an EC key",
            Self::Rsa => "an RSA key",
        }
    }
}

/// A key read from a PEM file.
pub(crate) struct PemKey {
    /// The algorithm its type implies.
    pub(crate) algorithm: SigningAlgorithm,
    /// The public JWK with `kid`, `alg` and `use` set.
    pub(crate) jwk: Jwk,
    /// The RFC 7638 SHA-256 thumbprint of the public key, base64url.
    pub(crate) kid: String,
    /// The signing key, when the PEM held a private key.
    pub(crate) signing: Option<EncodingKey>,
}

/// Reads a PEM private key (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`) or public key
/// (`PUBLIC KEY`, `RSA PUBLIC KEY`). With `expected`, a key of another type is refused.
pub(crate) fn read_pem(pem: &[u8], expected: Option<SigningAlgorithm>) -> Result<PemKey, KeyError> {
    let unreadable = |why: &str| KeyError::UnreadablePem(why.to_owned());
    let (family, signing, jwk) = match pem_label(pem)? {
        "PRIVATE KEY" | "RSA PRIVATE KEY" => {
            let (family, key) = if let Ok(key) = EncodingKey::from_ed_pem(pem) {
                (Family::Ed25519, ed25519_pkcs8_v1(key))
            } else if let Ok(key) = EncodingKey::from_ec_pem(pem) {
                (Family::Ec, key)
            } else if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
                (Family::Rsa, key)
            } else {
                return Err(unreadable(
                    "not a readable Ed25519, EC or RSA private key (PKCS#8 or PKCS#1)",
                ));
            };
            check_expected(family, expected)?;
            // Checked before the backend reads it: aws-lc refuses small keys with its own error.
            if family == Family::Rsa {
                match pkcs1_modulus_bits(key.as_bytes()) {
                    Some(bits) if bits < MIN_RSA_BITS => return Err(KeyError::WeakRsaKey(bits)),
                    _ => {}
                }
            }
            let jwk = Jwk::from_encoding_key(&key, family.algorithm().jwt())
                .map_err(|e| damaged(family, e))?;
            (family, Some(key), jwk)
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            let (family, key) = if let Ok(key) = DecodingKey::from_ed_pem(pem) {
                (Family::Ed25519, key)
            } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                (Family::Ec, key)
            } else if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                (Family::Rsa, key)
            } else {
                return Err(unreadable(
                    "not a readable Ed25519, EC or RSA public key (SPKI or PKCS#1)",
                ));
            };
            check_expected(family, expected)?;
            let jwk = Jwk::from_decoding_key(&key, Some(family.algorithm().jwt()))
                .map_err(|e| damaged(family, e))?;
            (family, None, jwk)
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err(unreadable(
                "encrypted private keys are not supported; \
                 decrypt it with `openssl pkcs8 -topk8 -nocrypt`",
            ));
        }
        "EC PRIVATE KEY" => {
            return Err(unreadable(
                "a SEC1 \"EC PRIVATE KEY\"; convert it to PKCS#8 with \
                 `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.p8.pem`",
            ));
        }
        "OPENSSH PRIVATE KEY" => {
            return Err(unreadable(
                "an OpenSSH key; convert it to PKCS#8 PEM \
                 (`ssh-keygen -p -m PKCS8 -f key`) or generate one with `users-api keygen`",
            ));
        }
        "CERTIFICATE" => {
            return Err(unreadable(
                "a certificate; give the key itself (a PEM private or public key)",
            ));
        }
        other => {
            return Err(KeyError::UnreadablePem(format!(
                "unsupported PEM block \"{other}\"; expected \"PRIVATE KEY\" or \"PUBLIC KEY\""
            )));
        }
    };
    let (jwk, kid) = finish_public_jwk(jwk, family)?;
    Ok(PemKey {
        algorithm: family.algorithm(),
        jwk,
        kid,
        signing,
    })
}

/// RFC 8410 PKCS#8 v1 envelope of an Ed25519 private key: 16 fixed bytes, then the seed.
pub(crate) const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 key in the PKCS#8 v1 form jsonwebtoken reads. A v2 key (RFC 5958
/// `OneAsymmetricKey`, which appends the public key, as ring and aws-lc write them) is
/// rewritten to v1 from its seed; the public key is derived from the seed again anyway.
fn ed25519_pkcs8_v1(key: EncodingKey) -> EncodingKey {
    // SEQUENCE (short length) { INTEGER 1, AlgorithmIdentifier { id-Ed25519 },
    // OCTET STRING { OCTET STRING seed }, [1] public key }
    const V2_BODY_PREFIX: [u8; 14] = [
        0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    let der = key.as_bytes();
    match der {
        [0x30, len, body @ ..] if usize::from(*len) == body.len() => {
            match body.strip_prefix(&V2_BODY_PREFIX[..]) {
                Some(rest) if rest.len() > 32 => {
                    let mut v1 = ED25519_PKCS8_V1_PREFIX.to_vec();
                    v1.extend_from_slice(&rest[..32]);
                    EncodingKey::from_ed_der(&v1)
                }
                _ => key,
            }
        }
        _ => key,
    }
}

/// The label of the first PEM block: `PRIVATE KEY` for `-----BEGIN PRIVATE KEY-----`.
fn pem_label(pem: &[u8]) -> Result<&str, KeyError> {
    let text = std::str::from_utf8(pem).map_err(|_| {
        KeyError::UnreadablePem("not PEM text (a DER file? convert it with openssl)".to_owned())
    })?;
    let no_block = || KeyError::UnreadablePem("no \"-----BEGIN ...-----\" line".to_owned());
    const BEGIN: &str = "-----BEGIN ";
    let start = text.find(BEGIN).ok_or_else(no_block)? + BEGIN.len();
    let rest = &text[start..];
    let end = rest.find("-----").ok_or_else(no_block)?;
    Ok(&rest[..end])
}

fn check_expected(family: Family, expected: Option<SigningAlgorithm>) -> Result<(), KeyError> {
    match expected {
        Some(algorithm) if algorithm != family.algorithm() => Err(KeyError::WrongKeyType {
            algorithm,
            expected: algorithm.key_description(),
            found: family.description(),
        }),
        _ => Ok(()),
    }
}

/// The PEM has the right type but its content cannot be used (another curve, a damaged key).
fn damaged(family: Family, e: jsonwebtoken::errors::Error) -> KeyError {
    match family {
        Family::Ec => KeyError::WrongKeyType {
            algorithm: SigningAlgorithm::Es256,
            expected: SigningAlgorithm::Es256.key_description(),
            found: "an EC key that cannot be read as P-256 (another curve?)",
        },
        Family::Ed25519 => KeyError::Unusable {
            what: "an Ed25519 key that cannot be read",
            source: e,
        },
        Family::Rsa => KeyError::Unusable {
            what: "an RSA key that cannot be read",
            source: e,
        },
    }
}

/// Checks a public JWK's parameters against its family, computes its thumbprint and sets
/// `kid` (to the thumbprint), `alg` and `use: "sig"`.
fn finish_public_jwk(mut jwk: Jwk, family: Family) -> Result<(Jwk, String), KeyError> {
    check_public_parameters(&jwk.algorithm, family)?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|source| KeyError::Unusable {
            what: "its thumbprint cannot be computed",
            source,
        })?;
    jwk.common = CommonParameters {
        public_key_use: Some(PublicKeyUse::Signature),
        key_algorithm: Some(KeyAlgorithm::from(family.algorithm().jwt())),
        key_id: Some(kid.clone()),
        ..CommonParameters::default()
    };
    Ok((jwk, kid))
}

/// The public parameters are those of a key of `family` of an acceptable size.
fn check_public_parameters(params: &AlgorithmParameters, family: Family) -> Result<(), KeyError> {
    let len = |b64: &str| URL_SAFE_NO_PAD.decode(b64).map(|v| v.len()).ok();
    match (family, params) {
        (Family::Ed25519, AlgorithmParameters::OctetKeyPair(p))
            if p.curve == EllipticCurve::Ed25519 && len(&p.x) == Some(32) =>
        {
            Ok(())
        }
        (Family::Ec, AlgorithmParameters::EllipticCurve(p)) if p.curve != EllipticCurve::P256 => {
            Err(KeyError::WrongKeyType {
                algorithm: SigningAlgorithm::Es256,
                expected: SigningAlgorithm::Es256.key_description(),
                found: "an EC key on another curve",
            })
        }
        (Family::Ec, AlgorithmParameters::EllipticCurve(p))
            if len(&p.x) == Some(32) && len(&p.y) == Some(32) =>
        {
            Ok(())
        }
        (Family::Rsa, AlgorithmParameters::RSA(p)) => {
            let bits = rsa_modulus_bits(&p.n).ok_or(KeyError::InvalidPublicKey(
                "the RSA modulus is not base64url",
            ))?;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::WeakRsaKey(bits));
            }
            if len(&p.e).unwrap_or(0) == 0 {
                return Err(KeyError::InvalidPublicKey("the RSA exponent is empty"));
            }
            Ok(())
        }
        _ => Err(KeyError::InvalidPublicKey(match family {
            Family::Ed25519 => "the public parameters are not those of an Ed25519 key",
            Family::Ec => "the public parameters are not those of an EC key",
            Family::Rsa => "the public parameters are not those of an RSA key",
        })),
    }
}

/// The size in bits of a base64url big-endian modulus, leading zero bytes ignored.
fn rsa_modulus_bits(n: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
    let first = bytes.iter().position(|b| *b != 0)?;
    let significant = &bytes[first..];
    Some((significant.len() - 1) * 8 + (8 - significant[0].leading_zeros() as usize))
}

/// The modulus size of a PKCS#1 `RSAPrivateKey` (DER: `SEQUENCE { INTEGER version,
/// INTEGER n, ... }`), or `None` when the DER is not shaped so.
fn pkcs1_modulus_bits(der: &[u8]) -> Option<usize> {
    /// One DER TLV: (tag, content, rest).
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    let (0x30, body, _) = tlv(der)? else {
        return None;
    };
    let (0x02, _version, rest) = tlv(body)? else {
        return None;
    };
    let (0x02, n, _) = tlv(rest)? else {
        return None;
    };
    rsa_modulus_bits(&URL_SAFE_NO_PAD.encode(n))
}

/// A public JWK from someone's JWKS, checked: its algorithm, its `kid` (the thumbprint when
/// absent) and the verification key. `Ok(None)` for a key not meant for signatures
/// (`use` other than `sig`), which a verifier skips.
pub(crate) fn read_public_jwk(
    jwk: &Jwk,
) -> Result<Option<(SigningAlgorithm, String, DecodingKey)>, KeyError> {
    let invalid = |why: String| KeyError::InvalidJwks(why);
    let name = jwk
        .common
        .key_id
        .as_deref()
        .unwrap_or("without kid")
        .to_owned();
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Ok(None),
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Family::Ed25519
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Family::Ec,
        AlgorithmParameters::RSA(_) => Family::Rsa,
        AlgorithmParameters::OctetKey(_) => {
            return Err(invalid(format!(
                "key {name}: a symmetric (\"oct\") key; a JWKS must hold public keys only"
            )));
        }
        _ => {
            return Err(invalid(format!(
                "key {name}: unsupported key type or curve (Ed25519, P-256 and RSA are supported)"
            )));
        }
    };
    let algorithm = family.algorithm();
    match jwk.common.key_algorithm {
        Some(alg) if alg != KeyAlgorithm::from(algorithm.jwt()) => {
            return Err(invalid(format!(
                "key {name}: \"alg\" is {alg} but the key is {}, used only with {algorithm}",
                family.description()
            )));
        }
        _ => {}
    }
    check_public_parameters(&jwk.algorithm, family)
        .map_err(|e| invalid(format!("key {name}: {e}")))?;
    let kid = match &jwk.common.key_id {
        Some(kid) => kid.clone(),
        None => jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| invalid(format!("key {name}: {e}")))?,
    };
    let decoding = DecodingKey::from_jwk(jwk).map_err(|e| invalid(format!("key {name}: {e}")))?;
    Ok(Some((algorithm, kid, decoding)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits() {
        assert_eq!(rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0x01])), Some(1));
        assert_eq!(
            rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0x00, 0x80, 0])),
            Some(16)
        );
        assert_eq!(
            rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0xff; 256])),
            Some(2048)
        );
        assert_eq!(
            rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0x7f; 256])),
            Some(2047)
        );
        assert_eq!(rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0; 4])), None);
        assert_eq!(rsa_modulus_bits("!"), None);
    }

    #[test]
    fn pkcs1_modulus() {
        // SEQUENCE { INTEGER 0, INTEGER 0x00 0x80.. (257 bytes: 2048 bits), INTEGER 3 }
        let mut n = vec![0x00, 0x80];
        n.resize(257, 0x01);
        let mut body = vec![0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01];
        body.extend_from_slice(&n);
        body.extend_from_slice(&[0x02, 0x01, 0x03]);
        let mut der = vec![0x30, 0x82];
        der.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        der.extend_from_slice(&body);
        assert_eq!(pkcs1_modulus_bits(&der), Some(2048));
        assert_eq!(pkcs1_modulus_bits(&der[..10]), None);
        assert_eq!(pkcs1_modulus_bits(&[]), None);
        assert_eq!(pkcs1_modulus_bits(&[0x04, 0x00]), None);
    }

    #[test]
    fn a_key_the_backend_cannot_read_keeps_the_backends_error_as_the_source() {
        use std::error::Error as _;
        // PKCS#1 label, valid DER (SEQUENCE { INTEGER 0 }), but no RSA key in it.
        let pem = b"-----BEGIN RSA PRIVATE KEY-----\nMAMCAQA=\n-----END RSA PRIVATE KEY-----\n";
        let Err(e) = read_pem(pem, Some(SigningAlgorithm::Rs256)) else {
            panic!("a damaged RSA key was read");
        };
        assert!(matches!(e, KeyError::Unusable { .. }), "{e:?}");
        let source = e.source().expect("jsonwebtoken's error is the source");
        assert_eq!(
            e.to_string(),
            "the key cannot be used: an RSA key that cannot be read"
        );
        assert!(!e.to_string().contains(&source.to_string()));
    }

    #[test]
    fn labels() {
        assert_eq!(
            pem_label(b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"),
            Ok("PRIVATE KEY")
        );
        assert!(pem_label(b"garbage").is_err());
        assert!(pem_label(b"-----BEGIN ").is_err());
        assert!(pem_label(&[0xff, 0xfe]).is_err());
    }
}
