//! The worker side: the function registry, the entry hook, and the loop a
//! worker process runs instead of `main`.
//!
//! A worker is this same program started again with [`WORKER_ENV`] set and
//! a socket as its standard input. [`worker_entry`], called first thing in
//! `main` (`#[asyncio::main]` calls it for you), sees the variable, serves
//! jobs until the pool says stop or goes away, and exits: the rest of `main`
//! never runs in a worker. Python's `if __name__ == "__main__":` guard, made
//! impossible to forget: a pool refuses to start if the hook was never
//! called, and a worker that somehow runs `main` cannot start pools itself.

use std::any::type_name;
use std::collections::HashMap;
use std::io::{self, BufReader};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{self, Reply, Request};
use crate::runtime::report::panic_message;

/// Set in a worker's environment by its pool, to the pool process's id (and
/// removed by the worker).
pub(crate) const WORKER_ENV: &str = "ASYNCIO_PROCESS_POOL_WORKER";

static HOOK_CALLED: AtomicBool = AtomicBool::new(false);
static IN_WORKER: AtomicBool = AtomicBool::new(false);

/// Makes this process a pool worker if it was started as one; otherwise
/// returns at once. Call it first thing in `main`, before anything with side
/// effects: in a worker, it serves jobs and exits the process without
/// returning.
///
/// `#[asyncio::main]` calls it for you. A program with a plain `main` that
/// uses a [`ProcessPoolExecutor`](super::ProcessPoolExecutor) must call it,
/// or the pool refuses to start ([`PoolError::MissingWorkerHook`](super::PoolError::MissingWorkerHook)).
///
/// ```no_run
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
///     asyncio::executor::worker_entry();
///     // ... the program, which may create process pools
/// }
/// ```
pub fn worker_entry() {
    HOOK_CALLED.store(true, Ordering::SeqCst);
    let Some(parent) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    IN_WORKER.store(true, Ordering::SeqCst);
    // Not inherited by whatever the jobs start.
    std::env::remove_var(WORKER_ENV);
    die_with_parent(parent.to_str().and_then(|p| p.parse().ok()));
    let code = match serve() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("asyncio process pool worker {}: {e}", std::process::id());
            70 // EX_SOFTWARE
        }
    };
    std::process::exit(code);
}

pub(crate) fn hook_called() -> bool {
    HOOK_CALLED.load(Ordering::SeqCst)
}

pub(crate) fn in_worker() -> bool {
    IN_WORKER.load(Ordering::SeqCst) || std::env::var_os(WORKER_ENV).is_some()
}

/// Asks the kernel to kill this worker when the pool process dies, so a job
/// that never ends cannot outlive it; exits at once if it is already gone.
fn die_with_parent(parent: Option<i32>) {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
        if parent.is_some() && ppid != parent {
            std::process::exit(0); // the pool died before we could ask
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
}

/// Serves jobs on the socket at standard input until told to exit or the
/// pool's end closes.
fn serve() -> io::Result<()> {
    let socket = UnixStream::from(io::stdin().as_fd().try_clone_to_owned()?);
    // Standard input becomes /dev/null, as in Python's workers: a job that
    // reads it, or a process a job starts, must not see the pool's socket
    // (nor keep it open after this worker dies).
    rustix::stdio::dup2_stdin(std::fs::File::open("/dev/null")?)?;
    let mut reader = BufReader::new(socket.try_clone()?);
    let mut writer = socket;
    let mut buf = Vec::new();
    let mut frame = Vec::new();
    let hello = Reply::Hello {
        pid: std::process::id(),
        version: wire::VERSION,
    };
    wire::send(&mut writer, &hello, &mut buf)?;
    loop {
        match wire::recv_frame(&mut reader, &mut frame) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let reply = match wire::decode::<Request<'_>>(&frame)? {
            Request::Exit => return Ok(()),
            Request::Run { name, arg } => match registry().get(name) {
                Some(call) => call(arg).0,
                None => Reply::Unknown(name.to_owned()),
            },
        };
        wire::send(&mut writer, &reply, &mut buf)?;
    }
}

/// One registered function: made by [`process_fn!`](crate::process_fn).
#[doc(hidden)]
pub struct ProcessFnEntry {
    /// The function's name (its type name: the same in every process of
    /// one build).
    pub name: fn() -> &'static str,
    /// Decodes the argument, runs the function, encodes the outcome.
    pub call: fn(&[u8]) -> ProcessFnReply,
}

/// What a registered function's call gives the worker loop (opaque).
#[doc(hidden)]
pub struct ProcessFnReply(pub(crate) Reply);

inventory::collect!(ProcessFnEntry);

type Call = fn(&[u8]) -> ProcessFnReply;

/// Every registered function by name, built on first use.
fn registry() -> &'static HashMap<&'static str, Call> {
    static REGISTRY: OnceLock<HashMap<&'static str, Call>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        inventory::iter::<ProcessFnEntry>
            .into_iter()
            .map(|entry| ((entry.name)(), entry.call))
            .collect()
    })
}

/// True if a function of this name is registered in this build.
pub(crate) fn is_registered(name: &str) -> bool {
    registry().contains_key(name)
}

/// The name `f` is registered and submitted under: its type's name, the
/// same in every process of one build. Only `fn` items (zero-sized, each a
/// type of its own) have one; see [`is_fn_item`].
#[doc(hidden)]
pub fn fn_name<F>(_: &F) -> &'static str {
    type_name::<F>()
}

/// True if `F` is a plain `fn` item: neither a function pointer (whose type
/// name is only its signature) nor a closure.
pub(crate) fn is_fn_item<F>() -> bool {
    std::mem::size_of::<F>() == 0 && !type_name::<F>().contains("{{closure}}")
}

/// Runs a registered function on an encoded argument (what the entry made
/// by [`process_fn!`](crate::process_fn) calls).
#[doc(hidden)]
pub fn call_fn<F, A, R>(f: F, arg: &[u8]) -> ProcessFnReply
where
    F: Fn(A) -> R,
    A: DeserializeOwned,
    R: Serialize,
{
    let arg: A = match postcard::from_bytes(arg) {
        Ok(a) => a,
        Err(e) => {
            return ProcessFnReply(Reply::Wire(format!(
                "the argument could not be decoded as {}: {e}",
                type_name::<A>()
            )))
        }
    };
    ProcessFnReply(match catch_unwind(AssertUnwindSafe(|| f(arg))) {
        Ok(result) => match postcard::to_stdvec(&result) {
            Ok(bytes) => Reply::Done(bytes),
            Err(e) => Reply::Wire(format!(
                "the result ({}) could not be serialized: {e}",
                type_name::<R>()
            )),
        },
        Err(payload) => Reply::Panicked(panic_message(&*payload)),
    })
}

/// Registers functions for [`ProcessPoolExecutor`](crate::executor::ProcessPoolExecutor)
/// jobs, by path: `asyncio::process_fn!(fib, crate::jobs::resize);`.
///
/// Each must be a plain `fn` of one argument (use a tuple for several) whose
/// argument is `serde::Deserialize` and whose result is `serde::Serialize`.
/// Write the macro at module level, anywhere in the program: registration
/// happens at start-up, in the pool's process and in every worker alike.
///
/// ```no_run
/// fn fib(n: u64) -> u64 {
///     if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
/// }
/// asyncio::process_fn!(fib);
///
/// #[asyncio::main]
/// async fn main() {
///     let pool = asyncio::executor::ProcessPoolExecutor::new(2).unwrap();
///     assert_eq!(pool.submit(fib, 20).await.unwrap(), 6765);
/// }
/// ```
#[macro_export]
macro_rules! process_fn {
    ($($f:path),+ $(,)?) => {
        $(
            // A function pointer or a closure has no name of its own to
            // find it by in another process: only `fn` items (zero-sized).
            const _: () = ::core::assert!(
                ::core::mem::size_of_val(&$f) == 0,
                "process_fn! takes plain `fn` items, not function pointers or closures"
            );
            $crate::executor::__private::inventory::submit! {
                $crate::executor::__private::ProcessFnEntry {
                    name: || $crate::executor::__private::fn_name(&$f),
                    call: |arg| $crate::executor::__private::call_fn($f, arg),
                }
            }
        )+
    };
}
