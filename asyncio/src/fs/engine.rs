//! The machinery under [`File`](super::File): one `std::fs::File` that
//! travels to the thread pool and back, a read-ahead buffer and a write
//! buffer.
//!
//! # State
//!
//! The std file is either here ([`State::Idle`]) or inside the one job on
//! the pool that works on it ([`State::Busy`], which keeps the job's handle,
//! its ticket and what kind of job it is). Each job takes the file, does one
//! operation ([`Op`]) and returns the file with what it found ([`Done`]).
//! At most one job is in flight per file, so operations happen on the file
//! in the order they were started.
//!
//! # Everything a job finds is absorbed into the state
//!
//! Whoever polls the engine next (the operation that started the job, or a
//! later one if that operation's future was dropped) takes the finished job
//! back with [`Engine::poll_settle`], and `absorb` files its outcome where
//! it belongs, whoever is asking:
//!
//! - bytes read are appended to the read-ahead buffer (`rbuf[rpos..]`), and
//!   an end of file sets `eof` (reported once, by the next read that finds
//!   the buffer empty);
//! - a write's buffer comes back for reuse;
//! - a seek that succeeded empties the read-ahead buffer (it was counted in
//!   the seek's offset, see below);
//! - replies (a seek's position, metadata, `()` of `sync_all`) go to the
//!   reply slot with the job's ticket, where the operation that started the
//!   job collects them ([`Engine::poll_reply`]);
//! - errors go to the reply slot or, for reads and writes, to `error`: an
//!   error nobody has seen yet, reported by the next operation that waits
//!   for the file ([`Engine::poll_idle`]). A stale error reply is moved
//!   there too, so no error is dropped unseen.
//!
//! This is what makes every operation cancel safe in the same way: a
//! dropped future leaves at most a job in flight, and the next operation
//! first waits for it and absorbs it. No read data is lost, and no write
//! that was handed to the pool is undone.
//!
//! # Where the cursor is
//!
//! The std file's cursor is past the read-ahead data and before the
//! buffered writes: the position the user sees is `cursor - unread` while
//! reading and `cursor + wbuf.len()` while writing. The two buffers are
//! never both in use: a write first gives the read-ahead back (one seek of
//! `-unread`, the "rewind"), and a read first writes out the write buffer.
//! A user's `SeekFrom::Current(n)` becomes `Current(n - unread)`, so a seek
//! needs no rewind of its own.
//!
//! While a job that is not a read is in flight (a seek, a rewind, a write),
//! readers wait for it before they serve from the buffer: a seek in flight
//! is about to empty it. A read in flight (one whose future was dropped)
//! only appends, so the buffer in front of it can still be served.
//!
//! # Writes go behind
//!
//! `write` copies into the write buffer. Once it holds a chunk (64 KiB) the
//! buffer is handed to the pool, and the next writes fill a fresh buffer
//! while the pool writes; a write that finds a full buffer and a write still
//! in flight waits for it (two chunks in memory at most, besides one large
//! write's own bytes). A failed background write is reported by the next
//! operation that waits for the file (`flush` at the latest).

use std::fs;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::executor::{JobError, JobHandle, ThreadPoolExecutor};

/// How much one read-ahead fetches, and how much writing buffers before it
/// goes to the pool.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The most one read fetches, however large a `read` asks for (it returns
/// "up to n bytes").
const MAX_FETCH: usize = 64 * 1024 * 1024;

/// One operation on the std file, run on a pool thread.
pub(crate) enum Op {
    /// One `read` of up to `want` bytes into `buf` (a recycled buffer).
    Read {
        buf: Vec<u8>,
        want: usize,
    },
    /// Everything up to the end of the file.
    ReadToEnd {
        buf: Vec<u8>,
    },
    /// `write_all` of `buf`.
    Write {
        buf: Vec<u8>,
    },
    Seek(SeekFrom),
    SyncAll,
    SyncData,
    SetLen(u64),
    Metadata,
}

/// What a job found.
enum Done {
    /// The bytes read (`buf` holds only them); `Ok(true)` at the end of the
    /// file. On an error `buf` holds what was read before it.
    Read {
        buf: Vec<u8>,
        res: io::Result<bool>,
    },
    /// A write's buffer, emptied, for reuse.
    Wrote {
        buf: Vec<u8>,
        res: io::Result<()>,
    },
    Sought(io::Result<u64>),
    Reply(io::Result<Reply>),
}

/// A finished job's answer, for the operation that started it.
pub(crate) enum Reply {
    Unit,
    Pos(u64),
    Metadata(fs::Metadata),
}

impl Op {
    fn kind(&self) -> Kind {
        match self {
            Op::Read { .. } | Op::ReadToEnd { .. } => Kind::Read,
            Op::Write { .. } => Kind::Write,
            _ => Kind::Other,
        }
    }

    /// Runs on the pool thread.
    fn run(self, file: &mut fs::File) -> Done {
        match self {
            Op::Read { mut buf, want } => {
                buf.clear();
                buf.resize(want, 0);
                let res = loop {
                    match file.read(&mut buf) {
                        Ok(n) => break Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(*res.as_ref().unwrap_or(&0));
                Done::Read {
                    buf,
                    res: res.map(|n| n == 0),
                }
            }
            Op::ReadToEnd { mut buf } => {
                buf.clear();
                let res = file.read_to_end(&mut buf).map(|_| true);
                Done::Read { buf, res }
            }
            Op::Write { mut buf } => {
                let res = file.write_all(&buf);
                buf.clear();
                Done::Wrote { buf, res }
            }
            Op::Seek(pos) => Done::Sought(file.seek(pos)),
            Op::SyncAll => Done::Reply(file.sync_all().map(|()| Reply::Unit)),
            Op::SyncData => Done::Reply(file.sync_data().map(|()| Reply::Unit)),
            Op::SetLen(len) => Done::Reply(file.set_len(len).map(|()| Reply::Unit)),
            Op::Metadata => Done::Reply(file.metadata().map(Reply::Metadata)),
        }
    }
}

/// The kind of the job in flight: readers may serve from the buffer in
/// front of a read, writers may buffer behind a write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Read,
    Write,
    Other,
}

type Job = JobHandle<(fs::File, Done)>;

enum State {
    /// The std file is here.
    Idle(fs::File),
    /// The std file is in the job `job` on the pool.
    Busy { job: Job, ticket: u64, kind: Kind },
    /// The file is gone: a job panicked or was cancelled by a pool shutdown
    /// (the file went down with it), or it was taken by `into_std`.
    Lost,
}

/// How much a read needs.
#[derive(Clone, Copy)]
pub(crate) enum Want {
    /// At least one byte; fetch up to this many (at least a chunk).
    Some(usize),
    /// Everything up to the end of the file.
    All,
}

/// The state of one [`File`](super::File); see the module docs.
pub(crate) struct Engine {
    state: State,
    /// The pool the last job ran on, for `Drop` outside a loop.
    executor: Option<ThreadPoolExecutor>,
    /// `rbuf[rpos..]` was read ahead and not consumed yet.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Unread bytes, from `rpos`, known to hold no `\n`.
    scanned: usize,
    /// The last read found the end of the file.
    eof: bool,
    /// Written, not yet handed to the pool.
    wbuf: Vec<u8>,
    /// A recycled buffer for the next read or write.
    spare: Vec<u8>,
    /// An error no caller has seen yet.
    error: Option<io::Error>,
    /// The last reply, with its job's ticket, until collected.
    reply: Option<(u64, io::Result<Reply>)>,
    /// The seek that `AsyncSeek::poll_seek` started, with its target.
    pub(crate) seek_op: Option<(u64, SeekFrom)>,
    next_ticket: u64,
    hops: u64,
}

/// A job's failure (it panicked, or a pool shutdown cancelled it) as an
/// `io::Error`.
pub(crate) fn job_error(e: JobError) -> io::Error {
    io::Error::other(e.to_string())
}

fn lost() -> io::Error {
    io::Error::other("the file is unusable: a job on the thread pool failed and the file went with it")
}

impl Engine {
    pub(crate) fn new(file: fs::File) -> Self {
        Engine {
            state: State::Idle(file),
            executor: None,
            rbuf: Vec::new(),
            rpos: 0,
            scanned: 0,
            eof: false,
            wbuf: Vec::new(),
            spare: Vec::new(),
            error: None,
            reply: None,
            seek_op: None,
            next_ticket: 0,
            hops: 0,
        }
    }

    /// Jobs started so far.
    pub(crate) fn hops(&self) -> u64 {
        self.hops
    }

    pub(crate) fn unread(&self) -> &[u8] {
        &self.rbuf[self.rpos..]
    }

    pub(crate) fn buffered_writes(&self) -> usize {
        self.wbuf.len()
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            State::Idle(_) => "idle",
            State::Busy { .. } => "busy",
            State::Lost => "lost",
        }
    }

    fn busy_kind(&self) -> Option<Kind> {
        match self.state {
            State::Busy { kind, .. } => Some(kind),
            _ => None,
        }
    }

    // ---- the buffers ----

    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.unread().len());
        self.rpos += n;
        self.scanned = self.scanned.saturating_sub(n);
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        }
    }

    /// The next `n` unread bytes, consumed.
    pub(crate) fn take(&mut self, n: usize) -> Vec<u8> {
        // The whole buffer is handed over as it is, unless most of its
        // capacity would go along unused.
        if self.rpos == 0 && n == self.rbuf.len() && n >= self.rbuf.capacity() / 2 {
            self.scanned = 0;
            return std::mem::take(&mut self.rbuf);
        }
        let out = self.unread()[..n].to_vec();
        self.consume(n);
        out
    }

    fn clear_read_ahead(&mut self) {
        self.rbuf.clear();
        self.rpos = 0;
        self.scanned = 0;
        self.eof = false;
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() > self.spare.capacity() {
            self.spare = buf;
            self.spare.clear();
        }
    }

    /// Appends bytes a read job found.
    fn append_read(&mut self, mut buf: Vec<u8>) {
        if self.unread().is_empty() {
            std::mem::swap(&mut self.rbuf, &mut buf);
            self.rpos = 0;
            self.scanned = 0;
        } else {
            if self.rpos > 0 {
                self.rbuf.drain(..self.rpos);
                self.rpos = 0;
            }
            self.rbuf.extend_from_slice(&buf);
        }
        self.recycle(buf);
    }

    // ---- jobs ----

    /// The pool to run the next job on: the running loop's default
    /// executor (as `to_thread`), or outside a loop the last one used.
    fn pool(&mut self) -> io::Result<ThreadPoolExecutor> {
        if let Some(lp) = crate::try_get_running_loop() {
            let pool = lp.default_executor();
            if !pool.is_shutdown() {
                self.executor = Some(pool.clone());
                return Ok(pool);
            }
        }
        match &self.executor {
            Some(pool) if !pool.is_shutdown() => Ok(pool.clone()),
            _ => Err(io::Error::other(
                "no thread pool to run the file operation on (the executor is shut down)",
            )),
        }
    }

    /// Starts `op` on the pool; the engine must be idle. Checks everything
    /// that can fail before `op` is built, so a refused start loses no
    /// buffer.
    fn start(&mut self, op: impl FnOnce(&mut Self) -> Op) -> io::Result<u64> {
        debug_assert!(self.busy_kind().is_none(), "one job at a time");
        let pool = self.pool()?;
        let file = match std::mem::replace(&mut self.state, State::Lost) {
            State::Idle(file) => file,
            other => {
                self.state = other;
                return Err(lost());
            }
        };
        let op = op(self);
        let kind = op.kind();
        let job = pool.submit(move || {
            let mut file = file;
            let done = op.run(&mut file);
            (file, done)
        });
        self.next_ticket += 1;
        self.hops += 1;
        let ticket = self.next_ticket;
        self.state = State::Busy { job, ticket, kind };
        Ok(ticket)
    }

    fn start_write(&mut self) -> io::Result<u64> {
        self.start(|e| {
            let fresh = std::mem::take(&mut e.spare);
            Op::Write {
                buf: std::mem::replace(&mut e.wbuf, fresh),
            }
        })
    }

    fn start_read(&mut self, want: Want) -> io::Result<u64> {
        self.start(|e| {
            let buf = std::mem::take(&mut e.spare);
            match want {
                Want::Some(n) => Op::Read {
                    buf,
                    want: n.clamp(CHUNK, MAX_FETCH),
                },
                Want::All => Op::ReadToEnd { buf },
            }
        })
    }

    /// Gives the read-ahead back: one seek of `-unread`.
    fn start_rewind(&mut self) -> io::Result<u64> {
        let back = i64::try_from(self.unread().len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.start(|_| Op::Seek(SeekFrom::Current(-back)))
    }

    /// Waits for the job in flight, if any, and absorbs it.
    pub(crate) fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Busy { job, ticket, .. } = &mut self.state else {
            return Poll::Ready(());
        };
        let result = ready!(Pin::new(job).poll(cx));
        let ticket = *ticket;
        self.absorb(ticket, result);
        Poll::Ready(())
    }

    fn absorb(&mut self, ticket: u64, result: Result<(fs::File, Done), JobError>) {
        let done = match result {
            Ok((file, done)) => {
                self.state = State::Idle(file);
                done
            }
            Err(e) => {
                self.state = State::Lost;
                self.set_reply(ticket, Err(job_error(e)));
                return;
            }
        };
        match done {
            Done::Read { buf, res } => {
                if !buf.is_empty() {
                    self.append_read(buf);
                } else {
                    self.recycle(buf);
                }
                match res {
                    Ok(eof) => self.eof = eof,
                    Err(e) => self.stash(e),
                }
            }
            Done::Wrote { buf, res } => {
                self.recycle(buf);
                if let Err(e) = res {
                    self.stash(e);
                }
            }
            Done::Sought(res) => {
                if res.is_ok() {
                    self.clear_read_ahead();
                }
                self.set_reply(ticket, res.map(Reply::Pos));
            }
            Done::Reply(res) => self.set_reply(ticket, res),
        }
    }

    fn stash(&mut self, e: io::Error) {
        self.error.get_or_insert(e);
    }

    fn set_reply(&mut self, ticket: u64, res: io::Result<Reply>) {
        if let Some((_, Err(e))) = self.reply.replace((ticket, res)) {
            self.stash(e);
        }
    }

    /// The first error no caller has seen (a stale reply's error included);
    /// drops a stale reply.
    fn take_error(&mut self) -> Option<io::Error> {
        if let Some((_, Err(e))) = self.reply.take() {
            self.stash(e);
        }
        self.error.take()
    }

    /// Waits until no job is in flight; then reports the first error no
    /// caller has seen.
    pub(crate) fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_settle(cx));
        Poll::Ready(self.take_error().map_or(Ok(()), Err))
    }

    /// The reply of the job with `ticket`, once it finished; `None` if that
    /// job is neither in flight nor answered (its reply was dropped as
    /// stale).
    pub(crate) fn poll_reply(&mut self, cx: &mut Context<'_>, ticket: u64) -> Poll<Option<io::Result<Reply>>> {
        loop {
            if matches!(&self.reply, Some((t, _)) if *t == ticket) {
                return Poll::Ready(self.reply.take().map(|(_, r)| r));
            }
            match self.state {
                State::Busy { ticket: t, .. } if t == ticket => ready!(self.poll_settle(cx)),
                _ => return Poll::Ready(None),
            }
        }
    }

    /// Starts `op` once every buffered write is on disk, then waits for its
    /// reply.
    pub(crate) async fn after_flush(&mut self, op: impl FnOnce(&mut Self) -> io::Result<Op>) -> io::Result<Reply> {
        std::future::poll_fn(|cx| self.poll_flush(cx)).await?;
        self.run_now(op).await
    }

    /// Starts `op` once the file's cursor is where the user sees it (read
    /// ahead given back, writes out), then waits for its reply.
    pub(crate) async fn after_quiesce(&mut self, op: Op) -> io::Result<Reply> {
        std::future::poll_fn(|cx| self.poll_quiesce(cx)).await?;
        self.run_now(|_| Ok(op)).await
    }

    async fn run_now(&mut self, op: impl FnOnce(&mut Self) -> io::Result<Op>) -> io::Result<Reply> {
        let op = op(self)?;
        let ticket = self.start(|_| op)?;
        std::future::poll_fn(|cx| self.poll_reply(cx, ticket))
            .await
            .unwrap_or_else(|| Err(self.take_error().unwrap_or_else(lost)))
    }

    // ---- reading ----

    /// Before serving from the buffer: waits for a job in flight that is not
    /// a read (a seek would empty the buffer, a write moves the cursor).
    pub(crate) fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.busy_kind() {
            Some(Kind::Read) | None => Poll::Ready(Ok(())),
            Some(_) => self.poll_idle(cx),
        }
    }

    /// Called when the buffer does not hold what the reader needs: makes one
    /// step towards more. `Ok(true)`: a job finished, look again; `Ok(false)`:
    /// the end of the file (reported once).
    pub(crate) fn poll_more(&mut self, cx: &mut Context<'_>, want: Want) -> Poll<io::Result<bool>> {
        if self.busy_kind().is_none() {
            if let Some(e) = self.take_error() {
                return Poll::Ready(Err(e));
            }
            if self.eof {
                self.eof = false;
                return Poll::Ready(Ok(false));
            }
            if self.wbuf.is_empty() {
                self.start_read(want)?;
            } else {
                self.start_write()?;
            }
        }
        ready!(self.poll_idle(cx))?;
        Poll::Ready(Ok(true))
    }

    /// One line, `\n` included; what is left at the end of the file.
    pub(crate) fn poll_readline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Vec<u8>>> {
        loop {
            ready!(self.poll_readable(cx))?;
            let unread = self.unread();
            let (len, found) = (unread.len(), unread[self.scanned..].iter().position(|&b| b == b'\n'));
            if let Some(i) = found {
                let n = self.scanned + i + 1;
                return Poll::Ready(Ok(self.take(n)));
            }
            self.scanned = len;
            if !ready!(self.poll_more(cx, Want::Some(CHUNK)))? {
                let n = self.unread().len();
                return Poll::Ready(Ok(self.take(n)));
            }
        }
    }

    /// Up to `max` bytes, copied into `out` by `copy`; 0 at the end of the
    /// file (or for `max == 0`).
    pub(crate) fn poll_read_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        copy: impl FnOnce(&mut Self, usize) -> T,
    ) -> Poll<io::Result<T>> {
        if max > 0 {
            loop {
                ready!(self.poll_readable(cx))?;
                let have = self.unread().len();
                if have > 0 {
                    return Poll::Ready(Ok(copy(self, have.min(max))));
                }
                if !ready!(self.poll_more(cx, Want::Some(max)))? {
                    break;
                }
            }
        }
        Poll::Ready(Ok(copy(self, 0)))
    }

    /// Reads ahead to the end of the file; then the whole rest is unread.
    pub(crate) fn poll_fill_to_end(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_readable(cx))?;
            if !ready!(self.poll_more(cx, Want::All))? {
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// Fills the buffer (unless it holds data already) and shows it.
    pub(crate) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        loop {
            ready!(self.poll_readable(cx))?;
            if !self.unread().is_empty() || !ready!(self.poll_more(cx, Want::Some(CHUNK)))? {
                break;
            }
        }
        Poll::Ready(Ok(self.unread()))
    }

    // ---- writing ----

    /// Makes room for a write: gives the read-ahead back, and hands a full
    /// write buffer to the pool (waiting for a write still in flight).
    pub(crate) fn poll_write_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(kind) = self.busy_kind() {
                if kind == Kind::Read || !self.unread().is_empty() || self.wbuf.len() >= CHUNK {
                    ready!(self.poll_idle(cx))?;
                    continue;
                }
                // Busy with a write or a seek: buffer behind it, but pick
                // up its outcome if it is in.
                if self.poll_settle(cx).is_ready() {
                    continue;
                }
            }
            if let Some(e) = self.take_error() {
                return Poll::Ready(Err(e));
            }
            if !self.unread().is_empty() {
                self.start_rewind()?;
                continue;
            }
            self.eof = false;
            if self.wbuf.len() >= CHUNK && self.busy_kind().is_none() {
                self.start_write()?;
            }
            return Poll::Ready(Ok(()));
        }
    }

    /// Buffers `data` (after [`poll_write_ready`](Self::poll_write_ready));
    /// hands a full buffer to the pool if no job is in flight.
    pub(crate) fn buffer_write(&mut self, data: &[u8]) {
        debug_assert!(self.unread().is_empty());
        self.wbuf.extend_from_slice(data);
        if self.wbuf.len() >= CHUNK && self.busy_kind().is_none() {
            // If this fails, the bytes stay buffered and the next write or
            // flush reports why.
            let _ = self.start_write();
        }
    }

    /// Writes out the write buffer and waits for the pool to finish it.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_idle(cx))?;
            if self.wbuf.is_empty() {
                return Poll::Ready(Ok(()));
            }
            self.start_write()?;
        }
    }

    /// As [`poll_flush`](Self::poll_flush), and gives the read-ahead back:
    /// the std file's cursor is then where the user sees it.
    pub(crate) fn poll_quiesce(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_flush(cx))?;
            if self.unread().is_empty() {
                self.eof = false;
                return Poll::Ready(Ok(()));
            }
            self.start_rewind()?;
        }
    }

    // ---- seeking ----

    /// Starts a seek to the user's `pos` (the read-ahead counted in); call
    /// after [`poll_flush`](Self::poll_flush).
    pub(crate) fn start_seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let pos = self.seek_target(pos)?;
        self.start(|_| Op::Seek(pos))
    }

    pub(crate) fn seek_op(&mut self, pos: SeekFrom) -> io::Result<Op> {
        self.seek_target(pos).map(Op::Seek)
    }

    fn seek_target(&self, pos: SeekFrom) -> io::Result<SeekFrom> {
        debug_assert!(self.wbuf.is_empty());
        Ok(match pos {
            SeekFrom::Current(n) => {
                let unread = i64::try_from(self.unread().len()).ok();
                match unread.and_then(|u| n.checked_sub(u)) {
                    Some(n) => SeekFrom::Current(n),
                    None => return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek offset out of range")),
                }
            }
            other => other,
        })
    }

    // ---- the end ----

    /// Takes the std file out, leaving the engine lost; call after
    /// [`poll_quiesce`](Self::poll_quiesce).
    pub(crate) fn take_file(&mut self) -> io::Result<fs::File> {
        match std::mem::replace(&mut self.state, State::Lost) {
            State::Idle(file) => Ok(file),
            other => {
                self.state = other;
                Err(lost())
            }
        }
    }
}

impl Drop for Engine {
    /// Buffered writes are not lost: they are written on the pool, after
    /// the job in flight (if any) gives the file back.
    fn drop(&mut self) {
        let pending = std::mem::take(&mut self.wbuf);
        let state = std::mem::replace(&mut self.state, State::Lost);
        if pending.is_empty() {
            // A job in flight runs on; the file closes when its result is
            // dropped.
            return;
        }
        let pool = self.pool().ok();
        match state {
            State::Idle(mut file) => match pool {
                Some(pool) => drop(pool.submit(move || file.write_all(&pending))),
                // No pool left: write here, blocking (std's BufWriter does
                // the same in its drop).
                None => drop(file.write_all(&pending)),
            },
            State::Busy { job, .. } => {
                // FIFO pools start jobs in order: by the time this one runs,
                // `job` has run or is running, so waiting for it is short
                // and cannot deadlock.
                let write_after = move || {
                    if let Ok((mut file, _)) = job.result() {
                        let _ = file.write_all(&pending);
                    }
                };
                match pool {
                    Some(pool) => drop(pool.submit(write_after)),
                    None => drop(
                        std::thread::Builder::new()
                            .name("asyncio-fs-drop".into())
                            .spawn(write_after),
                    ),
                }
            }
            State::Lost => {}
        }
    }
}
