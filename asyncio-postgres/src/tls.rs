//! TLS to the server (feature `tls`): libpq's `sslmode`, `sslrootcert`,
//! `sslcert` and `sslkey` over asyncio's TLS (rustls on ring).
//!
//! What each `sslmode` checks, as libpq does:
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | no | — |
//! | `prefer` (the default) | if the server offers TLS | only when a root certificate is configured: its chain (as `verify-ca`) |
//! | `require` | yes, or the connection fails | as `prefer` |
//! | `verify-ca` | yes | the chain leads to a trusted root |
//! | `verify-full` | yes | the chain, and the certificate names the host |
//!
//! The roots: the file `sslrootcert` names, else `~/.postgresql/root.crt`
//! if it exists; `verify-ca` and `verify-full` without either fail (as in
//! libpq). `sslrootcert=system` is the system's trust store, and (as in
//! libpq 16 and later) makes `verify-full` the default and any weaker mode
//! an error: those roots trust any public certificate, whatever its name.
//! A client certificate: `sslcert` and `sslkey`, else
//! `~/.postgresql/postgresql.crt` and `.key` if both exist. Unix sockets
//! never use TLS (the server does not offer it there), whatever `sslmode`
//! says: libpq ignores it for them.
//!
//! With TLS, SCRAM authentication binds the session to the server's
//! certificate (channel binding, `tls-server-end-point`) whenever the server
//! offers it (`channel_binding=prefer`, the default; `require` insists).
//!
//! The cancel request a dropped query sends goes in TLS when the session
//! does (with the session's settings), as libpq's cancel API of
//! PostgreSQL 17 does (`PQcancel` before it sent it in plain text).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use asyncio::tls::{ClientContext, TlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::tls::{ChannelBinding, TlsConnect};

use crate::dsn::{Settings, SslMode};
use crate::Error;

/// How the server's certificate is checked.
enum Check {
    /// Not at all (`prefer`, `require` without roots): encryption only.
    Nothing,
    /// The chain against these roots, not the name (`verify-ca`).
    Chain(RootCertStore),
    /// The chain and the name (`verify-full`).
    Full(RootCertStore),
}

/// The TLS side of a connection attempt, built once per [`connect`](crate::connect)
/// from the DSN's settings.
#[derive(Clone)]
pub(crate) struct Tls {
    context: ClientContext,
}

impl Tls {
    /// Builds the client configuration `params` ask for, or `None` when
    /// TLS is off (`sslmode=disable`).
    pub(crate) fn from_params(params: &Settings) -> Result<Option<Tls>, Error> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let default_file = |name: &str| {
            home.as_ref()
                .map(|h| h.join(".postgresql").join(name))
                .filter(|p| p.is_file())
        };
        let roots = match params.rootcert.as_deref() {
            Some("system") => Some(system_roots()?),
            Some(path) => Some(roots_from_file(Path::new(path))?),
            None => default_file("root.crt")
                .map(|path| roots_from_file(&path))
                .transpose()?,
        };
        let check = match (params.mode, roots) {
            (SslMode::Disable, _) => return Ok(None),
            (SslMode::VerifyFull | SslMode::VerifyCa, None) => {
                return Err(Error::InvalidDsn(
                    "sslmode=verify-ca and verify-full need a root certificate: sslrootcert=FILE, \
                     ~/.postgresql/root.crt, or sslrootcert=system for the system's trust store"
                        .into(),
                ))
            }
            (SslMode::VerifyFull, Some(roots)) => Check::Full(roots),
            (SslMode::VerifyCa, Some(roots)) => Check::Chain(roots),
            (SslMode::Prefer | SslMode::Require, Some(roots)) => Check::Chain(roots),
            (SslMode::Prefer | SslMode::Require, None) => Check::Nothing,
        };
        let client_cert = match (&params.cert, &params.key) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::InvalidDsn("sslcert and sslkey go together".into()));
            }
            (None, None) => match (default_file("postgresql.crt"), default_file("postgresql.key")) {
                (Some(cert), Some(key)) => Some((cert, key)),
                _ => None,
            },
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(EncryptOnly(provider.clone())),
            Check::Chain(roots) => Arc::new(ChainOnly(webpki_verifier(roots, &provider)?)),
            Check::Full(roots) => webpki_verifier(roots, &provider)?,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match client_cert {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(&cert)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| file_error(&cert, e))?;
                let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| file_error(&key, e))?;
                builder.with_client_auth_cert(chain, key).map_err(config_error)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Some(Tls {
            context: ClientContext::from_rustls(Arc::new(config)),
        }))
    }

    /// The connector tokio-postgres calls after the server accepted
    /// `SSLRequest`; a handshake failure lands in `failure`.
    pub(crate) fn connector(&self, server_name: &str, failure: Rc<RefCell<Option<TlsError>>>) -> Connector {
        Connector {
            context: self.context.clone(),
            server_name: server_name.to_owned(),
            failure,
        }
    }
}

fn config_error(e: rustls::Error) -> Error {
    Error::InvalidDsn(format!("TLS settings: {e}"))
}

fn file_error(path: &Path, e: rustls::pki_types::pem::Error) -> Error {
    Error::InvalidDsn(format!("TLS settings: {}: {e}", path.display()))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| file_error(path, e))? {
        let cert = cert.map_err(|e| file_error(path, e))?;
        roots
            .add(cert)
            .map_err(|e| Error::InvalidDsn(format!("TLS settings: {}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(Error::InvalidDsn(format!(
            "TLS settings: {} holds no certificate",
            path.display()
        )));
    }
    Ok(roots)
}

/// The system's trust store, read once per process (a pool's connections
/// would otherwise read it again each).
fn system_roots() -> Result<RootCertStore, Error> {
    static ROOTS: std::sync::OnceLock<RootCertStore> = std::sync::OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let (_added, _unusable) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    });
    if roots.is_empty() {
        return Err(Error::InvalidDsn(
            "TLS settings: the system's trust store has no certificate (set sslrootcert)".into(),
        ));
    }
    Ok(roots.clone())
}

fn webpki_verifier(roots: RootCertStore, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, Error> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::InvalidDsn(format!("TLS settings: {e}")))
}

/// `verify-ca`: the chain must lead to a root; the name is not checked
/// (webpki checks the chain first, so a name mismatch means the chain was
/// good).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without roots (libpq's behaviour): the session
/// is encrypted and the handshake's signatures are checked, but any
/// certificate is accepted. This stops eavesdropping, not an active
/// man in the middle; `verify-full` stops both.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What tokio-postgres calls to run the handshake over the socket.
pub(crate) struct Connector {
    context: ClientContext,
    server_name: String,
    failure: Rc<RefCell<Option<TlsError>>>,
}

impl<S> TlsConnect<S> for Connector
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + 'static,
{
    type Stream = TlsIo<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo<S>, io::Error>>>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            match self.context.connect(&self.server_name, stream).await {
                Ok(stream) => {
                    let binding = stream
                        .info()
                        .peer_certificates()
                        .first()
                        .and_then(|cert| tls_server_end_point(cert));
                    Ok(TlsIo { inner: stream, binding })
                }
                Err(e) => {
                    let message = e.to_string();
                    *self.failure.borrow_mut() = Some(e);
                    Err(io::Error::other(message))
                }
            }
        })
    }
}

/// asyncio's TLS stream with tokio's I/O traits, as tokio-postgres wants.
pub(crate) struct TlsIo<S> {
    inner: asyncio::tls::TlsStream<S>,
    /// The `tls-server-end-point` hash, if the certificate has one.
    binding: Option<Vec<u8>>,
}

impl<S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin> tokio::io::AsyncRead for TlsIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = std::task::ready!(futures_io::AsyncRead::poll_read(
            Pin::new(&mut self.inner),
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin> tokio::io::AsyncWrite for TlsIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.inner), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.inner), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.inner), cx)
    }
}

impl<S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsIo<S> {
    fn channel_binding(&self) -> ChannelBinding {
        match &self.binding {
            Some(hash) => ChannelBinding::tls_server_end_point(hash.clone()),
            None => ChannelBinding::none(),
        }
    }
}

/// The `tls-server-end-point` channel binding (RFC 5929): the server
/// certificate's hash, with the hash of its signature algorithm (SHA-256
/// for MD5 and SHA-1). `None` when the algorithm names no single hash
/// (Ed25519, RSA-PSS), as PostgreSQL's server then offers no binding
/// either.
fn tls_server_end_point(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let algorithm =
        match signature_algorithm(cert)? {
            // sha256/sha1/md5 WithRSAEncryption; ecdsa-with-SHA256/SHA1.
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b | 0x05 | 0x04]
            | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
            | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => &ring::digest::SHA256,
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c]
            | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03] => &ring::digest::SHA384,
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d]
            | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04] => &ring::digest::SHA512,
            _ => return None,
        };
    Some(ring::digest::digest(algorithm, cert.as_ref()).as_ref().to_vec())
}

/// The OID (its content bytes) of a certificate's `signatureAlgorithm`:
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm
/// SEQUENCE { algorithm OID, ... }, signature }`.
fn signature_algorithm<'a>(cert: &'a CertificateDer<'_>) -> Option<&'a [u8]> {
    let (tag, certificate, _) = der_element(cert.as_ref())?;
    if tag != 0x30 {
        return None;
    }
    let (_, _tbs, rest) = der_element(certificate)?;
    let (tag, algorithm, _) = der_element(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der_element(algorithm)?;
    (tag == 0x06).then_some(oid)
}

/// One DER element at the start of `input`: its tag, its content, and
/// what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_elements_short_and_long_lengths() {
        assert_eq!(
            der_element(&[0x04, 0x02, 1, 2, 9]),
            Some((0x04, &[1u8, 2][..], &[9u8][..]))
        );
        let mut long = vec![0x04, 0x81, 200];
        long.extend([7u8; 200]);
        let (tag, content, rest) = der_element(&long).unwrap();
        assert_eq!((tag, content.len(), rest.len()), (0x04, 200, 0));
        assert_eq!(der_element(&[0x04, 0x05, 1]), None, "content shorter than its length");
        assert_eq!(der_element(&[0x04, 0x80]), None, "indefinite length is not DER");
    }

    #[test]
    fn the_binding_of_an_ecdsa_p256_certificate_is_its_sha256() {
        let pki = asyncio_examples_support::pki::Pki::new("binding CA");
        let identity = pki.localhost();
        let der = CertificateDer::pem_slice_iter(identity.chain.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            signature_algorithm(&der),
            Some(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02][..])
        );
        let hash = tls_server_end_point(&der).unwrap();
        assert_eq!(hash, ring::digest::digest(&ring::digest::SHA256, der.as_ref()).as_ref());
        assert_eq!(tls_server_end_point(&CertificateDer::from(vec![0x30, 0x00])), None);
    }
}
