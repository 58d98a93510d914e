//! [`start_server`]: a handler task per connection, and the [`Server`] that
//! owns the listening sockets and knows its clients.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use super::addr::{resolve, ToSocketAddrs};
use super::streams::{pair, StreamReader, StreamWriter, Transport, DEFAULT_LIMIT};
use super::tcp::{ListenOptions, TcpListener};
use super::unix::UnixListener;
use crate::task::Task;

/// How long the accept loop rests after an error such as running out of
/// file descriptors, instead of spinning on a listener that stays readable.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// What a connection handler may return: `()`, or a `Result` whose error is
/// reported (to stderr) since no one else can receive it.
pub trait HandlerOutput {
    /// Reports a failure, if this is one.
    fn report(self);
}

impl HandlerOutput for () {
    fn report(self) {}
}

impl<E: fmt::Display> HandlerOutput for Result<(), E> {
    fn report(self) {
        if let Err(e) = self {
            crate::runtime::report::warning(&format!("connection handler failed: {e}"));
        }
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    async fn accept(&self) -> io::Result<Rc<dyn Transport>> {
        Ok(match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                // asyncio sets TCP_NODELAY on every TCP transport.
                let _ = s.set_nodelay(true);
                Rc::new(s)
            }
            Listener::Unix(l, _) => Rc::new(l.accept().await?.0),
        })
    }
}

struct Inner {
    listeners: RefCell<Vec<Rc<Listener>>>,
    accept_tasks: RefCell<Vec<Task<()>>>,
    /// Each client's writer: its transport is the connection's current one
    /// (TLS once a TLS server's handshake upgraded it in place).
    clients: RefCell<HashMap<u64, StreamWriter>>,
    next_client: Cell<u64>,
    closed: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
    addrs: Vec<SocketAddr>,
}

impl Inner {
    fn wait(&self, cx: &mut std::task::Context<'_>) {
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
    }

    fn wake(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// A running server (asyncio's `Server`): returned by [`start_server`],
/// serving from the start. Loop-bound; clones share it. Dropping the handle
/// does not stop the server: [`close`](Server::close) does.
#[derive(Clone)]
pub struct Server {
    inner: Rc<Inner>,
}

/// Starts serving `addr`: each connection runs `handler(reader, writer)` as
/// a task of its own (`asyncio.start_server(client_connected_cb, host, port)`).
/// Every address the host resolves to is bound.
///
/// A handler that panics or returns an `Err` is reported on stderr; the
/// server goes on. When accepting fails because the process is out of file
/// descriptors, the server pauses accepting for 100 ms at a time instead of
/// spinning, and serves again once descriptors are free.
///
/// # Errors
/// A bind or resolver error.
///
/// # Panics
/// With no running event loop.
///
/// # Cancel safety
/// Cancel safe: nothing is served until it returns.
pub async fn start_server<H, Fut>(handler: H, addr: impl ToSocketAddrs) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    bind_tcp(addr, handler).await
}

/// Binds every address `addr` resolves to and serves them with `handler`.
pub(crate) async fn bind_tcp<H, Fut>(addr: impl ToSocketAddrs, handler: H) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    let options = ListenOptions::default();
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for a in resolve(&addr).await? {
        let l = TcpListener::bind_addr(a, &options)?;
        addrs.push(l.local_addr()?);
        listeners.push(Listener::Tcp(l));
    }
    Ok(Server::start(listeners, addrs, handler))
}

/// As [`start_server`], on a Unix socket at `path`
/// (`asyncio.start_unix_server`). The socket file is removed when the
/// server closes.
///
/// # Errors
/// The bind error (`AddrInUse` if the path exists).
///
/// # Cancel safety
/// Cancel safe.
pub async fn start_unix_server<H, Fut>(handler: H, path: impl AsRef<Path>) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    bind_unix(path, handler)
}

/// Binds a Unix socket at `path` and serves it with `handler`.
pub(crate) fn bind_unix<H, Fut>(path: impl AsRef<Path>, handler: H) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    let path = path.as_ref().to_owned();
    let l = UnixListener::bind(&path)?;
    Ok(Server::start(vec![Listener::Unix(l, path)], Vec::new(), handler))
}

impl Server {
    fn start<H, Fut>(listeners: Vec<Listener>, addrs: Vec<SocketAddr>, handler: H) -> Server
    where
        H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
        Fut: Future + 'static,
        Fut::Output: HandlerOutput,
    {
        let server = Server {
            inner: Rc::new(Inner {
                listeners: RefCell::new(listeners.into_iter().map(Rc::new).collect()),
                accept_tasks: RefCell::new(Vec::new()),
                clients: RefCell::new(HashMap::new()),
                next_client: Cell::new(0),
                closed: Cell::new(false),
                waiters: RefCell::new(Vec::new()),
                addrs,
            }),
        };
        let handler = Rc::new(handler);
        let tasks = server
            .inner
            .listeners
            .borrow()
            .iter()
            .map(|l| crate::create_task(accept_loop(l.clone(), server.inner.clone(), handler.clone())))
            .collect();
        *server.inner.accept_tasks.borrow_mut() = tasks;
        server
    }

    /// The addresses it listens on (TCP; empty for a Unix server).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.inner.addrs
    }

    /// True until [`close`](Self::close).
    pub fn is_serving(&self) -> bool {
        !self.inner.closed.get()
    }

    /// Stops accepting and closes the listening sockets. Connections already
    /// made go on; [`close_clients`](Self::close_clients) ends them.
    pub fn close(&self) {
        if self.inner.closed.replace(true) {
            return;
        }
        let tasks: Vec<_> = self.inner.accept_tasks.borrow_mut().drain(..).collect();
        for t in tasks {
            // Dropped now, with its hold on the listener: the port is free
            // when close returns, as in asyncio.
            t.cancel_now();
        }
        for l in self.inner.listeners.borrow_mut().drain(..) {
            if let Listener::Unix(_, path) = &*l {
                let _ = std::fs::remove_file(path);
            }
        }
        self.inner.wake();
    }

    /// Shuts every client connection down (their handlers read end of
    /// stream and their writes fail).
    pub fn close_clients(&self) {
        let clients: Vec<_> = self
            .inner
            .clients
            .borrow()
            .values()
            .map(StreamWriter::transport)
            .collect();
        for c in clients {
            c.close_now();
        }
    }

    /// As [`close_clients`](Self::close_clients), with a reset (RST) on TCP.
    pub fn abort_clients(&self) {
        let clients: Vec<_> = self
            .inner
            .clients
            .borrow()
            .values()
            .map(StreamWriter::transport)
            .collect();
        for c in clients {
            c.set_abortive();
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Live client connections (their handlers still running).
    pub fn clients(&self) -> usize {
        self.inner.clients.borrow().len()
    }

    /// Waits until the server is closed and every handler has finished.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_closed(&self) {
        std::future::poll_fn(|cx| {
            if self.inner.closed.get() && self.inner.clients.borrow().is_empty() {
                return Poll::Ready(());
            }
            self.inner.wait(cx);
            Poll::Pending
        })
        .await
    }

    /// Serves until the server is closed; if the awaiting task is
    /// cancelled, the server closes (`serve_forever`).
    ///
    /// # Cancel safety
    /// Cancelling it closes the server.
    pub async fn serve_forever(&self) {
        struct CloseOnDrop<'a>(&'a Server);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let _guard = CloseOnDrop(self);
        std::future::poll_fn(|cx| {
            if self.inner.closed.get() {
                return Poll::Ready(());
            }
            self.inner.wait(cx);
            Poll::Pending
        })
        .await
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.inner.addrs)
            .field("serving", &self.is_serving())
            .field("clients", &self.clients())
            .finish()
    }
}

/// Errors after which accepting again at once would fail the same way.
fn needs_rest(e: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

async fn accept_loop<H, Fut>(listener: Rc<Listener>, inner: Rc<Inner>, handler: Rc<H>)
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    // Reported once per streak of failures, not every retry.
    let mut resting = false;
    loop {
        let conn = match listener.accept().await {
            Ok(c) => {
                if std::mem::take(&mut resting) {
                    crate::runtime::report::warning("server: accepting connections again");
                }
                c
            }
            Err(e) if needs_rest(&e) => {
                if !std::mem::replace(&mut resting, true) {
                    crate::runtime::report::warning(&format!(
                        "server: accept failed ({e}); retrying every {ACCEPT_RETRY_DELAY:?} until it succeeds"
                    ));
                }
                crate::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
            // The client gave up before we accepted: nothing to serve.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) =>
            {
                continue
            }
            Err(e) => {
                crate::runtime::report::warning(&format!("server: accept failed: {e}"));
                crate::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        let id = inner.next_client.get();
        inner.next_client.set(id + 1);
        let (reader, writer) = pair(conn, DEFAULT_LIMIT);
        inner.clients.borrow_mut().insert(id, writer.clone());
        drop(crate::create_task(Client {
            handling: Box::pin(handler(reader, writer)),
            server: inner.clone(),
            id,
        }));
    }
}

/// One connection's task: the handler's future, its panic caught and its
/// failure reported here, and the client forgotten by the server when it
/// ends (or is dropped, at loop close).
struct Client<F> {
    handling: std::pin::Pin<Box<F>>,
    server: Rc<Inner>,
    id: u64,
}

impl<F: Future> Future for Client<F>
where
    F::Output: HandlerOutput,
{
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handling.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => out.report(),
            Err(payload) => crate::runtime::report::warning(&format!(
                "connection handler panicked: {}",
                crate::runtime::report::panic_message(&*payload)
            )),
        }
        Poll::Ready(())
    }
}

impl<F> Drop for Client<F> {
    fn drop(&mut self) {
        self.server.clients.borrow_mut().remove(&self.id);
        self.server.wake();
    }
}
