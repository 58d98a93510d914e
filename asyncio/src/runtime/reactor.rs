//! The I/O driver: a `mio::Poll` (epoll on Linux), a slab of registered
//! sources with their readiness and wakers, and the loop's cross-thread
//! `mio::Waker`.
//!
//! mio is edge-triggered, so readiness is remembered here: an event sets the
//! source's bits, and the bits stay set until the user's operation reports
//! `WouldBlock` and clears them. The loop is single-threaded, so no event can
//! arrive between that operation and the clear (events are only read during
//! [`Reactor::turn`], never while a task runs): the classic lost-wakeup race
//! of edge-triggered readiness cannot happen.

use std::cell::RefCell;
use std::io;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::{Events, Interest, Token};

use super::slab::{Key, Slab};

/// The token of the loop's cross-thread waker.
const WAKE_TOKEN: Token = Token(usize::MAX);

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;
const READ_CLOSED: u8 = 4;
const WRITE_CLOSED: u8 = 8;
const ERROR: u8 = 16;

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

#[derive(Default)]
struct IoSlot {
    readiness: u8,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

pub(crate) struct Reactor {
    poll: RefCell<mio::Poll>,
    events: RefCell<Events>,
    registry: mio::Registry,
    sources: RefCell<Slab<IoSlot>>,
}

fn token(key: Key) -> Token {
    Token(((key.gen as usize) << 32) | key.index as usize)
}

fn key(token: Token) -> Key {
    Key {
        index: token.0 as u32,
        gen: (token.0 >> 32) as u32,
    }
}

impl Reactor {
    pub(crate) fn new() -> io::Result<(Reactor, mio::Waker)> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let registry = poll.registry().try_clone()?;
        Ok((
            Reactor {
                poll: RefCell::new(poll),
                events: RefCell::new(Events::with_capacity(1024)),
                registry,
                sources: RefCell::new(Slab::default()),
            },
            waker,
        ))
    }

    /// Number of registered sources.
    pub(crate) fn len(&self) -> usize {
        self.sources.borrow().len()
    }

    pub(crate) fn register(&self, source: &mut impl mio::event::Source, interest: Interest) -> io::Result<Key> {
        let key = self.sources.borrow_mut().insert(IoSlot::default());
        if let Err(e) = self.registry.register(source, token(key), interest) {
            self.sources.borrow_mut().remove(key);
            return Err(e);
        }
        Ok(key)
    }

    pub(crate) fn deregister(&self, key: Key, source: &mut impl mio::event::Source) -> io::Result<()> {
        let slot = self.sources.borrow_mut().remove(key);
        drop(slot); // wakers dropped outside the borrow
        self.registry.deregister(source)
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

    /// Forgets readiness in `dir` after an operation hit `WouldBlock`.
    pub(crate) fn clear_ready(&self, key: Key, dir: Direction) {
        if let Some(slot) = self.sources.borrow_mut().get_mut(key) {
            slot.readiness &= !match dir {
                Direction::Read => READABLE,
                Direction::Write => WRITABLE,
            };
        }
    }

    /// Waits for events up to `timeout` (`None`: forever) and collects the
    /// wakers of the sources that became ready. Returns the number of I/O
    /// events (the cross-thread wake is not counted).
    pub(crate) fn turn(&self, timeout: Option<Duration>, wakers: &mut Vec<Waker>) -> io::Result<usize> {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
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
            let Some(slot) = sources.get_mut(key(ev.token())) else {
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
            slot.readiness |= bits;
            if bits & Direction::Read.mask() != 0 {
                wakers.extend(slot.reader.take());
            }
            if bits & Direction::Write.mask() != 0 {
                wakers.extend(slot.writer.take());
            }
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
