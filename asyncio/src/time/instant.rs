//! [`Instant`]: a point on the loop's clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

use crate::runtime::context;

/// A point in time on the event loop's clock.
///
/// Like `std::time::Instant`, except that [`Instant::now`] reads the running
/// loop's clock, which is virtual (paused, jumping to the next timer) under
/// [`Runner::virtual_time`](crate::Runner::virtual_time). With no running
/// loop it reads real time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub(crate) std::time::Instant);

impl Instant {
    /// The running loop's current time (`loop.time()`).
    pub fn now() -> Instant {
        Instant(context::with_core(|core| match core {
            Some(core) => core.clock.now(),
            None => std::time::Instant::now(),
        }))
    }

    /// The time the running loop last read its clock, without reading it:
    /// the loop reads it at least once per turn, so this is at most one
    /// turn old (the time its ready callbacks have run so far), never later
    /// than [`now`](Self::now), and exact under virtual time. libuv's
    /// `uv_now` (and so uvloop's) is this cached time.
    ///
    /// For time stamps where a turn's staleness is immaterial: when a
    /// request began, the start of an idle period measured in seconds.
    /// Reading the clock costs about 22 ns on Linux; this, a few loads. A
    /// deadline computed from it may come up to a turn early: [`sleep`]
    /// and [`timeout`] use exact (or later) deadlines. With no loop on the
    /// thread it reads real time; a loop that is not running (being closed)
    /// gives its last reading.
    ///
    /// [`sleep`]: crate::sleep
    /// [`timeout`]: crate::timeout
    pub fn recent() -> Instant {
        Instant(context::with_core(|core| match core {
            Some(core) => core.clock.recent(),
            None => std::time::Instant::now(),
        }))
    }

    /// Wraps a `std::time::Instant`.
    pub fn from_std(t: std::time::Instant) -> Instant {
        Instant(t)
    }

    /// The `std::time::Instant` this is.
    pub fn into_std(self) -> std::time::Instant {
        self.0
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// Time from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// Time since `self` on the loop's clock.
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(*self)
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0 + d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.0 += d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0 - d)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        self.0 -= d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, other: Instant) -> Duration {
        self.duration_since(other)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(t: std::time::Instant) -> Self {
        Instant(t)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(t: Instant) -> Self {
        t.0
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
