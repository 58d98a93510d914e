//! The loop's own error reports: things that went wrong where no caller can
//! receive an error (a callback that panicked, a destructor that panicked).
//! Like asyncio's default exception handler, they are written to stderr and
//! the loop keeps running.

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

/// Reports a panic caught in loop-driven code that has no awaiter.
pub(crate) fn callback_panicked(context: &str, payload: &(dyn Any + Send)) {
    eprintln!("asyncio: exception in {context}: panicked: {}", panic_message(payload));
}

/// Reports an unexpected condition inside the engine.
pub(crate) fn internal(message: &str) {
    eprintln!("asyncio: {message}");
}

/// A warning the program should see (not an engine fault).
pub(crate) fn warning(message: &str) {
    eprintln!("asyncio: {message}");
}

/// A debug-mode report line.
pub(crate) fn debug(message: &str) {
    eprintln!("asyncio debug: {message}");
}
