//! Static files: content, types, validators, conditional requests, ranges,
//! HEAD, index.html, and every traversal shape refused; an 8 MiB file
//! streamed over a real connection.

mod support;

use std::path::{Path, PathBuf};

use asyncio_http::static_files::ServeDir;
use asyncio_http::testing::TestClient;
use asyncio_http::Router;

fn site(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("asyncio-http-static-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("public/docs")).unwrap();
    std::fs::write(dir.join("public/hello.txt"), "hello, static world\n").unwrap();
    std::fs::write(dir.join("public/style.css"), "body { color: red }").unwrap();
    std::fs::write(dir.join("public/docs/index.html"), "<h1>docs</h1>").unwrap();
    std::fs::write(dir.join("public/.env"), "SECRET=1").unwrap();
    std::fs::write(dir.join("secret.txt"), "outside the root").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("public/link.txt")).unwrap();
    dir
}

fn app(root: &Path) -> Router {
    Router::new().get("/static/{*path}", ServeDir::new(root.join("public")).handler())
}

#[test]
fn files_types_and_validators() {
    let dir = site("basic");
    asyncio::run(async {
        let c = TestClient::new(app(&dir));
        let r = c.get("/static/hello.txt").send().await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text(), "hello, static world\n");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("content-length"), Some("20"));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        let etag = r.header("etag").unwrap().to_owned();
        let last_modified = r.header("last-modified").unwrap().to_owned();
        assert!(etag.starts_with('"'));
        assert_eq!(
            c.get("/static/style.css").send().await.header("content-type"),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(c.get("/static/docs/").send().await.text(), "<h1>docs</h1>");
        assert_eq!(c.get("/static/docs").send().await.text(), "<h1>docs</h1>");

        let r = c.head("/static/hello.txt").send().await;
        assert_eq!(
            (r.status().as_u16(), r.header("content-length"), r.bytes().len()),
            (200, Some("20"), 0)
        );

        let r = c.get("/static/hello.txt").header("if-none-match", &etag).send().await;
        assert_eq!(r.status(), 304);
        assert!(r.bytes().is_empty());
        let r = c
            .get("/static/hello.txt")
            .header("if-none-match", &format!("W/{etag}, \"x\""))
            .send()
            .await;
        assert_eq!(r.status(), 304, "weak comparison for If-None-Match");
        assert_eq!(
            c.get("/static/hello.txt")
                .header("if-none-match", "\"other\"")
                .send()
                .await
                .status(),
            200
        );
        let r = c
            .get("/static/hello.txt")
            .header("if-modified-since", &last_modified)
            .send()
            .await;
        assert_eq!(r.status(), 304);
        let r = c
            .get("/static/hello.txt")
            .header("if-modified-since", "Mon, 01 Jan 1990 00:00:00 GMT")
            .send()
            .await;
        assert_eq!(r.status(), 200);
        let r = c
            .get("/static/hello.txt")
            .header("if-none-match", "\"other\"")
            .header("if-modified-since", &last_modified)
            .send()
            .await;
        assert_eq!(r.status(), 200, "If-None-Match wins over If-Modified-Since");
        assert_eq!(
            c.get("/static/hello.txt")
                .header("if-match", "\"other\"")
                .send()
                .await
                .status(),
            412
        );
        assert_eq!(
            c.get("/static/hello.txt")
                .header("if-match", &etag)
                .send()
                .await
                .status(),
            200
        );
        let r = c
            .get("/static/hello.txt")
            .header("if-unmodified-since", "Mon, 01 Jan 1990 00:00:00 GMT")
            .send()
            .await;
        assert_eq!(r.status(), 412);
        assert_eq!(c.post("/static/hello.txt").send().await.status(), 405);
    });
}

#[test]
fn ranges() {
    let dir = site("ranges");
    asyncio::run(async {
        let c = TestClient::new(app(&dir));
        let r = c.get("/static/hello.txt").header("range", "bytes=0-4").send().await;
        assert_eq!((r.status().as_u16(), r.text()), (206, "hello"));
        assert_eq!(r.header("content-range"), Some("bytes 0-4/20"));
        assert_eq!(r.header("content-length"), Some("5"));
        let r = c.get("/static/hello.txt").header("range", "bytes=-6").send().await;
        assert_eq!(r.text(), "world\n");
        let r = c.get("/static/hello.txt").header("range", "bytes=7-").send().await;
        assert_eq!(r.text(), "static world\n");
        let r = c.get("/static/hello.txt").header("range", "bytes=20-").send().await;
        assert_eq!(r.status(), 416);
        assert_eq!(r.header("content-range"), Some("bytes */20"));
        let r = c.get("/static/hello.txt").header("range", "bytes=0-1,3-4").send().await;
        assert_eq!(
            (r.status().as_u16(), r.bytes().len()),
            (200, 20),
            "several ranges: the whole file"
        );
        let etag = r.header("etag").unwrap().to_owned();
        let r = c
            .get("/static/hello.txt")
            .header("range", "bytes=0-4")
            .header("if-range", &etag)
            .send()
            .await;
        assert_eq!(r.status(), 206);
        let r = c
            .get("/static/hello.txt")
            .header("range", "bytes=0-4")
            .header("if-range", "\"stale\"")
            .send()
            .await;
        assert_eq!(r.status(), 200, "a stale If-Range gets the whole file");
    });
}

#[test]
fn traversal_is_refused() {
    let dir = site("traversal");
    asyncio::run(async {
        let c = TestClient::new(app(&dir));
        for path in [
            "/static/../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/%2E%2E%2Fsecret.txt",
            "/static/docs/%2e%2e/%2e%2e/secret.txt",
            "/static/..%5csecret.txt",
            "/static/.env",
            "/static/link.txt",
            "/static/%00",
            "/static/nope.txt",
            "/static/",
        ] {
            let r = c.get(path).send().await;
            assert_eq!(r.status(), 404, "{path}: {r:?}");
            assert!(!r.text().contains("outside") && !r.text().contains("SECRET"), "{path}");
        }
    });
}

#[asyncio::test]
async fn a_large_file_streams_over_a_connection() {
    let dir = site("large");
    let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("public/big.bin"), &data).unwrap();
    let root = dir.clone();
    let server = asyncio_http::Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .start(move || app(&root))
        .await
        .unwrap();
    let r = support::get(server.local_addr(), "/static/big.bin").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "the bytes are the file's");
    let r = support::request(
        server.local_addr(),
        "GET /static/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=5000000-5000009\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[5_000_000..5_000_010]);
    server.shutdown().await.unwrap();
}
