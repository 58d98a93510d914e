//! Certificates for the HTTPS tests, made at run time (examples-support's
//! `pki`; no private key is committed), and the contexts built from them.
#![allow(dead_code)]

use std::time::Duration;

use asyncio::tls::{ClientContext, ServerContext};
#[allow(unused_imports)]
pub use asyncio_examples_support::pki::{Identity, TempDir, Validity};

/// A throwaway certificate authority, with the contexts the tests use.
pub struct Pki(asyncio_examples_support::pki::Pki);

impl std::ops::Deref for Pki {
    type Target = asyncio_examples_support::pki::Pki;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        Pki(asyncio_examples_support::pki::Pki::new(name))
    }

    /// A server certificate for `names` that expired in 2021.
    pub fn expired_server(&self, names: &[&str]) -> Identity {
        self.server_with(names, Validity::Expired)
    }

    /// A client context that trusts this CA only and offers `h2` and
    /// `http/1.1` through ALPN, as a browser does.
    pub fn client_ctx(&self) -> ClientContext {
        self.client_ctx_offering(&["h2", "http/1.1"])
    }

    /// A client context that trusts this CA only and offers `alpn`.
    pub fn client_ctx_offering(&self, alpn: &[&str]) -> ClientContext {
        ClientContext::builder()
            .no_system_roots()
            .add_ca_pem(self.ca_pem.as_bytes())
            .unwrap()
            .alpn(alpn.iter().copied())
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

    /// A server context serving `id`, offering `alpn` (none if empty).
    pub fn server_ctx_offering(id: &Identity, alpn: &[&str]) -> ServerContext {
        ServerContext::builder()
            .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
            .unwrap()
            .alpn(alpn.iter().copied())
            .build()
            .unwrap()
    }
}
