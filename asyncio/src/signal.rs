//! Unix signals on the loop: [`add_signal_handler`],
//! [`remove_signal_handler`] (asyncio's `loop.add_signal_handler`), and
//! [`recv`] and [`ctrl_c`] to await one signal.
//!
//! A signal handler cannot run loop code: it may only do async-signal-safe
//! things. So the process-wide handler (installed through `signal-hook`)
//! writes a byte into a socket pair, and a task on the loop reads the byte
//! and calls your callback there, where it may touch tasks, primitives and
//! anything loop-bound. A signal that arrives while the loop sleeps wakes it
//! at once.
//!
//! When the last handler for a signal is removed, the signal's default
//! action (terminating for `SIGINT`/`SIGTERM`) applies again, as after
//! asyncio's `remove_signal_handler`.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use asyncio::signal::{add_signal_handler, remove_signal_handler, SIGUSR1};
//!
//! asyncio::run(async {
//!     let got = Rc::new(Cell::new(0));
//!     let g = got.clone();
//!     add_signal_handler(SIGUSR1, move || g.set(g.get() + 1)).unwrap();
//!     std::process::Command::new("kill")
//!         .args(["-USR1", &std::process::id().to_string()])
//!         .status()
//!         .unwrap();
//!     while got.get() == 0 {
//!         asyncio::sleep(std::time::Duration::from_millis(1)).await;
//!     }
//!     assert!(remove_signal_handler(SIGUSR1));
//! });
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use signal_hook::consts::signal::{SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

use crate::io::AsyncFd;
use crate::task::Task;

/// Per signal, process-wide: whether its default action applies (no
/// handler anywhere) and how many listeners there are.
struct SigState {
    default_applies: Arc<AtomicBool>,
    listeners: usize,
}

static SIGNALS: Mutex<Option<HashMap<i32, SigState>>> = Mutex::new(None);

/// One listener for `signal`: a socket whose peer the signal handler writes
/// to. Dropping it unregisters, and restores the default action if it was
/// the last.
struct Listener {
    signal: i32,
    id: signal_hook::SigId,
    fd: AsyncFd<UnixStream>,
}

impl Listener {
    fn new(signal: i32) -> io::Result<Listener> {
        if signal_hook::consts::FORBIDDEN.contains(&signal) || signal_hook::low_level::signal_name(signal).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "signal {signal} cannot be handled (unknown, or one of SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGSEGV)"
                ),
            ));
        }
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let fd = AsyncFd::with_interest(read, true, false)?;
        let mut signals = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        let map = signals.get_or_insert_with(HashMap::new);
        let st = match map.entry(signal) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let flag = Arc::new(AtomicBool::new(true));
                // Installed once per signal and kept: it applies the default
                // action whenever no listener is registered.
                signal_hook::flag::register_conditional_default(signal, flag.clone())?;
                e.insert(SigState {
                    default_applies: flag,
                    listeners: 0,
                })
            }
        };
        // The default action off first, so a signal arriving meanwhile is
        // not both delivered and fatal.
        st.listeners += 1;
        st.default_applies.store(false, Ordering::SeqCst);
        let id = match signal_hook::low_level::pipe::register(signal, write) {
            Ok(id) => id,
            Err(e) => {
                st.listeners -= 1;
                if st.listeners == 0 {
                    st.default_applies.store(true, Ordering::SeqCst);
                }
                return Err(e);
            }
        };
        Ok(Listener { signal, id, fd })
    }

    /// Waits for deliveries; how many arrived.
    async fn recv(&self) -> io::Result<usize> {
        let mut buf = [0u8; 64];
        loop {
            self.fd.readable().await?;
            let mut n = 0;
            loop {
                match self.fd.get_ref().read(&mut buf) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.fd.clear_read_ready();
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
        let mut signals = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = signals.as_mut().and_then(|m| m.get_mut(&self.signal)) {
            st.listeners -= 1;
            if st.listeners == 0 {
                st.default_applies.store(true, Ordering::SeqCst);
            }
        }
    }
}

thread_local! {
    /// The handler tasks of this thread's loops, by loop and signal (a
    /// thread may run several loops, one after another).
    static HANDLERS: RefCell<HashMap<(usize, i32), Task<()>>> = RefCell::new(HashMap::new());
}

/// The running loop's identity.
fn loop_id(what: &str) -> usize {
    crate::runtime::context::expect_core(what, |c| c.id())
}

/// Calls `callback` on the running loop each time `signal` arrives
/// (`loop.add_signal_handler`), replacing this loop's earlier handler for
/// it. The callback runs as loop code, not in signal context.
///
/// # Errors
/// `InvalidInput` for a signal that cannot be handled (`SIGKILL`,
/// `SIGSTOP`, `SIGSEGV`, ...) or an unknown number; socket errors.
///
/// # Panics
/// With no running event loop.
pub fn add_signal_handler(signal: i32, callback: impl Fn() + 'static) -> io::Result<()> {
    let listener = Listener::new(signal)?;
    let callback = Rc::new(callback);
    let task = crate::create_task(async move {
        while let Ok(n) = listener.recv().await {
            for _ in 0..n {
                callback();
            }
        }
    });
    let key = (loop_id("asyncio::signal::add_signal_handler"), signal);
    let old = HANDLERS.with(|h| {
        let mut h = h.borrow_mut();
        // Forget the handlers of loops that are gone.
        h.retain(|_, t| !t.done());
        h.insert(key, task)
    });
    if let Some(old) = old {
        old.cancel_now();
    }
    Ok(())
}

/// Removes this loop's handler for `signal`; true if there was one
/// (`loop.remove_signal_handler`). With no handler left, the signal's
/// default action applies again.
///
/// # Panics
/// With no running event loop.
pub fn remove_signal_handler(signal: i32) -> bool {
    let key = (loop_id("asyncio::signal::remove_signal_handler"), signal);
    match HANDLERS.with(|h| h.borrow_mut().remove(&key)) {
        Some(task) => {
            let live = !task.done();
            // Dropped now (its listener with it), so the default action is
            // back when this returns.
            task.cancel_now();
            live
        }
        None => false,
    }
}

/// Waits for the next `signal` (named as a channel's `recv`: asyncio's
/// `wait_for` is a timeout, here [`timeout`](crate::timeout)). While it
/// waits, the signal's default action is suspended (a `SIGINT` does not end
/// the program: it ends this wait).
///
/// # Errors
/// As [`add_signal_handler`].
///
/// # Cancel safety
/// Cancel safe: the handler is removed when the future is dropped.
pub async fn recv(signal: i32) -> io::Result<()> {
    let listener = Listener::new(signal)?;
    listener.recv().await.map(drop)
}

/// Waits for Ctrl-C (`SIGINT`): [`recv`]`(SIGINT)`.
///
/// # Errors
/// As [`add_signal_handler`].
///
/// # Cancel safety
/// Cancel safe.
pub async fn ctrl_c() -> io::Result<()> {
    recv(SIGINT).await
}
