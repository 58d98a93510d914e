//! Debug mode's introspection: the task tree ([`dump`]), for every loop in
//! the process ([`dump_all`]), and on demand from outside the process
//! ([`dump_on_signal`]).
//!
//! Debug mode (`Runner::new().debug(true)`, `#[asyncio::main(debug)]` or
//! `ASYNCIO_DEBUG=1`) reports, through `tracing` when a subscriber is
//! installed and on stderr otherwise:
//! - a poll or callback that held the loop longer than
//!   `slow_callback_duration` (100 ms), with the task's name and creation
//!   site, after it returns;
//! - the same *while it is still running*: a watchdog thread notices the
//!   loop has not come back within the threshold and names the task then;
//! - a task that panicked and whose handle was dropped unread ("Task
//!   exception was never retrieved"). A task that *returns* an `Err` is not
//!   reported: its output is a value like any other;
//! - tasks still pending when the runner closes, with their age ("Task was
//!   destroyed but it is pending"), before they are cancelled.
//!
//! What it costs: a record per task, kept in the task's own allocation,
//! and a clock read and a few atomic stores per poll; spawn+await takes
//! about 1.6× and a yield about 1.5× their time without debug mode
//! (`cargo bench -p asyncio-benches --bench debug_cost`; BENCHMARKS.md).
//! Only tasks created while debug mode is on have records: a loop switched
//! into debug mode (`EventLoop::set_debug`) lists the tasks created from
//! then on.
//!
//! ```
//! let tree = asyncio::Runner::new().debug(true).run(async {
//!     let _child = asyncio::task::Builder::new().name("child").spawn(asyncio::sleep(std::time::Duration::from_secs(1)));
//!     asyncio::yield_now().await;
//!     asyncio::debug::dump()
//! });
//! assert!(tree.contains("'child' [waiting]"), "{tree}");
//! ```

use std::io::{self, Read};
use std::os::unix::net::UnixStream;

use crate::runtime::{context, debug};

/// The running loop's tasks as a tree (who created whom; the TaskGroup a
/// task belongs to), each with its id, name, state, creation site, age,
/// poll count and busy time: the `python -m asyncio pstree` role.
///
/// Outside debug mode, only the ids, names and creation sites are known.
///
/// # Panics
/// With no running event loop.
pub fn dump() -> String {
    context::expect_core("asyncio::debug::dump", |core| match core.debugger() {
        Some(d) => d.dump(),
        None => {
            let tasks = core.all_tasks();
            let mut out = format!("event loop (not in debug mode): {} task(s)\n", tasks.len());
            for t in tasks {
                out.push_str(&format!("  {} created at {}\n", t.name(), t.header().location));
            }
            out
        }
    })
}

/// The task trees of every loop in debug mode in this process. Works from
/// any thread, and while those loops are blocked: it reads debug mode's
/// records, not the loops.
pub fn dump_all() -> String {
    debug::dump_all()
}

/// Prints [`dump_all`] to stderr each time `signal` arrives (for example
/// `kill -USR2 <pid>` on a hung program), from a thread of its own, so it
/// answers even when every loop is stuck.
///
/// # Errors
/// `InvalidInput` for a signal that cannot be handled; thread or socket
/// errors.
pub fn dump_on_signal(signal: i32) -> io::Result<()> {
    if signal_hook::consts::FORBIDDEN.contains(&signal) || signal_hook::low_level::signal_name(signal).is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signal} cannot be handled"),
        ));
    }
    let (mut read, write) = UnixStream::pair()?;
    signal_hook::low_level::pipe::register(signal, write)?;
    std::thread::Builder::new().name("asyncio-dump".into()).spawn(move || {
        let mut byte = [0u8; 1];
        while let Ok(1) = read.read(&mut byte) {
            eprint!("{}", dump_all());
        }
    })?;
    Ok(())
}
