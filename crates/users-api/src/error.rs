//! The one error type of the API and its mapping to the contract's JSON envelope.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// The `status` word of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// `"fail"`: the request is wrong (the `/users` routes' word).
    Fail,
    /// `"error"`: the request could not be served (the `/auth` routes' word).
    Error,
}

impl Word {
    fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Error => "error",
        }
    }
}

/// Contract messages, in one place.
pub mod msg {
    /// 400 on a body that is not what the route takes.
    pub const INVALID_PAYLOAD: &str = "Invalid payload.";
    /// 403 without an `Authorization` header.
    pub const PROVIDE_TOKEN: &str = "Provide a valid auth token.";
    /// 401 for a user that is gone or inactive.
    pub const SOMETHING_WRONG: &str = "Something went wrong. Please contact us.";
    /// 401 for a non-admin on admin routes.
    pub const NO_PERMISSION: &str = "You do not have permission to do that.";
    /// 404 on `/users/{id}`.
    pub const USER_NOT_FOUND: &str = "User does not exist";
    /// 404 on login.
    pub const LOGIN_FAILED: &str = "User does not exist.";
    /// 400 on register.
    pub const USER_EXISTS: &str = "Sorry. That user already exists.";
    /// 400 on `POST /users`.
    pub const EMAIL_EXISTS: &str = "Sorry. That email already exists.";
    /// 503 when the database does not answer.
    pub const UNAVAILABLE: &str = "Service unavailable. Try again later.";
    /// 500.
    pub const TRY_AGAIN: &str = "Try again.";
    /// 404 for unknown routes.
    pub const NOT_FOUND: &str = "Not found.";
    /// 405 for a known route with another method.
    pub const METHOD_NOT_ALLOWED: &str = "Method not allowed.";
    /// 408 for a body sent too slowly.
    pub const TIMEOUT: &str = "Request timeout.";
    /// 413 for bodies over the limit.
    pub const TOO_LARGE: &str = "Payload too large.";
}

/// The cause of an error response, kept for the request's log line, never sent.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error response: status code, envelope word and message, and the internal cause when
/// there is one. The cause is never serialized: the request-log middleware
/// (`app::log_request`) writes it, with its source chain, on that request's one log line.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    word: Word,
    message: Cow<'static, str>,
    headers: Vec<(&'static str, String)>,
    cause: Option<Cause>,
}

impl ApiError {
    /// An error with the given parts.
    pub fn new(status: StatusCode, word: Word, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            word,
            message: message.into(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// Adds a response header (`Retry-After`, say).
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Attaches the internal cause (logged with the request, never sent).
    pub fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// 400 `"Invalid payload."` with the route's word.
    pub fn invalid_payload(word: Word) -> Self {
        Self::new(StatusCode::BAD_REQUEST, word, msg::INVALID_PAYLOAD)
    }

    /// 401 `"error"` with the given message.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Word::Error, message)
    }

    /// 503 `"Service unavailable. Try again later."`.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Word::Error,
            msg::UNAVAILABLE,
        )
    }

    /// 500 `"Try again."`, keeping the cause.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Word::Error,
            msg::TRY_AGAIN,
        )
        .with_cause(cause)
    }

    /// The message, as sent.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The internal cause, if any.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }
}

impl From<users_db::DbError> for ApiError {
    fn from(e: users_db::DbError) -> Self {
        if e.is_unavailable() {
            Self::unavailable().with_cause(e)
        } else {
            Self::internal(e)
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            res.insert_header((*name, value.as_str()));
        }
        res.json(json!({"status": self.word.as_str(), "message": self.message}))
    }
}

/// Displays an error with its sources: `outer: inner: root`.
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
