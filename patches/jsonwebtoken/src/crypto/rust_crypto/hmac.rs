//! Implementations of the [`JwtSigner`] and [`JwtVerifier`] traits for the
//! HMAC family of algorithms using `RustCrypto`'s [`hmac`].

use std::sync::OnceLock;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha384, Sha512};
use signature::{Signer, Verifier};

use crate::crypto::{JwtSigner, JwtVerifier};
use crate::errors::{ErrorKind, Result, new_error};
use crate::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};

type HmacSha256 = Hmac<Sha256>;
type HmacSha384 = Hmac<Sha384>;
type HmacSha512 = Hmac<Sha512>;

/// Macro to define an HMAC signer for a specific algorithm
macro_rules! define_hmac_signer {
    ($name:ident, $alg:expr, $hmac_type:ty) => {
        pub struct $name($hmac_type);

        impl $name {
            pub(crate) fn new(encoding_key: &EncodingKey) -> Result<Self> {
                if encoding_key.family() != AlgorithmFamily::Hmac {
                    return Err(new_error(ErrorKind::InvalidKeyFormat));
                }

                let inner = <$hmac_type>::new_from_slice(encoding_key.as_bytes())
                    .map_err(|_| ErrorKind::InvalidKeyFormat)?;

                Ok(Self(inner))
            }
        }

        impl Signer<Vec<u8>> for $name {
            fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
                let mut signer = self.0.clone();
                signer.update(msg);

                Ok(signer.finalize().into_bytes().to_vec())
            }
        }

        impl JwtSigner for $name {
            fn algorithm(&self) -> Algorithm {
                $alg
            }
        }
    };
}

/// HMAC states keyed with a [`DecodingKey`]'s secret, one per hash, each built the first
/// time it is needed and cloned for every verification after: the key schedule (two
/// compression-function calls over the padded key) is paid once per key, not once per token.
#[derive(Clone, Default)]
pub(crate) struct PreparedHmac {
    sha256: OnceLock<HmacSha256>,
    sha384: OnceLock<HmacSha384>,
    sha512: OnceLock<HmacSha512>,
}

/// The keyed state in `cell`, keyed from `key` the first time.
fn keyed<'a, M: KeyInit>(cell: &'a OnceLock<M>, key: &DecodingKey) -> Result<&'a M> {
    if let Some(state) = cell.get() {
        return Ok(state);
    }
    let state =
        M::new_from_slice(key.try_get_as_bytes()?).map_err(|_| ErrorKind::InvalidKeyFormat)?;
    // Another thread may have set it meanwhile: the same key gives the same state.
    let _ = cell.set(state);
    cell.get().ok_or_else(|| new_error(ErrorKind::InvalidKeyFormat))
}

/// Verifies an HMAC signature from the key's prepared state, with no verifier built
/// (workspace patch: what `decode` does when the process's provider is this one). `Ok(false)`
/// is a wrong signature; an error, a key that is not an HMAC secret.
pub(crate) fn verify_prepared(
    algorithm: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<bool> {
    fn verify<M: KeyInit + Mac + Clone>(
        cell: &OnceLock<M>,
        key: &DecodingKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool> {
        let mut mac = keyed(cell, key)?.clone();
        mac.update(message);
        Ok(mac.verify_slice(signature).is_ok())
    }

    if key.family() != AlgorithmFamily::Hmac {
        return Err(new_error(ErrorKind::InvalidKeyFormat));
    }
    let prepared = &key.prepared().hmac;
    match algorithm {
        Algorithm::HS256 => verify(&prepared.sha256, key, message, signature),
        Algorithm::HS384 => verify(&prepared.sha384, key, message, signature),
        Algorithm::HS512 => verify(&prepared.sha512, key, message, signature),
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    }
}

/// Macro to define an HMAC verifier for a specific algorithm
macro_rules! define_hmac_verifier {
    ($name:ident, $alg:expr, $hmac_type:ty, $prepared:ident) => {
        pub struct $name($hmac_type);

        impl $name {
            pub(crate) fn new(decoding_key: &DecodingKey) -> Result<Self> {
                if decoding_key.family() != AlgorithmFamily::Hmac {
                    return Err(new_error(ErrorKind::InvalidKeyFormat));
                }

                let inner = keyed(&decoding_key.prepared().hmac.$prepared, decoding_key)?.clone();

                Ok(Self(inner))
            }
        }

        impl Verifier<Vec<u8>> for $name {
            fn verify(
                &self,
                msg: &[u8],
                signature: &Vec<u8>,
            ) -> std::result::Result<(), signature::Error> {
                let mut verifier = self.0.clone();
                verifier.update(msg);

                verifier.verify_slice(signature).map_err(signature::Error::from_source)
            }
        }

        impl JwtVerifier for $name {
            fn algorithm(&self) -> Algorithm {
                $alg
            }
        }
    };
}

// Define HMAC signers using the macro
define_hmac_signer!(Hs256Signer, Algorithm::HS256, HmacSha256);
define_hmac_signer!(Hs384Signer, Algorithm::HS384, HmacSha384);
define_hmac_signer!(Hs512Signer, Algorithm::HS512, HmacSha512);

// Define HMAC verifiers using the macro
define_hmac_verifier!(Hs256Verifier, Algorithm::HS256, HmacSha256, sha256);
define_hmac_verifier!(Hs384Verifier, Algorithm::HS384, HmacSha384, sha384);
define_hmac_verifier!(Hs512Verifier, Algorithm::HS512, HmacSha512, sha512);
