//! The two pages that mail links open: `/verify-email` and `/reset-password`.
//!
//! Plain server-rendered HTML forms, usable without JavaScript (there is none). A `GET`
//! never spends a token (mail scanners follow links): it shows a form that carries the
//! token, and only the person's `POST` (pressing the button, submitting the new password)
//! uses it, through the same code as the JSON routes. Every page is sent with a strict
//! Content-Security-Policy (nothing loads but the page's own inline style, by hash; forms
//! post only to this origin; no framing), `Referrer-Policy: no-referrer` (the token is in
//! the URL) and `Cache-Control: no-store`. Outcomes are rendered as pages with status 200;
//! the text of `#result` says what happened.

use std::sync::OnceLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, ResponseError as _, web};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::bodies::{BodyErrors, DatabaseErrors};
use crate::error::ApiError;
use crate::extract::RawBody;
use crate::routes::email::{self, INVALID_TOKEN, PASSWORD_RESET, ResetRefusal};
use crate::state::AppState;

/// The pages' whole style sheet, inline (allowed by its hash in the CSP).
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;\
padding:0 1rem;line-height:1.5;color:#1b1b1b}h1{font-size:1.4rem}label{display:block;\
margin-top:1rem}input{display:block;width:100%;padding:.5rem;font-size:1rem;box-sizing:\
border-box}button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;cursor:pointer}\
.error{color:#a40000}";

/// `'sha256-…'` of [`STYLE`], for `style-src`.
fn style_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let digest = Sha256::digest(STYLE.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
}

/// The pages' Content-Security-Policy.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
        style_hash()
    )
}

/// Text for HTML, escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page; `content` is already HTML.
fn page(title: &str, content: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n{content}\n\
         </main>\n</body>\n</html>\n",
        title = escape(title),
    );
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header(("content-security-policy", content_security_policy()))
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("x-frame-options", "DENY"))
        .body(html)
}

/// `<p id="result">`: what happened.
fn result(message: &str, error: bool) -> String {
    let class = if error { " class=\"error\"" } else { "" };
    format!("<p id=\"result\"{class}>{}</p>", escape(message))
}

/// The query or form of both pages.
#[derive(Debug, Default, Deserialize)]
pub struct TokenParams {
    /// The link's token.
    #[serde(default)]
    token: Option<String>,
    /// The new password (`/reset-password`).
    #[serde(default)]
    password: Option<String>,
    /// The new password again (`/reset-password`).
    #[serde(default)]
    confirm: Option<String>,
}

impl TokenParams {
    fn token(&self) -> Option<&str> {
        self.token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

/// A form body or query string, read leniently: what does not parse is no parameters.
fn params(bytes: &[u8]) -> TokenParams {
    serde_urlencoded::from_bytes(bytes).unwrap_or_default()
}

const INCOMPLETE: &str = "This link is incomplete. Open the link from the mail again.";

const VERIFY_TITLE: &str = "Verify your email address";

fn verify_form(token: &str) -> String {
    format!(
        "<p>Press the button to confirm this email address for your account.</p>\n\
         <form method=\"post\" action=\"/verify-email\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\n\
         <button type=\"submit\">Verify my email address</button>\n</form>",
        escape(token)
    )
}

/// The verification page
///
/// `GET /verify-email?token=T`, the link of the verification and address-change mails: a
/// button that confirms. Opening it does not use the token.
#[utoipa::path(
    get,
    path = "/verify-email",
    tag = "pages",
    params(("token" = Option<String>, Query, description = "The link's token.")),
    responses(
        (status = 200, description = "An HTML page with a form that posts the token to `POST /verify-email`.", body = String,
            content_type = "text/html"))
)]
pub async fn verify_page(query: web::Query<TokenParams>) -> HttpResponse {
    match query.token() {
        Some(token) => page(VERIFY_TITLE, &verify_form(token)),
        None => page(VERIFY_TITLE, &result(INCOMPLETE, true)),
    }
}

/// The verification page's button
///
/// `POST /verify-email` with a form (`token`): spends the token, as
/// `POST /auth/email/confirm`; the page's `#result` says what happened.
#[utoipa::path(
    post,
    path = "/verify-email",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`token=T`"),
    responses(
        (status = 200, description = "An HTML page whose `#result` reads `Email verified.`, `Email updated.`, or why not.", body = String,
            content_type = "text/html"),
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn verify_submit(
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let form = params(&body.bytes()?);
    let Some(token) = form.token() else {
        return Ok(page(VERIFY_TITLE, &result(INCOMPLETE, true)));
    };
    Ok(match email::confirm_token(&state, token).await {
        Ok(confirmed) => page(VERIFY_TITLE, &result(confirmed.message(), false)),
        Err(e) if e.status_code().is_client_error() => {
            page(VERIFY_TITLE, &result(e.message(), true))
        }
        Err(e) => return Err(e),
    })
}

const RESET_TITLE: &str = "Choose a new password";

fn reset_form(token: &str, min_chars: usize) -> String {
    format!(
        "<form method=\"post\" action=\"/reset-password\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <label for=\"password\">New password (at least {min_chars} character{s})</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" required>\n\
         <label for=\"confirm\">The new password again</label>\n\
         <input type=\"password\" id=\"confirm\" name=\"confirm\" autocomplete=\"new-password\" required>\n\
         <button type=\"submit\">Set the new password</button>\n</form>",
        token = escape(token),
        s = if min_chars == 1 { "" } else { "s" },
    )
}

/// The password reset page
///
/// `GET /reset-password?token=T`, the link of the reset mail: the new-password form.
/// Opening it does not use the token.
#[utoipa::path(
    get,
    path = "/reset-password",
    tag = "pages",
    params(("token" = Option<String>, Query, description = "The link's token.")),
    responses(
        (status = 200, description = "An HTML page with a form that posts the token and the new password to `POST /reset-password`.", body = String,
            content_type = "text/html"))
)]
pub async fn reset_page(
    state: web::Data<AppState>,
    query: web::Query<TokenParams>,
) -> HttpResponse {
    let min = state.password_policy().min_chars;
    match query.token() {
        Some(token) => page(RESET_TITLE, &reset_form(token, min)),
        None => page(RESET_TITLE, &result(INCOMPLETE, true)),
    }
}

/// The password reset form
///
/// `POST /reset-password` with a form (`token`, `password`, `confirm`): sets the password,
/// as `POST /auth/password/reset`. Two different passwords, or one outside the policy,
/// show the form again (the token stays usable).
#[utoipa::path(
    post,
    path = "/reset-password",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`token=T&password=P&confirm=P`"),
    responses(
        (status = 200, description = "An HTML page whose `#result` reads `Password has been reset.`, or why not.", body = String,
            content_type = "text/html"),
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn reset_submit(
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let form = params(&body.bytes()?);
    let Some(token) = form.token() else {
        return Ok(page(RESET_TITLE, &result(INCOMPLETE, true)));
    };
    let min = state.password_policy().min_chars;
    let again = |message: &str| {
        page(
            RESET_TITLE,
            &format!("{}\n{}", result(message, true), reset_form(token, min)),
        )
    };
    let password = form.password.as_deref().unwrap_or_default();
    if password != form.confirm.as_deref().unwrap_or_default() {
        return Ok(again("The two passwords differ."));
    }
    Ok(
        match email::reset_with_token(&state, token, password).await? {
            Ok(()) => page(
                RESET_TITLE,
                &format!(
                    "{}\n<p>You can now log in with your new password.</p>",
                    result(PASSWORD_RESET, false)
                ),
            ),
            Err(ResetRefusal::Token) => page(RESET_TITLE, &result(INVALID_TOKEN, true)),
            Err(ResetRefusal::Password) => again(&format!(
                "That password cannot be used: it needs at least {min} characters and at most \
             1024 bytes."
            )),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_attribute_and_text_contexts() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_policy_allows_the_inline_style_by_its_hash_and_nothing_else() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(csp.contains("form-action 'self'"));
        assert!(!csp.contains("unsafe"));
        assert!(!csp.contains("script-src"));
    }

    #[test]
    fn parameters_are_read_leniently() {
        assert_eq!(params(b"token=abc&password=p").token(), Some("abc"));
        assert_eq!(params(b"token=").token(), None);
        assert_eq!(params(b"\xff\xfe").token(), None);
    }
}
