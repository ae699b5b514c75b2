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
    use chrono::{Datelike as _, Timelike as _};
    use std::fmt::Write as _;
    // Written field by field: chrono's `format` parses its pattern on every call, which was
    // the largest user-space cost of `GET /auth/status` (see BENCHMARKS.md).
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = DAYS[t.weekday().num_days_from_monday() as usize % 7];
    let month = MONTHS[t.month0() as usize % 12];
    let mut out = String::with_capacity(29);
    let _ = write!(
        out,
        "{day}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    );
    out
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
        // The same as chrono's own formatting, over days of every weekday and month.
        let mut day = NaiveDate::from_ymd_opt(1999, 12, 25)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        for _ in 0..800 {
            assert_eq!(
                http_date(&day),
                day.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
            );
            day += chrono::TimeDelta::seconds(86_400 + 3_661);
        }
    }
}
