//! hyper's runtime traits on the asyncio loop: socket I/O and the timer.
//!
//! hyper 1.x is runtime-agnostic: it drives a connection through
//! `hyper::rt::{Read, Write}` and arms its timeouts through
//! `hyper::rt::Timer`. This module implements both on the crate `asyncio`
//! (its sockets and its loop clock), so hyper's HTTP/1.1 state machine runs
//! as an ordinary task on the loop. HTTP/2 (server and client) also needs
//! hyper's `Executor`, for each stream's task and the client's connection:
//! [`LocalExec`] makes them tasks on the loop, with no `Send` bound. hyper's
//! upgrade machinery wants `Send` sockets, so upgrades (WebSockets) take
//! the socket back from the finished connection instead (see `transport`).
//!
//! Reads go through a small per-connection buffer and are copied into
//! hyper's: hyper's zero-copy entry point (`ReadBufCursor::advance`) is
//! `unsafe`, and unsafe code stays in the runtime's engine. The copy is
//! of what one `read` returned, at most 16 KiB.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};

/// A `futures-io` stream (an asyncio socket, an upgraded connection) seen
/// through hyper's I/O traits.
pub(crate) struct HyperIo<T> {
    inner: T,
    scratch: Box<[u8]>,
    /// Stamped when a request head starts arriving, and told when writes
    /// wait for the peer.
    reads: Option<Rc<ReadClock>>,
    /// Whether reads stamp request heads (HTTP/1.x; not HTTP/2's frames).
    heads: bool,
}

/// When the request head now arriving began: stamped by the first read
/// after the connection clears it (once a head is complete, and when a
/// response finishes). Any read while no request runs starts a head, so
/// this is all the idle and header timeouts need: no clock read per read.
///
/// It also keeps the raw bytes read from the head's start until the head
/// is complete (up to [`HEAD_CAPTURE`]): hyper's parsed view hides two
/// request-smuggling shapes (it drops a `Content-Length` sent along with a
/// `Transfer-Encoding`, and merges equal duplicate lengths), so the
/// connection re-reads the raw head when a request declares its framing.
#[derive(Default)]
pub(crate) struct ReadClock {
    pub(crate) head_started: Cell<Option<asyncio::time::Instant>>,
    pub(crate) head: RefCell<Vec<u8>>,
    pub(crate) capturing: Cell<bool>,
    /// When the first head began, if it began before hyper's first read
    /// (the HTTP/2 preface check read its first bytes): used by that read
    /// instead of the time of the read.
    pub(crate) carried: Cell<Option<asyncio::time::Instant>>,
    /// Set while a write waits for the peer to take bytes (the socket's
    /// buffer is full), cleared when one goes through.
    pub(crate) write_blocked: Cell<bool>,
    /// Bumped whenever the peer takes bytes and whenever a response body
    /// is asked for more: the send timeout counts from its last change, so
    /// the write path reads no clock.
    pub(crate) progress: Cell<u32>,
}

impl ReadClock {
    /// Notes a write's (or flush's) outcome; `moved`: whether it sent bytes.
    fn wrote<T>(&self, r: &Poll<io::Result<T>>, moved: impl FnOnce(&T) -> bool) {
        match r {
            Poll::Pending => self.write_blocked.set(true),
            Poll::Ready(Ok(t)) => {
                self.write_blocked.set(false);
                if moved(t) {
                    self.progressed();
                }
            }
            Poll::Ready(Err(_)) => {}
        }
    }

    /// Counts a step of a response's progress.
    pub(crate) fn progressed(&self) {
        self.progress.set(self.progress.get().wrapping_add(1));
    }
}

/// The most raw head bytes kept (the default header limit is 16 KiB).
pub(crate) const HEAD_CAPTURE: usize = 64 * 1024;

const SCRATCH: usize = 16 * 1024;

impl<T> HyperIo<T> {
    /// `reads`: the connection's clock, if it keeps one; `heads`: whether
    /// reads begin request heads (HTTP/1.x).
    pub(crate) fn new(inner: T, reads: Option<Rc<ReadClock>>, heads: bool) -> Self {
        HyperIo {
            inner,
            scratch: Box::default(),
            reads,
            heads,
        }
    }

    pub(crate) fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.scratch.is_empty() {
            this.scratch = vec![0; SCRATCH].into_boxed_slice();
        }
        let want = buf.remaining().min(SCRATCH);
        let r = Pin::new(&mut this.inner).poll_read(cx, &mut this.scratch[..want]);
        let n = match r {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        buf.put_slice(&this.scratch[..n]);
        if n > 0 && this.heads {
            if let Some(r) = &this.reads {
                if r.head_started.get().is_none() {
                    // The loop's last clock reading (at most a turn old):
                    // the header timeout is seconds, and a read per
                    // request is not free.
                    let start = r.carried.take().unwrap_or_else(asyncio::time::Instant::recent);
                    r.head_started.set(Some(start));
                    r.head.borrow_mut().clear();
                    r.capturing.set(true);
                }
                if r.capturing.get() {
                    let mut head = r.head.borrow_mut();
                    let room = HEAD_CAPTURE.saturating_sub(head.len());
                    head.extend_from_slice(&this.scratch[..n.min(room)]);
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Some(c) = &this.reads {
            c.wrote(&r, |n| *n > 0);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Some(c) = &this.reads {
            c.wrote(&r, |n| *n > 0);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        if let Some(c) = &this.reads {
            // A flush that went through unblocks; the bytes it moved were
            // counted by their writes.
            c.wrote(&r, |_| false);
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// hyper's executor for HTTP/2's background work (a server's streams, a
/// client's connection): a task on the loop, detached; it ends with its
/// stream or connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: std::future::Future + 'static,
{
    fn execute(&self, future: F) {
        let _task = asyncio::create_task(future);
    }
}

/// hyper's timer on the loop's clock (virtual under
/// `Runner::virtual_time`, so header timeouts can be tested without
/// waiting).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LoopTimer;

struct LoopSleep(asyncio::time::Sleep);

impl std::future::Future for LoopSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.poll_sleep(cx)
    }
}

impl hyper::rt::Sleep for LoopSleep {}

impl hyper::rt::Timer for LoopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(LoopSleep(asyncio::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(LoopSleep(asyncio::sleep_until(asyncio::time::Instant::from_std(
            deadline,
        ))))
    }

    fn now(&self) -> Instant {
        asyncio::time::Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<LoopSleep>() {
            Some(s) => s.get_mut().0.reset(asyncio::time::Instant::from_std(new_deadline)),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
