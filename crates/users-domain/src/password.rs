//! Password hashing: argon2id PHC strings, with a constant-cost path for unknown users.

use std::fmt;

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::Password;

/// Why hashing failed. Verification never fails: a hash that cannot be read does not match.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The cost parameters are not valid argon2 parameters.
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    /// Hashing itself failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// A stored password hash (a PHC string). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash read from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// The most password bytes bcrypt reads.
const BCRYPT_MAX_BYTES: usize = 72;

fn is_bcrypt(hash: &PasswordHash) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| hash.as_str().starts_with(p))
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashCost {
    /// The cheap preset of the development and testing profiles (the seed's bcrypt 4).
    pub const FAST: Self = Self {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    /// The OWASP argon2id recommendation, for production (the seed's bcrypt 13).
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    fn params(self) -> Result<Params, PasswordError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))
    }
}

/// Hashes and verifies passwords at one configured cost.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: HashCost,
    argon2: Argon2<'static>,
    dummy: PasswordHash,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Builds a hasher, hashing a random dummy password once so that verifying for a user who
    /// does not exist costs what a real verification costs.
    pub fn new(cost: HashCost) -> Result<Self, PasswordError> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params()?);
        let mut hasher = Self {
            cost,
            argon2,
            dummy: PasswordHash(String::new()),
        };
        let dummy = hasher.hash_bytes(b"dummy password for users that do not exist")?;
        hasher.dummy = dummy;
        Ok(hasher)
    }

    /// The configured cost.
    pub fn cost(&self) -> HashCost {
        self.cost
    }

    /// Hashes a password with a fresh random salt.
    pub fn hash(&self, password: &Password) -> Result<PasswordHash, PasswordError> {
        self.hash_bytes(password.expose())
    }

    fn hash_bytes(&self, password: &[u8]) -> Result<PasswordHash, PasswordError> {
        self.argon2
            .hash_password(password)
            .map(|h| PasswordHash(h.to_string()))
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// Verifies a password against any argon2 PHC string, with the parameters the string
    /// names, or against a bcrypt hash imported from the Flask service (`$2a$`, `$2b$`,
    /// `$2y$`). bcrypt only reads 72 bytes; a longer password never matches a bcrypt hash,
    /// so two passwords that differ after byte 72 stay different. A hash that cannot be read
    /// does not match.
    pub fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        if is_bcrypt(hash) {
            // Up to 72 bytes bcrypt reads the whole password; past that it would truncate.
            return password.expose().len() <= BCRYPT_MAX_BYTES
                && bcrypt::verify(password.expose(), hash.as_str()).unwrap_or(false);
        }
        match Phc::new(hash.as_str()) {
            Ok(phc) => Argon2::default()
                .verify_password(password.expose(), &phc)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Spends what [`verify`](Self::verify) spends, for a login whose user does not exist.
    /// Always returns `false`.
    pub fn verify_dummy(&self, password: &Password) -> bool {
        let _ = self.verify(password, &self.dummy);
        false
    }

    /// Whether a stored hash should be replaced by one at the current cost (another
    /// algorithm, version or parameters).
    pub fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(phc) = Phc::new(hash.as_str()) else {
            return true;
        };
        if phc.algorithm.as_str() != "argon2id" || phc.version != Some(Version::V0x13.into()) {
            return true;
        }
        match Params::try_from(&phc) {
            Ok(p) => {
                p.m_cost() != self.cost.memory_kib
                    || p.t_cost() != self.cost.iterations
                    || p.p_cost() != self.cost.parallelism
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::for_login(s).unwrap()
    }

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(HashCost::FAST).unwrap()
    }

    #[test]
    fn hash_then_verify() {
        let h = hasher();
        let hash = h.hash(&pw("test")).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(h.verify(&pw("test"), &hash));
        assert!(!h.verify(&pw("tesT"), &hash));
    }

    #[test]
    fn same_password_gives_different_hashes() {
        let h = hasher();
        let a = h.hash(&pw("test")).unwrap();
        let b = h.hash(&pw("test")).unwrap();
        assert_ne!(a, b);
        assert!(h.verify(&pw("test"), &a) && h.verify(&pw("test"), &b));
    }

    #[test]
    fn no_truncation_past_72_bytes() {
        let h = hasher();
        let base = "x".repeat(100);
        let hash = h.hash(&pw(&format!("{base}a"))).unwrap();
        assert!(!h.verify(&pw(&format!("{base}b")), &hash));
    }

    #[test]
    fn verifies_hashes_of_other_costs() {
        let owasp = PasswordHasher::new(HashCost::OWASP).unwrap();
        let hash = owasp.hash(&pw("secret")).unwrap();
        assert!(hash.as_str().contains("m=19456,t=2,p=1"));
        let fast = hasher();
        assert!(fast.verify(&pw("secret"), &hash));
        assert!(fast.needs_rehash(&hash));
        assert!(!owasp.needs_rehash(&hash));
    }

    #[test]
    fn garbage_hash_never_matches_and_needs_rehash() {
        let h = hasher();
        let junk = PasswordHash::from_stored("not a hash".into());
        assert!(!h.verify(&pw("x"), &junk));
        assert!(h.needs_rehash(&junk));
        let argon2i =
            "$argon2i$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ";
        assert!(h.needs_rehash(&PasswordHash::from_stored(argon2i.into())));
    }

    #[test]
    fn bcrypt_hashes_from_flask_verify_and_need_rehash() {
        let h = hasher();
        // Made by Flask-Bcrypt (`$2b$`), and the same hash as PHP/Node write it.
        let b = bcrypt::hash("test", 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let hash = PasswordHash::from_stored(format!("{prefix}{}", &b[4..]));
            assert!(h.verify(&pw("test"), &hash), "{prefix}");
            assert!(!h.verify(&pw("tesT"), &hash), "{prefix}");
            assert!(h.needs_rehash(&hash));
        }
    }

    #[test]
    fn bcrypt_never_truncates() {
        let h = hasher();
        let base = "x".repeat(72);
        // A hash of the first 72 bytes, as a truncating bcrypt would have stored it.
        let hash = PasswordHash::from_stored(bcrypt::hash(&base, 4).unwrap());
        assert!(h.verify(&pw(&base), &hash));
        assert!(!h.verify(&pw(&format!("{base}extra")), &hash));
    }

    #[test]
    fn dummy_verification_is_false() {
        assert!(!hasher().verify_dummy(&pw("anything")));
    }

    #[test]
    fn debug_is_redacted() {
        let h = hasher();
        let hash = h.hash(&pw("test")).unwrap();
        assert!(!format!("{hash:?}").contains("argon2"));
    }
}
