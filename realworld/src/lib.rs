//! The RealWorld ("Conduit") API — users and JWT authentication, profiles
//! and follows, articles with slugs, tags, favorites, comments, the feed
//! and pagination, in the spec's error format — on asyncio-http and
//! asyncio-postgres: the FastAPI + asyncpg service of the seeds, in Rust.
//!
//! ```sh
//! cargo run --release -p conduit                       # a throwaway PostgreSQL, port 8080
//! DATABASE_URL=postgres://… cargo run --release -p conduit -- --port 3000
//! ```
//!
//! The spec and its official Postman collection are in the workspace's
//! `../shared/realworld/`; `tests/newman.rs` runs the collection against
//! this server with newman, and `tests/malformed.rs` sends every route the
//! inputs a client should not send.
//!
//! | FastAPI app | here |
//! |---|---|
//! | `app = FastAPI()`, `APIRouter(prefix="/api")` | [`router`]: `Router::new().nest("/api", …)` |
//! | pydantic models for bodies | serde structs, read by [`Body`] into the spec's `422` format |
//! | `Depends(get_current_user)`, optional auth | [`auth::AuthUser`], [`auth::MaybeUser`] (`FromRequestParts`) |
//! | `asyncpg.create_pool` in `lifespan` | an asyncio-postgres pool per worker loop, made by `Router::on_startup` |
//! | `passlib`'s bcrypt in a thread (`run_in_threadpool`) | Argon2id through `asyncio::to_thread` ([`auth::hash_password`]) |
//! | `python-jose` JWTs | HS256 over ring ([`auth::issue_token`]) |
//! | Alembic migrations at start-up | [`db::migrate`] |
//! | `HTTPException` + exception handler | [`error::ApiError`] (`IntoResponse`) |

pub mod articles;
pub mod auth;
pub mod db;
pub mod error;
pub mod profiles;
pub mod users;

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::Duration;

use asyncio_http::extract::FromRequest;
use asyncio_http::middleware::{AccessLog, Cors};
use asyncio_http::{Request, Router};
use asyncio_postgres::{Pool, PooledConnection};
use ring::hmac;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// How the app is set up; shared by every worker loop (it is `Send`).
#[derive(Clone, Debug)]
pub struct Config {
    /// The database.
    pub dsn: String,
    /// The key tokens are signed with.
    pub secret: Vec<u8>,
    /// Connections per worker loop.
    pub pool_size: usize,
}

/// A worker loop's state: its pool and the token key (`State<App>`).
#[derive(Clone)]
pub struct App {
    pool: Rc<OnceCell<Pool>>,
    /// The key tokens are signed and checked with.
    pub key: hmac::Key,
}

impl App {
    /// A connection from this loop's pool.
    ///
    /// # Errors
    /// [`ApiError::Internal`] before the pool exists (start-up failed), or
    /// the pool's error.
    ///
    /// # Cancel safety
    /// Cancel safe: a connection not yet handed out stays in the pool.
    pub async fn db(&self) -> Result<PooledConnection, ApiError> {
        let pool = self
            .pool
            .get()
            .ok_or_else(|| ApiError::Internal("the database pool is not ready".into()))?;
        Ok(pool.acquire().await?)
    }
}

/// A JSON body parsed into `T`; a body that is not JSON, or not that
/// shape, is a `422` in the spec's format naming the problem (and an
/// oversized one a `413`).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Body<T> {
    type Rejection = ApiError;

    async fn from_request(mut req: Request) -> Result<Body<T>, ApiError> {
        let bytes = req.bytes().await?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError::invalid(format!("body: {e}")))
    }
}

/// The API, under `/api`, for one worker loop: its pool is made by a
/// startup hook (so the router itself is built synchronously, as the
/// server's factory requires).
pub fn router(config: &Config) -> Router {
    let app = App {
        pool: Rc::new(OnceCell::new()),
        key: hmac::Key::new(hmac::HMAC_SHA256, &config.secret),
    };
    let (cell, dsn, size) = (app.pool.clone(), config.dsn.clone(), config.pool_size);
    let api = Router::new()
        .post("/users", users::register)
        .post("/users/login", users::login)
        .get("/user", users::current)
        .put("/user", users::update)
        .get("/profiles/{username}", profiles::get)
        .post("/profiles/{username}/follow", profiles::follow)
        .delete("/profiles/{username}/follow", profiles::unfollow)
        .get("/articles", articles::list)
        .post("/articles", articles::create)
        .get("/articles/feed", articles::feed)
        .get("/articles/{slug}", articles::get)
        .put("/articles/{slug}", articles::update)
        .delete("/articles/{slug}", articles::delete)
        .post("/articles/{slug}/favorite", articles::favorite)
        .delete("/articles/{slug}/favorite", articles::unfavorite)
        .get("/articles/{slug}/comments", articles::comments)
        .post("/articles/{slug}/comments", articles::add_comment)
        .delete("/articles/{slug}/comments/{id}", articles::delete_comment)
        .get("/tags", articles::tags);
    Router::new()
        .nest("/api", api)
        .with_state(app)
        .on_startup(move || async move {
            let pool = asyncio_postgres::create_pool(&dsn)
                .min_size(1)
                .max_size(size)
                .acquire_timeout(Duration::from_secs(10))
                .build()
                .await;
            match pool {
                Ok(pool) => drop(cell.set(pool)),
                Err(e) => tracing::error!("conduit: no database pool: {e}"),
            }
        })
        .layer(Cors::permissive())
        .layer(AccessLog::new())
}

/// Applies the schema's migrations to the database at `dsn`.
///
/// # Errors
/// The database's.
///
/// # Cancel safety
/// As [`db::migrate`].
pub async fn migrate(dsn: &str) -> Result<usize, asyncio_postgres::Error> {
    let mut conn = asyncio_postgres::connect(dsn).await?;
    let n = db::migrate(&mut conn).await?;
    conn.close().await;
    Ok(n)
}
