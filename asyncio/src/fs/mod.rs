//! Files without blocking the loop (the `aiofiles` role): whole-file helpers
//! ([`read`], [`write()`], ...) and [`File`], each operation one trip to the
//! loop's thread pool.
//!
//! The OS has no readiness for regular files (they are always "ready", and
//! a read can still wait for the disk), so, as in `aiofiles` and
//! [`to_thread`](crate::to_thread), the blocking call runs on a pool
//! thread while the loop runs other tasks. A trip to the pool costs a few
//! microseconds, so [`File`] buffers: reads fetch 64 KiB ahead and serve
//! lines from that, writes collect 64 KiB before they go.
//!
//! ```
//! use asyncio::fs::{self, File};
//!
//! # asyncio::run(async {
//! let dir = std::env::temp_dir().join(format!("asyncio-doc-fs-{}", std::process::id()));
//! fs::create_dir_all(&dir).await?;
//! let path = dir.join("notes.txt");
//!
//! fs::write(&path, "first\nsecond\nthird\n").await?;
//! assert_eq!(fs::read_to_string(&path).await?, "first\nsecond\nthird\n");
//!
//! let mut f = File::open(&path).await?;
//! assert_eq!(f.readline().await?, b"first\n");
//! let mut rest = Vec::new();
//! while let Some(line) = f.next_line().await? {
//!     rest.push(line);
//! }
//! assert_eq!(rest, ["second", "third"]);
//!
//! fs::remove_dir_all(&dir).await?;
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```
//!
//! # Which pool
//!
//! Every operation runs on the running loop's default executor, the pool
//! [`to_thread`](crate::to_thread) uses
//! ([`EventLoop::set_default_executor`](crate::EventLoop::set_default_executor)
//! replaces it). A [`File`] runs one operation at a time, in the order they
//! were started.
//!
//! # Cancellation
//!
//! A thread cannot be interrupted, so dropping an operation's future (a
//! `timeout`, a cancelled task) does not stop a call that already started.
//! For the whole-file helpers, the call is cancelled if it had not started
//! yet; once started it completes (a [`write()`] that was cancelled may have
//! written the file). For [`File`], see its cancellation section: the file
//! stays consistent and no read data is lost.
//!
//! # Errors
//!
//! The std call's `io::Error`, as it is. A pool job that panicked (it
//! cannot, short of a bug or an allocation failure) or that a pool shutdown
//! cancelled becomes an `io::Error` of kind `Other`.

mod engine;
mod file;
mod open_options;

use std::fs::Metadata;
use std::io;
use std::path::Path;

pub use file::File;
pub use open_options::OpenOptions;

/// The helpers that are one `std::fs` call on one path, each
/// `std::fs::<name>` run on the loop's pool. Each entry's own doc comment
/// comes first; the `# Panics` section, the same for all, is added.
macro_rules! one_path_fns {
    ($($(#[$doc:meta])* fn $name:ident -> $ret:ty;)*) => {$(
        $(#[$doc])*
        ///
        /// # Panics
        /// If no event loop is running on this thread.
        pub async fn $name(path: impl AsRef<Path>) -> io::Result<$ret> {
            let path = path.as_ref().to_owned();
            blocking(move || std::fs::$name(path)).await
        }
    )*};
}

/// Runs the blocking `f` on the loop's pool, a job's failure mapped to an
/// `io::Error`.
async fn blocking<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    crate::to_thread(f).await.map_err(engine::job_error)?
}

one_path_fns! {
    /// The whole contents of the file at `path`.
    ///
    /// # Errors
    /// As [`std::fs::read`]: `NotFound`, `PermissionDenied`, ...
    ///
    /// # Cancel safety
    /// Cancel safe (the read has no effect).
    fn read -> Vec<u8>;

    /// The whole contents of the file at `path`, as text.
    ///
    /// # Errors
    /// `InvalidData` if it is not UTF-8; as [`std::fs::read_to_string`].
    ///
    /// # Cancel safety
    /// Cancel safe.
    fn read_to_string -> String;

    /// The metadata of `path`, following symbolic links (`os.stat`).
    ///
    /// # Errors
    /// As [`std::fs::metadata`].
    ///
    /// # Cancel safety
    /// Cancel safe.
    fn metadata -> Metadata;

    /// Whether `path` exists (following symbolic links); errors other than
    /// "not found" are errors, unlike `os.path.exists`.
    ///
    /// # Errors
    /// As [`std::fs::exists`]: `PermissionDenied` for a directory on the way
    /// that cannot be searched, ...
    ///
    /// # Cancel safety
    /// Cancel safe.
    fn exists -> bool;

    /// Removes the file at `path` (`os.remove`).
    ///
    /// # Errors
    /// As [`std::fs::remove_file`]: `NotFound`, `IsADirectory`, ...
    ///
    /// # Cancel safety
    /// Once started, the removal happens even if the future is dropped.
    fn remove_file -> ();

    /// Creates the directory `path` (`os.mkdir`).
    ///
    /// # Errors
    /// As [`std::fs::create_dir`]: `AlreadyExists`, `NotFound` for a missing
    /// parent, ...
    ///
    /// # Cancel safety
    /// Once started, the directory is created even if the future is dropped.
    fn create_dir -> ();

    /// Creates the directory `path` and its missing parents
    /// (`os.makedirs(path, exist_ok=True)`).
    ///
    /// # Errors
    /// As [`std::fs::create_dir_all`].
    ///
    /// # Cancel safety
    /// Once started, the directories are created even if the future is
    /// dropped.
    fn create_dir_all -> ();

    /// Removes the empty directory `path` (`os.rmdir`).
    ///
    /// # Errors
    /// As [`std::fs::remove_dir`]: `DirectoryNotEmpty`, `NotFound`, ...
    ///
    /// # Cancel safety
    /// Once started, the removal happens even if the future is dropped.
    fn remove_dir -> ();

    /// Removes the directory `path` and everything in it (`shutil.rmtree`).
    ///
    /// # Errors
    /// As [`std::fs::remove_dir_all`].
    ///
    /// # Cancel safety
    /// Once started, the removal runs to the end even if the future is
    /// dropped.
    fn remove_dir_all -> ();
}

/// Writes `contents` as the whole file at `path`, created if missing and
/// truncated if not.
///
/// # Errors
/// As [`std::fs::write`].
///
/// # Cancel safety
/// If the future is dropped once the write started, the file is still
/// written (possibly after the drop).
///
/// # Panics
/// If no event loop is running on this thread.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_vec();
    blocking(move || std::fs::write(path, contents)).await
}

/// Renames `from` to `to`, replacing `to` if it is a file (`os.replace`).
///
/// # Errors
/// As [`std::fs::rename`]: `NotFound`, `CrossesDevices`, ...
///
/// # Cancel safety
/// Once started, the rename happens even if the future is dropped.
///
/// # Panics
/// If no event loop is running on this thread.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    blocking(move || std::fs::rename(from, to)).await
}

/// Copies the file `from` to `to` with its permission bits
/// (`shutil.copy`); returns the bytes copied.
///
/// # Errors
/// As [`std::fs::copy`].
///
/// # Cancel safety
/// Once started, the copy runs to the end even if the future is dropped.
///
/// # Panics
/// If no event loop is running on this thread.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    blocking(move || std::fs::copy(from, to)).await
}
