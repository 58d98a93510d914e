//! `/articles`, `/articles/feed`, `/articles/{slug}` with its favorites
//! and comments, and `/tags`.

use asyncio_http::extract::{Json, Path, Query, State};
use asyncio_http::StatusCode;
use asyncio_postgres::Row;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{AuthUser, MaybeUser};
use crate::db::{iso, profile_json, PROFILE_COLUMNS};
use crate::error::{ApiError, ApiResult};
use crate::{App, Body};

/// `{"article": {...}}`.
#[derive(Deserialize)]
pub struct Wrapped<T> {
    article: T,
}

/// A new article.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewArticle {
    title: String,
    description: String,
    body: String,
    #[serde(default)]
    tag_list: Vec<String>,
}

/// A change to an article; absent fields stay.
#[derive(Deserialize)]
pub struct UpdateArticle {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
}

/// `{"comment": {"body": ...}}`.
#[derive(Deserialize)]
pub struct NewComment {
    comment: CommentBody,
}

/// A comment's text.
#[derive(Deserialize)]
pub struct CommentBody {
    body: String,
}

/// The list's filters and page, as text: numbers are checked here so that
/// a bad one is answered in the spec's format.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    tag: Option<String>,
    author: Option<String>,
    favorited: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

fn number(name: &str, value: Option<&str>, default: i64, max: i64) -> ApiResult<i64> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!("{name} must be an integer from 0 to {max}"))),
        },
    }
}

/// The columns of an article as seen by `$1` (a user id or NULL): 0 id,
/// 1 slug, 2 title, 3 description, 4 body, 5 created, 6 updated, 7 tags,
/// 8 favorites count, 9 favorited, 10..=13 the author's profile.
fn article_select() -> String {
    format!(
        "SELECT a.id, a.slug, a.title, a.description, a.body, {created}, {updated},
           ARRAY(SELECT t.tag FROM article_tags t WHERE t.article_id = a.id ORDER BY t.tag),
           (SELECT count(*) FROM favorites f WHERE f.article_id = a.id),
           EXISTS (SELECT 1 FROM favorites f WHERE f.article_id = a.id AND f.user_id = $1),
           {PROFILE_COLUMNS}
         FROM articles a JOIN users u ON u.id = a.author_id",
        created = iso!("a.created_at"),
        updated = iso!("a.updated_at"),
    )
}

fn article_json(row: &Row, with_body: bool) -> Value {
    let mut a = json!({
        "slug": row.get::<_, String>(1),
        "title": row.get::<_, String>(2),
        "description": row.get::<_, String>(3),
        "createdAt": row.get::<_, String>(5),
        "updatedAt": row.get::<_, String>(6),
        "tagList": row.get::<_, Vec<String>>(7),
        "favoritesCount": row.get::<_, i64>(8),
        "favorited": row.get::<_, bool>(9),
        "author": profile_json(row, 10),
    });
    if with_body {
        a["body"] = row.get::<_, String>(4).into();
    }
    a
}

/// The filters of a list: `$2` tag, `$3` author, `$4` favorited by,
/// `$5` only followed authors (of `$1`).
const FILTER: &str =
    "WHERE ($2::text IS NULL OR EXISTS (SELECT 1 FROM article_tags t WHERE t.article_id = a.id AND t.tag = $2))
   AND ($3::text IS NULL OR u.username = $3)
   AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM favorites f JOIN users fu ON fu.id = f.user_id
                                    WHERE f.article_id = a.id AND fu.username = $4))
   AND (NOT $5 OR EXISTS (SELECT 1 FROM follows x WHERE x.follower = $1 AND x.followee = a.author_id))";

async fn list_articles(app: &App, viewer: Option<i32>, q: ListQuery, feed: bool) -> ApiResult<Json<Value>> {
    let limit = number("limit", q.limit.as_deref(), 20, 1000)?;
    let offset = number("offset", q.offset.as_deref(), 0, i64::from(i32::MAX))?;
    let db = app.db().await?;
    let params: [asyncio_postgres::Param<'_>; 5] = [&viewer, &q.tag, &q.author, &q.favorited, &feed];
    let count: i64 = db
        .fetchval(
            &format!("SELECT count(*) FROM articles a JOIN users u ON u.id = a.author_id {FILTER}"),
            &params,
        )
        .await?
        .unwrap_or(0);
    let rows = db
        .fetch(
            &format!(
                "{} {FILTER} ORDER BY a.created_at DESC, a.id DESC LIMIT $6 OFFSET $7",
                article_select()
            ),
            &[&viewer, &q.tag, &q.author, &q.favorited, &feed, &limit, &offset],
        )
        .await?;
    let articles: Vec<Value> = rows.iter().map(|r| article_json(r, false)).collect();
    Ok(Json(json!({ "articles": articles, "articlesCount": count })))
}

/// `GET /articles?tag=&author=&favorited=&limit=&offset=`: newest first.
pub async fn list(
    State(app): State<App>,
    MaybeUser(viewer): MaybeUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    list_articles(&app, viewer, q, false).await
}

/// `GET /articles/feed`: articles by the authors the caller follows.
pub async fn feed(State(app): State<App>, user: AuthUser, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let q = ListQuery {
        limit: q.limit,
        offset: q.offset,
        ..ListQuery::default()
    };
    list_articles(&app, Some(user.id), q, true).await
}

async fn one(app: &App, viewer: Option<i32>, slug: &str) -> ApiResult<Json<Value>> {
    let db = app.db().await?;
    let row = db
        .fetchrow(&format!("{} WHERE a.slug = $2", article_select()), &[&viewer, &slug])
        .await?
        .ok_or(ApiError::NotFound("article not found"))?;
    Ok(Json(json!({ "article": article_json(&row, true) })))
}

/// `GET /articles/{slug}`.
pub async fn get(
    State(app): State<App>,
    MaybeUser(viewer): MaybeUser,
    Path(slug): Path<String>,
) -> ApiResult<Json<Value>> {
    one(&app, viewer, &slug).await
}

/// A slug from a title: lowercase ASCII letters and digits joined by `-`,
/// and a random suffix so that two articles may share a title.
fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for word in title.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.extend(word.chars().flat_map(char::to_lowercase));
        if slug.len() > 60 {
            break;
        }
    }
    let mut suffix = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut suffix);
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    if slug.is_empty() {
        suffix
    } else {
        format!("{slug}-{suffix}")
    }
}

fn required(name: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.trim().is_empty() {
        Err(ApiError::invalid(format!("{name} can't be empty")))
    } else if value.len() > max {
        Err(ApiError::invalid(format!("{name} is longer than {max} bytes")))
    } else {
        Ok(())
    }
}

/// `POST /articles`: `201` with the article.
pub async fn create(
    State(app): State<App>,
    user: AuthUser,
    Body(body): Body<Wrapped<NewArticle>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let a = body.article;
    required("title", &a.title, 1000)?;
    required("description", &a.description, 10_000)?;
    required("body", &a.body, 500_000)?;
    let mut tags: Vec<String> = a
        .tag_list
        .iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    if tags.len() > 50 || tags.iter().any(|t| t.len() > 100) {
        return Err(ApiError::invalid("tagList takes at most 50 tags of at most 100 bytes"));
    }
    let slug = slugify(&a.title);
    let mut db = app.db().await?;
    let tx = db.transaction().await?;
    let id: i32 = tx
        .fetchval(
            "INSERT INTO articles (slug, title, description, body, author_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&slug, &a.title, &a.description, &a.body, &user.id],
        )
        .await?
        .ok_or_else(|| ApiError::Internal("INSERT returned no row".into()))?;
    tx.execute(
        "INSERT INTO article_tags (article_id, tag) SELECT $1, unnest($2::text[])",
        &[&id, &tags],
    )
    .await?;
    tx.commit().await?;
    drop(db);
    let Json(article) = one(&app, Some(user.id), &slug).await?;
    Ok((StatusCode::CREATED, Json(article)))
}

/// The id and author of the article at `slug`.
async fn find(app: &App, slug: &str) -> ApiResult<(i32, i32)> {
    let row = app
        .db()
        .await?
        .fetchrow("SELECT id, author_id FROM articles WHERE slug = $1", &[&slug])
        .await?
        .ok_or(ApiError::NotFound("article not found"))?;
    Ok((row.get(0), row.get(1)))
}

/// `PUT /articles/{slug}`: the author only; a new title makes a new slug.
pub async fn update(
    State(app): State<App>,
    user: AuthUser,
    Path(slug): Path<String>,
    Body(body): Body<Wrapped<UpdateArticle>>,
) -> ApiResult<Json<Value>> {
    let a = body.article;
    let (id, author) = find(&app, &slug).await?;
    if author != user.id {
        return Err(ApiError::Forbidden("only the author may change an article"));
    }
    if let Some(t) = &a.title {
        required("title", t, 1000)?;
    }
    if let Some(d) = &a.description {
        required("description", d, 10_000)?;
    }
    if let Some(b) = &a.body {
        required("body", b, 500_000)?;
    }
    let new_slug = a.title.as_deref().map(slugify);
    app.db()
        .await?
        .execute(
            "UPDATE articles SET slug = COALESCE($2, slug), title = COALESCE($3, title),
               description = COALESCE($4, description), body = COALESCE($5, body), updated_at = now()
             WHERE id = $1",
            &[&id, &new_slug, &a.title, &a.description, &a.body],
        )
        .await?;
    one(&app, Some(user.id), new_slug.as_deref().unwrap_or(&slug)).await
}

/// `DELETE /articles/{slug}`: the author only; `204`.
pub async fn delete(State(app): State<App>, user: AuthUser, Path(slug): Path<String>) -> ApiResult<StatusCode> {
    let (id, author) = find(&app, &slug).await?;
    if author != user.id {
        return Err(ApiError::Forbidden("only the author may delete an article"));
    }
    app.db()
        .await?
        .execute("DELETE FROM articles WHERE id = $1", &[&id])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /articles/{slug}/favorite`.
pub async fn favorite(State(app): State<App>, user: AuthUser, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    let (id, _) = find(&app, &slug).await?;
    app.db()
        .await?
        .execute(
            "INSERT INTO favorites (user_id, article_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&user.id, &id],
        )
        .await?;
    one(&app, Some(user.id), &slug).await
}

/// `DELETE /articles/{slug}/favorite`.
pub async fn unfavorite(State(app): State<App>, user: AuthUser, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    let (id, _) = find(&app, &slug).await?;
    app.db()
        .await?
        .execute(
            "DELETE FROM favorites WHERE user_id = $1 AND article_id = $2",
            &[&user.id, &id],
        )
        .await?;
    one(&app, Some(user.id), &slug).await
}

fn comment_select() -> String {
    format!(
        "SELECT c.id, c.body, {created}, {updated}, {PROFILE_COLUMNS}
         FROM comments c JOIN users u ON u.id = c.author_id",
        created = iso!("c.created_at"),
        updated = iso!("c.updated_at"),
    )
}

fn comment_json(row: &Row) -> Value {
    json!({
        "id": row.get::<_, i32>(0),
        "body": row.get::<_, String>(1),
        "createdAt": row.get::<_, String>(2),
        "updatedAt": row.get::<_, String>(3),
        "author": profile_json(row, 4),
    })
}

/// `GET /articles/{slug}/comments`: oldest first.
pub async fn comments(
    State(app): State<App>,
    MaybeUser(viewer): MaybeUser,
    Path(slug): Path<String>,
) -> ApiResult<Json<Value>> {
    let (id, _) = find(&app, &slug).await?;
    let rows = app
        .db()
        .await?
        .fetch(
            &format!(
                "{} WHERE c.article_id = $2 ORDER BY c.created_at, c.id",
                comment_select()
            ),
            &[&viewer, &id],
        )
        .await?;
    let comments: Vec<Value> = rows.iter().map(comment_json).collect();
    Ok(Json(json!({ "comments": comments })))
}

/// `POST /articles/{slug}/comments`.
pub async fn add_comment(
    State(app): State<App>,
    user: AuthUser,
    Path(slug): Path<String>,
    Body(body): Body<NewComment>,
) -> ApiResult<Json<Value>> {
    required("body", &body.comment.body, 100_000)?;
    let (article, _) = find(&app, &slug).await?;
    let db = app.db().await?;
    let id: i32 = db
        .fetchval(
            "INSERT INTO comments (article_id, author_id, body) VALUES ($1, $2, $3) RETURNING id",
            &[&article, &user.id, &body.comment.body],
        )
        .await?
        .ok_or_else(|| ApiError::Internal("INSERT returned no row".into()))?;
    let row = db
        .fetchrow(&format!("{} WHERE c.id = $2", comment_select()), &[&Some(user.id), &id])
        .await?
        .ok_or(ApiError::NotFound("comment not found"))?;
    Ok(Json(json!({ "comment": comment_json(&row) })))
}

/// `DELETE /articles/{slug}/comments/{id}`: the comment's author only; `204`.
pub async fn delete_comment(
    State(app): State<App>,
    user: AuthUser,
    Path((slug, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: i32 = id.parse().map_err(|_| ApiError::NotFound("comment not found"))?;
    let (article, _) = find(&app, &slug).await?;
    let db = app.db().await?;
    let author: i32 = db
        .fetchval(
            "SELECT author_id FROM comments WHERE id = $1 AND article_id = $2",
            &[&id, &article],
        )
        .await?
        .ok_or(ApiError::NotFound("comment not found"))?;
    if author != user.id {
        return Err(ApiError::Forbidden("only the author may delete a comment"));
    }
    db.execute("DELETE FROM comments WHERE id = $1", &[&id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /tags`: every tag in use, most used first.
pub async fn tags(State(app): State<App>) -> ApiResult<Json<Value>> {
    let rows = app
        .db()
        .await?
        .fetch(
            "SELECT tag FROM article_tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT 100",
            &[],
        )
        .await?;
    let tags: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    Ok(Json(json!({ "tags": tags })))
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs() {
        let s = slugify("How to train your Dragon!");
        assert!(s.starts_with("how-to-train-your-dragon-"), "{s}");
        assert_eq!(s.len(), "how-to-train-your-dragon-".len() + 8);
        assert_ne!(slugify("same"), slugify("same"));
        assert_eq!(slugify("!!!").len(), 8);
    }
}
