//! [`WaitSet`]: the waiters on one side of a cross-thread channel (tasks on
//! any loop, or plain threads), and the notifications that wake them.
//!
//! # Design
//!
//! The loop-bound primitives wait in a [`WaitQueue`] behind a `RefCell`. A
//! channel between threads needs the same thing shared, and a first version
//! (`async-channel`'s `event-listener`: a mutex-guarded list, a lock and an
//! allocation per wait) spent 60% of a cross-thread stream's time in that
//! list. So the common cases here cost no lock:
//!
//! - **Nobody waits** (the stream is flowing): a notification is two loads
//!   of lines nobody writes meanwhile, after a `SeqCst` fence (on x86-64 the
//!   queue operation's own locked instruction serves: see
//!   [`WaitSet::notify_one_after_rmw`]).
//! - **One waiter** (a single consumer, or a single producer on a full
//!   channel): it claims the *slot*, an [`AtomicWaker`] with an owner state
//!   (`FREE` → `OWNED` → `NOTIFIED` → `FREE`); registering and notifying are
//!   a compare-and-swap each, and the owner learns that it was notified from
//!   the state, without a lock.
//! - **More waiters**: those who find the slot taken (or anyone already
//!   queued) queue in a mutex-guarded [`WaitQueue`] behind it, FIFO. The slot
//!   is only claimed while that queue is empty, so its owner is the oldest
//!   waiter and is notified first — nearly always: two registrations racing
//!   may both see the queue empty, and a woken waiter that finds its item
//!   already taken queues again at the back.
//!
//! **No lost wake-up.** The party that makes the condition true (pushes an
//! item, frees room, closes) does so, then `fence(SeqCst)`, then reads the
//! slot state and the queue length. A waiter registers (slot claim or queue
//! entry), then `fence(SeqCst)`, then checks the condition once more before
//! sleeping ([`WaitStep::Registered`]). By the fences, either that re-check
//! sees the change or the notifier sees the registration.
//!
//! **No notification lost to a waiter who leaves.** Each notification goes
//! to one waiter. A waiter who had been notified and gives up passes one on
//! ([`WaitSet::leave`]); so does one that succeeded while the condition
//! still holds ([`WaitSet::done`]), since it may have taken a different
//! item than the one it was notified for (one that arrived before it
//! registered, notifying nobody) and left that one behind.
//!
//! **A swallowed wake.** `AtomicWaker::wake` does nothing while another
//! wake (or take) of the same waker slot is in progress, trusting that one
//! to wake whatever is registered. But a stale wake (for a notification of
//! the slot's previous owner, delayed) took the slot's earlier contents, so
//! the new owner, registering just after, is woken by no one while the
//! state says NOTIFIED, and every later notification skips it as already
//! notified. So the owner looks at the state after every registration: the
//! swallowed notification set NOTIFIED before its `wake`, and the waker
//! slot's release sequence carries that to the registration, so the owner
//! sees it and goes on instead of sleeping. (Found by a stress test of
//! plain threads on a channel of capacity 3: a receiver asleep for good,
//! the slot NOTIFIED, its waker still in it.)
//!
//! **Wakes outside the lock.** Queued waiters are granted under the mutex
//! and woken after it is released: a waker may drop its own future (some
//! executors drop a task's future from its schedule function), and the
//! future's `Drop` leaves the queue, taking the lock.
//!
//! **A forgotten waiter** (`mem::forget` of a registered future) keeps its
//! place: one notification goes to it and is lost, and a forgotten slot
//! owner leaves the slot unusable (later waiters all queue). A leak, as it
//! is for `event-listener`'s listeners.
//!
//! The protocol is checked by the loom models in `loom_wait_set.rs`, with
//! a waker slot that swallows wakes as `atomic-waker`'s does.

use std::task::{Context, Poll, Waker};

use super::sync::{fence, AtomicU8, AtomicUsize, AtomicWaker, Mutex, Ordering};
use super::wait_queue::{WaitKey, WaitQueue};

const FREE: u8 = 0;
const OWNED: u8 = 1;
const NOTIFIED: u8 = 2;

/// Where a waiter is registered; kept by the waiting future or thread and
/// given back to every [`WaitSet`] call. Starts [`Place::None`].
#[derive(Debug, Default)]
pub(crate) enum Place {
    /// Not registered.
    #[default]
    None,
    /// Owns the slot.
    Slot,
    /// Queued behind the slot.
    Queue(WaitKey),
}

/// What a waiter does after [`WaitSet::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitStep {
    /// Newly registered: try the operation once more, and sleep if it still
    /// cannot proceed (a notification will come).
    Registered,
    /// Notified (and no longer registered): try the operation again.
    Notified,
    /// Still registered and not notified (the waker is refreshed): sleep.
    Waiting,
}

/// What one try of a waiter's operation came to (see [`WaitSet::poll_with`]).
pub(crate) enum Attempt<R> {
    /// It succeeded.
    Done(R),
    /// It is over without succeeding (the channel closed).
    Over(R),
    /// It cannot proceed yet.
    Again,
}

/// The waiters of one side; see the module notes.
pub(crate) struct WaitSet {
    state: AtomicU8,
    slot: AtomicWaker,
    /// `queue.len()`, readable without the lock.
    queued: AtomicUsize,
    queue: Mutex<WaitQueue>,
}

impl Default for WaitSet {
    fn default() -> Self {
        WaitSet {
            state: AtomicU8::new(FREE),
            slot: AtomicWaker::new(),
            queued: AtomicUsize::new(0),
            queue: Mutex::new(WaitQueue::default()),
        }
    }
}

impl WaitSet {
    fn lock(&self) -> super::sync::MutexGuard<'_, WaitQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the waiter at `place` with `waker`, or, if it is
    /// registered, tells whether it was notified. See [`WaitStep`].
    pub(crate) fn wait(&self, place: &mut Place, waker: &Waker) -> WaitStep {
        match place {
            Place::None => {
                let claimed = self.queued.load(Ordering::Relaxed) == 0
                    && self
                        .state
                        .compare_exchange(FREE, OWNED, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok();
                if claimed {
                    self.slot.register(waker);
                    *place = Place::Slot;
                } else {
                    let mut q = self.lock();
                    *place = Place::Queue(q.push(0, waker));
                    self.queued.store(q.len(), Ordering::Relaxed);
                }
                fence(Ordering::SeqCst);
                if claimed && self.state.load(Ordering::Acquire) != OWNED {
                    // Notified already, the wake perhaps swallowed (see
                    // the module notes).
                    self.release_notified_slot(place);
                    return WaitStep::Notified;
                }
                WaitStep::Registered
            }
            Place::Slot => {
                if self.state.load(Ordering::Acquire) == OWNED {
                    self.slot.register(waker);
                    if self.state.load(Ordering::Acquire) == OWNED {
                        return WaitStep::Waiting;
                    }
                }
                self.release_notified_slot(place);
                WaitStep::Notified
            }
            Place::Queue(key) => {
                let key = *key;
                let mut q = self.lock();
                match q.poll(key, &mut Context::from_waker(waker)) {
                    Poll::Ready(()) => {
                        drop(q);
                        *place = Place::None;
                        WaitStep::Notified
                    }
                    Poll::Pending => WaitStep::Waiting,
                }
            }
        }
    }

    /// Drives one waiter: tries `attempt`, and while it cannot proceed,
    /// registers (trying once more after registering, as the handshake
    /// wants) or learns it was notified and tries again. `Pending` means
    /// registered with `waker` and not notified. When the operation is done
    /// or over, the waiter leaves as [`done`](Self::done) (with `more`) or
    /// [`leave`](Self::leave) say. The futures and the blocking calls of the
    /// channel, and the loom models, all go through here.
    pub(crate) fn poll_with<R>(
        &self,
        place: &mut Place,
        waker: &Waker,
        more: impl FnOnce() -> bool,
        mut attempt: impl FnMut() -> Attempt<R>,
    ) -> Poll<R> {
        let mut registered = false;
        loop {
            match attempt() {
                Attempt::Done(r) => {
                    self.done(place, more);
                    return Poll::Ready(r);
                }
                Attempt::Over(r) => {
                    self.leave(place);
                    return Poll::Ready(r);
                }
                Attempt::Again => {}
            }
            if registered {
                return Poll::Pending;
            }
            match self.wait(place, waker) {
                WaitStep::Registered => registered = true,
                WaitStep::Notified => {}
                WaitStep::Waiting => return Poll::Pending,
            }
        }
    }

    /// The owner of the slot, notified, gives it up.
    fn release_notified_slot(&self, place: &mut Place) {
        self.slot.take();
        self.state.store(FREE, Ordering::Release);
        *place = Place::None;
    }

    /// The waiter at `place` gives up (it is dropped, or the channel
    /// closed). If it had been notified, another waiter is notified in its
    /// stead.
    pub(crate) fn leave(&self, place: &mut Place) {
        if self.depart(place) {
            self.notify_one();
        }
    }

    /// The waiter at `place` is done: its operation succeeded. If it had
    /// been notified and `more()` says the condition still holds (items
    /// left for receivers, room for senders), another waiter is notified:
    /// the notification may have been for an item it did not take. When the
    /// condition no longer holds, nothing is left for anyone, and a later
    /// change notifies as usual; passing on then would only wake a waiter
    /// for nothing (and let it lose its place in the queue).
    pub(crate) fn done(&self, place: &mut Place, more: impl FnOnce() -> bool) {
        if self.depart(place) && more() {
            self.notify_one();
        }
    }

    /// Unregisters the waiter at `place`; true if it had been notified.
    fn depart(&self, place: &mut Place) -> bool {
        match std::mem::take(place) {
            Place::None => false,
            Place::Slot => {
                // Take the waker while still the owner: once the state is
                // FREE the slot may hold a new owner's.
                self.slot.take();
                self.state.swap(FREE, Ordering::AcqRel) == NOTIFIED
            }
            Place::Queue(key) => {
                let mut q = self.lock();
                let notified = q.cancel(key);
                self.queued.store(q.len(), Ordering::Relaxed);
                notified
            }
        }
    }

    /// Notifies the slot's owner, if it is waiting. Call after the change
    /// and a `SeqCst` fence.
    fn notify_slot(&self) -> bool {
        if self.state.load(Ordering::Relaxed) == OWNED
            && self
                .state
                .compare_exchange(OWNED, NOTIFIED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.slot.wake();
            return true;
        }
        false
    }

    /// Notifies one waiter not notified yet, if there is one: call after
    /// making the condition it waits for true.
    pub(crate) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        self.notify_one_fenced();
    }

    /// As [`notify_one`](Self::notify_one), called right after a
    /// `concurrent-queue` push or pop that succeeded. Each makes its change
    /// visible with a locked read-modify-write: the bounded queue's
    /// compare-and-swap of `tail` (push) or `head` (pop) — the stamp written
    /// after it is a plain store, but a waiter's re-check that sees the index
    /// moved and the stamp not yet written spins rather than report
    /// empty or full — and the one-item queue's closing `fetch_and`. On
    /// x86-64 a locked instruction is a full barrier, and the compiler fence
    /// keeps the loads here below it, so the `SeqCst` fence (a second locked
    /// instruction: a flowing stream's cost per item went from 30 to 14 ns
    /// without it, A/B) is left out; elsewhere, and under loom, it stays.
    /// This rests on `concurrent-queue`'s insides (2.5.0, pinned in
    /// `Cargo.toml`: re-check on upgrade) and on the x86 memory model, not
    /// Rust's, so loom does not check it.
    #[inline]
    pub(crate) fn notify_one_after_rmw(&self) {
        #[cfg(all(target_arch = "x86_64", not(asyncio_loom)))]
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        #[cfg(not(all(target_arch = "x86_64", not(asyncio_loom))))]
        fence(Ordering::SeqCst);
        self.notify_one_fenced();
    }

    /// `notify_one` past its barrier: the slot's owner if it waits, else
    /// the queue's head.
    #[inline]
    fn notify_one_fenced(&self) {
        if self.notify_slot() {
            return;
        }
        if self.queued.load(Ordering::Relaxed) != 0 {
            let granted = {
                let mut q = self.lock();
                let granted = q.grant_front_deferred();
                self.queued.store(q.len(), Ordering::Relaxed);
                granted
            };
            // Woken after the unlock: a waker may drop its future, whose
            // `leave` takes the lock.
            if let Some(Some(w)) = granted {
                w.wake();
            }
        }
    }

    /// Notifies every waiter (the channel closed).
    pub(crate) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        self.notify_slot();
        let mut wakers = Vec::new();
        {
            let mut q = self.lock();
            while let Some(w) = q.grant_front_deferred() {
                wakers.extend(w);
            }
            self.queued.store(0, Ordering::Relaxed);
        }
        // After the unlock, as in `notify_one_fenced`.
        for w in wakers {
            w.wake();
        }
    }
}

#[cfg(all(test, not(asyncio_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use super::{Place, WaitSet, WaitStep};

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count::default());
        (c.clone(), Waker::from(c))
    }

    fn wakes(c: &Count) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    #[test]
    fn the_first_waiter_takes_the_slot_the_rest_queue_and_wakes_go_oldest_first() {
        let ws = WaitSet::default();
        let waiters: Vec<_> = (0..3).map(|_| waker()).collect();
        let mut places: Vec<Place> = (0..3).map(|_| Place::None).collect();
        for (p, (_, w)) in places.iter_mut().zip(&waiters) {
            assert_eq!(ws.wait(p, w), WaitStep::Registered);
        }
        assert!(matches!(places[0], Place::Slot));
        assert!(matches!(places[1], Place::Queue(_)) && matches!(places[2], Place::Queue(_)));
        for (p, (_, w)) in places.iter_mut().zip(&waiters) {
            assert_eq!(ws.wait(p, w), WaitStep::Waiting, "nothing notified yet");
        }
        for i in 0..3 {
            ws.notify_one();
            let woken: Vec<usize> = waiters.iter().map(|(c, _)| wakes(c)).collect();
            let expected: Vec<usize> = (0..3).map(|j| usize::from(j <= i)).collect();
            assert_eq!(woken, expected, "after notification {i}");
        }
        ws.notify_one(); // nobody left to notify
        for (p, (_, w)) in places.iter_mut().zip(&waiters) {
            assert_eq!(ws.wait(p, w), WaitStep::Notified);
            assert!(matches!(p, Place::None));
        }
        assert!(waiters.iter().all(|(c, _)| wakes(c) == 1));
    }

    #[test]
    fn a_notified_waiter_that_leaves_passes_on_one_that_is_done_only_if_more_is_left() {
        for (how, expect_pass) in [("leave", true), ("done, more", true), ("done, no more", false)] {
            let ws = WaitSet::default();
            let ((_, w0), (c1, w1)) = (waker(), waker());
            let (mut p0, mut p1) = (Place::None, Place::None);
            ws.wait(&mut p0, &w0);
            ws.wait(&mut p1, &w1);
            ws.notify_one(); // the slot's owner
            match how {
                "leave" => ws.leave(&mut p0),
                "done, more" => ws.done(&mut p0, || true),
                _ => ws.done(&mut p0, || false),
            }
            assert_eq!(wakes(&c1) == 1, expect_pass, "{how}");
            let step = ws.wait(&mut p1, &w1);
            assert_eq!(step == WaitStep::Notified, expect_pass, "{how}");
            ws.leave(&mut p1);
        }
    }

    #[test]
    fn a_queued_waiter_that_leaves_after_its_grant_passes_it_on() {
        let ws = WaitSet::default();
        let ws_waiters: Vec<_> = (0..3).map(|_| waker()).collect();
        let mut places: Vec<Place> = (0..3).map(|_| Place::None).collect();
        for (p, (_, w)) in places.iter_mut().zip(&ws_waiters) {
            ws.wait(p, w);
        }
        ws.notify_one(); // 0, in the slot
        ws.notify_one(); // 1, the queue's head
        ws.leave(&mut places[1]); // gives up its grant: 2 gets it
        assert_eq!(wakes(&ws_waiters[2].0), 1);
        ws.leave(&mut places[0]); // and 0 too: nobody is left
        ws.leave(&mut places[2]);
        let (c, w) = waker();
        let mut p = Place::None;
        assert_eq!(ws.wait(&mut p, &w), WaitStep::Registered);
        assert!(matches!(p, Place::Slot), "the slot is free again");
        assert_eq!(wakes(&c), 0);
    }

    #[test]
    fn notify_all_wakes_the_slot_and_the_whole_queue() {
        let ws = WaitSet::default();
        let waiters: Vec<_> = (0..4).map(|_| waker()).collect();
        let mut places: Vec<Place> = (0..4).map(|_| Place::None).collect();
        for (p, (_, w)) in places.iter_mut().zip(&waiters) {
            ws.wait(p, w);
        }
        ws.notify_all();
        for (p, (c, w)) in places.iter_mut().zip(&waiters) {
            assert_eq!(wakes(c), 1);
            assert_eq!(ws.wait(p, w), WaitStep::Notified);
        }
    }

    #[test]
    fn a_refreshed_waker_is_the_one_woken() {
        let ws = WaitSet::default();
        let ((old, w_old), (new, w_new)) = (waker(), waker());
        let mut p = Place::None;
        ws.wait(&mut p, &w_old);
        assert_eq!(ws.wait(&mut p, &w_new), WaitStep::Waiting);
        ws.notify_one();
        assert_eq!((wakes(&old), wakes(&new)), (0, 1));
    }
}
