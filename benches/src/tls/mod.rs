//! What the TLS bench (`benches/benches/tls.rs`) shares with its load
//! generator: the throwaway PKI and the rustls configurations ([`pki`]),
//! the little protocol its servers and client speak ([`proto`]), and the
//! client itself ([`client`], the bench binary started again).

pub mod client;
pub mod pki;
pub mod proto;

pub use pki::{client_config, ring_provider, server_config, server_name, TestPki, SERVER_NAME};
