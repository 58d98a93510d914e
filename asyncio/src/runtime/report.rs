//! The loop's own reports: things that went wrong where no caller can
//! receive an error (a callback that panicked, a destructor that panicked),
//! and debug mode's findings. Like asyncio's default exception handler, they
//! never stop the loop.
//!
//! They go through `tracing` (target `asyncio`) when a subscriber is
//! installed, and to stderr as one line each otherwise.

use std::any::Any;

/// The message of a panic payload, if it is a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// True if a `tracing` subscriber would receive our events.
fn tracing_active() -> bool {
    tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>())
}

/// Sends `message` to the `tracing` subscriber through `event` when there
/// is one, else to stderr after `prefix`.
fn emit(message: &str, event: impl FnOnce(&str), prefix: &str) {
    if tracing_active() {
        event(message);
    } else {
        eprintln!("{prefix}{message}");
    }
}

/// Reports a panic caught in loop-driven code that has no awaiter.
pub(crate) fn callback_panicked(context: &str, payload: &(dyn Any + Send)) {
    let message = format!("exception in {context}: panicked: {}", panic_message(payload));
    internal(&message);
}

/// Reports an unexpected condition inside the engine.
pub(crate) fn internal(message: &str) {
    emit(message, |m| tracing::error!(target: "asyncio", "{m}"), "asyncio: ");
}

/// A warning the program should see (not an engine fault).
pub(crate) fn warning(message: &str) {
    emit(message, |m| tracing::warn!(target: "asyncio", "{m}"), "asyncio: ");
}

/// A debug-mode finding.
pub(crate) fn debug(message: &str) {
    emit(
        message,
        |m| tracing::warn!(target: "asyncio", debug_mode = true, "{m}"),
        "asyncio debug: ",
    );
}
