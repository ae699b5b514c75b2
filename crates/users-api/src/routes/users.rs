//! `/users`: the public list and lookup, and admin creation.

use actix_web::http::StatusCode;
use actix_web::web;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use users_db::users::{ListQuery, PageCursor, UserChanges};
use users_db::{DbError, UniqueField};
use users_domain::{Email, User, UserId, Username};

use super::auth;
use crate::bodies::{
    AdminErrors, AdminUser, AdminUserResponse, BodyErrors, DatabaseErrors, ErrorResponse,
    ListParams, MessageResponse, PublicUser, RegisterRequest, Reply, UserListItem,
    UserListResponse, UserPage, UserResponse, UserUpdateRequest,
};
use crate::error::{ApiError, Word, msg};

use crate::extract::{AuthUser, Body};
use crate::state::AppState;

/// Page size of `GET /users` without paging parameters.
pub const DEFAULT_PAGE: i64 = 100;

/// A page cursor: the `(created_at, id)` of the last row of a page, opaque to clients.
fn encode_cursor(u: &User) -> String {
    let micros = u.created_at.and_utc().timestamp_micros();
    URL_SAFE_NO_PAD.encode(format!("{micros}.{}", u.id))
}

fn decode_cursor(s: &str) -> Option<PageCursor> {
    let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
    let (micros, id) = std::str::from_utf8(&raw).ok()?.split_once('.')?;
    let created_at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
    Some(PageCursor {
        created_at,
        id: UserId::parse(id)?,
    })
}

/// The listing `GET /users` asks for; a `limit` out of range, an `after` that is not our
/// cursor or a `q` over 128 characters or holding NUL is `None` (400).
fn list_query(params: ListParams) -> Option<ListQuery> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=users_db::users::MAX_LIST_LIMIT).contains(&limit) {
        return None;
    }
    let after = match params.after {
        Some(a) => Some(decode_cursor(&a)?),
        None => None,
    };
    let prefix = match params.q.filter(|q| !q.is_empty()) {
        // NUL is no text a user can hold (and PostgreSQL refuses it in a query).
        Some(q) if q.chars().count() > users_domain::MAX_FIELD_CHARS || q.contains('\0') => {
            return None;
        }
        q => q,
    };
    Some(ListQuery {
        limit,
        after,
        prefix,
    })
}

/// List users
///
/// `GET /users?limit=N&after=CURSOR&q=PREFIX`: newest first, keyset paging.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    params(ListParams),
    responses(
        (status = 200, description = "A page of users, newest first; `next` is the cursor of the following page.", body = UserListResponse),
        (status = 400, description = "A `limit` that is not an integer from 1 to 1000, an `after` that is not a cursor of this service, or a `q` over 128 characters.", body = ErrorResponse,
            example = json!({"status": "fail", "message": msg::INVALID_PAYLOAD})),
        DatabaseErrors,
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<Reply<UserListResponse>, ApiError> {
    let query =
        list_query(params.into_inner()).ok_or_else(|| ApiError::invalid_payload(Word::Fail))?;
    let limit = query.limit;
    let users = state
        .db(move |conn| users_db::users::list(conn, &query))
        .await?;
    let next = match users.last() {
        Some(last) if i64::try_from(users.len()).is_ok_and(|n| n == limit) => {
            Some(encode_cursor(last))
        }
        _ => None,
    };
    Ok(Reply::ok(UserListResponse::new(UserPage {
        users: users.iter().map(UserListItem::from).collect(),
        next,
    })))
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, Word::Fail, msg::USER_NOT_FOUND)
}

/// Get a user
///
/// `GET /users/{id}`: 404 for a non-integer or unknown id.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    params(("id" = i32, Path, description = "The user id. Anything that is not a positive integer gets 404.")),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        (status = 404, description = "No such user (or an id that is not a positive integer).",
            body = ErrorResponse, example = json!({"status": "fail", "message": msg::USER_NOT_FOUND})),
        DatabaseErrors,
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<Reply<UserResponse>, ApiError> {
    let id = UserId::parse(&path).ok_or_else(not_found)?;
    let user = state
        .db(move |conn| users_db::users::find_by_id(conn, id))
        .await?
        .ok_or_else(not_found)?;
    Ok(Reply::ok(UserResponse::new(PublicUser::from(&user))))
}

/// Create a user (admin)
///
/// `POST /users` (admin): auth, admin, body, email taken, fields, created, in that order.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = RegisterRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 201, description = "The user was created.", body = MessageResponse,
            example = json!({"status": "success", "message": "michael@example.com was added!"})),
        (status = 400, description = "A bad body, a field missing or invalid, a username taken (`Invalid payload.`), or an email taken.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Email taken" = (value = json!({"status": "fail", "message": msg::EMAIL_EXISTS})))
            )),
        AdminErrors,
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Body<RegisterRequest>,
) -> Result<Reply<MessageResponse>, ApiError> {
    caller.require_admin()?;
    let body = body.into_inner(Word::Fail)?;
    let invalid = || ApiError::invalid_payload(Word::Fail);
    let email_taken = || ApiError::new(StatusCode::BAD_REQUEST, Word::Fail, msg::EMAIL_EXISTS);

    // The seed looks the email up before it validates anything else.
    if let Some(email) = body.email.get().and_then(|e| Email::parse(e).ok()) {
        let existing = state
            .db(move |conn| users_db::users::find_by_email(conn, &email))
            .await?;
        if existing.is_some() {
            return Err(email_taken());
        }
    }
    let signup = auth::signup(&state, &body, Word::Fail)?;
    // With EMAIL_VERIFICATION on, the new account's verification mail is queued with it.
    let mail = auth::verification_mail(&state, &signup)?;
    let queued = mail.is_some();
    let new_user = auth::hash_signup(&state, signup).await?;
    let inserted = state
        .db_raw(move |conn| {
            users_db::write_transaction(conn, |conn| {
                let user = users_db::users::insert(conn, &new_user)?;
                if let Some(mail) = mail {
                    mail.for_user(user.id).queue(conn)?;
                }
                Ok(user)
            })
        })
        .await?;
    match inserted {
        Ok(user) => {
            if queued {
                state.mailer.wake();
            }
            Ok(Reply::created(MessageResponse::new(format!(
                "{} was added!",
                user.email
            ))))
        }
        Err(DbError::Duplicate {
            field: UniqueField::Email,
        }) => Err(email_taken()),
        Err(DbError::Duplicate {
            field: UniqueField::Username,
        }) => Err(invalid()),
        Err(e) => Err(e.into()),
    }
}

/// The changes a PATCH body asks for: at least one, each a valid value (`None`: 400).
fn user_changes(body: UserUpdateRequest) -> Option<UserChanges> {
    let changes = UserChanges {
        active: body.active,
        admin: body.admin,
        username: body
            .username
            .map(|u| Username::parse(&u))
            .transpose()
            .ok()?,
        email: body.email.map(|e| Email::parse(&e)).transpose().ok()?,
    };
    (!changes.is_empty()).then_some(changes)
}

/// Change a user (admin)
///
/// `PATCH /users/{id}` (admin): any of `active`, `admin`, `username`, `email`.
/// Deactivation revokes the user's sessions (a database trigger, so plain SQL does too).
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    params(("id" = i32, Path, description = "The user id. Anything that is not a positive integer gets 404.")),
    request_body = UserUpdateRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The user after the change.", body = AdminUserResponse),
        (status = 400, description = "A bad body, no known field, a field of the wrong type or invalid, or a username or email taken.", body = ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Taken" = (value = json!({"status": "fail", "message": msg::USER_EXISTS})))
            )),
        (status = 404, description = "No such user (or an id that is not a positive integer).",
            body = ErrorResponse, example = json!({"status": "fail", "message": msg::USER_NOT_FOUND})),
        AdminErrors,
        BodyErrors,
        DatabaseErrors,
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    body: Body<UserUpdateRequest>,
) -> Result<Reply<AdminUserResponse>, ApiError> {
    caller.require_admin()?;
    let id = UserId::parse(&path).ok_or_else(not_found)?;
    let changes = user_changes(body.into_inner(Word::Fail)?)
        .ok_or_else(|| ApiError::invalid_payload(Word::Fail))?;
    let updated = state
        .db_raw(move |conn| users_db::users::update(conn, id, &changes))
        .await?;
    state.changed_user(id);
    let user = match updated {
        Ok(Some(user)) => user,
        Ok(None) => return Err(not_found()),
        Err(DbError::Duplicate { .. }) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Word::Fail,
                msg::USER_EXISTS,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Reply::ok(AdminUserResponse::new(AdminUser::from(&user))))
}

/// Delete a user (admin)
///
/// `DELETE /users/{id}` (admin): the user's sessions go with it (foreign-key cascade).
#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    params(("id" = i32, Path, description = "The user id. Anything that is not a positive integer gets 404.")),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The user was deleted.", body = MessageResponse,
            example = json!({"status": "success", "message": "User deleted."})),
        (status = 404, description = "No such user (or an id that is not a positive integer).",
            body = ErrorResponse, example = json!({"status": "fail", "message": msg::USER_NOT_FOUND})),
        AdminErrors,
        DatabaseErrors,
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<Reply<MessageResponse>, ApiError> {
    caller.require_admin()?;
    let id = UserId::parse(&path).ok_or_else(not_found)?;
    let deleted = state
        .db(move |conn| users_db::users::delete(conn, id))
        .await?;
    state.changed_user(id);
    if !deleted {
        return Err(not_found());
    }
    Ok(Reply::ok(MessageResponse::new("User deleted.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let user = User {
            id: UserId::new(42),
            username: "a".into(),
            email: "a@b.c".into(),
            password_hash: users_domain::PasswordHash::from_stored(String::new()),
            active: true,
            admin: false,
            created_at: users_domain::now_utc(),
            email_verified_at: None,
        };
        let cursor = decode_cursor(&encode_cursor(&user)).unwrap();
        assert_eq!(cursor, PageCursor::from(&user));
        for bad in ["", "!!", "bm9wZQ", "MS4w", "eC4x"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn list_query_parsing() {
        let parse = |q: &str| {
            serde_urlencoded::from_str::<ListParams>(q)
                .ok()
                .and_then(list_query)
        };
        assert_eq!(parse("").unwrap().limit, DEFAULT_PAGE);
        assert_eq!(parse("limit=1000").unwrap().limit, 1000);
        let q = parse("q=Mi&limit=5&other=x").unwrap();
        assert_eq!((q.limit, q.prefix.as_deref()), (5, Some("Mi")));
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "limit=-1",
            "after=zzz",
            "limit=",
            "q=%00",
            "q=a%00b",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
