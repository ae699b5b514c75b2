//! An actix-web extractor (feature `actix`): put a [`Verifier`] in the app data
//! (`web::Data<Verifier>`), then take [`Authenticated`] in a handler.
//!
//! Refusals are the users service's own answers: 403 `{"status":"error","message":"Provide
//! a valid auth token."}` without a header, 401 with the token's message, 503 while the
//! revocation feed is unreachable past the fail-closed limit. Verification runs on the
//! worker: it is in memory, but for a rare JWKS fetch (an unknown `kid`, at most once per
//! cool-down, bounded by the HTTP timeout).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use crate::{AuthError, Claims, Verifier};

/// The verified claims of the request's bearer token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

/// A refusal, answered as the users service answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct Refused(#[from] pub AuthError);

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({"status": "error", "message": self.0.to_string()}))
    }
}

impl FromRequest for Authenticated {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(verifier) = req.app_data::<web::Data<Verifier>>() else {
            return ready(Err(actix_web::error::ErrorInternalServerError(
                "users-verifier: no web::Data<Verifier> in the app data",
            )));
        };
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        ready(
            verifier
                .verify_authorization(header)
                .map(Authenticated)
                .map_err(|e| Refused(e).into()),
        )
    }
}
