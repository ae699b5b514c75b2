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

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

use crate::routes::{account, auth, email, mfa, ops, pages, revocations, users};

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
        ops::metrics,
        ops::jwks,
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
        mfa::login_second_step,
        mfa::enrol,
        mfa::confirm,
        mfa::disable,
        mfa::admin_disable,
        revocations::feed,
        account::account,
        account::sessions,
        account::revoke_session,
        email::verify,
        email::confirm,
        email::change,
        email::forgot,
        email::reset,
        pages::verify_page,
        pages::verify_submit,
        pages::reset_page,
        pages::reset_submit,
    ),
    modifiers(&BearerAuth, &Fixups),
    tags(
        (name = "ops", description = "Liveness, readiness, metrics, keys and this documentation."),
        (name = "users", description = "The user list, lookups, and admin management."),
        (name = "auth", description = "Registration, login, sessions, refresh tokens, passwords."),
        (name = "mfa", description = "The second factor: TOTP enrolment, confirmation and removal."),
        (name = "email", description = "Email verification, address change and password recovery (links sent by mail)."),
        (name = "pages", description = "The HTML pages that mail links open; a GET never uses the token."),
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
        components.add_security_scheme(
            "feedToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The `REVOCATION_FEED_TOKEN` setting."))
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
