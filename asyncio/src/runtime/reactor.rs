//! The I/O driver: a slab of registered sources with their readiness and
//! wakers, fed by one of two readiness backends, and the loop's
//! cross-thread waker.
//!
//! - **readiness** (the default): a `mio::Poll` (epoll on Linux, kqueue on
//!   the BSDs and macOS).
//! - **io_uring** (Linux, [`Driver::IoUring`]): one multishot
//!   `IORING_OP_POLL_ADD` per source in an io_uring (`uring.rs`). Every
//!   registration is a submission queue entry carried by the next
//!   `io_uring_enter`, which also reaps every completion; a look for I/O
//!   that must not wait reads the completion queue in shared memory with no
//!   system call at all when nothing is queued.
//!
//! Both deliver edge-triggered readiness, so readiness is remembered here:
//! an event sets the source's bits, and the bits stay set until the user's
//! operation reports `WouldBlock` and clears them. The loop is
//! single-threaded, so no event can arrive between that operation and the
//! clear (events are only read during [`Reactor::turn`], never while a task
//! runs): the classic lost-wakeup race of edge-triggered readiness cannot
//! happen.
//!
//! Why poll-mode operations and not the kernel doing the reads and writes
//! (owned buffers): cancel safety comes for free (a dropped read never
//! loses data: the data stays in the socket until a read takes it), every
//! socket type and `AsyncFd` keep one code path, and a read still goes
//! straight into the caller's buffer with no copy. The cost is the read and
//! write system calls themselves, which completion-mode operations would
//! batch too.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::{Events, Interest, Token};

use super::slab::{Key, Slab};

/// The token of the loop's cross-thread waker.
const WAKE_TOKEN: Token = Token(usize::MAX);

pub(super) const READABLE: u8 = 1;
pub(super) const WRITABLE: u8 = 2;
pub(super) const READ_CLOSED: u8 = 4;
pub(super) const WRITE_CLOSED: u8 = 8;
pub(super) const ERROR: u8 = 16;

/// Which I/O driver a loop runs on (see [`Runner::driver`](crate::Runner::driver)
/// and [`EventLoop::driver`](crate::EventLoop::driver)).
///
/// Both drive the same sockets, pipes and [`AsyncFd`](crate::io::AsyncFd)s
/// with the same results and the same cancel safety; they differ in which
/// system calls carry the readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Driver {
    /// mio's readiness polling: epoll on Linux, kqueue on the BSDs and
    /// macOS. The default.
    Readiness,
    /// io_uring (Linux 5.13 or later): registrations and readiness travel
    /// through the ring, one `io_uring_enter` per loop turn for all of them.
    /// Where io_uring is missing or forbidden (an old kernel, a seccomp
    /// policy, `kernel.io_uring_disabled`), a loop asked for it runs on
    /// [`Readiness`](Driver::Readiness) instead; [`Driver::io_uring_available`]
    /// says why.
    IoUring,
}

impl Driver {
    /// The driver the environment asks for: `ASYNCIO_DRIVER=io_uring` (or
    /// `uring`) or `ASYNCIO_DRIVER=readiness` (or `epoll`, `mio`); `None`
    /// when unset or empty.
    ///
    /// # Panics
    /// On any other value, naming it (a typo should not silently run the
    /// default).
    pub fn from_env() -> Option<Driver> {
        let v = std::env::var("ASYNCIO_DRIVER").ok()?;
        match v.trim() {
            "" => None,
            "io_uring" | "io-uring" | "uring" => Some(Driver::IoUring),
            "readiness" | "epoll" | "mio" | "kqueue" => Some(Driver::Readiness),
            other => panic!("ASYNCIO_DRIVER={other:?}: expected `io_uring` or `readiness`"),
        }
    }

    /// Whether this machine lets a loop run on io_uring: `Ok` if it does,
    /// otherwise the error from setting up a ring (`Unsupported` off Linux,
    /// `ENOSYS` on kernels without io_uring, `EPERM` where it is forbidden)
    /// or `Unsupported` naming the missing kernel feature.
    ///
    /// # Errors
    /// As above.
    pub fn io_uring_available() -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            super::uring::Uring::probe()
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring is Linux only"))
        }
    }
}

/// Which half of a source's readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> u8 {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

pub(crate) struct IoSlot {
    pub(super) readiness: u8,
    pub(super) reader: Option<Waker>,
    pub(super) writer: Option<Waker>,
    /// The descriptor and what it was registered for (the io_uring backend
    /// arms its poll again from them when the kernel ends a multishot one).
    pub(super) fd: RawFd,
    pub(super) readable: bool,
    pub(super) writable: bool,
    /// io_uring: whether the source's multishot poll is live. The kernel
    /// ends one (no `IORING_CQE_F_MORE`) when its completion queue
    /// overflows, and at once for a file that cannot be polled (a regular
    /// file, `/dev/null`: always ready). It is armed again lazily, when a
    /// task is about to wait on the source or an operation reported
    /// `WouldBlock`: an always-ready file never is, so it costs nothing.
    pub(super) armed: bool,
    /// io_uring: the error that ended the poll for good (`EBADF`, `EINVAL`
    /// for a file that cannot be watched): every wait reports it.
    pub(super) failed: Option<i32>,
}

impl IoSlot {
    /// The source's watch failed for good with `errno`: wakes its waiters,
    /// whose next wait reports it.
    pub(super) fn fail(&mut self, errno: i32, wakers: &mut Vec<Waker>) {
        self.failed = Some(errno);
        wakers.extend(self.reader.take());
        wakers.extend(self.writer.take());
    }

    /// Adds readiness `bits` and collects the wakers they concern.
    pub(super) fn ready(&mut self, bits: u8, wakers: &mut Vec<Waker>) {
        self.readiness |= bits;
        if bits & Direction::Read.mask() != 0 {
            wakers.extend(self.reader.take());
        }
        if bits & Direction::Write.mask() != 0 {
            wakers.extend(self.writer.take());
        }
    }
}

enum Backend {
    Mio {
        poll: RefCell<mio::Poll>,
        events: RefCell<Events>,
        registry: mio::Registry,
    },
    #[cfg(target_os = "linux")]
    Uring(Box<super::uring::Uring>),
}

pub(crate) struct Reactor {
    backend: Backend,
    sources: RefCell<Slab<IoSlot>>,
}

/// Wakes a loop from another thread: mio's waker, or (io_uring) an eventfd
/// the ring polls.
pub(crate) enum LoopWaker {
    Mio(mio::Waker),
    #[cfg(target_os = "linux")]
    EventFd(std::sync::Arc<std::os::fd::OwnedFd>),
}

impl LoopWaker {
    pub(crate) fn wake(&self) -> io::Result<()> {
        match self {
            LoopWaker::Mio(w) => w.wake(),
            #[cfg(target_os = "linux")]
            LoopWaker::EventFd(fd) => super::uring::wake_eventfd(fd),
        }
    }
}

pub(super) fn token(key: Key) -> u64 {
    ((key.gen as u64) << 32) | key.index as u64
}

pub(super) fn key(token: u64) -> Key {
    Key {
        index: token as u32,
        gen: (token >> 32) as u32,
    }
}

impl Reactor {
    /// A reactor on `driver` (io_uring falls back to readiness where the
    /// kernel refuses it), with the waker other threads use.
    pub(crate) fn new(driver: Driver) -> io::Result<(Reactor, LoopWaker)> {
        #[cfg(target_os = "linux")]
        if driver == Driver::IoUring {
            match super::uring::Uring::new() {
                Ok((uring, waker)) => {
                    return Ok((
                        Reactor {
                            backend: Backend::Uring(Box::new(uring)),
                            sources: RefCell::new(Slab::default()),
                        },
                        waker,
                    ))
                }
                Err(e) => super::uring::fell_back(&e),
            }
        }
        let _ = driver;
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let registry = poll.registry().try_clone()?;
        Ok((
            Reactor {
                backend: Backend::Mio {
                    poll: RefCell::new(poll),
                    events: RefCell::new(Events::with_capacity(1024)),
                    registry,
                },
                sources: RefCell::new(Slab::default()),
            },
            LoopWaker::Mio(waker),
        ))
    }

    /// The driver this reactor runs on.
    pub(crate) fn driver(&self) -> Driver {
        match self.backend {
            Backend::Mio { .. } => Driver::Readiness,
            #[cfg(target_os = "linux")]
            Backend::Uring(_) => Driver::IoUring,
        }
    }

    /// Number of registered sources.
    pub(crate) fn len(&self) -> usize {
        self.sources.borrow().len()
    }

    /// Registers `fd` for the given directions (at least one).
    pub(crate) fn register(&self, fd: RawFd, readable: bool, writable: bool) -> io::Result<Key> {
        let key = self.sources.borrow_mut().insert(IoSlot {
            readiness: 0,
            reader: None,
            writer: None,
            fd,
            readable,
            writable,
            armed: true,
            failed: None,
        });
        let res = match &self.backend {
            Backend::Mio { registry, .. } => {
                let interest = match (readable, writable) {
                    (true, false) => Interest::READABLE,
                    (false, true) => Interest::WRITABLE,
                    _ => Interest::READABLE | Interest::WRITABLE,
                };
                registry.register(&mut mio::unix::SourceFd(&fd), Token(token(key) as usize), interest)
            }
            #[cfg(target_os = "linux")]
            Backend::Uring(u) => u.arm(key, fd, readable, writable),
        };
        if let Err(e) = res {
            self.sources.borrow_mut().remove(key);
            return Err(e);
        }
        Ok(key)
    }

    /// Forgets `key`'s registration of `fd` (before the caller closes or
    /// gives back the descriptor).
    pub(crate) fn deregister(&self, key: Key, fd: RawFd) -> io::Result<()> {
        let slot = self.sources.borrow_mut().remove(key);
        drop(slot); // wakers dropped outside the borrow
        match &self.backend {
            Backend::Mio { registry, .. } => registry.deregister(&mut mio::unix::SourceFd(&fd)),
            #[cfg(target_os = "linux")]
            Backend::Uring(u) => u.disarm(key),
        }
    }

    /// Ready if the source is ready in `dir`; otherwise remembers the waker.
    pub(crate) fn poll_ready(&self, key: Key, dir: Direction, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut sources = self.sources.borrow_mut();
        let Some(slot) = sources.get_mut(key) else {
            return Poll::Ready(Err(io::Error::other("I/O source is no longer registered")));
        };
        if slot.readiness & dir.mask() != 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(errno) = slot.failed {
            return Poll::Ready(Err(io::Error::from_raw_os_error(errno)));
        }
        #[cfg(target_os = "linux")]
        if let Backend::Uring(u) = &self.backend {
            if let Err(e) = u.rearm(key, slot) {
                return Poll::Ready(Err(e));
            }
        }
        let w = match dir {
            Direction::Read => &mut slot.reader,
            Direction::Write => &mut slot.writer,
        };
        match w {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Forgets readiness in `dir` after an operation hit `WouldBlock`:
    /// the direction's bit and `ERROR` (an error an operation reported is
    /// consumed: a UDP socket's `ECONNREFUSED` is returned once, and a
    /// sticky bit would then make every wait end at once and every
    /// operation block again, forever). Hang-ups stay.
    pub(crate) fn clear_ready(&self, key: Key, dir: Direction) {
        if let Some(slot) = self.sources.borrow_mut().get_mut(key) {
            slot.readiness &= !(ERROR
                | match dir {
                    Direction::Read => READABLE,
                    Direction::Write => WRITABLE,
                });
        }
    }

    /// Waits for events up to `timeout` (`None`: forever) and collects the
    /// wakers of the sources that became ready. Returns the number of I/O
    /// events (the cross-thread wake is not counted).
    pub(crate) fn turn(&self, timeout: Option<Duration>, wakers: &mut Vec<Waker>) -> io::Result<usize> {
        let (poll, events) = match &self.backend {
            Backend::Mio { poll, events, .. } => (poll, events),
            #[cfg(target_os = "linux")]
            Backend::Uring(u) => return u.turn(timeout, &self.sources, wakers),
        };
        let mut events = events.borrow_mut();
        match poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut n = 0;
        let mut sources = self.sources.borrow_mut();
        for ev in events.iter() {
            if ev.token() == WAKE_TOKEN {
                continue;
            }
            n += 1;
            let Some(slot) = sources.get_mut(key(ev.token().0 as u64)) else {
                continue;
            };
            let mut bits = 0;
            if ev.is_readable() {
                bits |= READABLE;
            }
            if ev.is_writable() {
                bits |= WRITABLE;
            }
            if ev.is_read_closed() {
                bits |= READ_CLOSED;
            }
            if ev.is_write_closed() {
                bits |= WRITE_CLOSED;
            }
            if ev.is_error() {
                bits |= ERROR;
            }
            slot.ready(bits, wakers);
        }
        Ok(n)
    }

    /// Drops every registration's wakers (loop close).
    pub(crate) fn clear(&self) -> Vec<Waker> {
        let slots = self.sources.borrow_mut().drain();
        slots
            .into_iter()
            .flat_map(|s| s.reader.into_iter().chain(s.writer))
            .collect()
    }
}

/// Receives from `sock` straight into the unfilled part of `buf`, which is
/// never zeroed first, and marks what the kernel wrote as filled. Returns
/// how many bytes came (0: end of stream, or `buf` was full).
#[cfg(feature = "tokio-io")]
pub(crate) fn recv_into(sock: std::os::fd::BorrowedFd<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> std::io::Result<usize> {
    // SAFETY: the slice is only handed to `recv`, which writes bytes into
    // it and never de-initializes any.
    let unfilled = unsafe { buf.unfilled_mut() };
    let n = socket2::SockRef::from(&sock).recv(unfilled)?;
    // SAFETY: `recv` returned `n`: the kernel wrote the first `n` bytes of
    // the unfilled part.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(n)
}
