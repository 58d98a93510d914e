//! Which types may cross threads: loop-bound objects are `!Send`; the
//! handles made for other threads are `Send + Sync`. A change to this table
//! is an API change.

#![allow(dead_code)]

use std::cell::Cell;

use asyncio::time::{Instant, Interval, Sleep, Timeout};
use asyncio::{ConcurrentFuture, EventLoop, Handle, LoopHandle, Promise, Task, TaskError, TaskRef, TimerHandle};

fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}

/// `assert_not_impl!(T, Send)` fails to compile if `T: Send` (the ambiguity
/// trick: two blanket impls apply only when `T` has the trait).
macro_rules! assert_not_impl {
    ($t:ty, $trait:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn check() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            impl<T: ?Sized + $trait> AmbiguousIfImpl<u8> for T {}
            let _ = <$t as AmbiguousIfImpl<_>>::check;
        };
    };
}

/// `assert_not_send!(T)`: `T` is not `Send`.
macro_rules! assert_not_send {
    ($t:ty) => {
        assert_not_impl!($t, Send);
    };
}

/// `assert_not_sync!(T)`: `T` is not `Sync`. The loop-bound primitives may
/// move to a thread before use (they are `Send` when idle), but can never be
/// shared between threads.
macro_rules! assert_not_sync {
    ($t:ty) => {
        assert_not_impl!($t, Sync);
    };
}

assert_not_send!(Task<u32>);
assert_not_send!(TaskRef);
assert_not_send!(EventLoop);
assert_not_send!(Handle);
assert_not_send!(TimerHandle);
assert_not_send!(Promise<u32>);
assert_not_send!(asyncio::io::AsyncFd<std::os::unix::net::UnixStream>);
assert_not_send!(asyncio::Runner);
assert_not_send!(asyncio::sync::Sender<std::rc::Rc<u8>>);
assert_not_send!(asyncio::net::TcpStream);
assert_not_send!(asyncio::net::TcpListener);
assert_not_send!(asyncio::net::UdpSocket);
assert_not_send!(asyncio::net::UnixStream);
assert_not_send!(asyncio::net::UnixListener);
assert_not_send!(asyncio::net::UnixDatagram);
assert_not_send!(asyncio::net::StreamReader);
assert_not_send!(asyncio::net::StreamWriter);
assert_not_send!(asyncio::net::Server);
assert_not_sync!(asyncio::sync::Lock);
assert_not_sync!(asyncio::sync::Semaphore);
assert_not_sync!(asyncio::sync::Event);
assert_not_sync!(asyncio::sync::Condition);
assert_not_sync!(asyncio::sync::Barrier);
assert_not_sync!(asyncio::sync::Queue<u8>);

#[test]
fn thread_facing_types_are_send_and_sync() {
    is_send::<LoopHandle>();
    is_sync::<LoopHandle>();
    is_send::<ConcurrentFuture<u32>>();
    is_sync::<ConcurrentFuture<u32>>();
    is_send::<TaskError>();
    is_sync::<TaskError>();
    is_send::<asyncio::TimeoutError>();
    is_sync::<asyncio::TimeoutError>();
    is_send::<asyncio::LoopClosed>();
    is_send::<asyncio::TaskId>();
    is_send::<Instant>();
    is_sync::<Instant>();
}

#[test]
fn executors_and_their_handles_cross_threads() {
    is_send::<asyncio::executor::ThreadPoolExecutor>();
    is_sync::<asyncio::executor::ThreadPoolExecutor>();
    #[cfg(feature = "process-pool")]
    {
        is_send::<asyncio::executor::ProcessPoolExecutor>();
        is_sync::<asyncio::executor::ProcessPoolExecutor>();
    }
    is_send::<asyncio::executor::JobHandle<String>>();
    is_sync::<asyncio::executor::JobHandle<String>>();
    is_send::<asyncio::executor::CancelOnDrop<String>>();
    is_sync::<asyncio::executor::CancelOnDrop<String>>();
    is_send::<asyncio::executor::JobError>();
    is_sync::<asyncio::executor::JobError>();
}

/// The tokio bridge's future may move with the task that awaits it (a
/// task of a multi-thread runtime, too); the `!Send` wrapper is as `Send` as
/// what it wraps.
#[cfg(feature = "tokio-compat")]
#[test]
fn tokio_compat_futures_follow_their_contents() {
    is_send::<asyncio::compat::OnTokio<String>>();
    is_sync::<asyncio::compat::OnTokio<String>>();
    is_send::<asyncio::compat::WithTokioContext<std::future::Ready<u8>>>();
    is_send::<asyncio::compat::AlreadyStarted>();
    is_sync::<asyncio::compat::AlreadyStarted>();
}
#[cfg(feature = "tokio-compat")]
assert_not_send!(asyncio::compat::WithTokioContext<std::future::Ready<std::rc::Rc<u8>>>);

#[test]
fn channel_ends_cross_threads() {
    is_send::<asyncio::sync::Sender<u8>>();
    is_sync::<asyncio::sync::Sender<u8>>();
    is_send::<asyncio::sync::Receiver<u8>>();
    is_sync::<asyncio::sync::Receiver<u8>>();
    is_send::<asyncio::sync::oneshot::Sender<u8>>();
    is_send::<asyncio::sync::oneshot::Receiver<u8>>();
}

#[test]
fn time_futures_are_send_so_they_fit_in_submitted_futures() {
    is_send::<Sleep>();
    is_sync::<Sleep>();
    is_send::<Timeout<Sleep>>();
    is_send::<Interval>();
    is_send::<asyncio::task::YieldNow>();
}

#[test]
fn tasks_may_hold_non_send_state() {
    let out = asyncio::run(async {
        let local = std::rc::Rc::new(Cell::new(1));
        let l = local.clone();
        let t = asyncio::create_task(async move {
            asyncio::yield_now().await;
            l.set(l.get() + 1);
            l
        });
        t.await.unwrap().get()
    });
    assert_eq!(out, 2);
}
