//! Two instances of the server behind a real reverse proxy: nginx from the
//! distribution's packages (examples-support's `TempNginx::reverse_proxy`,
//! installed when missing), connecting to them from `127.0.0.2` so that
//! the instances can tell it from a client on `127.0.0.1`.
//!
//! - The client's address and scheme come through `X-Forwarded-For` and
//!   `X-Forwarded-Proto` from nginx, and from no one else: a client that
//!   sends them itself, directly or through nginx, gets its own.
//! - nginx keeps its connections to the instances open between requests
//!   (upstream keep-alive), and spreads requests over both.
//! - One instance shut down gracefully while `wrk` (from the
//!   distribution's packages, installed when missing) loads both through
//!   nginx: not one request fails.

#![cfg(feature = "tls")]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use asyncio_examples_support::nginx::TempNginx;
use asyncio_examples_support::packages;
use asyncio_examples_support::pki::Pki;
use asyncio_http::client::Client;
use asyncio_http::{Request, Router, RunningServer, Server};

/// Where nginx connects from.
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

thread_local! {
    /// (instance, the peer's port) of every request to `/whoami`.
    static SEEN: RefCell<Vec<(usize, u16)>> = const { RefCell::new(Vec::new()) };
}

fn seen(instance: usize) -> Vec<u16> {
    SEEN.with(|s| {
        s.borrow()
            .iter()
            .filter(|(i, _)| *i == instance)
            .map(|(_, p)| *p)
            .collect()
    })
}

/// "<instance> <client ip> <scheme>", after 1 ms (so that requests are in
/// flight when an instance is asked to stop).
async fn whoami(instance: usize, req: Request) -> String {
    let port = req.peer_addr().map_or(0, |a| a.port());
    SEEN.with(|s| s.borrow_mut().push((instance, port)));
    asyncio::sleep(std::time::Duration::from_millis(1)).await;
    let ip = req.client_ip().map_or("none".to_owned(), |ip| ip.to_string());
    format!("{instance} {ip} {}", req.scheme())
}

async fn instance(i: usize) -> RunningServer {
    Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .trusted_proxies([PROXY.to_string()])
        .start(move || {
            Router::new()
                .get("/whoami", move |req| whoami(i, req))
                .get("/healthz", |_req: Request| async { "ok" })
        })
        .await
        .expect("instance starts")
}

async fn text(client: &Client, url: &str, headers: &[(&str, &str)]) -> String {
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.text().await.unwrap()
}

fn client_for(pki: &Pki) -> Client {
    let ctx = asyncio::tls::ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    Client::builder().tls(ctx).build().unwrap()
}

#[asyncio::test]
async fn forwarded_headers_count_only_from_the_trusted_proxy() {
    let (a, b) = (instance(0).await, instance(1).await);
    let pki = Pki::new("behind nginx CA");
    let nginx = TempNginx::reverse_proxy(&pki, &[a.local_addr(), b.local_addr()], Some(PROXY)).unwrap();
    let client = client_for(&pki);
    let tail = |s: String| s.split_once(' ').unwrap().1.to_owned();
    // Through nginx, over HTTP and HTTPS (HTTP/2 to nginx): the client as
    // nginx saw it.
    assert_eq!(
        tail(text(&client, &nginx.http_url("/whoami"), &[]).await),
        "127.0.0.1 http"
    );
    assert_eq!(
        tail(text(&client, &nginx.https_url("/whoami"), &[]).await),
        "127.0.0.1 https"
    );
    // A client making the headers up, through nginx: nginx appends what it
    // saw, and sets the scheme.
    let lies = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https")];
    assert_eq!(
        tail(text(&client, &nginx.http_url("/whoami"), &lies).await),
        "127.0.0.1 http"
    );
    // The same, straight to an instance: not a trusted proxy, ignored.
    let direct = format!("http://{}/whoami", a.local_addr());
    assert_eq!(text(&client, &direct, &lies).await, "0 127.0.0.1 http");
    assert_eq!(text(&client, &nginx.http_url("/healthz"), &[]).await, "ok");
    drop(nginx);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[asyncio::test]
async fn nginx_keeps_its_upstream_connections_and_uses_both_instances() {
    let (a, b) = (instance(0).await, instance(1).await);
    let pki = Pki::new("behind nginx CA");
    let nginx = TempNginx::reverse_proxy(&pki, &[a.local_addr(), b.local_addr()], Some(PROXY)).unwrap();
    let client = client_for(&pki);
    for _ in 0..200 {
        text(&client, &nginx.http_url("/whoami"), &[]).await;
    }
    for i in 0..2 {
        let ports = seen(i);
        let conns: BTreeSet<u16> = ports.iter().copied().collect();
        // Round robin; one request at a time: one connection each, kept.
        assert!(ports.len() >= 50, "instance {i} served {} of 200", ports.len());
        assert!(
            conns.len() <= 2,
            "instance {i}: {} connections for {} requests",
            conns.len(),
            ports.len()
        );
    }
    drop(nginx);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[asyncio::test]
async fn shutting_one_instance_down_under_load_loses_no_request() {
    let wrk = packages::wrk().expect("wrk");
    let (a, b) = (instance(0).await, instance(1).await);
    let pki = Pki::new("behind nginx CA");
    let nginx = TempNginx::reverse_proxy(&pki, &[a.local_addr(), b.local_addr()], Some(PROXY)).unwrap();
    let url = nginx.http_url("/whoami");
    let load = asyncio::to_thread(move || {
        std::process::Command::new(wrk)
            .args(["-t1", "-c20", "-d6s", "--latency", &url])
            .output()
            .expect("wrk runs")
    });
    // Once both instances are busy, stop the first one gracefully.
    while seen(0).len() < 100 || seen(1).len() < 100 {
        asyncio::sleep(std::time::Duration::from_millis(10)).await;
    }
    a.shutdown().await.unwrap();
    let b_at_stop = seen(1).len();
    let out = load.await.unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    // wrk reports these lines only when there were any.
    assert!(!report.contains("Non-2xx or 3xx responses"), "{report}");
    assert!(!report.contains("Socket errors"), "{report}");
    // The load went on through the other instance.
    assert!(seen(1).len() > b_at_stop + 100, "{report}");
    println!("{report}");
    drop(nginx);
    b.shutdown().await.unwrap();
}
