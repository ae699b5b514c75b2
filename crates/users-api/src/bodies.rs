//! The request and response bodies of the API: the types the handlers read and write, and
//! from which the OpenAPI document (`crate::openapi`) derives its schemas, so the document
//! cannot drift from what is served.
//!
//! Requests keep the seed's leniency: a field of the wrong type or an empty string reads as
//! missing ([`Text`]), so each handler decides, in the contract's order, what a missing field
//! means. Responses are built from domain values (`From<&User>`), never with `json!`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use users_domain::User;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use crate::error::msg;
use crate::routes::http_date;
use crate::sessions::TokenPair;

/// A typed body with its status code: what handlers return.
#[derive(Debug)]
pub struct Reply<T>(pub StatusCode, pub T);

impl<T> Reply<T> {
    /// 200 with `body`.
    pub fn ok(body: T) -> Self {
        Self(StatusCode::OK, body)
    }

    /// 201 with `body`.
    pub fn created(body: T) -> Self {
        Self(StatusCode::CREATED, body)
    }

    /// 202 with `body`.
    pub fn accepted(body: T) -> Self {
        Self(StatusCode::ACCEPTED, body)
    }
}

impl<T: Serialize> Responder for Reply<T> {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::build(self.0).json(self.1)
    }
}

/// A request field as the seed read it: a non-empty string, or nothing (absent, `null`, the
/// wrong type, or `""` all read as missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(Option<String>);

impl Text {
    /// The string, if the field held a non-empty one.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(match Value::deserialize(d)? {
            Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        }))
    }
}

/// An optional text field of a Part C request: absent (or `null`), a non-empty string, or
/// anything else (the wrong type, `""`), which the route answers 400.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OptText {
    /// Not given.
    #[default]
    Absent,
    /// A non-empty string.
    Given(String),
    /// Given, but not a non-empty string.
    Wrong,
}

impl<'de> Deserialize<'de> for OptText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Self::Absent,
            Value::String(s) if !s.is_empty() => Self::Given(s),
            _ => Self::Wrong,
        })
    }
}

/// A field that may be absent but, when present, must have its type (`null` included: it is
/// no boolean). For `#[serde(default, deserialize_with = "present")]`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

// ---------------------------------------------------------------------------------------
// Envelope words

/// `"success"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Success {
    /// The request was served.
    Success,
}

/// `"fail"` (the request is wrong: the `/users` routes and the fallbacks) or `"error"` (the
/// `/auth` routes, authentication, throttling, 413 and 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ErrorWord {
    /// The request is wrong.
    Fail,
    /// The request could not be served.
    Error,
}

// ---------------------------------------------------------------------------------------
// Responses

/// The error envelope, for every 4xx and 5xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorResponse {
    /// `"fail"` or `"error"`, by route and cause.
    pub status: ErrorWord,
    /// One of the contract's fixed messages.
    pub message: String,
}

/// A success with a message only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageResponse {
    /// `"success"`.
    pub status: Success,
    /// What was done.
    pub message: String,
}

/// A new pair of tokens: login, registration and refresh.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// `"success"`.
    pub status: Success,
    /// `"Successfully registered."`, `"Successfully logged in."` or `"Token refreshed."`.
    pub message: String,
    /// A signed JWT access token, for `Authorization: Bearer <token>`.
    pub auth_token: String,
    /// An opaque refresh token for `POST /auth/refresh`: single use, rotated on each refresh.
    pub refresh_token: String,
}

/// `POST /auth/login` for a user with a second factor: the first step only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaRequiredResponse {
    /// `"success"`.
    pub status: Success,
    /// `"Second factor required."`.
    pub message: String,
    /// Opaque, for `POST /auth/login/mfa`: valid for 300 s, single use, at most 5 wrong codes.
    pub mfa_token: String,
}

/// What `POST /auth/login` answers: tokens, or the second step's `mfa_token`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    /// Logged in.
    Tokens(TokenResponse),
    /// The password was right; a second factor is required.
    SecondFactor(MfaRequiredResponse),
}

/// What `POST /auth/register` answers: tokens, or (with `EMAIL_VERIFICATION=required`) a
/// message only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RegisterResponse {
    /// Registered, with a new session.
    Tokens(TokenResponse),
    /// Registered; the address must be verified before the first login.
    VerifyFirst(MessageResponse),
}

/// A pending TOTP enrolment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnrolment {
    /// The shared secret, RFC 4648 base32 without padding.
    pub secret: String,
    /// The `otpauth://totp/...` URI for an authenticator app (as a QR code, say).
    pub otpauth_uri: String,
}

/// `POST /auth/mfa/totp`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnrolmentResponse {
    /// `"success"`.
    pub status: Success,
    /// The enrolment to confirm.
    pub data: TotpEnrolment,
}

/// The recovery codes of a newly enabled factor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCodes {
    /// Ten single-use codes; shown once, stored only as hashes.
    pub recovery_codes: Vec<String>,
}

/// `POST /auth/mfa/totp/confirm`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnabledResponse {
    /// `"success"`.
    pub status: Success,
    /// `"Two-factor authentication enabled."`.
    pub message: String,
    /// The recovery codes.
    pub data: RecoveryCodes,
}

/// One revocation of the feed: a session (`sid`) or a user (`user_id`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationEvent {
    /// Increasing; resume after the last one seen.
    pub seq: i64,
    /// The revoked session: refuse tokens with this `sid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The deactivated or deleted user: refuse every token with this `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i32>,
    /// Unix time after which no access token this event revokes can still be valid.
    pub exp: i64,
}

/// A page of the revocation feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationPage {
    /// In `seq` order, at most 1,000.
    pub events: Vec<RevocationEvent>,
    /// The `after` of the next call.
    pub next: i64,
}

/// `GET /auth/revocations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationFeedResponse {
    /// `"success"`.
    pub status: Success,
    /// The page.
    pub data: RevocationPage,
}

/// The caller's account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInfo {
    /// The user id.
    pub id: i32,
    /// The username.
    pub username: String,
    /// The email address.
    pub email: String,
    /// Whether the address was verified (a link followed, or a password reset).
    pub email_verified: bool,
    /// Whether a second factor (TOTP) is enabled.
    pub mfa_enabled: bool,
    /// Unused recovery codes of the second factor.
    pub recovery_codes_left: i64,
    /// When the account was created, as an HTTP date.
    #[schema(example = "Tue, 20 Jun 2017 19:25:48 GMT")]
    pub created_at: String,
}

/// `GET /auth/account`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountResponse {
    /// `"success"`.
    pub status: Success,
    /// The account.
    pub data: AccountInfo,
}

/// One live session of the caller.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInfo {
    /// The session id: the `sid` of its tokens.
    pub id: String,
    /// Opened at, as an HTTP date.
    pub created_at: String,
    /// Opened or last refreshed at, as an HTTP date.
    pub last_seen_at: String,
    /// The `User-Agent` of the login or registration that opened it.
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// Whether this is the caller's own session.
    pub current: bool,
}

/// The caller's live sessions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionInfo>,
}

/// `GET /auth/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionListResponse {
    /// `"success"`.
    pub status: Success,
    /// The sessions.
    pub data: SessionList,
}

/// One user in the list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserListItem {
    /// The user id.
    pub id: i32,
    /// The username.
    pub username: String,
    /// The email address, lower-cased.
    pub email: String,
    /// When the user was created, as an HTTP date: `Tue, 20 Jun 2017 19:25:48 GMT`.
    #[schema(example = "Tue, 20 Jun 2017 19:25:48 GMT")]
    pub created_at: String,
}

/// A page of users.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPage {
    /// Newest first.
    pub users: Vec<UserListItem>,
    /// The cursor of the next page (pass it as `after`), or `null` on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// `GET /users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserListResponse {
    /// `"success"`.
    pub status: Success,
    /// The page.
    pub data: UserPage,
}

/// A user as `GET /users/{id}` shows it (no id).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicUser {
    /// The username.
    pub username: String,
    /// The email address, lower-cased.
    pub email: String,
    /// When the user was created, as an HTTP date.
    #[schema(example = "Tue, 20 Jun 2017 19:25:48 GMT")]
    pub created_at: String,
}

/// `GET /users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserResponse {
    /// `"success"`.
    pub status: Success,
    /// The user.
    pub data: PublicUser,
}

/// The caller, as `GET /auth/status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusUser {
    /// The user id.
    pub id: i32,
    /// The username.
    pub username: String,
    /// The email address, lower-cased.
    pub email: String,
    /// Always `true` here: an inactive user's token is refused.
    pub active: bool,
    /// When the user was created, as an HTTP date.
    #[schema(example = "Tue, 20 Jun 2017 19:25:48 GMT")]
    pub created_at: String,
}

/// `GET /auth/status`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusResponse {
    /// `"success"`.
    pub status: Success,
    /// The caller.
    pub data: StatusUser,
}

/// A user as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUser {
    /// The user id.
    pub id: i32,
    /// The username.
    pub username: String,
    /// The email address, lower-cased.
    pub email: String,
    /// Whether the user may use their tokens.
    pub active: bool,
    /// Whether the user may manage users.
    pub admin: bool,
    /// When the user was created, as an HTTP date.
    #[schema(example = "Tue, 20 Jun 2017 19:25:48 GMT")]
    pub created_at: String,
}

/// `PATCH /users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUserResponse {
    /// `"success"`.
    pub status: Success,
    /// The user after the change.
    pub data: AdminUser,
}

/// One public key (RFC 7517), with the key-type parameters (`crv`, `x`, `y` or `n`, `e`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    /// Key type: `OKP`, `EC` or `RSA`.
    pub kty: String,
    /// The RFC 7638 thumbprint of the key, as carried in the tokens' `kid` header.
    pub kid: String,
    /// `EdDSA`, `ES256` or `RS256`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(rename = "use")]
    pub use_: String,
}

/// `GET /.well-known/jwks.json`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Jwks {
    /// The signing key first, then the previous keys; empty with HS256.
    pub keys: Vec<Jwk>,
}

// ---------------------------------------------------------------------------------------
// Requests

// The patterns mirror `users-domain`: a username has a character that is not whitespace and
// no control character (Unicode `Cc`); an email has exactly one `@` between non-empty parts,
// no whitespace and no control character. (utoipa takes only literals here.)

/// `POST /auth/register` and `POST /users`. Every field must be a non-empty string; the
/// username and email at most 128 characters without control characters, the email with
/// exactly one `@` and no whitespace, the password within the password policy
/// (`PASSWORD_MIN_LENGTH` characters up to 1024 bytes).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// The username, unique.
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "michael"
    )]
    pub username: Text,
    /// The email address, unique (case-insensitively).
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        min_length = 3,
        max_length = 128,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$",
        example = "michael@example.com"
    )]
    pub email: Text,
    /// The password.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, example = "correct horse battery staple")]
    pub password: Text,
}

/// `POST /auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The email address (any case).
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, example = "michael@example.com")]
    pub email: Text,
    /// The password.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, example = "correct horse battery staple")]
    pub password: Text,
}

/// `POST /auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The latest refresh token of the session.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub refresh_token: Text,
}

/// `PUT /auth/password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    /// The current password.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub old_password: Text,
    /// The new password, within the password policy.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub new_password: Text,
}

/// `POST /auth/email/confirm`: the token of a verification or address-change link.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmailTokenRequest {
    /// The `token` parameter of the link.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub token: Text,
}

/// `POST /auth/email/change`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmailChangeRequest {
    /// The new address.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, example = "new@example.com")]
    pub email: Text,
    /// The caller's password.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub password: Text,
}

/// `POST /auth/password/forgot`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    /// The account's address.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, example = "michael@example.com")]
    pub email: Text,
}

/// `POST /auth/password/reset`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    /// The `token` parameter of the reset link.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub token: Text,
    /// The new password, within the password policy.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub password: Text,
}

/// `POST /auth/mfa/totp`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasswordConfirmRequest {
    /// The caller's password.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub password: Text,
}

/// `POST /auth/mfa/totp/confirm`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TotpCodeRequest {
    /// The current six-digit code of the authenticator.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, example = "287082")]
    pub code: Text,
}

/// `DELETE /auth/mfa/totp`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TotpDisableRequest {
    /// The caller's password.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub password: Text,
    /// A current code or an unused recovery code.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub code: Text,
}

/// `POST /auth/login/mfa`: the `mfa_token` with a code or a recovery code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MfaLoginRequest {
    /// From `POST /auth/login`.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    pub mfa_token: Text,
    /// The current six-digit code (or give `recovery_code`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub code: OptText,
    /// An unused recovery code (or give `code`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub recovery_code: OptText,
}

/// `PATCH /users/{id}`: at least one of the fields.
///
/// `minProperties: 1` is set by `openapi::Fixups`: utoipa-gen 5.5 writes `min_properties` as
/// `maxProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserUpdateRequest {
    /// Activate or deactivate the user; deactivation revokes their sessions.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable = false)]
    pub active: Option<bool>,
    /// Grant or remove admin rights.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable = false)]
    pub admin: Option<bool>,
    /// A new username, unique.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub username: Option<String>,
    /// A new email address, unique.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(
        nullable = false,
        min_length = 3,
        max_length = 128,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"
    )]
    pub email: Option<String>,
}

/// The feed's query, read as text so that any bad value is the contract's 400.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Events after this `seq` (the `next` of the previous answer); omitted: from the
    /// oldest event kept.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Seconds (0 to 30, default 0) to wait for an event when none is newer than `after`.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 30)]
    pub wait: Option<String>,
}

/// The query of `GET /users`. Unknown parameters are ignored.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    pub limit: Option<i64>,
    /// The `next` cursor of the previous page.
    #[param(nullable = false)]
    pub after: Option<String>,
    /// Matches the start of the username or the email, case-insensitively; at most 128
    /// characters (empty: no filter).
    #[param(nullable = false, max_length = 128)]
    pub q: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Responses built from domain values

impl MessageResponse {
    /// A success with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            status: Success::Success,
            message: message.into(),
        }
    }
}

impl TokenResponse {
    /// A success carrying a new token pair.
    pub fn new(message: impl Into<String>, tokens: TokenPair) -> Self {
        Self {
            status: Success::Success,
            message: message.into(),
            auth_token: tokens.access,
            refresh_token: tokens.refresh,
        }
    }
}

impl From<&User> for UserListItem {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.get(),
            username: u.username.clone(),
            email: u.email.clone(),
            created_at: http_date(&u.created_at),
        }
    }
}

impl From<&User> for PublicUser {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            email: u.email.clone(),
            created_at: http_date(&u.created_at),
        }
    }
}

impl From<&User> for StatusUser {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.get(),
            username: u.username.clone(),
            email: u.email.clone(),
            active: u.active,
            created_at: http_date(&u.created_at),
        }
    }
}

impl From<&User> for AdminUser {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.get(),
            username: u.username.clone(),
            email: u.email.clone(),
            active: u.active,
            admin: u.admin,
            created_at: http_date(&u.created_at),
        }
    }
}

/// The `{"status":"success","data":…}` responses, each built from its data.
macro_rules! data_response {
    ($($response:ident($data:ty)),* $(,)?) => {$(
        impl $response {
            /// A success carrying `data`.
            pub fn new(data: $data) -> Self {
                Self {
                    status: Success::Success,
                    data,
                }
            }
        }
    )*};
}

data_response!(
    UserListResponse(UserPage),
    UserResponse(PublicUser),
    StatusResponse(StatusUser),
    AdminUserResponse(AdminUser),
    TotpEnrolmentResponse(TotpEnrolment),
    RevocationFeedResponse(RevocationPage),
    AccountResponse(AccountInfo),
    SessionListResponse(SessionList),
);

// ---------------------------------------------------------------------------------------
// Error sets shared by routes of one kind, for `responses(...)`

/// One documented error answer: the `ErrorResponse` envelope with named examples.
fn error_answer(description: &str, examples: &[(&str, Value)]) -> RefOr<Response> {
    let mut content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorResponse")));
    content = match examples {
        [(_, only)] => content.example(Some(only.clone())),
        many => content.examples_from_iter(many.iter().map(|(name, value)| {
            (
                *name,
                ExampleBuilder::new().value(Some(value.clone())).build(),
            )
        })),
    };
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content.build())
        .build()
        .into()
}

fn error(message: &str) -> Value {
    json!({"status": "error", "message": message})
}

/// 401 and 403 of every protected route.
pub struct ProtectedErrors;

impl IntoResponses for ProtectedErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "401".to_owned(),
                error_answer(
                    "A malformed, expired or revoked token, or a user that is gone or inactive.",
                    &[
                        ("Bad token", error("Invalid token. Please log in again.")),
                        ("Expired", error("Signature expired. Please log in again.")),
                        ("Revoked", error(crate::sessions::TOKEN_REVOKED)),
                        ("Gone or inactive", error(msg::SOMETHING_WRONG)),
                    ],
                ),
            ),
            (
                "403".to_owned(),
                error_answer(
                    "No `Authorization` header.",
                    &[("No header", error(msg::PROVIDE_TOKEN))],
                ),
            ),
        ])
    }
}

/// 408 and 413 of every route that reads a body.
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "408".to_owned(),
                error_answer(
                    "The body did not arrive within `REQUEST_TIMEOUT_SECONDS`.",
                    &[("Timeout", error(msg::TIMEOUT))],
                ),
            ),
            (
                "413".to_owned(),
                error_answer(
                    "The body is over 64 KiB.",
                    &[("Too large", error(msg::TOO_LARGE))],
                ),
            ),
        ])
    }
}

/// 503 of every route that uses the database.
pub struct DatabaseErrors;

impl IntoResponses for DatabaseErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([(
            "503".to_owned(),
            error_answer(
                "The database does not answer.",
                &[("Unavailable", error(msg::UNAVAILABLE))],
            ),
        )])
    }
}

/// 429 of the routes that count failed logins.
pub struct ThrottleErrors;

impl IntoResponses for ThrottleErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let RefOr::T(mut answer) = error_answer(
            "Too many failed logins for this account or client address.",
            &[("Throttled", error(crate::throttle::TOO_MANY))],
        ) else {
            return BTreeMap::new();
        };
        answer.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::Integer),
                )
                .description(Some("Seconds until an attempt is allowed again."))
                .build(),
        );
        BTreeMap::from([("429".to_owned(), RefOr::T(answer))])
    }
}

/// 401 and 403 of the admin routes: [`ProtectedErrors`], and a caller who is not an admin.
pub struct AdminErrors;

impl IntoResponses for AdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut set = ProtectedErrors::responses();
        set.insert(
            "401".to_owned(),
            error_answer(
                "A malformed, expired or revoked token, a user that is gone or inactive, or a \
                 caller who is not an admin.",
                &[
                    ("Bad token", error("Invalid token. Please log in again.")),
                    ("Expired", error("Signature expired. Please log in again.")),
                    ("Revoked", error(crate::sessions::TOKEN_REVOKED)),
                    ("Gone or inactive", error(msg::SOMETHING_WRONG)),
                    ("Not an admin", error(msg::NO_PERMISSION)),
                ],
            ),
        );
        set
    }
}
