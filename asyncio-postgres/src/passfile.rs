//! libpq's password file: where a DSN gives no password (nor
//! `PGPASSWORD`), the password for a host, port, database and user comes
//! from the file named by `passfile=` in the DSN, else by `PGPASSFILE`,
//! else `~/.pgpass`.
//!
//! The file's rules are libpq's (PostgreSQL's documentation, "The Password
//! File"): one `hostname:port:database:username:password` entry per line,
//! the first whose four fields match wins; a field of `*` alone matches
//! anything; `\` makes the next character literal (`\:`, `\\`); a line
//! that starts with `#` is a comment. The host of a connection over a Unix
//! socket in the default directory is `localhost`, any other socket
//! directory is its own path; a `hostaddr` without a host name is matched
//! as written. A file that group or others may read, or that is not a
//! plain file, is ignored with a warning (a `tracing` event), as libpq
//! ignores it.
//!
//! The file is read off the loop (on asyncio's thread pool), once per
//! [`connect`](crate::connect), and only when no password was given.

use std::path::PathBuf;

/// The parsed entries of a password file, in file order.
#[derive(Debug, Default)]
pub(crate) struct PassFile {
    entries: Vec<Entry>,
}

/// One line: four fields (`None` is `*`) and the password.
#[derive(Debug)]
struct Entry {
    fields: [Option<String>; 4],
    password: String,
}

impl PassFile {
    /// Parses the file's text; lines that do not have four fields and a
    /// password are skipped (they can never match in libpq either).
    pub(crate) fn parse(text: &str) -> PassFile {
        let entries = text
            .lines()
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(Entry::parse)
            .collect();
        PassFile { entries }
    }

    /// The password of the first entry that matches, if any.
    pub(crate) fn password(&self, host: &str, port: u16, database: &str, user: &str) -> Option<&str> {
        let port = port.to_string();
        let wanted = [host, port.as_str(), database, user];
        self.entries
            .iter()
            .find(|entry| {
                entry
                    .fields
                    .iter()
                    .zip(wanted)
                    .all(|(field, value)| field.as_deref().is_none_or(|f| f == value))
            })
            .map(|entry| entry.password.as_str())
    }
}

impl Entry {
    fn parse(line: &str) -> Option<Entry> {
        let mut chars = line.chars();
        let mut fields: [Option<String>; 4] = Default::default();
        for field in &mut fields {
            let (text, wildcard) = unescape_field(&mut chars)?;
            *field = (!wildcard).then_some(text);
        }
        // The password runs to the end of the line or the next unescaped
        // `:` (libpq stops there too).
        let mut password = String::new();
        while let Some(c) = chars.next() {
            match c {
                ':' => break,
                '\\' => password.push(chars.next().unwrap_or('\\')),
                c => password.push(c),
            }
        }
        Some(Entry { fields, password })
    }
}

/// One field up to its unescaped `:` (consumed), with its escapes removed;
/// whether it was a bare `*`. `None` if the line ends first.
fn unescape_field(chars: &mut std::str::Chars<'_>) -> Option<(String, bool)> {
    let mut text = String::new();
    let mut escaped_any = false;
    loop {
        match chars.next()? {
            ':' => break,
            '\\' => {
                escaped_any = true;
                text.push(chars.next()?);
            }
            c => text.push(c),
        }
    }
    let wildcard = text == "*" && !escaped_any;
    Some((text, wildcard))
}

/// The file to read: `passfile` from the DSN, else `PGPASSFILE`, else
/// `$HOME/.pgpass` (an empty value counts as none, as in libpq).
pub(crate) fn path(passfile: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let given = |v: &String| !v.is_empty();
    passfile
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("PGPASSFILE").filter(given).map(PathBuf::from))
        .or_else(|| {
            env("HOME")
                .filter(given)
                .map(|home| PathBuf::from(home).join(".pgpass"))
        })
}

/// Reads and parses the file at `path` (blocking: on a thread-pool
/// thread). A missing or unreadable file is no file; an insecure one is
/// ignored with a warning.
pub(crate) fn read(path: &std::path::Path) -> Option<PassFile> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        tracing::warn!(path = %path.display(), "password file is not a plain file: ignored");
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "password file has group or world access: ignored (permissions should be u=rw, 0600, or less)"
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    Some(PassFile::parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_line_wins_and_star_matches_anything() {
        let file = PassFile::parse(
            "# comment: *:*:*:*:never\n\
             db.example:5432:shop:app:first\n\
             *:5432:shop:app:second\n\
             *:*:*:*:fallback\r\n",
        );
        assert_eq!(file.password("db.example", 5432, "shop", "app"), Some("first"));
        assert_eq!(file.password("other", 5432, "shop", "app"), Some("second"));
        assert_eq!(file.password("db.example", 5433, "shop", "app"), Some("fallback"));
        assert_eq!(file.password("db.example", 5432, "shop", "other"), Some("fallback"));
    }

    #[test]
    fn backslash_escapes_colons_backslashes_and_a_literal_star() {
        let file = PassFile::parse(
            "/run/pg\\:x:5432:*:app:pa\\:ss\\\\word\n\
             \\*:5432:*:app:literal-star\n",
        );
        assert_eq!(file.password("/run/pg:x", 5432, "any", "app"), Some("pa:ss\\word"));
        // `\*` is a host named `*`, not a wildcard.
        assert_eq!(file.password("*", 5432, "any", "app"), Some("literal-star"));
        assert_eq!(file.password("other", 5432, "any", "app"), None);
    }

    #[test]
    fn short_lines_never_match_and_the_password_stops_at_a_colon() {
        let file = PassFile::parse("*:*:*\n*:*:*:*:pw:extra\n");
        assert_eq!(file.password("h", 1, "d", "u"), Some("pw"));
        let empty = PassFile::parse("*:*:*:app\n");
        assert_eq!(empty.password("h", 1, "d", "app"), None);
    }

    #[test]
    fn the_dsn_then_pgpassfile_then_home_name_the_file() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
        };
        let all = env(&[("PGPASSFILE", "/env/pass"), ("HOME", "/home/u")]);
        assert_eq!(path(Some("/dsn/pass"), all), Some(PathBuf::from("/dsn/pass")));
        assert_eq!(path(None, all), Some(PathBuf::from("/env/pass")));
        assert_eq!(
            path(None, env(&[("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.pgpass"))
        );
        assert_eq!(path(None, env(&[])), None);
        // Empty values count as none.
        assert_eq!(
            path(Some(""), env(&[("PGPASSFILE", ""), ("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.pgpass"))
        );
        assert_eq!(path(None, env(&[("HOME", "")])), None);
    }
}
