//! asyncio's streams: [`StreamReader`], [`StreamWriter`], [`open_connection`].
//!
//! A reader owns a buffer it fills from the socket; every read method finds
//! what it needs in the buffer or fills it further, so cancelling one loses
//! nothing (the bytes stay buffered for the next call).
//!
//! A writer buffers what the socket does not take at once. `write` never
//! waits: it tries the socket first, keeps the rest, and starts a small
//! flusher task that writes the buffer out as the socket becomes writable.
//! `drain` is the back-pressure point: above the high-water mark (64 KiB) it
//! waits until the flusher brings the buffer down to the low-water mark
//! (16 KiB), asyncio's defaults. A write error is kept and returned by the
//! next `drain`, `write_eof` or `wait_closed`; later writes are dropped.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::addr::ToSocketAddrs;
use super::tcp::TcpStream;
use super::unix::UnixStream;

/// The default buffer limit of a [`StreamReader`] (64 KiB, as asyncio).
pub const DEFAULT_LIMIT: usize = 64 * 1024;

const HIGH_WATER: usize = 64 * 1024;
const LOW_WATER: usize = 16 * 1024;
const INITIAL_READ_BUF: usize = 8 * 1024;

/// A connected stream socket, as the streams see it.
pub(crate) trait Transport {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Writes the slices in order, as far as the transport takes them (a
    /// socket: one `writev`). This default writes them one after another
    /// until one is taken short; what was written counts, and an error or a
    /// wait after that comes back at the next call.
    // Only the TLS layer writes through it (rustls's queued records).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    fn poll_write_vectored(&self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let mut written = 0;
        for buf in bufs.iter().filter(|b| !b.is_empty()) {
            match self.poll_write(cx, buf) {
                Poll::Ready(Ok(n)) => {
                    written += n;
                    if n < buf.len() {
                        break;
                    }
                }
                Poll::Ready(Err(_)) | Poll::Pending if written > 0 => break,
                other => return other,
            }
        }
        Poll::Ready(Ok(written))
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// Makes the next close a reset (RST) where the protocol has one.
    fn set_abortive(&self);
    fn peer_addr(&self) -> Option<SocketAddr>;
    fn local_addr(&self) -> Option<SocketAddr>;
    /// Writes out what the transport itself buffered (TLS records).
    fn poll_flush(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    /// True while the transport holds written data not yet on the socket.
    fn wants_flush(&self) -> bool {
        false
    }
    /// The half-close or close the writer asked for, once its data is out;
    /// TLS sends `close_notify` first, which may wait on the socket.
    fn poll_shutdown(&self, _cx: &mut Context<'_>, how: Shutdown) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(how))
    }
    /// The writer is closing: what it still has to write must go out
    /// within the transport's own limit, if it has one (TLS's shutdown
    /// timeout, which covers the buffered data as well as `close_notify`).
    fn start_close(&self) {}
    /// Ends the connection now, from outside its handler (a server's
    /// `close_clients`): its reader meets the end of the stream and its
    /// writes fail. TLS sends `close_notify` first, as far as the socket
    /// takes it without waiting.
    fn close_now(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
    /// What the TLS handshake negotiated, on a TLS transport.
    #[cfg(feature = "tls")]
    fn tls_info(&self) -> Option<crate::tls::TlsInfo> {
        None
    }
}

/// The `Transport` methods a stream socket type forwards to its
/// `StreamSocket`; the rest (`$extra`) is its own.
macro_rules! socket_transport {
    ($ty:ty, { $($extra:tt)* }) => {
        impl Transport for $ty {
            fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                self.socket().poll_read(cx, buf)
            }
            fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.socket().poll_write(cx, buf)
            }
            fn poll_write_vectored(
                &self,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.socket().poll_write_vectored(cx, bufs)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                self.socket().try_write(buf)
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                self.socket().shutdown(how)
            }
            $($extra)*
        }
    };
}

socket_transport!(TcpStream, {
    fn set_abortive(&self) {
        let _ = self.set_linger(Some(std::time::Duration::ZERO));
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        TcpStream::peer_addr(self).ok()
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        TcpStream::local_addr(self).ok()
    }
});

socket_transport!(UnixStream, {
    fn set_abortive(&self) {}
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
});

/// Why a [`StreamReader`] read failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The stream ended before the read was complete (asyncio's
    /// `IncompleteReadError`); `partial` holds what was read.
    Incomplete {
        /// The bytes read before the end of the stream.
        partial: Vec<u8>,
        /// How many bytes were asked for (`readexactly`); `None` when
        /// reading up to a separator.
        expected: Option<usize>,
    },
    /// The separator was not found within the reader's limit (asyncio's
    /// `LimitOverrunError`). For `readuntil` the data stays buffered;
    /// `consumed` is how many bytes to skip to get past it.
    LimitOverrun {
        /// Bytes in the buffer that the separator search went over.
        consumed: usize,
    },
    /// The socket failed (a reset, ...).
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Incomplete {
                partial,
                expected: Some(n),
            } => write!(f, "{} bytes read on a total of {n} expected bytes", partial.len()),
            ReadError::Incomplete {
                partial,
                expected: None,
            } => {
                write!(f, "stream ended after {} bytes, before the separator", partial.len())
            }
            ReadError::LimitOverrun { consumed } => {
                write!(
                    f,
                    "separator not found within the buffer limit ({consumed} bytes searched)"
                )
            }
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e,
            e @ ReadError::Incomplete { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            e @ ReadError::LimitOverrun { .. } => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// The reading end of a stream connection (asyncio's `StreamReader`).
/// Loop-bound.
pub struct StreamReader {
    conn: Rc<dyn Transport>,
    /// `buf[start..end]` is buffered data; the rest is room to fill.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    limit: usize,
}

impl StreamReader {
    pub(crate) fn new(conn: Rc<dyn Transport>, limit: usize) -> Self {
        StreamReader {
            conn,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            limit,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The connection this reader reads.
    #[cfg(feature = "tls")]
    pub(crate) fn transport(&self) -> &Rc<dyn Transport> {
        &self.conn
    }

    /// Switches to reading `conn` (a TLS layer over the old connection),
    /// handing back the bytes buffered from the old one: they belong to the
    /// new layer's input.
    #[cfg(feature = "tls")]
    pub(crate) fn replace_transport(&mut self, conn: Rc<dyn Transport>) -> Vec<u8> {
        let rest = self.buffered().to_vec();
        self.start = 0;
        self.end = 0;
        self.eof = false;
        self.conn = conn;
        rest
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.start..self.start + n].to_vec();
        self.consume(n);
        out
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more from the socket into the buffer; false at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.eof {
            return Poll::Ready(Ok(false));
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).max(INITIAL_READ_BUF);
                self.buf.resize(grown, 0);
            }
        }
        let n = std::task::ready!(self.conn.poll_read(cx, &mut self.buf[self.end..]))?;
        if n == 0 {
            self.eof = true;
            return Poll::Ready(Ok(false));
        }
        self.end += n;
        Poll::Ready(Ok(true))
    }

    async fn fill(&mut self) -> io::Result<bool> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Up to `n` bytes: what is buffered, or one read from the socket. An
    /// empty result means end of stream (or `n == 0`).
    ///
    /// # Errors
    /// The socket's error.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buffered().is_empty() && !self.fill().await? {
            return Ok(Vec::new());
        }
        let k = n.min(self.buffered().len());
        Ok(self.take(k))
    }

    /// Everything up to the end of stream (`read(-1)`).
    ///
    /// # Errors
    /// The socket's error.
    ///
    /// # Cancel safety
    /// Cancel safe: what was read so far stays buffered.
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? {}
        let n = self.buffered().len();
        Ok(self.take(n))
    }

    /// Exactly `n` bytes.
    ///
    /// # Errors
    /// [`ReadError::Incomplete`] with the bytes read if the stream ends
    /// first (they are consumed); [`ReadError::Io`].
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buffered().len() < n {
            if !self.fill().await? {
                let have = self.buffered().len();
                return Err(ReadError::Incomplete {
                    partial: self.take(have),
                    expected: Some(n),
                });
            }
        }
        Ok(self.take(n))
    }

    /// Bytes up to and including `separator`.
    ///
    /// # Errors
    /// [`ReadError::Incomplete`] if the stream ends first (the partial data
    /// is consumed and returned in it); [`ReadError::LimitOverrun`] if the
    /// separator is not within the limit (the data stays buffered);
    /// [`ReadError::Io`].
    ///
    /// # Panics
    /// If `separator` is empty.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn readuntil(&mut self, separator: &[u8]) -> Result<Vec<u8>, ReadError> {
        assert!(!separator.is_empty(), "readuntil: the separator must not be empty");
        let mut searched = 0;
        loop {
            let data = self.buffered();
            if let Some(i) = find(&data[searched..], separator) {
                // As asyncio: the separator must start within the limit.
                if searched + i > self.limit {
                    return Err(ReadError::LimitOverrun { consumed: searched + i });
                }
                return Ok(self.take(searched + i + separator.len()));
            }
            searched = data.len().saturating_sub(separator.len() - 1);
            if data.len() > self.limit {
                return Err(ReadError::LimitOverrun { consumed: data.len() });
            }
            if !self.fill().await? {
                let have = self.buffered().len();
                return Err(ReadError::Incomplete {
                    partial: self.take(have),
                    expected: None,
                });
            }
        }
    }

    /// One line, `\n` included; at the end of stream, what is left (empty
    /// once nothing is).
    ///
    /// # Errors
    /// [`ReadError::LimitOverrun`] for a line over the limit: unlike
    /// `readuntil`, the line (or the whole buffer, if its end is not in
    /// sight) is discarded, as asyncio's `readline`; [`ReadError::Io`].
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn readline(&mut self) -> Result<Vec<u8>, ReadError> {
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(ReadError::Incomplete { partial, .. }) => Ok(partial),
            Err(ReadError::LimitOverrun { consumed }) => {
                match find(self.buffered(), b"\n") {
                    Some(i) => self.consume(i + 1),
                    None => self.consume(self.buffered().len()),
                }
                Err(ReadError::LimitOverrun { consumed })
            }
            Err(e) => Err(e),
        }
    }

    /// True once the stream ended and the buffer is empty.
    pub fn at_eof(&self) -> bool {
        self.eof && self.buffered().is_empty()
    }

    /// The buffer limit for `readuntil` and `readline`.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return haystack.iter().position(|&b| b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.buffered().len())
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish()
    }
}

impl futures_io::AsyncRead for StreamReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buffered().is_empty() && !std::task::ready!(this.poll_fill(cx))? {
            return Poll::Ready(Ok(0));
        }
        let n = out.len().min(this.buffered().len());
        out[..n].copy_from_slice(&this.buffered()[..n]);
        this.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl futures_io::AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.buffered().is_empty() {
            std::task::ready!(this.poll_fill(cx))?;
        }
        Poll::Ready(Ok(this.buffered()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let amt = amt.min(this.buffered().len());
        StreamReader::consume(this, amt);
    }
}

struct WriteState {
    /// `buf[start..]` waits to be written.
    buf: Vec<u8>,
    start: usize,
    /// Above the high-water mark; cleared at the low-water mark.
    paused: bool,
    flusher_running: bool,
    eof_requested: bool,
    /// The half-close is done.
    eof_sent: bool,
    closing: bool,
    closed: bool,
    error: Option<(io::ErrorKind, String)>,
    /// Tasks in `drain`, `flush` or `wait_closed`: woken on every change.
    waiters: Vec<Waker>,
}

impl WriteState {
    fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    fn error(&self) -> Option<io::Error> {
        self.error
            .as_ref()
            .map(|(kind, msg)| io::Error::new(*kind, msg.clone()))
    }

    fn wait(&mut self, cx: &mut Context<'_>) {
        if !self.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiters.push(cx.waker().clone());
        }
    }

    fn wake_all(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.waiters)
    }
}

struct WriterShared {
    /// Replaced once at most, by `start_tls`.
    conn: RefCell<Rc<dyn Transport>>,
    state: RefCell<WriteState>,
}

impl WriterShared {
    fn conn(&self) -> std::cell::Ref<'_, Rc<dyn Transport>> {
        self.conn.borrow()
    }

    /// Writes the buffer out; Ready once it is empty (or the socket failed).
    fn poll_flush_buf(&self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let (wakers, done) = {
                let mut s = self.state.borrow_mut();
                if s.error.is_some() {
                    (Vec::new(), true)
                } else if s.pending() == 0 {
                    // What the transport holds itself (TLS records) goes
                    // out before the writer counts as flushed.
                    match self.conn().poll_flush(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => (Vec::new(), true),
                        Poll::Ready(Err(e)) => {
                            s.error = Some((e.kind(), e.to_string()));
                            (s.wake_all(), true)
                        }
                    }
                } else {
                    let start = s.start;
                    match self.conn().poll_write(cx, &s.buf[start..]) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(n)) => {
                            s.start += n;
                            if s.pending() == 0 {
                                s.buf.clear();
                                s.start = 0;
                            }
                            if s.paused && s.pending() <= LOW_WATER {
                                s.paused = false;
                            }
                            (s.wake_all(), false)
                        }
                        Poll::Ready(Err(e)) => {
                            s.error = Some((e.kind(), e.to_string()));
                            s.buf.clear();
                            s.start = 0;
                            s.paused = false;
                            (s.wake_all(), true)
                        }
                    }
                }
            };
            wakers.into_iter().for_each(Waker::wake);
            if done {
                return Poll::Ready(());
            }
        }
    }

    /// Starts the task that writes the buffer out, then does the half-close
    /// or close asked for meanwhile.
    fn spawn_flusher(self: &Rc<Self>) {
        let shared = self.clone();
        drop(crate::create_task(async move {
            std::future::poll_fn(|cx| shared.poll_flush_buf(cx)).await;
            std::future::poll_fn(|cx| shared.poll_end(cx)).await;
        }));
    }

    /// Once the buffer is out (or when nothing was buffered): the half-close
    /// or close that was asked for, and the end of the flusher's run. Data is
    /// buffered only while a flusher runs, so there is nothing left to write
    /// here. Pending only while the transport's shutdown waits on the
    /// socket (TLS's `close_notify`).
    fn poll_end(&self, cx: &mut Context<'_>) -> Poll<()> {
        let wakers = {
            let mut s = self.state.borrow_mut();
            if s.eof_requested && s.error.is_none() && !s.closed && !s.eof_sent {
                match self.conn().poll_shutdown(cx, Shutdown::Write) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => s.eof_sent = true,
                    Poll::Ready(Err(e)) => s.error = Some((e.kind(), e.to_string())),
                }
            }
            if s.closing && !s.closed {
                if s.error.is_none() {
                    if self.conn().poll_shutdown(cx, Shutdown::Both).is_pending() {
                        return Poll::Pending;
                    }
                } else {
                    let _ = self.conn().shutdown(Shutdown::Both);
                }
                s.closed = true;
            }
            s.flusher_running = false;
            s.wake_all()
        };
        wakers.into_iter().for_each(Waker::wake);
        Poll::Ready(())
    }
}

/// The writing end of a stream connection (asyncio's `StreamWriter`).
/// Loop-bound; cheap to clone (clones share the buffer).
///
/// Dropping every clone does not lose buffered data: the flusher task
/// writes it out, then the socket closes.
#[derive(Clone)]
pub struct StreamWriter {
    shared: Rc<WriterShared>,
}

impl StreamWriter {
    pub(crate) fn new(conn: Rc<dyn Transport>) -> Self {
        StreamWriter {
            shared: Rc::new(WriterShared {
                conn: RefCell::new(conn),
                state: RefCell::new(WriteState {
                    buf: Vec::new(),
                    start: 0,
                    paused: false,
                    flusher_running: false,
                    eof_requested: false,
                    eof_sent: false,
                    closing: false,
                    closed: false,
                    error: None,
                    waiters: Vec::new(),
                }),
            }),
        }
    }

    /// Queues `data`: written at once as far as the socket takes it, the rest
    /// buffered and written by the loop. Never waits; call
    /// [`drain`](Self::drain) to respect back-pressure. After `close`,
    /// `write_eof` or a socket error the data is dropped (the error comes
    /// from `drain`).
    pub fn write(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut s = self.shared.state.borrow_mut();
        if s.closing || s.eof_requested || s.error.is_some() {
            return;
        }
        let mut data = data;
        if s.pending() == 0 {
            let conn = self.shared.conn();
            match conn.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    s.error = Some((e.kind(), e.to_string()));
                    let wakers = s.wake_all();
                    drop(s);
                    wakers.into_iter().for_each(Waker::wake);
                    return;
                }
            }
            // A TLS transport may hold records the socket did not take:
            // the flusher writes them out.
            if data.is_empty() && !conn.wants_flush() {
                return;
            }
        }
        s.buf.extend_from_slice(data);
        if s.pending() > HIGH_WATER {
            s.paused = true;
        }
        let start = !s.flusher_running;
        s.flusher_running = true;
        drop(s);
        if start {
            self.shared.spawn_flusher();
        }
    }

    /// Queues each buffer in turn (`writelines`).
    pub fn writelines<I, B>(&self, lines: I)
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        for line in lines {
            self.write(line.as_ref());
        }
    }

    /// Waits while the buffer is over the high-water mark, until it is back
    /// to the low-water mark (asyncio's flow control).
    ///
    /// # Errors
    /// The socket's write error (a reset peer, ...), if one happened.
    ///
    /// # Cancel safety
    /// Cancel safe: the data stays queued.
    pub async fn drain(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            let mut s = self.shared.state.borrow_mut();
            if let Some(e) = s.error() {
                return Poll::Ready(Err(e));
            }
            if s.paused {
                s.wait(cx);
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Waits until everything queued is written to the socket.
    ///
    /// # Errors
    /// As [`drain`](Self::drain).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn flush(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_flushed(cx)).await
    }

    fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.shared.state.borrow_mut();
        if let Some(e) = s.error() {
            return Poll::Ready(Err(e));
        }
        if s.pending() > 0 {
            s.wait(cx);
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    /// Half-closes: after the queued data, the peer reads end of stream;
    /// this side can still read.
    pub fn write_eof(&self) {
        self.request_end(|s| {
            let new = !(s.eof_requested || s.closing);
            s.eof_requested = true;
            new
        });
    }

    /// Closes after the queued data is written (asyncio's `close`: it does
    /// not wait; [`wait_closed`](Self::wait_closed) does).
    pub fn close(&self) {
        if !self.is_closing() {
            self.shared.conn().start_close();
        }
        self.request_end(|s| !std::mem::replace(&mut s.closing, true));
    }

    /// Records a half-close or close (`mark` says whether it is new), done
    /// now if nothing is buffered, or by the flusher once the buffer is out.
    fn request_end(&self, mark: impl FnOnce(&mut WriteState) -> bool) {
        let mut s = self.shared.state.borrow_mut();
        if !mark(&mut s) {
            return;
        }
        if s.flusher_running {
            return;
        }
        s.flusher_running = true;
        drop(s);
        // Done at once on a socket; a TLS transport whose `close_notify`
        // waits on the socket finishes in a flusher task.
        let mut cx = Context::from_waker(Waker::noop());
        if self.shared.poll_end(&mut cx).is_pending() {
            self.shared.spawn_flusher();
        }
    }

    /// Closes at once, dropping what is queued. On TCP the socket is set to
    /// reset rather than close gracefully: the peer gets the reset once the
    /// connection's descriptor closes, that is when the reader is dropped
    /// too (until then it sees a plain end of stream).
    pub fn abort(&self) {
        let wakers = {
            let mut s = self.shared.state.borrow_mut();
            s.buf.clear();
            s.start = 0;
            s.paused = false;
            s.closing = true;
            if !s.closed {
                s.closed = true;
                let conn = self.shared.conn();
                conn.set_abortive();
                let _ = conn.shutdown(Shutdown::Both);
            }
            s.wake_all()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// True once [`close`](Self::close) (or `abort`) was called.
    pub fn is_closing(&self) -> bool {
        self.shared.state.borrow().closing
    }

    /// Waits until the writer is closed: its data written and the socket
    /// shut.
    ///
    /// # Errors
    /// The write error that ended the connection early, if any.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_closed(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            let mut s = self.shared.state.borrow_mut();
            if s.closed || s.error.is_some() {
                return Poll::Ready(s.error().map_or(Ok(()), Err));
            }
            s.wait(cx);
            Poll::Pending
        })
        .await
    }

    /// Bytes queued and not yet written.
    pub fn buffered(&self) -> usize {
        self.shared.state.borrow().pending()
    }

    /// The peer's address (TCP), asyncio's `get_extra_info("peername")`.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.conn().peer_addr()
    }

    /// This end's address (TCP), `get_extra_info("sockname")`.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.conn().local_addr()
    }

    /// What TLS negotiated (ALPN protocol, version, cipher suite, the
    /// peer's certificates), asyncio's `get_extra_info('ssl_object')`;
    /// `None` on a plain connection.
    #[cfg(feature = "tls")]
    pub fn tls_info(&self) -> Option<crate::tls::TlsInfo> {
        self.shared.conn().tls_info()
    }

    /// The connection under the writer, and a way to put a new layer
    /// (TLS) in its place.
    pub(crate) fn transport(&self) -> Rc<dyn Transport> {
        self.shared.conn().clone()
    }

    #[cfg(feature = "tls")]
    pub(crate) fn replace_transport(&self, conn: Rc<dyn Transport>) {
        *self.shared.conn.borrow_mut() = conn;
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.state.borrow();
        f.debug_struct("StreamWriter")
            .field("buffered", &s.pending())
            .field("closing", &s.closing)
            .field("closed", &s.closed)
            .finish()
    }
}

impl futures_io::AsyncWrite for StreamWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        {
            let mut s = self.shared.state.borrow_mut();
            if let Some(e) = s.error() {
                return Poll::Ready(Err(e));
            }
            if s.closing || s.eof_requested {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "writer is closed")));
            }
            if s.paused {
                s.wait(cx);
                return Poll::Pending;
            }
        }
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flushed(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        let mut fut = std::pin::pin!(self.wait_closed());
        fut.as_mut().poll(cx)
    }
}

/// Connects to `addr` and returns the stream pair (`asyncio.open_connection`).
/// `TCP_NODELAY` is set, as asyncio does.
///
/// # Errors
/// The connection or resolver error.
///
/// # Cancel safety
/// Cancel safe.
pub async fn open_connection(addr: impl ToSocketAddrs) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(pair(Rc::new(stream), DEFAULT_LIMIT))
}

/// As [`open_connection`], to a Unix socket (`asyncio.open_unix_connection`).
///
/// # Errors
/// The connection error.
///
/// # Cancel safety
/// Cancel safe.
pub async fn open_unix_connection(path: impl AsRef<Path>) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = UnixStream::connect(path).await?;
    Ok(pair(Rc::new(stream), DEFAULT_LIMIT))
}

pub(crate) fn pair(conn: Rc<dyn Transport>, limit: usize) -> (StreamReader, StreamWriter) {
    (StreamReader::new(conn.clone(), limit), StreamWriter::new(conn))
}
