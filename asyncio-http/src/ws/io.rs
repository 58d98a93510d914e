//! The byte stream under tungstenite, with per-message deflate (RFC 7692)
//! applied to the frames on their way in and out.
//!
//! tungstenite 0.30 has no extension support (it fails any frame with a
//! reserved bit set), and no well-kept WebSocket crate implements RFC 7692
//! correctly on a runtime-neutral stream (soketto's decompressor drops its
//! history after every message, which a browser's context takeover
//! breaks). RFC 7692 defines the extension as a transformation of frames
//! (section 6): so it is done here, between tungstenite and the socket,
//! and tungstenite keeps doing the rest of RFC 6455 (fragments, control
//! frames, the close handshake, UTF-8, limits) on what it reads and
//! writes:
//!
//! - in: the frames of a compressed message (RSV1 on its first frame) are
//!   inflated and handed on as plain frames, RSV1 cleared, cut to the
//!   frame limit. Anything else (control frames, uncompressed messages, a
//!   frame with a reserved bit where it has no meaning, a frame over the
//!   limit) passes through unchanged, and tungstenite judges it. A message
//!   inflating past the message limit is handed on one byte over it, so
//!   tungstenite closes with 1009; invalid DEFLATE data is an
//!   `InvalidData` error ([`DeflateError`]), closed with 1007.
//! - out: each whole text or binary message tungstenite writes is
//!   deflated and sent with RSV1 set; control frames, empty messages and
//!   messages sent as raw fragments go as they are (RFC 7692 allows any
//!   message to be sent uncompressed).
//!
//! A WebSocket without the extension reads and writes the transport
//! directly.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use futures_io::{AsyncRead, AsyncWrite};

use super::deflate::Agreed;
use crate::transport::Transport;

/// The stream a WebSocket runs over.
pub(crate) struct WsIo {
    inner: Transport,
    deflate: Option<Box<Deflater>>,
    /// A client's handshake under way: the response head is read here and
    /// nothing past it is handed on, so that frames the server sends at
    /// once go through the extension the head agrees.
    handshake: Option<Head>,
}

/// A client's handshake response as read so far, and how much of it was
/// handed on.
#[derive(Default)]
struct Head {
    held: Vec<u8>,
    given: usize,
}

/// The most of a handshake response head held back; a longer one is
/// handed on as it is (tungstenite refuses it).
const MAX_HEAD: usize = 64 * 1024;

/// Invalid compressed data from the peer (the WebSocket closes with 1007).
#[derive(Debug)]
pub(crate) struct DeflateError(&'static str);

impl std::fmt::Display for DeflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "permessage-deflate: {}", self.0)
    }
}

impl std::error::Error for DeflateError {}

impl WsIo {
    /// The transport as it is: no extension.
    pub(crate) fn plain(inner: Transport) -> WsIo {
        WsIo {
            inner,
            deflate: None,
            handshake: None,
        }
    }

    pub(crate) fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// A client's stream before its handshake: see [`WsIo::handshake_done`].
    pub(crate) fn client(inner: Transport) -> WsIo {
        WsIo {
            inner,
            deflate: None,
            handshake: Some(Head::default()),
        }
    }

    /// After a client's handshake: per-message deflate if `agreed`, and
    /// what was read past the response head goes through it.
    pub(crate) fn handshake_done(&mut self, agreed: Option<Agreed>, max_message: usize, max_frame: usize) {
        let held = self.handshake.take().unwrap_or_default().held;
        let rest = match find_head_end(&held) {
            Some(end) => &held[end..],
            None => &held[held.len()..],
        };
        match agreed {
            Some(agreed) => {
                let mut d = Deflater::new(agreed, false, max_message, max_frame);
                d.feed(rest);
                self.deflate = Some(Box::new(d));
            }
            None if !rest.is_empty() => self.inner.unread(bytes::Bytes::copy_from_slice(rest)),
            None => {}
        }
    }

    /// A server's stream with per-message deflate as `agreed` (frames in
    /// are masked, frames out are not).
    pub(crate) fn server_deflate(inner: Transport, agreed: Agreed, max_message: usize, max_frame: usize) -> WsIo {
        WsIo {
            inner,
            deflate: Some(Box::new(Deflater::new(agreed, true, max_message, max_frame))),
            handshake: None,
        }
    }
}

/// Where the response head in `b` ends (after its blank line).
fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Whether `e` (a read error) is the peer's invalid compressed data.
pub(crate) fn is_deflate_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<DeflateError>())
}

const OP_CONTINUATION: u8 = 0;
const OP_TEXT: u8 = 1;
const OP_BINARY: u8 = 2;
const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV_ALL: u8 = 0x70;
/// The empty stored block every compressed message ends with, removed on
/// the wire (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// How many bytes are read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// The inflating room kept between messages.
const SCRATCH_KEEP: usize = 16 * 1024;
/// Deflated output waiting for the socket beyond which writes wait.
const WRITE_HIGH: usize = 64 * 1024;

/// A frame's header.
#[derive(Clone, Copy, Debug)]
struct Header {
    first: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    /// The header's size on the wire.
    size: usize,
}

impl Header {
    fn fin(&self) -> bool {
        self.first & FIN != 0
    }
    fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// Parses a header at the start of `b`; `None` until it is complete.
    fn parse(b: &[u8]) -> Option<Header> {
        let (&first, rest) = b.split_first()?;
        let (&second, rest) = rest.split_first()?;
        let (len, ext) = match second & 0x7f {
            126 => (u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)), 2),
            127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 8),
            n => (u64::from(n), 0),
        };
        let mut size = 2 + ext;
        let mask = if second & 0x80 != 0 {
            let key: [u8; 4] = b.get(size..size + 4)?.try_into().ok()?;
            size += 4;
            Some(key)
        } else {
            None
        };
        Some(Header { first, mask, len, size })
    }

    /// Writes a header for a payload of `len` bytes.
    fn write(out: &mut Vec<u8>, first: u8, mask: Option<[u8; 4]>, len: usize) {
        out.push(first);
        let m = if mask.is_some() { 0x80 } else { 0 };
        if len < 126 {
            out.push(m | len as u8);
        } else if let Ok(short) = u16::try_from(len) {
            out.push(m | 126);
            out.extend_from_slice(&short.to_be_bytes());
        } else {
            out.push(m | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        if let Some(key) = mask {
            out.extend_from_slice(&key);
        }
    }
}

fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let word = u32::from_ne_bytes(key);
    let mut chunks = data.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i];
    }
}

/// Which message the incoming frames are in the middle of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum InMessage {
    None,
    /// A compressed one; how many bytes it has inflated to so far.
    Compressed(usize),
    Plain,
}

enum ReadState {
    Header,
    /// Passing `n` more payload bytes of a frame through unchanged.
    Pass(u64),
    /// Waiting for the whole payload of a compressed message's frame.
    Inflate(Header),
}

struct Deflater {
    agreed: Agreed,
    server: bool,
    max_message: usize,
    max_frame: usize,
    // In: bytes read from the socket (`rbuf[rpos..rend]`; the rest of
    // `rbuf` is room for the next read, zeroed once), and the rewritten
    // frames for tungstenite (from `out_pos`).
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    rout: Vec<u8>,
    rout_pos: usize,
    state: ReadState,
    in_message: InMessage,
    eof: bool,
    inflate: Decompress,
    scratch: Vec<u8>,
    // Out: what tungstenite wrote (whole frames are taken from it), and
    // the frames for the socket (from `wout_pos`).
    wbuf: Vec<u8>,
    wout: Vec<u8>,
    wout_pos: usize,
    /// A message tungstenite is sending as raw fragments: sent as is.
    out_fragmented: bool,
    compress: Option<Compress>,
}

impl Deflater {
    fn new(agreed: Agreed, server: bool, max_message: usize, max_frame: usize) -> Deflater {
        Deflater {
            agreed,
            server,
            max_message,
            max_frame: max_frame.max(1),
            rbuf: Vec::new(),
            rpos: 0,
            rend: 0,
            rout: Vec::new(),
            rout_pos: 0,
            state: ReadState::Header,
            in_message: InMessage::None,
            eof: false,
            inflate: Decompress::new_with_window_bits(false, agreed.recv_window_bits.clamp(9, 15)),
            scratch: Vec::new(),
            wbuf: Vec::new(),
            wout: Vec::new(),
            wout_pos: 0,
            out_fragmented: false,
            compress: None,
        }
    }

    /// Appends bytes read elsewhere (a handshake's, a test's) to what is
    /// waiting to be turned into frames.
    fn feed(&mut self, bytes: &[u8]) {
        self.rbuf.truncate(self.rend);
        self.rbuf.extend_from_slice(bytes);
        self.rend = self.rbuf.len();
    }

    /// Turns what is in `rbuf` into frames in `rout`, as far as it goes.
    /// `Ok(false)` when more bytes are needed.
    fn step_in(&mut self) -> io::Result<bool> {
        let avail = &self.rbuf[self.rpos..self.rend];
        match self.state {
            ReadState::Header => {
                let Some(h) = Header::parse(avail) else {
                    return Ok(false);
                };
                let op = h.opcode();
                let rsv = h.first & RSV_ALL;
                let fits = h.len <= self.max_frame as u64;
                let starts_compressed =
                    matches!(op, OP_TEXT | OP_BINARY) && rsv == RSV1 && self.in_message == InMessage::None;
                let continues_compressed =
                    op == OP_CONTINUATION && rsv == 0 && matches!(self.in_message, InMessage::Compressed(_));
                if fits && (starts_compressed || continues_compressed) {
                    if starts_compressed {
                        self.in_message = InMessage::Compressed(0);
                    }
                    self.rpos += h.size;
                    self.state = ReadState::Inflate(h);
                } else {
                    // Track messages as tungstenite will see them.
                    match op {
                        OP_TEXT | OP_BINARY if rsv == 0 => {
                            self.in_message = if h.fin() { InMessage::None } else { InMessage::Plain };
                        }
                        OP_CONTINUATION if rsv == 0 && h.fin() => self.in_message = InMessage::None,
                        _ => {}
                    }
                    self.rout.extend_from_slice(&avail[..h.size]);
                    self.rpos += h.size;
                    self.state = ReadState::Pass(h.len);
                }
                Ok(true)
            }
            ReadState::Pass(left) => {
                if left == 0 {
                    self.state = ReadState::Header;
                    return Ok(true);
                }
                if avail.is_empty() {
                    return Ok(false);
                }
                let n = avail.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                self.rout.extend_from_slice(&avail[..n]);
                self.rpos += n;
                self.state = ReadState::Pass(left - n as u64);
                Ok(true)
            }
            ReadState::Inflate(h) => {
                let len = h.len as usize; // at most max_frame: checked above
                if avail.len() < len {
                    return Ok(false);
                }
                let start = self.rpos;
                self.rpos += len;
                self.state = ReadState::Header;
                let payload = &mut self.rbuf[start..start + len];
                if let Some(key) = h.mask {
                    apply_mask(payload, key);
                }
                self.inflate_frame(h, start, len)?;
                Ok(true)
            }
        }
    }

    /// Inflates the payload at `rbuf[start..start + len]` of one frame of
    /// a compressed message and writes it to `rout` as plain frames.
    fn inflate_frame(&mut self, h: Header, start: usize, len: usize) -> io::Result<()> {
        let InMessage::Compressed(before) = self.in_message else {
            unreachable!("inflating outside a compressed message")
        };
        // One byte over the limit is enough for tungstenite to refuse it.
        let allowance = self.max_message.saturating_sub(before).saturating_add(1);
        self.scratch.clear();
        let fin = h.fin();
        let mut input: &[u8] = &self.rbuf[start..start + len];
        let mut tail: &[u8] = if fin { &TAIL } else { &[] };
        while self.scratch.len() < allowance {
            if self.scratch.len() == self.scratch.capacity() {
                // Room for a few times the input at first, doubling after.
                let guess = (4 * len).max(self.scratch.len()).clamp(256, 1 << 20);
                self.scratch.reserve(guess.min(allowance - self.scratch.len()));
            }
            let in_before = self.inflate.total_in();
            let status = self
                .inflate
                .decompress_vec(input, &mut self.scratch, FlushDecompress::Sync)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, DeflateError("invalid compressed data")))?;
            input = &input[(self.inflate.total_in() - in_before) as usize..];
            if status == Status::StreamEnd {
                // A final block (BFINAL): the peer starts afresh after it.
                self.inflate.reset(false);
                break;
            }
            if self.scratch.len() == self.scratch.capacity() {
                continue; // out of room: there may be more to come
            }
            // Room to spare: all the input there is has been taken.
            if !input.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    DeflateError("stalled on its input"),
                ));
            }
            if tail.is_empty() {
                break;
            }
            input = std::mem::take(&mut tail);
        }
        let total = before.saturating_add(self.scratch.len());
        self.in_message = if fin {
            InMessage::None
        } else {
            InMessage::Compressed(total)
        };
        if fin && self.agreed.recv_no_context {
            self.inflate.reset(false);
        }
        // Hand it on as plain frames of at most `max_frame` bytes; the
        // first of the message keeps its opcode, only the last of the
        // last keeps FIN. Frames from a client are masked (key 0).
        let mask = self.server.then_some([0u8; 4]);
        let mut opcode = h.opcode();
        let mut chunks = self.scratch.chunks(self.max_frame).peekable();
        if chunks.peek().is_none() {
            Header::write(&mut self.rout, if fin { FIN } else { 0 } | opcode, mask, 0);
        }
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let first = if fin && last { FIN } else { 0 } | opcode;
            Header::write(&mut self.rout, first, mask, chunk.len());
            self.rout.extend_from_slice(chunk);
            opcode = OP_CONTINUATION;
        }
        if self.scratch.capacity() > SCRATCH_KEEP {
            // A large message's room is not kept for an idle WebSocket.
            self.scratch = Vec::new();
        }
        Ok(())
    }

    /// Takes whole frames out of `wbuf` into `wout`, deflating messages.
    fn step_out(&mut self) -> io::Result<()> {
        let mut pos = 0;
        while let Some(h) = Header::parse(&self.wbuf[pos..]) {
            let end = pos + h.size + h.len as usize;
            if self.wbuf.len() < end {
                break;
            }
            let op = h.opcode();
            let whole_message = matches!(op, OP_TEXT | OP_BINARY) && h.fin() && !self.out_fragmented;
            if whole_message && h.len > 0 && h.first & RSV_ALL == 0 {
                let payload = &mut self.wbuf[pos + h.size..end];
                if let Some(key) = h.mask {
                    apply_mask(payload, key);
                }
                let compressed = deflate_message(&mut self.compress, &self.agreed, payload)?;
                let mut body = compressed;
                Header::write(&mut self.wout, h.first | RSV1, h.mask, body.len());
                if let Some(key) = h.mask {
                    apply_mask(&mut body, key);
                }
                self.wout.extend_from_slice(&body);
            } else {
                match op {
                    OP_TEXT | OP_BINARY => self.out_fragmented = !h.fin(),
                    OP_CONTINUATION if h.fin() => self.out_fragmented = false,
                    _ => {}
                }
                self.wout.extend_from_slice(&self.wbuf[pos..end]);
            }
            pos = end;
        }
        self.wbuf.drain(..pos);
        Ok(())
    }

    /// Writes what is waiting in `wout` to the socket.
    fn poll_drain(&mut self, inner: &mut Transport, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wout_pos < self.wout.len() {
            let n = ready!(Pin::new(&mut *inner).poll_write(cx, &self.wout[self.wout_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wout_pos += n;
        }
        self.wout_pos = 0;
        if self.wout.capacity() > SCRATCH_KEEP {
            self.wout = Vec::new();
        } else {
            self.wout.clear();
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > SCRATCH_KEEP {
            self.wbuf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

/// Deflates one message's payload as RFC 7692 section 7.2.1 says: a sync
/// flush, its empty-block tail removed. With no context takeover the
/// compressor is the thread's, shared by every WebSocket on its loop and
/// reset after each message: a connection then holds no compressor (about
/// 200 KiB each otherwise).
fn deflate_message(slot: &mut Option<Compress>, agreed: &Agreed, payload: &[u8]) -> io::Result<Vec<u8>> {
    if agreed.send_no_context {
        thread_local! {
            static SHARED: std::cell::RefCell<Vec<((u32, u8), Compress)>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        return SHARED.with(|shared| {
            let mut shared = shared.borrow_mut();
            let key = (agreed.level, agreed.send_window_bits);
            let i = match shared.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    shared.push((key, new_compress(agreed)));
                    shared.len() - 1
                }
            };
            let compress = &mut shared[i].1;
            let out = deflate_with(compress, payload);
            compress.reset();
            out
        });
    }
    deflate_with(slot.get_or_insert_with(|| new_compress(agreed)), payload)
}

fn new_compress(agreed: &Agreed) -> Compress {
    if agreed.send_window_bits < 9 {
        // zlib cannot deflate with a 256-byte window: stored blocks refer
        // to nothing, so they fit any window.
        Compress::new_with_window_bits(Compression::none(), false, 9)
    } else {
        Compress::new_with_window_bits(Compression::new(agreed.level), false, agreed.send_window_bits)
    }
}

fn deflate_with(compress: &mut Compress, payload: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    let mut input = payload;
    loop {
        let before = compress.total_in();
        compress
            .compress_vec(input, &mut out, FlushCompress::Sync)
            .map_err(|e| io::Error::other(format!("permessage-deflate: {e}")))?;
        input = &input[(compress.total_in() - before) as usize..];
        // Done once all input is in and the flush has fit (room left over).
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if !out.ends_with(&TAIL) {
        compress.reset();
        return Err(io::Error::other(
            "permessage-deflate: the sync flush left no empty block",
        ));
    }
    out.truncate(out.len() - TAIL.len());
    Ok(out)
}

impl AsyncRead for WsIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(held) = this.handshake.as_mut() {
            return poll_read_head(&mut this.inner, held, cx, buf);
        }
        let Some(d) = this.deflate.as_deref_mut() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        loop {
            if d.rout_pos < d.rout.len() {
                let n = (d.rout.len() - d.rout_pos).min(buf.len());
                buf[..n].copy_from_slice(&d.rout[d.rout_pos..d.rout_pos + n]);
                d.rout_pos += n;
                if d.rout_pos == d.rout.len() {
                    d.rout_pos = 0;
                    if d.rout.capacity() > SCRATCH_KEEP {
                        d.rout = Vec::new();
                    } else {
                        d.rout.clear();
                    }
                }
                return Poll::Ready(Ok(n));
            }
            if d.step_in()? {
                continue;
            }
            if d.eof {
                // A frame cut short: what there is goes on, and then the
                // end, for tungstenite to judge.
                if d.rpos < d.rend {
                    d.rout.extend_from_slice(&d.rbuf[d.rpos..d.rend]);
                    d.rpos = d.rend;
                    continue;
                }
                return Poll::Ready(Ok(0));
            }
            // Room for a read: move what is left to the front, grow if a
            // large frame needs it.
            if d.rpos == d.rend && d.rbuf.len() > 4 * READ_CHUNK {
                // A large frame's room is not kept for an idle WebSocket.
                d.rbuf = Vec::new();
                d.rpos = 0;
                d.rend = 0;
            }
            if d.rbuf.len() - d.rend < READ_CHUNK {
                d.rbuf.copy_within(d.rpos..d.rend, 0);
                d.rend -= d.rpos;
                d.rpos = 0;
                if d.rbuf.len() - d.rend < READ_CHUNK {
                    d.rbuf.resize(d.rend + READ_CHUNK.max(d.rend), 0);
                }
            }
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut d.rbuf[d.rend..]))?;
            d.rend += n;
            if n == 0 {
                d.eof = true;
            }
        }
    }
}

/// A client's handshake: reads until the whole response head is in, then
/// hands on the head and nothing after it (that waits for
/// [`WsIo::handshake_done`]).
fn poll_read_head(
    inner: &mut Transport,
    head: &mut Head,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    loop {
        let limit = match find_head_end(&head.held) {
            Some(end) => Some(end),
            None if head.held.len() >= MAX_HEAD => Some(head.held.len()),
            None => None,
        };
        if let Some(limit) = limit {
            let n = (limit - head.given).min(buf.len());
            buf[..n].copy_from_slice(&head.held[head.given..head.given + n]);
            head.given += n;
            return Poll::Ready(Ok(n));
        }
        let mut chunk = [0u8; 4096];
        let n = ready!(Pin::new(&mut *inner).poll_read(cx, &mut chunk))?;
        if n == 0 {
            // The end before the head's: hand on what there is, then the end.
            let n = (head.held.len() - head.given).min(buf.len());
            buf[..n].copy_from_slice(&head.held[head.given..head.given + n]);
            head.given += n;
            return Poll::Ready(Ok(n));
        }
        head.held.extend_from_slice(&chunk[..n]);
    }
}

impl AsyncWrite for WsIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(d) = this.deflate.as_deref_mut() else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        if d.wout.len() - d.wout_pos >= WRITE_HIGH {
            ready!(d.poll_drain(&mut this.inner, cx))?;
        }
        d.wbuf.extend_from_slice(buf);
        d.step_out()?;
        // Start the socket on it; what does not fit waits for the next
        // write or the flush.
        if let Poll::Ready(Err(e)) = d.poll_drain(&mut this.inner, cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(d) = this.deflate.as_deref_mut() {
            ready!(d.poll_drain(&mut this.inner, cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(d) = this.deflate.as_deref_mut() {
            ready!(d.poll_drain(&mut this.inner, cx))?;
        }
        Pin::new(&mut this.inner).poll_close(cx)
    }
}

/// The fuzz target's run: `wire` (cut where `cuts` say) through a
/// server's extension as agreed, with small limits. What comes out must
/// parse as frames (a partial one only at the end), inflated ones within
/// the frame limit, and nothing may panic or grow without bound.
#[cfg(fuzzing)]
pub(crate) fn fuzz_inflate(agreed: Agreed, wire: &[u8], cuts: &[u8]) {
    const MAX: usize = 4096;
    let mut d = Deflater::new(agreed, true, MAX, MAX);
    let mut out = Vec::new();
    let mut rest = wire;
    let mut cuts = cuts.iter().cycle();
    while !rest.is_empty() {
        let n = usize::from(*cuts.next().unwrap_or(&255)).clamp(1, rest.len());
        d.feed(&rest[..n]);
        rest = &rest[n..];
        loop {
            match d.step_in() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    assert!(is_deflate_error(&e));
                    return;
                }
            }
        }
        out.append(&mut d.rout);
        assert!(
            d.scratch.capacity() <= 4 * (MAX + 64 * 1024),
            "inflating past the limit"
        );
    }
    let mut pos = 0;
    while let Some(h) = Header::parse(&out[pos..]) {
        pos += h.size
            + usize::try_from(h.len)
                .unwrap_or(usize::MAX)
                .min(out.len() - pos - h.size);
    }
    assert!(out.len() - pos < 14, "a malformed frame was handed on");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed() -> Agreed {
        Agreed::RFC_DEFAULTS
    }

    /// Runs `wire` (frames from the peer) through a server's extension and
    /// returns what tungstenite would read.
    fn inflate_all(d: &mut Deflater, wire: &[u8]) -> Vec<u8> {
        d.feed(wire);
        while d.step_in().unwrap() {}
        std::mem::take(&mut d.rout)
    }

    #[test]
    fn inflates_the_rfc_example() {
        // RFC 7692 section 7.2.3.1: "Hello" compressed, unmasked from a
        // server to a client.
        let mut d = Deflater::new(agreed(), false, 1 << 20, 1 << 20);
        let out = inflate_all(&mut d, &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert_eq!(out, [&[0x81, 0x05][..], b"Hello"].concat());
    }

    #[test]
    fn inflates_masked_with_a_small_window() {
        let mut a = agreed();
        a.recv_window_bits = 12;
        a.recv_no_context = true;
        let mut d = Deflater::new(a, true, 1 << 20, 1 << 20);
        let key = [1, 2, 3, 4];
        let mut payload = vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        apply_mask(&mut payload, key);
        let frame = [&[0xc1, 0x87][..], &key, &payload].concat();
        let out = inflate_all(&mut d, &frame);
        assert_eq!(out, [&[0x81, 0x85, 0, 0, 0, 0][..], b"Hello"].concat());
        let out = inflate_all(&mut d, &frame);
        assert_eq!(out, [&[0x81, 0x85, 0, 0, 0, 0][..], b"Hello"].concat());
    }

    /// A frame as tungstenite writes it: whole message, masked if `key`.
    fn frame(first: u8, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Header::write(&mut out, first, key, payload.len());
        let mut body = payload.to_vec();
        if let Some(k) = key {
            apply_mask(&mut body, k);
        }
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn what_one_end_deflates_the_other_inflates() {
        for (send_window_bits, send_no_context, level) in [(15, false, 1), (9, true, 6), (8, false, 1), (12, false, 9)]
        {
            let a = Agreed {
                level,
                send_window_bits,
                send_no_context,
                recv_window_bits: send_window_bits.max(9),
                recv_no_context: send_no_context,
            };
            let mut client = Deflater::new(a, false, 1 << 20, 1 << 20);
            let mut server = Deflater::new(a, true, 1 << 20, 1 << 20);
            let messages: Vec<Vec<u8>> = (0..50)
                .map(|i: usize| format!("message {i} {}", "abc".repeat(i * 7)).into_bytes())
                .collect();
            for (i, m) in messages.iter().enumerate() {
                client
                    .wbuf
                    .extend_from_slice(&frame(FIN | OP_TEXT, Some([1, 2, 3, i as u8]), m));
                // A ping between messages passes as it is.
                client
                    .wbuf
                    .extend_from_slice(&frame(FIN | 0x9, Some([4, 3, 2, 1]), b"p"));
            }
            client.step_out().unwrap();
            let wire = std::mem::take(&mut client.wout);
            let out = inflate_all(&mut server, &wire);
            let mut expected = Vec::new();
            for m in &messages {
                expected.extend_from_slice(&frame(FIN | OP_TEXT, Some([0; 4]), m));
                expected.extend_from_slice(&frame(FIN | 0x9, Some([4, 3, 2, 1]), b"p"));
            }
            assert_eq!(out, expected, "window {send_window_bits}");
            if send_window_bits == 8 {
                // Stored blocks: no smaller than the text.
                assert!(wire.len() > messages.iter().map(Vec::len).sum::<usize>());
            } else {
                assert!(
                    wire.len() < messages.iter().map(Vec::len).sum::<usize>() / 4,
                    "window {send_window_bits}"
                );
            }
        }
    }

    #[test]
    fn a_compressed_message_in_fragments_and_large_output_is_cut_to_the_frame_limit() {
        let mut c = Compress::new(Compression::new(6), false);
        let text = b"0123456789".repeat(1000);
        let mut z = Vec::with_capacity(text.len());
        c.compress_vec(&text, &mut z, FlushCompress::Sync).unwrap();
        assert!(z.ends_with(&TAIL));
        z.truncate(z.len() - 4);
        let (one, two) = z.split_at(z.len() / 2);
        let mut wire = frame(RSV1 | OP_TEXT, None, one);
        wire.extend(frame(FIN | 0x9, None, b"ping"));
        wire.extend(frame(FIN | OP_CONTINUATION, None, two));
        let mut d = Deflater::new(Agreed::RFC_DEFAULTS, false, 1 << 20, 4096);
        let out = inflate_all(&mut d, &wire);
        // Parse back what tungstenite would see.
        let mut frames = Vec::new();
        let mut rest = &out[..];
        while let Some(h) = Header::parse(rest) {
            let end = h.size + h.len as usize;
            frames.push((h.first, rest[h.size..end].to_vec()));
            rest = &rest[end..];
        }
        assert!(rest.is_empty());
        assert!(frames.iter().all(|(_, p)| p.len() <= 4096));
        assert_eq!(frames[0].0 & 0x0f, OP_TEXT);
        assert!(frames.iter().any(|(f, p)| *f == FIN | 0x9 && p == b"ping"));
        let data: Vec<u8> = frames
            .iter()
            .filter(|(f, _)| f & 0x0f != 0x9)
            .flat_map(|(_, p)| p.clone())
            .collect();
        assert_eq!(data, text);
        let fins: Vec<bool> = frames
            .iter()
            .filter(|(f, _)| f & 0x0f != 0x9)
            .map(|(f, _)| f & FIN != 0)
            .collect();
        assert_eq!(fins.iter().filter(|f| **f).count(), 1);
        assert!(*fins.last().unwrap());
        assert!(frames.iter().all(|(f, _)| f & RSV_ALL == 0));
    }
}
