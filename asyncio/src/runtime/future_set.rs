//! A set of futures polled in place, each with its own waker: the engine
//! under `gather(iter)`, `try_gather(iter)`, `as_completed` and `wait`.
//!
//! # Design
//!
//! Polling every child whenever the parent wakes costs O(n) per wake and
//! O(n²) for a gather of n children that finish one by one. Instead each
//! child has a waker of its own, which records *which* child woke; the
//! parent then polls only those.
//!
//! Everything per child is allocated once, for the whole set:
//!
//! - the futures live in one pinned boxed slice of [`Slot`]s and are never
//!   moved: a finished child is dropped in place, its output (for `gather`)
//!   kept in the same slot;
//! - the wakers are [`Node`]s in one `Arc`ed block; a child's `Waker` points
//!   at its node, and cloning it counts a reference to the block. No waker
//!   is allocated per child, not even for a child that is ready at once.
//!   The block is allocated zeroed (all-zero is a valid unused node) and a
//!   node is filled in just before its child's first poll, so building a
//!   set is one allocation and no pass over the nodes.
//!
//! A wake (from any thread) sets the node's `queued` flag and pushes the
//! node on a lock-free stack (a CAS on the head), waking the parent only if
//! the stack was empty; the parent takes the whole stack with one swap
//! (push-by-CAS plus take-all-by-swap has no ABA problem) and polls those
//! children in wake order. The first pass polls every child once, in input
//! order, from a cursor.
//!
//! Fairness: one `poll_next` polls at most the children that were woken when
//! it started; children woken meanwhile wait for the next poll (the parent
//! wakes itself), so a child that keeps waking itself cannot hold the loop.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::sync::{Arc, AtomicBool, AtomicPtr, AtomicWaker, Ordering};

/// A child: running, finished with its output kept, or empty.
enum Slot<F: Future> {
    Live(F),
    Done(F::Output),
    Empty,
}

/// One child's waker state (its index is its position in the block). All
/// zero bytes make a valid node: null pointers, not queued.
struct Node {
    /// The next woken node on the stack (meaningful while `queued`).
    next: AtomicPtr<Node>,
    /// On the stack, or about to be; cleared just before the child is polled.
    queued: AtomicBool,
    /// The block this node lives in (valid while any waker or the set lives);
    /// null until the child's first poll, set by the set's thread before it
    /// makes the node's first waker (so every waker sees it set).
    shared: AtomicPtr<Shared>,
}

impl Node {
    fn shared(&self) -> *const Shared {
        self.shared.load(Ordering::Relaxed)
    }
}

/// `n` unused nodes (loom's atomics are not plain memory: made one by one).
#[cfg(asyncio_loom)]
fn zeroed_nodes(n: usize) -> Box<[Node]> {
    (0..n)
        .map(|_| Node {
            next: AtomicPtr::new(ptr::null_mut()),
            queued: AtomicBool::new(false),
            shared: AtomicPtr::new(ptr::null_mut()),
        })
        .collect()
}

/// `n` unused nodes, in one zeroed allocation.
#[cfg(not(asyncio_loom))]
fn zeroed_nodes(n: usize) -> Box<[Node]> {
    if n == 0 {
        return Box::new([]);
    }
    let layout = std::alloc::Layout::array::<Node>(n).expect("too many futures for one set");
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Node>();
    if p.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `p` is a global-allocator allocation of exactly `n` nodes'
    // layout, and all-zero bytes are a valid `Node` (null atomic pointers,
    // a false atomic flag), so it is `n` initialized nodes that the box may
    // own and free.
    unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, n)) }
}

/// What the child wakers share with the parent.
struct Shared {
    head: AtomicPtr<Node>,
    parent: AtomicWaker,
    nodes: Box<[Node]>,
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
/// `p` is a node pointer from a waker made by this module.
unsafe fn node<'a>(p: *const ()) -> &'a Node {
    // SAFETY: the waker keeps the block, and so the node, alive.
    unsafe { &*(p as *const Node) }
}

/// # Safety
/// `p` is a node of a live set's waker block, from a waker made with
/// `VTABLE`; the clone owns one more strong count of the block.
unsafe fn clone(p: *const ()) -> RawWaker {
    // SAFETY: `p` comes from one of our wakers; the block is alive, and a
    // clone owns one more strong count of it.
    unsafe { Arc::increment_strong_count(node(p).shared()) };
    RawWaker::new(p, &VTABLE)
}

/// # Safety
/// As `clone`; consumes the count the waker owned.
unsafe fn wake(p: *const ()) {
    // SAFETY: forwarded; then release the count this waker owned.
    unsafe {
        wake_by_ref(p);
        drop_waker(p);
    }
}

/// # Safety
/// As `clone`; the count stays with the caller.
unsafe fn wake_by_ref(p: *const ()) {
    // SAFETY: `p` comes from one of our wakers.
    let n = unsafe { node(p) };
    if n.queued.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the waker keeps the block alive.
    let shared = unsafe { &*n.shared() };
    let me = n as *const Node as *mut Node;
    let mut head = shared.head.load(Ordering::Relaxed);
    loop {
        n.next.store(head, Ordering::Relaxed);
        match shared
            .head
            .compare_exchange_weak(head, me, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => break,
            Err(h) => head = h,
        }
    }
    // Only the push that found the stack empty wakes the parent: a push
    // onto a non-empty stack comes after such a push (whose wake may still
    // be on its way: a short delay, never a lost wake-up), and the parent
    // looks at the stack after registering on every path that returns
    // `Pending` (the take, or the re-check after a batch).
    if head.is_null() {
        shared.parent.wake();
    }
}

/// # Safety
/// As `clone`; releases the count the waker owned.
unsafe fn drop_waker(p: *const ()) {
    // SAFETY: each of our owned wakers holds one strong count.
    unsafe { Arc::decrement_strong_count(node(p).shared()) };
}

/// Futures polled together; completions come out one at a time with the
/// index the future had in the input.
pub(crate) struct FutureSet<F: Future> {
    slots: Pin<Box<[Slot<F>]>>,
    shared: Arc<Shared>,
    /// Next child for the first pass.
    cursor: usize,
    /// Woken children taken off the stack, still to poll (in wake order,
    /// consumed from the back).
    batch: Vec<u32>,
    live: usize,
}

impl<F: Future> FutureSet<F> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let slots: Box<[Slot<F>]> = futures.into_iter().map(Slot::Live).collect();
        let n = slots.len();
        assert!(n < u32::MAX as usize, "too many futures for one set");
        let shared = Arc::new(Shared {
            head: AtomicPtr::new(ptr::null_mut()),
            parent: AtomicWaker::new(),
            nodes: zeroed_nodes(n),
        });
        FutureSet {
            slots: Box::into_pin(slots),
            shared,
            cursor: 0,
            batch: Vec::new(),
            live: n,
        }
    }

    /// How many futures have not completed.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// How many futures the set started with.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The next completion: `(index, output)`; `None` once all completed.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        self.poll_inner(cx, false)
    }

    /// Polls until every future completed, keeping the outputs in place for
    /// [`take_outputs`](Self::take_outputs).
    pub(crate) fn poll_all(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.poll_inner(cx, true) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The outputs kept by [`poll_all`](Self::poll_all), in input order.
    ///
    /// # Panics
    /// If some future has not completed.
    pub(crate) fn take_outputs(&mut self) -> Vec<F::Output> {
        (0..self.slots.len())
            .map(|i| {
                // SAFETY: we only move out of a `Done` slot, which holds no
                // pinned data (the future was dropped in place before the
                // output was stored); a `Live` slot is never moved.
                let p: *mut Slot<F> = unsafe { self.slots.as_mut().get_unchecked_mut().get_unchecked_mut(i) };
                // SAFETY: `p` points at a live slot of ours; the shared
                // borrow ends before the write below.
                match unsafe { &*p } {
                    Slot::Done(out) => {
                        // Only the output is copied out (`mem::replace` would
                        // copy the whole slot, as large as the future).
                        // SAFETY: `out` is read once, then the slot becomes
                        // `Empty` without dropping what it held, so the
                        // output has exactly one owner.
                        let out = unsafe { ptr::read(out) };
                        // SAFETY: `p` is the slot just read from; `write`
                        // drops nothing.
                        unsafe { ptr::write(p, Slot::Empty) };
                        out
                    }
                    _ => panic!("take_outputs before every future completed"),
                }
            })
            .collect()
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>, keep: bool) -> Poll<Option<(usize, F::Output)>> {
        loop {
            if self.live == 0 {
                return Poll::Ready(None);
            }
            if self.cursor < self.slots.len() {
                let i = self.cursor;
                self.cursor += 1;
                if let Some(out) = self.poll_child(i, keep, true) {
                    return Poll::Ready(Some((i, out)));
                }
                if keep && self.live == 0 {
                    return Poll::Ready(None);
                }
                continue;
            }
            break;
        }
        // Register before looking at the stack, so a wake after the look
        // reaches us.
        self.shared.parent.register(cx.waker());
        if self.batch.is_empty() {
            self.take_woken();
            if self.batch.is_empty() {
                return Poll::Pending;
            }
        }
        while let Some(i) = self.batch.pop() {
            let done = self.poll_child(i as usize, keep, false);
            if let Some(out) = done {
                return Poll::Ready(Some((i as usize, out)));
            }
            if keep && self.live == 0 {
                return Poll::Ready(None);
            }
        }
        // The batch is spent; children woken meanwhile wait for the next
        // turn of the loop. This look is required, not only fair: their
        // wake may have gone to a turn that did not poll this set (after a
        // `poll_next` that returned in the middle of a batch), and a push
        // onto a non-empty stack wakes no one.
        if !self.shared.head.load(Ordering::Acquire).is_null() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Moves the woken stack into `batch`, oldest wake last (popped first).
    fn take_woken(&mut self) {
        let mut p = self.shared.head.swap(ptr::null_mut(), Ordering::Acquire);
        // The stack is newest first; `batch` is consumed from its back, so
        // pushing newest first makes the oldest wake come out first.
        while !p.is_null() {
            // SAFETY: nodes on the stack are in our live block.
            let n = unsafe { &*p };
            // SAFETY: both pointers are into the same block (`nodes`).
            let index = unsafe { p.cast_const().offset_from(self.shared.nodes.as_ptr()) };
            self.batch.push(index as u32);
            p = n.next.load(Ordering::Relaxed);
        }
    }

    /// Polls child `i`; on completion drops its future in place and either
    /// returns the output or (with `keep`) stores it in the slot. `first`:
    /// the child's first poll (the first pass).
    fn poll_child(&mut self, i: usize, keep: bool, first: bool) -> Option<F::Output> {
        let node = &self.shared.nodes[i];
        // Before its first poll no waker for this node exists, so nobody
        // can have queued it: the flag is still the `false` it was made
        // with, and the (costly) read-modify-write is skipped; the node
        // learns its block.
        if first {
            node.shared
                .store(Arc::as_ptr(&self.shared).cast_mut(), Ordering::Relaxed);
        } else {
            // A swap, not a store: see `accept_remote` in core.rs (a waker
            // that found the flag still set must have its writes seen by
            // this poll).
            node.queued.swap(false, Ordering::AcqRel);
        }
        let data = node as *const Node as *const ();
        // SAFETY: a waker for node `i` borrowing the set's own reference to
        // the block (ManuallyDrop: it releases nothing); clones made by the
        // child take their own. VTABLE upholds the RawWaker contract.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) });
        // SAFETY: the slice is pinned and never moved; we reach one element
        // in place (structural pinning of the element).
        let slot = unsafe { self.slots.as_mut().get_unchecked_mut().get_unchecked_mut(i) };
        let fut = match slot {
            // SAFETY: the future lives in the pinned slice and is not moved
            // until it is dropped in place below.
            Slot::Live(f) => unsafe { Pin::new_unchecked(f) },
            _ => return None, // a stale wake of a finished child
        };
        let out = match fut.poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(out) => out,
            Poll::Pending => return None,
        };
        self.live -= 1;
        /// Leaves a valid `Empty` behind even if the future's destructor
        /// unwinds.
        struct MarkEmpty<F: Future>(*mut Slot<F>);
        impl<F: Future> Drop for MarkEmpty<F> {
            fn drop(&mut self) {
                // SAFETY: the slot was dropped in place just before; writing
                // does not drop it again.
                unsafe { ptr::write(self.0, Slot::Empty) };
            }
        }
        let p: *mut Slot<F> = slot;
        {
            let _mark = MarkEmpty(p);
            // SAFETY: the slot holds a finished future; dropping it in place
            // honours the pin, and `_mark` writes `Empty` on every path.
            unsafe { ptr::drop_in_place(p) };
        }
        if keep {
            // SAFETY: the slot is `Empty` (nothing to drop) and the output
            // is not pinned data.
            unsafe { *p = Slot::Done(out) };
            None
        } else {
            Some(out)
        }
    }
}

// Under loom the primitives are loom's, which only run inside a model:
// `loom_future_set.rs` models the wake path instead.
#[cfg(all(test, not(asyncio_loom)))]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    struct Ticks {
        left: u32,
        polls: Rc<Cell<u32>>,
    }

    impl Future for Ticks {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls.set(self.polls.get() + 1);
            if self.left == 0 {
                return Poll::Ready(self.polls.get());
            }
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn polls_only_woken_children_and_yields_between_batches() {
        let polls = Rc::new(Cell::new(0));
        let mut set = FutureSet::new((0..3).map(|i| Ticks {
            left: i,
            polls: polls.clone(),
        }));
        let mut cx = Context::from_waker(Waker::noop());
        let mut order = Vec::new();
        for _ in 0..10 {
            if let Poll::Ready(Some((i, _))) = set.poll_next(&mut cx) {
                order.push(i);
            }
        }
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(polls.get(), 1 + 2 + 3, "each child polled once per wake, no more");
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(None)));
    }

    #[test]
    fn poll_all_keeps_outputs_in_order() {
        let polls = Rc::new(Cell::new(0));
        let mut set = FutureSet::new((0..5).rev().map(|i| Ticks {
            left: i,
            polls: polls.clone(),
        }));
        let mut cx = Context::from_waker(Waker::noop());
        let mut rounds = 0;
        while set.poll_all(&mut cx).is_pending() {
            rounds += 1;
            assert!(rounds < 100);
        }
        assert_eq!(set.take_outputs().len(), 5);
    }

    /// Wakers cloned to other threads wake their own child, exactly.
    #[test]
    fn wakes_from_other_threads() {
        use std::sync::Mutex;
        struct Remote {
            slot: Arc<Mutex<(bool, Option<Waker>)>>,
        }

        impl Future for Remote {
            type Output = ();
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                let mut g = self.slot.lock().unwrap();
                if g.0 {
                    return Poll::Ready(());
                }
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
        type Flag = Arc<Mutex<(bool, Option<Waker>)>>;
        let slots: Vec<Flag> = (0..64).map(|_| Arc::default()).collect();
        let mut set = FutureSet::new(slots.iter().map(|s| Remote { slot: s.clone() }));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        struct Notify(std::sync::mpsc::Sender<()>);
        impl std::task::Wake for Notify {
            fn wake(self: Arc<Self>) {
                let _ = self.0.send(());
            }
        }
        let parent = Waker::from(Arc::new(Notify(tx)));
        let mut cx = Context::from_waker(&parent);
        assert!(set.poll_next(&mut cx).is_pending());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let slots = slots.clone();
                std::thread::spawn(move || {
                    for (i, s) in slots.iter().enumerate() {
                        if i % 4 == t {
                            let w = {
                                let mut g = s.lock().unwrap();
                                g.0 = true;
                                g.1.take()
                            };
                            if let Some(w) = w {
                                w.wake();
                            }
                        }
                    }
                })
            })
            .collect();
        let mut done = 0;
        while done < 64 {
            match set.poll_next(&mut cx) {
                Poll::Ready(Some(_)) => done += 1,
                Poll::Ready(None) => break,
                Poll::Pending => rx.recv().unwrap(),
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(done, 64);
    }

    /// `poll_next` returned in the middle of a batch; a child woken before
    /// the next poll, whose wake a turn that never polled the set used up,
    /// must not be stranded (the re-check of the stack after the batch).
    #[test]
    fn a_wake_between_a_mid_batch_ready_and_the_next_poll_is_not_lost() {
        use std::cell::RefCell;
        use std::sync::atomic::AtomicUsize;

        #[derive(Default)]
        struct Gate {
            open: Cell<bool>,
            waker: RefCell<Option<Waker>>,
        }
        struct G(Rc<Gate>);
        impl Future for G {
            type Output = ();
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                if self.0.open.get() {
                    return Poll::Ready(());
                }
                *self.0.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let wake = |g: &Gate| g.waker.borrow().as_ref().unwrap().wake_by_ref();
        let gates: Vec<Rc<Gate>> = (0..3).map(|_| Rc::default()).collect();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let parent = Waker::from(count.clone());
        let mut cx = Context::from_waker(&parent);
        let mut set = FutureSet::new(gates.iter().map(|g| G(g.clone())));
        assert!(set.poll_next(&mut cx).is_pending());
        gates[0].open.set(true);
        wake(&gates[0]);
        wake(&gates[1]); // spurious: still pending
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(Some((0, ())))));
        gates[2].open.set(true);
        wake(&gates[2]); // its wake goes to a turn that does not poll the set
        let seen = count.0.load(std::sync::atomic::Ordering::SeqCst);
        match set.poll_next(&mut cx) {
            Poll::Ready(r) => assert_eq!(r.map(|(i, _)| i), Some(2)),
            Poll::Pending => assert!(
                count.0.load(std::sync::atomic::Ordering::SeqCst) > seen,
                "child 2 was woken but the set neither polled it nor asked to be polled again"
            ),
        }
    }
}
