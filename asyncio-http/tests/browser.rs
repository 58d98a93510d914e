//! A real browser: headless Chromium from the distribution's packages,
//! driven by Playwright (`playwright-core` from npm, with no browser of its
//! own), against the chat and clock examples served over HTTPS with a
//! throwaway CA. Two pages load the chat over HTTP/2, join its room over
//! `wss://` (WebSockets on the HTTP/2 connection, RFC 8441) and see each
//! other's messages; a third loads the clock over
//! HTTP/2 and watches it tick through its event stream (`tests/browser/
//! check.cjs` drives the pages).
//!
//! What it needs is installed on first use when missing, as root:
//! `chromium`, `nodejs` and `npm` through apt-get, `playwright-core`
//! through npm into the target directory. Chromium runs as root with `--no-sandbox`, with
//! background networking off (the network here is closed), and trusts the
//! CA's key through `--ignore-certificate-errors-spki-list`.

#![cfg(feature = "tls")]

#[path = "../examples/websocket_chat.rs"]
#[allow(dead_code)]
mod chat;
#[path = "../examples/sse_clock.rs"]
#[allow(dead_code)]
mod clock;

use std::path::{Path, PathBuf};
use std::process::Command;

use asyncio_examples_support::packages;
use asyncio_examples_support::pki::{Pki, TempDir};
use asyncio_http::http::Version;
use asyncio_http::middleware::Next;
use asyncio_http::{Request, Router, RunningServer, Server};

thread_local! {
    /// The protocol of each WebSocket request the chat served.
    static WS_VERSIONS: std::cell::RefCell<Vec<Version>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The chat example's routes, noting each WebSocket request's protocol.
fn chat_app() -> Router {
    chat::app().layer(|req: Request, next: Next| async move {
        if req.path() == "/ws" {
            WS_VERSIONS.with(|v| v.borrow_mut().push(req.version()));
        }
        next.run(req).await
    })
}

/// The Playwright version installed (its driver speaks to any recent
/// Chromium over the DevTools protocol).
const PLAYWRIGHT: &str = "playwright-core@1.49.1";

fn chromium() -> PathBuf {
    packages::find_or_install("Chromium", "chromium", || {
        packages::find_binary("chromium", &["/usr/bin"])
    })
    .expect("chromium")
}

/// `node_modules` with playwright-core, installed once into the target
/// directory.
fn playwright() -> PathBuf {
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-test");
    packages::npm_package(&prefix, PLAYWRIGHT, "playwright-core/package.json").expect("playwright-core from npm")
}

/// The base64 SHA-256 of a PEM certificate's public key (what Chromium's
/// `--ignore-certificate-errors-spki-list` takes), through OpenSSL's
/// command line.
fn spki_hash(cert_pem: &Path) -> String {
    let script = "openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform der \
                  | openssl dgst -sha256 -binary | openssl enc -base64";
    let out = Command::new("sh")
        .args(["-c", script, "spki"])
        .arg(cert_pem)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn https(app: fn() -> Router, cert: &Path, key: &Path) -> RunningServer {
    Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .tls_pem_files(cert, key)
        .expect("certificate files")
        .start(app)
        .await
        .expect("server starts")
}

#[asyncio::test]
async fn chromium_chats_over_wss_and_watches_the_clock_over_http2() {
    let (node, chromium, modules) =
        asyncio::to_thread(|| (packages::node().expect("Node.js"), chromium(), playwright()))
            .await
            .unwrap();
    let pki = Pki::new("browser test CA");
    let dir = TempDir::new();
    let (cert, key) = pki.localhost().write(dir.path(), "localhost");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    // The CA's key and the server's: Chromium checks the chain it built.
    let spki = format!("{},{}", spki_hash(&ca), spki_hash(&cert));
    let chat = https(chat_app, &cert, &key).await;
    let clock = https(clock::app, &cert, &key).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check.cjs");
    let chat_url = format!("https://localhost:{}/", chat.local_addr().port());
    let clock_url = format!("https://localhost:{}/", clock.local_addr().port());
    let out = asyncio::to_thread(move || {
        Command::new(node)
            .arg(script)
            .arg(modules)
            .arg(chromium)
            .arg(spki)
            .arg(chat_url)
            .arg(clock_url)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "{report}");
    assert_eq!(report.matches("ok: ").count(), 10, "{report}");
    // Chromium opened both WebSockets on the page's HTTP/2 connection
    // (RFC 8441's extended CONNECT), not on new HTTP/1.1 ones.
    assert_eq!(
        WS_VERSIONS.with(|v| v.borrow().clone()),
        [Version::HTTP_2, Version::HTTP_2]
    );
    chat.shutdown().await.unwrap();
    clock.shutdown().await.unwrap();
}
