//! TLS contexts (Python's `ssl.SSLContext`): [`ClientContext`] for
//! connecting, [`ServerContext`] for serving. Both are built once, shared
//! by every connection, and `Send + Sync` (a multi-loop server hands one to
//! each loop).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::TlsError;

/// asyncio's default `ssl_handshake_timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// asyncio's default `ssl_shutdown_timeout`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The crypto this crate uses: rustls's ring provider.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system's trust store (`/etc/ssl/certs` and the like, through
/// rustls-native-certs), read once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

fn config_error(what: impl fmt::Display) -> TlsError {
    TlsError::Config(what.to_string())
}

/// Every certificate in PEM `data` (`what` names it in errors).
fn certs_from_pem(data: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!("{what}: no certificate in it")));
    }
    Ok(certs)
}

/// The private key in PEM `data`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn key_from_pem(data: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(data).map_err(|e| config_error(format!("{what}: {e}")))
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| config_error(format!("{}: {e}", path.display())))
}

/// A certificate chain with its key, checked to match (an error here, at
/// configuration time, rather than at the first handshake).
fn certified_key(chain: &[u8], key: &[u8], what: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certs_from_pem(chain, &format!("{what} certificate"))?;
    let key = key_from_pem(key, &format!("{what} key"))?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => config_error(format!("{what}: the key does not match the certificate")),
        e => config_error(format!("{what}: {e}")),
    })?;
    Ok(Arc::new(certified))
}

fn certified_key_files(chain: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    certified_key(&read_file(chain)?, &read_file(key)?, &chain.display().to_string())
}

/// The SNI key for `server_name`, checked to be a DNS name the
/// certificate is valid for: a certificate registered under a name it does
/// not cover would only fail at every client's handshake (found by
/// tests/tls_negotiation.rs `sni_names_are_checked_at_configuration`).
fn sni_key(server_name: &str, key: &CertifiedKey) -> Result<String, TlsError> {
    let name = rustls::pki_types::DnsName::try_from(server_name)
        .map_err(|_| config_error(format!("SNI name {server_name:?} is not a DNS name")))?
        .to_lowercase_owned();
    let leaf = key.end_entity_cert().map_err(config_error)?;
    let parsed = rustls::server::ParsedCertificate::try_from(leaf).map_err(config_error)?;
    rustls::client::verify_server_name(&parsed, &rustls::pki_types::ServerName::DnsName(name.clone())).map_err(
        |_| {
            config_error(format!(
                "the certificate for SNI name {server_name:?} is not valid for it"
            ))
        },
    )?;
    Ok(name.as_ref().to_owned())
}

fn alpn_list<I, P>(protocols: I) -> Vec<Vec<u8>>
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    protocols.into_iter().map(|p| p.as_ref().to_vec()).collect()
}

/// The client side's TLS settings (Python's `ssl.create_default_context()`,
/// the `ssl=` argument of `open_connection`): which certificate authorities
/// to trust, the ALPN protocols to offer, an optional client certificate,
/// and the handshake and shutdown timeouts. Cheap to clone.
///
/// [`ClientContext::new`] trusts the system's certificate store, read with
/// rustls-native-certs (what OpenSSL, and so Python, reads on this system);
/// [`ClientContext::builder`] can add CAs or trust only the ones given.
/// Servers are verified against the name connected to, as Python's
/// `check_hostname=True`; there is no switch to turn verification off.
#[derive(Clone)]
pub struct ClientContext {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl ClientContext {
    /// A context that trusts the system's certificate store, offers no
    /// ALPN, and uses asyncio's timeouts.
    ///
    /// # Errors
    /// [`TlsError::Config`] if the system store has no usable certificate.
    pub fn new() -> Result<ClientContext, TlsError> {
        ClientContext::builder().build()
    }

    /// A builder, starting from the system's certificate store.
    pub fn builder() -> ClientContextBuilder {
        ClientContextBuilder {
            system_roots: true,
            extra_roots: Vec::new(),
            alpn: Vec::new(),
            client_cert: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// A context around a rustls configuration built by hand, with
    /// asyncio's timeouts.
    pub fn from_rustls(config: Arc<ClientConfig>) -> ClientContext {
        ClientContext {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// The rustls configuration underneath.
    pub fn rustls_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The shutdown timeout: how long closing waits to send `close_notify`
    /// and the data before it, before the connection is aborted.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }
}

impl fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientContext")
            .field("alpn", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ClientContext`].
#[derive(Debug)]
#[must_use]
pub struct ClientContextBuilder {
    system_roots: bool,
    extra_roots: Vec<CertificateDer<'static>>,
    alpn: Vec<Vec<u8>>,
    client_cert: Option<Arc<CertifiedKey>>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl ClientContextBuilder {
    /// Trusts only the CAs added with [`add_ca_pem`](Self::add_ca_pem) or
    /// [`add_ca_pem_file`](Self::add_ca_pem_file), not the system's store
    /// (a private PKI, tests).
    pub fn no_system_roots(mut self) -> Self {
        self.system_roots = false;
        self
    }

    /// Also trusts the CA certificates in PEM `data`
    /// (`SSLContext.load_verify_locations(cadata=...)`).
    ///
    /// # Errors
    /// [`TlsError::Config`] if `data` holds no certificate or is malformed.
    pub fn add_ca_pem(mut self, data: &[u8]) -> Result<Self, TlsError> {
        self.extra_roots.extend(certs_from_pem(data, "CA")?);
        Ok(self)
    }

    /// Also trusts the CA certificates in the PEM file at `path`
    /// (`SSLContext.load_verify_locations(cafile)`).
    ///
    /// # Errors
    /// [`TlsError::Config`] if the file cannot be read or holds no certificate.
    pub fn add_ca_pem_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let path = path.as_ref();
        let data = read_file(path)?;
        self.add_ca_pem(&data)
            .map_err(|e| config_error(format!("{}: {e}", path.display())))
    }

    /// The protocols to offer through ALPN, most preferred first
    /// (`SSLContext.set_alpn_protocols`).
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = alpn_list(protocols);
        self
    }

    /// Presents this certificate chain and key to servers that ask for one
    /// (`SSLContext.load_cert_chain`, mutual TLS).
    ///
    /// # Errors
    /// [`TlsError::Config`]: malformed PEM, or a key that does not match the
    /// certificate.
    pub fn client_cert_pem(mut self, chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        self.client_cert = Some(certified_key(chain, key, "client")?);
        Ok(self)
    }

    /// As [`client_cert_pem`](Self::client_cert_pem), from files.
    ///
    /// # Errors
    /// As `client_cert_pem`, or a file that cannot be read.
    pub fn client_cert_pem_files(mut self, chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        self.client_cert = Some(certified_key_files(chain.as_ref(), key.as_ref())?);
        Ok(self)
    }

    /// How long a handshake may take (default 60 s, asyncio's
    /// `ssl_handshake_timeout`).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long closing may take to send what is buffered and
    /// `close_notify` before the connection is aborted (default 30 s,
    /// asyncio's `ssl_shutdown_timeout`).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The context.
    ///
    /// # Errors
    /// [`TlsError::Config`] if no CA is trusted (no system store and none
    /// added).
    pub fn build(self) -> Result<ClientContext, TlsError> {
        let mut roots = RootCertStore::empty();
        if self.system_roots {
            roots.add_parsable_certificates(system_roots().iter().cloned());
        }
        for ca in self.extra_roots {
            roots
                .add(ca)
                .map_err(|e| config_error(format!("CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(config_error(
                "no trusted CA: the system store is empty or unreadable and none was added",
            ));
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_root_certificates(roots);
        let mut config = match self.client_cert {
            Some(key) => builder.with_client_cert_resolver(Arc::new(ClientCert(key))),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        Ok(ClientContext {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

/// The one client certificate a context presents.
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The server side's TLS settings (an `ssl.SSLContext` made for
/// `start_server(ssl=...)`): the certificate chain and key, optional
/// certificates chosen by the name the client asks for (SNI), ALPN,
/// optional client-certificate verification, the timeouts. Cheap to clone;
/// clones share the certificates, so [`reload_pem_files`](Self::reload_pem_files)
/// on one is seen by every server using any of them.
#[derive(Clone)]
pub struct ServerContext {
    pub(crate) config: Arc<ServerConfig>,
    certs: Arc<CertStore>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl ServerContext {
    /// A context serving the certificate chain and key in these PEM files
    /// (`SSLContext.load_cert_chain(certfile, keyfile)`), no ALPN, no
    /// client certificates, asyncio's timeouts.
    ///
    /// # Errors
    /// [`TlsError::Config`]: unreadable or malformed files, or a key that
    /// does not match the certificate.
    pub fn from_pem_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<ServerContext, TlsError> {
        ServerContext::builder().cert_pem_files(chain, key)?.build()
    }

    /// A builder.
    pub fn builder() -> ServerContextBuilder {
        ServerContextBuilder {
            default: None,
            sni: HashMap::new(),
            alpn: Vec::new(),
            client_auth: ClientAuth::None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// Replaces the default certificate and key; connections accepted from
    /// now on get the new one, established ones keep theirs. Rotates a
    /// certificate without restarting the server.
    ///
    /// # Errors
    /// [`TlsError::Config`] as for [`from_pem_files`](Self::from_pem_files);
    /// the old certificate then stays in use.
    pub fn reload_pem_files(&self, chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<(), TlsError> {
        let key = certified_key_files(chain.as_ref(), key.as_ref())?;
        *self.certs.default.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
        Ok(())
    }

    /// As [`reload_pem_files`](Self::reload_pem_files), from PEM data.
    ///
    /// # Errors
    /// As `reload_pem_files`.
    pub fn reload_pem(&self, chain: &[u8], key: &[u8]) -> Result<(), TlsError> {
        let key = certified_key(chain, key, "server")?;
        *self.certs.default.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
        Ok(())
    }

    /// Replaces (or adds) the certificate served to clients asking for
    /// `server_name` through SNI.
    ///
    /// # Errors
    /// As [`reload_pem_files`](Self::reload_pem_files), and as
    /// [`ServerContextBuilder::sni_cert_pem`] for the name.
    pub fn reload_sni_pem_files(
        &self,
        server_name: &str,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<(), TlsError> {
        let key = certified_key_files(chain.as_ref(), key.as_ref())?;
        let name = sni_key(server_name, &key)?;
        self.certs
            .sni
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, key);
        Ok(())
    }

    /// A context around a rustls configuration built by hand, with
    /// asyncio's timeouts; the reload methods do nothing to it.
    pub fn from_rustls(config: Arc<ServerConfig>) -> ServerContext {
        ServerContext {
            config,
            certs: Arc::new(CertStore::default()),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// The rustls configuration underneath.
    pub fn rustls_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The same context (certificates, client verification, timeouts; a
    /// reload of either is seen by both) accepting these ALPN protocols
    /// instead: a server offering fewer protocols than the context lists,
    /// or more.
    pub fn with_alpn<I, P>(&self, protocols: I) -> ServerContext
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn_list(protocols);
        ServerContext {
            config: Arc::new(config),
            ..self.clone()
        }
    }

    /// The ALPN protocols this context accepts, most preferred first.
    pub fn alpn_protocols(&self) -> &[Vec<u8>] {
        &self.config.alpn_protocols
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The shutdown timeout.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }
}

impl fmt::Debug for ServerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerContext")
            .field("alpn", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

enum ClientAuth {
    None,
    Required(RootCertStore),
    Optional(RootCertStore),
}

/// Builds a [`ServerContext`].
#[must_use]
pub struct ServerContextBuilder {
    default: Option<Arc<CertifiedKey>>,
    sni: HashMap<String, Arc<CertifiedKey>>,
    alpn: Vec<Vec<u8>>,
    client_auth: ClientAuth,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl fmt::Debug for ServerContextBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerContextBuilder")
            .field("sni_names", &self.sni.keys().collect::<Vec<_>>())
            .field("alpn", &self.alpn)
            .finish_non_exhaustive()
    }
}

impl ServerContextBuilder {
    /// The certificate chain (leaf first) and private key to serve, as PEM.
    ///
    /// # Errors
    /// [`TlsError::Config`]: malformed PEM, or a key that does not match the
    /// certificate.
    pub fn cert_pem(mut self, chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        self.default = Some(certified_key(chain, key, "server")?);
        Ok(self)
    }

    /// As [`cert_pem`](Self::cert_pem), from files.
    ///
    /// # Errors
    /// As `cert_pem`, or a file that cannot be read.
    pub fn cert_pem_files(mut self, chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        self.default = Some(certified_key_files(chain.as_ref(), key.as_ref())?);
        Ok(self)
    }

    /// Serves this chain and key to clients that ask for `server_name`
    /// through SNI (Python's `sni_callback` role); others get the default.
    ///
    /// # Errors
    /// As [`cert_pem`](Self::cert_pem), and [`TlsError::Config`] if
    /// `server_name` is not a DNS name or the certificate is not valid for it.
    pub fn sni_cert_pem(mut self, server_name: &str, chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let key = certified_key(chain, key, server_name)?;
        self.sni.insert(sni_key(server_name, &key)?, key);
        Ok(self)
    }

    /// As [`sni_cert_pem`](Self::sni_cert_pem), from files.
    ///
    /// # Errors
    /// As `sni_cert_pem`, or a file that cannot be read.
    pub fn sni_cert_pem_files(
        mut self,
        server_name: &str,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let key = certified_key_files(chain.as_ref(), key.as_ref())?;
        self.sni.insert(sni_key(server_name, &key)?, key);
        Ok(self)
    }

    /// The protocols this server accepts through ALPN, most preferred first.
    /// A client that offers ALPN but none of these is refused
    /// (`no_application_protocol`), as RFC 7301 says.
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = alpn_list(protocols);
        self
    }

    /// Requires a client certificate issued by a CA in PEM `ca`
    /// (`verify_mode = CERT_REQUIRED`: mutual TLS).
    ///
    /// # Errors
    /// [`TlsError::Config`] if `ca` holds no certificate.
    pub fn client_auth_required_pem(mut self, ca: &[u8]) -> Result<Self, TlsError> {
        self.client_auth = ClientAuth::Required(roots_from(ca)?);
        Ok(self)
    }

    /// As [`client_auth_required_pem`](Self::client_auth_required_pem), from a file.
    ///
    /// # Errors
    /// As `client_auth_required_pem`, or a file that cannot be read.
    pub fn client_auth_required_pem_file(self, ca: impl AsRef<Path>) -> Result<Self, TlsError> {
        let data = read_file(ca.as_ref())?;
        self.client_auth_required_pem(&data)
    }

    /// Verifies a client certificate if the client sends one, and accepts
    /// clients without (`verify_mode = CERT_OPTIONAL`).
    ///
    /// # Errors
    /// [`TlsError::Config`] if `ca` holds no certificate.
    pub fn client_auth_optional_pem(mut self, ca: &[u8]) -> Result<Self, TlsError> {
        self.client_auth = ClientAuth::Optional(roots_from(ca)?);
        Ok(self)
    }

    /// As [`client_auth_optional_pem`](Self::client_auth_optional_pem), from a file.
    ///
    /// # Errors
    /// As `client_auth_optional_pem`, or a file that cannot be read.
    pub fn client_auth_optional_pem_file(self, ca: impl AsRef<Path>) -> Result<Self, TlsError> {
        let data = read_file(ca.as_ref())?;
        self.client_auth_optional_pem(&data)
    }

    /// How long a handshake may take (default 60 s): a client that stalls
    /// is closed then.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long closing may take (default 30 s), as
    /// [`ClientContextBuilder::shutdown_timeout`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The context.
    ///
    /// # Errors
    /// [`TlsError::Config`] if no certificate was given.
    pub fn build(self) -> Result<ServerContext, TlsError> {
        let default = self
            .default
            .ok_or_else(|| config_error("no server certificate given"))?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required(roots) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(config_error)?,
            ),
            ClientAuth::Optional(roots) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .allow_unauthenticated()
                    .build()
                    .map_err(config_error)?,
            ),
        };
        let certs = Arc::new(CertStore {
            default: RwLock::new(Some(default)),
            sni: RwLock::new(self.sni),
        });
        let mut config = builder.with_cert_resolver(Arc::new(Resolver(certs.clone())));
        config.alpn_protocols = self.alpn;
        Ok(ServerContext {
            config: Arc::new(config),
            certs,
            handshake_timeout: self.handshake_timeout,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

fn roots_from(ca: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(ca, "client CA")? {
        roots
            .add(cert)
            .map_err(|e| config_error(format!("client CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// The certificates a server context serves: the default and those chosen
/// by SNI name, replaceable while connections are accepted.
#[derive(Default)]
struct CertStore {
    default: RwLock<Option<Arc<CertifiedKey>>>,
    sni: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

/// rustls asks it for the certificate of each new connection.
struct Resolver(Arc<CertStore>);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let sni = self.0.sni.read().unwrap_or_else(|e| e.into_inner());
            if !sni.is_empty() {
                if let Some(key) = sni.get(&name.to_ascii_lowercase()) {
                    return Some(key.clone());
                }
            }
        }
        self.0.default.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
