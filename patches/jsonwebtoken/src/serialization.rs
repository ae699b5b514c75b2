use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::de::value::{BorrowedStrDeserializer, MapDeserializer, StringDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::errors::Result;
use crate::validation::ClaimsForValidation;

#[inline]
pub(crate) fn b64_encode<T: AsRef<[u8]>>(input: T) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

#[inline]
pub(crate) fn b64_decode<T: AsRef<[u8]>>(input: T) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).map_err(|e| e.into())
}

/// Serializes a struct to JSON and encodes it in base64
pub(crate) fn b64_encode_part<T: Serialize>(input: &T) -> Result<String> {
    let json = serde_json::to_vec(input)?;
    Ok(b64_encode(json))
}

/// This is used to decode from base64 then deserialize from JSON to several structs:
/// - The user-provided struct
/// - The `ClaimsForValidation` struct from this crate to run validation on
pub(crate) struct DecodedJwtPartClaims {
    b64_decoded: Vec<u8>,
}

impl DecodedJwtPartClaims {
    pub fn from_jwt_part_claims(encoded_jwt_part_claims: impl AsRef<[u8]>) -> Result<Self> {
        Ok(Self { b64_decoded: b64_decode(encoded_jwt_part_claims)? })
    }

    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T> {
        Ok(serde_json::from_slice(&self.b64_decoded)?)
    }

    /// The user's claims and the registered claims validation reads, from one parse when
    /// that is clean (workspace patch; upstream parsed the JSON twice, once for each).
    ///
    /// While `T` reads a JSON object, the values of the registered claims (`exp`, `nbf`,
    /// `sub`, `iss`, `aud`) are read as `serde_json::Value`s on their way to `T`, and
    /// validation's claims are then read from those alone. Whenever that path is not clean,
    /// upstream's two parses decide instead, so that results and errors are upstream's: a
    /// payload that does not start with `{`, `T` failing on the way (a type that does not read
    /// a map with string keys, or a bad value), a registered claim present twice, or one that
    /// validation cannot read.
    pub fn deserialize_with_validation<T: DeserializeOwned>(
        &self,
    ) -> Result<(T, ClaimsForValidation<'_>)> {
        if self.b64_decoded.first() == Some(&b'{') {
            let mut registered = Registered::default();
            let mut json = serde_json::Deserializer::from_slice(&self.b64_decoded);
            let teed = T::deserialize(Tee { json: &mut json, registered: &mut registered })
                .and_then(|claims| json.end().map(|()| claims));
            if let Ok(claims) = teed
                && let Some(for_validation) = registered.into_claims()
            {
                return Ok((claims, for_validation));
            }
        }
        Ok((self.deserialize()?, self.deserialize()?))
    }
}

/// The registered claims validation reads, in this order.
const REGISTERED: [&str; 5] = ["exp", "nbf", "sub", "iss", "aud"];

/// The value of each registered claim seen, and whether one was seen twice.
#[derive(Default)]
struct Registered {
    values: [Option<Value>; 5],
    twice: bool,
}

impl Registered {
    /// Validation's claims, when each registered claim was seen at most once and reads.
    fn into_claims(self) -> Option<ClaimsForValidation<'static>> {
        if self.twice {
            return None;
        }
        let entries = REGISTERED
            .iter()
            .zip(self.values)
            .filter_map(|(name, value)| value.map(|value| (*name, value)));
        ClaimsForValidation::deserialize(MapDeserializer::<_, serde_json::Error>::new(entries))
            .ok()
            .filter(|claims| !claims.any_failed())
    }
}

/// A deserializer that hands `T` the JSON object it reads while keeping the registered claims.
struct Tee<'a, 'de> {
    json: &'a mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
    registered: &'a mut Registered,
}

impl<'de> Deserializer<'de> for Tee<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> std::result::Result<V::Value, Self::Error> {
        self.json.deserialize_map(TeeVisitor { inner: visitor, registered: self.registered })
    }

    fn deserialize_option<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, Self::Error> {
        // The input is an object, so never `null`.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// Passes the object's entries to `T`'s visitor through [`TeeMap`].
struct TeeVisitor<'a, V> {
    inner: V,
    registered: &'a mut Registered,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TeeVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<V::Value, A::Error> {
        self.inner.visit_map(TeeMap { map, registered: self.registered, current: None })
    }
}

/// A map key as read: borrowed from the input when it has no escapes (the claims' keys here,
/// the header's parameter names in `header.rs`).
pub(crate) enum MapKey<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl MapKey<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            MapKey::Borrowed(key) => key,
            MapKey::Owned(key) => key,
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self {
            MapKey::Borrowed(key) => key.to_owned(),
            MapKey::Owned(key) => key,
        }
    }
}

impl<'de> Deserialize<'de> for MapKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = MapKey<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name")
            }

            fn visit_borrowed_str<E: de::Error>(
                self,
                key: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(MapKey::Borrowed(key))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> std::result::Result<Self::Value, E> {
                Ok(MapKey::Owned(key.to_owned()))
            }

            fn visit_string<E: de::Error>(self, key: String) -> std::result::Result<Self::Value, E> {
                Ok(MapKey::Owned(key))
            }

            // As a derived field visitor: other formats may give names as bytes.
            fn visit_bytes<E: de::Error>(self, key: &[u8]) -> std::result::Result<Self::Value, E> {
                std::str::from_utf8(key)
                    .map(|key| MapKey::Owned(key.to_owned()))
                    .map_err(|_| E::invalid_value(de::Unexpected::Bytes(key), &self))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The object's entries as `T` sees them; the value of a registered claim is read as a
/// `serde_json::Value`, kept, and handed on to `T` from a copy.
struct TeeMap<'a, A> {
    map: A,
    registered: &'a mut Registered,
    /// The index in [`REGISTERED`] of the key just read, if it is one.
    current: Option<usize>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TeeMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, Self::Error> {
        let Some(key) = self.map.next_key::<MapKey<'de>>()? else {
            return Ok(None);
        };
        self.current = REGISTERED.iter().position(|registered| *registered == key.as_str());
        match key {
            MapKey::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some),
            MapKey::Owned(key) => seed.deserialize(StringDeserializer::new(key)).map(Some),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<S::Value, Self::Error> {
        match self.current.take() {
            None => self.map.next_value_seed(seed),
            Some(index) => {
                let value: Value = self.map.next_value()?;
                let slot = &mut self.registered.values[index];
                self.registered.twice |= slot.is_some();
                // (A failure here sends the whole parse down upstream's path, whose error is
                // the one returned.)
                let result = seed.deserialize(value.clone()).map_err(de::Error::custom);
                *slot = Some(value);
                result
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::DecodedJwtPartClaims;
    use crate::validation::{ClaimsForValidation, Validation, validate};
    use crate::{Algorithm, errors::ErrorKind};

    #[derive(Debug, PartialEq, Deserialize)]
    struct Claims {
        sub: serde_json::Value,
        exp: u64,
        #[serde(default)]
        name: Option<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Either {
        Full(Claims),
        Other(HashMap<String, serde_json::Value>),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Flattened {
        exp: u64,
        #[serde(flatten)]
        rest: HashMap<String, serde_json::Value>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Newtype(Claims);

    #[derive(Debug, PartialEq, Deserialize)]
    enum Tagged {
        A { x: u32 },
    }

    fn part(json: &str) -> DecodedJwtPartClaims {
        DecodedJwtPartClaims { b64_decoded: json.as_bytes().to_vec() }
    }

    /// What validation makes of one set of claims: the error kind, or `None` when it passes.
    /// (One `Validation` for both paths: which missing claim is named first follows the
    /// iteration order of its `HashSet`.)
    fn outcome(claims: ClaimsForValidation<'_>, validation: &Validation) -> Option<ErrorKind> {
        validate(claims, validation).err().map(|e| e.into_kind())
    }

    /// The one-parse path against upstream's two parses, for the claims type `T`.
    fn same<T>(json: &str)
    where
        T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud", "nbf"]);
        validation.set_issuer(&["me"]);
        validation.set_audience(&["you"]);
        validation.sub = Some("7".to_owned());
        let decoded = part(json);
        let two = decoded.deserialize::<T>().and_then(|claims| {
            decoded
                .deserialize::<ClaimsForValidation<'_>>()
                .map(|v| (claims, outcome(v, &validation)))
        });
        let one = decoded
            .deserialize_with_validation::<T>()
            .map(|(claims, v)| (claims, outcome(v, &validation)));
        match (one, two) {
            (Ok(one), Ok(two)) => assert_eq!(one, two, "{json}"),
            // The same error, message and position included.
            (Err(one), Err(two)) => assert_eq!(one.to_string(), two.to_string(), "{json}"),
            (one, two) => panic!("{json}: one parse {one:?}, two parses {two:?}"),
        }
    }

    #[test]
    fn one_parse_gives_what_two_gave() {
        let inputs = [
            r#"{"sub":"7","exp":4000000000,"iss":"me","aud":"you","nbf":1}"#,
            r#"{"sub":7,"exp":4000000000,"iss":"me","aud":["you","them"],"nbf":1}"#,
            r#"{"sub":"7","exp":4000000000.5,"iss":"me","aud":"you","nbf":1.0}"#,
            r#"{"sub":"7","exp":1,"iss":"me","aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000,"iss":"other","aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000,"iss":"me","aud":"them","nbf":1}"#,
            r#"{"sub":"8","exp":4000000000,"iss":"me","aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000,"iss":"me","aud":"you","nbf":4000000000}"#,
            r#"{"sub":"7","exp":4000000000,"iss":"me","aud":"you"}"#,
            r#"{"sub":"7","exp":"soon","iss":"me","aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000,"iss":["me"],"aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000,"iss":"m\u0065","aud":"you","nbf":1}"#,
            r#"{"s\u0075b":"7","\u0065xp":4000000000,"iss":"me","aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000,"exp":4000000001,"iss":"me","aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000,"iss":"me","iss":"me","aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000,"name":"n","iss":"me","aud":"you","nbf":1,"x":{"a":[1]}}"#,
            r#"{"sub":"7","exp":4000000000,"name":null,"iss":"me","aud":"you","nbf":1}"#,
            r#"{"sub":"7","exp":4000000000}"#,
            r#"{"sub":"7","exp":4000000000} "#,
            r#"{"sub":"7","exp":4000000000}x"#,
            r#"{"sub":"7","exp":-1}"#,
            r#"{"exp":4000000000}"#,
            r#"{}"#,
            r#"{"#,
            r#" {"sub":"7","exp":4000000000}"#,
            r#"["7",4000000000]"#,
            r#"null"#,
            r#"5"#,
            // Registered claims validation cannot read: upstream's second parse fails.
            r#"{"exp":4000000000,"sub":[1]}"#,
            r#"{"exp":4000000000,"sub":{}}"#,
            r#"{"exp":4000000000,"nbf":[1]}"#,
            r#"{"exp":{"a":1}}"#,
            r#"{"exp":[1]}"#,
            r#"{"exp":1e400}"#,
            r#"{"exp":4000000000,"sub":"\ud800"}"#,
            r#"{"A":{"x":1}}"#,
            r#"{"1":2,"exp":4000000000}"#,
            r#"{"$serde_json::private::RawValue":"{\"exp\":1}"}"#,
        ];
        let deep = format!(r#"{{"exp":4000000000,"iss":{}"me"{}}}"#, "[".repeat(127), "]".repeat(127));
        let inputs = inputs.iter().copied().chain([deep.as_str()]);
        for input in inputs {
            same::<Claims>(input);
            same::<serde_json::Value>(input);
            same::<Either>(input);
            same::<Flattened>(input);
            same::<Option<Claims>>(input);
            same::<Newtype>(input);
            same::<HashMap<String, serde_json::Value>>(input);
            same::<HashMap<u64, serde_json::Value>>(input);
            same::<Tagged>(input);
        }
    }

    #[test]
    fn a_registered_claim_twice_is_refused_whatever_the_claims_type() {
        let decoded = part(r#"{"exp":4000000000,"exp":1}"#);
        assert!(decoded.deserialize_with_validation::<serde_json::Value>().is_err());
        assert!(decoded.deserialize::<ClaimsForValidation<'_>>().is_err());
    }
}
