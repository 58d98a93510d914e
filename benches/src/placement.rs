//! Where a bench's two processes run, for the benches whose load comes from a
//! separate process (the bench binary started again): [`Placement`]
//! unpinned, or pinned with the bench process on one CPU and the client on
//! another (`taskset`, used if it is installed); [`allowed_cpus`] and
//! [`set_affinity`] underneath.

use std::process::{Command, Stdio};

/// Where the server (this process) and the client process run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the scheduler puts them.
    Unpinned,
    /// This process (every thread, later ones included) on `server`, the
    /// client on `client`.
    Pinned {
        /// The server's CPU.
        server: usize,
        /// The client's CPU.
        client: usize,
    },
}

impl Placement {
    /// A caption: `unpinned` or `pinned (server on CPU 0, client on CPU 1)`.
    pub fn label(&self) -> String {
        match self {
            Placement::Unpinned => "unpinned".to_owned(),
            Placement::Pinned { server, client } => format!("pinned (server on CPU {server}, client on CPU {client})"),
        }
    }

    /// The pinned placement on the first two allowed CPUs, if there are two
    /// and `taskset` works here.
    pub fn pinned() -> Option<Placement> {
        let allowed = allowed_cpus();
        let all = cpu_list(&allowed);
        (allowed.len() >= 2 && set_affinity(&all)).then(|| Placement::Pinned {
            server: allowed[0],
            client: allowed[1],
        })
    }

    /// Moves this process onto its CPU (pinned) and returns what to restore
    /// afterwards with [`set_affinity`]: the CPU list it had. `None` when
    /// unpinned.
    ///
    /// # Panics
    /// If `taskset` fails (it worked when [`Placement::pinned`] made this).
    pub fn enter(&self) -> Option<String> {
        match self {
            Placement::Unpinned => None,
            Placement::Pinned { server, .. } => {
                let before = cpu_list(&allowed_cpus());
                assert!(set_affinity(&server.to_string()), "taskset failed");
                Some(before)
            }
        }
    }

    /// The command that starts `exe` as the client: `taskset -c CPU exe`
    /// when pinned.
    pub fn client_command(&self, exe: &std::path::Path) -> Command {
        match self {
            Placement::Unpinned => Command::new(exe),
            Placement::Pinned { client, .. } => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(client.to_string()).arg(exe);
                c
            }
        }
    }
}

/// `0,1,3` for `[0, 1, 3]`.
fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// The CPUs this process may run on (`Cpus_allowed_list` in
/// `/proc/self/status`); empty where that cannot be read.
pub fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")) else {
        return Vec::new();
    };
    parse_cpu_list(list)
}

/// `0-2,5` → `[0, 1, 2, 5]`; malformed parts are skipped.
fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let mut ends = part.split('-').map(|x| x.trim().parse::<usize>());
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), Some(Ok(b))) => cpus.extend(a..=b),
            (Some(Ok(a)), None) => cpus.push(a),
            _ => {}
        }
    }
    cpus
}

/// Sets the CPU list of every thread of this process (`taskset -a -p -c`);
/// threads started later inherit it. False if `taskset` is missing or fails.
pub fn set_affinity(cpus: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("1"), vec![1]);
        assert_eq!(parse_cpu_list("x,3"), vec![3]);
        assert_eq!(cpu_list(&[0, 1, 3]), "0,1,3");
    }
}
