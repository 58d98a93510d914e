//! The TLS bench's throwaway PKI: an ECDSA P-256 certificate authority and a
//! server certificate for `localhost` and `127.0.0.1` signed by it, made at
//! start-up by the workspace's PKI maker (`asyncio_examples_support::pki`,
//! rcgen; no private key is ever written to the repository)
//! ([`TestPki::generate`]), and the rustls configurations built from them
//! with the ring provider ([`server_config`], [`client_config`]).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The name the server certificate is issued for, and the name every client
/// asks for.
pub const SERVER_NAME: &str = "localhost";

/// A CA and a server certificate signed by it, as PEM text.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The CA's certificate: what a client trusts.
    pub ca_pem: String,
    /// The server's certificate chain (the leaf alone: the CA is the root
    /// the client already has).
    pub chain_pem: String,
    /// The server certificate's private key (PKCS#8).
    pub key_pem: String,
}

impl TestPki {
    /// A fresh CA and server certificate, both ECDSA P-256 with SHA-256,
    /// valid today (rcgen's default period). The chain is the leaf alone, as
    /// a server sends it when its CA is a root the client already has.
    pub fn generate() -> TestPki {
        let pki = asyncio_examples_support::pki::Pki::new("asyncio benches throwaway CA");
        let server = pki.localhost();
        // The maker's chain is the leaf followed by the CA: keep the leaf.
        const END: &str = "-----END CERTIFICATE-----";
        let leaf_end = server.chain.find(END).map_or(server.chain.len(), |i| i + END.len());
        TestPki {
            chain_pem: format!("{}\n", &server.chain[..leaf_end]),
            key_pem: server.key,
            ca_pem: pki.ca_pem,
        }
    }

    /// The server side, as a rustls configuration: [`server_config`] of
    /// this chain and key.
    ///
    /// # Panics
    /// If the PEM text does not parse (it always does: made by [`generate`](Self::generate)).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        server_config(self.chain_pem.as_bytes(), self.key_pem.as_bytes()).expect("a fresh PKI's PEM")
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir` (for servers
    /// started as separate programs, such as the HTTPS script's).
    ///
    /// # Errors
    /// Those of [`std::fs::write`].
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        std::fs::write(dir.join("ca.pem"), &self.ca_pem)?;
        std::fs::write(dir.join("cert.pem"), &self.chain_pem)?;
        std::fs::write(dir.join("key.pem"), &self.key_pem)
    }
}

/// A server's rustls configuration from a PEM certificate chain and key:
/// the ring provider, rustls's defaults otherwise (TLS 1.2 and 1.3, no client
/// authentication, no ALPN, a session cache and two TLS 1.3 tickets per
/// connection).
///
/// # Errors
/// `InvalidData` if the PEM text holds no certificate or no key, or the key
/// does not match the certificate.
pub fn server_config(chain_pem: &[u8], key_pem: &[u8]) -> io::Result<Arc<ServerConfig>> {
    let invalid =
        |what: &str, e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("certificate PEM", &e))?;
    if chain.is_empty() {
        return Err(invalid("certificate PEM", &"no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| invalid("key PEM", &e))?;
    let config = ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid("certificate and key", &e))?;
    Ok(Arc::new(config))
}

/// rustls's ring provider (the one asyncio's `tls` feature uses), named
/// explicitly so that no process-wide default is needed.
pub fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The bench's client side: TLS 1.3 only, trusting only the CA in `ca_pem`,
/// the ring provider; with `resumption` false, no session is kept, so every
/// connection makes a full handshake.
///
/// # Panics
/// If `ca_pem` holds no certificate rustls accepts as a root.
pub fn client_config(ca_pem: &str, resumption: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("a usable root");
    }
    assert!(!roots.is_empty(), "no CA certificate in the PEM text");
    let mut config = ClientConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("ring supports TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resumption {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// [`SERVER_NAME`] as rustls's `ServerName`.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("a valid DNS name")
}

#[cfg(test)]
mod tests {
    use rustls::Connection;

    use super::*;

    /// Moves every TLS byte `from` has to send into `to`.
    fn transfer(from: &mut Connection, to: &mut Connection) {
        let mut wire = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut wire).expect("write_tls into a Vec");
        }
        let mut rest = &wire[..];
        while !rest.is_empty() {
            to.read_tls(&mut rest).expect("read_tls from a slice");
            to.process_new_packets().expect("a valid TLS stream");
        }
    }

    #[test]
    fn a_fresh_pki_makes_a_tls13_handshake() {
        let pki = TestPki::generate();
        let client = rustls::ClientConnection::new(client_config(&pki.ca_pem, false), server_name()).expect("client");
        let server = rustls::ServerConnection::new(pki.server_config()).expect("server");
        let (mut client, mut server) = (Connection::Client(client), Connection::Server(server));
        for _ in 0..4 {
            transfer(&mut client, &mut server);
            transfer(&mut server, &mut client);
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
        assert_eq!(client.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        let scheme = client.peer_certificates().map(|c| c.len());
        assert_eq!(scheme, Some(1), "the server sends its leaf alone");
    }
}
