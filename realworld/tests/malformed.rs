//! Inputs a client should not send, on every route: each gets a 4xx in the
//! spec's error format (`{"errors": {"body": [...]}}`), never a 500, and
//! the app goes on serving. In-process (asyncio-http's `TestClient`)
//! against a real PostgreSQL.

use asyncio_examples_support::pg::TempPostgres;
use asyncio_http::testing::{TestClient, TestResponse};
use conduit::Config;
use serde_json::{json, Value};

/// Asserts `r` is `status` with a spec error body; returns its messages.
#[track_caller]
fn spec_error(r: &TestResponse, status: u16) -> Vec<String> {
    assert_eq!(r.status(), status, "{r:?}");
    let v: Value = r.json();
    let body = v["errors"]["body"]
        .as_array()
        .unwrap_or_else(|| panic!("not the spec's error format: {v}"));
    assert!(!body.is_empty(), "{v}");
    body.iter()
        .map(|m| m.as_str().expect("messages are strings").to_owned())
        .collect()
}

async fn client(tag: &str) -> TestClient {
    let pg = TempPostgres::shared();
    // One database per test: the tests run in parallel on one server.
    let admin = asyncio_postgres::connect(&pg.dsn()).await.unwrap();
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {tag}"), &[])
        .await
        .unwrap();
    admin.execute(&format!("CREATE DATABASE {tag}"), &[]).await.unwrap();
    admin.close().await;
    let base = pg.dsn();
    let dsn = format!("{}/{tag}", base.rsplit_once('/').unwrap().0);
    assert_eq!(conduit::migrate(&dsn).await.unwrap(), 1);
    assert_eq!(conduit::migrate(&dsn).await.unwrap(), 0, "migrations are idempotent");
    let config = Config {
        dsn,
        secret: b"test secret".to_vec(),
        pool_size: 2,
    };
    TestClient::start(conduit::router(&config)).await
}

async fn register(c: &TestClient, name: &str) -> String {
    let r = c
        .post("/api/users")
        .json(&json!({"user": {"username": name, "email": format!("{name}@x.io"), "password": "pw"}}))
        .send()
        .await;
    assert_eq!(r.status(), 201, "{r:?}");
    r.json::<Value>()["user"]["token"].as_str().unwrap().to_owned()
}

fn auth(token: &str) -> String {
    format!("Token {token}")
}

#[test]
fn users_and_authentication() {
    asyncio::run(async {
        let c = client("malformed_users").await;
        let token = register(&c, "ann").await;
        for body in [
            "not json",
            "{",
            r#"{"user": "ann"}"#,
            r#"{"user": {"username": 1, "email": "a@b", "password": "x"}}"#,
            r#"{"user": {"email": "a@b", "password": "x"}}"#,
            r#"{"user": {"username": "", "email": "a@b", "password": "x"}}"#,
            r#"{"user": {"username": "bob", "email": "no-at-sign", "password": "x"}}"#,
            r#"{"user": {"username": "bob", "email": "b@x.io", "password": ""}}"#,
            r#"[]"#,
        ] {
            let r = c
                .post("/api/users")
                .body(body)
                .header("content-type", "application/json")
                .send()
                .await;
            spec_error(&r, 422);
        }
        let dup = json!({"user": {"username": "ann", "email": "other@x.io", "password": "pw"}});
        let m = spec_error(&c.post("/api/users").json(&dup).send().await, 422);
        assert_eq!(m, ["username has already been taken"]);
        let dup = json!({"user": {"username": "ann2", "email": "ann@x.io", "password": "pw"}});
        let m = spec_error(&c.post("/api/users").json(&dup).send().await, 422);
        assert_eq!(m, ["email has already been taken"]);
        let huge = vec![b' '; 2 * 1024 * 1024];
        spec_error(&c.post("/api/users").body(huge).send().await, 413);

        let bad_login = json!({"user": {"email": "ann@x.io", "password": "wrong"}});
        spec_error(&c.post("/api/users/login").json(&bad_login).send().await, 401);
        let nobody = json!({"user": {"email": "nobody@x.io", "password": "pw"}});
        spec_error(&c.post("/api/users/login").json(&nobody).send().await, 401);
        spec_error(&c.post("/api/users/login").json(&json!({"user": {}})).send().await, 422);

        spec_error(&c.get("/api/user").send().await, 401);
        for header in [
            "Token",
            "Token x",
            "Token a.b.c",
            "Basic abc",
            "Token ".to_owned().as_str(),
        ] {
            spec_error(&c.get("/api/user").header("authorization", header).send().await, 401);
        }
        let mut forged = token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        spec_error(
            &c.get("/api/user").header("authorization", &auth(&forged)).send().await,
            401,
        );
        let other_key = conduit::auth::issue_token(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"other"), 1);
        spec_error(
            &c.get("/api/user")
                .header("authorization", &auth(&other_key))
                .send()
                .await,
            401,
        );

        let r = c
            .put("/api/user")
            .header("authorization", &auth(&token))
            .json(&json!({"user": {"bio": 5}}))
            .send()
            .await;
        spec_error(&r, 422);
        let r = c
            .put("/api/user")
            .header("authorization", &auth(&token))
            .json(&json!({"user": {"email": "bad"}}))
            .send()
            .await;
        spec_error(&r, 422);
        // Still serving, and the user unchanged.
        let r = c.get("/api/user").header("authorization", &auth(&token)).send().await;
        assert_eq!(r.json::<Value>()["user"]["email"], "ann@x.io");
        c.shutdown().await;
    });
}

#[test]
fn profiles_articles_and_comments() {
    asyncio::run(async {
        let c = client("malformed_articles").await;
        let ann = auth(&register(&c, "ann").await);
        let bob = auth(&register(&c, "bob").await);

        spec_error(&c.get("/api/profiles/nobody").send().await, 404);
        spec_error(
            &c.post("/api/profiles/nobody/follow")
                .header("authorization", &ann)
                .send()
                .await,
            404,
        );
        spec_error(&c.post("/api/profiles/bob/follow").send().await, 401);
        spec_error(
            &c.post("/api/profiles/ann/follow")
                .header("authorization", &ann)
                .send()
                .await,
            422,
        );

        let new = json!({"article": {"title": "T", "description": "D", "body": "B", "tagList": ["x"]}});
        spec_error(&c.post("/api/articles").json(&new).send().await, 401);
        for article in [
            json!({"article": {"description": "D", "body": "B"}}),
            json!({"article": {"title": "", "description": "D", "body": "B"}}),
            json!({"article": {"title": "T", "description": "D", "body": "B", "tagList": "x"}}),
            json!({"article": {"title": ["T"], "description": "D", "body": "B"}}),
            json!({"title": "T"}),
        ] {
            let r = c
                .post("/api/articles")
                .header("authorization", &ann)
                .json(&article)
                .send()
                .await;
            spec_error(&r, 422);
        }
        let r = c
            .post("/api/articles")
            .header("authorization", &ann)
            .json(&new)
            .send()
            .await;
        assert_eq!(r.status(), 201, "{r:?}");
        let slug = r.json::<Value>()["article"]["slug"].as_str().unwrap().to_owned();

        for q in ["limit=-1", "limit=abc", "offset=x", "limit=99999999999999999999"] {
            spec_error(&c.get(&format!("/api/articles?{q}")).send().await, 422);
        }
        spec_error(&c.get("/api/articles/feed").send().await, 401);
        spec_error(&c.get("/api/articles/no-such-slug").send().await, 404);
        let edit = json!({"article": {"body": "mine now"}});
        let r = c
            .put(&format!("/api/articles/{slug}"))
            .header("authorization", &bob)
            .json(&edit)
            .send()
            .await;
        spec_error(&r, 403);
        let r = c
            .put(&format!("/api/articles/{slug}"))
            .header("authorization", &ann)
            .json(&json!({"article": {"title": 3}}))
            .send()
            .await;
        spec_error(&r, 422);
        spec_error(
            &c.put("/api/articles/no-such-slug")
                .header("authorization", &ann)
                .json(&edit)
                .send()
                .await,
            404,
        );
        spec_error(
            &c.delete(&format!("/api/articles/{slug}"))
                .header("authorization", &bob)
                .send()
                .await,
            403,
        );
        spec_error(
            &c.post("/api/articles/no-such-slug/favorite")
                .header("authorization", &bob)
                .send()
                .await,
            404,
        );
        spec_error(
            &c.delete("/api/articles/no-such-slug/favorite")
                .header("authorization", &bob)
                .send()
                .await,
            404,
        );

        spec_error(&c.get("/api/articles/no-such-slug/comments").send().await, 404);
        let comment = json!({"comment": {"body": "hi"}});
        let path = format!("/api/articles/{slug}/comments");
        spec_error(&c.post(&path).json(&comment).send().await, 401);
        spec_error(
            &c.post(&path)
                .header("authorization", &bob)
                .json(&json!({"comment": {}}))
                .send()
                .await,
            422,
        );
        spec_error(
            &c.post(&path)
                .header("authorization", &bob)
                .json(&json!({"comment": {"body": " "}}))
                .send()
                .await,
            422,
        );
        let r = c.post(&path).header("authorization", &bob).json(&comment).send().await;
        assert_eq!(r.status(), 200, "{r:?}");
        let id = r.json::<Value>()["comment"]["id"].as_i64().unwrap();
        spec_error(
            &c.delete(&format!("{path}/{id}"))
                .header("authorization", &ann)
                .send()
                .await,
            403,
        );
        spec_error(
            &c.delete(&format!("{path}/abc"))
                .header("authorization", &bob)
                .send()
                .await,
            404,
        );
        spec_error(
            &c.delete(&format!("{path}/999999"))
                .header("authorization", &bob)
                .send()
                .await,
            404,
        );
        spec_error(
            &c.delete(&format!("{path}/99999999999"))
                .header("authorization", &bob)
                .send()
                .await,
            404,
        );
        assert_eq!(
            c.delete(&format!("{path}/{id}"))
                .header("authorization", &bob)
                .send()
                .await
                .status(),
            204
        );

        // Everything valid still works after all that.
        let r = c.get(&format!("/api/articles/{slug}")).send().await;
        assert_eq!(r.json::<Value>()["article"]["tagList"], json!(["x"]));
        assert_eq!(
            c.delete(&format!("/api/articles/{slug}"))
                .header("authorization", &ann)
                .send()
                .await
                .status(),
            204
        );
        spec_error(&c.get(&format!("/api/articles/{slug}")).send().await, 404);
        assert_eq!(c.get("/api/tags").send().await.json::<Value>(), json!({"tags": []}));
        c.shutdown().await;
    });
}
