//! `/ping`, `/health`, `/ready`, the OpenAPI document and its docs page, and the JSON
//! fallbacks for unknown routes and methods.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::json;
use crate::bodies::{DatabaseErrors, MessageResponse};
use crate::error::{ApiError, msg};
use crate::state::AppState;

/// Liveness check (the seed's)
///
/// Always `{"status":"success","message":"pong!"}`.
#[utoipa::path(
    get,
    path = "/ping",
    tag = "ops",
    responses(
        (status = 200, description = "The service runs.", body = MessageResponse,
            example = json!({"status": "success", "message": "pong!"})))
)]
pub async fn ping() -> HttpResponse {
    json(
        StatusCode::OK,
        json!({"status": "success", "message": "pong!"}),
    )
}

fn ok() -> HttpResponse {
    json(
        StatusCode::OK,
        json!({"status": "success", "message": "ok"}),
    )
}

/// Liveness
///
/// 200 while the process runs; nothing else is checked.
#[utoipa::path(
    get,
    path = "/health",
    tag = "ops",
    responses(
        (status = 200, description = "The process runs.", body = MessageResponse,
            example = json!({"status": "success", "message": "ok"})))
)]
pub async fn health() -> HttpResponse {
    ok()
}

/// Readiness
///
/// 200 when the database answers a trivial query, else 503 (after at most the pool's
/// connection timeout). Nothing is cached: the answer is 200 again as soon as the database
/// is back, with no restart.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "ops",
    responses(
        (status = 200, description = "The database answers.", body = MessageResponse,
            example = json!({"status": "success", "message": "ok"})),
        DatabaseErrors,
    )
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db(users_db::ping).await?;
    Ok(ok())
}

/// The OpenAPI document
///
/// This document: OpenAPI 3.1, generated from the code.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "ops",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", body = Object,
            content_type = "application/json"))
)]
pub async fn openapi_json(document: web::Data<OpenApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0)
}

/// The OpenAPI document as JSON, handed to the app by `app::build_app` (which assembles it
/// from `crate::openapi`), so that no handler depends on the document that describes it.
#[derive(Debug, Clone, Copy)]
pub struct OpenApiDocument(pub &'static str);

/// The vendored documentation renderer: Redoc's standalone bundle (see `assets/README.md`).
pub const DOCS_ASSET: &[u8] = include_bytes!("../../assets/redoc.standalone.js");

/// Where the page loads the renderer from, relative to `/docs`; versioned, so cached for good.
pub const DOCS_ASSET_PATH: &str = "/docs/assets/redoc-2.5.4.standalone.js";

/// The docs page: it loads only the vendored script and `/openapi.json`, both relative, so
/// it works behind a path prefix and with no internet access.
const DOCS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>users-service API</title>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="docs/assets/redoc-2.5.4.standalone.js"></script>
</body>
</html>
"#;

/// Same-origin only: the script, the document, and the renderer's own inline styles, web
/// worker and data images. The bundle's remote logo is refused, so the page never reaches out.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// API documentation
///
/// An HTML page that renders `/openapi.json` with a renderer served by the service itself,
/// so it works with no internet access.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "ops",
    responses(
        (status = 200, description = "The documentation page.", body = String,
            content_type = "text/html"))
)]
pub async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CONTENT_SECURITY_POLICY, DOCS_CSP))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(DOCS_PAGE)
}

/// The docs renderer script
///
/// Redoc's standalone bundle, vendored into the binary. Its name carries its version, so it
/// is cached for a year.
#[utoipa::path(
    get,
    path = "/docs/assets/redoc-2.5.4.standalone.js",
    tag = "ops",
    responses(
        (status = 200, description = "The script.", body = String,
            content_type = "text/javascript",
            headers(("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"))))
)]
pub async fn docs_asset() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(DOCS_ASSET)
}

/// Unknown route: 404 JSON.
pub async fn not_found() -> HttpResponse {
    json(
        StatusCode::NOT_FOUND,
        json!({"status": "fail", "message": msg::NOT_FOUND}),
    )
}

/// Known route, other method: 405 JSON.
pub async fn method_not_allowed() -> HttpResponse {
    json(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"status": "fail", "message": msg::METHOD_NOT_ALLOWED}),
    )
}

/// Prometheus metrics
///
/// The Prometheus text exposition format: request counts and latency histograms by route and
/// status, login outcomes, tokens issued, refresh-token reuse detected, throttled requests,
/// password-hash time, and the database pool's state.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses(
        (status = 200, description = "The metrics, in the Prometheus text format.",
            body = String, content_type = "text/plain"),
    )
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.pool))
}

/// JSON Web Key Set
///
/// The public keys that verify the service's access tokens: the signing key and every
/// previous key still accepted. With HS256 it is `{"keys":[]}`: a shared secret is never
/// published. Sent with `Cache-Control: public, max-age=300`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "ops",
    responses(
        (status = 200, description = "The key set.", body = crate::bodies::Jwks,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    )
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(state.tokens.jwks_json().to_owned())
}
