//! The reactor's io_uring backend (Linux 5.13+): readiness through one
//! multishot `IORING_OP_POLL_ADD` per registered source.
//!
//! - **Batching.** Registering a source queues a submission entry and does
//!   not enter the kernel; the next [`Uring::turn`] carries every queued
//!   entry and reaps every completion in one `io_uring_enter`. A turn that
//!   must not wait (the loop had ready work, or it is spinning before
//!   sleeping) reads the completion queue in shared memory and makes no
//!   system call at all when nothing is queued and the kernel has flagged no
//!   pending work.
//! - **The ring** is single-issuer with deferred task work
//!   (`IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG`): only the
//!   loop's thread enters it, and the kernel posts completions when that
//!   thread asks for them instead of interrupting it; the task-run flag in
//!   the shared submission-queue header says when there is something to
//!   ask for. Kernels that refuse those flags get a plain ring.
//! - **Edge-triggered**, as epoll with `EPOLLET`: a multishot poll posts a
//!   completion each time the source becomes ready, and the reactor
//!   remembers the readiness until an operation reports `WouldBlock`. When
//!   the kernel ends a multishot poll (no `IORING_CQE_F_MORE`: its
//!   completion queue overflowed, or the file cannot be polled and is
//!   always ready, as a regular file), it is armed again lazily, from the
//!   fd and interest the slot keeps, the next time a task is about to wait
//!   on the source: an always-ready file is never re-armed (re-arming at
//!   once would complete at once, for ever). A poll that fails (`EBADF`,
//!   `EINVAL`) makes every wait on the source report that error.
//! - Unlike epoll, the ring accepts a regular file or the same descriptor
//!   registered twice: the first is always ready, the second watched twice.
//! - **Deregistration** queues an `ASYNC_CANCEL` of the poll and enters
//!   the kernel at once, running the task work that completes it: the poll
//!   holds a reference to the file, so a socket the caller closes next
//!   would otherwise stay open (no FIN or RST sent) until the next turn.
//!   (Not `POLL_REMOVE`: it fails with `EALREADY` while the poll has an
//!   event waiting in task work, as a busy socket's often has.)
//! - **Cross-thread wakes**: an eventfd the ring polls (multishot too);
//!   other threads write to it. Never read: each write is a new edge, and a
//!   full counter is reset by the writer.
//!
//! The timer wheel stays the loop's own: the wait's timeout is the
//! `io_uring_enter` timeout (`IORING_ENTER_EXT_ARG`).

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::reactor::{key, token, IoSlot, LoopWaker, ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};
use super::slab::{Key, Slab};

/// The `user_data` of the cross-thread eventfd's poll.
const WAKE: u64 = u64::MAX;
/// The `user_data` of entries whose completion means nothing (removals).
const IGNORE: u64 = u64::MAX - 1;

const SQ_ENTRIES: u32 = 256;
const CQ_ENTRIES: u32 = 4096;

const POLLIN: u32 = libc::POLLIN as u32;
const POLLPRI: u32 = libc::POLLPRI as u32;
const POLLOUT: u32 = libc::POLLOUT as u32;
const POLLERR: u32 = libc::POLLERR as u32;
const POLLHUP: u32 = libc::POLLHUP as u32;
const POLLRDHUP: u32 = libc::POLLRDHUP as u32;

pub(crate) struct Uring {
    ring: RefCell<IoUring>,
    /// The eventfd other threads write to (also held by their `LoopWaker`).
    wake_fd: Arc<OwnedFd>,
    /// Completions copied out of the ring before they are acted on (acting
    /// may queue new entries).
    cqes: RefCell<Vec<(u64, i32, u32)>>,
    /// Whether the eventfd's poll is live (re-armed at the next turn's
    /// start when the kernel ended it).
    wake_armed: std::cell::Cell<bool>,
}

impl Uring {
    fn build() -> io::Result<IoUring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .or_else(|_| IoUring::builder().setup_cqsize(CQ_ENTRIES).build(SQ_ENTRIES))?;
        let p = ring.params();
        // Multishot poll came in 5.13, with resource tagging; the wait's
        // timeout needs EXT_ARG (5.11); overflowed completions must be kept
        // (NODROP, 5.5).
        if !(p.is_feature_ext_arg() && p.is_feature_resource_tagging() && p.is_feature_nodrop()) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel's io_uring is older than Linux 5.13 (multishot poll, wait timeouts)",
            ));
        }
        Ok(ring)
    }

    /// Whether a ring can be made here.
    pub(crate) fn probe() -> io::Result<()> {
        Self::build().map(drop)
    }

    pub(crate) fn new() -> io::Result<(Uring, LoopWaker)> {
        let ring = Self::build()?;
        let wake_fd = Arc::new(rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?);
        let uring = Uring {
            ring: RefCell::new(ring),
            wake_fd: wake_fd.clone(),
            cqes: RefCell::new(Vec::with_capacity(256)),
            wake_armed: std::cell::Cell::new(true),
        };
        uring.arm_wake()?;
        Ok((uring, LoopWaker::EventFd(wake_fd)))
    }

    /// Queues the cross-thread eventfd's poll.
    fn arm_wake(&self) -> io::Result<()> {
        self.push(&poll_entry(self.wake_fd.as_raw_fd(), POLLIN, WAKE))?;
        self.wake_armed.set(true);
        Ok(())
    }

    /// Queues `entry`, first handing the queue to the kernel if it is full.
    fn push(&self, entry: &squeue::Entry) -> io::Result<()> {
        let mut ring = self.ring.borrow_mut();
        loop {
            // SAFETY: the entries queued here (poll add, cancel) refer to no
            // memory of ours: nothing has to outlive the submission.
            if unsafe { ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            ring.submit()?;
        }
    }

    /// Starts watching `fd` for `key` (queued; submitted by the next turn).
    pub(crate) fn arm(&self, key: Key, fd: RawFd, readable: bool, writable: bool) -> io::Result<()> {
        self.push(&poll_entry(fd, interest(readable, writable), token(key)))
    }

    /// Stops watching `key`'s source, now (see the module notes).
    pub(crate) fn disarm(&self, key: Key) -> io::Result<()> {
        // A cancel marks the poll cancelled whatever its state (see the
        // module notes); the task work run with the submission completes it.
        self.push(&opcode::AsyncCancel::new(token(key)).build().user_data(IGNORE))?;
        let mut ring = self.ring.borrow_mut();
        submit_and_run(&mut ring)?;
        // One enter runs a bounded batch of deferred task work (about 20
        // items since Linux 6.13), and the cancel's item queues behind the
        // pending readiness of busy sources: enter again while the kernel
        // flags work left, so the file is released before the caller
        // closes the descriptor. (Bounded: each pass runs a batch.)
        for _ in 0..1024 {
            if !ring.submission().taskrun() {
                break;
            }
            submit_and_run(&mut ring)?;
        }
        Ok(())
    }

    /// Arms `key`'s poll again if the kernel ended it (see
    /// [`IoSlot::armed`]); the entry goes out with the next turn.
    pub(crate) fn rearm(&self, key: Key, slot: &mut IoSlot) -> io::Result<()> {
        if !slot.armed {
            self.push(&poll_entry(slot.fd, interest(slot.readable, slot.writable), token(key)))?;
            slot.armed = true;
        }
        Ok(())
    }

    /// Submits what is queued, waits up to `timeout` (`None`: forever) for a
    /// completion unless `timeout` is zero, and turns the completions into
    /// readiness of `sources`, collecting the wakers. Returns the number of
    /// I/O events. Every completion in the queue is acted on even when the
    /// enter failed (its error is returned after): none is dropped.
    pub(crate) fn turn(
        &self,
        timeout: Option<Duration>,
        sources: &RefCell<Slab<IoSlot>>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<usize> {
        if !self.wake_armed.get() {
            self.arm_wake()?;
        }
        let entered = {
            let mut ring = self.ring.borrow_mut();
            let res = match timeout {
                Some(t) if t.is_zero() => {
                    let sq = ring.submission();
                    if sq.is_empty() && !sq.taskrun() && !sq.cq_overflow() {
                        Ok(0)
                    } else {
                        drop(sq);
                        submit_and_run(&mut ring)
                    }
                }
                None => ring.submit_and_wait(1),
                Some(t) => {
                    let ts = types::Timespec::from(t);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    ring.submitter().submit_with_args(1, &args)
                }
            };
            match res {
                Err(e) if !matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => Err(e),
                _ => Ok(()),
            }
        };
        let mut cqes = self.cqes.borrow_mut();
        self.ring
            .borrow_mut()
            .completion()
            .for_each(|c| cqes.push((c.user_data(), c.result(), c.flags())));
        let mut n = 0;
        let mut sources = sources.borrow_mut();
        for (user_data, res, flags) in cqes.drain(..) {
            if user_data == IGNORE {
                continue;
            }
            let ended = !cqueue::more(flags);
            if user_data == WAKE {
                if ended {
                    // Armed again at the start of the next turn, before it
                    // submits (not here: a failure must not stop this loop).
                    self.wake_armed.set(false);
                }
                continue;
            }
            let key = key(user_data);
            // A completion for a source deregistered since is dropped.
            let Some(slot) = sources.get_mut(key) else {
                continue;
            };
            n += 1;
            if res >= 0 {
                slot.ready(bits(res as u32), wakers);
                if ended {
                    slot.armed = false;
                }
            } else if res == -libc::ECANCELED {
                // Not our cancel (the slot is live): watch it again when
                // someone waits on it.
                slot.armed = false;
            } else {
                // The descriptor was closed under the registration
                // (`EBADF`), or cannot be watched: every wait reports it
                // rather than waiting forever or polling in a circle.
                slot.armed = false;
                slot.fail(-res, wakers);
            }
        }
        entered.map(|()| n)
    }
}

/// Submits what is queued and runs the deferred task work in the same
/// `io_uring_enter`, without waiting: a poll armed by this submission on a
/// source that is already ready has its completion in the queue on return.
/// (A plain submit would leave it in task work until the next enter: a
/// look at I/O that must see everything already there, as the virtual
/// clock's before it jumps, would miss it.)
fn submit_and_run(ring: &mut IoUring) -> io::Result<usize> {
    let queued = ring.submission().len() as u32;
    // SAFETY: no argument pointer is passed (`None`), so the size given
    // for it is never read.
    unsafe {
        ring.submitter()
            .enter::<libc::sigset_t>(queued, 0, io_uring::EnterFlags::GETEVENTS.bits(), None)
    }
}

fn interest(readable: bool, writable: bool) -> u32 {
    let mut mask = 0;
    if readable {
        mask |= POLLIN | POLLRDHUP;
    }
    if writable {
        mask |= POLLOUT;
    }
    mask
}

fn poll_entry(fd: RawFd, mask: u32, user_data: u64) -> squeue::Entry {
    opcode::PollAdd::new(types::Fd(fd), mask)
        .multi(true)
        .build()
        .user_data(user_data)
}

/// A poll result's events as the reactor's readiness bits (as mio reads
/// epoll's).
fn bits(events: u32) -> u8 {
    let mut bits = 0;
    if events & (POLLIN | POLLPRI) != 0 {
        bits |= READABLE;
    }
    if events & POLLOUT != 0 {
        bits |= WRITABLE;
    }
    if events & POLLHUP != 0 || (events & POLLIN != 0 && events & POLLRDHUP != 0) {
        bits |= READ_CLOSED;
    }
    if events & POLLHUP != 0 || (events & POLLOUT != 0 && events & POLLERR != 0) || events == POLLERR {
        bits |= WRITE_CLOSED;
    }
    if events & POLLERR != 0 {
        bits |= ERROR;
    }
    bits
}

/// Wakes the loop that polls `fd` (an eventfd).
pub(crate) fn wake_eventfd(fd: &OwnedFd) -> io::Result<()> {
    loop {
        match rustix::io::write(fd, &1u64.to_ne_bytes()) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            // The counter is full (2^64 - 2 wakes, never read): empty it.
            // Its poll is already due, so this wake is not lost.
            Err(rustix::io::Errno::AGAIN) => {
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(fd, &mut buf);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A loop asked for io_uring runs on readiness instead: says so once per
/// process, with the reason.
pub(crate) fn fell_back(err: &io::Error) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!("asyncio: io_uring unavailable ({err}); the loop runs on the readiness driver (epoll) instead");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_bits_read_as_mio_reads_epoll() {
        assert_eq!(bits(POLLIN), READABLE);
        assert_eq!(bits(POLLOUT), WRITABLE);
        assert_eq!(bits(POLLIN | POLLRDHUP), READABLE | READ_CLOSED);
        assert_eq!(bits(POLLRDHUP), 0);
        assert_eq!(bits(POLLHUP), READ_CLOSED | WRITE_CLOSED);
        assert_eq!(bits(POLLERR), WRITE_CLOSED | ERROR);
        assert_eq!(bits(POLLOUT | POLLERR), WRITABLE | WRITE_CLOSED | ERROR);
        assert_eq!(bits(POLLIN | POLLERR), READABLE | ERROR);
    }
}

#[cfg(test)]
mod ring_tests {
    use super::*;
    use std::io::Write;

    fn slot(fd: RawFd) -> IoSlot {
        IoSlot {
            readiness: 0,
            reader: None,
            writer: None,
            fd,
            readable: true,
            writable: false,
            armed: true,
            failed: None,
        }
    }

    #[test]
    fn a_turn_that_does_not_wait_sees_readiness_with_no_waiting() {
        if Uring::probe().is_err() {
            eprintln!("io_uring unavailable: skipped");
            return;
        }
        let (u, _waker) = Uring::new().unwrap();
        let sources = RefCell::new(Slab::default());
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let key = sources.borrow_mut().insert(slot(a.as_raw_fd()));
        u.arm(key, a.as_raw_fd(), true, false).unwrap();
        let mut wakers = Vec::new();
        // Submits the arm; nothing to read yet.
        assert_eq!(u.turn(Some(Duration::ZERO), &sources, &mut wakers).unwrap(), 0);
        // Nothing queued, nothing flagged: no system call, still nothing.
        assert_eq!(u.turn(Some(Duration::ZERO), &sources, &mut wakers).unwrap(), 0);
        b.write_all(b"x").unwrap();
        // The kernel flagged deferred work: the next non-waiting turn runs
        // it and sees the edge.
        assert_eq!(u.turn(Some(Duration::ZERO), &sources, &mut wakers).unwrap(), 1);
        assert_eq!(sources.borrow().get(key).unwrap().readiness & READABLE, READABLE);
        // One edge, one event.
        assert_eq!(u.turn(Some(Duration::ZERO), &sources, &mut wakers).unwrap(), 0);
        b.write_all(b"y").unwrap();
        assert_eq!(u.turn(Some(Duration::from_secs(5)), &sources, &mut wakers).unwrap(), 1);
    }

    #[test]
    fn a_cross_thread_wake_ends_a_wait() {
        if Uring::probe().is_err() {
            eprintln!("io_uring unavailable: skipped");
            return;
        }
        let (u, waker) = Uring::new().unwrap();
        let sources = RefCell::new(Slab::default());
        let mut wakers = Vec::new();
        u.turn(Some(Duration::ZERO), &sources, &mut wakers).unwrap();
        let t = std::thread::spawn(move || waker.wake().unwrap());
        // Forever: only the wake can end it (the test would hang otherwise).
        assert_eq!(u.turn(None, &sources, &mut wakers).unwrap(), 0);
        t.join().unwrap();
    }
}
