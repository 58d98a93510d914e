//! The upgrade slot: where an accepted WebSocket handshake leaves what to
//! run on the socket once the `101` is out.
//!
//! The request side owns the type: a [`Request`](crate::Request) carries the
//! connection's slot, the WebSocket handshake fills it, and the connection,
//! after hyper has written the `101` and handed the socket back, takes what
//! is in it (or empties it when the answer was not a `101`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::transport::Transport;
use crate::util::LocalFuture;

/// What a WebSocket handler does with the socket once the `101` is sent.
pub(crate) type UpgradeFn = Box<dyn FnOnce(Transport) -> LocalFuture>;

/// One connection's upgrade, if a handler accepted one, and its open
/// HTTP/2 WebSockets (RFC 8441: each on a stream of the connection, which
/// counts as busy while one is open).
#[derive(Default)]
pub(crate) struct UpgradeSlot(RefCell<Option<UpgradeFn>>, Cell<usize>);

/// Counts an HTTP/2 WebSocket as open on its connection while it lives.
pub(crate) struct Tunnel(Rc<UpgradeSlot>);

impl Tunnel {
    pub(crate) fn open(slot: Rc<UpgradeSlot>) -> Tunnel {
        slot.1.set(slot.1.get() + 1);
        Tunnel(slot)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.0 .1.set(self.0 .1.get() - 1);
    }
}

impl UpgradeSlot {
    /// HTTP/2 WebSockets open on the connection.
    pub(crate) fn tunnels(&self) -> usize {
        self.1.get()
    }

    /// Sets what runs on the socket after the `101` (replacing any earlier).
    pub(crate) fn set(&self, run: UpgradeFn) {
        *self.0.borrow_mut() = Some(run);
    }

    /// Takes what was set, leaving the slot empty.
    pub(crate) fn take(&self) -> Option<UpgradeFn> {
        self.0.borrow_mut().take()
    }
}
