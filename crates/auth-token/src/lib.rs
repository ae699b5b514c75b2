#![doc = include_str!("../README.md")]

mod error;
mod keys;
mod refresh;
mod service;

pub use error::{IssueError, KeyError, TokenError};
pub use keys::SecretKey;
pub use refresh::{RefreshClaims, RefreshTokens};
pub use service::{MAX_TOKEN_BYTES, TokenService, TokenSettings, unix_now};
pub use users_domain::Claims;
