//! The OpenAPI 3.1 document of the service (`GET /openapi.json`), generated with `utoipa`
//! from the `#[utoipa::path]` attributes on the handlers and the schema types below.
//!
//! The handlers read their bodies as loose JSON (see [`crate::extract::JsonBody`]) and build
//! their answers with `json!`, so that the seed's exact behaviour on bad input is kept. The
//! types here mirror that JSON for the document: request bodies as the handlers read them,
//! response bodies as they are written. `tests/api/openapi.rs` checks that every route of
//! [`crate::app::routes`] is documented, and `scripts/schemathesis.sh` checks the live
//! responses against the document.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::routes::{auth, ops, users};

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "bearerAuth";

/// The document, built once and served as is.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "users-service",
        description = "Users and authentication. Every body, errors included, is JSON with the \
            envelope `{\"status\": \"success\" | \"fail\" | \"error\", \"message\"?, \"data\"?}`. \
            An unknown route answers 404 `{\"status\":\"fail\",\"message\":\"Not found.\"}`; a \
            known route with another method answers 405 \
            `{\"status\":\"fail\",\"message\":\"Method not allowed.\"}`; a JSON body over 64 KiB \
            answers 413 `{\"status\":\"error\",\"message\":\"Payload too large.\"}`; a database \
            that does not answer gives 503 \
            `{\"status\":\"error\",\"message\":\"Service unavailable. Try again later.\"}`. \
            Protected routes take `Authorization: Bearer <token>`: without the header 403, with \
            a bad, expired or revoked token, or for a user that is gone or inactive, 401."
    ),
    paths(
        ops::ping,
        ops::health,
        ops::ready,
        metrics_doc,
        jwks_doc,
        ops::openapi_json,
        ops::docs,
        ops::docs_asset,
        users::list,
        users::create,
        users::get,
        users::update,
        users::delete,
        auth::register,
        auth::login,
        auth::logout,
        auth::logout_all,
        auth::refresh,
        auth::change_password,
        auth::status,
    ),
    modifiers(&BearerAuth, &Fixups),
    tags(
        (name = "ops", description = "Liveness, readiness, metrics, keys and this documentation."),
        (name = "users", description = "The user list, lookups, and admin management."),
        (name = "auth", description = "Registration, login, sessions, refresh tokens, passwords."),
    )
)]
pub struct ApiDoc;

/// Adds the bearer security scheme that protected operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `/auth/login`, `/auth/register` or `/auth/refresh`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// What the derive cannot say.
struct Fixups;

impl Modify for Fixups {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(update))) =
            components.schemas.get_mut("UserUpdateRequest")
        {
            update.min_properties = Some(1);
        }
    }
}

/// The document as JSON, rendered once.
pub fn spec_json() -> &'static str {
    static SPEC: LazyLock<String> = LazyLock::new(|| match ApiDoc::openapi().to_json() {
        Ok(json) => json,
        Err(e) => {
            tracing::error!(error = %e, "OpenAPI document serialization failed");
            String::from("{}")
        }
    });
    &SPEC
}

// `/metrics` and `/.well-known/jwks.json` are served by `crate::metrics`; their operations
// are described here.

/// Prometheus metrics
///
/// The Prometheus text exposition format: request counts and latency histograms by route and
/// status, login outcomes, tokens issued, refresh-token reuse detected, throttled requests,
/// password-hash time, and the database pool's state.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    operation_id = "metrics",
    responses(
        (status = 200, description = "The metrics, in the Prometheus text format.",
            body = String, content_type = "text/plain"),
    )
)]
#[allow(dead_code)]
fn metrics_doc() {}

/// JSON Web Key Set
///
/// The public keys that verify the service's access tokens: the signing key and every
/// previous key still accepted. With HS256 it is `{"keys":[]}`: a shared secret is never
/// published. Sent with `Cache-Control: public, max-age=300`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "ops",
    operation_id = "jwks",
    responses(
        (status = 200, description = "The key set.", body = Jwks,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    )
)]
#[allow(dead_code)]
fn jwks_doc() {}

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
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "michael"
    )]
    pub username: String,
    /// The email address, unique (case-insensitively).
    #[schema(
        min_length = 3,
        max_length = 128,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$",
        example = "michael@example.com"
    )]
    pub email: String,
    /// The password.
    #[schema(min_length = 1, example = "correct horse battery staple")]
    pub password: String,
}

/// `POST /auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The email address (any case).
    #[schema(min_length = 1, example = "michael@example.com")]
    pub email: String,
    /// The password.
    #[schema(min_length = 1, example = "correct horse battery staple")]
    pub password: String,
}

/// `POST /auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The latest refresh token of the session.
    #[schema(min_length = 1)]
    pub refresh_token: String,
}

/// `PUT /auth/password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    /// The current password.
    #[schema(min_length = 1)]
    pub old_password: String,
    /// The new password, within the password policy.
    #[schema(min_length = 1)]
    pub new_password: String,
}

/// `PATCH /users/{id}`: at least one of the fields.
///
/// `minProperties: 1` is set by [`Fixups`]: utoipa-gen 5.5 writes `min_properties` as
/// `maxProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserUpdateRequest {
    /// Activate or deactivate the user; deactivation revokes their sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub active: Option<bool>,
    /// Grant or remove admin rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub admin: Option<bool>,
    /// A new username, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub username: Option<String>,
    /// A new email address, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        min_length = 3,
        max_length = 128,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"
    )]
    pub email: Option<String>,
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
