//! The asyncio-http client of the HTTP client bench, on asyncio's loop
//! (`asyncio::run`): one `asyncio_http::client::Client` with a pool as
//! large as the GETs in flight (`max_connections` and
//! `max_keepalive_connections`), its TLS context trusting the bench's CA
//! (ALPN `http/1.1`, or `h2` first on the HTTP/2 row), prior knowledge on
//! the h2c row; tasks made with `asyncio::create_task`.

use std::rc::Rc;

use asyncio_http::client::Client;

use super::{Protocol, Sample, Size, Stopwatch};

/// Builds the client, warms up, measures `size` GETs of `url`.
///
/// # Panics
/// On any error of the server or the client (a bench must not measure a
/// failure).
pub fn run(protocol: Protocol, url: &str, size: Size, ca: Option<&str>) -> Sample {
    asyncio::run(async move {
        let mut builder = Client::builder()
            .max_connections(size.in_flight)
            .max_keepalive_connections(size.in_flight)
            .trust_env(false);
        if protocol == Protocol::H2c {
            builder = builder.http2_prior_knowledge();
        }
        if let Some(ca) = ca {
            let alpn: &[&str] = if protocol == Protocol::H2 {
                &["h2", "http/1.1"]
            } else {
                &["http/1.1"]
            };
            let ctx = asyncio::tls::ClientContext::builder()
                .no_system_roots()
                .add_ca_pem(ca.as_bytes())
                .expect("the bench's CA")
                .alpn(alpn.iter().copied())
                .build()
                .expect("TLS context");
            builder = builder.tls(ctx);
        }
        let client = builder.build().expect("client");
        let url: Rc<str> = url.into();
        burst(&client, &url, protocol, size.warmup()).await;
        let clock = Stopwatch::start();
        burst(&client, &url, protocol, size).await;
        clock.stop(size.requests())
    })
}

async fn get(client: &Client, url: &str, protocol: Protocol) {
    let resp = client.get(url).send().await.expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    if protocol.is_h2() {
        assert_eq!(resp.version(), http::Version::HTTP_2);
    }
    let body = resp.bytes().await.expect("body");
    assert!(!body.is_empty());
}

async fn burst(client: &Client, url: &Rc<str>, protocol: Protocol, size: Size) {
    let tasks: Vec<_> = (0..size.in_flight)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            asyncio::create_task(async move {
                for _ in 0..size.per_task() {
                    get(&client, &url, protocol).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("GET task");
    }
}
