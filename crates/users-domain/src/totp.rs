//! The second factor's pure parts: RFC 6238 time-based one-time passwords (SHA-1, 6 digits,
//! 30 s steps, one step of skew, no replay), the `otpauth://` URI authenticator apps read,
//! recovery codes, and the sealing of secrets at rest (XChaCha20-Poly1305 under a key that
//! HKDF-SHA256 derives from `SECRET_KEY` with a label of its own).
//!
//! Nothing here stores anything: the caller keeps the sealed secret, the last accepted step
//! and the recovery-code hashes, and passes them back in.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Length of a TOTP step, seconds (RFC 6238's default, what every authenticator uses).
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const TOTP_DIGITS: u32 = 6;
/// Steps accepted on either side of the current one (clock skew).
pub const TOTP_SKEW_STEPS: u64 = 1;
/// Bytes of a new secret (160 bits, RFC 4226's recommended length for HMAC-SHA-1).
pub const TOTP_SECRET_BYTES: usize = 20;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Base32 characters of a recovery code: 12 x 5 = 60 bits of entropy.
const RECOVERY_CODE_CHARS: usize = 12;

/// Randomness was not available from the operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomUnavailable;

fn random_bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| RandomUnavailable)?;
    Ok(buf)
}

/// A TOTP shared secret. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A new random secret of [`TOTP_SECRET_BYTES`].
    pub fn generate() -> Result<Self, RandomUnavailable> {
        Ok(Self(random_bytes::<TOTP_SECRET_BYTES>()?.to_vec()))
    }

    /// A secret from its raw bytes (as unsealed from storage).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The raw bytes (to seal for storage).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// The code of one step (RFC 4226 HOTP with the step as counter), as a number below
    /// `10^TOTP_DIGITS`.
    pub fn code_at_step(&self, step: u64) -> u32 {
        hotp(&self.0, step, TOTP_DIGITS)
    }

    /// The code of one step as the six digits a person types.
    pub fn code_string_at_step(&self, step: u64) -> String {
        format!("{:06}", self.code_at_step(step))
    }

    /// Checks `code` at Unix time `now` against the current step and one step either side,
    /// refusing every step at or before `last_used_step` (a code is accepted at most once,
    /// also not again in the next step). Returns the step it matched, which the caller
    /// stores as the new `last_used_step`.
    pub fn verify(&self, code: &str, now: u64, last_used_step: Option<u64>) -> Option<u64> {
        let code = code.trim();
        if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now / TOTP_STEP_SECONDS;
        let first = current.saturating_sub(TOTP_SKEW_STEPS);
        let mut matched = None;
        // Every candidate is computed and compared, so the time does not tell which matched.
        for step in first..=current.saturating_add(TOTP_SKEW_STEPS) {
            let expected = self.code_string_at_step(step);
            let equal: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
            let fresh = last_used_step.is_none_or(|last| step > last);
            if equal && fresh && matched.is_none() {
                matched = Some(step);
            }
        }
        matched
    }

    /// The `otpauth://totp/` URI of Google Authenticator's key-URI format, with the issuer
    /// both in the label and as a parameter.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
            percent_encode(issuer),
            percent_encode(account),
            self.to_base32(),
            percent_encode(issuer),
            TOTP_DIGITS,
            TOTP_STEP_SECONDS,
        )
    }
}

/// RFC 4226's HOTP over HMAC-SHA-1 with dynamic truncation.
fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A sealed value could not be opened: it was not made with this key and context, or it
/// was altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value cannot be opened with this key")]
pub struct SealError;

/// Seals small secrets for storage: XChaCha20-Poly1305 with a random 192-bit nonce, under a
/// key derived from the service's secret by HKDF-SHA256 with a label, so each use of the
/// secret (TOTP secrets, recovery codes, ...) has a key of its own. The associated data
/// binds a sealed value to its row (for example the user id): a value copied to another row
/// does not open.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

/// A 32-byte key derived from `secret` by HKDF-SHA256 (no salt) with `label` as info.
pub fn derive_key(secret: &[u8], label: &str) -> [u8; 32] {
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: `expand` cannot fail.
    let _ = Hkdf::<Sha256>::new(None, secret).expand(label.as_bytes(), &mut okm);
    okm
}

impl Sealer {
    /// A sealer keyed by HKDF-SHA256 of `secret` with `label`.
    pub fn new(secret: &[u8], label: &str) -> Self {
        let key = derive_key(secret, label);
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// `base64url(nonce || ciphertext || tag)` of `plaintext`, bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<String, RandomUnavailable> {
        let nonce_bytes = random_bytes::<24>()?;
        let nonce = XNonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| RandomUnavailable)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(data_encoding::BASE64URL_NOPAD.encode(&out))
    }

    /// Opens what [`Sealer::seal`] made with the same key and `context`.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, SealError> {
        let raw = data_encoding::BASE64URL_NOPAD
            .decode(sealed.as_bytes())
            .map_err(|_| SealError)?;
        if raw.len() < 24 {
            return Err(SealError);
        }
        let (nonce, ciphertext) = raw.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| SealError)
    }
}

/// Makes [`RECOVERY_CODE_COUNT`] recovery codes, each 60 random bits written as 12 base32
/// characters in groups of four (`ABCD-EFGH-IJKL`).
pub fn generate_recovery_codes() -> Result<Vec<String>, RandomUnavailable> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let bytes = random_bytes::<8>()?;
            let text = data_encoding::BASE32_NOPAD.encode(&bytes);
            let chars: Vec<char> = text.chars().take(RECOVERY_CODE_CHARS).collect();
            Ok(chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-"))
        })
        .collect()
}

/// A recovery code as typed, normalised: upper case, without separators or spaces.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// The stored form of a recovery code: hex HMAC-SHA256 of the normalised code under `key`
/// (a key derived for recovery codes), so a copy of the table does not give the codes, and
/// 60-bit codes cannot be searched for without the key.
pub fn hash_recovery_code(key: &[u8; 32], code: &str) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(normalize_recovery_code(code).as_bytes());
    data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (the 8-digit values, of which a 6-digit code is the
    /// last six digits).
    #[test]
    fn rfc6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let step = time / TOTP_STEP_SECONDS;
            assert_eq!(hotp(secret.as_bytes(), step, 8), eight, "t={time}");
            assert_eq!(secret.code_at_step(step), eight % 1_000_000, "t={time}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn one_step_of_skew_and_no_replay() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_700_000_015u64;
        let step = now / 30;
        let code = |s: u64| secret.code_string_at_step(s);
        assert_eq!(secret.verify(&code(step), now, None), Some(step));
        assert_eq!(secret.verify(&code(step - 1), now, None), Some(step - 1));
        assert_eq!(secret.verify(&code(step + 1), now, None), Some(step + 1));
        assert_eq!(secret.verify(&code(step - 2), now, None), None);
        assert_eq!(secret.verify(&code(step + 2), now, None), None);
        // Accepted once: not again, neither in this step nor in the next one.
        assert_eq!(secret.verify(&code(step), now, Some(step)), None);
        assert_eq!(secret.verify(&code(step), now + 30, Some(step)), None);
        // An older step's code after a newer one was used is refused too.
        assert_eq!(secret.verify(&code(step - 1), now, Some(step)), None);
        assert_eq!(
            secret.verify(&code(step + 1), now, Some(step)),
            Some(step + 1)
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for bad in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "12 456",
            "+12345",
            "١٢٣٤٥٦",
        ] {
            assert_eq!(secret.verify(bad, 59, None), None, "{bad:?}");
        }
        assert_eq!(secret.verify(" 287082 ", 59, None), Some(1));
    }

    #[test]
    fn otpauth_uri_carries_the_secret_in_base32() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            secret.otpauth_uri("users service", "ann@example.com"),
            "otpauth://totp/users%20service:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=users%20service&algorithm=SHA1&digits=6&period=30"
        );
        assert!(!format!("{secret:?}").contains("GEZ"));
    }

    #[test]
    fn sealing_round_trips_and_binds_key_and_context() {
        let sealer = Sealer::new(b"secret key", "users-service totp v1");
        let sealed = sealer.seal(b"raw secret", b"user:7").unwrap();
        assert!(!sealed.contains("raw"));
        assert_eq!(sealer.open(&sealed, b"user:7").unwrap(), b"raw secret");
        assert_eq!(sealer.open(&sealed, b"user:8"), Err(SealError));
        let other_label = Sealer::new(b"secret key", "another label");
        assert_eq!(other_label.open(&sealed, b"user:7"), Err(SealError));
        let other_key = Sealer::new(b"other key", "users-service totp v1");
        assert_eq!(other_key.open(&sealed, b"user:7"), Err(SealError));
        // A fresh nonce each time.
        assert_ne!(sealed, sealer.seal(b"raw secret", b"user:7").unwrap());
        for bad in ["", "!!", "AAAA", &sealed[..sealed.len() - 2]] {
            assert_eq!(sealer.open(bad, b"user:7"), Err(SealError), "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_after_normalising() {
        let codes = generate_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        for code in &codes {
            assert_eq!(code.len(), 14, "{code}");
            assert_eq!(normalize_recovery_code(code).len(), RECOVERY_CODE_CHARS);
        }
        let key = derive_key(b"secret", "recovery");
        let hash = hash_recovery_code(&key, &codes[0]);
        assert_eq!(hash.len(), 64);
        assert_eq!(
            hash,
            hash_recovery_code(&key, &codes[0].to_lowercase().replace('-', " "))
        );
        assert_ne!(hash, hash_recovery_code(&key, &codes[1]));
        assert_ne!(
            hash,
            hash_recovery_code(&derive_key(b"other", "recovery"), &codes[0])
        );
    }
}
