//! `/users`, `/users/login`, `/user`: registration, login, the current
//! user.

use asyncio_http::extract::{Json, State};
use asyncio_http::StatusCode;
use asyncio_postgres::Row;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{self, AuthUser};
use crate::error::{ApiError, ApiResult};
use crate::{App, Body};

/// `{"user": {...}}`.
#[derive(Deserialize)]
pub struct Wrapped<T> {
    user: T,
}

/// A registration.
#[derive(Deserialize)]
pub struct NewUser {
    username: String,
    email: String,
    password: String,
}

/// A login.
#[derive(Deserialize)]
pub struct Login {
    email: String,
    password: String,
}

/// A change to the current user; absent fields stay as they are.
#[derive(Deserialize)]
pub struct UpdateUser {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    bio: Option<Option<String>>,
    image: Option<Option<String>>,
}

fn user_json(app: &App, row: &Row) -> Value {
    let id: i32 = row.get(0);
    json!({"user": {
        "username": row.get::<_, String>(1),
        "email": row.get::<_, String>(2),
        "bio": row.get::<_, String>(3),
        "image": row.get::<_, String>(4),
        "token": auth::issue_token(&app.key, id),
    }})
}

const USER_COLUMNS: &str = "id, username, email, COALESCE(bio, ''), COALESCE(image, '')";

fn check_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("email is invalid"))
    }
}

fn check_username(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 64 {
        Err(ApiError::invalid("username must be 1 to 64 characters"))
    } else {
        Ok(())
    }
}

fn check_password(pw: &str) -> Result<(), ApiError> {
    if pw.is_empty() || pw.len() > 256 {
        Err(ApiError::invalid("password must be 1 to 256 characters"))
    } else {
        Ok(())
    }
}

/// A unique violation as the spec's message; other errors as they are.
fn taken(e: asyncio_postgres::Error) -> ApiError {
    if let asyncio_postgres::Error::Server(s) = &e {
        if s.code() == "23505" {
            let what = if s.constraint().is_some_and(|c| c.contains("email")) {
                "email"
            } else {
                "username"
            };
            return ApiError::invalid(format!("{what} has already been taken"));
        }
    }
    ApiError::Database(e)
}

/// `POST /users`: registers, answers `201` with the user and a token.
pub async fn register(
    State(app): State<App>,
    Body(body): Body<Wrapped<NewUser>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let u = body.user;
    check_username(&u.username)?;
    check_email(&u.email)?;
    check_password(&u.password)?;
    let hash = auth::hash_password(u.password).await?;
    let db = app.db().await?;
    let row = db
        .fetchrow(
            &format!("INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3) RETURNING {USER_COLUMNS}"),
            &[&u.username, &u.email, &hash],
        )
        .await
        .map_err(taken)?
        .ok_or_else(|| ApiError::Internal("INSERT returned no row".into()))?;
    Ok((StatusCode::CREATED, Json(user_json(&app, &row))))
}

/// `POST /users/login`.
pub async fn login(State(app): State<App>, Body(body): Body<Wrapped<Login>>) -> ApiResult<Json<Value>> {
    let l = body.user;
    let db = app.db().await?;
    let row = db
        .fetchrow(
            &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"),
            &[&l.email],
        )
        .await?;
    drop(db);
    let Some(row) = row else {
        return Err(ApiError::Unauthorized("email or password is invalid"));
    };
    if !auth::verify_password(l.password, row.get(5)).await? {
        return Err(ApiError::Unauthorized("email or password is invalid"));
    }
    Ok(Json(user_json(&app, &row)))
}

/// `GET /user`.
pub async fn current(State(app): State<App>, user: AuthUser) -> ApiResult<Json<Value>> {
    let db = app.db().await?;
    let row = db
        .fetchrow(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&user.id])
        .await?
        .ok_or(ApiError::Unauthorized("the token's user no longer exists"))?;
    Ok(Json(user_json(&app, &row)))
}

/// `PUT /user`.
pub async fn update(
    State(app): State<App>,
    user: AuthUser,
    Body(body): Body<Wrapped<UpdateUser>>,
) -> ApiResult<Json<Value>> {
    let u = body.user;
    if let Some(name) = &u.username {
        check_username(name)?;
    }
    if let Some(email) = &u.email {
        check_email(email)?;
    }
    let hash = match u.password {
        Some(pw) => {
            check_password(&pw)?;
            Some(auth::hash_password(pw).await?)
        }
        None => None,
    };
    let (set_bio, bio) = (u.bio.is_some(), u.bio.flatten());
    let (set_image, image) = (u.image.is_some(), u.image.flatten());
    let db = app.db().await?;
    let row = db
        .fetchrow(
            &format!(
                "UPDATE users SET username = COALESCE($2, username), email = COALESCE($3, email),
                   password_hash = COALESCE($4, password_hash),
                   bio = CASE WHEN $5 THEN $6 ELSE bio END, image = CASE WHEN $7 THEN $8 ELSE image END
                 WHERE id = $1 RETURNING {USER_COLUMNS}"
            ),
            &[
                &user.id,
                &u.username,
                &u.email,
                &hash,
                &set_bio,
                &bio,
                &set_image,
                &image,
            ],
        )
        .await
        .map_err(taken)?
        .ok_or(ApiError::Unauthorized("the token's user no longer exists"))?;
    Ok(Json(user_json(&app, &row)))
}
