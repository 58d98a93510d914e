//! How a benchmark binary was asked to run: [`Config`] reads the rounds, smoke
//! mode (`BENCH_SMOKE=1` or `--smoke`, every size shrunk about 1000×) and the
//! name filters from the environment and the command line.

/// How a benchmark binary was asked to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Smoke mode: every size shrunk about 1000×, for CI.
    pub smoke: bool,
    /// Measured rounds per workload and runtime (`BENCH_ROUNDS`, default 7).
    pub rounds: usize,
    /// Substrings from the command line; a workload runs if its name contains
    /// one of them (all run when there are none).
    pub filters: Vec<String>,
}

impl Config {
    /// Reads `BENCH_SMOKE`, `BENCH_ROUNDS` and the command line (`--smoke`,
    /// name filters; other `--flags`, such as the `--bench` that `cargo bench`
    /// passes, are ignored).
    pub fn from_env() -> Config {
        let env_smoke = std::env::var("BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut smoke = env_smoke;
        let mut filters = Vec::new();
        for arg in std::env::args().skip(1) {
            if arg == "--smoke" {
                smoke = true;
            } else if !arg.starts_with('-') {
                filters.push(arg);
            }
        }
        let rounds = match std::env::var("BENCH_ROUNDS") {
            Ok(v) => v.trim().parse::<usize>().ok().filter(|&r| r > 0).unwrap_or_else(|| {
                eprintln!("BENCH_ROUNDS={v:?} is not a positive integer; using 7");
                7
            }),
            Err(_) => 7,
        };
        Config { smoke, rounds, filters }
    }

    /// `full` in a normal run; about `full / 1000` (at least 1) in smoke mode.
    pub fn size(&self, full: usize) -> usize {
        if self.smoke {
            (full / 1000).max(1)
        } else {
            full
        }
    }

    /// Whether the workload called `name` was selected.
    pub fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// The rounds of a bench whose samples are slow: `BENCH_ROUNDS` when it
    /// is set, else 1 in smoke mode and `default` otherwise.
    pub fn rounds_or(&self, default: usize) -> usize {
        if std::env::var_os("BENCH_ROUNDS").is_some() {
            self.rounds
        } else if self.smoke {
            1
        } else {
            default
        }
    }

    /// What the sizes were, for a table's caption: `smoke sizes (1/1000)` or
    /// `full sizes`.
    pub fn sizes_label(&self) -> &'static str {
        if self.smoke {
            "smoke sizes (1/1000)"
        } else {
            "full sizes"
        }
    }
}
