//! The RealWorld project's official API test collection, run with newman
//! against this server and a throwaway PostgreSQL: every request and every
//! assertion must pass.
//!
//! newman comes from npm (installed once under the target directory);
//! Node.js and npm from the distribution's packages when they are missing
//! and the test runs as root.

use std::path::{Path, PathBuf};
use std::process::Command;

use asyncio_examples_support::pg::TempPostgres;
use asyncio_http::Server;
use conduit::Config;

/// newman's binary, installed under `dir` if it is not there yet.
fn newman(dir: &Path) -> PathBuf {
    asyncio_examples_support::packages::npm_package(dir, "newman@6", ".bin/newman")
        .expect("newman from npm")
        .join(".bin/newman")
}

#[test]
fn the_official_collection_passes() {
    let newman = newman(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("newman"));
    let collection = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/Conduit.postman_collection.json");
    let pg = TempPostgres::start().expect("a throwaway PostgreSQL starts");
    let dsn = pg.dsn();
    asyncio::run(async move {
        conduit::migrate(&dsn).await.expect("migrations apply");
        let config = Config {
            dsn,
            secret: b"newman test secret".to_vec(),
            pool_size: 4,
        };
        let server = Server::bind("127.0.0.1:0")
            .handle_signals(false)
            .start(move || conduit::router(&config))
            .await
            .expect("the server starts");
        let api = format!("http://{}/api", server.local_addr());
        let user = format!("u{}", std::process::id());
        // newman runs on a thread: the loop goes on serving its requests.
        let out = asyncio::to_thread(move || {
            Command::new(newman)
                .arg("run")
                .arg(collection)
                .args(["--global-var", &format!("APIURL={api}")])
                .args(["--global-var", &format!("USERNAME={user}")])
                .args(["--global-var", &format!("EMAIL={user}@mail.com")])
                .args(["--global-var", "PASSWORD=password"])
                .args(["--reporters", "cli", "--reporter-cli-no-console"])
                .output()
                .expect("newman runs")
        })
        .await
        .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "newman failed:\n{text}");
        let assertions = text
            .lines()
            .find(|l| l.contains("assertions"))
            .unwrap_or_else(|| panic!("no summary:\n{text}"));
        let counts: Vec<u64> = assertions
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        assert!(
            counts.len() >= 2 && counts[0] > 300 && counts[1] == 0,
            "{assertions}\n{text}"
        );
        println!("{assertions}");
        server.shutdown().await.unwrap();
    });
}
