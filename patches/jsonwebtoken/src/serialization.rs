use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::de::value::{BorrowedStrDeserializer, MapDeserializer, StringDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

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

    /// The user's claims and the registered claims validation reads, from one parse
    /// (workspace patch; upstream parsed the JSON twice, once for each).
    ///
    /// While `T` reads a JSON object, the values of the registered claims (`exp`, `nbf`,
    /// `sub`, `iss`, `aud`) are taken as raw JSON on their way to `T`, and validation's claims
    /// are then read from those alone. The result, errors included, is the one the two parses
    /// gave: a claim present twice is refused as before, and a payload that does not start
    /// with `{` takes the two parses.
    pub fn deserialize_with_validation<T: DeserializeOwned>(
        &self,
    ) -> Result<(T, ClaimsForValidation<'_>)> {
        if self.b64_decoded.first() != Some(&b'{') {
            return Ok((self.deserialize()?, self.deserialize()?));
        }
        let mut registered = Registered::default();
        let mut json = serde_json::Deserializer::from_slice(&self.b64_decoded);
        let claims = T::deserialize(Tee { json: &mut json, registered: &mut registered })?;
        json.end()?;
        Ok((claims, registered.into_claims()?))
    }
}

/// The registered claims validation reads, in this order.
const REGISTERED: [&str; 5] = ["exp", "nbf", "sub", "iss", "aud"];

/// The raw JSON of each registered claim seen, and the first name seen twice.
#[derive(Default)]
struct Registered<'de> {
    values: [Option<&'de RawValue>; 5],
    twice: Option<&'static str>,
}

impl<'de> Registered<'de> {
    fn into_claims(self) -> std::result::Result<ClaimsForValidation<'de>, serde_json::Error> {
        if let Some(name) = self.twice {
            return Err(de::Error::duplicate_field(name));
        }
        let entries = REGISTERED
            .iter()
            .zip(self.values)
            .filter_map(|(name, value)| value.map(|value| (*name, value)));
        ClaimsForValidation::deserialize(MapDeserializer::<_, serde_json::Error>::new(entries))
    }
}

/// A deserializer that hands `T` the JSON object it reads while keeping the registered claims.
struct Tee<'a, 'de> {
    json: &'a mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
    registered: &'a mut Registered<'de>,
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
struct TeeVisitor<'a, 'de, V> {
    inner: V,
    registered: &'a mut Registered<'de>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TeeVisitor<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<V::Value, A::Error> {
        self.inner.visit_map(TeeMap { map, registered: self.registered, current: None })
    }
}

/// A key as read: borrowed from the input when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }

            fn visit_borrowed_str<E: de::Error>(
                self,
                key: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(Key::Borrowed(key))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> std::result::Result<Self::Value, E> {
                Ok(Key::Owned(key.to_owned()))
            }

            fn visit_string<E: de::Error>(self, key: String) -> std::result::Result<Self::Value, E> {
                Ok(Key::Owned(key))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The object's entries as `T` sees them; the value of a registered claim is read as raw
/// JSON, kept, and handed on to `T` from there.
struct TeeMap<'a, 'de, A> {
    map: A,
    registered: &'a mut Registered<'de>,
    /// The index in [`REGISTERED`] of the key just read, if it is one.
    current: Option<usize>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TeeMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, Self::Error> {
        let Some(key) = self.map.next_key::<Key<'de>>()? else {
            return Ok(None);
        };
        let name = match &key {
            Key::Borrowed(key) => key,
            Key::Owned(key) => key.as_str(),
        };
        self.current = REGISTERED.iter().position(|registered| *registered == name);
        match key {
            Key::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some),
            Key::Owned(key) => seed.deserialize(StringDeserializer::new(key)).map(Some),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<S::Value, Self::Error> {
        match self.current.take() {
            None => self.map.next_value_seed(seed),
            Some(index) => {
                let raw: &'de RawValue = self.map.next_value()?;
                if self.registered.values[index].replace(raw).is_some() {
                    self.registered.twice.get_or_insert(REGISTERED[index]);
                }
                // (`A` is serde_json's own map: its error is serde_json's, carried as is.)
                seed.deserialize(raw).map_err(de::Error::custom)
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
            (Err(_), Err(_)) => {}
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
        ];
        for input in inputs {
            same::<Claims>(input);
            same::<serde_json::Value>(input);
            same::<Either>(input);
            same::<Flattened>(input);
            same::<Option<Claims>>(input);
            same::<Newtype>(input);
            same::<HashMap<String, serde_json::Value>>(input);
        }
    }

    #[test]
    fn a_registered_claim_twice_is_refused_whatever_the_claims_type() {
        let decoded = part(r#"{"exp":4000000000,"exp":1}"#);
        assert!(decoded.deserialize_with_validation::<serde_json::Value>().is_err());
        assert!(decoded.deserialize::<ClaimsForValidation<'_>>().is_err());
    }
}
