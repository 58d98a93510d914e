//! The client's cookie jar and proxies (a forward proxy written for the
//! test: `CONNECT` tunnels and absolute-form requests).

mod client_support;

#[cfg(feature = "tls")]
use asyncio_examples_support::pki::Pki;
use asyncio_http::client::Client;
use asyncio_http::{Request, Router, RunningServer, Server};

async fn start(app: fn() -> Router) -> RunningServer {
    Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .start(app)
        .await
        .expect("server starts")
}

fn app() -> Router {
    Router::new()
        .get("/login", |_: Request| async {
            http::Response::builder()
                .header("set-cookie", "session=abc123; Path=/; HttpOnly")
                .header("set-cookie", "theme=dark; Path=/prefs")
                .header("location", "/whoami")
                .status(302)
                .body(asyncio_http::Body::empty())
                .unwrap()
        })
        .get("/whoami", |req: Request| async move {
            req.header("cookie").unwrap_or("none").to_owned()
        })
        .get("/prefs/show", |req: Request| async move {
            req.header("cookie").unwrap_or("none").to_owned()
        })
        .get(
            "/hello",
            |req: Request| async move { format!("hello via {}", req.uri()) },
        )
}

#[asyncio::test]
async fn the_cookie_jar_keeps_and_sends_back() {
    let server = start(app).await;
    let base = format!("http://{}", server.local_addr());
    let client = Client::builder().cookie_store(true).build().unwrap();
    // Set on the redirect, sent on the request it redirects to.
    let text = client
        .get(&format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "session=abc123");
    let text = client
        .get(&format!("{base}/prefs/show"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("session=abc123") && text.contains("theme=dark"), "{text}");
    let mut cookies = client.cookies_for(&format!("{base}/prefs/x"));
    cookies.sort();
    assert_eq!(
        cookies,
        [("session".into(), "abc123".into()), ("theme".into(), "dark".into())]
    );
    // A request's own Cookie header wins.
    let text = client
        .get(&format!("{base}/whoami"))
        .header("cookie", "mine=1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "mine=1");

    // Without a jar nothing is kept.
    let plain = Client::new();
    let text = plain
        .get(&format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "none");
}

#[asyncio::test]
async fn http_through_a_proxy_in_absolute_form() {
    let server = start(app).await;
    let (proxy, log) = client_support::forward_proxy(false).await;
    let client = Client::builder()
        .proxy(&format!("http://ada:secret@{proxy}"))
        .build()
        .unwrap();
    let url = format!("http://{}/hello", server.local_addr());
    for _ in 0..2 {
        let text = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(text, format!("hello via {url}"), "the server saw the absolute form");
    }
    let log = log.borrow();
    assert_eq!(log[0], format!("GET {url} HTTP/1.1 [Basic YWRhOnNlY3JldA==]"));
}

#[cfg(feature = "tls")]
#[asyncio::test]
async fn https_through_a_connect_tunnel() {
    let pki = Pki::new("proxy test CA");
    let id = pki.localhost();
    let ctx = asyncio::tls::ServerContext::builder()
        .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let server = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .tls(ctx)
        .start(app)
        .await
        .unwrap();
    let (proxy, log) = client_support::forward_proxy(false).await;
    let client_ctx = asyncio::tls::ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let client = Client::builder()
        .proxy(&format!("http://{proxy}"))
        .tls(client_ctx)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/hello", server.local_addr().port());
    let text = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(text, "hello via /hello", "origin-form inside the tunnel");
    assert_eq!(
        log.borrow()[0],
        format!("CONNECT localhost:{} HTTP/1.1 [-]", server.local_addr().port())
    );

    // A proxy that refuses the tunnel: its own error.
    let (refusing, _) = client_support::forward_proxy(true).await;
    let client = Client::builder().proxy(&format!("http://{refusing}")).build().unwrap();
    let err = client.get(&url).send().await.unwrap_err();
    assert!(
        matches!(&err, asyncio_http::client::Error::Proxy(why) if why.contains("403")),
        "{err:?}"
    );
    // An unusable proxy setting fails the build.
    assert!(matches!(
        Client::builder().proxy("socks5://x:1").build(),
        Err(asyncio_http::client::Error::InvalidUrl(_))
    ));
}

/// A proxy that sends bytes after its `200` to `CONNECT`, before the TLS
/// handshake (whose client speaks first): a proxy error, not a panic or
/// bytes silently dropped.
#[cfg(feature = "tls")]
#[asyncio::test]
async fn bytes_after_the_connect_answer_are_a_proxy_error() {
    let (proxy, _) = client_support::raw_server(|stream, _| async move {
        client_support::read_head(&stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\nnot TLS")
            .await;
        // Held open until the client gives up.
        let mut buf = [0u8; 64];
        while let Ok(1..) = stream.read(&mut buf).await {}
    })
    .await;
    let client = Client::builder().proxy(&format!("http://{proxy}")).build().unwrap();
    let err = client.get("https://example.invalid/").send().await.unwrap_err();
    assert!(
        matches!(&err, asyncio_http::client::Error::Proxy(why) if why.contains("after its answer")),
        "{err:?}"
    );
}

/// A "proxy" that answers every request itself with the `Set-Cookie`
/// headers its path asks for (`/set?<n>`: the n-th list): names like
/// `a.github.io` need no DNS.
async fn cookie_setter() -> std::net::SocketAddr {
    const SETS: [&[&str]; 4] = [
        &[
            "super=1; Domain=github.io",
            "dotted=1; Domain=.GitHub.io",
            "own=1; Domain=a.github.io",
            "plain=1",
        ],
        &["top=1; Domain=github.io"],
        &["uk=1; Domain=co.uk", "shop=1; Domain=example.co.uk"],
        &["dot=1; Domain=github.io.", "own_dot=1; Domain=evil.github.io."],
    ];
    let (addr, _) = client_support::raw_server(|stream, _| async move {
        loop {
            let head = client_support::read_head(&stream).await;
            if head.is_empty() {
                return;
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let n: usize = text
                .split_once("/set?")
                .and_then(|(_, rest)| rest[..1].parse().ok())
                .unwrap_or(0);
            let mut answer = String::from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
            for cookie in SETS[n] {
                answer.push_str(&format!("Set-Cookie: {cookie}\r\n"));
            }
            answer.push_str("\r\n");
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    addr
}

/// A site cannot set a cookie for a whole public suffix (`github.io`,
/// `co.uk`: RFC 6265, section 5.3, step 5), which would reach every other
/// site under it; the suffix's own host may, for itself alone.
#[asyncio::test]
async fn the_jar_refuses_cookies_for_a_public_suffix() {
    let proxy = cookie_setter().await;
    let client = Client::builder()
        .cookie_store(true)
        .proxy(&format!("http://{proxy}"))
        .build()
        .unwrap();
    let names = |url: &str| {
        let mut names: Vec<String> = client.cookies_for(url).into_iter().map(|(n, _)| n).collect();
        names.sort();
        names
    };
    client.get("http://a.github.io/set?0").send().await.unwrap();
    assert_eq!(names("http://a.github.io/"), ["own", "plain"]);
    assert!(
        names("http://b.github.io/").is_empty(),
        "{:?}",
        names("http://b.github.io/")
    );
    client.get("http://github.io/set?1").send().await.unwrap();
    assert_eq!(names("http://github.io/"), ["top"]);
    assert!(names("http://c.github.io/").is_empty());
    client.get("http://shop.example.co.uk/set?2").send().await.unwrap();
    assert_eq!(names("http://www.example.co.uk/"), ["shop"]);
    assert!(names("http://other.co.uk/").is_empty());
    // A trailing dot does not hide the suffix.
    client.get("http://evil.github.io./set?3").send().await.unwrap();
    assert!(
        !names("http://bank.github.io./").contains(&"dot".to_owned()),
        "{:?}",
        names("http://bank.github.io./")
    );
}
