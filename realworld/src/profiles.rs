//! `/profiles/{username}`: profiles and follows.

use asyncio_http::extract::{Json, Path, State};
use serde_json::{json, Value};

use crate::auth::{AuthUser, MaybeUser};
use crate::db::{profile_json, PROFILE_COLUMNS};
use crate::error::{ApiError, ApiResult};
use crate::App;

async fn profile(app: &App, viewer: Option<i32>, username: &str) -> ApiResult<Json<Value>> {
    let db = app.db().await?;
    let row = db
        .fetchrow(
            &format!("SELECT {PROFILE_COLUMNS} FROM users u WHERE u.username = $2"),
            &[&viewer, &username],
        )
        .await?
        .ok_or(ApiError::NotFound("profile not found"))?;
    Ok(Json(json!({ "profile": profile_json(&row, 0) })))
}

/// `GET /profiles/{username}`.
pub async fn get(
    State(app): State<App>,
    MaybeUser(viewer): MaybeUser,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    profile(&app, viewer, &username).await
}

async fn user_id(app: &App, username: &str) -> ApiResult<i32> {
    let db = app.db().await?;
    db.fetchval::<i32>("SELECT id FROM users WHERE username = $1", &[&username])
        .await?
        .ok_or(ApiError::NotFound("profile not found"))
}

/// `POST /profiles/{username}/follow`.
pub async fn follow(State(app): State<App>, user: AuthUser, Path(username): Path<String>) -> ApiResult<Json<Value>> {
    let id = user_id(&app, &username).await?;
    if id == user.id {
        return Err(ApiError::invalid("you cannot follow yourself"));
    }
    app.db()
        .await?
        .execute(
            "INSERT INTO follows (follower, followee) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&user.id, &id],
        )
        .await?;
    profile(&app, Some(user.id), &username).await
}

/// `DELETE /profiles/{username}/follow`.
pub async fn unfollow(State(app): State<App>, user: AuthUser, Path(username): Path<String>) -> ApiResult<Json<Value>> {
    let id = user_id(&app, &username).await?;
    app.db()
        .await?
        .execute(
            "DELETE FROM follows WHERE follower = $1 AND followee = $2",
            &[&user.id, &id],
        )
        .await?;
    profile(&app, Some(user.id), &username).await
}
