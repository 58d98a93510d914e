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

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// newman's binary, installed under `dir` if it is not there yet.
fn newman(dir: &Path) -> PathBuf {
    let bin = dir.join("node_modules/.bin/newman");
    if bin.exists() {
        return bin;
    }
    if !have("npm") {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        assert!(
            root,
            "newman needs Node.js and npm: install them (apt-get install nodejs npm)"
        );
        for args in [&["update"][..], &["install", "-y", "nodejs", "npm"][..]] {
            let ok = Command::new("apt-get").args(args).status().is_ok_and(|s| s.success());
            assert!(ok, "apt-get {args:?} failed");
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .arg("newman@6")
        .output()
        .expect("npm runs");
    assert!(
        out.status.success() && bin.exists(),
        "npm install newman failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    bin
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
