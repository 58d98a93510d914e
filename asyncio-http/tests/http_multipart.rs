//! Uploads: fields and files read and streamed to disk, limits answered
//! with 413 and nothing left on disk, malformed and non-multipart bodies
//! refused; an 8 MiB upload over a real connection.

mod support;

use std::path::PathBuf;

use asyncio_http::multipart::{Multipart, MultipartError};
use asyncio_http::testing::TestClient;
use asyncio_http::{Request, Router, Server};

const BOUNDARY: &str = "----asyncio-http-test-boundary";

fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, data) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn upload_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("asyncio-http-uploads-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves files into the directory in the `x-dir` header, echoes text
/// fields; fields over 1 KiB are refused unless `x-big` is set.
async fn upload(req: Request) -> Result<String, MultipartError> {
    let dir = PathBuf::from(req.header("x-dir").unwrap_or("."));
    let per_field = if req.header("x-big").is_some() { 64 << 20 } else { 1024 };
    let mut form = Multipart::limits(req, per_field, u64::MAX)?;
    let mut out = Vec::new();
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        match field.file_name().map(|f| f.replace(['/', '\\'], "_")) {
            Some(file) => {
                let n = field.save_to(dir.join(&file)).await?;
                out.push(format!("{name}: {file} ({n} bytes)"));
            }
            None => out.push(format!("{name}={}", field.text().await?)),
        }
    }
    Ok(out.join("\n"))
}

async fn extractor(mut form: Multipart) -> Result<String, MultipartError> {
    let mut names = Vec::new();
    while let Some(field) = form.next_field().await? {
        names.push(field.name().unwrap_or("").to_owned());
        field.bytes().await?;
    }
    Ok(names.join(","))
}

fn app() -> Router {
    Router::new().post("/upload", upload).post("/names", extractor)
}

fn ct() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

#[test]
fn fields_and_files() {
    let dir = upload_dir("fields");
    asyncio::run(async {
        let c = TestClient::new(app()).max_body_bytes(64 << 20);
        let body = form(&[("title", None, b"holiday"), ("photo", Some("../../a.jpg"), &[7u8; 900])]);
        let r = c
            .post("/upload")
            .header("content-type", &ct())
            .header("x-dir", dir.to_str().unwrap())
            .body(body)
            .send()
            .await;
        assert_eq!(r.status(), 200, "{r:?}");
        assert_eq!(r.text(), "title=holiday\nphoto: .._.._a.jpg (900 bytes)");
        assert_eq!(std::fs::read(dir.join(".._.._a.jpg")).unwrap(), vec![7u8; 900]);

        let r = c
            .post("/names")
            .header("content-type", &ct())
            .body(form(&[("a", None, b"1"), ("b", None, b"2")]))
            .send()
            .await;
        assert_eq!(r.text(), "a,b");
    });
}

#[test]
fn limits_and_malformed_bodies() {
    let dir = upload_dir("limits");
    asyncio::run(async {
        let c = TestClient::new(app()).max_body_bytes(64 << 20);
        let body = form(&[("photo", Some("big.bin"), &[1u8; 5000])]);
        let r = c
            .post("/upload")
            .header("content-type", &ct())
            .header("x-dir", dir.to_str().unwrap())
            .body(body)
            .send()
            .await;
        assert_eq!(r.status(), 413, "{r:?}");
        assert!(!dir.join("big.bin").exists(), "the partial file is removed");

        // The server's own body limit, through the stream.
        let small = TestClient::new(app()).max_body_bytes(2000);
        let body = form(&[("photo", Some("big2.bin"), &[1u8; 5000])]);
        let r = small
            .post("/upload")
            .header("content-type", &ct())
            .header("x-dir", dir.to_str().unwrap())
            .header("x-big", "1")
            .body(body)
            .send()
            .await;
        assert_eq!(r.status(), 413, "{r:?}");
        assert!(!dir.join("big2.bin").exists());

        let r = c
            .post("/names")
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await;
        assert_eq!(r.status(), 415);
        let r = c
            .post("/names")
            .header("content-type", "multipart/form-data")
            .body("x")
            .send()
            .await;
        assert_eq!(r.status(), 415, "no boundary");
        let mut cut = form(&[("a", None, b"1")]);
        cut.truncate(cut.len() - 10);
        let r = c.post("/names").header("content-type", &ct()).body(cut).send().await;
        assert_eq!(r.status(), 400, "{r:?}");
        let r = c
            .post("/names")
            .header("content-type", &ct())
            .body("garbage without boundaries")
            .send()
            .await;
        assert_eq!(r.status(), 400, "{r:?}");
    });
}

#[asyncio::test]
async fn a_large_upload_streams_to_disk_over_a_connection() {
    let dir = upload_dir("large");
    let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let server = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .max_body_bytes(64 << 20)
        .start(app)
        .await
        .unwrap();
    let body = form(&[("file", Some("big.bin"), &data)]);
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: {}\r\nX-Dir: {}\r\nX-Big: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        ct(),
        dir.display(),
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let mut conn = support::Conn::open(server.local_addr()).await;
    conn.send(&raw).await.unwrap();
    let r = conn.response().await.unwrap().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), format!("file: big.bin ({} bytes)", data.len()));
    assert!(std::fs::read(dir.join("big.bin")).unwrap() == data);
    server.shutdown().await.unwrap();
}
