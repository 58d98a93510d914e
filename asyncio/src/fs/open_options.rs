//! [`OpenOptions`]: how to open a [`File`], std's builder with an async
//! `open`.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{blocking, File};

/// Options for opening a [`File`]: [`std::fs::OpenOptions`]'s builder, with
/// an async [`open`](OpenOptions::open) that runs on the loop's thread pool.
///
/// ```
/// use asyncio::fs::OpenOptions;
///
/// # asyncio::run(async {
/// # let path = std::env::temp_dir().join(format!("asyncio-doc-openoptions-{}", std::process::id()));
/// let mut log = OpenOptions::new().append(true).create(true).open(&path).await?;
/// log.write(b"started\n").await?;
/// log.flush().await?;
/// # asyncio::fs::remove_file(&path).await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(fs::OpenOptions);

impl OpenOptions {
    /// All options off: set at least one of `read`, `write` or `append`.
    pub fn new() -> Self {
        OpenOptions(fs::OpenOptions::new())
    }

    forward_setters! {
        0;

        /// Open for reading.
        fn read(read: bool);

        /// Open for writing.
        fn write(write: bool);

        /// Every write goes to the end of the file (implies `write`).
        fn append(append: bool);

        /// Truncate the file to 0 bytes when opening it (needs `write`).
        fn truncate(truncate: bool);

        /// Create the file if it does not exist (needs `write` or `append`).
        fn create(create: bool);

        /// Create the file, failing if it exists (atomically); `create` and
        /// `truncate` are then ignored.
        fn create_new(create_new: bool);

        /// The permission bits a created file gets (before the umask); default
        /// `0o666`.
        fn mode(mode: u32);

        /// Extra `open(2)` flags (`O_NOFOLLOW`, `O_DIRECT`, ...).
        fn custom_flags(flags: i32);
    }

    /// Opens `path` with these options, on the loop's thread pool.
    ///
    /// # Errors
    /// As [`std::fs::OpenOptions::open`]: `NotFound`, `PermissionDenied`,
    /// `AlreadyExists` (with `create_new`), `InvalidInput` for a
    /// contradictory set of options, ...
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped after the pool opened the file,
    /// the file is closed again (a file `create` made stays created).
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let options = self.0.clone();
        let path = path.as_ref().to_owned();
        blocking(move || options.open(path)).await.map(File::from_std)
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl From<fs::OpenOptions> for OpenOptions {
    fn from(options: fs::OpenOptions) -> Self {
        OpenOptions(options)
    }
}
