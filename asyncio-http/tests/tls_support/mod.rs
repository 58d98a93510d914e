//! Certificates for the HTTPS tests, made at run time with rcgen (no
//! private key is committed): a throwaway CA, the server certificates it
//! signs, and contexts that trust it. (The same shapes as asyncio's own
//! `tests/tls_support`, trimmed to what these tests use.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asyncio::tls::{ClientContext, ServerContext};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate chain (leaf first, then the CA) and its key, as PEM.
#[derive(Clone, Debug)]
pub struct Identity {
    pub chain: String,
    pub key: String,
}

impl Identity {
    /// Writes `NAME.pem` and `NAME.key` into `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.chain).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }
}

/// A throwaway certificate authority.
pub struct Pki {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Identity {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A server certificate for `names` that expired in 2021.
    pub fn expired_server(&self, names: &[&str]) -> Identity {
        self.leaf_with(names, ExtendedKeyUsagePurpose::ServerAuth, true)
    }

    /// A client certificate (mutual TLS) for `name`.
    pub fn client(&self, name: &str) -> Identity {
        self.leaf(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Identity {
        self.leaf_with(names, usage, false)
    }

    fn leaf_with(&self, names: &[&str], usage: ExtendedKeyUsagePurpose, expired: bool) -> Identity {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Identity {
            chain: format!("{}{}", cert.pem(), self.ca_pem),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub fn localhost(&self) -> Identity {
        self.server(&["localhost", "127.0.0.1"])
    }

    /// A client context that trusts this CA only and offers `h2` and
    /// `http/1.1` through ALPN, as a browser does.
    pub fn client_ctx(&self) -> ClientContext {
        ClientContext::builder()
            .no_system_roots()
            .add_ca_pem(self.ca_pem.as_bytes())
            .unwrap()
            .alpn(["h2", "http/1.1"])
            .build()
            .unwrap()
    }

    /// A server context serving `id`, offering `http/1.1` through ALPN,
    /// with this handshake timeout.
    pub fn server_ctx(id: &Identity, handshake_timeout: Duration) -> ServerContext {
        ServerContext::builder()
            .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
            .unwrap()
            .alpn(["http/1.1"])
            .handshake_timeout(handshake_timeout)
            .build()
            .unwrap()
    }
}

/// A fresh empty directory under the system's temporary directory,
/// removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "asyncio-http-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
