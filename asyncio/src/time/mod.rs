//! Time: sleeping, timeouts, intervals, and the virtual clock for tests.
//!
//! | asyncio | here |
//! |---|---|
//! | `await asyncio.sleep(s)` | [`sleep`]`(d).await` |
//! | `await asyncio.sleep(0)` | [`yield_now`](crate::yield_now)`().await` |
//! | `await asyncio.wait_for(aw, s)`, `async with asyncio.timeout(s)` | [`timeout`]`(d, fut).await` |
//! | `asyncio.timeout_at(when)` | [`timeout_at`] |
//! | `loop.time()` | [`Instant::now`] |
//!
//! Timers live in a hierarchical wheel with 1 ms resolution: inserting and
//! cancelling are O(1), and an idle loop sleeps in the kernel until the next
//! deadline.
//!
//! # Precision
//!
//! A timer never fires before its deadline. It fires at the first loop turn
//! after it, its deadline rounded up to the next millisecond. How the
//! deadline of a timer given as a duration is taken:
//!
//! * A [`sleep`] or [`timeout`], on a running clock: from the clock reading
//!   the loop makes when the current batch of ready callbacks ends (one read
//!   for all the timers armed in the batch, instead of one each). That
//!   reading is no earlier than the call, so the timer may run late by the
//!   rest of the batch (microseconds, unless a callback blocks the loop);
//!   [`Sleep::deadline`] is unknown until then. A timeout whose future
//!   finishes within the same batch (the common case: a reply that was
//!   already on its way) is cancelled before it ever reaches the timer
//!   wheel.
//! * A [`call_later`](crate::EventLoop::call_later), whose
//!   [`when`](crate::TimerHandle::when) is known at once: of a long delay
//!   (Linux: at least 512 ticks of the kernel's coarse clock, 2.05 s at the
//!   common 250 Hz, 0.51 s at 1000 Hz), from that coarse clock, which is
//!   four times cheaper to read than the precise one, padded by four of its
//!   ticks so that it is not early (the kernel's tick can be delayed past
//!   that by a host that stops the virtual machine, as any clock can jump):
//!   it may run up to five ticks (20 ms at 250 Hz, under 1% of the delay)
//!   later than an exact one, as the Linux kernel's own timers trade
//!   precision for distance. A shorter delay reads the precise clock.
//! * Explicit deadlines ([`sleep_until`], [`timeout_at`]) and the virtual
//!   clock are exact.
//!
//! # Virtual time
//!
//! A loop built with [`Runner::virtual_time`](crate::Runner::virtual_time)
//! (or after [`pause`]) runs on a paused clock: whenever no task is ready and
//! no I/O is pending, the clock jumps straight to the next timer, so a test
//! that sleeps an hour takes no real time. [`advance`] moves it by hand.
//! Real I/O and threads keep real time, so a virtual-time test should not
//! race a timer against them.
//!
//! ```
//! use std::time::Duration;
//! asyncio::Runner::new().virtual_time(true).run(async {
//!     let real = std::time::Instant::now();
//!     asyncio::sleep(Duration::from_secs(3600)).await;
//!     assert!(real.elapsed() < Duration::from_secs(1));
//! });
//! ```

mod instant;
mod interval;
mod sleep;
mod timeout;

pub use instant::Instant;
pub use interval::{interval, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub(crate) use timeout::timeout_error;
pub use timeout::{timeout, timeout_at, Timeout, TimeoutError};

use std::time::Duration;

use crate::runtime::context;

/// Pauses the running loop's clock: from now on it is virtual and jumps to
/// the next timer whenever every task is waiting.
///
/// # Panics
/// With no running event loop on the thread.
pub fn pause() {
    context::expect_core("asyncio::time::pause", |core| core.pause_clock());
}

/// Resumes real time after [`pause`]; the clock continues from the virtual
/// time reached (it never goes backwards).
///
/// # Panics
/// With no running event loop on the thread.
pub fn resume() {
    context::expect_core("asyncio::time::resume", |core| core.clock.resume());
}

/// True if the running loop's clock is virtual (paused).
pub fn is_paused() -> bool {
    context::with_core(|core| core.is_some_and(|c| c.clock.is_paused()))
}

/// Moves a paused clock forward by `by`, then lets the loop fire the timers
/// that came due (the caller resumes after them).
///
/// # Cancel safety
/// The clock moves at the first poll; dropping the future afterwards only
/// skips the yield.
///
/// # Panics
/// With no running loop, or if the clock is not paused.
pub async fn advance(by: Duration) {
    context::expect_core("asyncio::time::advance", |core| {
        assert!(
            core.clock.advance(by),
            "asyncio::time::advance needs a paused clock (see asyncio::time::pause)"
        );
        core.fire_timers();
    });
    crate::yield_now().await;
}
