//! The payload of an access token.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::UserId;

/// `aud` as RFC 7519 allows it: one string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

/// Access-token claims. `sub` is written as a decimal string; an integer `sub` (as the Flask
/// service wrote it) is accepted when reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    #[serde(serialize_with = "sub_to_string", deserialize_with = "sub_from_any")]
    pub sub: UserId,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Unique token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id; absent in tokens issued by the Flask service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

fn sub_to_string<S: Serializer>(sub: &UserId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(sub)
}

fn sub_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<UserId, D::Error> {
    struct SubVisitor;

    impl Visitor<'_> for SubVisitor {
        type Value = UserId;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a positive user id as a decimal string or an integer")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<UserId, E> {
            UserId::parse(v).ok_or_else(|| E::custom("invalid sub"))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<UserId, E> {
            i32::try_from(v)
                .ok()
                .filter(|v| *v > 0)
                .map(UserId::new)
                .ok_or_else(|| E::custom("invalid sub"))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<UserId, E> {
            u64::try_from(v)
                .map_err(|_| E::custom("invalid sub"))
                .and_then(|v| self.visit_u64(v))
        }
    }

    d.deserialize_any(SubVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims_from(json: &str) -> Result<Claims, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn sub_is_written_as_a_string() {
        let c = Claims {
            sub: UserId::new(7),
            iat: 1,
            exp: 2,
            nbf: None,
            jti: Some("j".into()),
            sid: None,
            iss: None,
            aud: None,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"sub":"7","iat":1,"exp":2,"jti":"j"}"#);
        assert_eq!(claims_from(&json).unwrap(), c);
    }

    #[test]
    fn integer_sub_is_accepted() {
        let c = claims_from(r#"{"sub":7,"iat":1,"exp":2}"#).unwrap();
        assert_eq!(c.sub, UserId::new(7));
    }

    #[test]
    fn bad_sub_is_refused() {
        for sub in [
            r#""0""#,
            r#""-1""#,
            "-1",
            "0",
            "1.5",
            r#""x""#,
            "null",
            "4294967296",
        ] {
            let json = format!(r#"{{"sub":{sub},"iat":1,"exp":2}}"#);
            assert!(claims_from(&json).is_err(), "{sub}");
        }
    }

    #[test]
    fn missing_iat_or_exp_is_refused() {
        assert!(claims_from(r#"{"sub":"1","exp":2}"#).is_err());
        assert!(claims_from(r#"{"sub":"1","iat":2}"#).is_err());
        assert!(claims_from(r#"{"sub":"1","iat":1,"exp":"2"}"#).is_err());
    }

    #[test]
    fn audience_one_or_many() {
        let c = claims_from(r#"{"sub":"1","iat":1,"exp":2,"aud":["a","b"]}"#).unwrap();
        assert_eq!(c.aud, Some(Audience::Many(vec!["a".into(), "b".into()])));
    }
}
