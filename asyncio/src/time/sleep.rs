//! [`sleep`] and [`sleep_until`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Instant;
use crate::runtime::context;
use crate::runtime::timer::{TimerAction, TimerKey};

/// Waits for `duration`, as `await asyncio.sleep(seconds)`.
///
/// The deadline counts from when the sleep is first polled (when the
/// `await` starts), as in asyncio: on a running clock, from the loop's clock
/// reading at the end of the batch of ready callbacks that first poll ran
/// in, never before it (see [`crate::time`]'s "Precision"). `sleep(Duration::ZERO)` still yields to the
/// other ready tasks once, like `asyncio.sleep(0)`; see also
/// [`yield_now`](crate::yield_now). Resolution is one millisecond; a sleep
/// never ends early.
///
/// # Cancel safety
/// Cancel safe: dropping the sleep cancels its timer.
///
/// # Panics
/// When polled with no running event loop on the thread.
///
/// ```
/// use std::time::Duration;
/// asyncio::run(async {
///     let start = asyncio::time::Instant::now();
///     asyncio::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: None,
        duration,
        entry: None,
        done: false,
        yielded: false,
    }
}

/// Waits until `deadline` on the loop's clock.
///
/// # Cancel safety
/// Cancel safe: dropping the sleep cancels its timer.
///
/// # Panics
/// When polled with no running event loop on the thread.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Some(deadline),
        duration: Duration::ZERO,
        entry: None,
        done: false,
        yielded: true,
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: TimerKey,
    loop_id: usize,
}

/// The future of [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Option<Instant>,
    duration: Duration,
    entry: Option<Entry>,
    done: bool,
    yielded: bool,
}

impl Sleep {
    /// The deadline, once known: for [`sleep_until`], always; for a
    /// [`sleep`] on a virtual clock, or of zero length, from its first poll
    /// on. Any other `sleep` on a running clock takes its deadline from the
    /// loop's clock reading at the end of the batch of its first poll (see
    /// [`crate::time`]'s "Precision"); from then on this is the instant it
    /// fires at (its millisecond tick), kept once the sleep has been polled
    /// again.
    pub fn deadline(&self) -> Option<Instant> {
        if self.deadline.is_some() {
            return self.deadline;
        }
        let e = self.entry?;
        context::with_core(|core| {
            core.filter(|c| c.id() == e.loop_id)
                .and_then(|c| c.timer_due(e.key))
                .map(Instant)
        })
    }

    /// A zero-length sleep that completes at once instead of yielding (for
    /// timeouts, where a zero timeout means "already expired").
    pub(crate) fn no_zero_yield(mut self) -> Self {
        self.yielded = true;
        self
    }

    /// True once the sleep has completed.
    pub fn is_elapsed(&self) -> bool {
        self.done
    }

    /// Moves the deadline, re-arming a completed sleep.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel_timer();
        self.deadline = Some(deadline);
        self.done = false;
        self.yielded = true;
    }

    /// Removes the timer if one is armed. Inlined, so that a sleep that
    /// never armed one (a [`timeout`](crate::timeout) whose future was
    /// ready at once) drops with no call.
    #[inline]
    fn cancel_timer(&mut self) {
        if let Some(e) = self.entry.take() {
            Self::remove_entry(e);
        }
    }

    fn remove_entry(e: Entry) {
        context::with_core(|core| {
            if let Some(core) = core.filter(|c| c.id() == e.loop_id) {
                core.timer_remove(e.key);
            }
            // Otherwise the loop is gone or elsewhere: the entry fires
            // later and wakes nobody that cares.
        });
    }

    /// Polls the sleep without pinning (it is `Unpin`).
    pub fn poll_sleep(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        context::expect_core("asyncio::sleep", |core| {
            if let Some(e) = self.entry {
                if e.loop_id == core.id() {
                    if core.timer_set_waker(e.key, cx.waker()) {
                        if self.deadline.is_none() {
                            // A staged sleep's deadline, once taken.
                            self.deadline = core.timer_due(e.key).map(Instant);
                        }
                        return Poll::Pending;
                    }
                    self.entry = None;
                    self.done = true;
                    return Poll::Ready(());
                }
                // Moved to another loop: re-register there.
                self.entry = None;
            }
            // A duration on a running clock is staged: its deadline is taken
            // from the clock reading the loop makes when this batch ends (no
            // read here; never early, late by the rest of the batch). A
            // timeout cancelled before then (its future finished first, the
            // common case) never reaches the wheel. An explicit deadline, a
            // zero duration or a paused clock (free to read, and movable
            // mid-turn) read the clock here.
            let key = match self.deadline {
                None if !self.duration.is_zero() && !core.clock.is_paused() => {
                    Some(core.timer_stage(self.duration, TimerAction::Wake(cx.waker().clone())))
                }
                _ => None,
            };
            let key = match key {
                Some(key) => key,
                None => {
                    let now = core.clock.now();
                    let deadline = *self.deadline.get_or_insert(Instant(now + self.duration));
                    if deadline.0 <= now {
                        if !self.yielded {
                            self.yielded = true;
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        self.done = true;
                        return Poll::Ready(());
                    }
                    core.timer_insert(deadline.0, TimerAction::Wake(cx.waker().clone()))
                }
            };
            self.entry = Some(Entry {
                key,
                loop_id: core.id(),
            });
            Poll::Pending
        })
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_sleep(cx)
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        self.cancel_timer();
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::Poll;
    use std::time::Duration;

    use crate::runtime::context;

    /// Whether the running loop has a staged timer, and its wheel's next
    /// deadline.
    fn timers() -> (bool, Option<u64>) {
        context::expect_core("test", |core| core.timer_state())
    }

    /// A timeout of any length whose future finishes within the batch it
    /// was armed in (pending once, then ready) is cancelled off the staged
    /// list: it never enters the wheel.
    #[test]
    fn a_timeout_done_within_its_batch_never_enters_the_wheel() {
        crate::run(async {
            for d in [
                Duration::from_millis(1),
                Duration::from_secs(60),
                Duration::from_secs(365 * 86_400),
            ] {
                let mut polls = 0;
                let inner = poll_fn(|cx| {
                    polls += 1;
                    if polls == 1 {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    // Polled again in the same batch: the timer still waits
                    // on the staged list, not in the wheel.
                    assert_eq!(timers(), (true, None), "{d:?}: staged, not in the wheel");
                    Poll::Ready(())
                });
                assert!(crate::timeout(d, inner).await.is_ok());
                assert_eq!(timers(), (false, None), "{d:?}: cancelled, nothing left");
            }
            // One that outlives its batch gets its deadline when the batch
            // ends, and waits in the wheel from then on.
            let mut t = std::pin::pin!(crate::timeout(Duration::from_secs(60), std::future::pending::<()>()));
            assert!(futures_lite::future::poll_once(t.as_mut()).await.is_none());
            assert_eq!(timers(), (true, None));
            crate::sleep(Duration::from_micros(100)).await;
            let (staged, next) = timers();
            assert!(!staged);
            // (The wheel reports the start of the slot a timer waits in: for
            // a 60 s deadline, a level-2 slot of 4,096 ticks.)
            assert!(next.is_some_and(|tick| tick >= 60_000 - 4_096), "{next:?}");
        });
    }
}
