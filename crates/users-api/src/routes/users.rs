//! `/users`: the public list and lookup, and admin creation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use users_db::users::{ListQuery, PageCursor, UserChanges};
use users_db::{DbError, UniqueField};
use users_domain::{Email, NewUser, Password, User, UserId, Username};

use super::{http_date, json};
use crate::error::{ApiError, Word, msg};
use crate::extract::{AuthUser, JsonBody, str_field};
use crate::state::AppState;

/// Page size of `GET /users` without paging parameters.
pub const DEFAULT_PAGE: i64 = 100;

fn list_item(u: &User) -> Value {
    json!({
        "id": u.id.get(),
        "username": u.username,
        "email": u.email,
        "created_at": http_date(&u.created_at),
    })
}

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

/// Reads `limit`, `after` and `q`; anything unreadable is `None` (400).
fn list_query(query_string: &str) -> Option<ListQuery> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string).ok()?;
    let mut query = ListQuery {
        limit: DEFAULT_PAGE,
        ..ListQuery::default()
    };
    for (key, value) in pairs {
        match key.as_str() {
            "limit" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=users_db::users::MAX_LIST_LIMIT).contains(n))?;
            }
            "after" => query.after = Some(decode_cursor(&value)?),
            "q" if !value.is_empty() => {
                // NUL is no text a user can hold (and PostgreSQL refuses it in a query).
                if value.chars().count() > users_domain::MAX_FIELD_CHARS || value.contains('\0') {
                    return None;
                }
                query.prefix = Some(value);
            }
            _ => {}
        }
    }
    Some(query)
}

/// List users
///
/// `GET /users?limit=N&after=CURSOR&q=PREFIX`: newest first, keyset paging.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    params(crate::bodies::ListParams),
    responses(
        (status = 200, description = "A page of users, newest first; `next` is the cursor of the following page.", body = crate::bodies::UserListResponse),
        (status = 400, description = "A `limit` that is not an integer from 1 to 1000, an `after` that is not a cursor of this service, or a `q` over 128 characters.", body = crate::bodies::ErrorResponse,
            example = json!({"status": "fail", "message": msg::INVALID_PAYLOAD})),
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query =
        list_query(req.query_string()).ok_or_else(|| ApiError::invalid_payload(Word::Fail))?;
    let limit = query.limit;
    let users = state
        .db(move |conn| users_db::users::list(conn, &query))
        .await?;
    let next = match users.last() {
        Some(last) if i64::try_from(users.len()).is_ok_and(|n| n == limit) => {
            Value::String(encode_cursor(last))
        }
        _ => Value::Null,
    };
    let users: Vec<Value> = users.iter().map(list_item).collect();
    Ok(json(
        StatusCode::OK,
        json!({"status": "success", "data": {"users": users, "next": next}}),
    ))
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
        (status = 200, description = "The user.", body = crate::bodies::UserResponse),
        (status = 404, description = "No such user (or an id that is not a positive integer).",
            body = crate::bodies::ErrorResponse, example = json!({"status": "fail", "message": msg::USER_NOT_FOUND})),
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::parse(&path).ok_or_else(not_found)?;
    let user = state
        .db(move |conn| users_db::users::find_by_id(conn, id))
        .await?
        .ok_or_else(not_found)?;
    Ok(json(
        StatusCode::OK,
        json!({"status": "success", "data": {
            "username": user.username,
            "email": user.email,
            "created_at": http_date(&user.created_at),
        }}),
    ))
}

/// Create a user (admin)
///
/// `POST /users` (admin): auth, admin, body, email taken, fields, created, in that order.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = crate::bodies::RegisterRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 201, description = "The user was created.", body = crate::bodies::MessageResponse,
            example = json!({"status": "success", "message": "michael@example.com was added!"})),
        (status = 400, description = "A bad body, a field missing or invalid, a username taken (`Invalid payload.`), or an email taken.", body = crate::bodies::ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Email taken" = (value = json!({"status": "fail", "message": msg::EMAIL_EXISTS})))
            )),
        crate::bodies::AdminErrors,
        crate::bodies::BodyErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body = body.object(Word::Fail)?;
    let invalid = || ApiError::invalid_payload(Word::Fail);
    let email_taken = || ApiError::new(StatusCode::BAD_REQUEST, Word::Fail, msg::EMAIL_EXISTS);

    // The seed looks the email up before it validates anything else.
    let email = str_field(&body, "email").and_then(|e| Email::parse(e).ok());
    if let Some(email) = email.clone() {
        let existing = state
            .db(move |conn| users_db::users::find_by_email(conn, &email))
            .await?;
        if existing.is_some() {
            return Err(email_taken());
        }
    }
    let email = email.ok_or_else(invalid)?;
    let username = str_field(&body, "username")
        .and_then(|u| Username::parse(u).ok())
        .ok_or_else(invalid)?;
    let password = str_field(&body, "password")
        .and_then(|p| Password::parse(p, state.password_policy()).ok())
        .ok_or_else(invalid)?;

    let hash = state
        .hashing("hash", move |h| h.hash(&password))
        .await?
        .map_err(ApiError::internal)?;
    let new_user = NewUser::new(username, email, hash);
    let inserted = state
        .db_raw(move |conn| users_db::users::insert(conn, &new_user))
        .await?;
    match inserted {
        Ok(user) => Ok(json(
            StatusCode::CREATED,
            json!({"status": "success", "message": format!("{} was added!", user.email)}),
        )),
        Err(DbError::Duplicate {
            field: UniqueField::Email,
        }) => Err(email_taken()),
        Err(DbError::Duplicate {
            field: UniqueField::Username,
        }) => Err(invalid()),
        Err(e) => Err(e.into()),
    }
}

/// Reads a PATCH body: at least one of `active`, `admin` (booleans), `username`, `email`
/// (valid strings); any of them with the wrong type or an invalid value is `None`.
fn user_changes(body: &serde_json::Map<String, Value>) -> Option<UserChanges> {
    let flag = |name: &str| match body.get(name) {
        None => Some(None),
        Some(Value::Bool(b)) => Some(Some(*b)),
        Some(_) => None,
    };
    let text = |name: &str| match body.get(name) {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s.as_str())),
        Some(_) => None,
    };
    let changes = UserChanges {
        active: flag("active")?,
        admin: flag("admin")?,
        username: match text("username")? {
            Some(u) => Some(Username::parse(u).ok()?),
            None => None,
        },
        email: match text("email")? {
            Some(e) => Some(Email::parse(e).ok()?),
            None => None,
        },
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
    request_body = crate::bodies::UserUpdateRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The user after the change.", body = crate::bodies::AdminUserResponse),
        (status = 400, description = "A bad body, no known field, a field of the wrong type or invalid, or a username or email taken.", body = crate::bodies::ErrorResponse,
            examples(
                ("Invalid payload" = (value = json!({"status": "fail", "message": msg::INVALID_PAYLOAD}))),
                ("Taken" = (value = json!({"status": "fail", "message": msg::USER_EXISTS})))
            )),
        (status = 404, description = "No such user (or an id that is not a positive integer).",
            body = crate::bodies::ErrorResponse, example = json!({"status": "fail", "message": msg::USER_NOT_FOUND})),
        crate::bodies::AdminErrors,
        crate::bodies::BodyErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = UserId::parse(&path).ok_or_else(not_found)?;
    let changes = user_changes(&body.object(Word::Fail)?)
        .ok_or_else(|| ApiError::invalid_payload(Word::Fail))?;
    let updated = state
        .db_raw(move |conn| users_db::users::update(conn, id, &changes))
        .await?;
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
    Ok(json(
        StatusCode::OK,
        json!({"status": "success", "data": {
            "id": user.id.get(),
            "username": user.username,
            "email": user.email,
            "active": user.active,
            "admin": user.admin,
            "created_at": http_date(&user.created_at),
        }}),
    ))
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
        (status = 200, description = "The user was deleted.", body = crate::bodies::MessageResponse,
            example = json!({"status": "success", "message": "User deleted."})),
        (status = 404, description = "No such user (or an id that is not a positive integer).",
            body = crate::bodies::ErrorResponse, example = json!({"status": "fail", "message": msg::USER_NOT_FOUND})),
        crate::bodies::AdminErrors,
        crate::bodies::DatabaseErrors,
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = UserId::parse(&path).ok_or_else(not_found)?;
    if !state
        .db(move |conn| users_db::users::delete(conn, id))
        .await?
    {
        return Err(not_found());
    }
    Ok(json(
        StatusCode::OK,
        json!({"status": "success", "message": "User deleted."}),
    ))
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
        };
        let cursor = decode_cursor(&encode_cursor(&user)).unwrap();
        assert_eq!(cursor, PageCursor::from(&user));
        for bad in ["", "!!", "bm9wZQ", "MS4w", "eC4x"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn list_query_parsing() {
        assert_eq!(list_query("").unwrap().limit, DEFAULT_PAGE);
        assert_eq!(list_query("limit=1000").unwrap().limit, 1000);
        let q = list_query("q=Mi&limit=5&other=x").unwrap();
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
            assert!(list_query(bad).is_none(), "{bad}");
        }
    }
}
