//! Spinning briefly before sleeping, when another thread is likely to hand
//! the loop work within microseconds.
//!
//! Sleeping in `epoll_wait` costs nothing while idle, but a wake from
//! another thread then pays the kernel's cross-core thread wake-up (about
//! 33 µs one way on this class of machine, `PERF_FLOORS.md`) plus the
//! waker's `eventfd` write. The multi-thread runtimes' workers look for work
//! for a while before they park, so a thread that answers a loop within
//! microseconds (a `to_thread` call, a channel from a worker, a ping-pong)
//! often finds them awake. A loop that spins instead, with its remote queue
//! not marked parked, sees the push at once and the pusher skips the
//! `eventfd` write.
//!
//! Spinning costs a core while it lasts, so it is done only when it is
//! likely to pay: [`SpinPredictor`] keeps a running estimate of the *remote
//! gap*, how long after the loop ran out of work the next item from another
//! thread arrived. The loop spins (at most [`BUDGET`], and never past its
//! next timer) only while that estimate is within the budget; every outcome
//! updates it. While it spins it looks at I/O every [`IO_INTERVAL`] (a
//! non-blocking `epoll_wait`), so sockets are not kept waiting by the spin. A loop whose sleeps end with I/O or timers, or with remote
//! work that comes later than the budget, never spins; an idle loop spins
//! at most once, after its last burst of remote work. A thread that streams
//! work (its items there within a microsecond, spin after spin) makes the
//! loop stop spinning for a while, so that the items pile up into batches
//! instead of coming over one wake each. Single-core machines never spin:
//! the thread that would push is waiting for this core.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// The longest spin before sleeping.
pub(crate) const BUDGET: Duration = Duration::from_micros(100);

/// While spinning, the loop looks at I/O (without sleeping) this often, so
/// a socket that becomes ready waits at most this long.
pub(crate) const IO_INTERVAL: Duration = Duration::from_micros(10);

/// Spins shorter than this are not worth starting (a timer is that close).
const MIN_SPIN: Duration = Duration::from_micros(2);

/// Whether this process may use more than one core (computed once).
fn multi_core() -> bool {
    static CORES: AtomicU8 = AtomicU8::new(0); // 0: unknown, 1: one, 2: more
    match CORES.load(Ordering::Relaxed) {
        0 => {
            let more = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
            CORES.store(if more { 2 } else { 1 }, Ordering::Relaxed);
            more
        }
        c => c == 2,
    }
}

/// A spin that sees remote work sooner than this found a thread that is
/// streaming work, not one waiting for the loop's answer.
const QUICK: Duration = Duration::from_micros(1);

/// The longest run of sleeps without spinning after quick hits.
const MAX_BACKOFF: u32 = 64;

/// The running estimate of the remote gap, and the decision to spin.
#[derive(Debug)]
pub(crate) struct SpinPredictor {
    /// Estimated remote gap in nanoseconds; `u64::MAX` until a remote item
    /// was ever seen arriving.
    gap: Cell<u64>,
    /// Quick hits in a row.
    quick: Cell<u8>,
    /// Sleeps still to take without spinning.
    skip: Cell<u32>,
    /// The length of the last such run (doubling while hits stay quick).
    backoff: Cell<u32>,
    multi_core: bool,
}

impl SpinPredictor {
    pub(crate) fn new() -> Self {
        SpinPredictor::with_cores(multi_core())
    }

    fn with_cores(multi_core: bool) -> Self {
        SpinPredictor {
            gap: Cell::new(u64::MAX),
            quick: Cell::new(0),
            skip: Cell::new(0),
            backoff: Cell::new(0),
            multi_core,
        }
    }

    /// How long to spin before sleeping for at most `timeout` (`None`:
    /// until woken); `None` when not to spin.
    #[inline]
    pub(crate) fn budget(&self, timeout: Option<Duration>) -> Option<Duration> {
        if !self.multi_core || self.gap.get() > BUDGET.as_nanos() as u64 {
            return None;
        }
        if self.skip.get() > 0 {
            self.skip.set(self.skip.get() - 1);
            return None;
        }
        let budget = timeout.map_or(BUDGET, |t| t.min(BUDGET));
        (budget >= MIN_SPIN).then_some(budget)
    }

    /// Whether a sleep that did not end with remote work changes the
    /// estimate (not before any remote work was seen).
    #[inline]
    pub(crate) fn learning(&self) -> bool {
        self.gap.get() != u64::MAX
    }

    /// A spin saw remote work after `after`.
    ///
    /// Two hits in a row within [`QUICK`] mean a thread that streams work
    /// (a producer filling a channel), not one waiting for an answer:
    /// spinning then hands its items over one by one, each with a wake of
    /// its own, where a sleeping loop would find a batch. So the loop then
    /// sleeps without spinning for a run of sleeps, doubling (up to
    /// [`MAX_BACKOFF`]) while hits stay quick.
    pub(crate) fn hit(&self, after: Duration) {
        if after < QUICK {
            self.quick.set(self.quick.get() + 1);
            if self.quick.get() >= 2 {
                self.quick.set(0);
                self.back_off();
            }
        } else {
            self.quick.set(0);
            self.backoff.set(0);
        }
        self.sample(after);
    }

    /// A spin used its whole budget and saw nothing: the next run of sleeps
    /// (doubling, up to [`MAX_BACKOFF`], while spins keep missing) do not
    /// spin. A hit that had to wait ends the back-off.
    pub(crate) fn missed(&self) {
        self.quick.set(0);
        self.back_off();
    }

    fn back_off(&self) {
        let run = (self.backoff.get() * 2).clamp(1, MAX_BACKOFF);
        self.backoff.set(run);
        self.skip.set(run);
    }

    /// A sleep of `waited` ended, after a spin of `spun` (zero if none)
    /// that saw nothing. `remote`: remote work had arrived and no I/O event
    /// came with it, so `spun + waited` is a remote gap (an overestimate by
    /// the wake-up's latency). Otherwise the sleep ended for I/O or a timer:
    /// the gap is at least that long.
    pub(crate) fn slept(&self, spun: Duration, waited: Duration, remote: bool) {
        let gap = spun + waited;
        if remote {
            self.sample(gap);
        } else {
            let ns = duration_ns(gap);
            if ns > self.gap.get() {
                self.gap.set(ns);
            }
        }
    }

    /// Folds one remote gap into the estimate (the mean with the previous
    /// estimate: recent outcomes weigh most, one miss is enough to stop).
    fn sample(&self, gap: Duration) {
        let ns = duration_ns(gap);
        let old = self.gap.get();
        self.gap.set(if old == u64::MAX { ns } else { old / 2 + ns / 2 });
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn never_spins_before_remote_work_was_seen() {
        let p = SpinPredictor::with_cores(true);
        assert_eq!(p.budget(None), None);
        // Sleeps ended by I/O, however short, teach nothing about remote work.
        p.slept(Duration::ZERO, 3 * US, false);
        assert_eq!(p.budget(None), None);
    }

    #[test]
    fn quick_remote_work_turns_spinning_on_and_a_miss_turns_it_off() {
        let p = SpinPredictor::with_cores(true);
        p.slept(Duration::ZERO, 40 * US, true);
        assert_eq!(p.budget(None), Some(BUDGET));
        // Capped by the next timer; not at all if the timer is too close.
        assert_eq!(p.budget(Some(30 * US)), Some(30 * US));
        assert_eq!(p.budget(Some(US)), None);
        p.hit(10 * US);
        assert_eq!(p.budget(None), Some(BUDGET));
        // A spin that saw nothing, then a long sleep: off.
        p.slept(BUDGET, Duration::from_millis(5), false);
        assert_eq!(p.budget(None), None);
    }

    #[test]
    fn slow_remote_work_keeps_it_off() {
        let p = SpinPredictor::with_cores(true);
        for _ in 0..10 {
            p.slept(Duration::ZERO, Duration::from_millis(2), true); // a to_thread job of 2 ms
        }
        assert_eq!(p.budget(None), None);
    }

    #[test]
    fn a_streaming_thread_makes_the_loop_sleep_for_longer_and_longer_runs() {
        let p = SpinPredictor::with_cores(true);
        p.slept(Duration::ZERO, 30 * US, true);
        let mut runs = Vec::new();
        for _ in 0..8 {
            assert_eq!(p.budget(None), Some(BUDGET));
            p.hit(Duration::from_nanos(200));
            assert_eq!(p.budget(None), Some(BUDGET));
            p.hit(Duration::from_nanos(300));
            let mut run = 0;
            while p.budget(None).is_none() {
                run += 1;
                p.slept(Duration::ZERO, 30 * US, true);
            }
            runs.push(run);
        }
        assert_eq!(runs, [1, 2, 4, 8, 16, 32, 64, 64]);
        // A hit that had to wait (a thread answering) ends the back-off.
        p.hit(10 * US);
        p.hit(Duration::from_nanos(200));
        assert_eq!(p.budget(None), Some(BUDGET));
    }

    #[test]
    fn spins_that_miss_back_off() {
        let p = SpinPredictor::with_cores(true);
        p.slept(Duration::ZERO, 5 * US, true);
        let mut runs = Vec::new();
        for _ in 0..4 {
            assert_eq!(p.budget(None), Some(BUDGET));
            p.missed();
            p.slept(BUDGET, Duration::ZERO, true); // it came just after
            let mut run = 0;
            while p.budget(None).is_none() {
                run += 1;
                p.slept(Duration::ZERO, 5 * US, true);
            }
            runs.push(run);
        }
        assert_eq!(runs, [1, 2, 4, 8]);
    }

    #[test]
    fn one_core_never_spins() {
        let p = SpinPredictor::with_cores(false);
        p.hit(US);
        assert_eq!(p.budget(None), None);
    }
}
