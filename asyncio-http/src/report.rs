//! Where the server's own reports go: `tracing` when a subscriber is
//! installed, stderr otherwise (as the runtime's debug reports), so a
//! panicking handler or a lost background job is never silent.

use std::any::Any;
use std::fmt;

/// Reports an error the server handled but the operator should see.
pub(crate) fn error(msg: fmt::Arguments<'_>) {
    if tracing::dispatcher::has_been_set() {
        tracing::error!("{msg}");
    } else {
        eprintln!("{msg}");
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
