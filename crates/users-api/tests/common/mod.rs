//! HTTP helpers shared by the test crates of users-api (`tests/api`, `tests/logs.rs`):
//! requests to the in-process app and its replies, read whole.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use serde_json::Value;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// The body as sent.
    pub raw: web::Bytes,
}

impl Reply {
    /// `body["status"]`.
    pub fn word(&self) -> &str {
        self.body["status"].as_str().unwrap_or("<none>")
    }

    /// `body["message"]`.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("<none>")
    }

    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the content type is JSON.
    pub fn is_json(&self) -> bool {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    }

    /// Asserts status, envelope word and message, and a JSON content type.
    #[track_caller]
    pub fn assert(&self, status: u16, word: &str, message: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body {}", self.body);
        assert_eq!(self.word(), word, "word; body {}", self.body);
        assert_eq!(self.message(), message, "message; body {}", self.body);
        assert!(self.is_json(), "content type; headers {:?}", self.headers);
    }
}

/// Sends a request and reads the reply.
pub async fn send<S, B>(app: &S, req: TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let raw = test::read_body(res).await;
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        raw,
    }
}

/// `POST path` with a JSON body.
pub fn post_json(path: &str, body: &Value) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_string())
}

/// `POST path` with a raw body.
pub fn post_raw(path: &str, body: &str) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned())
}

/// `GET path`.
pub fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(path)
}

/// Adds `Authorization: Bearer <token>`.
pub fn bearer(req: TestRequest, token: &str) -> TestRequest {
    req.insert_header(("authorization", format!("Bearer {token}")))
}
