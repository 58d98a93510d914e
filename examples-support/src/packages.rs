//! Programs from the distribution's packages, installed on first use: a
//! user who clones the repository and runs the tests as root on a fresh
//! Debian machine gets nginx, PostgreSQL or wrk without a setup step.

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// `find()`'s answer, installing `package` first when it has none and this
/// process is root (`apt-get update`, then `apt-get install -y
/// --no-install-recommends`, waiting up to two minutes for another
/// process's dpkg lock). `what` names the program in messages. One
/// install at a time in this process.
///
/// # Errors
/// Not found and not root (the error names the package), or `apt-get`
/// failed, or the package did not provide what `find` looks for.
pub fn find_or_install(what: &str, package: &str, find: impl Fn() -> Option<PathBuf>) -> io::Result<PathBuf> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = find() {
        return Ok(found);
    }
    if rustix::process::getuid().as_raw() != 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{what} was not found and this process is not root: install the distribution's \
                 `{package}` package (apt-get install {package})"
            ),
        ));
    }
    let lock_wait = "DPkg::Lock::Timeout=120";
    run_logged(Command::new("apt-get").args(["-o", lock_wait, "update"]))?;
    run_logged(
        Command::new("apt-get")
            .args(["-o", lock_wait, "install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    find().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("the {package} package is installed but {what} is still not found"),
        )
    })
}

/// `name` in the first of `dirs` that has it, then on `PATH`.
pub fn find_binary(name: &str, dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    dirs.iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `node` (Node.js), with `npm`, installed when missing.
///
/// # Errors
/// As [`find_or_install`].
pub fn node() -> io::Result<PathBuf> {
    find_or_install("npm", "npm", || find_binary("npm", &["/usr/bin"]))?;
    find_or_install("Node.js", "nodejs", || find_binary("node", &["/usr/bin"]))
}

/// The `node_modules` directory under `prefix` with the npm package `spec`
/// (`newman@6`) in it, installed there by npm if `installed` (a path
/// relative to `node_modules`) is missing; Node.js and npm first if they
/// are.
///
/// # Errors
/// As [`node`], or npm failed (its output in the error).
pub fn npm_package(prefix: &std::path::Path, spec: &str, installed: &str) -> io::Result<PathBuf> {
    let modules = prefix.join("node_modules");
    if modules.join(installed).exists() {
        return Ok(modules);
    }
    node()?;
    std::fs::create_dir_all(prefix)?;
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(prefix)
        .arg(spec)
        .output()?;
    if !out.status.success() || !modules.join(installed).exists() {
        return Err(io::Error::other(format!(
            "npm install {spec} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(modules)
}

/// `wrk` (the HTTP load generator), installed when missing.
///
/// # Errors
/// As [`find_or_install`].
pub fn wrk() -> io::Result<PathBuf> {
    find_or_install("wrk", "wrk", || find_binary("wrk", &[]))
}

fn run_logged(command: &mut Command) -> io::Result<()> {
    let _ = writeln!(io::stderr(), "asyncio examples-support: running {command:?}");
    let status = command.stdin(Stdio::null()).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{command:?} failed: {status}")))
    }
}
