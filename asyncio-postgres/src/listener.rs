//! LISTEN/NOTIFY: [`Connection::add_listener`] returns a [`Listener`], a
//! stream of the channel's notifications.
//!
//! The connection's driver task reads the socket with tokio-postgres's
//! `poll_message`, which yields the notifications the plain `Future` would
//! drop; it puts each into an asyncio [`Queue`] per listener of its channel.
//! Dropping the last listener of a channel queues `UNLISTEN` on the
//! connection's clean-up task. When the session ends, every listener's
//! queue is shut down, so [`Listener::recv`] returns `None` once drained.
//!
//! The server's notices (`RAISE NOTICE`, a `WARNING`, …) go the same way to
//! each [`LogListener`] of the connection ([`Connection::add_log_listener`]);
//! with none, they are dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;

use asyncio::sync::Queue;
pub use tokio_postgres::Notification;

use crate::connection::{Cleanup, Shared};
use crate::copy::quote_identifier;
use crate::{Connection, Error, ServerError};

/// The listeners of one connection, by channel; shared by the connection
/// and its driver task.
#[derive(Default)]
pub(crate) struct Listeners {
    channels: RefCell<HashMap<String, Vec<Rc<Queue<Notification>>>>>,
    notices: RefCell<Vec<Rc<Queue<ServerError>>>>,
    /// The session ended: a listener added now gets a stream that ends.
    ended: std::cell::Cell<bool>,
}

impl Listeners {
    /// Hands a notification to every listener of its channel.
    pub(crate) fn dispatch(&self, notification: Notification) {
        if let Some(queues) = self.channels.borrow().get(notification.channel()) {
            for queue in queues {
                // Unbounded queues: only a shut-down queue refuses, and a
                // shut-down listener wants nothing more.
                let _ = queue.put_nowait(notification.clone());
            }
        }
    }

    /// Hands a notice to every log listener.
    pub(crate) fn notice(&self, notice: tokio_postgres::error::DbError) {
        let queues = self.notices.borrow();
        if queues.is_empty() {
            return;
        }
        let notice = ServerError::new(notice);
        for queue in queues.iter() {
            let _ = queue.put_nowait(notice.clone());
        }
    }

    /// The session ended: every listener's stream ends after what it holds.
    pub(crate) fn shut_down(&self) {
        self.ended.set(true);
        for queue in self.channels.borrow().values().flatten() {
            queue.shutdown(false);
        }
        for queue in self.notices.borrow().iter() {
            queue.shutdown(false);
        }
    }
}

/// The server's notices on one connection, from
/// [`Connection::add_log_listener`] (asyncpg's log listener, as a stream).
/// Each is a [`ServerError`] record with its severity (`NOTICE`,
/// `WARNING`, `INFO`, `LOG`, `DEBUG`), message, detail and hint.
pub struct LogListener<'a> {
    queue: Rc<Queue<ServerError>>,
    shared: Rc<Shared>,
    _connection: PhantomData<&'a Connection>,
}

impl LogListener<'_> {
    /// The next notice, waiting for one; `None` once the connection has
    /// closed and every notice received before was taken.
    ///
    /// # Cancel safety
    /// Cancel safe: a notice is only taken when the future completes.
    pub async fn recv(&self) -> Option<ServerError> {
        self.queue.get().await.ok()
    }

    /// A notice already received, without waiting.
    pub fn try_recv(&self) -> Option<ServerError> {
        self.queue.get_nowait().ok()
    }
}

impl Drop for LogListener<'_> {
    fn drop(&mut self) {
        self.shared
            .listeners
            .notices
            .borrow_mut()
            .retain(|q| !Rc::ptr_eq(q, &self.queue));
    }
}

impl std::fmt::Debug for LogListener<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogListener").finish_non_exhaustive()
    }
}

/// The notifications of one channel, from [`Connection::add_listener`].
/// Dropping it stops listening (`UNLISTEN`, once no other listener of the
/// connection wants the channel). It borrows the connection, so it cannot
/// outlive it (nor a pooled connection's release, which resets the
/// session with `UNLISTEN *`).
pub struct Listener<'a> {
    channel: String,
    queue: Rc<Queue<Notification>>,
    shared: Rc<Shared>,
    _connection: PhantomData<&'a Connection>,
}

impl Connection {
    /// Starts listening on `channel` (`LISTEN "channel"`) and returns the
    /// stream of its notifications (asyncpg's `add_listener`, with a
    /// stream instead of a callback).
    ///
    /// # Errors
    /// As [`fetch`](Connection::fetch).
    ///
    /// # Cancel safety
    /// Dropping the future before the server answers queues an `UNLISTEN`
    /// for the channel (unless another listener of the connection wants
    /// it): the session is left as it was.
    pub async fn add_listener(&self, channel: &str) -> Result<Listener<'_>, Error> {
        self.shared_idle().await;
        if self.is_closed() {
            return Err(self.closed());
        }
        let queue = Rc::new(Queue::new(0));
        if self.shared.listeners.ended.get() {
            // The session ended after the check: the stream is over.
            queue.shutdown(false);
        }
        let listeners = self.shared.listeners.clone();
        let first = {
            let mut channels = listeners.channels.borrow_mut();
            let entry = channels.entry(channel.to_owned()).or_default();
            entry.push(queue.clone());
            entry.len() == 1
        };
        let listener = Listener {
            channel: channel.to_owned(),
            queue,
            shared: self.shared.clone(),
            _connection: PhantomData,
        };
        if first {
            // Dropped on error: the entry goes, and an `UNLISTEN` is queued.
            self.run(
                self.client
                    .batch_execute(&format!("LISTEN {}", quote_identifier(channel))),
            )
            .await?;
        }
        Ok(listener)
    }
}

impl Connection {
    /// Receives the server's notices from now on (`RAISE NOTICE`, a
    /// `WARNING`, …): asyncpg's `add_log_listener`, as a stream. Without
    /// a log listener, notices are dropped.
    pub fn add_log_listener(&self) -> LogListener<'_> {
        let queue = Rc::new(Queue::new(0));
        if self.shared.listeners.ended.get() {
            queue.shutdown(false);
        }
        self.shared.listeners.notices.borrow_mut().push(queue.clone());
        LogListener {
            queue,
            shared: self.shared.clone(),
            _connection: PhantomData,
        }
    }
}

impl Listener<'_> {
    /// The next notification, waiting for one; `None` once the connection
    /// has closed and every notification received before was taken.
    ///
    /// # Cancel safety
    /// Cancel safe: a notification is only taken when the future completes.
    pub async fn recv(&self) -> Option<Notification> {
        self.queue.get().await.ok()
    }

    /// The channel listened to.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        let listeners = &self.shared.listeners;
        let last = {
            let mut channels = listeners.channels.borrow_mut();
            let Some(queues) = channels.get_mut(&self.channel) else {
                return;
            };
            queues.retain(|q| !Rc::ptr_eq(q, &self.queue));
            let last = queues.is_empty();
            if last {
                channels.remove(&self.channel);
            }
            last
        };
        if last {
            self.shared.queue(Cleanup::Sql(
                format!("UNLISTEN {}", quote_identifier(&self.channel)),
                None,
            ));
        }
    }
}

impl std::fmt::Debug for Listener<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}
