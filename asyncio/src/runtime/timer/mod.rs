//! Timers: the [`wheel`] stores them; this module maps instants to ticks and
//! says what a timer does when it fires.

pub(crate) mod wheel;

use std::rc::Rc;
use std::task::Waker;

use super::core::CallbackCell;

pub(crate) use wheel::{TimerKey, Wheel};

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    /// Wake a task (a `sleep`, a `timeout`, an `interval`).
    Wake(Waker),
    /// Queue a `call_later`/`call_at` callback.
    Call(Rc<CallbackCell>),
}
