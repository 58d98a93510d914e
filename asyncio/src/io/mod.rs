//! Readiness-based I/O on the loop's reactor.
//!
//! [`AsyncFd`] registers any non-blocking file descriptor with the loop
//! (epoll through mio, or io_uring: see [`Driver`]) and lets tasks wait until
//! it is readable or writable. Sockets, pipes, streams and servers are built
//! on it.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::runtime::reactor::Direction;
pub use crate::runtime::reactor::Driver;
use crate::runtime::slab::Key;
use crate::runtime::{context, Core};

/// A non-blocking file descriptor registered with the running loop.
/// Loop-bound (`!Send`).
///
/// The descriptor must already be in non-blocking mode; an operation that
/// would block must fail with `WouldBlock`, which is how readiness is
/// cleared. Use [`read_with`](AsyncFd::read_with) /
/// [`write_with`](AsyncFd::write_with) to run such an operation until it
/// succeeds.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// asyncio::run(async {
///     let (a, mut b) = UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     let a = asyncio::io::AsyncFd::new(a).unwrap();
///     b.write_all(b"ping").unwrap();
///     let mut buf = [0u8; 4];
///     let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
///     assert_eq!(&buf[..n], b"ping");
/// });
/// ```
pub struct AsyncFd<T: AsRawFd> {
    inner: Option<T>,
    key: Key,
    core: Rc<Core>,
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Registers `inner` for both read and write readiness.
    ///
    /// # Errors
    /// The registration error from the driver: with
    /// [`Driver::Readiness`], epoll's (e.g. a closed descriptor); io_uring
    /// queues the registration, and the first operation reports a bad
    /// descriptor instead.
    ///
    /// # Panics
    /// With no running event loop on the thread.
    pub fn new(inner: T) -> io::Result<Self> {
        Self::with_interest(inner, true, true)
    }

    /// Registers `inner` for the given directions.
    ///
    /// # Errors
    /// As [`new`](AsyncFd::new); also `InvalidInput` if neither direction.
    ///
    /// # Panics
    /// With no running event loop on the thread.
    pub fn with_interest(inner: T, readable: bool, writable: bool) -> io::Result<Self> {
        if !readable && !writable {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no interest"));
        }
        let core = context::expect_core("asyncio::io::AsyncFd::new", |c| c.rc());
        let fd = inner.as_raw_fd();
        let key = core.reactor.register(fd, readable, writable)?;
        Ok(AsyncFd {
            inner: Some(inner),
            key,
            core,
        })
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("AsyncFd inner present until drop")
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("AsyncFd inner present until drop")
    }

    /// Deregisters and gives the value back.
    pub fn into_inner(mut self) -> T {
        self.deregister();
        self.inner.take().expect("AsyncFd inner present until drop")
    }

    fn deregister(&mut self) {
        if let Some(inner) = &self.inner {
            let fd = inner.as_raw_fd();
            let _ = self.core.reactor.deregister(self.key, fd);
        }
    }

    /// Ready when the descriptor is readable (or hung up, or in error).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.reactor.poll_ready(self.key, Direction::Read, cx)
    }

    /// Ready when the descriptor is writable (or hung up, or in error).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.reactor.poll_ready(self.key, Direction::Write, cx)
    }

    /// Forgets read readiness; call after an operation hit `WouldBlock`.
    pub fn clear_read_ready(&self) {
        self.core.reactor.clear_ready(self.key, Direction::Read);
    }

    /// Forgets write readiness; call after an operation hit `WouldBlock`.
    pub fn clear_write_ready(&self) {
        self.core.reactor.clear_ready(self.key, Direction::Write);
    }

    /// Waits until the descriptor is readable.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the descriptor is writable.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn writable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Runs `op` once the descriptor is readable, until it reports neither
    /// `WouldBlock` (readiness is then cleared and waited for again) nor
    /// `Interrupted` (retried at once).
    pub fn poll_read_with<R>(&self, cx: &mut Context<'_>, op: impl FnMut(&T) -> io::Result<R>) -> Poll<io::Result<R>> {
        self.poll_with(Direction::Read, cx, op)
    }

    /// As [`poll_read_with`](AsyncFd::poll_read_with), for writing.
    pub fn poll_write_with<R>(&self, cx: &mut Context<'_>, op: impl FnMut(&T) -> io::Result<R>) -> Poll<io::Result<R>> {
        self.poll_with(Direction::Write, cx, op)
    }

    /// [`poll_read_with`](AsyncFd::poll_read_with) or
    /// [`poll_write_with`](AsyncFd::poll_write_with), by `dir`.
    fn poll_with<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if let Err(e) = std::task::ready!(self.core.reactor.poll_ready(self.key, dir, cx)) {
                return Poll::Ready(Err(e));
            }
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.core.reactor.clear_ready(self.key, dir),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return Poll::Ready(r),
            }
        }
    }

    /// Runs `op` when readable, until it does not report `WouldBlock`.
    ///
    /// # Cancel safety
    /// Cancel safe if `op` is: `op` runs to completion or not at all.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_read_with(cx, &mut op)).await
    }

    /// Runs `op` when writable, until it does not report `WouldBlock`.
    ///
    /// # Cancel safety
    /// Cancel safe if `op` is: `op` runs to completion or not at all.
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_write_with(cx, &mut op)).await
    }
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd> Drop for AsyncFd<T> {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl<T: AsRawFd + std::fmt::Debug> std::fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFd").field("inner", &self.inner).finish()
    }
}
