//! One named test per attack on the token layer.
//!
//! Every attack token is built by hand here (base64url with the `base64` crate, HMAC with
//! `hmac` + `sha2`, JSON with `serde_json`), never with our encoder, so a bug shared by the
//! encoder and the decoder cannot hide an attack. The `control_*` tests prove the helpers
//! right: a hand-built HS256 token with the right secret is accepted.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions: a step that fails fails the test"
)]

use auth_token::{KeyError, MAX_TOKEN_BYTES, SecretKey, TokenError, TokenService, TokenSettings};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, general_purpose};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Sha256, Sha384, Sha512};
use users_domain::UserId;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const WRONG_SECRET: &[u8] = b"0123456789abcdef0123456789abcdeF";
const HS256_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;
const ISSUER: &str = "https://users.example.test";
const AUDIENCE: &str = "testdriven-client";

// ---------------------------------------------------------------------------------------
// Hand-made JWS helpers.

/// Which HMAC to sign with.
#[derive(Clone, Copy)]
enum Mac_ {
    Hs256,
    Hs384,
    Hs512,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(segment: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .expect("helper produced bad base64url")
}

fn hmac(mac: Mac_, key: &[u8], input: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::KeyInit>(key: &[u8], input: &[u8]) -> Vec<u8> {
        let mut m = <M as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(input);
        m.finalize().into_bytes().to_vec()
    }
    match mac {
        Mac_::Hs256 => run::<Hmac<Sha256>>(key, input),
        Mac_::Hs384 => run::<Hmac<Sha384>>(key, input),
        Mac_::Hs512 => run::<Hmac<Sha512>>(key, input),
    }
}

/// `b64(header).b64(payload).b64(hmac(key, signing input))`, header and payload as raw JSON
/// text (so duplicate keys and non-objects can be written).
fn sign_raw(mac: Mac_, key: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = hmac(mac, key, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// An HS256 token with the right secret and the standard header.
fn hs256(claims: &Value) -> String {
    sign_raw(Mac_::Hs256, SECRET, HS256_HEADER, &claims.to_string())
}

/// A token with `alg` set to `alg` in the header, signed with HMAC-`mac` and the right secret.
fn with_alg(alg: &str, mac: Mac_, claims: &Value) -> String {
    let header = json!({ "typ": "JWT", "alg": alg }).to_string();
    sign_raw(mac, SECRET, &header, &claims.to_string())
}

fn segments(token: &str) -> [&str; 3] {
    let v: Vec<&str> = token.split('.').collect();
    [v[0], v[1], v[2]]
}

/// Valid claims for user 42, issued now, expiring in an hour.
fn claims() -> Value {
    let now = now();
    json!({ "sub": "42", "iat": now, "exp": now + 3600, "jti": "6f1c0ffee" })
}

fn claims_with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    f(c.as_object_mut().expect("claims are an object"));
    c
}

fn now() -> u64 {
    auth_token::unix_now()
}

// ---------------------------------------------------------------------------------------
// Services under attack.

fn settings(issuer: Option<&str>, audience: Option<&str>) -> TokenSettings {
    TokenSettings {
        expiration_days: 30,
        expiration_seconds: 0,
        issuer: issuer.map(str::to_owned),
        audience: audience.map(str::to_owned),
    }
}

fn service() -> TokenService {
    TokenService::hs256(&SecretKey::new(SECRET).unwrap(), settings(None, None)).unwrap()
}

fn service_with_issuer() -> TokenService {
    TokenService::hs256(
        &SecretKey::new(SECRET).unwrap(),
        settings(Some(ISSUER), None),
    )
    .unwrap()
}

fn service_with_audience() -> TokenService {
    TokenService::hs256(
        &SecretKey::new(SECRET).unwrap(),
        settings(None, Some(AUDIENCE)),
    )
    .unwrap()
}

fn decode(token: &str) -> Result<UserId, TokenError> {
    service().decode_auth_token(token).map(|c| c.sub)
}

#[track_caller]
fn assert_accepted(result: Result<UserId, TokenError>, user: i32) {
    assert_eq!(result, Ok(UserId::new(user)));
}

#[track_caller]
fn assert_invalid(result: Result<UserId, TokenError>, reason: &'static str) {
    assert_eq!(result, Err(TokenError::Invalid(reason)));
}

// ---------------------------------------------------------------------------------------
// Controls: the helpers build tokens the service accepts.

#[test]
fn control_hand_built_hs256_token_is_accepted() {
    assert_accepted(decode(&hs256(&claims())), 42);
}

#[test]
fn control_hand_built_token_matches_jsonwebtoken_signature() {
    // Our HMAC over the signing input is the signature jsonwebtoken produces for the same
    // header and claims, so the helpers sign exactly what the library verifies.
    let token = service().encode_auth_token(UserId::new(7)).unwrap();
    let [h, p, s] = segments(&token);
    let sig = hmac(Mac_::Hs256, SECRET, format!("{h}.{p}").as_bytes());
    assert_eq!(b64(&sig), s);
}

#[test]
fn control_hand_built_token_with_issuer_and_audience_is_accepted() {
    let c = claims_with(|c| {
        c.insert("iss".into(), json!(ISSUER));
        c.insert("aud".into(), json!(AUDIENCE));
    });
    let both = TokenService::hs256(
        &SecretKey::new(SECRET).unwrap(),
        settings(Some(ISSUER), Some(AUDIENCE)),
    )
    .unwrap();
    assert_eq!(
        both.decode_auth_token(&hs256(&c)).map(|c| c.sub),
        Ok(UserId::new(42))
    );
}

// ---------------------------------------------------------------------------------------
// The algorithm.

#[test]
fn alg_none_with_empty_signature_is_refused() {
    let header = b64(br#"{"typ":"JWT","alg":"none"}"#);
    let payload = b64(claims().to_string().as_bytes());
    assert_invalid(decode(&format!("{header}.{payload}.")), "shape");
}

#[test]
fn alg_none_with_a_signature_is_refused() {
    // A valid HMAC-SHA256 over the input, but the header says "none".
    let token = with_alg("none", Mac_::Hs256, &claims());
    assert_invalid(decode(&token), "malformed");
}

#[test]
fn alg_none_capitalised_variants_are_refused() {
    for alg in ["None", "NONE", "nOnE"] {
        let signed = with_alg(alg, Mac_::Hs256, &claims());
        assert_invalid(decode(&signed), "malformed");
        let [h, p, _] = segments(&signed);
        assert_invalid(decode(&format!("{h}.{p}.")), "shape");
    }
}

#[test]
fn hs384_signed_with_the_right_secret_is_refused() {
    let token = with_alg("HS384", Mac_::Hs384, &claims());
    assert_invalid(decode(&token), "algorithm");
}

#[test]
fn hs512_signed_with_the_right_secret_is_refused() {
    let token = with_alg("HS512", Mac_::Hs512, &claims());
    assert_invalid(decode(&token), "algorithm");
}

#[test]
fn hs256_header_with_hs512_signature_is_refused() {
    // The header claims HS256 but the MAC is HMAC-SHA512 (right secret): length mismatch.
    let token = with_alg("HS256", Mac_::Hs512, &claims());
    assert_invalid(decode(&token), "signature");
}

#[test]
fn rs256_header_with_hmac_signature_is_refused() {
    // Algorithm confusion: the secret used as if it were the HMAC key of an RS256 token.
    let token = with_alg("RS256", Mac_::Hs256, &claims());
    assert_invalid(decode(&token), "algorithm");
}

#[test]
fn eddsa_and_es256_headers_with_hmac_signature_are_refused() {
    for alg in ["EdDSA", "ES256", "PS256"] {
        let token = with_alg(alg, Mac_::Hs256, &claims());
        assert_invalid(decode(&token), "algorithm");
    }
}

#[test]
fn unknown_alg_is_refused() {
    for alg in ["HS256 ", "hs256", "HS1", ""] {
        let token = with_alg(alg, Mac_::Hs256, &claims());
        assert_invalid(decode(&token), "malformed");
    }
}

// ---------------------------------------------------------------------------------------
// The signature.

#[test]
fn wrong_secret_is_refused() {
    let token = sign_raw(
        Mac_::Hs256,
        WRONG_SECRET,
        HS256_HEADER,
        &claims().to_string(),
    );
    assert_invalid(decode(&token), "signature");
}

#[test]
fn payload_tampered_after_signing_is_refused() {
    let token = hs256(&claims());
    let [h, _, s] = segments(&token);
    let evil = claims_with(|c| {
        c.insert("sub".into(), json!("1"));
    });
    let tampered = format!("{h}.{}.{s}", b64(evil.to_string().as_bytes()));
    assert_invalid(decode(&tampered), "signature");
}

#[test]
fn header_tampered_after_signing_is_refused() {
    let token = hs256(&claims());
    let [_, p, s] = segments(&token);
    for header in [
        r#"{"typ":"JWT","alg":"HS256","kid":"other"}"#,
        r#"{"typ":"JOSE","alg":"HS256"}"#,
        r#"{"alg":"HS256"}"#,
    ] {
        let tampered = format!("{}.{p}.{s}", b64(header.as_bytes()));
        assert_invalid(decode(&tampered), "signature");
    }
}

#[test]
fn signature_truncated_is_refused() {
    let token = hs256(&claims());
    let [h, p, s] = segments(&token);
    // 40 characters: canonical base64url of the first 30 bytes of the MAC.
    let short = format!("{h}.{p}.{}", &s[..40]);
    assert_invalid(decode(&short), "signature");
    // A single byte of MAC (2 characters) is not a shortcut either.
    let one_byte = format!("{h}.{p}.{}", b64(&unb64(s)[..1]));
    assert_invalid(decode(&one_byte), "signature");
    // Chopping one or two characters leaves non-canonical or impossible base64.
    for cut in 1..=2 {
        let chopped = &token[..token.len() - cut];
        assert!(matches!(decode(chopped), Err(TokenError::Invalid(_))));
    }
}

#[test]
fn signature_extended_is_refused() {
    let token = hs256(&claims());
    let [h, p, s] = segments(&token);
    let mut mac = unb64(s);
    mac.push(0);
    assert_invalid(decode(&format!("{h}.{p}.{}", b64(&mac))), "signature");
}

#[test]
fn token_truncated_to_two_segments_is_refused() {
    let token = hs256(&claims());
    let [h, p, _] = segments(&token);
    assert_invalid(decode(&format!("{h}.{p}")), "shape");
    assert_invalid(decode(&format!("{h}.{p}.")), "shape");
    assert_invalid(decode(h), "shape");
    assert_invalid(decode(""), "shape");
}

#[test]
fn token_with_four_segments_is_refused() {
    let token = hs256(&claims());
    let [_, _, s] = segments(&token);
    assert_invalid(decode(&format!("{token}.{s}")), "shape");
}

// ---------------------------------------------------------------------------------------
// The encoding.

/// A decoder that ignores non-zero trailing bits, as lenient decoders do.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The same bytes with the last character's unused low bit set: a lenient decoder reads
/// the same bytes, a strict one refuses.
fn non_canonical(segment: &str) -> String {
    let bytes = unb64(segment);
    assert_ne!(bytes.len() % 3, 0, "segment has no spare bits");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *segment.as_bytes().last().unwrap();
    let value = alphabet.iter().position(|c| *c == last).unwrap();
    let twisted = format!(
        "{}{}",
        &segment[..segment.len() - 1],
        alphabet[value ^ 1] as char
    );
    assert_ne!(twisted, segment);
    assert_eq!(LENIENT.decode(&twisted).unwrap(), bytes);
    assert!(URL_SAFE_NO_PAD.decode(&twisted).is_err());
    twisted
}

#[test]
fn non_canonical_base64_signature_is_refused() {
    // 32 bytes encode to 43 characters: the last one carries 2 unused bits.
    let token = hs256(&claims());
    let [h, p, s] = segments(&token);
    let twisted = format!("{h}.{p}.{}", non_canonical(s));
    assert_invalid(decode(&twisted), "malformed");
}

#[test]
fn non_canonical_base64_payload_is_refused() {
    // Pick a jti so the payload's length is not a multiple of 3, then sign the twisted
    // payload so the signature itself is right.
    let c = (0..3)
        .map(|n| claims_with(|c| drop(c.insert("jti".into(), json!("j".repeat(n + 1))))))
        .find(|c| c.to_string().len() % 3 != 0)
        .unwrap();
    let h = b64(HS256_HEADER.as_bytes());
    let p = non_canonical(&b64(c.to_string().as_bytes()));
    let input = format!("{h}.{p}");
    let s = b64(&hmac(Mac_::Hs256, SECRET, input.as_bytes()));
    assert_invalid(decode(&format!("{input}.{s}")), "malformed");
}

#[test]
fn non_canonical_base64_header_is_refused() {
    // 27 bytes would be a multiple of 3; a header with a space has 28.
    let header = r#"{"typ":"JWT", "alg":"HS256"}"#;
    assert_ne!(header.len() % 3, 0);
    let h = non_canonical(&b64(header.as_bytes()));
    let input = format!("{h}.{}", b64(claims().to_string().as_bytes()));
    let s = b64(&hmac(Mac_::Hs256, SECRET, input.as_bytes()));
    assert_invalid(decode(&format!("{input}.{s}")), "malformed");
}

#[test]
fn padded_base64_is_refused() {
    let token = hs256(&claims());
    let [h, p, s] = segments(&token);
    // The signature is 43 characters: its padded form appends exactly one '='.
    assert_invalid(decode(&format!("{h}.{p}.{s}=")), "shape");
    // Padding a header or payload segment, re-signed so only the padding is wrong.
    for (hh, pp) in [
        (format!("{h}="), p.to_owned()),
        (h.to_owned(), format!("{p}==")),
    ] {
        let input = format!("{hh}.{pp}");
        let sig = b64(&hmac(Mac_::Hs256, SECRET, input.as_bytes()));
        assert_invalid(decode(&format!("{input}.{sig}")), "shape");
    }
    // The standard padded encoding of the whole token.
    let padded = [HS256_HEADER.as_bytes(), claims().to_string().as_bytes()]
        .map(|part| general_purpose::URL_SAFE.encode(part));
    let input = padded.join(".");
    let sig = general_purpose::URL_SAFE.encode(hmac(Mac_::Hs256, SECRET, input.as_bytes()));
    assert!(sig.ends_with('='));
    assert_invalid(decode(&format!("{input}.{sig}")), "shape");
}

#[test]
fn standard_alphabet_base64_is_refused() {
    // Find claims whose token contains '-' or '_', then rewrite it with '+' and '/'.
    let token = (0..1000)
        .map(|n| hs256(&claims_with(|c| drop(c.insert("jti".into(), json!(n))))))
        .find(|t| t.contains(['-', '_']))
        .expect("some token uses the URL-safe characters");
    let standard = token.replace('-', "+").replace('_', "/");
    assert_invalid(decode(&standard), "shape");
    // Re-signed over the standard-alphabet input, so only the alphabet is wrong.
    let [h, p, _] = segments(&standard);
    let input = format!("{h}.{p}");
    let sig = general_purpose::STANDARD_NO_PAD.encode(hmac(Mac_::Hs256, SECRET, input.as_bytes()));
    assert_invalid(decode(&format!("{input}.{sig}")), "shape");
}

#[test]
fn whitespace_or_non_ascii_in_token_is_refused() {
    let token = hs256(&claims());
    assert_invalid(decode(&format!(" {token}")), "shape");
    assert_invalid(decode(&format!("{token}\n")), "shape");
    assert_invalid(decode(&format!("Bearer {token}")), "shape");
    assert_invalid(decode(&token.replacen('.', ".é", 1)), "shape");
}

// ---------------------------------------------------------------------------------------
// `exp`, `iat`, `nbf`.

#[test]
fn missing_exp_is_refused() {
    let c = claims_with(|c| drop(c.remove("exp")));
    assert_invalid(decode(&hs256(&c)), "malformed");
}

#[test]
fn exp_as_a_string_is_refused() {
    let c = claims_with(|c| drop(c.insert("exp".into(), json!((now() + 3600).to_string()))));
    assert_invalid(decode(&hs256(&c)), "malformed");
}

#[test]
fn exp_as_a_float_or_negative_is_refused() {
    for exp in [json!((now() + 3600) as f64 + 0.5), json!(-1), json!(null)] {
        let c = claims_with(|c| drop(c.insert("exp".into(), exp)));
        assert_invalid(decode(&hs256(&c)), "malformed");
    }
}

#[test]
fn exp_one_second_past_is_expired() {
    // Leeway 0: one second is enough.
    let c = claims_with(|c| drop(c.insert("exp".into(), json!(now() - 1))));
    assert_eq!(decode(&hs256(&c)), Err(TokenError::Expired));
}

#[test]
fn exp_long_past_is_expired() {
    let c = claims_with(|c| {
        c.insert("iat".into(), json!(1_500_000_000));
        c.insert("exp".into(), json!(1_500_000_005));
    });
    assert_eq!(decode(&hs256(&c)), Err(TokenError::Expired));
}

#[test]
fn exp_equal_to_now_is_expired() {
    // Zero leeway, as PyJWT (`now >= exp`): a token is refused from the instant `exp` names.
    // jsonwebtoken alone compares whole seconds and accepted `exp == now` for up to a second.
    let c = claims_with(|c| drop(c.insert("exp".into(), json!(now()))));
    assert_eq!(decode(&hs256(&c)), Err(TokenError::Expired));
}

#[test]
fn exp_in_the_next_second_is_accepted() {
    // `now()` is the current whole second, so `now() + 1` is always still ahead.
    let c = claims_with(|c| drop(c.insert("exp".into(), json!(now() + 1))));
    assert_accepted(decode(&hs256(&c)), 42);
}

#[test]
fn nbf_in_the_future_is_refused() {
    let c = claims_with(|c| drop(c.insert("nbf".into(), json!(now() + 60))));
    assert_invalid(decode(&hs256(&c)), "not yet valid");
    // Leeway 0: one second ahead is enough.
    let c = claims_with(|c| drop(c.insert("nbf".into(), json!(now() + 2))));
    assert_invalid(decode(&hs256(&c)), "not yet valid");
}

#[test]
fn nbf_in_the_past_is_accepted() {
    let c = claims_with(|c| drop(c.insert("nbf".into(), json!(now() - 10))));
    assert_accepted(decode(&hs256(&c)), 42);
}

#[test]
fn nbf_as_a_string_is_refused() {
    let c = claims_with(|c| drop(c.insert("nbf".into(), json!((now() - 10).to_string()))));
    assert_invalid(decode(&hs256(&c)), "malformed");
}

#[test]
fn missing_iat_is_refused() {
    let c = claims_with(|c| drop(c.remove("iat")));
    assert_invalid(decode(&hs256(&c)), "malformed");
}

// ---------------------------------------------------------------------------------------
// `sub`.

#[test]
fn missing_sub_is_refused() {
    let c = claims_with(|c| drop(c.remove("sub")));
    assert_invalid(decode(&hs256(&c)), "malformed");
}

#[test]
fn integer_sub_is_accepted() {
    // Tokens issued by the Flask service carry the user id as a JSON integer.
    let c = claims_with(|c| drop(c.insert("sub".into(), json!(42))));
    assert_accepted(decode(&hs256(&c)), 42);
}

#[test]
fn flask_style_token_is_accepted() {
    // What PyJWT wrote for the seed: integer sub, iat and exp only, no jti, no typ first.
    let now = now();
    let payload = format!(r#"{{"exp":{},"iat":{now},"sub":5}}"#, now + 3600);
    let token = sign_raw(
        Mac_::Hs256,
        SECRET,
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &payload,
    );
    assert_accepted(decode(&token), 5);
}

#[test]
fn zero_negative_or_non_numeric_sub_is_refused() {
    for sub in [
        json!("0"),
        json!("-1"),
        json!("abc"),
        json!("42abc"),
        json!(" 42"),
        json!("+42"),
        json!("4294967338"),
        json!(""),
        json!(0),
        json!(-42),
        json!(42.0),
        json!(4_294_967_338_u64),
        json!(null),
        json!(["42"]),
        json!({ "id": 42 }),
        json!(true),
    ] {
        let c = claims_with(|c| drop(c.insert("sub".into(), sub.clone())));
        assert_invalid(decode(&hs256(&c)), "malformed");
    }
}

// ---------------------------------------------------------------------------------------
// `iss` and `aud` when configured.

fn decode_with(service: &TokenService, claims: &Value) -> Result<UserId, TokenError> {
    service.decode_auth_token(&hs256(claims)).map(|c| c.sub)
}

#[test]
fn iss_mismatch_is_refused() {
    let c = claims_with(|c| drop(c.insert("iss".into(), json!("https://evil.example"))));
    assert_invalid(decode_with(&service_with_issuer(), &c), "issuer");
    let right = claims_with(|c| drop(c.insert("iss".into(), json!(ISSUER))));
    assert_accepted(decode_with(&service_with_issuer(), &right), 42);
}

#[test]
fn missing_iss_is_refused_when_configured() {
    assert_invalid(
        decode_with(&service_with_issuer(), &claims()),
        "missing claim",
    );
}

#[test]
fn aud_mismatch_is_refused() {
    let c = claims_with(|c| drop(c.insert("aud".into(), json!("someone-else"))));
    assert_invalid(decode_with(&service_with_audience(), &c), "audience");
    let many = claims_with(|c| drop(c.insert("aud".into(), json!(["a", "b"]))));
    assert_invalid(decode_with(&service_with_audience(), &many), "audience");
    let right = claims_with(|c| drop(c.insert("aud".into(), json!(["a", AUDIENCE]))));
    assert_accepted(decode_with(&service_with_audience(), &right), 42);
}

#[test]
fn missing_aud_is_refused_when_configured() {
    assert_invalid(
        decode_with(&service_with_audience(), &claims()),
        "missing claim",
    );
}

#[test]
fn stray_aud_is_ignored_when_not_configured() {
    // jsonwebtoken by default refuses an `aud` the validator was not told about; our service
    // turns audience validation off when no audience is configured (nothing to check
    // against), so a stray `aud` is ignored.
    let c = claims_with(|c| drop(c.insert("aud".into(), json!("anyone"))));
    assert_accepted(decode(&hs256(&c)), 42);
}

// ---------------------------------------------------------------------------------------
// Size, JSON shape, header.

/// A validly signed token of exactly `len` bytes (padding a claim and, if needed, the
/// header, since base64url cannot reach every length).
fn token_of_len(len: usize) -> String {
    for kid in 0..4 {
        let header = if kid == 0 {
            HS256_HEADER.to_owned()
        } else {
            format!(
                r#"{{"typ":"JWT","alg":"HS256","kid":"{}"}}"#,
                "k".repeat(kid)
            )
        };
        // Each padding byte adds 4/3 base64url characters: start just below the target.
        let base = sign_raw(Mac_::Hs256, SECRET, &header, &claims().to_string()).len();
        let start = (len.saturating_sub(base + 16) * 3 / 4).saturating_sub(8);
        for pad in start..len {
            let c = claims_with(|c| drop(c.insert("pad".into(), json!("x".repeat(pad)))));
            let token = sign_raw(Mac_::Hs256, SECRET, &header, &c.to_string());
            if token.len() == len {
                return token;
            }
            if token.len() > len {
                break;
            }
        }
    }
    panic!("no token of {len} bytes");
}

#[test]
fn oversized_token_is_refused() {
    let at_limit = token_of_len(MAX_TOKEN_BYTES);
    assert_accepted(decode(&at_limit), 42);
    let over = token_of_len(MAX_TOKEN_BYTES + 2);
    assert_invalid(decode(&over), "too long");
    let huge = token_of_len(64 * 1024);
    assert_invalid(decode(&huge), "too long");
}

#[test]
fn payload_that_is_not_an_object_is_refused() {
    let now = now();
    for payload in [
        // Arrays, which serde reads as a struct field by field. The second one is both a
        // `Claims` (sub, iat, exp, nbf, jti) and jsonwebtoken's own claims (exp, nbf, sub,
        // iss, aud): without the object check it is accepted as user 2000000000.
        format!(r#"["42",{now},{}]"#, now + 3600),
        format!(r#"[2000000000,{now},{},null,null]"#, now + 3600),
        r#""42""#.to_owned(),
        "42".to_owned(),
        "null".to_owned(),
        "true".to_owned(),
        "not json".to_owned(),
        // Whitespace before the object is legal JSON but no issuer writes it: refused too.
        format!(" {}", claims()),
    ] {
        let token = sign_raw(Mac_::Hs256, SECRET, HS256_HEADER, &payload);
        assert_eq!(
            decode(&token),
            Err(TokenError::Invalid("claims not an object")),
            "{payload}"
        );
    }
    for payload in ["{", "{}", "{]"] {
        let token = sign_raw(Mac_::Hs256, SECRET, HS256_HEADER, payload);
        assert_invalid(decode(&token), "malformed");
    }
    let empty = sign_raw(Mac_::Hs256, SECRET, HS256_HEADER, "");
    assert_invalid(decode(&empty), "shape");
}

#[test]
fn payload_with_trailing_garbage_is_refused() {
    let payload = format!("{}x", claims());
    let token = sign_raw(Mac_::Hs256, SECRET, HS256_HEADER, &payload);
    assert_invalid(decode(&token), "malformed");
}

#[test]
fn duplicate_alg_in_header_is_refused() {
    let c = claims().to_string();
    for header in [
        r#"{"typ":"JWT","alg":"HS256","alg":"none"}"#,
        r#"{"typ":"JWT","alg":"none","alg":"HS256"}"#,
        r#"{"typ":"JWT","alg":"HS256","alg":"HS256"}"#,
    ] {
        let token = sign_raw(Mac_::Hs256, SECRET, header, &c);
        assert_invalid(decode(&token), "malformed");
    }
}

#[test]
fn duplicate_claim_is_refused() {
    let now = now();
    let payload = format!(
        r#"{{"sub":"42","sub":"1","iat":{now},"exp":{}}}"#,
        now + 3600
    );
    let token = sign_raw(Mac_::Hs256, SECRET, HS256_HEADER, &payload);
    assert_invalid(decode(&token), "malformed");
}

#[test]
fn garbage_header_is_refused() {
    let c = claims().to_string();
    for header in [
        "",
        "{}",
        "[]",
        r#"["HS256"]"#,
        "null",
        "not json",
        r#"{"typ":"JWT"}"#,
        r#"{"alg":null}"#,
        r#"{"alg":256}"#,
        r#"{"alg":"HS256","crit":["exp"]}"#,
        r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
    ] {
        let token = sign_raw(Mac_::Hs256, SECRET, header, &c);
        assert!(
            matches!(decode(&token), Err(TokenError::Invalid(_))),
            "{header}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Keys.

#[test]
fn empty_secret_is_refused() {
    assert_eq!(SecretKey::new(Vec::new()), Err(KeyError::EmptySecret));
    assert_eq!(SecretKey::new(""), Err(KeyError::EmptySecret));
    assert_eq!(SecretKey::new(b"".as_slice()), Err(KeyError::EmptySecret));
}

#[test]
fn token_signed_with_an_empty_key_is_refused() {
    let token = sign_raw(Mac_::Hs256, b"", HS256_HEADER, &claims().to_string());
    assert_invalid(decode(&token), "signature");
}
