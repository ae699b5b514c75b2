use std::collections::BTreeMap;
use std::fmt;
use std::result;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::algorithms::Algorithm;
use crate::errors::{ErrorKind, Result, new_error};
use crate::jwk::Jwk;
use crate::serialization::{MapKey, b64_decode};

const ZIP_SERIAL_DEFLATE: &str = "DEF";
const ENC_A128CBC_HS256: &str = "A128CBC-HS256";
const ENC_A192CBC_HS384: &str = "A192CBC-HS384";
const ENC_A256CBC_HS512: &str = "A256CBC-HS512";
const ENC_A128GCM: &str = "A128GCM";
const ENC_A192GCM: &str = "A192GCM";
const ENC_A256GCM: &str = "A256GCM";

/// Encryption algorithm for encrypted payloads.
///
/// Defined in [RFC7516#4.1.2](https://datatracker.ietf.org/doc/html/rfc7516#section-4.1.2).
///
/// Values defined in [RFC7518#5.1](https://datatracker.ietf.org/doc/html/rfc7518#section-5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum Enc {
    A128CBC_HS256,
    A192CBC_HS384,
    A256CBC_HS512,
    A128GCM,
    A192GCM,
    A256GCM,
    Other(String),
}

impl Serialize for Enc {
    fn serialize<S>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        match self {
            Enc::A128CBC_HS256 => ENC_A128CBC_HS256,
            Enc::A192CBC_HS384 => ENC_A192CBC_HS384,
            Enc::A256CBC_HS512 => ENC_A256CBC_HS512,
            Enc::A128GCM => ENC_A128GCM,
            Enc::A192GCM => ENC_A192GCM,
            Enc::A256GCM => ENC_A256GCM,
            Enc::Other(v) => v,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Enc {
    fn deserialize<D>(deserializer: D) -> std::result::Result<Self, D::Error>
    where
        D: Deserializer<'de>,
    {
        let s = String::deserialize(deserializer)?;
        match s.as_str() {
            ENC_A128CBC_HS256 => return Ok(Enc::A128CBC_HS256),
            ENC_A192CBC_HS384 => return Ok(Enc::A192CBC_HS384),
            ENC_A256CBC_HS512 => return Ok(Enc::A256CBC_HS512),
            ENC_A128GCM => return Ok(Enc::A128GCM),
            ENC_A192GCM => return Ok(Enc::A192GCM),
            ENC_A256GCM => return Ok(Enc::A256GCM),
            _ => (),
        }
        Ok(Enc::Other(s))
    }
}

/// Compression applied to plaintext.
///
/// Defined in [RFC7516#4.1.3](https://datatracker.ietf.org/doc/html/rfc7516#section-4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Zip {
    Deflate,
    Other(String),
}

impl Serialize for Zip {
    fn serialize<S>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        match self {
            Zip::Deflate => ZIP_SERIAL_DEFLATE,
            Zip::Other(v) => v,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Zip {
    fn deserialize<D>(deserializer: D) -> std::result::Result<Self, D::Error>
    where
        D: Deserializer<'de>,
    {
        let s = String::deserialize(deserializer)?;
        match s.as_str() {
            ZIP_SERIAL_DEFLATE => Ok(Zip::Deflate),
            _ => Ok(Zip::Other(s)),
        }
    }
}

/// Any additional non-standard headers not defined in [RFC7515#4.1](https://datatracker.ietf.org/doc/html/rfc7515#section-4.1).
#[derive(Debug, Clone, Default, Hash, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extras {
    #[serde(flatten)]
    inner: BTreeMap<String, serde_json::Value>,
}

impl Extras {
    /// Try to get the value to a given key, deserialized as `T`
    pub fn get<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: DeserializeOwned,
    {
        match self.inner.get(key) {
            Some(value) => {
                let parsed = serde_json::from_value(value.clone())?;
                Ok(Some(parsed))
            }
            None => Ok(None),
        }
    }

    /// Add the given (key, value) pair to the header
    pub fn insert<T>(&mut self, key: impl Into<String>, value: T)
    where
        T: Serialize,
    {
        let value =
            serde_json::to_value(value).expect("serializing extra header value must not fail");
        self.inner.insert(key.into(), value);
    }

    /// Get the raw extra values specified in the header
    pub fn inner(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.inner
    }
}

/// A basic JWT header, the alg defaults to HS256 and typ is automatically
/// set to `JWT`. All the other fields are optional.
// Deserialize is written by hand below (workspace patch): the derived one, because of the
// flattened `extras`, buffered every header into serde's private `Content` tree first.
#[derive(Debug, Clone, Hash, PartialEq, Eq, Serialize)]
pub struct Header {
    /// The type of JWS: it can only be "JWT" here
    ///
    /// Defined in [RFC7515#4.1.9](https://tools.ietf.org/html/rfc7515#section-4.1.9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The algorithm used
    ///
    /// Defined in [RFC7515#4.1.1](https://tools.ietf.org/html/rfc7515#section-4.1.1).
    pub alg: Algorithm,
    /// Content type
    ///
    /// Defined in [RFC7519#5.2](https://tools.ietf.org/html/rfc7519#section-5.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
    /// JSON Key URL
    ///
    /// Defined in [RFC7515#4.1.2](https://tools.ietf.org/html/rfc7515#section-4.1.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jku: Option<String>,
    /// JSON Web Key
    ///
    /// Defined in [RFC7515#4.1.3](https://tools.ietf.org/html/rfc7515#section-4.1.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
    /// Key ID
    ///
    /// Defined in [RFC7515#4.1.4](https://tools.ietf.org/html/rfc7515#section-4.1.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// X.509 URL
    ///
    /// Defined in [RFC7515#4.1.5](https://tools.ietf.org/html/rfc7515#section-4.1.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5u: Option<String>,
    /// X.509 certificate chain. A Vec of base64 encoded ASN.1 DER certificates.
    ///
    /// Defined in [RFC7515#4.1.6](https://tools.ietf.org/html/rfc7515#section-4.1.6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
    /// X.509 SHA1 certificate thumbprint
    ///
    /// Defined in [RFC7515#4.1.7](https://tools.ietf.org/html/rfc7515#section-4.1.7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// X.509 SHA256 certificate thumbprint
    ///
    /// Defined in [RFC7515#4.1.8](https://tools.ietf.org/html/rfc7515#section-4.1.8).
    ///
    /// This will be serialized/deserialized as "x5t#S256", as defined by the RFC.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: Option<String>,
    /// Critical - indicates header fields that must be understood by the receiver.
    ///
    /// Defined in [RFC7515#4.1.6](https://tools.ietf.org/html/rfc7515#section-4.1.6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crit: Option<Vec<String>>,
    /// See `Enc` for description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enc: Option<Enc>,
    /// See `Zip` for description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip: Option<Zip>,
    /// ACME: The URL to which this JWS object is directed
    ///
    /// Defined in [RFC8555#6.4](https://datatracker.ietf.org/doc/html/rfc8555#section-6.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// ACME: Random data for preventing replay attacks.
    ///
    /// Defined in [RFC8555#6.5.2](https://datatracker.ietf.org/doc/html/rfc8555#section-6.5.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Any additional non-standard headers not defined in [RFC7515#4.1](https://datatracker.ietf.org/doc/html/rfc7515#section-4.1).
    /// Once serialized, all keys will be converted to fields at the root level of the header payload
    /// Ex: Dict("custom" -> "header") will be converted to "{"typ": "JWT", ..., "custom": "header"}"
    #[serde(flatten)]
    pub extras: Extras,
}

impl Header {
    /// Returns a JWT header with the algorithm given
    pub fn new(algorithm: Algorithm) -> Self {
        Header {
            typ: Some("JWT".to_string()),
            alg: algorithm,
            cty: None,
            jku: None,
            jwk: None,
            kid: None,
            x5u: None,
            x5c: None,
            x5t: None,
            x5t_s256: None,
            crit: None,
            enc: None,
            zip: None,
            url: None,
            nonce: None,
            extras: Extras::default(),
        }
    }

    /// Converts an encoded part into the Header struct if possible
    pub(crate) fn from_encoded<T: AsRef<[u8]>>(encoded_part: T) -> Result<Self> {
        let mut header = Header::empty();
        header.read_encoded(encoded_part)?;
        Ok(header)
    }

    /// A header with no parameter set (`alg` at its default), to be filled by
    /// [`Header::read_encoded`].
    pub(crate) fn empty() -> Self {
        Header {
            typ: None,
            alg: Algorithm::default(),
            cty: None,
            jku: None,
            jwk: None,
            kid: None,
            x5u: None,
            x5c: None,
            x5t: None,
            x5t_s256: None,
            crit: None,
            enc: None,
            zip: None,
            url: None,
            nonce: None,
            extras: Extras::default(),
        }
    }

    /// [`Header::from_encoded`] into `self`, an [`Header::empty`] header (workspace patch: the
    /// header, 576 bytes, is written where it stays instead of being moved out through every
    /// layer of the parse).
    pub(crate) fn read_encoded<T: AsRef<[u8]>>(&mut self, encoded_part: T) -> Result<()> {
        let decoded = b64_decode(encoded_part)?;
        let mut json = serde_json::Deserializer::from_slice(&decoded);
        HeaderSeed(self).deserialize(&mut json)?;
        json.end()?;

        // if `b64` doesn't parse, reject
        let b64 =
            self.extras.get::<bool>("b64").map_err(|_| new_error(ErrorKind::InvalidToken))?;
        // if `b64` is present and false, reject
        if b64.is_some_and(|b64| !b64) {
            return Err(new_error(ErrorKind::InvalidToken));
        }
        if let Some(crit) = &self.crit {
            // `crit` must not be empty (RFC 7515 Section 4.1.11)
            if crit.is_empty() {
                return Err(new_error(ErrorKind::InvalidToken));
            }

            // we don't support any crit header but `b64`
            if crit.iter().any(|param| param != "b64") || b64.is_none() {
                return Err(new_error(ErrorKind::InvalidToken));
            }

            // reject `crit` with duplicated entries
            if crit.len() != 1 {
                return Err(new_error(ErrorKind::InvalidToken));
            }
        }

        Ok(())
    }

    /// Converts an encoded part into the Header struct if possible, without any validation
    pub(crate) fn from_encoded_unchecked<T: AsRef<[u8]>>(encoded_part: T) -> Result<Self> {
        let decoded = b64_decode(encoded_part)?;
        Ok(serde_json::from_slice(&decoded)?)
    }

    /// Decodes the X.509 certificate chain into ASN.1 DER format.
    pub fn x5c_der(&self) -> Result<Option<Vec<Vec<u8>>>> {
        Ok(self
            .x5c
            .as_ref()
            .map(|b64_certs| {
                b64_certs.iter().map(|x| STANDARD.decode(x)).collect::<result::Result<_, _>>()
            })
            .transpose()?)
    }
}

/// The same as the derived `Deserialize` with a flattened `extras` (a JSON object only; a
/// named parameter twice is an error; `null` is `None`; `alg` is required; every other
/// parameter lands in `extras`, the last of equal names winning), in one pass over the map.
impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> result::Result<Self, D::Error> {
        let mut header = Header::empty();
        HeaderSeed(&mut header).deserialize(deserializer)?;
        Ok(header)
    }
}

/// Reads a header into an [`Header::empty`] one, in place.
struct HeaderSeed<'a>(&'a mut Header);

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> result::Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The derived one's words, so that error messages do not change.
        f.write_str("struct Header")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> result::Result<(), A::Error> {
        let header = self.0;
        // Which named parameters were seen, so that a second one is refused.
        let mut seen = [false; 15];

        // Reads the value of a named parameter (for an optional one, `null` is `None`).
        macro_rules! read {
            ($index:expr, $name:expr, $field:ident) => {{
                if std::mem::replace(&mut seen[$index], true) {
                    return Err(de::Error::duplicate_field($name));
                }
                header.$field = map.next_value()?;
            }};
        }

        while let Some(key) = map.next_key::<MapKey<'de>>()? {
            match key.as_str() {
                "typ" => read!(0, "typ", typ),
                "alg" => read!(1, "alg", alg),
                "cty" => read!(2, "cty", cty),
                "jku" => read!(3, "jku", jku),
                "jwk" => read!(4, "jwk", jwk),
                "kid" => read!(5, "kid", kid),
                "x5u" => read!(6, "x5u", x5u),
                "x5c" => read!(7, "x5c", x5c),
                "x5t" => read!(8, "x5t", x5t),
                "x5t#S256" => read!(9, "x5t#S256", x5t_s256),
                "crit" => read!(10, "crit", crit),
                "enc" => read!(11, "enc", enc),
                "zip" => read!(12, "zip", zip),
                "url" => read!(13, "url", url),
                "nonce" => read!(14, "nonce", nonce),
                _ => {
                    let value: serde_json::Value = map.next_value()?;
                    header.extras.inner.insert(key.into_string(), value);
                }
            }
        }
        if !seen[1] {
            return Err(de::Error::missing_field("alg"));
        }
        Ok(())
    }
}

impl Default for Header {
    /// Returns a JWT header using the default Algorithm, HS256
    fn default() -> Self {
        Header::new(Algorithm::default())
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{DefaultHasher, Hash, Hasher};

    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    use crate::{
        Algorithm, Extras, Header,
        errors::{ErrorKind, Result},
        serialization::b64_encode,
    };

    fn hash<T>(value: &T) -> u64
    where
        T: Hash,
    {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    #[wasm_bindgen_test]
    fn test_header_extras_hash() {
        assert_eq!(hash(&Extras::default()), hash(&Extras::default()));

        let mut a = Extras::default();
        a.insert("foo", "bar");
        a.insert("answer", 42);

        let mut b = Extras::default();
        b.insert("answer", 42);
        b.insert("foo", "bar");

        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));

        b.insert("more", "values");

        assert_ne!(a, b);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    #[wasm_bindgen_test]
    fn test_header_hash() {
        assert_eq!(hash(&Header::default()), hash(&Header::default()));

        let mut extras_a = Extras::default();
        extras_a.insert("foo", "bar");
        extras_a.insert("answer", 42);

        let mut extras_b = Extras::default();
        extras_b.insert("answer", 42);
        extras_b.insert("foo", "bar");

        let mut a = Header::new(Algorithm::HS512);
        a.extras = extras_a;

        let mut b = Header::new(Algorithm::HS512);
        b.extras = extras_b.clone();

        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));

        extras_b.insert("more", "values");
        b.extras = extras_b;

        assert_ne!(a, b);
        assert_ne!(hash(&a), hash(&b));

        assert_ne!(
            hash(&Header { alg: Algorithm::EdDSA, ..Default::default() }),
            hash(&Header { alg: Algorithm::ES256, ..Default::default() })
        )
    }

    #[test]
    #[wasm_bindgen_test]
    fn test_header_crit() {
        fn make_header(value: serde_json::Value) -> Result<Header> {
            Header::from_encoded(b64_encode(value.to_string()))
        }

        // the default value is true, so this is the same as just omitting it
        assert!(
            make_header(json!({
                "alg": "HS256",
                "b64": true
            }))
            .is_ok()
        );

        // the only way we accept `crit` in the header
        assert!(
            make_header(json!({
                    "alg": "HS256",
                    "b64": true,
                    "crit": vec!["b64"]
                }
            ))
            .is_ok()
        );

        assert!(
            make_header(json!({
                    "alg": "HS256",
                    "b64": false
                }
            ))
            .is_err_and(|e| e.into_kind() == ErrorKind::InvalidToken)
        );

        assert!(
            make_header(json!({
                    "alg": "HS256",
                    "b64": false,
                    "crit": vec!["b64"]
                }
            ))
            .is_err_and(|e| e.into_kind() == ErrorKind::InvalidToken)
        );

        assert!(
            make_header(json!({
                    "alg": "HS256",
                    "crit": vec!["b64"]
                }
            ))
            .is_err_and(|e| e.into_kind() == ErrorKind::InvalidToken)
        );

        assert!(
            make_header(json!({
                    "alg": "HS256",
                    "someWeirdExtensionWeDoNotUnderstand": true,
                    "crit": vec!["someWeirdExtensionWeDoNotUnderstand"]
                }
            ))
            .is_err_and(|e| e.into_kind() == ErrorKind::InvalidToken)
        );

        // a `b64` with invalid type should be rejected too
        assert!(
            make_header(json!({
                    "alg": "HS256",
                    "b64": 1,
                }
            ))
            .is_err_and(|e| e.into_kind() == ErrorKind::InvalidToken)
        );
    }

    /// Upstream's derived `Deserialize`, kept here to check the hand-written one against.
    #[derive(serde::Deserialize)]
    struct DerivedHeader {
        typ: Option<String>,
        alg: Algorithm,
        cty: Option<String>,
        jku: Option<String>,
        jwk: Option<crate::jwk::Jwk>,
        kid: Option<String>,
        x5u: Option<String>,
        x5c: Option<Vec<String>>,
        x5t: Option<String>,
        #[serde(rename = "x5t#S256")]
        x5t_s256: Option<String>,
        crit: Option<Vec<String>>,
        enc: Option<super::Enc>,
        zip: Option<super::Zip>,
        url: Option<String>,
        nonce: Option<String>,
        #[serde(flatten)]
        extras: Extras,
    }

    impl From<DerivedHeader> for Header {
        fn from(d: DerivedHeader) -> Self {
            Header {
                typ: d.typ,
                alg: d.alg,
                cty: d.cty,
                jku: d.jku,
                jwk: d.jwk,
                kid: d.kid,
                x5u: d.x5u,
                x5c: d.x5c,
                x5t: d.x5t,
                x5t_s256: d.x5t_s256,
                crit: d.crit,
                enc: d.enc,
                zip: d.zip,
                url: d.url,
                nonce: d.nonce,
                extras: d.extras,
            }
        }
    }

    #[test]
    fn hand_written_deserialize_matches_the_derived_one() {
        let inputs = [
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"typ":"JWT","alg":"HS256"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#,
            r#"{"alg":"HS256","typ":null,"kid":null}"#,
            r#"{"alg":"HS256","custom":"x","n":42,"b64":false}"#,
            r#"{"alg":"HS256","custom":1,"custom":2}"#,
            r#"{"alg":"HS256","\u0074yp":"JWT","k\u0069d":"esc"}"#,
            r#"{"alg":"HS256","x5t#S256":"abc","x5c":["a","b"],"crit":["b64"],"b64":true}"#,
            r#"{"alg":"HS256","enc":"A128GCM","zip":"DEF","url":"u","nonce":"n","cty":"c"}"#,
            r#"{"alg":"HS256","jku":"https://example.com","x5u":"x","x5t":"t"}"#,
            r#"{"alg":"HS256","jwk":{"kty":"oct","k":"c2VjcmV0"}}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#,
            r#"{"alg":"HS256","kid":"a","kid":null}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":null}"#,
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256","typ":5}"#,
            r#"{"alg":"HS256","x5c":"not a list"}"#,
            r#"["HS256","JWT"]"#,
            r#""HS256""#,
            r#"{"alg":"HS256""#,
            r#"{}"#,
            r#"null"#,
        ];
        for input in inputs {
            let ours = serde_json::from_str::<Header>(input).ok();
            let derived = serde_json::from_str::<DerivedHeader>(input).ok().map(Header::from);
            assert_eq!(ours, derived, "{input}");
        }
    }
}
