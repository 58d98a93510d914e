//! Subprocesses: [`create_subprocess_exec`], [`create_subprocess_shell`],
//! [`Command`] and [`Process`] (asyncio's `asyncio.subprocess`).
//!
//! A child's pipes are asyncio streams: `stdin` a [`StreamWriter`],
//! `stdout` and `stderr` [`StreamReader`]s, all on the loop's reactor.
//! Waiting for the child never blocks the loop: on Linux a pidfd (a
//! descriptor that becomes readable when the process exits) is registered
//! with the reactor; elsewhere the loop checks at growing intervals. Either
//! way the loop reaps only its own child, with `waitpid` on that child's
//! id, so it never races other code that waits for its own children (unlike
//! a `SIGCHLD` handler reaping any child).
//!
//! ```
//! use asyncio::subprocess::{create_subprocess_shell, Stdio};
//! asyncio::run(async {
//!     let mut proc = create_subprocess_shell("echo hello; echo oops >&2; exit 3")
//!         .stdout(Stdio::piped())
//!         .stderr(Stdio::piped())
//!         .spawn()
//!         .unwrap();
//!     let out = proc.communicate(None).await.unwrap();
//!     assert_eq!(out.stdout, b"hello\n");
//!     assert_eq!(out.stderr, b"oops\n");
//!     assert_eq!(proc.returncode(), Some(3));
//! });
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus, Output};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use std::process::Stdio;

use crate::io::AsyncFd;
use crate::net::streams::{pair, Transport};
use crate::net::{StreamReader, StreamWriter, DEFAULT_LIMIT};

/// A command to start `program` with `args`
/// (`asyncio.create_subprocess_exec(program, *args)`); set its pipes, then
/// [`spawn`](Command::spawn). Standard streams are inherited unless set.
pub fn create_subprocess_exec<I, S>(program: impl AsRef<OsStr>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

/// A command that runs `cmd` with `/bin/sh -c`
/// (`asyncio.create_subprocess_shell(cmd)`). Quote what you interpolate.
pub fn create_subprocess_shell(cmd: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(cmd);
    c
}

/// A subprocess to start: `std::process::Command`'s builder, whose `spawn`
/// gives a [`Process`] with async pipes.
pub struct Command {
    inner: std::process::Command,
    kill_on_drop: bool,
}

impl Command {
    /// A command for `program`.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            inner: std::process::Command::new(program),
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    forward_setters! {
        inner;

        /// Sets an environment variable.
        fn env(key: impl AsRef<OsStr>, value: impl AsRef<OsStr>);

        /// Removes an environment variable.
        fn env_remove(key: impl AsRef<OsStr>);

        /// Starts from an empty environment.
        fn env_clear();

        /// The child's working directory.
        fn current_dir(dir: impl AsRef<Path>);

        /// The child's standard input (`Stdio::piped()` for `Process::stdin`).
        fn stdin(cfg: impl Into<Stdio>);

        /// The child's standard output (`Stdio::piped()` for `Process::stdout`).
        fn stdout(cfg: impl Into<Stdio>);

        /// The child's standard error (`Stdio::piped()` for `Process::stderr`).
        fn stderr(cfg: impl Into<Stdio>);
    }

    /// Kill the child (SIGKILL) if the [`Process`] is dropped while it runs
    /// (default: it runs on, and is still reaped when it exits).
    pub fn kill_on_drop(&mut self, on: bool) -> &mut Self {
        self.kill_on_drop = on;
        self
    }

    /// Starts the child.
    ///
    /// # Errors
    /// The spawn error (`NotFound` for a missing program, ...).
    ///
    /// # Panics
    /// With no running event loop.
    pub fn spawn(&mut self) -> io::Result<Process> {
        let mut child = self.inner.spawn()?;
        let stdin = child.stdin.take().map(|p| pipe(OwnedFd::from(p))).transpose()?;
        let stdout = child.stdout.take().map(|p| pipe(OwnedFd::from(p))).transpose()?;
        let stderr = child.stderr.take().map(|p| pipe(OwnedFd::from(p))).transpose()?;
        let exit = ExitWatch::new(&child);
        Ok(Process {
            stdin: stdin.map(|p| pair(p, DEFAULT_LIMIT).1),
            stdout: stdout.map(|p| pair(p, DEFAULT_LIMIT).0),
            stderr: stderr.map(|p| pair(p, DEFAULT_LIMIT).0),
            child: Some(child),
            exit,
            status: None,
            kill_on_drop: self.kill_on_drop,
        })
    }

    /// Runs the child to the end with its output captured (standard input
    /// from `/dev/null` unless set).
    ///
    /// # Errors
    /// The spawn or pipe error.
    ///
    /// # Cancel safety
    /// Dropping it mid-way kills the child.
    pub async fn output(&mut self) -> io::Result<Output> {
        self.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut p = self.spawn()?;
        p.communicate(None).await
    }

    /// Runs the child to the end and gives its exit status.
    ///
    /// # Errors
    /// The spawn error.
    ///
    /// # Cancel safety
    /// Dropping it mid-way kills the child.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.kill_on_drop(true);
        self.spawn()?.wait().await
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A pipe end on the reactor, closed by `shutdown`.
struct Pipe {
    fd: std::cell::RefCell<Option<AsyncFd<File>>>,
}

fn pipe(fd: OwnedFd) -> io::Result<Rc<dyn Transport>> {
    rustix::io::ioctl_fionbio(fd.as_fd(), true)?;
    Ok(Rc::new(Pipe {
        fd: std::cell::RefCell::new(Some(AsyncFd::new(File::from(fd))?)),
    }))
}

impl Transport for Pipe {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match &*self.fd.borrow() {
            Some(fd) => {
                let want = buf.len();
                let r = fd.poll_read_with(cx, |mut f| f.read(buf));
                // A short read emptied the pipe: no `EAGAIN` read to learn it.
                if matches!(r, Poll::Ready(Ok(n)) if n > 0 && n < want) {
                    fd.clear_read_ready();
                }
                r
            }
            None => Poll::Ready(Ok(0)),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &*self.fd.borrow() {
            Some(fd) => fd.poll_write_with(cx, |mut f| f.write(buf)),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match &*self.fd.borrow() {
            Some(fd) => match fd.get_ref().write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    fd.clear_write_ready();
                    Err(e)
                }
                r => r,
            },
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn shutdown(&self, _how: Shutdown) -> io::Result<()> {
        // A pipe has one direction: shutting it is closing it.
        let fd = self.fd.borrow_mut().take();
        drop(fd);
        Ok(())
    }

    fn set_abortive(&self) {}

    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// How the loop learns that the child exited.
enum ExitWatch {
    /// A pidfd on the reactor (Linux 5.3+).
    Pidfd(AsyncFd<OwnedFd>),
    /// Checks at growing intervals, from 1 ms up to 50 ms.
    Poll,
}

impl ExitWatch {
    fn new(child: &Child) -> ExitWatch {
        #[cfg(target_os = "linux")]
        {
            let pid = rustix::process::Pid::from_child(child);
            if let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
                if let Ok(fd) = AsyncFd::with_interest(fd, true, false) {
                    return ExitWatch::Pidfd(fd);
                }
            }
        }
        let _ = child;
        ExitWatch::Poll
    }
}

/// A running (or finished) child process (asyncio's `Process`).
/// Loop-bound.
///
/// Dropping it does not kill the child (unless
/// [`Command::kill_on_drop`] was set); the loop still reaps it when it
/// exits, so no zombie is left.
pub struct Process {
    /// The child's standard input, if piped.
    pub stdin: Option<StreamWriter>,
    /// The child's standard output, if piped.
    pub stdout: Option<StreamReader>,
    /// The child's standard error, if piped.
    pub stderr: Option<StreamReader>,
    child: Option<Child>,
    exit: ExitWatch,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

impl Process {
    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child present until drop")
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child present until drop").id()
    }

    /// The exit code once the child was reaped (by [`wait`](Self::wait) or
    /// [`try_wait`](Self::try_wait)); minus the signal number if a signal
    /// ended it, as asyncio's `returncode`.
    pub fn returncode(&self) -> Option<i32> {
        self.status
            .map(|s| s.code().unwrap_or_else(|| -s.signal().unwrap_or(0)))
    }

    /// Reaps the child if it has exited, without waiting.
    ///
    /// # Errors
    /// The OS error from `waitpid`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let s = self.child().try_wait()?;
        self.status = s;
        Ok(s)
    }

    /// Waits for the child to exit and reaps it.
    ///
    /// If the child writes to a piped stdout or stderr that nobody reads, it
    /// can block for ever on a full pipe; read them (or use
    /// [`communicate`](Self::communicate)).
    ///
    /// # Errors
    /// The OS error from `waitpid`.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        let mut backoff = Duration::from_millis(1);
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(s);
            }
            match &self.exit {
                ExitWatch::Pidfd(fd) => fd.readable().await?,
                ExitWatch::Poll => {
                    crate::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// Sends `input` to the child's stdin (then closes it), reads stdout and
    /// stderr to their ends, and waits for the exit, all at once so no pipe
    /// fills up (`communicate(input)`). Pipes that were not set up are
    /// skipped (their output is empty).
    ///
    /// # Errors
    /// A pipe or wait error. A child that exits without reading its input
    /// is not an error (a broken stdin pipe is ignored, as asyncio does).
    ///
    /// # Cancel safety
    /// Not cancel safe: output read so far is lost.
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<Output> {
        let stdin = self.stdin.take();
        let stdout = self.stdout.take();
        let stderr = self.stderr.take();
        let feed = async move {
            if let Some(w) = stdin {
                if let Some(data) = input {
                    w.write(data);
                }
                w.close();
                match w.wait_closed().await {
                    Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        };
        let drain = |r: Option<StreamReader>| async move {
            match r {
                Some(mut r) => r.read_to_end().await,
                None => Ok(Vec::new()),
            }
        };
        let (fed, out, err) = crate::gather!(feed, drain(stdout), drain(stderr)).await;
        fed?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: out?,
            stderr: err?,
        })
    }

    /// Sends `signal` (a signal number, e.g. 15) to the child, unless it was
    /// already reaped (its id may belong to another process by then).
    ///
    /// # Errors
    /// `InvalidInput` for an unknown signal number; the OS error.
    pub fn send_signal(&mut self, signal: i32) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let sig = rustix::process::Signal::from_named_raw(signal)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("unknown signal {signal}")))?;
        let pid = rustix::process::Pid::from_child(self.child());
        rustix::process::kill_process(pid, sig).map_err(io::Error::from)
    }

    /// SIGTERM (`terminate()`).
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.send_signal(15)
    }

    /// SIGKILL (`kill()`).
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal).
    pub fn kill(&mut self) -> io::Result<()> {
        self.send_signal(9)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.is_none() || matches!(self.try_wait(), Ok(Some(_))) {
            return;
        }
        if self.kill_on_drop {
            let _ = self.kill();
        }
        let Some(child) = self.child.take() else {
            return;
        };
        let exit = std::mem::replace(&mut self.exit, ExitWatch::Poll);
        let reaper = Reaper {
            process: Some(Process {
                stdin: None,
                stdout: None,
                stderr: None,
                child: Some(child),
                exit,
                status: None,
                kill_on_drop: false,
            }),
        };
        let open_loop = crate::runtime::context::with_core(|c| c.is_some_and(|c| !c.is_closed()));
        if open_loop {
            drop(crate::create_task(reaper.run()));
        }
        // Without an open loop, dropping the reaper hands the child to a
        // thread.
    }
}

/// Reaps a child whose `Process` was dropped; if the loop goes away first,
/// a thread takes over the wait, so no zombie is left behind.
struct Reaper {
    process: Option<Process>,
}

impl Reaper {
    async fn run(mut self) {
        if let Some(p) = &mut self.process {
            let _ = p.wait().await;
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            if matches!(p.try_wait(), Ok(None)) {
                if let Some(mut child) = p.child.take() {
                    let _ = std::thread::Builder::new()
                        .name("asyncio-reaper".into())
                        .spawn(move || child.wait());
                }
            }
            // `p` is reaped or its child moved out: its own drop does nothing.
        }
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("returncode", &self.returncode())
            .finish()
    }
}
