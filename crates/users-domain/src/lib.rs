#![doc = include_str!("../README.md")]

mod claims;
mod password;
mod session;
pub mod totp;
mod user;
mod value;

pub use claims::{Audience, Claims};
pub use password::{HashCost, PasswordError, PasswordHash, PasswordHasher, release_hash_memory};
pub use session::{RefreshDecision, decide_refresh};
pub use user::{InvalidField, NewUser, Signup, User, now_utc};
pub use value::{
    Email, MAX_FIELD_CHARS, MAX_PASSWORD_BYTES, Password, PasswordPolicy, UserId, Username,
    ValueError,
};
