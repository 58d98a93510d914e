//! The reqwest client of the HTTP client bench, on tokio's current-thread
//! runtime or on its multi-thread runtime with two workers: one
//! `reqwest::Client` (its pool keeps every idle connection by default),
//! rustls on the ring provider (installed as the process's default;
//! reqwest's `rustls-no-provider` feature, so no aws-lc), trusting only the
//! bench's CA (`tls_certs_only`); `http1_only` on the HTTP/1.1 rows (ALPN
//! `http/1.1`), ALPN `h2` and `http/1.1` on the HTTP/2 row,
//! `http2_prior_knowledge` on the h2c row; tasks made with `tokio::spawn`.

use std::sync::Arc;

use super::{Protocol, Sample, Size, Stopwatch};

/// Which tokio runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `new_current_thread`.
    CurrentThread,
    /// `new_multi_thread` with 2 workers.
    MultiThread2,
}

/// Builds the client, warms up, measures `size` GETs of `url`.
///
/// # Panics
/// On any error of the server or the client.
pub fn run(flavor: Flavor, protocol: Protocol, url: &str, size: Size, ca: Option<&str>) -> Sample {
    // Another default already installed is ring too (nothing else is built).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread2 => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    }
    .enable_all()
    .build()
    .expect("tokio runtime");
    runtime.block_on(async move {
        let mut builder = reqwest::Client::builder().no_proxy();
        builder = match protocol {
            Protocol::H1 => builder.http1_only(),
            Protocol::H2 => builder,
            Protocol::H2c => builder.http2_prior_knowledge(),
        };
        if let Some(ca) = ca {
            let cert = reqwest::Certificate::from_pem(ca.as_bytes()).expect("the bench's CA");
            builder = builder.tls_certs_only([cert]);
        }
        let client = builder.build().expect("client");
        let url: Arc<str> = url.into();
        burst(&client, &url, protocol, size.warmup()).await;
        let clock = Stopwatch::start();
        burst(&client, &url, protocol, size).await;
        clock.stop(size.requests())
    })
}

async fn get(client: &reqwest::Client, url: &str, protocol: Protocol) {
    let resp = client.get(url).send().await.expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    if protocol.is_h2() {
        assert_eq!(resp.version(), http::Version::HTTP_2);
    }
    let body = resp.bytes().await.expect("body");
    assert!(!body.is_empty());
}

async fn burst(client: &reqwest::Client, url: &Arc<str>, protocol: Protocol, size: Size) {
    let tasks: Vec<_> = (0..size.in_flight)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
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
