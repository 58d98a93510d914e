//! [`TlsStream`]: TLS over any `futures_io` byte stream, and the
//! handshakes that make one ([`ClientContext::connect`],
//! [`ServerContext::accept`]).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::CommonState;

use super::{ClientContext, ServerContext, TlsError};

/// What was negotiated on a TLS connection (what asyncio's
/// `get_extra_info('ssl_object')` answers: `selected_alpn_protocol()`,
/// `version()`, `cipher()`, `getpeercert(binary_form=True)`).
#[derive(Clone, Debug)]
pub struct TlsInfo {
    alpn_protocol: Option<Vec<u8>>,
    protocol_version: &'static str,
    cipher_suite: &'static str,
    peer_certificates: Vec<CertificateDer<'static>>,
    server_name: Option<String>,
}

impl TlsInfo {
    pub(crate) fn of(state: &CommonState, server_name: Option<&str>) -> TlsInfo {
        let protocol_version = match state.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            Some(_) => "other",
            None => "",
        };
        let cipher_suite = state
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("");
        TlsInfo {
            alpn_protocol: state.alpn_protocol().map(<[u8]>::to_vec),
            protocol_version,
            cipher_suite,
            peer_certificates: state
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            server_name: server_name.map(str::to_owned),
        }
    }

    /// The protocol both sides chose through ALPN (`b"h2"`, `b"http/1.1"`),
    /// if any (`selected_alpn_protocol()`).
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn_protocol.as_deref()
    }

    /// The TLS version: `"TLSv1.3"` or `"TLSv1.2"` (`version()`).
    pub fn protocol_version(&self) -> &'static str {
        self.protocol_version
    }

    /// The cipher suite's IANA name, e.g. `"TLS13_AES_256_GCM_SHA384"`
    /// (`cipher()[0]`).
    pub fn cipher_suite(&self) -> &'static str {
        self.cipher_suite
    }

    /// The peer's certificate chain, leaf first, DER-encoded; empty for a
    /// client that sent none (`getpeercert(binary_form=True)` is the first).
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.peer_certificates
    }

    /// The server name: on a client, the name it connected to; on a
    /// server, the one the client asked for through SNI, if it did.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }
}

/// A server name for rustls: a DNS name or an IP address (brackets
/// around an IPv6 address are taken off).
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    let invalid = || TlsError::InvalidServerName(name.to_owned());
    // Brackets come off as a pair around an IPv6 address only: trimming
    // each side on its own took "[::1" and "[[::1]]" for "::1" (found by
    // tests/tls_config.rs `incomplete_contexts`).
    if let Some(inner) = name.strip_prefix('[') {
        let ip: std::net::Ipv6Addr = inner
            .strip_suffix(']')
            .and_then(|a| a.parse().ok())
            .ok_or_else(invalid)?;
        return Ok(ServerName::IpAddress(std::net::IpAddr::V6(ip).into()));
    }
    ServerName::try_from(name.to_owned()).map_err(|_| invalid())
}

impl ClientContext {
    /// Runs the client handshake over `io` (already connected), verifying
    /// the server's certificate against `server_name`, within the context's
    /// handshake timeout.
    ///
    /// # Errors
    /// A [`TlsError`]: the certificate's problem, the peer's alert,
    /// [`TlsError::HandshakeTimeout`], [`TlsError::NotTls`], ...
    ///
    /// # Cancel safety
    /// Not cancel safe: a handshake cut short leaves `io` unusable (it is
    /// dropped).
    pub async fn connect<IO>(&self, server_name: &str, io: IO) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        Ok(TlsStream {
            inner: self.handshake(server_name, io).await?,
            server_name: Some(server_name.to_owned()),
            shutdown_timeout: self.shutdown_timeout,
            close_deadline: None,
        })
    }

    pub(crate) async fn handshake<IO>(
        &self,
        server_name: &str,
        io: IO,
    ) -> Result<futures_rustls::TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = self::server_name(server_name)?;
        let connector = futures_rustls::TlsConnector::from(self.config.clone());
        match crate::timeout(self.handshake_timeout, connector.connect(name, io)).await {
            Ok(Ok(stream)) => Ok(futures_rustls::TlsStream::Client(stream)),
            Ok(Err(e)) => Err(TlsError::from_stream_io(e, true)),
            Err(_) => Err(TlsError::HandshakeTimeout),
        }
    }
}

impl ServerContext {
    /// Runs the server handshake over `io` (an accepted connection), within
    /// the context's handshake timeout.
    ///
    /// # Errors
    /// A [`TlsError`]: [`TlsError::NotTls`] for a client that does not speak
    /// TLS, [`TlsError::HandshakeTimeout`] for one that stalls, the client's
    /// alert when it refuses our certificate, its certificate's problem
    /// under mutual TLS, ...
    ///
    /// # Cancel safety
    /// Not cancel safe: a handshake cut short leaves `io` unusable.
    pub async fn accept<IO>(&self, io: IO) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        Ok(TlsStream {
            inner: self.handshake(io).await?,
            server_name: None,
            shutdown_timeout: self.shutdown_timeout,
            close_deadline: None,
        })
    }

    pub(crate) async fn handshake<IO>(&self, io: IO) -> Result<futures_rustls::TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = futures_rustls::TlsAcceptor::from(self.config.clone());
        match crate::timeout(self.handshake_timeout, acceptor.accept(io)).await {
            Ok(Ok(stream)) => Ok(futures_rustls::TlsStream::Server(stream)),
            Ok(Err(e)) => Err(TlsError::from_stream_io(e, true)),
            Err(_) => Err(TlsError::HandshakeTimeout),
        }
    }
}

/// A TLS connection over `IO`, after its handshake: `futures_io`'s
/// `AsyncRead` and `AsyncWrite` carry the plaintext. Closing
/// (`poll_close`, `AsyncWriteExt::close`) sends `close_notify` and then
/// closes `IO`'s writing side; if that takes longer than the context's
/// shutdown timeout (the peer does not read), it fails with
/// `ErrorKind::TimedOut` and the stream should be dropped (the timeout is
/// a timer of the running loop). A read that meets the end of `IO` without
/// the peer's `close_notify` fails with [`TlsError::Truncated`] (in an
/// `io::Error` of kind `UnexpectedEof`), never a clean end of stream.
///
/// Reads and writes must come from one task at a time (the stream is
/// `&mut`); for a connection read by one task and written by another, use
/// the streams ([`open_tls_connection`](crate::open_tls_connection)).
pub struct TlsStream<IO> {
    inner: futures_rustls::TlsStream<IO>,
    /// The name a client connected to (rustls's client does not keep it).
    server_name: Option<String>,
    shutdown_timeout: Duration,
    /// Armed by the first `poll_close` that has to wait.
    close_deadline: Option<Pin<Box<crate::time::Sleep>>>,
}

impl<IO> TlsStream<IO> {
    /// What was negotiated.
    pub fn info(&self) -> TlsInfo {
        match &self.inner {
            // The server name was missing on a client although `TlsInfo`
            // promises it (found by tests/tls_generic.rs).
            futures_rustls::TlsStream::Client(s) => TlsInfo::of(s.get_ref().1, self.server_name.as_deref()),
            futures_rustls::TlsStream::Server(s) => {
                let conn = s.get_ref().1;
                TlsInfo::of(conn, conn.server_name())
            }
        }
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &IO {
        self.inner.get_ref().0
    }

    /// The stream underneath; reading or writing it directly corrupts the
    /// TLS session.
    pub fn get_mut(&mut self) -> &mut IO {
        self.inner.get_mut().0
    }
}

impl<IO> fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.info();
        f.debug_struct("TlsStream")
            .field("version", &info.protocol_version())
            .field("cipher_suite", &info.cipher_suite())
            .finish_non_exhaustive()
    }
}

/// A read or write error, with rustls's errors and a missing
/// `close_notify` turned into [`TlsError`]s inside the `io::Error`.
pub(crate) fn map_io_error(e: io::Error) -> io::Error {
    io::Error::from(TlsError::from_stream_io(e, false))
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf).map_err(map_io_error)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf).map_err(map_io_error)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner)
            .poll_write_vectored(cx, bufs)
            .map_err(map_io_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx).map_err(map_io_error)
    }

    /// Bounded by the context's shutdown timeout, as the streams' close is:
    /// without it a peer that never reads kept `close` waiting forever
    /// (found by tests/tls_shutdown.rs).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_close(cx) {
            return Poll::Ready(r.map_err(map_io_error));
        }
        let timeout = this.shutdown_timeout;
        let deadline = this
            .close_deadline
            .get_or_insert_with(|| Box::pin(crate::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS shutdown timed out: the peer did not read close_notify",
            )));
        }
        Poll::Pending
    }
}
