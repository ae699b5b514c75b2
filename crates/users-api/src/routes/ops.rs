//! `/ping` and the JSON fallbacks for unknown routes and methods.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

use super::json;
use crate::error::msg;

/// `GET /ping`.
pub async fn ping() -> HttpResponse {
    json(
        StatusCode::OK,
        json!({"status": "success", "message": "pong!"}),
    )
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
