//! `/users`: the public list and lookup, and admin creation.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
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

/// `GET /users`: newest first.
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let users = state
        .db(|conn| users_db::users::list_newest(conn, DEFAULT_PAGE))
        .await?;
    let users: Vec<Value> = users.iter().map(list_item).collect();
    Ok(json(
        StatusCode::OK,
        json!({"status": "success", "data": {"users": users}}),
    ))
}

/// `GET /users/{id}`: 404 for a non-integer or unknown id.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, Word::Fail, msg::USER_NOT_FOUND);
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

/// `POST /users` (admin): auth, admin, body, email taken, fields, created, in that order.
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
        .hashing(move |h| h.hash(&password))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
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
