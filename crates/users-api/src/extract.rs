//! Request extractors: the JSON body and the authenticated user.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use auth_token::{Claims, MAX_TOKEN_BYTES};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use users_domain::User;

use crate::auth_cache::Lookup;
use crate::error::{ApiError, Word, msg};
use crate::state::AppState;

/// Largest JSON body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a body may take to arrive when the app has no state (never in the service).
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request body read as JSON. Extraction never fails: a body that cannot be used is
/// reported when the handler asks for it ([`JsonBody::object`]), so that handlers check
/// authentication first, as the contract orders, even though actix reads the body while the
/// authentication lookup is still running.
pub enum JsonBody {
    /// A non-empty JSON object.
    Object(Map<String, Value>),
    /// Anything else: empty, not JSON, not an object, or `{}` (the seed's `if not post_data`).
    Invalid,
    /// Not read in full: over the limit (413) or too slow to arrive (408).
    Refused(ApiError),
}

impl JsonBody {
    /// The object; or 400 `"Invalid payload."` with the route's word; or the 413 / 408.
    pub fn object(self, word: Word) -> Result<Map<String, Value>, ApiError> {
        match self {
            Self::Object(map) => Ok(map),
            Self::Invalid => Err(ApiError::invalid_payload(word)),
            Self::Refused(err) => Err(err),
        }
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // As Flask's `get_json()`: a body that does not say it is JSON is no payload. This
        // also keeps other sites from posting a `text/plain` form to us without a preflight.
        if !is_json_content_type(req) {
            return Box::pin(std::future::ready(Ok(Self::Invalid)));
        }
        let (declared, timeout) = body_limits(req);
        let payload = payload.take();
        Box::pin(async move {
            Ok(read_json(declared, timeout, payload)
                .await
                .unwrap_or_else(Self::Refused))
        })
    }
}

/// Reads the body (at most [`MAX_BODY_BYTES`], within `timeout`): `None` when the
/// connection failed mid-body; 413 when it is too large, 408 when it is too slow.
async fn read_limited(
    declared: Option<usize>,
    timeout: Duration,
    mut payload: Payload,
) -> Result<Option<web::BytesMut>, ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, Word::Error, msg::TOO_LARGE);
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let Ok(chunk) = chunk else {
                return Ok(None);
            };
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    };
    actix_web::rt::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::new(StatusCode::REQUEST_TIMEOUT, Word::Error, msg::TIMEOUT))?
}

/// Reads the body and parses it.
async fn read_json(
    declared: Option<usize>,
    timeout: Duration,
    payload: Payload,
) -> Result<JsonBody, ApiError> {
    let body = read_limited(declared, timeout, payload).await?;
    Ok(
        match body.map(|body| serde_json::from_slice::<Value>(&body)) {
            Some(Ok(Value::Object(map))) if !map.is_empty() && !map.values().any(has_nul) => {
                JsonBody::Object(map)
            }
            _ => JsonBody::Invalid,
        },
    )
}

/// The parts of a request that bound how its body is read: the declared length and the
/// time it may take.
fn body_limits(req: &HttpRequest) -> (Option<usize>, Duration) {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // actix-web's client_request_timeout bounds the request head only; the body gets
    // the same bound here, so a client trickling its body cannot hold a worker's slot.
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map_or(DEFAULT_BODY_TIMEOUT, |state| {
            Duration::from_secs(state.config.request_timeout_secs)
        });
    (declared, timeout)
}

/// A raw body (an HTML form's), read with the same bounds as JSON bodies: at most
/// [`MAX_BODY_BYTES`] (else 413), within `REQUEST_TIMEOUT_SECONDS` (else 408). A body cut
/// off by the client reads as empty.
pub struct RawBody(Result<web::Bytes, ApiError>);

impl RawBody {
    /// The bytes, or the 413 / 408.
    pub fn bytes(self) -> Result<web::Bytes, ApiError> {
        self.0
    }
}

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (declared, timeout) = body_limits(req);
        let payload = payload.take();
        Box::pin(async move {
            Ok(Self(
                read_limited(declared, timeout, payload)
                    .await
                    .map(|b| b.unwrap_or_default().freeze()),
            ))
        })
    }
}

/// Whether a JSON value holds a NUL character in any string (key or value): no field of
/// ours can hold one, PostgreSQL refuses it in text, so such a body is an invalid payload.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// `application/json` or `application/<something>+json`, parameters (charset) aside.
fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// A request body of type `T` (a type of `crate::bodies`), read as [`JsonBody`] and
/// deserialized when the handler asks for it, so that authentication still answers first.
pub struct Body<T> {
    raw: JsonBody,
    _type: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Body<T> {
    /// The body as `T`; or 400 `"Invalid payload."` with the route's word (an empty, non-JSON
    /// or non-object body, `{}`, or one `T` cannot read); or the 413 / 408.
    pub fn into_inner(self, word: Word) -> Result<T, ApiError> {
        let map = self.raw.object(word)?;
        serde_json::from_value(Value::Object(map)).map_err(|_| ApiError::invalid_payload(word))
    }
}

impl<T> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let raw = JsonBody::from_request(req, payload);
        Box::pin(async move {
            Ok(Self {
                raw: raw.await?,
                _type: PhantomData,
            })
        })
    }
}

/// The caller, authenticated by `Authorization: Bearer <token>` and checked against the
/// database, in the contract's order: header, token, user.
pub struct AuthUser {
    /// The active user the token belongs to.
    pub user: User,
    /// The verified claims.
    pub claims: Claims,
}

impl AuthUser {
    /// 401 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.admin {
            Ok(())
        } else {
            Err(ApiError::unauthorized(msg::NO_PERMISSION))
        }
    }
}

/// The token of an `Authorization` header: 403 when absent (or empty, which the seed's
/// `if auth_header:` treated as absent), 401 when not `Bearer <token>`.
fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, Word::Error, msg::PROVIDE_TOKEN))?;
    let invalid = || ApiError::unauthorized(auth_token::TokenError::Invalid("header").to_string());
    if header.len() > MAX_TOKEN_BYTES + 16 {
        return Err(invalid());
    }
    let value = header.to_str().map_err(|_| invalid())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(invalid());
    }
    Ok(token.to_owned())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::internal(std::io::Error::other("application state missing"))
            })?;
            let token = token?;
            let claims = match state.verified_tokens.get(&token) {
                Some(claims) => claims,
                None => {
                    let claims = state
                        .tokens
                        .decode_auth_token(&token)
                        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
                    state.verified_tokens.put(&token, &claims);
                    claims
                }
            };
            let (id, sid) = (claims.sub, claims.sid.clone());
            if sid.is_none() && !state.config.accept_legacy_tokens {
                return Err(ApiError::unauthorized(
                    auth_token::TokenError::Invalid("legacy").to_string(),
                ));
            }
            let record = match state.auth_cache.lookup(id.get(), sid.as_deref()) {
                Lookup::Hit(record) => Some(record),
                lookup => {
                    let key = sid.clone();
                    let record = state
                        .db(move |conn| users_db::sessions::auth_lookup(conn, id, key.as_deref()))
                        .await?;
                    if let (Lookup::Miss(ticket), Some(record)) = (lookup, &record) {
                        state
                            .auth_cache
                            .store(ticket, id.get(), sid.as_deref(), record.clone());
                    }
                    record
                }
            };
            // The user check comes first, then the session check.
            let record = record
                .filter(|r| r.user.active)
                .ok_or_else(|| ApiError::unauthorized(msg::SOMETHING_WRONG))?;
            // A token without a session issued before this user existed was issued to an
            // earlier holder of the id (deleted, then the id written again by an import).
            if claims.sid.is_none() && record.issued_before_user(claims.iat) {
                return Err(ApiError::unauthorized(msg::SOMETHING_WRONG));
            }
            if claims.sid.is_some()
                && !record
                    .session
                    .is_some_and(|s| s.is_live(users_domain::now_utc()))
            {
                return Err(ApiError::unauthorized(crate::sessions::TOKEN_REVOKED));
            }
            let user = record.user;
            Ok(Self { user, claims })
        })
    }
}
