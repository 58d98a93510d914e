//! Debug mode's stall backtraces without the `stall-backtrace` feature: the
//! same surface as `stall_trace`, capturing nothing, so a stall report goes
//! without the loop thread's stack (and no symbolizer is compiled in).

/// A thread that could be asked for its backtrace (not, here).
#[derive(Clone, Copy)]
pub(crate) struct ThreadHandle;

impl ThreadHandle {
    /// The calling thread.
    pub(crate) fn current() -> ThreadHandle {
        ThreadHandle
    }
}

/// Nothing is ever in flight.
pub(crate) fn quiesce() {}

/// No capture without the feature.
pub(crate) fn capture(_thread: ThreadHandle, _still_stuck: impl FnOnce() -> bool) -> Option<Vec<usize>> {
    None
}

/// Never called: [`capture`] gives no frames to symbolize.
pub(crate) fn symbolize(ips: &[usize]) -> String {
    ips.iter().map(|ip| format!("{ip:#x}\n")).collect()
}
