//! What the workspace's examples and tests share; not published.
//!
//! - [`threaded`]: a thread-per-request HTTP/1.1 server (the WSGI shape),
//!   the "before" of the seeds' web-server contrast (`asyncio-http`'s
//!   `contrast` and `thread_per_request` examples, its `threaded_contrast`
//!   test, and the `asyncio` tour).
//! - [`load`]: a load generator on the asyncio loop, N clients at once.
//! - [`args`]: the command line of every server example (`--host`,
//!   `--port`, `--workers`, and `--tls` for those serving HTTPS), parsed
//!   once.
//! - [`nginx`]: a throwaway nginx from the distribution's packages (HTTP/1.1,
//!   HTTPS with HTTP/2 by ALPN, cleartext HTTP/2) serving fixed content,
//!   for the HTTP client's interop tests and benchmarks.
//! - [`mariadb`]: a throwaway MariaDB server from the distribution's
//!   packages, for `asyncio-mysql`'s tests and examples.
//! - [`pki`]: throwaway certificates (a CA, server and client
//!   certificates) made with rcgen for TLS tests, examples and benchmarks.
//! - [`packages`]: programs from the distribution's packages (nginx,
//!   PostgreSQL, wrk), installed on first use when running as root.
//! - [`pg`]: a throwaway PostgreSQL server (a fresh cluster in a temporary
//!   directory) for `asyncio-postgres`'s tests and examples.
//!
//! ```no_run
//! use asyncio_examples_support::{load, threaded::ThreadedServer};
//!
//! let server = ThreadedServer::start("127.0.0.1:0".parse().unwrap(), 15).unwrap();
//! let result = asyncio::run(load::hit_all(server.local_addr(), "/io", 100));
//! println!("{result}");
//! server.shutdown();
//! ```

#![forbid(unsafe_code)]

pub mod args;
pub mod load;
pub mod mariadb;
pub mod nginx;
pub mod packages;
pub mod pg;
pub mod pki;
pub mod threaded;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, best effort (the
/// default soft limit is often 1,024): both sides of a 1,000-connection
/// run open that many sockets.
pub fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let limit = getrlimit(Resource::Nofile);
        // No hard limit: ask for a large one (the kernel caps it at
        // `fs.nr_open`; if refused, the soft limit stays as it was).
        let target = limit.maximum.unwrap_or(1 << 20);
        if limit.current.is_some_and(|current| current < target) {
            let _ = setrlimit(
                Resource::Nofile,
                rustix::process::Rlimit {
                    current: Some(target),
                    maximum: limit.maximum,
                },
            );
        }
    }
}
