//! [`interval`]: a periodic timer.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{sleep_until, Instant, Sleep};

/// What an [`Interval`] does when ticks were missed (the loop was busy for
/// longer than a period).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up (the default).
    #[default]
    Burst,
    /// Fire once now and keep the period from now on.
    Delay,
    /// Fire once now and skip to the next tick of the original schedule.
    Skip,
}

/// A timer that fires every `period`; the first tick completes at once.
///
/// # Panics
/// If `period` is zero.
///
/// ```
/// use std::time::Duration;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let mut every = asyncio::interval(Duration::from_millis(100));
///     let start = every.tick().await;
///     let second = every.tick().await;
///     assert_eq!(second - start, Duration::from_millis(100));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        next: None,
        period,
        sleep: None,
        missed: MissedTickBehavior::default(),
    }
}

/// The timer of [`interval`].
#[derive(Debug)]
pub struct Interval {
    next: Option<Instant>,
    period: Duration,
    sleep: Option<Sleep>,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled time.
    ///
    /// # Cancel safety
    /// Cancel safe: a tick that was not returned is not lost.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let now = Instant::now();
        let due = *self.next.get_or_insert(now);
        if due > now {
            let sleep = self.sleep.get_or_insert_with(|| sleep_until(due));
            if sleep.deadline() != Some(due) {
                sleep.reset(due);
            }
            if sleep.poll_sleep(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let late = now.duration_since(due) > self.period;
        self.next = Some(match (self.missed, late) {
            (MissedTickBehavior::Delay, true) => now + self.period,
            (MissedTickBehavior::Skip, true) => {
                let behind = now.duration_since(due).as_nanos() / self.period.as_nanos();
                due + self.period * (behind as u32 + 1)
            }
            _ => due + self.period,
        });
        Poll::Ready(due)
    }

    /// Sets the missed-tick behaviour.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.next = Some(Instant::now() + self.period);
    }
}
