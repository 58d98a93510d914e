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

/// Reports a handler's panic: the request, the task it ran in (the
/// connection's), and the panic's message. The client gets a bare `500`.
pub(crate) fn handler_panicked(method: &http::Method, path: &str, msg: &str) {
    let task = asyncio::current_task().map_or_else(|| "<no task>".to_owned(), |t| t.get_name());
    error(format_args!(
        "asyncio-http: handler for {method} {path} panicked in task {task:?}: {msg}"
    ));
}
