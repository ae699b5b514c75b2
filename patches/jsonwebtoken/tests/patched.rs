//! The workspace patch: a decoding key that remembers its keyed HMAC state and the header it
//! verified, `decode_claims`, and one parse of the claims. Each test compares against what
//! upstream's behaviour is on the same input.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_claims, encode,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

const SECRET: &[u8] = b"secret";
const FAR: u64 = 4_000_000_000;

fn token(header: &Header, secret: &[u8], exp: u64) -> String {
    let claims = Claims { sub: "b@b.com".to_owned(), exp };
    encode(header, &claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

fn kind<T: std::fmt::Debug>(result: jsonwebtoken::errors::Result<T>) -> ErrorKind {
    result.unwrap_err().into_kind()
}

#[test]
fn a_remembered_header_is_only_ever_one_under_a_valid_signature() {
    let key = DecodingKey::from_secret(SECRET).unwrap();
    let validation = Validation::new(Algorithm::HS256);
    let mut with_kid = Header::new(Algorithm::HS256);
    with_kid.kid = Some("forged".to_owned());

    // A token signed with another secret: refused, and its header is not remembered, so the
    // next one with that header is parsed and refused again the same way.
    let forged = token(&with_kid, b"other", FAR);
    for _ in 0..2 {
        assert_eq!(kind(decode::<Claims>(&forged, &key, &validation)), ErrorKind::InvalidSignature);
    }

    // A good token with the plain header; then the kid one, properly signed, still decodes
    // with its own header (a header that is not the remembered one is parsed).
    let plain = token(&Header::new(Algorithm::HS256), SECRET, FAR);
    let data = decode::<Claims>(&plain, &key, &validation).unwrap();
    assert_eq!(data.header, Header::new(Algorithm::HS256));
    let signed_kid = token(&with_kid, SECRET, FAR);
    for _ in 0..2 {
        let data = decode::<Claims>(&signed_kid, &key, &validation).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some("forged"));
        let again = decode::<Claims>(&plain, &key, &validation).unwrap();
        assert_eq!(again.header, Header::new(Algorithm::HS256));
    }

    // A remembered header does not carry a signature: a token with it and a bad signature,
    // or with claims that fail, is refused as before.
    let (body, _) = plain.rsplit_once('.').unwrap();
    let tampered = format!("{body}.{}", "A".repeat(43));
    assert_eq!(kind(decode::<Claims>(&tampered, &key, &validation)), ErrorKind::InvalidSignature);
    let expired = token(&Header::new(Algorithm::HS256), SECRET, 1);
    assert_eq!(kind(decode::<Claims>(&expired, &key, &validation)), ErrorKind::ExpiredSignature);

    // The algorithm is checked against each validation, remembered header or not.
    let rs = Validation::new(Algorithm::RS256);
    assert_eq!(kind(decode::<Claims>(&plain, &key, &rs)), ErrorKind::InvalidAlgorithm);
    let hs512 = Validation::new(Algorithm::HS512);
    assert_eq!(kind(decode::<Claims>(&plain, &key, &hs512)), ErrorKind::InvalidAlgorithm);
}

#[test]
fn decode_claims_gives_what_decode_gives() {
    let key = DecodingKey::from_secret(SECRET).unwrap();
    let validation = Validation::new(Algorithm::HS256);
    let plain = token(&Header::new(Algorithm::HS256), SECRET, FAR);
    let (body, _) = plain.rsplit_once('.').unwrap();
    let inputs = [
        plain.clone(),
        token(&Header::new(Algorithm::HS384), SECRET, FAR),
        token(&Header::new(Algorithm::HS256), b"other", FAR),
        token(&Header::new(Algorithm::HS256), SECRET, 1),
        format!("{body}.{}", "A".repeat(43)),
        format!("{body}.!!"),
        body.to_owned(),
        "a.b".to_owned(),
        "".to_owned(),
        "e30.e30.e30".to_owned(),
    ];
    for input in &inputs {
        // Twice: the second time with the header remembered from the first.
        for _ in 0..2 {
            let full = decode::<Claims>(input, &key, &validation);
            let claims = decode_claims::<Claims>(input, &key, &validation);
            match (full, claims) {
                (Ok(full), Ok(claims)) => assert_eq!(full.claims, claims, "{input}"),
                (Err(a), Err(b)) => assert_eq!(a.into_kind(), b.into_kind(), "{input}"),
                (a, b) => panic!("{input}: decode {a:?}, decode_claims {b:?}"),
            }
        }
    }
}

#[test]
fn an_hmac_key_refuses_what_it_refused_before() {
    // A key of another family given an HMAC token, and an HMAC key with an empty algorithm
    // list: the errors of upstream's verifier path, in its order.
    let hmac_token = token(&Header::new(Algorithm::HS256), SECRET, FAR);
    let ed = DecodingKey::from_ed_der(&[0; 32]);
    let hs = Validation::new(Algorithm::HS256);
    assert_eq!(kind(decode::<Claims>(&hmac_token, &ed, &hs)), ErrorKind::InvalidKeyFormat);
    let key = DecodingKey::from_secret(SECRET).unwrap();
    let mut mixed = Validation::new(Algorithm::HS256);
    mixed.algorithms.push(Algorithm::EdDSA);
    assert_eq!(kind(decode::<Claims>(&hmac_token, &key, &mixed)), ErrorKind::InvalidAlgorithm);
    // A clone of a key that has verified keeps verifying, with the same results.
    assert!(decode::<Claims>(&hmac_token, &key, &hs).is_ok());
    let clone = key.clone();
    assert!(decode::<Claims>(&hmac_token, &clone, &hs).is_ok());
    let other = DecodingKey::from_secret(b"other").unwrap();
    assert_eq!(kind(decode::<Claims>(&hmac_token, &other, &hs)), ErrorKind::InvalidSignature);
}

#[test]
fn a_zeroized_key_forgets_its_keyed_state() {
    use zeroize::Zeroize;
    let mut key = DecodingKey::from_secret(SECRET).unwrap();
    let validation = Validation::new(Algorithm::HS256);
    let plain = token(&Header::new(Algorithm::HS256), SECRET, FAR);
    assert!(decode::<Claims>(&plain, &key, &validation).is_ok());
    key.zeroize();
    assert_eq!(kind(decode::<Claims>(&plain, &key, &validation)), ErrorKind::InvalidSignature);
}
