//! TLS (Python's `ssl` module as asyncio uses it), feature `tls`.
//!
//! rustls with its ring provider does the protocol; futures-rustls drives
//! it over this crate's sockets; there is no OpenSSL and no tokio.
//!
//! | asyncio / ssl | here |
//! |---|---|
//! | `ssl.create_default_context()` | [`ClientContext::new`] (the system's trust store) |
//! | `ctx.load_verify_locations(cafile)`, `set_alpn_protocols`, `load_cert_chain` (client) | [`ClientContext::builder`]: `add_ca_pem_file`, `alpn`, `client_cert_pem_files` |
//! | `SSLContext(PROTOCOL_TLS_SERVER)` + `load_cert_chain(cert, key)` | [`ServerContext::from_pem_files`], [`ServerContext::builder`] |
//! | `verify_mode = CERT_REQUIRED` on a server | [`ServerContextBuilder::client_auth_required_pem_file`] |
//! | `sni_callback` | [`ServerContextBuilder::sni_cert_pem_files`] |
//! | `open_connection(host, port, ssl=ctx)` | [`open_tls_connection`](crate::open_tls_connection)`((host, port), &ctx)` |
//! | `start_server(cb, host, port, ssl=ctx)` | [`start_tls_server`](crate::start_tls_server)`(cb, addr, &ctx)` |
//! | `writer.start_tls(ctx, server_hostname=...)` | [`StreamWriter::start_tls`](crate::net::StreamWriter::start_tls) |
//! | `writer.get_extra_info('ssl_object')` | [`StreamWriter::tls_info`](crate::net::StreamWriter::tls_info) → [`TlsInfo`] |
//! | `ssl_handshake_timeout`, `ssl_shutdown_timeout` | `handshake_timeout`, `shutdown_timeout` on the builders (60 s and 30 s) |
//! | `ssl.SSLError`, `SSLCertVerificationError` | [`TlsError`] |
//!
//! Certificate verification cannot be turned off (Python's `CERT_NONE`):
//! trust a private CA with `add_ca_pem_file` instead.
//!
//! ```no_run
//! # async fn demo() -> Result<(), asyncio::tls::TlsError> {
//! use asyncio::tls::ClientContext;
//!
//! let ctx = ClientContext::new()?;
//! let (mut reader, writer) = asyncio::open_tls_connection(("example.com", 443), &ctx).await?;
//! writer.write(b"HEAD / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
//! let status = reader.readline().await.map_err(std::io::Error::from)?;
//! println!("{}", String::from_utf8_lossy(&status));
//! # Ok(())
//! # }
//! ```

mod context;
mod error;
mod stream;

pub use context::{
    ClientContext, ClientContextBuilder, ServerContext, ServerContextBuilder, DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use error::TlsError;
pub(crate) use stream::{map_io_error, server_name};
pub use stream::{TlsInfo, TlsStream};

/// rustls, for configurations built by hand
/// ([`ClientContext::from_rustls`], [`ServerContext::from_rustls`]) and the
/// types in [`TlsInfo`] and [`TlsError`].
pub use rustls;
