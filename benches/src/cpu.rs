//! CPU accounting: [`CpuUsage`], what this process has used of the CPU so far
//! (`utime + stime` from `/proc/self/stat`, the scheduler's per-thread
//! nanoseconds and context switches), read before and after an interval (the
//! `tcp_echo` and `idle` benches). Linux only; zeros elsewhere.

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat`: the
/// kernel's `USER_HZ`, 100 on every Linux architecture this runs on (what
/// `getconf CLK_TCK` prints; reading it needs libc, which this crate does
/// not link).
pub const CLOCK_TICKS_PER_SEC: u64 = 100;

/// What a process has used of the CPU so far, read from `/proc/self`:
/// [`CpuUsage::now`]; subtract two readings for an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuUsage {
    /// `utime + stime` of the whole process (`/proc/self/stat`, every thread,
    /// exited ones included), in clock ticks of 10 ms.
    pub ticks: u64,
    /// Time on a CPU summed over the live threads (`/proc/self/task/*/schedstat`,
    /// the scheduler's own nanosecond count): precise, but a thread that exited
    /// in between takes its share with it.
    pub on_cpu_ns: u64,
    /// Voluntary context switches summed over the live threads: how often a
    /// thread went to sleep (each one a wake-up later).
    pub voluntary_switches: u64,
    /// Involuntary context switches (preemptions) summed over the live threads.
    pub involuntary_switches: u64,
    /// Live threads.
    pub threads: u64,
}

impl CpuUsage {
    /// The reading now. Zero fields where `/proc` cannot be read (not Linux).
    pub fn now() -> CpuUsage {
        let mut u = CpuUsage {
            ticks: std::fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|s| stat_ticks(&s))
                .unwrap_or(0),
            ..CpuUsage::default()
        };
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return u;
        };
        for task in tasks.flatten() {
            let dir = task.path();
            // A thread may exit between the listing and the reads: skip it.
            let Ok(sched) = std::fs::read_to_string(dir.join("schedstat")) else {
                continue;
            };
            u.threads += 1;
            u.on_cpu_ns += sched
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if let Ok(status) = std::fs::read_to_string(dir.join("status")) {
                for line in status.lines() {
                    let field = |name: &str| {
                        line.strip_prefix(name)
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .unwrap_or(0)
                    };
                    u.voluntary_switches += field("voluntary_ctxt_switches:");
                    u.involuntary_switches += field("nonvoluntary_ctxt_switches:");
                }
            }
        }
        u
    }

    /// What was used between `earlier` and `self` (`threads` is `self`'s).
    pub fn since(&self, earlier: &CpuUsage) -> CpuUsage {
        CpuUsage {
            ticks: self.ticks.saturating_sub(earlier.ticks),
            on_cpu_ns: self.on_cpu_ns.saturating_sub(earlier.on_cpu_ns),
            voluntary_switches: self.voluntary_switches.saturating_sub(earlier.voluntary_switches),
            involuntary_switches: self.involuntary_switches.saturating_sub(earlier.involuntary_switches),
            threads: self.threads,
        }
    }

    /// `ticks` in milliseconds.
    pub fn ticks_ms(&self) -> f64 {
        self.ticks as f64 * 1000.0 / CLOCK_TICKS_PER_SEC as f64
    }
}

/// `utime + stime` from the text of `/proc/<pid>/stat`: fields 14 and 15,
/// counted after the command name, which is in parentheses and may itself
/// hold spaces and parentheses.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn proc_stat_ticks_skip_the_command_name() {
        // utime 7 and stime 5 are fields 14 and 15; the name holds spaces and
        // a parenthesis.
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 10 0 0";
        assert_eq!(stat_ticks(stat), Some(12));
        assert_eq!(stat_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn cpu_usage_counts_this_thread() {
        let before = CpuUsage::now();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let used = CpuUsage::now().since(&before);
        if cfg!(target_os = "linux") {
            assert!(used.threads >= 1);
            assert!(
                used.on_cpu_ns >= 1_000_000,
                "30 ms of spinning showed {} ns on CPU",
                used.on_cpu_ns
            );
        }
    }
}
