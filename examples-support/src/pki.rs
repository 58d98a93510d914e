//! Throwaway certificates for TLS examples, tests and benchmarks, made at
//! run time with rcgen (no private key is ever committed): a certificate
//! authority, the server and client certificates it signs (valid, expired,
//! not yet valid), as PEM text, and a temporary directory to write them to
//! for code that loads PEM files.
//!
//! ```
//! use asyncio_examples_support::pki::Pki;
//!
//! let pki = Pki::new("example CA");
//! let server = pki.localhost();
//! assert!(server.chain.starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(server.key.contains("PRIVATE KEY"));
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate chain (leaf first, then the CA) and its private key
/// (PKCS#8, ECDSA P-256), as PEM.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The leaf certificate followed by the CA's.
    pub chain: String,
    /// The leaf's private key.
    pub key: String,
}

impl Identity {
    /// Writes `NAME.pem` (the chain) and `NAME.key` into `dir` and returns
    /// their paths.
    ///
    /// # Panics
    /// If a file cannot be written.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.chain).expect("write the certificate");
        std::fs::write(&key, &self.key).expect("write the key");
        (cert, key)
    }
}

/// When a leaf certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// rcgen's default period, which contains today.
    Now,
    /// 2020 to 2021: expired.
    Expired,
    /// 2090 to 2091: not valid yet.
    NotYet,
}

/// A throwaway certificate authority (ECDSA P-256).
pub struct Pki {
    /// The CA's certificate, as PEM: what clients trust.
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

impl Pki {
    /// A new CA whose certificate's common name is `name`.
    ///
    /// # Panics
    /// If rcgen fails (it does not for these fixed parameters).
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a P-256 key");
        let cert = params.self_signed(&key).expect("a self-signed CA");
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (the first is also its common name).
    ///
    /// # Panics
    /// If `names` is empty or holds something rcgen cannot put in a
    /// certificate.
    pub fn leaf(&self, names: &[&str], validity: Validity, usage: ExtendedKeyUsagePurpose) -> Identity {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("valid names");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        match validity {
            Validity::Now => {}
            Validity::Expired => {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            Validity::NotYet => {
                params.not_before = rcgen::date_time_ymd(2090, 1, 1);
                params.not_after = rcgen::date_time_ymd(2091, 1, 1);
            }
        }
        let key = KeyPair::generate().expect("a P-256 key");
        let cert = params.signed_by(&key, &self.issuer).expect("a signed leaf");
        Identity {
            chain: format!("{}{}", cert.pem(), self.ca_pem),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Identity {
        self.leaf(names, Validity::Now, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn localhost(&self) -> Identity {
        self.server(&["localhost", "127.0.0.1"])
    }

    /// A server certificate for `names`, valid when `validity` says.
    pub fn server_with(&self, names: &[&str], validity: Validity) -> Identity {
        self.leaf(names, validity, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate (mutual TLS) for `name`.
    pub fn client(&self, name: &str) -> Identity {
        self.leaf(&[name], Validity::Now, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A fresh empty directory under the system's temporary directory,
/// removed with what it holds when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it.
    ///
    /// # Panics
    /// If the directory cannot be created.
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "asyncio-pki-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
