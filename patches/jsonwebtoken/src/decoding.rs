use std::borrow::Cow;
use std::fmt::{Debug, Formatter};
use std::sync::OnceLock;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::de::DeserializeOwned;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::algorithms::{Algorithm, AlgorithmFamily};
use crate::crypto::{CryptoProvider, JwtVerifier};
use crate::errors::{ErrorKind, Result, new_error};
use crate::header::Header;
use crate::jwk::{AlgorithmParameters, Jwk};
#[cfg(feature = "use_pem")]
use crate::pem::decoder::PemEncodedKey;
use crate::serialization::{DecodedJwtPartClaims, b64_decode};
use crate::validation::{Validation, validate};

/// The return type of a successful call to [decode](fn.decode.html).
#[derive(Debug)]
pub struct TokenData<T> {
    /// The decoded JWT header
    pub header: Header,
    /// The decoded JWT claims
    pub claims: T,
}

impl<T> Clone for TokenData<T>
where
    T: Clone,
{
    fn clone(&self) -> Self {
        Self { header: self.header.clone(), claims: self.claims.clone() }
    }
}

/// Takes the result of a rsplit and ensure we only get 2 parts
/// Errors if we don't
macro_rules! expect_two {
    ($iter:expr) => {{
        let mut i = $iter;
        match (i.next(), i.next(), i.next()) {
            (Some(first), Some(second), None) => (first, second),
            _ => return Err(new_error(ErrorKind::InvalidToken)),
        }
    }};
}

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
/// Different kinds of decoding keys.
pub enum DecodingKeyKind {
    /// A raw public key.
    SecretOrDer(Vec<u8>),
    /// RSA public key components.
    RsaModulusExponent {
        /// The modulus of the public key.
        n: Vec<u8>,
        /// The exponent of the public key.
        e: Vec<u8>,
    },
}

impl Debug for DecodingKeyKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SecretOrDer(_) => f.debug_tuple("SecretOrDer").field(&"[redacted]").finish(),
            Self::RsaModulusExponent { .. } => f
                .debug_struct("RsaModulusExponent")
                .field("n", &"[redacted]")
                .field("e", &"[redacted]")
                .finish(),
        }
    }
}

/// All the different kind of keys we can use to decode a JWT.
/// This key can be re-used so make sure you only initialize it once if you can for better performance.
#[derive(Clone, Debug, ZeroizeOnDrop, Zeroize)]
pub struct DecodingKey {
    #[zeroize(skip)]
    family: AlgorithmFamily,
    kind: DecodingKeyKind,
    /// Verification state derived from the key once, for the next verifications (workspace
    /// patch: an HMAC key keyed once instead of once per token). Boxed: it is large.
    prepared: Box<Prepared>,
}

/// What a [`DecodingKey`] keeps between verifications: the HMAC states keyed with its secret
/// (RustCrypto backend), each built the first time its algorithm verifies a token, and the
/// header of the first token it verified. A clone of the key clones them; the `hmac` crate's
/// `zeroize` feature wipes the HMAC states on drop.
#[derive(Clone, Default)]
pub(crate) struct Prepared {
    #[cfg(feature = "rust_crypto")]
    pub(crate) hmac: crate::crypto::rust_crypto::PreparedHmac,
    /// The first header (its encoded bytes and the parse) under a signature this key verified.
    pub(crate) header: OnceLock<(Box<[u8]>, Header)>,
}

impl Zeroize for Prepared {
    fn zeroize(&mut self) {
        // The keyed states are equivalent to the secret: a zeroized key forgets them (dropping
        // them wipes them, with sha2's `zeroize` feature).
        *self = Prepared::default();
    }
}

impl Debug for Prepared {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl DecodingKey {
    /// The algorithm family this key is for.
    pub fn family(&self) -> AlgorithmFamily {
        self.family
    }

    /// The kind of decoding key.
    pub fn kind(&self) -> &DecodingKeyKind {
        &self.kind
    }

    /// If you're using HMAC, use this.
    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        if secret.is_empty() {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        Ok(DecodingKey {
            family: AlgorithmFamily::Hmac,
            kind: DecodingKeyKind::SecretOrDer(secret.to_vec()),
            prepared: Box::default(),
        })
    }

    /// If you're using HMAC with a base64 encoded secret, use this.
    pub fn from_base64_secret(secret: &str) -> Result<Self> {
        let out = STANDARD.decode(secret)?;
        if out.is_empty() {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        Ok(DecodingKey {
            family: AlgorithmFamily::Hmac,
            kind: DecodingKeyKind::SecretOrDer(out),
            prepared: Box::default(),
        })
    }

    /// If you are loading a public RSA key in a PEM format, use this.
    /// Only exists if the feature `use_pem` is enabled.
    #[cfg(feature = "use_pem")]
    pub fn from_rsa_pem(key: &[u8]) -> Result<Self> {
        let pem_key = PemEncodedKey::new(key)?;
        let content = pem_key.as_rsa_key()?;
        Ok(DecodingKey {
            family: AlgorithmFamily::Rsa,
            kind: DecodingKeyKind::SecretOrDer(content.to_vec()),
            prepared: Box::default(),
        })
    }

    /// If you have (n, e) RSA public key components as strings, use this.
    pub fn from_rsa_components(modulus: &str, exponent: &str) -> Result<Self> {
        let n = b64_decode(modulus)?;
        let e = b64_decode(exponent)?;
        Ok(DecodingKey {
            family: AlgorithmFamily::Rsa,
            kind: DecodingKeyKind::RsaModulusExponent { n, e },
            prepared: Box::default(),
        })
    }

    /// If you have (n, e) RSA public key components already decoded, use this.
    pub fn from_rsa_raw_components(modulus: &[u8], exponent: &[u8]) -> Self {
        DecodingKey {
            family: AlgorithmFamily::Rsa,
            kind: DecodingKeyKind::RsaModulusExponent { n: modulus.to_vec(), e: exponent.to_vec() },
            prepared: Box::default(),
        }
    }

    /// If you have a ECDSA public key in PEM format, use this.
    /// Only exists if the feature `use_pem` is enabled.
    #[cfg(feature = "use_pem")]
    pub fn from_ec_pem(key: &[u8]) -> Result<Self> {
        let pem_key = PemEncodedKey::new(key)?;
        let content = pem_key.as_ec_public_key()?;
        Ok(DecodingKey {
            family: AlgorithmFamily::Ec,
            kind: DecodingKeyKind::SecretOrDer(content.to_vec()),
            prepared: Box::default(),
        })
    }

    /// If you have (x,y) ECDSA key components
    pub fn from_ec_components(x: &str, y: &str) -> Result<Self> {
        let x_cmp = b64_decode(x)?;
        let y_cmp = b64_decode(y)?;

        let mut public_key = Vec::with_capacity(1 + x.len() + y.len());
        public_key.push(0x04);
        public_key.extend_from_slice(&x_cmp);
        public_key.extend_from_slice(&y_cmp);

        Ok(DecodingKey {
            family: AlgorithmFamily::Ec,
            kind: DecodingKeyKind::SecretOrDer(public_key),
            prepared: Box::default(),
        })
    }

    /// If you have a EdDSA public key in PEM format, use this.
    /// Only exists if the feature `use_pem` is enabled.
    /// Note: Ed448 keys are not supported
    #[cfg(feature = "use_pem")]
    pub fn from_ed_pem(key: &[u8]) -> Result<Self> {
        let pem_key = PemEncodedKey::new(key)?;
        let content = pem_key.as_ed_public_key()?;
        Ok(DecodingKey {
            family: AlgorithmFamily::Ed,
            kind: DecodingKeyKind::SecretOrDer(content.to_vec()),
            prepared: Box::default(),
        })
    }

    /// If you know what you're doing and have a RSA DER encoded public key, use this.
    pub fn from_rsa_der(der: &[u8]) -> Self {
        DecodingKey {
            family: AlgorithmFamily::Rsa,
            kind: DecodingKeyKind::SecretOrDer(der.to_vec()),
            prepared: Box::default(),
        }
    }

    /// If you know what you're doing and have a EC DER encoded public key, use this.
    pub fn from_ec_der(der: &[u8]) -> Self {
        DecodingKey {
            family: AlgorithmFamily::Ec,
            kind: DecodingKeyKind::SecretOrDer(der.to_vec()),
            prepared: Box::default(),
        }
    }

    /// If you know what you're doing and have a Ed DER encoded public key, use this.
    pub fn from_ed_der(der: &[u8]) -> Self {
        DecodingKey {
            family: AlgorithmFamily::Ed,
            kind: DecodingKeyKind::SecretOrDer(der.to_vec()),
            prepared: Box::default(),
        }
    }

    /// From x part (base64 encoded) of the JWK encoding
    pub fn from_ed_components(x: &str) -> Result<Self> {
        let x_decoded = b64_decode(x)?;
        Ok(DecodingKey {
            family: AlgorithmFamily::Ed,
            kind: DecodingKeyKind::SecretOrDer(x_decoded),
            prepared: Box::default(),
        })
    }

    /// If you have a key in Jwk format
    pub fn from_jwk(jwk: &Jwk) -> Result<Self> {
        match &jwk.algorithm {
            AlgorithmParameters::RSA(params) => {
                DecodingKey::from_rsa_components(&params.n, &params.e)
            }
            AlgorithmParameters::EllipticCurve(params) => {
                DecodingKey::from_ec_components(&params.x, &params.y)
            }
            AlgorithmParameters::OctetKeyPair(params) => DecodingKey::from_ed_components(&params.x),
            AlgorithmParameters::OctetKey(params) => {
                let out = b64_decode(&params.value)?;
                if out.is_empty() {
                    return Err(new_error(ErrorKind::InvalidKeyFormat));
                }
                Ok(DecodingKey {
                    family: AlgorithmFamily::Hmac,
                    kind: DecodingKeyKind::SecretOrDer(out),
                    prepared: Box::default(),
                })
            }
            AlgorithmParameters::Other(_) => Err(ErrorKind::UnsupportedAlgorithm.into()),
        }
    }

    /// What this key keeps between verifications.
    #[cfg_attr(not(feature = "rust_crypto"), allow(dead_code))]
    pub(crate) fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Try to get the key in raw byte format.
    ///
    /// To be used for defining your own `CryptoProvider`.
    pub fn try_get_as_bytes(&self) -> Result<&[u8]> {
        match &self.kind {
            DecodingKeyKind::SecretOrDer(b) => Ok(b),
            DecodingKeyKind::RsaModulusExponent { .. } => Err(ErrorKind::InvalidKeyFormat.into()),
        }
    }
}

impl TryFrom<&Jwk> for DecodingKey {
    type Error = crate::errors::Error;

    fn try_from(jwk: &Jwk) -> Result<Self> {
        Self::from_jwk(jwk)
    }
}

/// Decode and validate a JWT
///
/// If the token or its signature is invalid or the claims fail validation, it will return an error.
///
/// ```rust
/// use serde::{Deserialize, Serialize};
/// use jsonwebtoken::{decode, DecodingKey, Validation, Algorithm};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Claims {
///    sub: String,
///    company: String
/// }
///
/// let token = "a.jwt.token".to_string();
/// // Claims is a struct that implements Deserialize
/// let token_message = decode::<Claims>(&token, &DecodingKey::from_secret("secret".as_ref()).unwrap(), &Validation::new(Algorithm::HS256));
/// ```
pub fn decode<T: DeserializeOwned>(
    token: impl AsRef<[u8]>,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<TokenData<T>> {
    let (header, claims) = decode_parts(token.as_ref(), key, validation)?;
    Ok(TokenData { header: header.into_owned(), claims })
}

/// [`decode`], for the claims alone: the same checks, without building a [`TokenData`] or
/// copying out a header the key already knows (workspace patch).
///
/// ```rust
/// use serde::Deserialize;
/// use jsonwebtoken::{decode_claims, DecodingKey, Validation, Algorithm};
///
/// #[derive(Deserialize)]
/// struct Claims {
///    sub: String,
/// }
///
/// let key = DecodingKey::from_secret(b"secret").unwrap();
/// let claims = decode_claims::<Claims>("a.jwt.token", &key, &Validation::new(Algorithm::HS256));
/// assert!(claims.is_err());
/// ```
pub fn decode_claims<T: DeserializeOwned>(
    token: impl AsRef<[u8]>,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<T> {
    decode_parts(token.as_ref(), key, validation).map(|(_, claims)| claims)
}

/// What [`decode`] and [`decode_claims`] share: the header (borrowed from the key when it is
/// the one the key remembers) and the claims.
fn decode_parts<'k, T: DeserializeOwned>(
    token: &[u8],
    key: &'k DecodingKey,
    validation: &Validation,
) -> Result<(Cow<'k, Header>, T)> {
    let (signature, message) = split_at_last_dot(token)?;
    let (payload, encoded_header) = split_at_last_dot(message)?;
    // Workspace patch: the header a key verified last time, when this token's is the same
    // bytes, is not decoded and parsed again (same bytes, same header, same checks passed).
    let known = key.prepared().header.get().filter(|(bytes, _)| **bytes == *encoded_header);
    let header = match known {
        Some((_, header)) => Cow::Borrowed(header),
        None => {
            let mut header = Header::empty();
            header.read_encoded(encoded_header)?;
            Cow::Owned(header)
        }
    };

    if !validation.algorithms.contains(&header.alg) {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }

    verify_signature(message, signature, &header, validation, key)?;

    // Only a header under a valid signature is remembered, and only the first: someone
    // without the key cannot choose what is kept.
    if known.is_none() && key.prepared().header.get().is_none() {
        let _ = key.prepared().header.set((encoded_header.into(), header.clone().into_owned()));
    }

    let decoded_claims = DecodedJwtPartClaims::from_jwt_part_claims(payload)?;
    let (claims, for_validation) = decoded_claims.deserialize_with_validation()?;
    validate(for_validation, validation)?;

    Ok((header, claims))
}

/// `(after, before)` the last `.` of `bytes`, as `expect_two!(bytes.rsplitn(2, ..))` gave.
fn split_at_last_dot(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    match memchr::memrchr(b'.', bytes) {
        Some(dot) => Ok((&bytes[dot + 1..], &bytes[..dot])),
        None => Err(new_error(ErrorKind::InvalidToken)),
    }
}

/// Decode a JWT with NO VALIDATION
///
/// DANGER: This performs zero validation on the JWT
pub fn insecure_decode<T: DeserializeOwned>(token: impl AsRef<[u8]>) -> Result<TokenData<T>> {
    let token = token.as_ref();

    let (_, message) = expect_two!(token.rsplitn(2, |b| *b == b'.'));
    let (payload, header) = expect_two!(message.rsplitn(2, |b| *b == b'.'));

    let header = Header::from_encoded_unchecked(header)?;
    let claims = DecodedJwtPartClaims::from_jwt_part_claims(payload)?.deserialize()?;

    Ok(TokenData { header, claims })
}

/// Decode a JWTs claims with NO VALIDATION
///
/// DANGER: This performs zero validation on the JWT
pub fn insecure_decode_claims<T: DeserializeOwned>(token: impl AsRef<[u8]>) -> Result<T> {
    let token = token.as_ref();

    let (_, message) = expect_two!(token.rsplitn(2, |b| *b == b'.'));
    let (payload, _) = expect_two!(message.rsplitn(2, |b| *b == b'.'));

    let claims = DecodedJwtPartClaims::from_jwt_part_claims(payload)?.deserialize()?;

    Ok(claims)
}

/// Decode a JWT without any signature verification/validations and return its [Header](struct.Header.html).
///
/// If the token has an invalid format (ie 3 parts separated by a `.`), it will return an error.
///
/// ```rust
/// use jsonwebtoken::decode_header;
///
/// let token = "a.jwt.token".to_string();
/// let header = decode_header(&token);
/// ```
pub fn decode_header(token: impl AsRef<[u8]>) -> Result<Header> {
    let token = token.as_ref();
    let (_, message) = expect_two!(token.rsplitn(2, |b| *b == b'.'));
    let (_, header) = expect_two!(message.rsplitn(2, |b| *b == b'.'));
    Header::from_encoded_unchecked(header)
}

/// Checks the algorithms and the signature, through the process's crypto provider. With
/// RustCrypto as the provider, an HMAC signature is checked from the key's prepared state
/// (workspace patch): the same checks in the same order, and no verifier boxed.
fn verify_signature(
    message: &[u8],
    signature: &[u8],
    header: &Header,
    validation: &Validation,
    key: &DecodingKey,
) -> Result<()> {
    let provider = CryptoProvider::get_default();
    #[cfg(feature = "rust_crypto")]
    if header.alg.family() == AlgorithmFamily::Hmac
        && std::ptr::eq(provider, &crate::crypto::rust_crypto::DEFAULT_PROVIDER)
    {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        check_algorithms(header.alg, header, validation)?;
        let signature = b64_decode(signature)?;
        if !crate::crypto::rust_crypto::verify_prepared(header.alg, key, message, &signature)? {
            return Err(new_error(ErrorKind::InvalidSignature));
        }
        return Ok(());
    }
    let verifying_provider = (provider.verifier_factory)(&header.alg, key)?;
    verify_signature_body(message, signature, header, validation, verifying_provider)
}

pub(crate) fn verify_signature_body(
    message: &[u8],
    signature: &[u8],
    header: &Header,
    validation: &Validation,
    verifying_provider: Box<dyn JwtVerifier>,
) -> Result<()> {
    check_algorithms(verifying_provider.algorithm(), header, validation)?;

    if verifying_provider.verify(message, &b64_decode(signature)?).is_err() {
        return Err(new_error(ErrorKind::InvalidSignature));
    }

    Ok(())
}

/// The algorithm checks before a signature is verified by a verifier for `verifier_algorithm`.
fn check_algorithms(
    verifier_algorithm: Algorithm,
    header: &Header,
    validation: &Validation,
) -> Result<()> {
    if validation.algorithms.is_empty() {
        return Err(new_error(ErrorKind::MissingAlgorithm));
    }

    for alg in &validation.algorithms {
        if verifier_algorithm.family() != alg.family() {
            return Err(new_error(ErrorKind::InvalidAlgorithm));
        }
    }

    if !validation.algorithms.contains(&header.alg) {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }

    Ok(())
}
