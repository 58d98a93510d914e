//! Hello world: `cargo run --release -p asyncio-http --example hello -- [--port 8080] [--workers N] [--tls CERT.pem KEY.pem]`
//! (N defaults to the number of cores: one event loop per core), then
//! `curl http://127.0.0.1:8080/` (HTTP/1.1) or `curl --http2-prior-knowledge
//! http://127.0.0.1:8080/` (HTTP/2 in cleartext, same port). With `--tls` it
//! serves HTTPS instead, HTTP/2 to clients that offer it through ALPN:
//! `curl --http2 --cacert ca.pem https://localhost:8080/` (a certificate for
//! `localhost` signed by `ca.pem`). Ctrl-C shuts it down gracefully.

use asyncio_examples_support::args::{Options, ServerArgs, Workers};
use asyncio_http::{Request, Router, Server};

async fn hello(_req: Request) -> &'static str {
    "Hello, world!"
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::new(Workers::Cores);
    #[cfg(feature = "tls")]
    let options = options.tls();
    let args = ServerArgs::from_env("hello", options);
    let workers = args.workers;
    let server = Server::bind(args.addr().to_string()).workers(workers);
    // HTTPS with the files given (HTTP/2 and HTTP/1.1 offered through ALPN).
    #[cfg(feature = "tls")]
    let server = match &args.tls {
        Some(files) => server.tls_pem_files(&files.cert, &files.key)?,
        None => server,
    };
    let server = server.start(|| Router::new().get("/", hello)).await?;
    println!(
        "listening on {}/ with {workers} worker loop(s)",
        args.url("http", server.local_addr())
    );
    server.wait().await
}
