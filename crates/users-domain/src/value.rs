//! Value types that can only hold valid values.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest username or email, in characters (the `users` table's `VARCHAR(128)`).
pub const MAX_FIELD_CHARS: usize = 128;

/// Longest password, in bytes. Longer input is refused, never truncated.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Empty, or only whitespace.
    #[error("value is empty")]
    Empty,
    /// Longer than the column or policy allows.
    #[error("value is too long")]
    TooLong,
    /// Shorter than the policy allows.
    #[error("value is too short")]
    TooShort,
    /// Contains a control character.
    #[error("value contains a control character")]
    ControlCharacter,
    /// Not of the expected shape (an email without exactly one `@`, say).
    #[error("value is malformed")]
    Malformed,
}

/// The primary key of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(i32);

impl UserId {
    /// Wraps a raw id as stored in the database.
    pub const fn new(id: i32) -> Self {
        Self(id)
    }

    /// The raw id.
    pub const fn get(self) -> i32 {
        self.0
    }

    /// Parses a decimal id as found in a URL path or a token's `sub`: digits only, positive.
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<i32>().ok().filter(|id| *id > 0).map(Self)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn check_text(s: &str, max_chars: usize) -> Result<(), ValueError> {
    if s.trim().is_empty() {
        return Err(ValueError::Empty);
    }
    if s.chars().count() > max_chars {
        return Err(ValueError::TooLong);
    }
    if s.chars().any(char::is_control) {
        return Err(ValueError::ControlCharacter);
    }
    Ok(())
}

/// A username: 1 to 128 characters, not only whitespace, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Parses a username, keeping it as given.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        check_text(s, MAX_FIELD_CHARS)?;
        Ok(Self(s.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, lower-cased: exactly one `@` with a non-empty local part and domain,
/// at most 128 characters, no whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses and lower-cases an email address.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        check_text(s, MAX_FIELD_CHARS)?;
        if s.chars().any(char::is_whitespace) {
            return Err(ValueError::Malformed);
        }
        let lower = s.to_lowercase();
        if lower.chars().count() > MAX_FIELD_CHARS {
            return Err(ValueError::TooLong);
        }
        match lower.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Self(lower))
            }
            _ => Err(ValueError::Malformed),
        }
    }

    /// The lower-cased address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The password rules of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters a new password may have (at least 1).
    pub min_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_chars: 1 }
    }
}

/// A plain-text password. Its `Debug` never shows the value, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Parses a new password against the policy: at least `min_chars` characters, at most
    /// [`MAX_PASSWORD_BYTES`] bytes, never truncated.
    pub fn parse(s: &str, policy: PasswordPolicy) -> Result<Self, ValueError> {
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        if s.len() > MAX_PASSWORD_BYTES {
            return Err(ValueError::TooLong);
        }
        if s.chars().count() < policy.min_chars.max(1) {
            return Err(ValueError::TooShort);
        }
        Ok(Self(s.to_owned()))
    }

    /// Takes a password offered at login: any non-empty string of at most
    /// [`MAX_PASSWORD_BYTES`] bytes (the length policy applies to new passwords only, so a
    /// stricter policy does not lock out existing users).
    pub fn for_login(s: &str) -> Result<Self, ValueError> {
        Self::parse(s, PasswordPolicy { min_chars: 1 })
    }

    /// The password's bytes, for hashing.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_parses_positive_decimals_only() {
        assert_eq!(UserId::parse("42"), Some(UserId::new(42)));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1.0",
            "blah",
            "99999999999",
            "2147483648",
        ] {
            assert_eq!(UserId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(UserId::parse("2147483647"), Some(UserId::new(i32::MAX)));
    }

    #[test]
    fn username_rules() {
        assert_eq!(Username::parse("michael").unwrap().as_str(), "michael");
        assert_eq!(Username::parse("Zoë 🦀").unwrap().as_str(), "Zoë 🦀");
        assert_eq!(Username::parse(""), Err(ValueError::Empty));
        assert_eq!(Username::parse(" \t "), Err(ValueError::Empty));
        assert_eq!(
            Username::parse("a\u{0}b"),
            Err(ValueError::ControlCharacter)
        );
        assert_eq!(Username::parse("a\nb"), Err(ValueError::ControlCharacter));
        assert!(Username::parse(&"é".repeat(128)).is_ok());
        assert_eq!(Username::parse(&"é".repeat(129)), Err(ValueError::TooLong));
    }

    #[test]
    fn email_rules() {
        assert_eq!(
            Email::parse("Test@Test.COM").unwrap().as_str(),
            "test@test.com"
        );
        assert_eq!(
            Email::parse("test@test.com2").unwrap().as_str(),
            "test@test.com2"
        );
        for bad in [
            "", "   ", "plain", "@domain", "local@", "a@b@c", "a b@c", "a@b\u{7}",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@x.io", "a".repeat(123));
        assert!(Email::parse(&long).is_ok());
        let too_long = format!("{}@x.io", "a".repeat(124));
        assert_eq!(Email::parse(&too_long), Err(ValueError::TooLong));
    }

    #[test]
    fn password_rules() {
        let policy = PasswordPolicy { min_chars: 8 };
        assert!(Password::parse("12345678", policy).is_ok());
        assert_eq!(
            Password::parse("1234567", policy),
            Err(ValueError::TooShort)
        );
        assert_eq!(
            Password::parse("", PasswordPolicy::default()),
            Err(ValueError::Empty)
        );
        let max = "x".repeat(MAX_PASSWORD_BYTES);
        assert_eq!(Password::parse(&max, policy).unwrap().expose().len(), 1024);
        let over = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(Password::parse(&over, policy), Err(ValueError::TooLong));
        // Multi-byte characters count as characters for the minimum.
        assert!(Password::parse("éééééééé", policy).is_ok());
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::for_login("hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
