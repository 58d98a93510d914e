//! The loop's clock: real monotonic time, or a paused virtual clock for
//! tests that jumps to the next timer whenever every task is waiting.
//!
//! Time is kept as `std::time::Instant`s; the timer wheel counts 1 ms ticks
//! from the clock's origin. Deadlines round *up* to a tick and the current
//! time rounds *down*, so a timer never fires before its deadline.
//!
//! # Long timers and the coarse clock
//!
//! Reading the precise clock costs about 22 ns here (`clock_gettime` in the
//! vDSO). Sleeps and timeouts read none when armed (they are staged: see
//! `Core::timer_stage`), but `call_later` returns its deadline at once
//! (`TimerHandle::when`). For a long delay a deadline a few milliseconds
//! late is as good as an exact one — the Linux kernel's own timer wheel
//! lets a timer's precision fall with its distance in the same way. So on
//! Linux a `call_later` delay of at least [`COARSE_MIN_FACTOR`] times the
//! coarse clock's resolution (about 2 s at the usual 250 Hz tick) gets its
//! deadline from
//! `CLOCK_MONOTONIC_COARSE` (about 4 ns, the time of the kernel's last
//! timekeeping update), padded so that it is not early:
//!
//! * The loop keeps an *anchor*: a coarse reading `c0`, then a precise one
//!   `p` right after it (refreshed once per turn, when timers are fired).
//!   The coarse clock never runs ahead of the precise one, so `c0 <= p`.
//! * Arming reads the coarse clock again, `c1`. The real time `r` is less
//!   than `c1 + lag`, where `lag` bounds how far the coarse clock trails.
//!   The kernel advances it in whole ticks and carries the rest, so it
//!   trails by up to two ticks in steady state; we allow four (a tick
//!   delayed beyond that, as a host that stops the virtual machine can do,
//!   is not covered: a heuristic bound, not a guarantee). Hence
//!   `r - p <= (c1 + lag) - c0`, and `p + (c1 - c0) + lag + d` is at least
//!   `r + d`.
//!
//! The cost is lateness: at most about five ticks (20 ms at 250 Hz, under
//! 1% of the shortest duration that takes this path). A paused (virtual)
//! clock, shorter delays, explicit deadlines and other systems take the
//! precise clock.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// `call_later` delays of at least this many coarse-clock resolutions take
/// their deadline from the coarse clock (see the module's documentation).
pub(crate) const COARSE_MIN_FACTOR: u32 = 512;

/// How many coarse-clock resolutions a coarse deadline is padded by.
const COARSE_LAG_TICKS: u32 = 4;

/// The coarse clock's resolution above which it is not used at all.
const COARSE_MAX_RESOLUTION: Duration = Duration::from_millis(10);

pub(crate) struct Clock {
    origin: Instant,
    /// Added to real time while running; grows when virtual time is resumed
    /// ahead of real time.
    offset: Cell<Duration>,
    /// `Some(now)` while paused.
    paused: Cell<Option<Instant>>,
    /// How far the coarse clock may trail the precise one
    /// ([`COARSE_LAG_TICKS`] of its ticks, in ns), and the shortest duration
    /// that takes the coarse path;
    /// `None` where there is no usable coarse clock.
    coarse: Option<(u64, Duration)>,
    /// A coarse reading (ns), and the clock's time (`now()`, offset
    /// included) read after it, as nanoseconds since `origin`; `None` until
    /// the first good reading, or after a failed one.
    anchor: Cell<Option<(u64, u64)>>,
    /// The last time read (offset included): what [`recent`](Self::recent)
    /// gives.
    last: Cell<Instant>,
}

impl Clock {
    pub(crate) fn new(paused: bool) -> Self {
        let coarse = coarse_resolution()
            .filter(|res| !res.is_zero() && *res <= COARSE_MAX_RESOLUTION)
            .map(|res| {
                (
                    res.as_nanos() as u64 * u64::from(COARSE_LAG_TICKS),
                    res * COARSE_MIN_FACTOR,
                )
            });
        let c0 = coarse.and_then(|_| coarse_now());
        let origin = Instant::now();
        Clock {
            origin,
            offset: Cell::new(Duration::ZERO),
            paused: Cell::new(paused.then_some(origin)),
            coarse,
            anchor: Cell::new(c0.map(|c0| (c0, 0))),
            last: Cell::new(origin),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        match self.paused.get() {
            Some(t) => t,
            None => {
                let now = Instant::now() + self.offset.get();
                self.last.set(now);
                now
            }
        }
    }

    /// The last time this clock was read, with no read: the loop reads it
    /// once per turn (when it fires timers), so this is at most one turn
    /// old and never later than [`now`](Self::now). Exact while paused.
    pub(crate) fn recent(&self) -> Instant {
        match self.paused.get() {
            Some(t) => t,
            None => self.last.get(),
        }
    }

    /// The time since the origin, refreshing the coarse clock's anchor
    /// (the loop calls this once per turn).
    pub(crate) fn since_origin_anchored(&self) -> Duration {
        match self.paused.get() {
            Some(t) => t.saturating_duration_since(self.origin),
            None => {
                let c0 = self.coarse.and_then(|_| coarse_now());
                let now = Instant::now() + self.offset.get();
                self.last.set(now);
                let since = now.saturating_duration_since(self.origin);
                self.anchor.set(c0.map(|c0| (c0, since.as_nanos() as u64)));
                since
            }
        }
    }

    /// The deadline `duration` from now and its tick (as
    /// [`deadline_tick`](Self::deadline_tick) gives), if this clock can give
    /// them without reading the precise time: a running clock, and a
    /// duration long enough for the coarse clock (see the module's
    /// documentation). The deadline is not earlier than the precise
    /// `now() + duration` (within the coarse clock's lag bound the module
    /// documents), and lies in the future.
    #[inline]
    pub(crate) fn coarse_deadline(&self, duration: Duration) -> Option<(Instant, u64)> {
        let (lag, min) = self.coarse?;
        if duration < min || self.paused.get().is_some() {
            return None;
        }
        let (c0, p) = self.anchor.get()?;
        let c1 = coarse_now()?;
        // `c1 >= c0`: the coarse clock is monotonic.
        let ns = u64::try_from(duration.as_nanos())
            .ok()?
            .checked_add(p + c1.saturating_sub(c0) + lag)?;
        let deadline = self.origin.checked_add(Duration::from_nanos(ns))?;
        Some((deadline, tick_ceil(ns)))
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.get().is_some()
    }

    /// Pauses at the next tick boundary (less than 1 ms ahead), so that
    /// virtual sleeps end exactly at their deadlines.
    pub(crate) fn pause(&self) {
        if self.paused.get().is_none() {
            let now = self.now();
            self.paused.set(Some(self.tick_instant(self.deadline_tick(now))));
        }
    }

    pub(crate) fn resume(&self) {
        if let Some(t) = self.paused.take() {
            let real = Instant::now();
            self.offset.set(t.saturating_duration_since(real));
            // The anchor holds the offset it was read with.
            self.since_origin_anchored();
        }
    }

    /// Moves a paused clock forward. Returns false if the clock is running.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        match self.paused.get() {
            Some(t) => {
                self.paused.set(Some(t + by));
                true
            }
            None => false,
        }
    }

    /// Moves a paused clock forward to `to`, if later.
    pub(crate) fn advance_to(&self, to: Instant) {
        if let Some(t) = self.paused.get() {
            if to > t {
                self.paused.set(Some(to));
            }
        }
    }

    /// The tick at which a timer due at `deadline` fires (rounded up).
    pub(crate) fn deadline_tick(&self, deadline: Instant) -> u64 {
        let d = deadline.saturating_duration_since(self.origin);
        let ms = d.as_millis() as u64;
        if d > Duration::from_millis(ms) {
            ms + 1
        } else {
            ms
        }
    }

    /// The instant a tick starts.
    pub(crate) fn tick_instant(&self, tick: u64) -> Instant {
        self.origin + Duration::from_millis(tick)
    }
}

/// The tick at which a timer due `ns` nanoseconds after the clock's origin
/// fires (rounded up, as [`Clock::deadline_tick`]).
#[inline]
pub(crate) fn tick_ceil(ns: u64) -> u64 {
    ns.div_ceil(1_000_000)
}

/// `CLOCK_MONOTONIC_COARSE`: the monotonic time of the kernel's last tick.
/// (Through the C library, whose vDSO call degrades to a system call under
/// tools that hide the vDSO, such as valgrind.)
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn coarse_now() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration;
    // the clock id is a constant the kernel has had since 2.6.32.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    timespec_duration(r, &ts).map(|d| d.as_nanos() as u64)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[inline]
fn coarse_now() -> Option<u64> {
    None
}

/// The coarse clock's resolution (its tick), if the system has one.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn coarse_resolution() -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: as in `coarse_now`.
    let r = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    timespec_duration(r, &ts)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn coarse_resolution() -> Option<Duration> {
    None
}

/// A successful call's timespec as a duration.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn timespec_duration(r: i32, ts: &libc::timespec) -> Option<Duration> {
    let sec = u64::try_from(ts.tv_sec).ok()?;
    let nsec = u32::try_from(ts.tv_nsec).ok().filter(|n| *n < 1_000_000_000)?;
    (r == 0).then(|| Duration::new(sec, nsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortest duration on the coarse path, if this system has one.
    fn coarse_min(clock: &Clock) -> Option<Duration> {
        clock.coarse.map(|(_, min)| min)
    }

    #[test]
    fn coarse_deadlines_are_never_early_and_at_most_a_few_ticks_late() {
        let clock = Clock::new(false);
        let Some(min) = coarse_min(&clock) else {
            eprintln!("no coarse clock on this system: nothing to check");
            return;
        };
        let (lag, _) = clock.coarse.unwrap();
        for i in 0..20_000u32 {
            if i % 100 == 0 {
                // As the loop does once per turn.
                clock.since_origin_anchored();
            }
            let d = min + Duration::from_micros(u64::from(i) * 37);
            let before = clock.now();
            let (deadline, tick) = clock.coarse_deadline(d).expect("a long duration takes the coarse path");
            let after = clock.now();
            assert!(deadline >= before + d, "early by {:?}", (before + d) - deadline);
            // Late by the padding (two ticks) plus the anchor's age as the
            // coarse clock sees it (under a tick, but this thread may be
            // preempted anywhere here: a loose bound).
            let late = deadline.saturating_duration_since(after + d);
            assert!(
                late <= Duration::from_nanos(lag) + Duration::from_millis(200),
                "late by {late:?}"
            );
            assert_eq!(
                tick,
                clock.deadline_tick(deadline),
                "the tick is the deadline's, rounded up"
            );
        }
    }

    #[test]
    fn short_durations_paused_clocks_and_no_anchor_read_the_precise_clock() {
        let clock = Clock::new(false);
        let Some(min) = coarse_min(&clock) else { return };
        assert!(clock.coarse_deadline(min - Duration::from_nanos(1)).is_none());
        assert!(clock.coarse_deadline(Duration::from_millis(1)).is_none());
        assert!(clock.coarse_deadline(min).is_some());
        // An overflowing deadline is not the coarse path's to give.
        assert!(clock.coarse_deadline(Duration::MAX).is_none());
        let paused = Clock::new(true);
        assert!(paused.coarse_deadline(Duration::from_secs(3600)).is_none());
        // Resumed ahead of real time: the anchor carries the offset.
        paused.advance(Duration::from_secs(10));
        paused.resume();
        let before = paused.now();
        let (deadline, _) = paused.coarse_deadline(min).unwrap();
        assert!(deadline >= before + min);
    }

    #[test]
    fn the_resolution_in_use_is_the_kernels_tick() {
        let clock = Clock::new(false);
        if let Some((lag, min)) = clock.coarse {
            // Four ticks of padding; 512 ticks the shortest coarse duration.
            assert_eq!(Duration::from_nanos(lag) * (COARSE_MIN_FACTOR / COARSE_LAG_TICKS), min);
            assert!(Duration::from_nanos(lag / u64::from(COARSE_LAG_TICKS)) <= COARSE_MAX_RESOLUTION);
        }
    }
}
