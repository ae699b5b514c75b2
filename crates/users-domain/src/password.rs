//! Password hashing: argon2id PHC strings, with a constant-cost path for unknown users.

use std::cell::RefCell;
use std::fmt;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::Password;

/// The cause of a [`PasswordError`] that is not one of argon2's own errors.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why hashing failed. Verification never fails: a hash that cannot be read does not match.
/// The cause is the error's source.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The cost parameters are not valid argon2 parameters.
    #[error("invalid argon2 parameters")]
    Params(#[source] argon2::Error),
    /// No random salt could be had from the operating system.
    #[error("no random salt could be generated")]
    Salt(#[source] BoxError),
    /// Hashing itself failed.
    #[error("password hashing failed")]
    Hash(#[source] argon2::Error),
    /// The hash could not be written as a PHC string.
    #[error("the password hash could not be encoded")]
    Encode(#[source] BoxError),
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
            .map_err(PasswordError::Params)
    }
}

thread_local! {
    /// This thread's argon2 working memory, kept between hashes. Allocating (and having the
    /// kernel zero) 19 MiB per hash costs time, and freed blocks of that size stay in the
    /// allocator's per-thread arenas, so a process whose hashes ran on many threads grew to
    /// hundreds of MiB. Reused, memory is bounded by the threads that hash (`users-api` runs
    /// them on one thread per core). Every argon2 pass overwrites a block before reading it,
    /// so what a previous hash left here never enters the result.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Blocks (1 KiB each) reserved for a working buffer at the least: 33 MiB.
const MAPPED_BLOCKS: usize = 33 * 1024;

/// Frees this thread's argon2 working memory (see [`PasswordHasher`]); the next hash on this
/// thread allocates it again. For threads that hash in bursts: keep the buffer while busy,
/// release it when idle.
pub fn release_hash_memory() {
    BLOCKS.with_borrow_mut(|blocks| *blocks = Vec::new());
}

/// Computes the raw argon2 output for `password` and `salt` into `out`, with this thread's
/// reusable working memory.
fn argon2_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    BLOCKS.with_borrow_mut(|blocks| argon2_with(argon2, password, salt, out, blocks))
}

/// [`argon2_into`] with the given working memory, grown as needed.
fn argon2_with(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    blocks: &mut Vec<Block>,
) -> Result<(), argon2::Error> {
    let count = argon2.params().block_count();
    if blocks.len() < count {
        // Sized past glibc's largest mmap threshold (32 MiB), so the buffer is always a
        // mapping of its own and `release_hash_memory` gives it back to the system; only the
        // `count` blocks written here become resident.
        *blocks = Vec::with_capacity(count.max(MAPPED_BLOCKS));
        blocks.resize(count, Block::default());
    }
    argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..count])
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
        // With memory of its own, freed at once: the thread that builds the hasher (`main`)
        // is not one that hashes, and would otherwise keep a buffer for nothing.
        let dummy = hasher.hash_bytes(
            b"dummy password for users that do not exist",
            &mut Vec::new(),
        )?;
        hasher.dummy = dummy;
        Ok(hasher)
    }

    /// The configured cost.
    pub fn cost(&self) -> HashCost {
        self.cost
    }

    /// Hashes a password with a fresh random salt.
    pub fn hash(&self, password: &Password) -> Result<PasswordHash, PasswordError> {
        BLOCKS.with_borrow_mut(|blocks| self.hash_bytes(password.expose(), blocks))
    }

    fn hash_bytes(
        &self,
        password: &[u8],
        blocks: &mut Vec<Block>,
    ) -> Result<PasswordHash, PasswordError> {
        let encode = |e: argon2::password_hash::phc::Error| PasswordError::Encode(e.into());
        let salt = argon2::password_hash::try_generate_salt()
            .map_err(|e| PasswordError::Salt(e.into()))?;
        let salt = Salt::new(&salt).map_err(encode)?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        argon2_with(&self.argon2, password, salt.as_ref(), &mut out, blocks)
            .map_err(PasswordError::Hash)?;
        let phc = Phc {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(self.argon2.params())
                .map_err(|e| PasswordError::Encode(e.into()))?,
            salt: Some(salt),
            hash: Some(Output::new(&out).map_err(encode)?),
        };
        Ok(PasswordHash(phc.to_string()))
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
        verify_argon2(password.expose(), hash.as_str()).unwrap_or(false)
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

/// What argon2's `PasswordVerifier` does (the algorithm, version, parameters and salt the PHC
/// string names; a constant-time comparison of the outputs), on the reusable memory.
/// `None` when the string is not a usable argon2 hash.
fn verify_argon2(password: &[u8], hash: &str) -> Option<bool> {
    let phc = Phc::new(hash).ok()?;
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
    let version = phc
        .version
        .map_or(Some(Version::default()), |v| Version::try_from(v).ok())?;
    let params = Params::try_from(&phc).ok()?;
    let (salt, expected) = (phc.salt.as_ref()?, phc.hash.as_ref()?);
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    argon2_into(&argon2, password, salt.as_ref(), &mut out).ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&out).ok()? == *expected)
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
    fn invalid_parameters_keep_argon2s_error_as_the_source() {
        use std::error::Error as _;
        let cost = HashCost {
            memory_kib: 1,
            ..HashCost::FAST
        };
        let e = PasswordHasher::new(cost).unwrap_err();
        assert!(matches!(e, PasswordError::Params(_)), "{e:?}");
        let source = e.source().expect("argon2's error is the source");
        assert_eq!(e.to_string(), "invalid argon2 parameters");
        assert!(!e.to_string().contains(&source.to_string()));
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

    #[test]
    fn hashes_interoperate_with_the_argon2_reference_code() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = hasher();
        let ours = h.hash(&pw("interop")).unwrap();
        let phc = Phc::new(ours.as_str()).unwrap();
        assert!(Argon2::default().verify_password(b"interop", &phc).is_ok());
        assert!(Argon2::default().verify_password(b"other", &phc).is_err());
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            HashCost::FAST.params().unwrap(),
        )
        .hash_password(b"interop")
        .unwrap()
        .to_string();
        let theirs = PasswordHash::from_stored(theirs);
        assert!(h.verify(&pw("interop"), &theirs));
        assert!(!h.verify(&pw("other"), &theirs));
    }

    #[test]
    fn reused_memory_gives_the_reference_output() {
        let salt = b"fixed-salt-16byt";
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 2, 1, None).unwrap(),
        );
        let big = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 1, 2, None).unwrap(),
        );
        let mut reference = [0u8; 32];
        small
            .hash_password_into(b"pw", salt, &mut reference)
            .unwrap();
        for argon2 in [&small, &big, &small] {
            // Leaves other content in this thread's blocks before the next run.
            let mut out = [0u8; 32];
            argon2_into(argon2, b"pw", salt, &mut out).unwrap();
            if std::ptr::eq(argon2, &small) {
                assert_eq!(out, reference);
            }
        }
    }

    #[test]
    fn released_memory_is_allocated_again_on_demand() {
        let h = hasher();
        let hash = h.hash(&pw("again")).unwrap();
        assert!(BLOCKS.with_borrow(|b| b.capacity() >= MAPPED_BLOCKS));
        release_hash_memory();
        assert!(BLOCKS.with_borrow(|b| b.capacity() == 0));
        assert!(h.verify(&pw("again"), &hash));
        assert!(!h.verify(&pw("other"), &hash));
    }
}
