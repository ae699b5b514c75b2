#![doc = include_str!("../README.md")]

mod algorithm;
mod asymmetric;
mod error;
mod keygen;
mod keys;
mod refresh;
mod service;
mod verifier;

pub use algorithm::{SigningAlgorithm, UnknownAlgorithm};
pub use error::{IssueError, KeyError, SelfTestCheck, SelfTestError, TokenError};
pub use keygen::{RSA_KEY_BITS, generate_private_key_pem};
pub use keys::SecretKey;
pub use refresh::{RefreshClaims, RefreshTokens};
pub use service::{TokenService, TokenSettings, unix_now};
pub use users_domain::Claims;
pub use verifier::{JwksVerifier, MAX_TOKEN_BYTES};
