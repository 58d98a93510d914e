//! [`File`]: an open file whose operations run on the loop's thread pool,
//! with read-ahead and write buffering. The machinery is in `engine.rs`.

use std::fmt;
use std::fs;
use std::future::poll_fn;
use std::io::{self, SeekFrom};
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::engine::{Engine, Op, Reply};
use super::OpenOptions;

/// An open file (`aiofiles`' file object): every operation that touches the
/// disk runs on the running loop's default thread pool, so the loop never
/// blocks on it. A `File` holds no loop: it may move between threads, and
/// its operations run on the pool of the loop that awaits them.
///
/// **Reads are read ahead.** A read fetches a chunk (64 KiB, or more for a
/// larger `read`) in one trip to the pool and serves [`read`](File::read),
/// [`readline`](File::readline) and [`next_line`](File::next_line) from it:
/// reading a file line by line costs one trip per 64 KiB, not one per line.
///
/// **Writes are buffered.** [`write`](File::write) copies the bytes into a
/// buffer; each full 64 KiB goes to the pool while the next fills.
/// [`flush`](File::flush) writes out the rest and waits for it, and reports
/// a failed background write; [`seek`](File::seek), the reads and the other
/// operations flush first. The buffers are kept consistent with the file
/// position: a seek or a write after a partial read starts where the reader
/// is, not where the read-ahead stopped.
///
/// # Cancellation
///
/// Every operation is cancel safe in the same way. If its future is dropped
/// while a job is queued or runs on the pool (a `timeout`, a cancelled
/// task), the job is not cancelled (the std file travels in it): it runs to
/// the end and the file stays consistent, because the next operation first
/// waits for that job and takes its outcome in. Bytes a cancelled read
/// fetched are kept in the buffer for the next read; a cancelled write was
/// either buffered completely or not at all; a write handed to the pool
/// completes; a cancelled seek, `set_len` or sync that had started takes
/// effect. An error of a job whose future was dropped is reported by the
/// next operation that waits for the file.
///
/// # Dropping
///
/// Dropping a `File` loses no written bytes: buffered writes are written on
/// the pool in the background, after the job in flight (if any) finished,
/// and the file is closed there. Errors of that last write go unseen and
/// nothing waits for it; call [`flush`](File::flush) (or
/// [`sync_all`](File::sync_all)) before dropping to know the bytes are
/// written. `asyncio::run` waits for the pool's jobs when it ends; a
/// `File` dropped once no pool is left (its loop closed) writes on the
/// dropping thread, or on a thread of its own if a job was still in flight.
///
/// ```
/// use asyncio::fs::File;
///
/// # asyncio::run(async {
/// # let path = std::env::temp_dir().join(format!("asyncio-doc-file-{}", std::process::id()));
/// let mut f = File::create(&path).await?;
/// for i in 0..1000 {
///     f.write(format!("line {i}\n").as_bytes()).await?; // buffered: no trip to the pool
/// }
/// f.flush().await?;
///
/// let mut f = File::open(&path).await?;
/// let mut n = 0;
/// while let Some(line) = f.next_line().await? {
///     assert_eq!(line, format!("line {n}"));
///     n += 1;
/// }
/// assert_eq!(n, 1000);
/// # asyncio::fs::remove_file(&path).await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct File {
    e: Engine,
}

impl File {
    /// Opens `path` for reading (`open(path, "rb")`).
    ///
    /// # Errors
    /// As [`std::fs::File::open`]: `NotFound`, `PermissionDenied`, ...
    ///
    /// # Cancel safety
    /// Cancel safe: a file opened after the future was dropped is closed.
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` for writing, created if missing and truncated if not
    /// (`open(path, "wb")`).
    ///
    /// # Errors
    /// As [`std::fs::File::create`].
    ///
    /// # Cancel safety
    /// Cancel safe: a file opened after the future was dropped is closed
    /// (and stays created and truncated).
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Creates `path` for reading and writing, failing if it exists
    /// (`open(path, "xb+")`).
    ///
    /// # Errors
    /// `AlreadyExists`, and as [`std::fs::File::create_new`].
    ///
    /// # Cancel safety
    /// As [`create`](File::create).
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// A builder for other ways of opening (`OpenOptions::new()`).
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps an open std file. Its operations then run on the thread pool
    /// of the loop they are awaited on.
    pub fn from_std(file: fs::File) -> File {
        File { e: Engine::new(file) }
    }

    /// The std file back, with its cursor where this `File`'s readers and
    /// writers were: buffered writes are written, the read-ahead is given
    /// back.
    ///
    /// # Errors
    /// A failed write or seek (the `File` is then dropped as usual); an
    /// error no earlier operation reported.
    ///
    /// # Cancel safety
    /// If the future is dropped, the `File` is dropped with it (its buffered
    /// writes are still written, as on any drop).
    pub async fn into_std(mut self) -> io::Result<fs::File> {
        poll_fn(|cx| self.e.poll_quiesce(cx)).await?;
        self.e.take_file()
    }

    /// Up to `n` bytes from the current position: what the read-ahead
    /// holds, or one fetch from the pool (of at least 64 KiB, more for a
    /// larger `n`). Empty at the end of the file (or for `n == 0`).
    ///
    /// # Errors
    /// The read's error; a failed background write (reads write out
    /// buffered writes first).
    ///
    /// # Cancel safety
    /// Cancel safe: the bytes fetched stay buffered for the next read.
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        poll_fn(|cx| self.e.poll_read_with(cx, n, |e, k| e.take(k))).await
    }

    /// Everything from the current position to the end of the file
    /// (`read()`), in one trip to the pool.
    ///
    /// # Errors
    /// The read's error (the bytes read before it stay buffered).
    ///
    /// # Cancel safety
    /// Cancel safe: the bytes fetched stay buffered for the next read.
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        poll_fn(|cx| self.e.poll_fill_to_end(cx)).await?;
        let n = self.e.unread().len();
        Ok(self.e.take(n))
    }

    /// As [`read_to_end`](File::read_to_end), as text.
    ///
    /// # Errors
    /// `InvalidData` if the bytes are not UTF-8 (they stay buffered, for
    /// [`read_to_end`](File::read_to_end)); the read's error.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn read_to_string(&mut self) -> io::Result<String> {
        poll_fn(|cx| self.e.poll_fill_to_end(cx)).await?;
        std::str::from_utf8(self.e.unread()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let n = self.e.unread().len();
        Ok(String::from_utf8(self.e.take(n)).expect("checked above"))
    }

    /// One line, its `\n` included (`readline()`); at the end of the file
    /// what is left, then empty. Lines have no length limit.
    ///
    /// # Errors
    /// The read's error (the partial line stays buffered).
    ///
    /// # Cancel safety
    /// Cancel safe: a partial line stays buffered.
    pub async fn readline(&mut self) -> io::Result<Vec<u8>> {
        poll_fn(|cx| self.e.poll_readline(cx)).await
    }

    /// The next line as text, without its `\n` or `\r\n` (as
    /// [`BufRead::lines`](std::io::BufRead::lines)); `None` at the end of
    /// the file. For a `Stream` of lines, use the [`AsyncBufRead`]
    /// implementation (`futures_lite::AsyncBufReadExt::lines`, ...).
    ///
    /// [`AsyncBufRead`]: futures_io::AsyncBufRead
    ///
    /// # Errors
    /// `InvalidData` if the line is not UTF-8 (it is consumed); the read's
    /// error.
    ///
    /// # Cancel safety
    /// Cancel safe: a partial line stays buffered.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        let line = self.readline().await?;
        line_to_string(line)
    }

    /// Writes `data` at the current position. It is buffered: the call
    /// waits only when a full buffer cannot be handed to the pool yet (the
    /// previous one is still being written), or after a partial read, for
    /// the read-ahead to be given back.
    ///
    /// # Errors
    /// A failed earlier background write (then `data` is not buffered); the
    /// read-ahead could not be given back (the file cannot seek).
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped, `data` was not buffered.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        poll_fn(|cx| self.e.poll_write_ready(cx)).await?;
        self.e.buffer_write(data);
        Ok(())
    }

    /// Writes out the buffered writes and waits until the pool wrote them
    /// (to the OS: [`sync_all`](File::sync_all) gets them to the disk).
    ///
    /// # Errors
    /// The first failed write since the last flush.
    ///
    /// # Cancel safety
    /// Cancel safe: the writes handed to the pool complete; the rest stays
    /// buffered.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.e.poll_flush(cx)).await
    }

    /// Moves the position (`seek`), and returns it from the start of the
    /// file. Buffered writes are written first; `SeekFrom::Current` counts
    /// from where the reader is, not from where the read-ahead stopped.
    ///
    /// # Errors
    /// The seek's error (`InvalidInput` before the start); a failed write.
    ///
    /// # Cancel safety
    /// If the future is dropped while the seek runs, the seek takes effect
    /// or fails as it would have; the next operation waits for it. Seek
    /// again to be sure where the file is.
    pub async fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self.e.after_flush(|e| e.seek_op(pos)).await? {
            Reply::Pos(p) => Ok(p),
            _ => unreachable!("a seek replies with a position"),
        }
    }

    /// The current position from the start of the file (`tell()`): a
    /// [`seek`](File::seek) to `SeekFrom::Current(0)`, one trip to the pool.
    ///
    /// # Errors
    /// As [`seek`](File::seek).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn tell(&mut self) -> io::Result<u64> {
        self.seek(SeekFrom::Current(0)).await
    }

    /// Writes out buffered writes and syncs data and metadata to the disk
    /// (`os.fsync`).
    ///
    /// # Errors
    /// A failed write; the sync's error.
    ///
    /// # Cancel safety
    /// Cancel safe: if dropped, the sync still runs.
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.e.after_flush(|_| Ok(Op::SyncAll)).await.map(drop)
    }

    /// As [`sync_all`](File::sync_all), without the metadata that reading
    /// the data does not need (`os.fdatasync`).
    ///
    /// # Errors
    /// A failed write; the sync's error.
    ///
    /// # Cancel safety
    /// Cancel safe: if dropped, the sync still runs.
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.e.after_flush(|_| Ok(Op::SyncData)).await.map(drop)
    }

    /// Truncates or extends the file to `len` bytes (`truncate(len)`); the
    /// position does not move. Buffered writes are written first and the
    /// read-ahead is dropped.
    ///
    /// # Errors
    /// The file is not open for writing; a failed write.
    ///
    /// # Cancel safety
    /// If the future is dropped while the job runs, the length still
    /// changes.
    pub async fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.e.after_quiesce(Op::SetLen(len)).await.map(drop)
    }

    /// The file's metadata (`os.fstat`), after buffered writes are written
    /// (so the length counts them).
    ///
    /// # Errors
    /// A failed write; the `fstat` error.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn metadata(&mut self) -> io::Result<fs::Metadata> {
        match self.e.after_flush(|_| Ok(Op::Metadata)).await? {
            Reply::Metadata(m) => Ok(m),
            _ => unreachable!("metadata replies with metadata"),
        }
    }

    /// Bytes read ahead and not consumed yet.
    pub fn buffered_read(&self) -> usize {
        self.e.unread().len()
    }

    /// Bytes written and not yet handed to the pool.
    pub fn buffered_write(&self) -> usize {
        self.e.buffered_writes()
    }

    /// Jobs this file ran on the thread pool: for tests of the read-ahead.
    #[doc(hidden)]
    pub fn __pool_hops(&self) -> u64 {
        self.e.hops()
    }
}

fn line_to_string(mut line: Vec<u8>) -> io::Result<Option<String>> {
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("state", &self.e.state_name())
            .field("buffered_read", &self.buffered_read())
            .field("buffered_write", &self.buffered_write())
            .finish()
    }
}

impl futures_io::AsyncRead for File {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let e = &mut self.get_mut().e;
        e.poll_read_with(cx, out.len(), |e, n| {
            out[..n].copy_from_slice(&e.unread()[..n]);
            e.consume(n);
            n
        })
    }
}

impl futures_io::AsyncBufRead for File {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().e.poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let e = &mut self.get_mut().e;
        let amt = amt.min(e.unread().len());
        e.consume(amt);
    }
}

impl futures_io::AsyncWrite for File {
    /// Buffers all of `buf` (see [`File::write`]).
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let e = &mut self.get_mut().e;
        ready!(e.poll_write_ready(cx))?;
        e.buffer_write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().e.poll_flush(cx)
    }

    /// Flushes; the file itself closes when the `File` is dropped.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().e.poll_flush(cx)
    }
}

impl futures_io::AsyncSeek for File {
    /// As [`File::seek`]. Call it again with the same `pos` until it is
    /// ready: a seek left unfinished (its future dropped) is not adopted by
    /// a later call with another target.
    fn poll_seek(self: Pin<&mut Self>, cx: &mut Context<'_>, pos: SeekFrom) -> Poll<io::Result<u64>> {
        let e = &mut self.get_mut().e;
        loop {
            if let Some((ticket, target)) = e.seek_op.take() {
                if target == pos {
                    match e.poll_reply(cx, ticket) {
                        Poll::Pending => {
                            e.seek_op = Some((ticket, target));
                            return Poll::Pending;
                        }
                        Poll::Ready(Some(Ok(Reply::Pos(p)))) => return Poll::Ready(Ok(p)),
                        Poll::Ready(Some(Ok(_))) => unreachable!("a seek replies with a position"),
                        Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(err)),
                        Poll::Ready(None) => {} // its reply went stale: seek anew
                    }
                }
            }
            ready!(e.poll_flush(cx))?;
            let ticket = e.start_seek(pos)?;
            e.seek_op = Some((ticket, pos));
        }
    }
}
