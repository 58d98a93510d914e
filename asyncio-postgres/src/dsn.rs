//! The DSN: a URL (`postgresql://user:password@host:port/db?opt=…`) or
//! libpq's key-value form (`host=/var/run/postgresql user=app`), parsed by
//! tokio-postgres's [`Config`], then completed from the environment
//! variables libpq honours for what the DSN leaves out: `PGHOST`,
//! `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`.
//!
//! Defaults when neither gives a value, as libpq's: the host is the Unix
//! socket directory `/var/run/postgresql` (Debian's; `/tmp` if that does
//! not exist), the port 5432, the user the login name (`USER`/`LOGNAME`),
//! the database the user's name (the server's default).

use std::path::Path;
use std::str::FromStr;

use tokio_postgres::config::Host;
use tokio_postgres::Config;

use crate::Error;

/// Where one connection attempt goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp { host: String, port: u16 },
    Unix { path: std::path::PathBuf },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp { host, port } => write!(f, "{host}:{port}"),
            Target::Unix { path } => write!(f, "{}", path.display()),
        }
    }
}

/// Parses `dsn` and fills what it omits from `env` (a lookup, so tests can
/// pass their own environment).
pub(crate) fn parse(dsn: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
    let mut config = Config::from_str(dsn).map_err(|e| Error::InvalidDsn(e.to_string()))?;
    if config.get_hosts().is_empty() {
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
    if config.get_ports().is_empty() {
        if let Some(port) = env("PGPORT") {
            let port = port
                .parse()
                .map_err(|_| Error::InvalidDsn(format!("PGPORT is not a port: {port:?}")))?;
            config.port(port);
        }
    }
    if config.get_user().is_none() {
        if let Some(user) = env("PGUSER").or_else(|| env("USER")).or_else(|| env("LOGNAME")) {
            config.user(user);
        }
    }
    if config.get_password().is_none() {
        if let Some(password) = env("PGPASSWORD") {
            config.password(password);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(db) = env("PGDATABASE") {
            config.dbname(db);
        }
    }
    Ok(config)
}

/// The targets to try in order: the `i`th host with the `i`th port (or
/// the only port given, or 5432), as libpq pairs them.
pub(crate) fn targets(config: &Config) -> Vec<Target> {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(host) => Target::Tcp {
                    host: host.clone(),
                    port,
                },
                Host::Unix(dir) => Target::Unix {
                    path: dir.join(format!(".s.PGSQL.{port}")),
                },
            }
        })
        .collect()
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
        let config = parse("postgresql://app:secret@db.example:6543/shop", env(&vars)).unwrap();
        assert_eq!(config.get_user(), Some("app"));
        assert_eq!(config.get_password(), Some(&b"secret"[..]));
        assert_eq!(config.get_dbname(), Some("shop"));
        let targets = targets(&config);
        assert!(matches!(&targets[..], [Target::Tcp { host, port: 6543 }] if host == "db.example"));
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
        let config = parse("", env(&vars)).unwrap();
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
    fn key_value_with_a_socket_directory() {
        let config = parse("host=/var/run/postgresql port=5433 user=me dbname=db", env(&[])).unwrap();
        let targets = targets(&config);
        assert!(
            matches!(&targets[..], [Target::Unix { path }] if path == Path::new("/var/run/postgresql/.s.PGSQL.5433"))
        );
    }

    #[test]
    fn several_hosts_pair_with_their_ports() {
        let config = parse("host=a,b port=1,2 user=me", env(&[])).unwrap();
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
}
