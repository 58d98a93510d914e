//! The backtrace of a stuck loop thread, for debug mode's stall report
//! (Linux; elsewhere the report goes without one).
//!
//! The watchdog cannot walk another thread's stack, so it asks the thread
//! to walk its own: it sends it `SIGURG` (ignored by default), whose handler
//! records the return addresses of its stack in a static buffer of atomics,
//! without allocating or locking. The watchdog waits briefly for the
//! handler to finish, then turns the addresses into symbols on its own
//! thread, where allocating is fine. glommio's stall detector is built the
//! same way.
//!
//! Opt-in (`Runner::stall_backtraces`), because the signal disturbs the
//! code being diagnosed:
//! - a blocking call with a timeout that the signal interrupts (`poll`,
//!   `nanosleep`, a socket read with `SO_RCVTIMEO`) returns `EINTR`
//!   (`ErrorKind::Interrupted`) instead of going on;
//! - the unwinder may consult the dynamic loader's tables, which take the
//!   loader's lock: a thread stopped while holding it (inside `dlopen`)
//!   would wait in the handler for ever, turning a slow poll into a hang.
//!   The watchdog gives up after 200 ms and reports without a backtrace.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const SIGNAL: i32 = libc::SIGURG;
const MAX_FRAMES: usize = 64;
const SHOWN: usize = 24;

static FRAMES: [AtomicUsize; MAX_FRAMES] = [const { AtomicUsize::new(0) }; MAX_FRAMES];
static LEN: AtomicUsize = AtomicUsize::new(0);
/// The capture asked for, and the last one completed: the handler only
/// works when they differ, so a `SIGURG` from elsewhere records nothing.
static REQUEST: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);
/// Capture numbers, never reused (a late handler of an abandoned capture
/// must not complete a later one).
static NEXT: AtomicU64 = AtomicU64::new(1);
/// One capture at a time (the buffer is shared); a closing loop takes it
/// too, so no capture signals a thread that has moved on (see [`quiesce`]).
static CAPTURE: Mutex<()> = Mutex::new(());
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// A thread that can be asked for its backtrace.
#[derive(Clone, Copy)]
pub(crate) struct ThreadHandle(libc::pthread_t);

impl ThreadHandle {
    /// The calling thread.
    pub(crate) fn current() -> ThreadHandle {
        // SAFETY: `pthread_self` has no preconditions and cannot fail.
        ThreadHandle(unsafe { libc::pthread_self() })
    }
}

/// Runs in the signal handler on the stuck thread: only atomics and the
/// unwinder, nothing that allocates or locks.
fn on_signal() {
    let seq = REQUEST.load(Ordering::Acquire);
    if seq == DONE.load(Ordering::Acquire) {
        return;
    }
    let mut n = 0;
    // SAFETY: `trace_unsynchronized` skips the crate's global lock, which
    // a signal handler must not take; its callback only stores into atomics.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            FRAMES[n].store(frame.ip() as usize, Ordering::Relaxed);
            n += 1;
            n < MAX_FRAMES
        });
    }
    LEN.store(n, Ordering::Relaxed);
    DONE.store(seq, Ordering::Release);
}

fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        // SAFETY: the action (`on_signal`) is async-signal-safe in the sense
        // above: it touches only atomics and the unwinder.
        unsafe { signal_hook::low_level::register(SIGNAL, on_signal) }.is_ok()
    })
}

/// Waits for any capture in flight; a loop calls it as it closes, after
/// marking itself closed, so its thread is never signalled afterwards.
pub(crate) fn quiesce() {
    drop(CAPTURE.lock().unwrap_or_else(|e| e.into_inner()));
}

/// The return addresses on `thread`'s stack, innermost first (symbolize
/// them with [`symbolize`]); `None` if it did not answer within 200 ms, or
/// if `still_stuck` (checked once no other capture runs) says the loop has
/// moved on or closed.
pub(crate) fn capture(thread: ThreadHandle, still_stuck: impl FnOnce() -> bool) -> Option<Vec<usize>> {
    if !install() {
        return None;
    }
    let _one = CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
    if !still_stuck() {
        return None;
    }
    let seq = NEXT.fetch_add(1, Ordering::Relaxed);
    REQUEST.store(seq, Ordering::Release);
    // SAFETY: `thread` came from `pthread_self` on the loop's thread, and
    // the loop is not closed (`still_stuck`, checked under CAPTURE): a
    // closing loop waits for CAPTURE (`quiesce`) before its thread can go
    // on to exit, so the thread is alive while we signal it.
    if unsafe { libc::pthread_kill(thread.0, SIGNAL) } != 0 {
        REQUEST.store(DONE.load(Ordering::Acquire), Ordering::Release);
        return None;
    }
    let deadline = Instant::now() + Duration::from_millis(200);
    while DONE.load(Ordering::Acquire) != seq {
        if Instant::now() >= deadline {
            // Disarm: a late handler finds nothing asked.
            REQUEST.store(DONE.load(Ordering::Acquire), Ordering::Release);
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let n = LEN.load(Ordering::Relaxed);
    Some(FRAMES[..n].iter().map(|f| f.load(Ordering::Relaxed)).collect())
}

/// One line per frame, after the frames of the signal handler itself (slow
/// the first time: it reads the program's debug information).
pub(crate) fn symbolize(ips: &[usize]) -> String {
    let mut frames = Vec::new();
    for &ip in ips {
        let mut line = None;
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            if line.is_none() {
                let name = sym
                    .name()
                    .map(|n| format!("{n:#}"))
                    .unwrap_or_else(|| format!("{ip:#x}"));
                let place = match (sym.filename(), sym.lineno()) {
                    (Some(f), Some(l)) => format!(" at {}:{l}", f.display()),
                    _ => String::new(),
                };
                line = Some((name, place));
            }
        });
        frames.push(line.unwrap_or_else(|| (format!("{ip:#x}"), String::new())));
    }
    // The handler's own frames end with signal-hook's handler, then the
    // kernel's signal trampoline.
    let start = frames
        .iter()
        .position(|(name, _)| name.contains("signal_hook_registry::handler"))
        .map_or(0, |i| i + 2)
        .min(frames.len());
    let mut out = String::new();
    for (name, place) in frames[start..].iter().take(SHOWN) {
        let _ = writeln!(out, "    {name}{place}");
    }
    if frames.len() - start > SHOWN {
        let _ = writeln!(out, "    ... {} more frames", frames.len() - start - SHOWN);
    }
    out
}
