//! The DSN: a URL (`postgresql://user:password@host:port/db?opt=…`) or
//! libpq's key-value form (`host=/var/run/postgresql user=app`), parsed by
//! tokio-postgres's [`Config`], then completed from the environment
//! variables libpq honours for what the DSN leaves out: `PGHOST`,
//! `PGHOSTADDR`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`; then, if
//! neither gives a password, from libpq's password file (`passfile=`,
//! `PGPASSFILE`, `~/.pgpass`: see the `passfile` module).
//!
//! The connection options libpq reads are used, not only parsed: several
//! hosts (each with its `hostaddr`, tried in order, or in random order with
//! `load_balance_hosts=random`), `connect_timeout`,
//! `target_session_attrs=read-write` (a read-only server, a standby, is
//! passed over) and `read-only` (the opposite), `keepalives`, `keepalives_idle`, `keepalives_interval`,
//! `keepalives_count` and `tcp_user_timeout` (milliseconds, as in libpq) on
//! the socket.
//!
//! The TLS settings (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, and
//! `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`) are taken out of
//! the DSN before tokio-postgres sees it: it knows only three `sslmode`s and
//! none of the files.
//!
//! Defaults when neither gives a value, as libpq's: the host is the Unix
//! socket directory `/var/run/postgresql` (Debian's; `/tmp` if that does
//! not exist), the port 5432, the user the login name (`USER`/`LOGNAME`),
//! the database the user's name (the server's default).

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use tokio_postgres::config::{Host, LoadBalanceHosts};
use tokio_postgres::Config;

use crate::Error;

/// Where one connection attempt goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// `host` names the server (for TLS's name check); `addr`, when
    /// `hostaddr` gives it, is where to connect without a name look-up.
    Tcp {
        host: String,
        port: u16,
        addr: Option<IpAddr>,
    },
    Unix {
        path: std::path::PathBuf,
    },
}

impl Target {
    /// The host and port a password file's line is matched against, as
    /// libpq matches them: the host name (or the `hostaddr` given without
    /// one); for a Unix socket, `localhost` if its directory is a default
    /// one (`/var/run/postgresql`, Debian's, or `/tmp`), else the directory.
    pub(crate) fn passfile_key(&self) -> (String, u16) {
        match self {
            Target::Tcp { host, port, .. } => (host.clone(), *port),
            Target::Unix { path } => {
                let port = path
                    .file_name()
                    .and_then(|name| name.to_str()?.strip_prefix(".s.PGSQL.")?.parse().ok())
                    .unwrap_or(5432);
                let dir = path.parent().unwrap_or(Path::new(""));
                let host = if dir == Path::new("/var/run/postgresql") || dir == Path::new("/tmp") {
                    "localhost".to_owned()
                } else {
                    dir.to_string_lossy().into_owned()
                };
                (host, port)
            }
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp {
                host,
                port,
                addr: Some(addr),
            } if *host != addr.to_string() => write!(f, "{host} ({addr}):{port}"),
            Target::Tcp { host, port, .. } => write!(f, "{host}:{port}"),
            Target::Unix { path } => write!(f, "{}", path.display()),
        }
    }
}

/// libpq's `sslmode`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, Error> {
        Ok(match value {
            "disable" => SslMode::Disable,
            // libpq's `allow` tries plain text first, then TLS: plain text
            // is what it gets from any server that accepts it.
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::InvalidDsn(format!(
                    "sslmode={other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }
}

/// What the DSN and the environment say beyond tokio-postgres's
/// [`Config`]: the TLS settings, and the password file to read when no
/// password was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) mode: SslMode,
    pub(crate) rootcert: Option<String>,
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) passfile: Option<std::path::PathBuf>,
}

/// The TLS keys, the environment variable for each.
const SSL_KEYS: [(&str, &str); 4] = [
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
];

/// The keys tokio-postgres reads otherwise than libpq: `keepalives_count`
/// (its `keepalives_retries`, which it knows by that name only) and
/// `tcp_user_timeout` (milliseconds in libpq, seconds in tokio-postgres);
/// and `passfile`, which it does not know.
const LIBPQ_KEYS: [&str; 3] = ["keepalives_count", "tcp_user_timeout", "passfile"];

/// Whether `split_ssl` takes `key` out of the DSN: the TLS keys and
/// [`LIBPQ_KEYS`].
fn is_taken(key: &str) -> bool {
    SSL_KEYS.iter().any(|(k, _)| *k == key) || LIBPQ_KEYS.contains(&key)
}

/// Takes the TLS keys and [`LIBPQ_KEYS`] out of `dsn`: what is left for
/// tokio-postgres, and the keys' values. A DSN this cannot read is
/// returned whole, for tokio-postgres to report on.
fn split_ssl(dsn: &str) -> (String, Vec<(String, String)>) {
    let is_ssl = is_taken;
    let mut taken = Vec::new();
    if let Some(url) = ["postgresql://", "postgres://"]
        .iter()
        .find_map(|p| dsn.starts_with(p).then_some(dsn))
    {
        let Some((base, query)) = url.split_once('?') else {
            return (dsn.to_owned(), taken);
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match percent_decode(key) {
                Some(k) if is_ssl(&k) => match percent_decode(value) {
                    Some(v) => taken.push((k, v)),
                    None => return (dsn.to_owned(), Vec::new()),
                },
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, taken);
    }
    let Some(pairs) = key_values(dsn) else {
        return (dsn.to_owned(), taken);
    };
    // Cut the TLS pairs out of the text, leaving the rest as written.
    let mut rest = String::new();
    let mut from = 0;
    for (key, value, span) in pairs {
        if is_ssl(&key) {
            rest.push_str(&dsn[from..span.start]);
            from = span.end;
            taken.push((key, value));
        }
    }
    rest.push_str(&dsn[from..]);
    (rest, taken)
}

/// libpq's key-value form: `key = value` pairs separated by spaces, a
/// value either single-quoted or up to the next space, `\\` escaping the
/// next character in both. Each pair with its byte range; `None` if the
/// text is not well formed.
fn key_values(dsn: &str) -> Option<Vec<(String, String, std::ops::Range<usize>)>> {
    let mut pairs = Vec::new();
    let mut chars = dsn.char_indices().peekable();
    let space = |c: &(usize, char)| c.1.is_whitespace();
    loop {
        while chars.next_if(space).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Some(pairs);
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|&(_, c)| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(space).is_some() {}
        chars.next_if(|&(_, c)| c == '=')?;
        while chars.next_if(space).is_some() {}
        let mut value = String::new();
        if chars.next_if(|&(_, c)| c == '\'').is_some() {
            loop {
                match chars.next()?.1 {
                    '\'' => break,
                    '\\' => value.push(chars.next()?.1),
                    c => value.push(c),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|c| !space(c)) {
                if c == '\\' {
                    value.push(chars.next()?.1);
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return None;
        }
        let end = chars.peek().map_or(dsn.len(), |&(i, _)| i);
        pairs.push((key, value, start..end));
    }
}

/// `%XX` escapes decoded (a URL's query value); `None` if malformed.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(b) = input.next() {
        if b == b'%' {
            let hex = [input.next()?, input.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

/// Parses `dsn` and fills what it omits from `env` (a lookup, so tests can
/// pass their own environment).
pub(crate) fn parse(dsn: &str, env: impl Fn(&str) -> Option<String>) -> Result<(Config, Settings), Error> {
    let (rest, taken) = split_ssl(dsn);
    let value = |key: &str| {
        let var = SSL_KEYS.iter().find(|(k, _)| *k == key).map(|(_, var)| *var)?;
        taken
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| env(var))
    };
    let rootcert = value("sslrootcert");
    let system = rootcert.as_deref() == Some("system");
    let mode = match value("sslmode") {
        Some(mode) => SslMode::parse(&mode)?,
        // libpq (16 and later): the system's roots trust any publicly
        // trusted certificate, for any name, so they come with the name
        // check.
        None if system => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if system && mode != SslMode::VerifyFull {
        return Err(Error::InvalidDsn(
            "sslrootcert=system needs sslmode=verify-full (the default with it): with a weaker mode any \
             publicly trusted certificate, for any name, would do"
                .into(),
        ));
    }
    let mut ssl = Settings {
        mode,
        rootcert,
        cert: value("sslcert"),
        key: value("sslkey"),
        passfile: None,
    };
    let mut config = Config::from_str(&rest).map_err(|e| Error::InvalidDsn(e.to_string()))?;
    let libpq = |key: &str| taken.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if let Some(count) = libpq("keepalives_count") {
        let count: u32 = count
            .parse()
            .map_err(|_| Error::InvalidDsn(format!("keepalives_count is not a count: {count:?}")))?;
        // 0 is libpq's "the system's default".
        if count > 0 {
            config.keepalives_retries(count);
        }
    }
    if let Some(ms) = libpq("tcp_user_timeout") {
        let ms: u64 = ms
            .parse()
            .map_err(|_| Error::InvalidDsn(format!("tcp_user_timeout is not milliseconds: {ms:?}")))?;
        // 0: the system's default.
        if ms > 0 {
            config.tcp_user_timeout(std::time::Duration::from_millis(ms));
        }
    }
    if config.get_hostaddrs().is_empty() {
        if let Some(addrs) = env("PGHOSTADDR") {
            for addr in addrs.split(',').filter(|a| !a.is_empty()) {
                let addr = addr
                    .parse()
                    .map_err(|_| Error::InvalidDsn(format!("PGHOSTADDR is not an IP address: {addr:?}")))?;
                config.hostaddr(addr);
            }
        }
    }
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        match env("PGHOST") {
            Some(hosts) => {
                for host in hosts.split(',').filter(|h| !h.is_empty()) {
                    config.host(host);
                }
            }
            None => {
                let dir = if Path::new("/var/run/postgresql").is_dir() {
                    "/var/run/postgresql"
                } else {
                    "/tmp"
                };
                config.host_path(dir);
            }
        }
    }
    let (hosts, addrs) = (config.get_hosts().len(), config.get_hostaddrs().len());
    if hosts > 0 && addrs > 0 && hosts != addrs {
        return Err(Error::InvalidDsn(format!(
            "{hosts} host names and {addrs} hostaddr values: they pair up one to one"
        )));
    }
    if config.get_ports().is_empty() {
        if let Some(ports) = env("PGPORT") {
            // As in a DSN: one per host, or one for all; empty is 5432.
            for port in ports.split(',') {
                let port = if port.is_empty() {
                    5432
                } else {
                    port.parse()
                        .map_err(|_| Error::InvalidDsn(format!("PGPORT is not a port: {ports:?}")))?
                };
                config.port(port);
            }
        }
    }
    if config.get_user().is_none() {
        if let Some(user) = env("PGUSER").or_else(|| env("USER")).or_else(|| env("LOGNAME")) {
            config.user(user);
        }
    }
    // An empty password counts as none, as in libpq (the password file
    // is then read).
    let no_password = |config: &Config| config.get_password().is_none_or(<[u8]>::is_empty);
    if no_password(&config) {
        if let Some(password) = env("PGPASSWORD").filter(|p| !p.is_empty()) {
            config.password(password);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(db) = env("PGDATABASE") {
            config.dbname(db);
        }
    }
    if no_password(&config) {
        ssl.passfile = crate::passfile::path(libpq("passfile"), &env);
    }
    Ok((config, ssl))
}

/// The targets to try in order: the `i`th host with the `i`th port (or
/// the only port given, or 5432), as libpq pairs them.
pub(crate) fn targets(config: &Config) -> Vec<Target> {
    let (ports, hosts, addrs) = (config.get_ports(), config.get_hosts(), config.get_hostaddrs());
    let mut targets: Vec<Target> = (0..hosts.len().max(addrs.len()))
        .map(|i| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match (hosts.get(i), addrs.get(i).copied()) {
                (Some(Host::Tcp(host)), addr) => Target::Tcp {
                    host: host.clone(),
                    port,
                    addr,
                },
                // `hostaddr` wins over a socket directory: TCP to it.
                (Some(Host::Unix(_)) | None, Some(addr)) => Target::Tcp {
                    host: addr.to_string(),
                    port,
                    addr: Some(addr),
                },
                (Some(Host::Unix(dir)), None) => Target::Unix {
                    path: dir.join(format!(".s.PGSQL.{port}")),
                },
                (None, None) => unreachable!("within the longer list"),
            }
        })
        .collect();
    if config.get_load_balance_hosts() == LoadBalanceHosts::Random {
        shuffle(&mut targets);
    }
    targets
}

/// Fisher–Yates, with the standard library's randomly keyed hasher as the
/// source (no random-number crate for one shuffle per connect).
fn shuffle<T>(items: &mut [T]) {
    use std::hash::{BuildHasher, Hasher};
    for i in (1..items.len()).rev() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(i);
        let j = (hasher.finish() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// The DSN fuzz target: `parse` never panics, and taking the TLS keys
/// out of a DSN takes exactly them: what is left holds every other pair as
/// it was, in order (key-value form and URL query alike).
#[cfg(fuzzing)]
pub fn fuzz_dsn(dsn: &str) {
    let _ = parse(dsn, |_| None);
    let _ = parse(dsn, |var| Some(format!("{var}-value")));
    let is_ssl = is_taken;
    let (rest, taken) = split_ssl(dsn);
    if ["postgresql://", "postgres://"].iter().any(|p| dsn.starts_with(p)) {
        let query = |text: &str| -> Vec<String> {
            text.split_once('?')
                .map(|(_, q)| q.split('&').filter(|p| !p.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        if taken.is_empty() {
            assert_eq!(query(&rest), query(dsn), "{dsn:?}: nothing taken, the query changed");
            return;
        }
        let kept: Vec<String> = query(dsn)
            .into_iter()
            .filter(|pair| {
                let key = pair.split_once('=').map_or(pair.as_str(), |(k, _)| k);
                !percent_decode(key).is_some_and(|k| is_ssl(&k))
            })
            .collect();
        assert_eq!(query(&rest), kept, "{dsn:?}: the other pairs changed");
        return;
    }
    let Some(pairs) = key_values(dsn) else {
        assert!(taken.is_empty() && rest == dsn, "{dsn:?}: not well formed, yet changed");
        return;
    };
    let strip = |pairs: Vec<(String, String, std::ops::Range<usize>)>| -> Vec<(String, String)> {
        pairs.into_iter().map(|(k, v, _)| (k, v)).collect()
    };
    let (ssl, other): (Vec<_>, Vec<_>) = strip(pairs).into_iter().partition(|(k, _)| is_ssl(k));
    assert_eq!(taken, ssl, "{dsn:?}: the TLS pairs taken");
    let left = key_values(&rest).map(strip);
    assert_eq!(
        left,
        Some(other),
        "{dsn:?}: what is left, {rest:?}, lost or changed a pair"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
    }

    #[test]
    fn url_is_parsed_and_env_does_not_override_it() {
        let vars = [
            ("PGHOST", "elsewhere"),
            ("PGUSER", "other"),
            ("PGPASSWORD", "x"),
            ("PGDATABASE", "d"),
        ];
        let (config, _) = parse("postgresql://app:secret@db.example:6543/shop", env(&vars)).unwrap();
        assert_eq!(config.get_user(), Some("app"));
        assert_eq!(config.get_password(), Some(&b"secret"[..]));
        assert_eq!(config.get_dbname(), Some("shop"));
        let targets = targets(&config);
        assert!(matches!(&targets[..], [Target::Tcp { host, port: 6543, addr: None }] if host == "db.example"));
    }

    #[test]
    fn env_fills_what_the_dsn_omits() {
        let vars = [
            ("PGHOST", "/run/pg"),
            ("PGPORT", "5499"),
            ("PGUSER", "u"),
            ("PGPASSWORD", "p"),
            ("PGDATABASE", "d"),
        ];
        let (config, _) = parse("", env(&vars)).unwrap();
        assert_eq!(config.get_user(), Some("u"));
        assert_eq!(config.get_password(), Some(&b"p"[..]));
        assert_eq!(config.get_dbname(), Some("d"));
        let targets = targets(&config);
        assert!(
            matches!(&targets[..], [Target::Unix { path }] if path == Path::new("/run/pg/.s.PGSQL.5499")),
            "{targets:?}"
        );
    }

    #[test]
    fn hostaddr_pairs_with_host_and_stands_alone() {
        let (config, _) = parse("host=db.example,b hostaddr=10.0.0.1,10.0.0.2 port=1,2", env(&[])).unwrap();
        let paired = targets(&config);
        assert!(
            matches!(&paired[..], [
                Target::Tcp { host: a, port: 1, addr: Some(x) },
                Target::Tcp { host: b, port: 2, addr: Some(y) },
            ] if a == "db.example" && b == "b" && x.to_string() == "10.0.0.1" && y.to_string() == "10.0.0.2"),
            "{paired:?}"
        );
        // Alone: TCP to it, not the default socket directory (nor PGHOST).
        let (config, _) = parse("hostaddr=127.0.0.1 port=7", env(&[("PGHOST", "/run/pg")])).unwrap();
        let alone = targets(&config);
        assert!(
            matches!(&alone[..], [Target::Tcp { host, port: 7, addr: Some(_) }] if host == "127.0.0.1"),
            "{alone:?}"
        );
        let (config, _) = parse("port=7", env(&[("PGHOSTADDR", "127.0.0.2")])).unwrap();
        assert!(matches!(&targets(&config)[..], [Target::Tcp { addr: Some(_), .. }]));
        assert!(matches!(
            parse("host=a,b hostaddr=127.0.0.1", env(&[])),
            Err(Error::InvalidDsn(_))
        ));
        assert!(matches!(
            parse("", env(&[("PGHOSTADDR", "x")])),
            Err(Error::InvalidDsn(_))
        ));
    }

    #[test]
    fn pgport_may_list_a_port_per_host() {
        let (config, _) = parse("host=a,b,c", env(&[("PGPORT", "1,,3")])).unwrap();
        let ports: Vec<u16> = targets(&config)
            .iter()
            .map(|t| match t {
                Target::Tcp { port, .. } => *port,
                Target::Unix { .. } => 0,
            })
            .collect();
        assert_eq!(ports, [1, 5432, 3]);
    }

    #[test]
    fn load_balance_hosts_random_shuffles_the_order() {
        let (config, _) = parse("host=a,b,c load_balance_hosts=random", env(&[])).unwrap();
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..64 {
            let order = targets(&config);
            assert_eq!(order.len(), 3);
            firsts.insert(order[0].to_string());
        }
        assert_eq!(firsts.len(), 3, "every host comes first sometimes: {firsts:?}");
        let (config, _) = parse("host=a,b,c", env(&[])).unwrap();
        assert!((0..16).all(|_| targets(&config)[0].to_string() == "a:5432"));
    }

    #[test]
    fn password_file_keys_are_libpqs() {
        let key = |dsn: &str| {
            let (config, _) = parse(dsn, env(&[])).unwrap();
            targets(&config).iter().map(Target::passfile_key).collect::<Vec<_>>()
        };
        assert_eq!(key("host=/var/run/postgresql port=5433"), [("localhost".into(), 5433)]);
        assert_eq!(key("host=/tmp"), [("localhost".into(), 5432)]);
        assert_eq!(key("host=/srv/pg port=7"), [("/srv/pg".into(), 7)]);
        assert_eq!(key("host=db.example hostaddr=10.0.0.1"), [("db.example".into(), 5432)]);
        assert_eq!(key("hostaddr=10.0.0.1 port=6"), [("10.0.0.1".into(), 6)]);
        // The file is looked for only when no password is given.
        let (_, settings) = parse("host=h passfile=/p", env(&[("HOME", "/home/u")])).unwrap();
        assert_eq!(settings.passfile.as_deref(), Some(Path::new("/p")));
        let (_, settings) = parse("host=h password=x passfile=/p", env(&[])).unwrap();
        assert_eq!(settings.passfile, None);
        let (_, settings) = parse("host=h", env(&[("PGPASSWORD", "x"), ("HOME", "/home/u")])).unwrap();
        assert_eq!(settings.passfile, None);
        // An empty password is none: the file is looked for.
        let (_, settings) = parse("host=h password=''", env(&[("PGPASSWORD", ""), ("HOME", "/home/u")])).unwrap();
        assert_eq!(settings.passfile.as_deref(), Some(Path::new("/home/u/.pgpass")));
        let (_, settings) = parse("postgresql://h/db?passfile=%2Fq", env(&[])).unwrap();
        assert_eq!(settings.passfile.as_deref(), Some(Path::new("/q")));
    }

    #[test]
    fn key_value_with_a_socket_directory() {
        let (config, _) = parse("host=/var/run/postgresql port=5433 user=me dbname=db", env(&[])).unwrap();
        let targets = targets(&config);
        assert!(
            matches!(&targets[..], [Target::Unix { path }] if path == Path::new("/var/run/postgresql/.s.PGSQL.5433"))
        );
    }

    #[test]
    fn several_hosts_pair_with_their_ports() {
        let (config, _) = parse("host=a,b port=1,2 user=me", env(&[])).unwrap();
        let targets: Vec<String> = targets(&config).iter().map(ToString::to_string).collect();
        assert_eq!(targets, ["a:1", "b:2"]);
    }

    #[test]
    fn bad_dsns_are_invalid_dsn_errors() {
        for dsn in [
            "postgresql://u@h:notaport/db",
            "host=a port=",
            "user='unterminated",
            "mysql://x",
        ] {
            assert!(matches!(parse(dsn, env(&[])), Err(Error::InvalidDsn(_))), "{dsn}");
        }
        assert!(matches!(parse("", env(&[("PGPORT", "x")])), Err(Error::InvalidDsn(_))));
    }

    #[test]
    fn tls_keys_come_out_of_a_url() {
        let dsn = "postgresql://u:p@h:1/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca%20file.pem";
        let (config, ssl) = parse(dsn, env(&[])).unwrap();
        assert_eq!(ssl.mode, SslMode::VerifyFull);
        assert_eq!(ssl.rootcert.as_deref(), Some("/tmp/ca file.pem"));
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(config.get_dbname(), Some("db"));
    }

    #[test]
    fn tls_keys_come_out_of_key_values_quoted_or_not() {
        let dsn = r"host=h user='o\'brien' sslmode = verify-ca sslcert='/c d.pem' sslkey=/k\ e.key password=a\\b";
        let (config, ssl) = parse(dsn, env(&[])).unwrap();
        assert_eq!(ssl.mode, SslMode::VerifyCa);
        assert_eq!(ssl.cert.as_deref(), Some("/c d.pem"));
        assert_eq!(ssl.key.as_deref(), Some("/k e.key"));
        assert_eq!(config.get_user(), Some("o'brien"));
        assert_eq!(config.get_password(), Some(&b"a\\b"[..]));
    }

    #[test]
    fn tls_settings_from_the_environment_and_their_defaults() {
        let (_, ssl) = parse("host=h", env(&[])).unwrap();
        assert_eq!(ssl.mode, SslMode::Prefer, "libpq's default");
        let vars = [("PGSSLMODE", "require"), ("PGSSLROOTCERT", "/ca.pem")];
        let (_, ssl) = parse("host=h", env(&vars)).unwrap();
        assert_eq!((ssl.mode, ssl.rootcert.as_deref()), (SslMode::Require, Some("/ca.pem")));
        // The system's roots: verify-full by default, and nothing weaker.
        let (_, ssl) = parse("host=h sslrootcert=system", env(&[])).unwrap();
        assert_eq!(ssl.mode, SslMode::VerifyFull);
        for weaker in ["prefer", "require", "verify-ca"] {
            let dsn = format!("host=h sslrootcert=system sslmode={weaker}");
            assert!(matches!(parse(&dsn, env(&[])), Err(Error::InvalidDsn(_))), "{weaker}");
        }
        assert!(matches!(
            parse("host=h", env(&[("PGSSLROOTCERT", "system"), ("PGSSLMODE", "require")])),
            Err(Error::InvalidDsn(_))
        ));
        let (_, ssl) = parse("host=h sslmode=disable", env(&vars)).unwrap();
        assert_eq!(ssl.mode, SslMode::Disable, "the DSN wins over PGSSLMODE");
        assert!(matches!(
            parse("host=h sslmode=sometimes", env(&[])),
            Err(Error::InvalidDsn(_))
        ));
        assert!(matches!(
            parse("host=h", env(&[("PGSSLMODE", "x")])),
            Err(Error::InvalidDsn(_))
        ));
    }
}
