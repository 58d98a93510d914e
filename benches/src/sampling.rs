//! Taking samples: every runtime (or other column) of a workload runs once
//! untimed, then once per round, the runtimes taking turns round-robin with
//! the first to run rotating from round to round ([`round_robin`]);
//! [`measure`] summarises each column's samples and logs them to stderr.

use std::time::Duration;

use crate::stats::Summary;

/// One column's run of a workload: builds what it needs, runs it, and returns
/// the time it took.
pub type Run<'a> = Box<dyn Fn() -> Duration + 'a>;

/// Runs every closure once untimed, then `rounds` rounds in which each runs
/// once, the first to run rotating from round to round; the samples of each.
pub fn round_robin(name: &str, runs: &[Run<'_>], rounds: usize) -> Vec<Vec<Duration>> {
    eprintln!("{name}: warm-up");
    for run in runs {
        run();
    }
    let k = runs.len();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); k];
    for round in 0..rounds {
        for j in 0..k {
            let i = (round + j) % k;
            samples[i].push((runs[i])());
        }
    }
    samples
}

/// [`round_robin`], then each column's samples summarised by `summarise`;
/// logs `name: COLUMN median [min–max], ... unit` to stderr.
pub fn measure(
    name: &str,
    columns: &[&str],
    runs: &[Run<'_>],
    rounds: usize,
    unit: &str,
    summarise: impl Fn(&[Duration]) -> Summary,
) -> Vec<Summary> {
    let samples = round_robin(name, runs, rounds);
    let sums: Vec<Summary> = samples.iter().map(|s| summarise(s)).collect();
    let line: Vec<String> = columns
        .iter()
        .zip(&sums)
        .map(|(n, s)| format!("{n} {}", s.display()))
        .collect();
    eprintln!("{name}: {} {unit}", line.join(", "));
    sums
}
