//! The command line every server example takes, parsed in one place:
//! `[--host 127.0.0.1] [--port 8080] [--workers N]` (`--port 0` picks a
//! free port; the example prints the address it got), and, for the
//! examples that serve HTTPS, `[--tls CERT.pem KEY.pem]`.
//!
//! ```no_run
//! use asyncio_examples_support::args::{Options, ServerArgs, Workers};
//!
//! let args = ServerArgs::from_env("hello", Options::new(Workers::Cores).tls());
//! println!("would listen on {} with {} worker loop(s)", args.addr(), args.workers);
//! if let Some(tls) = &args.tls {
//!     println!("over TLS with {} and {}", tls.cert.display(), tls.key.display());
//! }
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process;

/// The port when none is given.
pub const DEFAULT_PORT: u16 = 8080;

/// How an example takes `--workers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    /// It serves from one loop (its state lives there): `--workers` is
    /// refused, and [`ServerArgs::workers`] is 1.
    One,
    /// This many unless `--workers` says otherwise.
    Default(usize),
    /// One per core unless `--workers` says otherwise.
    Cores,
}

impl Workers {
    fn default_count(self) -> usize {
        match self {
            Workers::One => 1,
            Workers::Default(n) => n,
            Workers::Cores => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What an example's command line takes: `--workers` as [`Workers`]
/// says, and `--tls` if [`tls`](Options::tls) is set. A bare [`Workers`]
/// converts into options without TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// How `--workers` is taken.
    workers: Workers,
    /// Whether `--tls CERT.pem KEY.pem` is accepted (otherwise refused).
    tls: bool,
}

impl Options {
    /// `--workers` as `workers` says; no `--tls`.
    pub fn new(workers: Workers) -> Options {
        Options { workers, tls: false }
    }

    /// Also accepts `--tls CERT.pem KEY.pem`.
    pub fn tls(mut self) -> Options {
        self.tls = true;
        self
    }
}

impl From<Workers> for Options {
    fn from(workers: Workers) -> Options {
        Options::new(workers)
    }
}

/// `--tls CERT.pem KEY.pem`: the certificate chain (leaf first) and the
/// private key to serve HTTPS with, as PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key (PKCS#8, RSA or EC).
    pub key: PathBuf,
}

/// A server example's parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerArgs {
    /// `--host` (default 127.0.0.1).
    pub host: IpAddr,
    /// `--port` (default [`DEFAULT_PORT`]; 0 picks a free one).
    pub port: u16,
    /// `--workers`: worker loops or threads, at least 1.
    pub workers: usize,
    /// `--tls`: serve over TLS with these files (only for examples whose
    /// [`Options`] accept it).
    pub tls: Option<TlsFiles>,
}

/// A command line that could not be parsed: what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgsError(String);

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgsError {}

impl ServerArgs {
    /// The process's own arguments. On `--help` prints the usage and exits
    /// (status 0); on a bad argument prints the error and the usage and
    /// exits (status 2).
    pub fn from_env(example: &str, options: impl Into<Options>) -> ServerArgs {
        let options = options.into();
        match ServerArgs::parse(options, std::env::args().skip(1)) {
            Ok(Some(args)) => args,
            Ok(None) => {
                println!("{}", usage(example, options));
                process::exit(0);
            }
            Err(e) => {
                eprintln!("error: {e}\n{}", usage(example, options));
                process::exit(2);
            }
        }
    }

    /// Parses `args` (without the program name); `Ok(None)` for `-h` or
    /// `--help`.
    ///
    /// # Errors
    /// An unknown argument, a missing or unparsable value, `--workers 0`,
    /// `--workers` for an example that serves from one loop, or `--tls` for
    /// one that does not serve TLS.
    pub fn parse(
        options: impl Into<Options>,
        args: impl IntoIterator<Item = String>,
    ) -> Result<Option<ServerArgs>, ArgsError> {
        let Options { workers, tls } = options.into();
        let mut parsed = ServerArgs {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            workers: 0,
            tls: None,
        };
        let mut count = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| ArgsError(format!("{name} needs a value")));
            match arg.as_str() {
                "--host" => parsed.host = parse_value("--host", value("--host")?)?,
                "--port" => parsed.port = parse_value("--port", value("--port")?)?,
                "--workers" if workers == Workers::One => {
                    return Err(ArgsError("this example serves from one loop: no --workers".into()));
                }
                "--workers" => {
                    let n: usize = parse_value("--workers", value("--workers")?)?;
                    if n == 0 {
                        return Err(ArgsError("--workers must be at least 1".into()));
                    }
                    count = Some(n);
                }
                "--tls" if !tls => return Err(ArgsError("this example does not serve TLS: no --tls".into())),
                "--tls" => {
                    let cert = value("--tls")?.into();
                    let key = args
                        .next()
                        .ok_or_else(|| ArgsError("--tls needs two values: CERT.pem KEY.pem".into()))?
                        .into();
                    parsed.tls = Some(TlsFiles { cert, key });
                }
                "-h" | "--help" => return Ok(None),
                other => return Err(ArgsError(format!("unknown argument {other:?}"))),
            }
        }
        parsed.workers = count.unwrap_or_else(|| workers.default_count());
        Ok(Some(parsed))
    }

    /// The address to listen on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Where clients reach a server listening on `addr`, for `scheme`
    /// (`"http"` or `"ws"`): as given without `--tls`; with it, the secure
    /// scheme (`https`, `wss`) and, for a loopback address, the name
    /// `localhost` (what a certificate for a local server names).
    pub fn url(&self, scheme: &str, addr: SocketAddr) -> String {
        if self.tls.is_none() {
            return format!("{scheme}://{addr}");
        }
        if addr.ip().is_loopback() {
            format!("{scheme}s://localhost:{}", addr.port())
        } else {
            format!("{scheme}s://{addr}")
        }
    }
}

/// The usage line of `example`.
pub fn usage(example: &str, options: impl Into<Options>) -> String {
    let Options { workers, tls } = options.into();
    let workers = match workers {
        Workers::One => String::new(),
        Workers::Default(n) => format!(" [--workers {n}]"),
        Workers::Cores => " [--workers N (default: one per core)]".to_owned(),
    };
    let tls = if tls { " [--tls CERT.pem KEY.pem]" } else { "" };
    format!("usage: {example} [--host 127.0.0.1] [--port {DEFAULT_PORT}]{workers}{tls}")
}

fn parse_value<T: std::str::FromStr>(name: &str, value: String) -> Result<T, ArgsError>
where
    T::Err: fmt::Display,
{
    value.parse().map_err(|e| ArgsError(format!("{name} {value:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: impl Into<Options>, args: &[&str]) -> Result<Option<ServerArgs>, ArgsError> {
        ServerArgs::parse(options, args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn defaults() {
        let args = parse(Workers::Default(15), &[]).unwrap().unwrap();
        assert_eq!(args.addr(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.workers, 15);
        assert_eq!(parse(Workers::One, &[]).unwrap().unwrap().workers, 1);
        assert!(parse(Workers::Cores, &[]).unwrap().unwrap().workers >= 1);
    }

    #[test]
    fn every_option() {
        let args = parse(Workers::Cores, &["--port", "0", "--workers", "3", "--host", "::1"])
            .unwrap()
            .unwrap();
        assert_eq!(args.addr(), "[::1]:0".parse().unwrap());
        assert_eq!(args.workers, 3);
    }

    #[test]
    fn tls_files_and_urls() {
        let tls = Options::new(Workers::Cores).tls();
        let args = parse(tls, &["--port", "0", "--tls", "cert.pem", "key.pem"])
            .unwrap()
            .unwrap();
        let files = args.tls.clone().unwrap();
        assert_eq!(
            (files.cert.to_str(), files.key.to_str()),
            (Some("cert.pem"), Some("key.pem"))
        );
        let local: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(args.url("http", local), "https://localhost:8443");
        assert_eq!(args.url("ws", "10.0.0.1:8443".parse().unwrap()), "wss://10.0.0.1:8443");
        let plain = parse(tls, &[]).unwrap().unwrap();
        assert_eq!(plain.tls, None);
        assert_eq!(plain.url("http", local), "http://127.0.0.1:8443");
        assert_eq!(
            usage("hello", tls),
            "usage: hello [--host 127.0.0.1] [--port 8080] [--workers N (default: one per core)] [--tls CERT.pem KEY.pem]"
        );
    }

    #[test]
    fn help_is_not_an_error() {
        assert_eq!(parse(Workers::One, &["--port", "1", "-h"]), Ok(None));
        assert_eq!(
            usage("sse_clock", Workers::Default(1)),
            "usage: sse_clock [--host 127.0.0.1] [--port 8080] [--workers 1]"
        );
        assert_eq!(
            usage("websocket_chat", Workers::One),
            "usage: websocket_chat [--host 127.0.0.1] [--port 8080]"
        );
    }

    #[test]
    fn mistakes_are_refused() {
        let err = |workers, args: &[&str]| parse(workers, args).unwrap_err().to_string();
        assert_eq!(err(Workers::Cores, &["--port"]), "--port needs a value");
        assert!(err(Workers::Cores, &["--port", "65536"]).starts_with("--port \"65536\": "));
        assert_eq!(err(Workers::Cores, &["--workers", "0"]), "--workers must be at least 1");
        assert_eq!(err(Workers::Cores, &["--verbose"]), "unknown argument \"--verbose\"");
        assert_eq!(
            err(Workers::One, &["--workers", "2"]),
            "this example serves from one loop: no --workers"
        );
        assert_eq!(
            err(Workers::One, &["--tls", "c.pem", "k.pem"]),
            "this example does not serve TLS: no --tls"
        );
        let tls = Options::new(Workers::One).tls();
        assert_eq!(
            parse(tls, &["--tls", "c.pem"]).unwrap_err().to_string(),
            "--tls needs two values: CERT.pem KEY.pem"
        );
        assert_eq!(parse(tls, &["--tls"]).unwrap_err().to_string(), "--tls needs a value");
    }
}
