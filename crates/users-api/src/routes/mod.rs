//! Route handlers, one module per area of the contract.

pub mod account;
pub mod auth;
pub mod email;
pub mod mfa;
pub mod ops;
pub mod pages;
pub mod revocations;
pub mod users;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::NaiveDateTime;
use serde_json::Value;

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// `created_at` as the seed renders it: an HTTP date, `Tue, 20 Jun 2017 19:25:48 GMT`.
pub(crate) fn http_date(t: &NaiveDateTime) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn http_date_format() {
        let t = NaiveDate::from_ymd_opt(2017, 6, 20)
            .and_then(|d| d.and_hms_micro_opt(19, 25, 48, 123_456))
            .unwrap();
        assert_eq!(http_date(&t), "Tue, 20 Jun 2017 19:25:48 GMT");
    }
}
