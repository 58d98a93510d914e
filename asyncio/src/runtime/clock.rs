//! The loop's clock: real monotonic time, or a paused virtual clock for
//! tests that jumps to the next timer whenever every task is waiting.
//!
//! Time is kept as `std::time::Instant`s; the timer wheel counts 1 ms ticks
//! from the clock's origin. Deadlines round *up* to a tick and the current
//! time rounds *down*, so a timer never fires before its deadline.

use std::cell::Cell;
use std::time::{Duration, Instant};

pub(crate) struct Clock {
    origin: Instant,
    /// Added to real time while running; grows when virtual time is resumed
    /// ahead of real time.
    offset: Cell<Duration>,
    /// `Some(now)` while paused.
    paused: Cell<Option<Instant>>,
}

impl Clock {
    pub(crate) fn new(paused: bool) -> Self {
        let origin = Instant::now();
        Clock {
            origin,
            offset: Cell::new(Duration::ZERO),
            paused: Cell::new(paused.then_some(origin)),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        match self.paused.get() {
            Some(t) => t,
            None => Instant::now() + self.offset.get(),
        }
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

    /// The tick of the current time (rounded down).
    pub(crate) fn now_tick(&self) -> u64 {
        self.now().saturating_duration_since(self.origin).as_millis() as u64
    }

    /// The instant a tick starts.
    pub(crate) fn tick_instant(&self, tick: u64) -> Instant {
        self.origin + Duration::from_millis(tick)
    }
}
