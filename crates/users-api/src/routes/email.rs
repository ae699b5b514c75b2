//! The account lifecycle over mail: `/auth/email/verify`, `/auth/email/confirm`,
//! `/auth/email/change`, `/auth/password/forgot` and `/auth/password/reset`.
//!
//! Every token is spent by one conditional update inside the transaction that acts on it
//! (`users_db::mail::spend_token`), so a token is used at most once and a failure after it
//! (an address taken meanwhile, say) leaves it unspent.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use users_db::DbError;
use users_db::mail::{Queued, TokenPurpose};
use users_domain::{Email, Password, User, UserId, now_utc};

use crate::bodies::{
    BodyErrors, DatabaseErrors, EmailChangeRequest, EmailTokenRequest, ErrorResponse,
    ForgotPasswordRequest, MessageResponse, PasswordResetRequest, ProtectedErrors, Reply,
    ThrottleErrors,
};
use crate::error::{ApiError, Word, msg};
use crate::extract::{AuthUser, Body};
use crate::mail::{self, Addressee, Pending};
use crate::opaque::OpaqueToken;
use crate::routes::mfa::{self, PASSWORD_INCORRECT};
use crate::state::AppState;
use crate::throttle;

/// 400 on `POST /auth/email/verify` for a verified address.
pub const ALREADY_VERIFIED: &str = "Email already verified.";
/// 400 for a link token that cannot be used.
pub const INVALID_TOKEN: &str = "Invalid or expired token.";
/// 202 of `POST /auth/email/verify`.
pub const VERIFICATION_SENT: &str = "Verification email sent.";
/// 202 of `POST /auth/email/change`.
pub const CONFIRMATION_SENT: &str = "Confirmation email sent.";
/// 200 of a verification link.
pub const EMAIL_VERIFIED: &str = "Email verified.";
/// 200 of an address-change link.
pub const EMAIL_UPDATED: &str = "Email updated.";
/// 202 of `POST /auth/password/forgot`, whatever the address.
pub const RESET_SENT: &str = "If that email is registered, a reset link has been sent.";
/// 200 of `POST /auth/password/reset`.
pub const PASSWORD_RESET: &str = "Password has been reset.";

fn invalid_token() -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Word::Fail, INVALID_TOKEN)
}

fn user_exists() -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Word::Fail, msg::USER_EXISTS)
}

/// Why a transaction on a token stopped (and rolled back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The token cannot be used.
    Invalid,
    /// The new address was taken meanwhile.
    Taken,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid => invalid_token(),
            Refusal::Taken => user_exists(),
        }
    }
}

/// What a step of a token transaction gives: a value, a refusal (the transaction rolls
/// back), or a database error.
type Step<T> = Result<Result<T, Refusal>, DbError>;

/// Runs `f` in a write transaction that a refusal rolls back.
async fn token_transaction<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut users_db::DbConnection) -> Step<T> + Send + 'static,
    T: Send + 'static,
{
    token_step(state, f).await?.map_err(ApiError::from)
}

/// [`token_transaction`], with the refusal left to the caller to word.
async fn token_step<T, F>(state: &AppState, f: F) -> Result<Result<T, Refusal>, ApiError>
where
    F: FnOnce(&mut users_db::DbConnection) -> Step<T> + Send + 'static,
    T: Send + 'static,
{
    state
        .db(move |conn| users_db::write_transaction_unless(conn, f))
        .await
}

/// The account of a token: it must exist and be active.
fn token_user(conn: &mut users_db::DbConnection, token: &users_db::mail::MailToken) -> Step<User> {
    Ok(match users_db::users::find_by_id(conn, token.user())? {
        Some(user) if user.active => Ok(user),
        _ => Err(Refusal::Invalid),
    })
}

/// Send the verification mail again
///
/// `POST /auth/email/verify`: a new link to the caller's address (earlier links stop
/// working).
#[utoipa::path(
    post,
    path = "/auth/email/verify",
    tag = "email",
    security(("bearerAuth" = [])),
    responses(
        (status = 202, description = "A verification mail is on its way (or, past the hourly cap, the last link stays valid).", body = MessageResponse,
            example = json!({"status": "success", "message": VERIFICATION_SENT})),
        (status = 400, description = "The address is already verified.", body = ErrorResponse,
            example = json!({"status": "fail", "message": ALREADY_VERIFIED})),
        (status = 503, description = "In production without `SMTP_URL`: mail cannot be sent.", body = ErrorResponse,
            example = json!({"status": "error", "message": mail::NOT_CONFIGURED})),
        ProtectedErrors,
        DatabaseErrors,
    )
)]
pub async fn verify(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<Reply<MessageResponse>, ApiError> {
    let user = caller.user;
    if user.email_verified_at.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Word::Fail,
            ALREADY_VERIFIED,
        ));
    }
    mail::send_link(
        &state,
        Addressee::from(&user),
        TokenPurpose::Verify,
        user.email.as_str(),
    )
    .await?;
    Ok(Reply::accepted(MessageResponse::new(VERIFICATION_SENT)))
}

/// What a link confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The address is verified.
    Verified,
    /// The account's address is now the new one, verified.
    Updated,
}

impl Confirmed {
    /// The contract's message.
    pub fn message(self) -> &'static str {
        match self {
            Self::Verified => EMAIL_VERIFIED,
            Self::Updated => EMAIL_UPDATED,
        }
    }
}

/// Spends a verification or address-change token: the work of `POST /auth/email/confirm`
/// and of the `/verify-email` page.
pub async fn confirm_token(state: &AppState, token: &str) -> Result<Confirmed, ApiError> {
    let hash = OpaqueToken::hash(token);
    let (confirmed, user) = token_transaction(state, move |conn| {
        let now = now_utc();
        let purposes = [TokenPurpose::Verify, TokenPurpose::Change];
        let Some(token) = users_db::mail::spend_token(conn, &hash, &purposes, now)? else {
            return Ok(Err(Refusal::Invalid));
        };
        let user = match token_user(conn, &token)? {
            Ok(user) => user,
            Err(refusal) => return Ok(Err(refusal)),
        };
        Ok(match token.purpose() {
            Some(TokenPurpose::Verify) => {
                if users_db::users::mark_email_verified(conn, user.id, &token.email, now)? {
                    Ok((Confirmed::Verified, user.id))
                } else {
                    // The account no longer has the address the link was sent to.
                    Err(Refusal::Invalid)
                }
            }
            Some(TokenPurpose::Change) => {
                let Ok(email) = Email::parse(&token.email) else {
                    return Ok(Err(Refusal::Invalid));
                };
                match users_db::users::change_email(conn, user.id, &email, now) {
                    Ok(_) => {}
                    Err(DbError::Duplicate { .. }) => return Ok(Err(Refusal::Taken)),
                    Err(e) => return Err(e),
                }
                // Links to the old address verify nothing any more.
                users_db::mail::drop_unused_tokens(conn, user.id, TokenPurpose::Verify)?;
                Ok((Confirmed::Updated, user.id))
            }
            _ => Err(Refusal::Invalid),
        })
    })
    .await?;
    state.changed_user(user);
    Ok(confirmed)
}

/// Follow a verification or address-change link
///
/// `POST /auth/email/confirm`: no authentication (the link may be opened anywhere); the
/// token is single use.
#[utoipa::path(
    post,
    path = "/auth/email/confirm",
    tag = "email",
    request_body = EmailTokenRequest,
    responses(
        (status = 200, description = "A verification token verified the address, or an address-change token made the new address the account's.", body = MessageResponse,
            examples(
                ("Verified" = (value = json!({"status": "success", "message": EMAIL_VERIFIED}))),
                ("Updated" = (value = json!({"status": "success", "message": EMAIL_UPDATED})))
            )),
        (status = 400, description = "A bad body; an unknown, expired, used or superseded token, or one for an address the account no longer has; or the new address was taken meanwhile.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Invalid token" = (value = json!({"status": "fail", "message": INVALID_TOKEN}))),
                ("Taken" = (value = json!({"status": "fail", "message": msg::USER_EXISTS})))
            )),
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn confirm(
    state: web::Data<AppState>,
    body: Body<EmailTokenRequest>,
) -> Result<Reply<MessageResponse>, ApiError> {
    let body = body.into_inner(Word::Fail)?;
    let token = body
        .token
        .get()
        .ok_or_else(|| ApiError::invalid_payload(Word::Fail))?;
    let confirmed = confirm_token(&state, token).await?;
    Ok(Reply::ok(MessageResponse::new(confirmed.message())))
}

/// Change the address
///
/// `POST /auth/email/change`: a confirmation link to the new address and a notice to the
/// old one; the address changes when the link is followed.
#[utoipa::path(
    post,
    path = "/auth/email/change",
    tag = "email",
    request_body = EmailChangeRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 202, description = "A confirmation mail to the new address and a notice to the old one are on their way.", body = MessageResponse,
            example = json!({"status": "success", "message": CONFIRMATION_SENT})),
        (status = 400, description = "A bad body or not an email address; a wrong password; or the address is taken.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Wrong password" = (value = json!({"status": "fail", "message": PASSWORD_INCORRECT}))),
                ("Taken" = (value = json!({"status": "fail", "message": msg::USER_EXISTS})))
            )),
        (status = 503, description = "In production without `SMTP_URL`: mail cannot be sent.", body = ErrorResponse,
            example = json!({"status": "error", "message": mail::NOT_CONFIGURED})),
        ProtectedErrors,
        BodyErrors,
        ThrottleErrors,
        DatabaseErrors,
    )
)]
pub async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    body: Body<EmailChangeRequest>,
) -> Result<Reply<MessageResponse>, ApiError> {
    let body = body.into_inner(Word::Fail)?;
    let invalid = || ApiError::invalid_payload(Word::Fail);
    let (Some(email), Some(password)) = (body.email.get(), body.password.get()) else {
        return Err(invalid());
    };
    let email = Email::parse(email).map_err(|_| invalid())?;
    mail::ensure_configured(&state.config)?;
    let user = caller.user;
    // A wrong password counts as a failed login of the account; a right one only withdraws
    // this attempt (the account's count is cleared by a completed login alone).
    let attempt = mfa::check_password(&state, &req, &user, password).await?;
    let pending = Pending::new(
        &state.config,
        &state.mailer,
        Addressee::from(&user),
        TokenPurpose::Change,
        email.as_str(),
    )?;
    let taken = state
        .db(move |conn| {
            users_db::write_transaction(conn, |conn| {
                attempt.withdrawn(conn)?;
                if users_db::users::find_by_email(conn, &email)?.is_some() {
                    return Ok(true);
                }
                pending.queue(conn)?;
                Ok(false)
            })
        })
        .await?;
    if taken {
        return Err(user_exists());
    }
    state.mailer.wake();
    Ok(Reply::accepted(MessageResponse::new(CONFIRMATION_SENT)))
}

/// Ask for a password reset link
///
/// `POST /auth/password/forgot`: the same answer, and the same work, for every well-formed
/// address; the mail goes only to an active account.
#[utoipa::path(
    post,
    path = "/auth/password/forgot",
    tag = "email",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Whether or not the address is registered.", body = MessageResponse,
            example = json!({"status": "success", "message": RESET_SENT})),
        (status = 400, description = "A bad body, or `email` missing, not a string or not an email address.", body = ErrorResponse,
            example = json!({"status": "fail", "message": msg::INVALID_PAYLOAD})),
        (status = 503, description = "In production without `SMTP_URL`: mail cannot be sent.", body = ErrorResponse,
            example = json!({"status": "error", "message": mail::NOT_CONFIGURED})),
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn forgot(
    state: web::Data<AppState>,
    body: Body<ForgotPasswordRequest>,
) -> Result<Reply<MessageResponse>, ApiError> {
    let body = body.into_inner(Word::Fail)?;
    let email = body
        .email
        .get()
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| ApiError::invalid_payload(Word::Fail))?;
    mail::ensure_configured(&state.config)?;
    // The same work whatever the address: a token made and a body composed and sealed
    // (greeting no one by name), then, in one hop, the lookup and either the mail or a
    // stand-in row of the same cost.
    let pending = Pending::new(
        &state.config,
        &state.mailer,
        Addressee {
            id: UserId::new(0),
            username: None,
            email: email.as_str(),
        },
        TokenPurpose::Reset,
        email.as_str(),
    )?;
    let queued = state
        .db(
            move |conn| match users_db::users::find_by_email(conn, &email)?.filter(|u| u.active) {
                Some(user) => pending
                    .for_user(user.id)
                    .queue(conn)
                    .map(|q| q == Queued::Queued),
                None => users_db::mail::queue_nothing(conn, now_utc()).map(|()| false),
            },
        )
        .await?;
    if queued {
        state.mailer.wake();
    }
    Ok(Reply::accepted(MessageResponse::new(RESET_SENT)))
}

/// Sets a new password with a reset token: the work of `POST /auth/password/reset` and of
/// the `/reset-password` page. The password is checked against the policy first (a bad one
/// leaves the token usable); then every session of the user is revoked, the account's
/// failed logins are forgotten and the address counts as verified. A second factor stays.
pub async fn reset_with_token(
    state: &AppState,
    token: &str,
    password: &str,
) -> Result<Result<(), ResetRefusal>, ApiError> {
    let Ok(password) = Password::parse(password, state.password_policy()) else {
        return Ok(Err(ResetRefusal::Password));
    };
    let hash = OpaqueToken::hash(token);
    // A token that cannot be used costs no hashing.
    let lookup = hash.clone();
    let usable = state
        .db(move |conn| users_db::mail::find_token(conn, &lookup))
        .await?
        .is_some_and(|t| t.is_usable(now_utc()) && t.purpose() == Some(TokenPurpose::Reset));
    if !usable {
        return Ok(Err(ResetRefusal::Token));
    }
    let new_hash = state
        .hashing("hash", move |h| h.hash(&password))
        .await?
        .map_err(ApiError::internal)?;
    let spent = token_step(state, move |conn| {
        let now = now_utc();
        let Some(token) = users_db::mail::spend_token(conn, &hash, &[TokenPurpose::Reset], now)?
        else {
            return Ok(Err(Refusal::Invalid));
        };
        let user = match token_user(conn, &token)? {
            // The link must have gone to the account's current address.
            Ok(user) if user.email.as_str() == token.email => user,
            _ => return Ok(Err(Refusal::Invalid)),
        };
        users_db::users::set_password_hash(conn, user.id, &new_hash)?;
        users_db::users::mark_email_verified(conn, user.id, &token.email, now)?;
        users_db::sessions::revoke_all_for_user(conn, user.id, None, now)?;
        users_db::mfa::drop_login_tokens(conn, user.id)?;
        users_db::throttle::clear(
            conn,
            users_db::throttle::Scope::Account,
            &throttle::account_key(user.email.as_str()),
        )?;
        Ok(Ok(user.id))
    })
    .await?;
    match spent {
        Ok(user) => {
            state.changed_user(user);
            Ok(Ok(()))
        }
        // Spent or superseded meanwhile, or the account changed: the link no longer works.
        Err(Refusal::Invalid | Refusal::Taken) => Ok(Err(ResetRefusal::Token)),
    }
}

/// Why a password reset was refused, for the JSON route and the page to word each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetRefusal {
    /// The new password is outside the policy; the token stays usable.
    Password,
    /// The token cannot be used (unknown, spent, superseded, expired, or its account gone).
    Token,
}

impl From<ResetRefusal> for ApiError {
    fn from(r: ResetRefusal) -> Self {
        match r {
            ResetRefusal::Password => ApiError::invalid_payload(Word::Fail),
            ResetRefusal::Token => invalid_token(),
        }
    }
}

/// Set a new password with a reset link
///
/// `POST /auth/password/reset`: every session of the user is revoked (access tokens are
/// refused, refresh tokens invalid), failed logins are forgotten, the address counts as
/// verified; a second factor stays on.
#[utoipa::path(
    post,
    path = "/auth/password/reset",
    tag = "email",
    request_body = PasswordResetRequest,
    responses(
        (status = 200, description = "The password is reset.", body = MessageResponse,
            example = json!({"status": "success", "message": PASSWORD_RESET})),
        (status = 400, description = "A bad body or a password outside the policy (the token stays usable); or an unknown, expired, used or superseded token.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Invalid token" = (value = json!({"status": "fail", "message": INVALID_TOKEN})))
            )),
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn reset(
    state: web::Data<AppState>,
    body: Body<PasswordResetRequest>,
) -> Result<Reply<MessageResponse>, ApiError> {
    let body = body.into_inner(Word::Fail)?;
    let (Some(token), Some(password)) = (body.token.get(), body.password.get()) else {
        return Err(ApiError::invalid_payload(Word::Fail));
    };
    reset_with_token(&state, token, password).await??;
    Ok(Reply::ok(MessageResponse::new(PASSWORD_RESET)))
}
