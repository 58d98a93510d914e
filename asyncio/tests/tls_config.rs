//! Building contexts: what is wrong is found at configuration time as
//! `TlsError::Config` naming the file (a key that does not match its
//! certificate, malformed PEM, missing files), not at the first
//! connection; and the key formats OpenSSL writes (PKCS#1 RSA, SEC1 EC,
//! PKCS#8 RSA and Ed25519) serve real handshakes. The keys are made with
//! the distribution's `openssl` (skipped with a printed reason without it).
#![cfg(feature = "tls")]

mod tls_support;

use std::path::Path;
use std::time::Duration;

use asyncio::tls::{ClientContext, ServerContext, TlsError};
use tls_support::{echo, leaf, run, Identity, KeyFormat, OpensslCa, Pki, TempDir};

/// The message of a `Config` error; panics on any other result.
fn config_error<T: std::fmt::Debug>(r: Result<T, TlsError>) -> String {
    match r {
        Err(TlsError::Config(why)) => why,
        other => panic!("expected TlsError::Config, got {other:?}"),
    }
}

#[test]
fn key_that_does_not_match_its_certificate() {
    let pki = Pki::new("mismatch CA");
    let (a, b) = (pki.localhost(), pki.localhost());
    let why = config_error(ServerContext::builder().cert_pem(a.chain.as_bytes(), b.key.as_bytes()));
    assert!(why.contains("does not match"), "{why}");
    let dir = TempDir::new();
    let (a_cert, _) = a.write(dir.path(), "a");
    let (_, b_key) = b.write(dir.path(), "b");
    let why = config_error(ServerContext::from_pem_files(&a_cert, &b_key));
    assert!(why.contains("does not match") && why.contains("a.pem"), "{why}");
    let why = config_error(ServerContext::builder().sni_cert_pem("x.example", a.chain.as_bytes(), b.key.as_bytes()));
    assert!(why.contains("does not match"), "{why}");
    let why = config_error(ClientContext::builder().client_cert_pem(a.chain.as_bytes(), b.key.as_bytes()));
    assert!(why.contains("does not match"), "{why}");
    let why = config_error(ClientContext::builder().client_cert_pem_files(&a_cert, &b_key));
    assert!(why.contains("does not match"), "{why}");
    // A running context refuses the pair and keeps its certificate.
    let ctx = Pki::server_ctx(&a);
    config_error(ctx.reload_pem(a.chain.as_bytes(), b.key.as_bytes()));
    config_error(ctx.reload_sni_pem_files("x.example", &a_cert, &b_key));
}

#[test]
fn malformed_pem() {
    let pki = Pki::new("pem CA");
    let id = pki.localhost();
    let cert = id.chain.as_bytes();
    let key = id.key.as_bytes();
    let bad_base64 = b"-----BEGIN CERTIFICATE-----\nthis is not base64!\n-----END CERTIFICATE-----\n";
    let unterminated = b"-----BEGIN CERTIFICATE-----\nMIIB\n";
    let not_a_certificate = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let nothing = b"";
    let prose = b"hello, I am not PEM at all\n";
    for (what, bad) in [
        ("bad base64", &bad_base64[..]),
        ("unterminated", &unterminated[..]),
        ("empty", &nothing[..]),
        ("prose", &prose[..]),
        ("a key where the chain goes", key),
    ] {
        let config = |r: Result<(), TlsError>| assert!(matches!(r, Err(TlsError::Config(_))), "{what}: {r:?}");
        config(ServerContext::builder().cert_pem(bad, key).map(drop));
        config(ClientContext::builder().add_ca_pem(bad).map(drop));
        config(ServerContext::builder().client_auth_required_pem(bad).map(drop));
        config(ServerContext::builder().client_auth_optional_pem(bad).map(drop));
    }
    // A certificate whose DER is not a certificate: refused when built
    // (as a CA) or when the key is checked against it (as a leaf).
    config_error(ServerContext::builder().cert_pem(not_a_certificate, key));
    config_error(
        ClientContext::builder()
            .no_system_roots()
            .add_ca_pem(not_a_certificate)
            .and_then(|b| b.build()),
    );
    for (what, bad) in [
        (
            "bad base64",
            &b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n"[..],
        ),
        ("empty", &nothing[..]),
        ("a certificate where the key goes", cert),
    ] {
        let why = config_error(ServerContext::builder().cert_pem(cert, bad));
        assert!(why.contains("key"), "{what}: {why}");
    }
}

#[test]
fn missing_files_are_named() {
    let dir = TempDir::new();
    let pki = Pki::new("files CA");
    let (cert, key) = pki.localhost().write(dir.path(), "good");
    let missing = dir.path().join("missing.pem");
    let named = |why: String| assert!(why.contains("missing.pem"), "{why}");
    named(config_error(ServerContext::from_pem_files(&missing, &key)));
    named(config_error(ServerContext::from_pem_files(&cert, &missing)));
    named(config_error(ServerContext::builder().sni_cert_pem_files(
        "x.example",
        &missing,
        &key,
    )));
    named(config_error(
        ServerContext::builder().client_auth_required_pem_file(&missing),
    ));
    named(config_error(
        ServerContext::builder().client_auth_optional_pem_file(&missing),
    ));
    named(config_error(ClientContext::builder().add_ca_pem_file(&missing)));
    named(config_error(
        ClientContext::builder().client_cert_pem_files(&missing, &key),
    ));
    // A directory where a file should be.
    config_error(ServerContext::from_pem_files(dir.path(), &key));
    // A failed reload keeps the running certificate.
    let ctx = ServerContext::from_pem_files(&cert, &key).unwrap();
    named(config_error(ctx.reload_pem_files(&missing, &key)));
}

#[test]
fn incomplete_contexts() {
    let why = config_error(ServerContext::builder().build());
    assert!(why.contains("no server certificate"), "{why}");
    let why = config_error(ClientContext::builder().no_system_roots().build());
    assert!(why.contains("no trusted CA"), "{why}");
    // A server name that is neither a DNS name nor an IP address.
    let pki = Pki::new("names CA");
    let client = pki.client_ctx();
    run(async move {
        for name in [
            "",
            "not a name",
            "bad..example",
            "[::1",
            "::1]",
            "[[::1]]",
            "[localhost]",
            "[127.0.0.1]",
        ] {
            let err = asyncio::open_tls_connection_to("127.0.0.1:9", name, &client)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, TlsError::InvalidServerName(n) if n == name),
                "{name:?}: {err:?}"
            );
        }
    });
}

/// A server with `key` (in `format`) and its certificate from `ca` serves
/// an echo to a client that trusts `ca`; the client sees that certificate.
fn serves_with(ca: &OpensslCa, name: &str, format: KeyFormat) {
    let key = ca.key(name, format);
    let cert = ca.sign(name, &key, "DNS:localhost,IP:127.0.0.1", "serverAuth");
    let server_ctx = ServerContext::from_pem_files(&cert, &key).unwrap_or_else(|e| panic!("{format:?}: {e}"));
    let client = ca.client_ctx();
    let expected = leaf(&tls_support::Identity {
        chain: std::fs::read_to_string(&cert).unwrap(),
        key: String::new(),
    });
    asyncio::run(async move {
        asyncio::timeout(Duration::from_secs(30), async move {
            let server = asyncio::start_tls_server(echo, "127.0.0.1:0", &server_ctx)
                .await
                .unwrap();
            let port = server.local_addrs()[0].port();
            let (mut r, w) = asyncio::open_tls_connection(("127.0.0.1", port), &client)
                .await
                .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(w.tls_info().unwrap().peer_certificates()[0], expected);
            w.write(format!("{format:?}\n").as_bytes());
            assert_eq!(r.readline().await.unwrap(), format!("{format:?}\n").as_bytes());
            w.close();
            w.wait_closed().await.unwrap();
            server.close();
            server.wait_closed().await;
        })
        .await
        .expect("over 30 s");
    });
}

#[test]
fn key_formats_openssl_writes() {
    let Some(ca) = OpensslCa::new("key_formats_openssl_writes") else {
        return;
    };
    for (name, format) in [
        ("rsa-pkcs1", KeyFormat::RsaPkcs1),
        ("rsa-pkcs8", KeyFormat::RsaPkcs8),
        ("ec-sec1", KeyFormat::EcSec1WithParams),
        ("ec-p384", KeyFormat::EcSec1P384),
        ("ed25519", KeyFormat::Ed25519Pkcs8),
    ] {
        serves_with(&ca, name, format);
    }
    // rcgen's keys, which every other test uses, are PKCS#8.
    assert!(Pki::new("rcgen")
        .localhost()
        .key
        .starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn openssl_key_that_does_not_match_its_certificate() {
    let Some(ca) = OpensslCa::new("openssl_key_that_does_not_match_its_certificate") else {
        return;
    };
    let rsa = ca.key("rsa", KeyFormat::RsaPkcs1);
    let ec = ca.key("ec", KeyFormat::EcSec1WithParams);
    let cert = ca.sign("rsa", &rsa, "DNS:localhost", "serverAuth");
    let why = config_error(ServerContext::from_pem_files(&cert, &ec));
    assert!(why.contains("does not match"), "{why}");
    let other_rsa = ca.key("rsa2", KeyFormat::RsaPkcs1);
    let why = config_error(ServerContext::from_pem_files(&cert, &other_rsa));
    assert!(why.contains("does not match"), "{why}");
}

/// Mutual TLS with OpenSSL's formats on the client's side: a PKCS#1 RSA
/// client key, a SEC1 EC server key, one OpenSSL CA.
#[test]
fn client_certificate_with_a_pkcs1_key() {
    let Some(ca) = OpensslCa::new("client_certificate_with_a_pkcs1_key") else {
        return;
    };
    let server_key = ca.key("server", KeyFormat::EcSec1WithParams);
    let server_cert = ca.sign("server", &server_key, "DNS:localhost", "serverAuth");
    let client_key = ca.key("client", KeyFormat::RsaPkcs1);
    let client_cert = ca.sign("client", &client_key, "DNS:client.example", "clientAuth");
    let server_ctx = ServerContext::builder()
        .cert_pem_files(&server_cert, &server_key)
        .unwrap()
        .client_auth_required_pem_file(&ca.ca_pem)
        .unwrap()
        .build()
        .unwrap();
    let client = ClientContext::builder()
        .no_system_roots()
        .add_ca_pem_file(&ca.ca_pem)
        .unwrap()
        .client_cert_pem_files(&client_cert, &client_key)
        .unwrap()
        .build()
        .unwrap();
    let seen = |path: &Path| {
        leaf(&tls_support::Identity {
            chain: std::fs::read_to_string(path).unwrap(),
            key: String::new(),
        })
    };
    let expected = seen(&client_cert);
    run(async move {
        let handler = move |_r: asyncio::net::StreamReader, w: asyncio::net::StreamWriter| {
            let expected = expected.clone();
            async move {
                let ok = w.tls_info().unwrap().peer_certificates()[0] == expected;
                w.write(if ok { b"known\n" } else { b"other\n" });
                w.close();
                let _ = w.wait_closed().await;
            }
        };
        let server = asyncio::start_tls_server(handler, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let (mut r, _w) = asyncio::open_tls_connection(("localhost", port), &client)
            .await
            .unwrap();
        assert_eq!(r.readline().await.unwrap(), b"known\n");
        assert_eq!(r.read(10).await.unwrap(), b"");
        server.close();
        server.wait_closed().await;
    });
}

/// `ClientContext::new` trusts the system's store, which does not know a
/// private CA: the connection is refused with `UnknownIssuer`. (Without a
/// readable store, `new` is a `Config` error instead, also checked.)
#[test]
fn system_roots_do_not_trust_a_private_ca() {
    let pki = Pki::new("private CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let system = match ClientContext::new() {
        Ok(ctx) => ctx,
        Err(TlsError::Config(why)) => {
            eprintln!("system_roots_do_not_trust_a_private_ca: no system trust store here ({why})");
            return;
        }
        Err(e) => panic!("{e:?}"),
    };
    run(async move {
        let server = asyncio::start_tls_server(echo, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let err = asyncio::open_tls_connection(("localhost", port), &system)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");
        // Adding the private CA to the system's store is enough.
        let both = ClientContext::builder()
            .add_ca_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let (r, w) = asyncio::open_tls_connection(("localhost", port), &both).await.unwrap();
        assert_eq!(w.tls_info().unwrap().protocol_version(), "TLSv1.3");
        // Gone before wait_closed, which waits for the echo handler.
        drop((r, w));
        server.close();
        server.wait_closed().await;
    });
}

/// The escape hatch: contexts around rustls configurations built by hand
/// (here with TLS 1.2 only), and the configurations the builders made.
#[test]
fn contexts_from_rustls_configurations() {
    use asyncio::tls::rustls;
    use std::sync::Arc;
    let pki = Pki::new("rustls CA");
    let ctx = Pki::server_ctx(&pki.localhost());
    let client = pki.client_ctx();
    // The builders' configurations, reused and changed.
    let mut server_config = (*ctx.rustls_config()).clone();
    server_config.alpn_protocols = vec![b"hand/1".to_vec()];
    let server = ServerContext::from_rustls(Arc::new(server_config));
    assert_eq!(server.handshake_timeout(), asyncio::tls::DEFAULT_HANDSHAKE_TIMEOUT);
    assert_eq!(server.shutdown_timeout(), asyncio::tls::DEFAULT_SHUTDOWN_TIMEOUT);
    let roots = {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        roots.add_parsable_certificates(
            rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()).map(Result::unwrap),
        );
        roots
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls12 = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls12.alpn_protocols = vec![b"hand/1".to_vec()];
    let tls12 = ClientContext::from_rustls(Arc::new(tls12));
    assert!(Arc::ptr_eq(&client.rustls_config(), &client.rustls_config()));
    run(async move {
        let srv = asyncio::start_tls_server(echo, "127.0.0.1:0", &server).await.unwrap();
        let port = srv.local_addrs()[0].port();
        let (mut r, w) = asyncio::open_tls_connection(("localhost", port), &tls12).await.unwrap();
        let info = w.tls_info().unwrap();
        assert_eq!(info.protocol_version(), "TLSv1.2");
        assert!(info.cipher_suite().starts_with("TLS_ECDHE_"), "{}", info.cipher_suite());
        assert_eq!(info.alpn_protocol(), Some(&b"hand/1"[..]));
        w.write(b"twelve\n");
        assert_eq!(r.readline().await.unwrap(), b"twelve\n");
        w.close();
        w.wait_closed().await.unwrap();
        srv.close();
        srv.wait_closed().await;
    });
}

/// True if `text` shows 8 bytes of `id`'s private key, in hex (either
/// case) or as Debug shows a byte slice. Bytes the key shares with the
/// certificates (its public half, algorithm identifiers), which may be
/// printed, do not count.
fn shows_key(text: &str, id: &Identity) -> bool {
    use asyncio::tls::rustls::pki_types::pem::PemObject;
    use asyncio::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let der = PrivateKeyDer::from_pem_slice(id.key.as_bytes()).unwrap();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let public: String = CertificateDer::pem_slice_iter(id.chain.as_bytes())
        .map(|c| hex(&c.unwrap()))
        .collect();
    let lower = text.to_ascii_lowercase();
    der.secret_der().windows(8).any(|w| {
        let list = format!("{w:?}");
        !public.contains(&hex(w))
            && (lower.contains(&hex(w)) || text.contains(list.trim_matches(|c| c == '[' || c == ']')))
    })
}

/// Contexts and builders print no private key in their `Debug` output
/// (it ends up in logs).
#[test]
fn debug_output_holds_no_private_key() {
    let pki = Pki::new("debug CA");
    let client = pki.client("debug client");
    // The check finds a key that is printed, in either form.
    {
        use asyncio::tls::rustls::pki_types::pem::PemObject;
        let der = asyncio::tls::rustls::pki_types::PrivateKeyDer::from_pem_slice(client.key.as_bytes()).unwrap();
        let hex: String = der.secret_der().iter().map(|b| format!("{b:02X}")).collect();
        assert!(shows_key(&hex, &client));
        assert!(shows_key(&format!("{:?}", der.secret_der()), &client));
    }
    let builder = ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .client_cert_pem(client.chain.as_bytes(), client.key.as_bytes())
        .unwrap();
    let text = format!("{builder:?}");
    let ctx = builder.build().unwrap();
    let text = format!("{text} {ctx:?} {:?}", ctx.rustls_config());
    assert!(!shows_key(&text, &client), "{text}");
    let server = pki.localhost();
    let builder = ServerContext::builder()
        .cert_pem(server.chain.as_bytes(), server.key.as_bytes())
        .unwrap()
        .sni_cert_pem("localhost", server.chain.as_bytes(), server.key.as_bytes())
        .unwrap();
    let text = format!("{builder:?}");
    let ctx = builder.build().unwrap();
    let text = format!("{text} {ctx:?} {:?}", ctx.rustls_config());
    assert!(!shows_key(&text, &server), "{text}");
}
