//! [`TlsError`]: every way a TLS connection or context can fail, as values
//! a caller can match.

use std::fmt;
use std::io;

use rustls::{AlertDescription, CertificateError};

/// Why a TLS handshake, a TLS read or a TLS context failed.
///
/// The certificate variants are what this side found wrong with the
/// peer's certificate (asyncio's `ssl.SSLCertVerificationError` with its
/// `verify_message`); [`PeerAlert`](Self::PeerAlert) is the peer refusing
/// this side (it did not trust our certificate, had no protocol in common,
/// ...). Functions that return `io::Result` carry a `TlsError` inside the
/// `io::Error`: [`TlsError::from_io`] finds it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer's certificate chain does not lead to a trusted root (an
    /// unknown or self-signed CA).
    UnknownIssuer,
    /// The certificate is valid, but not for the name this side connected
    /// to (a hostname mismatch).
    NotValidForName,
    /// The peer's certificate has expired.
    Expired,
    /// The peer's certificate is not valid yet.
    NotYetValid,
    /// Another problem with the peer's certificate (bad signature, wrong
    /// usage, revoked, unparsable, ...), described.
    BadCertificate(String),
    /// The server requires a client certificate and the client sent none.
    CertificateRequired,
    /// The peer ended the handshake with a fatal alert: it refused this side
    /// (for example it does not trust our certificate: `UnknownCA`,
    /// `BadCertificate`, `CertificateRequired`), or found no protocol
    /// version, cipher suite or ALPN protocol in common.
    PeerAlert(AlertDescription),
    /// The peer does not speak TLS: what it sent during the handshake is
    /// not TLS (a plaintext client on a TLS port, a TLS client on a
    /// plaintext server, garbage). A malformed message after the handshake
    /// is [`Protocol`](TlsError::Protocol).
    NotTls,
    /// The handshake did not finish within the context's handshake timeout
    /// (60 s by default, as asyncio's `ssl_handshake_timeout`).
    HandshakeTimeout,
    /// The peer closed the connection before the handshake finished.
    HandshakeEof,
    /// The peer closed the connection without TLS's `close_notify`: the
    /// data may have been cut short by an attacker or a crash, so this is
    /// reported instead of a clean end of stream.
    Truncated,
    /// The name given for the server is neither a DNS name nor an IP address.
    InvalidServerName(String),
    /// A context could not be built: unreadable or malformed PEM, no
    /// certificate or key in a file, a key that does not match its
    /// certificate, no trusted roots.
    Config(String),
    /// Another TLS protocol failure, as rustls reports it.
    Protocol(rustls::Error),
    /// The connection's socket failed.
    Io(io::Error),
}

impl TlsError {
    /// The `TlsError` inside an `io::Error` returned by a TLS stream's read
    /// or write, or by a function that returns `io::Result`.
    pub fn from_io(e: &io::Error) -> Option<&TlsError> {
        e.get_ref()?.downcast_ref::<TlsError>()
    }

    /// Classifies rustls's error; `handshaking` says whether the handshake
    /// was still under way.
    pub(crate) fn from_rustls(e: rustls::Error, handshaking: bool) -> TlsError {
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    TlsError::NotValidForName
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => TlsError::Expired,
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => TlsError::NotYetValid,
                other => TlsError::BadCertificate(rustls::Error::InvalidCertificate(other).to_string()),
            },
            rustls::Error::NoCertificatesPresented => TlsError::CertificateRequired,
            rustls::Error::AlertReceived(alert) => TlsError::PeerAlert(alert),
            // Unparseable bytes before the handshake is done: the peer does
            // not speak TLS. After it, the peer does, and broke the protocol.
            rustls::Error::InvalidMessage(_) if handshaking => TlsError::NotTls,
            other => TlsError::Protocol(other),
        }
    }

    /// Classifies an I/O error from futures-rustls (which wraps rustls's
    /// errors in `InvalidData`); `handshaking` says whether an early end of
    /// stream means the handshake was cut or the data was.
    pub(crate) fn from_stream_io(e: io::Error, handshaking: bool) -> TlsError {
        if e.get_ref().is_some_and(|inner| inner.is::<TlsError>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<TlsError>().expect("checked above");
        }
        if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
            let inner = e.into_inner().expect("checked above");
            return TlsError::from_rustls(*inner.downcast::<rustls::Error>().expect("checked above"), handshaking);
        }
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return if handshaking {
                TlsError::HandshakeEof
            } else {
                TlsError::Truncated
            };
        }
        TlsError::Io(e)
    }

    /// The `io::ErrorKind` this error is carried as.
    fn io_kind(&self) -> io::ErrorKind {
        match self {
            TlsError::Io(e) => e.kind(),
            TlsError::HandshakeTimeout => io::ErrorKind::TimedOut,
            TlsError::HandshakeEof | TlsError::Truncated => io::ErrorKind::UnexpectedEof,
            TlsError::InvalidServerName(_) | TlsError::Config(_) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::UnknownIssuer => f.write_str("certificate verify failed: unknown issuer (untrusted CA)"),
            TlsError::NotValidForName => {
                f.write_str("certificate verify failed: the certificate is not valid for the server name")
            }
            TlsError::Expired => f.write_str("certificate verify failed: the certificate has expired"),
            TlsError::NotYetValid => f.write_str("certificate verify failed: the certificate is not valid yet"),
            TlsError::BadCertificate(why) => write!(f, "certificate verify failed: {why}"),
            TlsError::CertificateRequired => f.write_str("the peer sent no certificate and one is required"),
            TlsError::PeerAlert(alert) => write!(f, "the peer refused the TLS connection (alert: {alert:?})"),
            TlsError::NotTls => f.write_str("the peer does not speak TLS (not a TLS record)"),
            TlsError::HandshakeTimeout => f.write_str("the TLS handshake timed out"),
            TlsError::HandshakeEof => f.write_str("the peer closed the connection during the TLS handshake"),
            TlsError::Truncated => f.write_str("the peer closed the connection without a TLS close_notify"),
            TlsError::InvalidServerName(name) => write!(f, "invalid TLS server name {name:?}"),
            TlsError::Config(why) => write!(f, "TLS configuration: {why}"),
            TlsError::Protocol(e) => write!(f, "TLS: {e}"),
            TlsError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Protocol(e) => Some(e),
            TlsError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TlsError {
    fn from(e: io::Error) -> Self {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<TlsError>()) {
            Some(_) => *e
                .into_inner()
                .expect("checked")
                .downcast::<TlsError>()
                .expect("checked"),
            None => TlsError::Io(e),
        }
    }
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> Self {
        match e {
            TlsError::Io(e) => e,
            e => io::Error::new(e.io_kind(), e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message rustls cannot parse means "not TLS" while the handshake
    /// runs, and a protocol error from a TLS peer after it.
    #[test]
    fn an_unparseable_message_is_not_tls_only_during_the_handshake() {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge),
            )
        };
        assert!(matches!(TlsError::from_stream_io(bad(), true), TlsError::NotTls));
        assert!(matches!(
            TlsError::from_stream_io(bad(), false),
            TlsError::Protocol(rustls::Error::InvalidMessage(_))
        ));
    }
}
