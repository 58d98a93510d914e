//! asyncio::fs: whole-file helpers, File's read-ahead (counted in trips to
//! the pool), seeks across both buffers, cancellation mid-job, writes that
//! outlive their File, errors, and the futures-io traits.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use asyncio::executor::{JobHandle, ThreadPoolExecutor};
use asyncio::fs::{self, File, OpenOptions};

const LIMIT: Duration = Duration::from_secs(10);
const CHUNK: usize = 64 * 1024;

fn run<F: std::future::Future>(f: F) -> F::Output {
    asyncio::run(async move { asyncio::timeout(LIMIT, f).await.expect("test took over 10 s") })
}

/// A directory of this test's own under the system temp dir, removed on
/// drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("asyncio-fs-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes that tell their own offset apart: `pattern(n)[i] == (i * 7 + i / 251) as u8`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Opens `path` for reading and writing, created or truncated.
async fn create_rw(path: &Path) -> File {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(true);
    options.open(path).await.unwrap()
}

/// Makes the loop's default pool a single thread and occupies it until the
/// returned sender is used (or dropped); jobs started meanwhile queue.
fn block_the_pool() -> (mpsc::Sender<()>, JobHandle<()>) {
    let pool = ThreadPoolExecutor::new(1);
    asyncio::get_running_loop().set_default_executor(pool);
    let (tx, rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let blocker = asyncio::to_thread(move || {
        started_tx.send(()).unwrap();
        let _ = rx.recv_timeout(LIMIT);
    });
    started_rx.recv_timeout(LIMIT).expect("the blocker started");
    (tx, blocker)
}

/// Waits (on the loop) until the file at `path` holds `want`.
async fn until_on_disk(path: &Path, want: &[u8]) {
    let deadline = Instant::now() + LIMIT;
    loop {
        if std::fs::read(path).ok().as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never held the expected bytes",
            path.display()
        );
        asyncio::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn whole_file_helpers_round_trip() {
    let dir = TempDir::new("whole");
    run(async {
        let a = dir.path("a.bin");
        let data = pattern(300_000);
        fs::write(&a, &data).await.unwrap();
        assert_eq!(fs::read(&a).await.unwrap(), data);
        assert_eq!(fs::metadata(&a).await.unwrap().len(), 300_000);

        let t = dir.path("t.txt");
        fs::write(&t, "héllo\n").await.unwrap();
        assert_eq!(fs::read_to_string(&t).await.unwrap(), "héllo\n");
        let err = fs::read_to_string(&a).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let b = dir.path("sub/deeper/b.bin");
        fs::create_dir_all(b.parent().unwrap()).await.unwrap();
        assert_eq!(fs::copy(&a, &b).await.unwrap(), 300_000);
        let c = dir.path("sub/c.bin");
        fs::rename(&b, &c).await.unwrap();
        assert!(!fs::exists(&b).await.unwrap());
        assert_eq!(fs::read(&c).await.unwrap(), data);
        fs::remove_file(&c).await.unwrap();
        assert!(!fs::exists(&c).await.unwrap());
        fs::remove_dir(dir.path("sub/deeper")).await.unwrap();
        fs::create_dir(dir.path("sub/again")).await.unwrap();
        fs::remove_dir_all(dir.path("sub")).await.unwrap();
        assert!(!fs::exists(dir.path("sub")).await.unwrap());
    });
}

#[test]
fn line_by_line_costs_one_pool_trip_per_chunk_not_per_line() {
    let dir = TempDir::new("lines");
    run(async {
        let path = dir.path("lines.txt");
        let text: String = (0..10_000).map(|i| format!("line number {i}\n")).collect();
        assert!(text.len() > 2 * CHUNK, "the file spans several chunks");

        // Writing 10,000 lines: buffered, a trip per 64 KiB.
        let mut f = File::create(&path).await.unwrap();
        for line in text.lines() {
            f.write(line.as_bytes()).await.unwrap();
            f.write(b"\n").await.unwrap();
        }
        f.flush().await.unwrap();
        let write_hops = f.__pool_hops();
        assert!(
            write_hops <= (text.len() / CHUNK + 1) as u64,
            "{write_hops} trips to write"
        );
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        // Reading them back with next_line.
        let mut f = File::open(&path).await.unwrap();
        let mut n = 0;
        while let Some(line) = f.next_line().await.unwrap() {
            assert_eq!(line, format!("line number {n}"));
            n += 1;
        }
        assert_eq!(n, 10_000);
        let hops = f.__pool_hops();
        // One trip per chunk, and one that finds the end.
        assert!(hops <= (text.len() / CHUNK + 2) as u64, "{hops} trips for 10,000 lines");
        assert!(hops * 100 < n, "{hops} trips for {n} lines");
        assert!(f.readline().await.unwrap().is_empty(), "still at the end");

        // And with readline, which keeps the newlines.
        let mut f = File::open(&path).await.unwrap();
        let mut back = Vec::new();
        loop {
            let line = f.readline().await.unwrap();
            if line.is_empty() {
                break;
            }
            assert_eq!(line.last(), Some(&b'\n'));
            back.extend_from_slice(&line);
        }
        assert_eq!(back, text.as_bytes());
        assert!(f.__pool_hops() <= (text.len() / CHUNK + 2) as u64);
    });
}

#[test]
fn last_line_without_newline_and_crlf() {
    let dir = TempDir::new("crlf");
    run(async {
        let path = dir.path("x.txt");
        fs::write(&path, "a\r\nb\n\nlast").await.unwrap();
        let mut f = File::open(&path).await.unwrap();
        let mut lines = Vec::new();
        while let Some(line) = f.next_line().await.unwrap() {
            lines.push(line);
        }
        assert_eq!(lines, ["a", "b", "", "last"]);
    });
}

#[test]
fn seeks_after_partial_reads_count_from_the_reader() {
    let dir = TempDir::new("seek-read");
    run(async {
        let path = dir.path("p.bin");
        let data = pattern(200_000);
        fs::write(&path, &data).await.unwrap();
        let mut f = File::open(&path).await.unwrap();

        assert_eq!(f.read(10).await.unwrap(), data[..10]);
        assert!(f.buffered_read() > 0, "read ahead");
        assert_eq!(f.tell().await.unwrap(), 10);
        assert_eq!(f.read(10).await.unwrap(), data[10..20]);
        assert_eq!(f.seek(SeekFrom::Current(5)).await.unwrap(), 25);
        assert_eq!(f.read(3).await.unwrap(), data[25..28]);
        assert_eq!(f.seek(SeekFrom::Current(-20)).await.unwrap(), 8);
        assert_eq!(f.read(4).await.unwrap(), data[8..12]);
        assert_eq!(f.seek(SeekFrom::Start(150_000)).await.unwrap(), 150_000);
        assert_eq!(f.read(100).await.unwrap(), data[150_000..150_100]);
        assert_eq!(f.seek(SeekFrom::End(-4)).await.unwrap(), 199_996);
        assert_eq!(f.read_to_end().await.unwrap(), data[199_996..]);
        assert!(f.read(10).await.unwrap().is_empty(), "end of file");
        let err = f.seek(SeekFrom::Current(-300_000)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(f.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        assert_eq!(f.read_to_end().await.unwrap(), data);

        // A large read is one fetch of its own size.
        f.seek(SeekFrom::Start(1)).await.unwrap();
        let before = f.__pool_hops();
        assert_eq!(f.read(150_000).await.unwrap(), data[1..150_001]);
        assert_eq!(f.__pool_hops(), before + 1);
    });
}

#[test]
fn writes_then_seek_then_read() {
    let dir = TempDir::new("write-seek");
    run(async {
        let path = dir.path("w.bin");
        let mut f = create_rw(&path).await;
        let data = pattern(3 * CHUNK + 1123);
        // Pieces of uneven sizes, some larger than a chunk.
        let mut at = 0;
        for size in [1, 1000, CHUNK + 7, 5, 2 * CHUNK, 110] {
            f.write(&data[at..at + size]).await.unwrap();
            at += size;
        }
        assert_eq!(at, data.len());
        // Unflushed writes are counted by seek and metadata.
        assert_eq!(f.metadata().await.unwrap().len(), data.len() as u64);
        f.write(b"tail").await.unwrap();
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), data.len() as u64 + 4);
        assert_eq!(f.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        let back = f.read_to_end().await.unwrap();
        assert_eq!(back[..data.len()], data[..]);
        assert_eq!(&back[data.len()..], b"tail");

        // Overwrite in the middle, read across it.
        f.seek(SeekFrom::Start(10)).await.unwrap();
        f.write(b"XYZ").await.unwrap();
        f.seek(SeekFrom::Start(8)).await.unwrap();
        let mid = f.read(7).await.unwrap();
        assert_eq!(mid, [&data[8..10], b"XYZ", &data[13..15]].concat());

        // Truncate; the position stays.
        f.set_len(20).await.unwrap();
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 15);
        assert_eq!(f.read_to_end().await.unwrap(), data[15..20]);
        f.sync_all().await.unwrap();
        f.sync_data().await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 20);
    });
}

#[test]
fn a_write_after_a_partial_read_lands_where_the_reader_is() {
    let dir = TempDir::new("read-write");
    run(async {
        let path = dir.path("rw.txt");
        let text: String = (0..20_000).map(|i| format!("{i}\n")).collect();
        fs::write(&path, &text).await.unwrap();
        let mut f = OpenOptions::new().read(true).write(true).open(&path).await.unwrap();
        assert_eq!(f.readline().await.unwrap(), b"0\n");
        assert_eq!(f.readline().await.unwrap(), b"1\n");
        assert!(f.buffered_read() > 1000);
        f.write(b"#\n").await.unwrap(); // replaces "2\n"
        assert_eq!(f.buffered_read(), 0, "the read-ahead was given back");
        assert_eq!(f.readline().await.unwrap(), b"3\n");
        f.flush().await.unwrap();
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert_eq!(on_disk, text.replacen("2\n", "#\n", 1));
    });
}

#[test]
fn a_cancelled_read_loses_nothing() {
    let dir = TempDir::new("cancel-read");
    run(async {
        let path = dir.path("c.bin");
        let data = pattern(3 * CHUNK);
        fs::write(&path, &data).await.unwrap();
        let mut f = File::open(&path).await.unwrap();
        assert_eq!(f.read(10).await.unwrap(), data[..10]);
        f.read(CHUNK).await.unwrap(); // the rest of the first chunk
        assert_eq!(f.buffered_read(), 0);

        let (release, blocker) = block_the_pool();
        // The fetch queues behind the blocker; the timeout drops the read.
        let r = asyncio::timeout(Duration::from_millis(5), f.read(100)).await;
        assert!(r.is_err(), "the read cannot finish while the pool is blocked");
        let r = asyncio::timeout(Duration::from_millis(5), f.readline()).await;
        assert!(r.is_err(), "nor can a readline behind it");
        release.send(()).unwrap();
        blocker.await.unwrap();

        // The fetch went on and its bytes are kept: nothing skipped, nothing
        // read twice.
        assert_eq!(f.read(100).await.unwrap(), data[CHUNK..CHUNK + 100]);
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), (CHUNK + 100) as u64);
        assert_eq!(f.read_to_end().await.unwrap(), data[CHUNK + 100..]);
    });
}

#[test]
fn a_cancelled_seek_and_flush_leave_the_file_consistent() {
    let dir = TempDir::new("cancel-write");
    run(async {
        let path = dir.path("c.bin");
        let mut f = create_rw(&path).await;
        let data = pattern(2 * CHUNK + 500);

        let (release, blocker) = block_the_pool();
        f.write(&data[..CHUNK + 1]).await.unwrap(); // handed to the (blocked) pool
        f.write(&data[CHUNK + 1..]).await.unwrap(); // buffered behind it
        let r = asyncio::timeout(Duration::from_millis(5), f.flush()).await;
        assert!(r.is_err(), "the flush cannot finish while the pool is blocked");
        let r = asyncio::timeout(Duration::from_millis(5), f.seek(SeekFrom::Start(3))).await;
        assert!(r.is_err(), "nor can a seek");
        release.send(()).unwrap();
        blocker.await.unwrap();

        // Every write landed; where the cancelled seek left the file is
        // not promised, so seek again.
        assert_eq!(f.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        assert_eq!(f.read_to_end().await.unwrap(), data);
        assert_eq!(std::fs::read(&path).unwrap(), data);
    });
}

#[test]
fn dropping_a_file_writes_what_it_buffered() {
    let dir = TempDir::new("drop");
    run(async {
        // Buffered writes, nothing in flight.
        let a = dir.path("a.txt");
        let mut f = File::create(&a).await.unwrap();
        f.write(b"kept on drop").await.unwrap();
        assert_eq!(f.buffered_write(), 12);
        drop(f);
        until_on_disk(&a, b"kept on drop").await;

        // A write in flight (queued behind a blocked pool) and more
        // buffered behind it.
        let b = dir.path("b.bin");
        let data = pattern(CHUNK + 1000);
        let mut f = File::create(&b).await.unwrap();
        let (release, blocker) = block_the_pool();
        f.write(&data[..CHUNK]).await.unwrap();
        f.write(&data[CHUNK..]).await.unwrap();
        assert_eq!(f.buffered_write(), 1000);
        drop(f);
        release.send(()).unwrap();
        blocker.await.unwrap();
        until_on_disk(&b, &data).await;
    });

    // Dropped after its loop ended (the pool is shut down): written at once.
    let c = dir.path("c.txt");
    let f = run(async {
        let mut f = File::create(&c).await.unwrap();
        f.write(b"after the loop").await.unwrap();
        f
    });
    drop(f);
    assert_eq!(std::fs::read(&c).unwrap(), b"after the loop");
}

#[test]
fn a_task_cancelled_at_the_end_of_run_still_writes_its_file() {
    let dir = TempDir::new("cancelled-task");
    let path = dir.path("t.txt");
    let p = path.clone();
    asyncio::run(async move {
        let mut f = File::create(&p).await.unwrap();
        f.write(b"written by a task that never finished").await.unwrap();
        drop(asyncio::create_task(async move {
            let _owned = f;
            std::future::pending::<()>().await;
        }));
        asyncio::yield_now().await;
    });
    // run() cancelled the task (dropping the File) and waited for the pool.
    assert_eq!(std::fs::read(&path).unwrap(), b"written by a task that never finished");
}

#[test]
fn a_file_may_move_between_threads() {
    fn is_send<T: Send>() {}
    is_send::<File>();
    is_send::<OpenOptions>();
}

#[test]
fn into_std_hands_back_the_position() {
    let dir = TempDir::new("into-std");
    run(async {
        let path = dir.path("s.txt");
        fs::write(&path, "alpha\nbeta\ngamma\n").await.unwrap();
        let mut f = File::open(&path).await.unwrap();
        assert_eq!(f.readline().await.unwrap(), b"alpha\n");
        let mut std_file = f.into_std().await.unwrap();
        let mut rest = String::new();
        io::Read::read_to_string(&mut std_file, &mut rest).unwrap();
        assert_eq!(rest, "beta\ngamma\n");
    });
}

#[test]
fn errors_are_the_std_errors() {
    let dir = TempDir::new("errors");
    run(async {
        let missing = dir.path("missing.txt");
        let err = File::open(&missing).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(fs::read(&missing).await.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(
            fs::metadata(&missing).await.unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            fs::remove_file(&missing).await.unwrap_err().kind(),
            io::ErrorKind::NotFound
        );

        let here = dir.path("here.txt");
        fs::write(&here, "x").await.unwrap();
        let err = File::create_new(&here).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);

        // Writing to a file opened read-only: the error comes from the
        // background write, reported by flush.
        let mut f = File::open(&here).await.unwrap();
        f.write(b"nope").await.unwrap();
        assert!(f.flush().await.is_err());
        // Reported once; the file is usable after it.
        f.flush().await.unwrap();
        assert_eq!(f.read_to_end().await.unwrap(), b"x");
    });
}

#[test]
fn futures_io_traits() {
    use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, StreamExt};

    let dir = TempDir::new("traits");
    run(async {
        let path = dir.path("t.txt");
        let mut f = create_rw(&path).await;
        let text: String = (0..5000).map(|i| format!("row {i}\n")).collect();
        AsyncWriteExt::write_all(&mut f, text.as_bytes()).await.unwrap();
        AsyncWriteExt::flush(&mut f).await.unwrap();
        assert_eq!(AsyncSeekExt::seek(&mut f, SeekFrom::Start(0)).await.unwrap(), 0);

        let mut head = [0u8; 6];
        AsyncReadExt::read_exact(&mut f, &mut head).await.unwrap();
        assert_eq!(&head, b"row 0\n");
        let mut line = String::new();
        AsyncBufReadExt::read_line(&mut f, &mut line).await.unwrap();
        assert_eq!(line, "row 1\n");
        assert_eq!(AsyncSeekExt::seek(&mut f, SeekFrom::Current(0)).await.unwrap(), 12);

        let rest: Vec<String> = AsyncBufReadExt::lines(&mut f).map(Result::unwrap).collect().await;
        assert_eq!(rest.len(), 4998);
        assert_eq!(rest[0], "row 2");

        AsyncSeekExt::seek(&mut f, SeekFrom::Start(0)).await.unwrap();
        let mut all = String::new();
        AsyncReadExt::read_to_string(&mut f, &mut all).await.unwrap();
        assert_eq!(all, text);
        AsyncWriteExt::close(&mut f).await.unwrap();

        // A lines stream dropped mid-way leaves the rest to read.
        f.seek(SeekFrom::Start(0)).await.unwrap();
        let first: Vec<String> = AsyncBufReadExt::lines(&mut f)
            .take(3)
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(first, ["row 0", "row 1", "row 2"]);
        assert_eq!(f.next_line().await.unwrap().as_deref(), Some("row 3"));
        assert!(f.__pool_hops() < 20, "{} trips", f.__pool_hops());
    });
}

#[test]
fn the_file_uses_the_loops_current_default_pool() {
    let dir = TempDir::new("pool");
    run(async {
        let path = dir.path("p.txt");
        fs::write(&path, "data\n").await.unwrap();
        let mut f = File::open(&path).await.unwrap();
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .thread_name_prefix("fs-test-pool")
            .build();
        asyncio::get_running_loop().set_default_executor(pool.clone());
        assert_eq!(f.readline().await.unwrap(), b"data\n");
        assert_eq!(pool.threads(), 1, "the read ran on the new default pool");
    });
}
