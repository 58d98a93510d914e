//! A set of futures polled in place: the engine under `gather(iter)`,
//! `try_gather(iter)`, `as_completed` and `wait`.
//!
//! # Design
//!
//! Two ways to learn which child can make progress:
//!
//! - **Re-poll** (`gather` only, to start with): every unfinished child is
//!   polled with the parent's own waker whenever the parent is polled, as a
//!   plain join-all does. Nothing is allocated or written per child beyond
//!   its slot, which makes it the cheapest way for children that are ready
//!   at once or after a wake or two (the common `gather` of a few quick
//!   awaits); but it costs O(n) per wake, O(n²) for n children that finish
//!   one by one.
//! - **Own wakers**: each child has a waker of its own, which records
//!   *which* child woke; the parent then polls only those.
//!
//! `gather` starts re-polling. After any pass but the first that finishes
//! fewer than an eighth of the unfinished children (and more than
//! [`SMALL`] were unfinished), it switches to own wakers for good: the next
//! poll polls every unfinished child once more, handing each its own waker,
//! and from then on only woken children are polled. So children that finish
//! together cost what a join-all costs, and children that finish one by one
//! cost at most two extra polls each (the second re-poll pass and the pass
//! that hands out the wakers) before every wake polls one child.
//! `try_gather`, `as_completed` and `wait` return one completion at a time,
//! possibly in the middle of a pass, so they use own wakers from the start
//! (a wake of the parent's waker could be used up by a turn that did not
//! poll the set, and re-polling could not tell which child it was for).
//!
//! Everything per child is allocated once, for the whole set:
//!
//! - the futures live in one pinned boxed slice of [`Slot`]s and are never
//!   moved: a finished child is dropped in place, its output (for `gather`)
//!   kept in the same slot; in `gather`'s first pass, while every child so
//!   far has finished, the outputs are packed straight to their places in
//!   the result vector over the slots' block: one pass over children that
//!   are ready at once, where polling and then collecting makes two;
//! - the wakers are [`Node`]s in one `Arc`ed block, made when the set first
//!   uses own wakers; a child's `Waker` points at its node, and cloning it
//!   counts a reference to the block. No waker is allocated per child, not
//!   even for a child that is ready at once. The block is allocated zeroed
//!   (all-zero is a valid unused node) and a node is filled in just before
//!   its child's first poll with its own waker, so making the block is one
//!   allocation and no pass over the nodes.
//!
//! A wake (from any thread) sets the node's `queued` flag and pushes the
//! node on a lock-free stack (a CAS on the head), waking the parent only if
//! the stack was empty; the parent takes the whole stack with one swap
//! (push-by-CAS plus take-all-by-swap has no ABA problem) and polls those
//! children in wake order. The first pass with own wakers polls every
//! unfinished child once, in input order, from a cursor.
//!
//! Fairness: one poll polls every child at most once; children woken
//! meanwhile wait for the next poll (the parent wakes itself), so a child
//! that keeps waking itself cannot hold the loop.

use std::future::Future;
use std::mem::{ManuallyDrop, MaybeUninit};
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

/// Up to this many unfinished children, `gather` re-polls them all on every
/// wake for as long as it runs: a pass is short, and cheaper than a waker
/// per child.
const SMALL: usize = 8;

/// How the set learns which child to poll (see the module's design notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Every unfinished child polled with the parent's waker at every poll;
    /// `passes` made so far.
    Repoll { passes: u32 },
    /// Each child with a waker of its own.
    OwnWakers,
}

/// Futures polled together; completions come out one at a time with the
/// index the future had in the input.
pub(crate) struct FutureSet<F: Future> {
    slots: Pin<Box<[Slot<F>]>>,
    /// The child wakers' block, made when the set first uses own wakers.
    shared: Option<Arc<Shared>>,
    mode: Mode,
    /// Next child for the first pass with own wakers.
    cursor: usize,
    /// Woken children taken off the stack, still to poll (in wake order,
    /// consumed from the back).
    batch: Vec<u32>,
    live: usize,
    /// Every output, when the first pass finished every child and packed
    /// their outputs over the slots (see [`first_pass_packed`](Self::first_pass_packed)).
    packed: Option<Vec<F::Output>>,
}

// The futures are pinned in their own boxed block; the set itself holds
// nothing pinned (the packed outputs are plain values), so moving it is fine
// whatever `F::Output` is.
impl<F: Future> Unpin for FutureSet<F> {}

impl<F: Future> FutureSet<F> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let slots: Box<[Slot<F>]> = futures.into_iter().map(Slot::Live).collect();
        let n = slots.len();
        assert!(n < u32::MAX as usize, "too many futures for one set");
        FutureSet {
            slots: Box::into_pin(slots),
            shared: None,
            mode: Mode::Repoll { passes: 0 },
            cursor: 0,
            batch: Vec::new(),
            live: n,
            packed: None,
        }
    }

    /// Gives every child a waker of its own from the next poll on, whatever
    /// happened so far (also for the loom models of the wake stack).
    pub(crate) fn use_own_wakers(&mut self) {
        self.mode = Mode::OwnWakers;
        self.cursor = 0;
    }

    /// How many futures have not completed.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// How many futures the set started with.
    pub(crate) fn len(&self) -> usize {
        self.packed.as_ref().map_or(self.slots.len(), Vec::len)
    }

    /// The next completion: `(index, output)`; `None` once all completed.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        if self.mode != Mode::OwnWakers {
            // Re-polling is for `poll_all` only (see the design notes).
            self.use_own_wakers();
        }
        self.poll_inner(cx, false)
    }

    /// Polls until every future completed, keeping the outputs in place for
    /// [`take_outputs`](Self::take_outputs).
    pub(crate) fn poll_all(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.packed.is_some() {
            return Poll::Ready(()); // done, the outputs waiting to be taken
        }
        if let Mode::Repoll { passes } = self.mode {
            return self.repoll(cx, passes);
        }
        match self.poll_inner(cx, true) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    /// One pass of re-polling: every unfinished child, with the parent's
    /// waker. Then decides whether to switch to own wakers.
    fn repoll(&mut self, cx: &mut Context<'_>, passes: u32) -> Poll<()> {
        let before = self.live;
        let mut start = 0;
        if passes == 0 && Self::PACKS {
            match self.first_pass_packed(cx) {
                Some(next) => start = next,
                None => return Poll::Ready(()),
            }
        }
        /// Takes the finished children off `live` at the end of the pass,
        /// or when a child's poll unwinds out of it.
        struct Finished<'a> {
            live: &'a mut usize,
            count: usize,
        }
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                *self.live -= self.count;
            }
        }
        let mut finished = Finished {
            live: &mut self.live,
            count: 0,
        };
        // SAFETY: the slice is pinned and never moved; its elements are
        // reached in place (structural pinning of each slot).
        let slots = unsafe { self.slots.as_mut().get_unchecked_mut() };
        for slot in slots[start..].iter_mut() {
            if let Slot::Live(f) = slot {
                // SAFETY: the future lives in the pinned slice and is not
                // moved until it is dropped in place.
                if let Poll::Ready(out) = unsafe { Pin::new_unchecked(f) }.poll(cx) {
                    finished.count += 1;
                    // SAFETY: the slot holds the future that just finished.
                    unsafe { finish_in_place(slot, Some(out)) };
                }
            }
        }
        drop(finished);
        if self.live == 0 {
            return Poll::Ready(());
        }
        // Every unfinished child now holds this poll's waker, which is all
        // a join-all promises. The first pass says nothing of how children
        // finish (they were all polled for the first time); a later one that
        // finished under an eighth of them says they finish a few at a time.
        let finished = before - self.live;
        self.mode = if passes >= 1 && before > SMALL && finished * 8 < before {
            self.cursor = 0;
            Mode::OwnWakers
        } else {
            Mode::Repoll { passes: passes + 1 }
        };
        Poll::Pending
    }

    /// Whether the outputs can be packed over the slots during the first
    /// pass: not zero-sized, and aligned as a slot (so the slots' block can
    /// become the result vector's).
    const PACKS: bool =
        std::mem::size_of::<F::Output>() != 0 && std::mem::align_of::<F::Output>() == std::mem::align_of::<Slot<F>>();

    /// The first re-poll pass, for outputs that [`PACKS`](Self::PACKS):
    /// while every child polled so far has finished, child `i`'s output is
    /// written straight to its place in the result, `i` outputs into the
    /// slots' block, which ends at or before slot `i + 1` begins (an output
    /// is no larger than a slot): a gather of children that are all ready at
    /// once then makes one pass over its children, not two (poll, then
    /// pack), and the block becomes the result (`None`; the outputs wait in
    /// `packed`).
    ///
    /// The first child not finished (or not running: a pass that unwound
    /// before) ends the packing: the outputs packed so far go back into
    /// their slots as `Done`, last first, so each is read before the slot
    /// written over it is (the same happens if a child's poll or destructor
    /// unwinds). Returns the index the rest of the pass starts at.
    fn first_pass_packed(&mut self, cx: &mut Context<'_>) -> Option<usize> {
        /// Unpacks the packed prefix and counts the finished children off
        /// `live` on every path but the one where every child finished (it
        /// is then forgotten). `finished` is `count`, or one more while a
        /// finished child's future is being dropped (if that unwinds, the
        /// child is finished and its slot empty, as in the plain pass).
        struct Packed<'a, F: Future> {
            base: *mut Slot<F>,
            count: usize,
            finished: usize,
            live: &'a mut usize,
        }
        impl<F: Future> Drop for Packed<'_, F> {
            fn drop(&mut self) {
                *self.live -= self.finished;
                let outs = self.base.cast::<F::Output>();
                for j in (0..self.count).rev() {
                    // SAFETY: outputs `0..count` are packed (each written once
                    // below); output `j` is read before slot `j` is written,
                    // and slot `j` covers only outputs `j..` (an output is no
                    // larger than a slot), whose later ones went back first.
                    unsafe { ptr::write(self.base.add(j), Slot::Done(ptr::read(outs.add(j)))) };
                }
            }
        }
        let len = self.slots.len();
        // SAFETY: the slice is pinned and never moved; its elements are
        // reached in place through this pointer (structural pinning).
        let base = unsafe { self.slots.as_mut().get_unchecked_mut() }.as_mut_ptr();
        let outs = base.cast::<F::Output>();
        let mut packed = Packed {
            base,
            count: 0,
            finished: 0,
            live: &mut self.live,
        };
        while packed.count < len {
            let i = packed.count;
            // SAFETY: `i < len`; slots `i..` are untouched by the packing
            // (outputs `..i` end at or before slot `i` begins).
            let slot = unsafe { base.add(i) };
            // SAFETY: as above, slot `i` is a valid slot.
            let Slot::Live(f) = (unsafe { &mut *slot }) else {
                return Some(i);
            };
            // SAFETY: the future lives in the pinned slice and is not moved
            // until it is dropped in place.
            let out = match unsafe { Pin::new_unchecked(f) }.poll(cx) {
                Poll::Ready(out) => out,
                Poll::Pending => return Some(i + 1),
            };
            packed.finished += 1;
            // SAFETY: the slot holds the future that just finished; on
            // unwinding it is left `Empty`, counted finished, not packed.
            unsafe { finish_in_place(slot, None) };
            // SAFETY: output `i`'s place is aligned (`PACKS`) and inside the
            // block (it ends at or before slot `i + 1` begins); what it
            // covers is the finished slot `i` and packed space.
            unsafe { outs.add(i).write(out) };
            packed.count += 1;
        }
        *packed.live = 0;
        std::mem::forget(packed);
        let slots = std::mem::replace(&mut self.slots, Box::into_pin(Box::new([])));
        // SAFETY: every slot's future was dropped in place and its output
        // packed: no pinned data is left in the block.
        let raw = Box::into_raw(unsafe { Pin::into_inner_unchecked(slots) }).cast::<Slot<F>>();
        // SAFETY: `raw` is the block of `len` slots, its first `len` outputs
        // packed.
        self.packed = Some(unsafe { packed_into_vec(raw, len) });
        None
    }

    /// The outputs kept by [`poll_all`](Self::poll_all), in input order,
    /// written over the slots in place when the output's alignment is the
    /// slot's (then the slots' allocation becomes the vector's: no second
    /// allocation for a large gather).
    ///
    /// # Panics
    /// If some future has not completed.
    pub(crate) fn take_outputs(&mut self) -> Vec<F::Output> {
        if let Some(outputs) = self.packed.take() {
            return outputs;
        }
        assert!(self.live == 0, "take_outputs before every future completed");
        let len = self.slots.len();
        let slots = std::mem::replace(&mut self.slots, Box::into_pin(Box::new([])));
        // SAFETY: every future finished and was dropped in place, so no slot
        // holds pinned data any more.
        let slots = unsafe { Pin::into_inner_unchecked(slots) };
        let raw = Box::into_raw(slots).cast::<Slot<F>>();
        let out_size = std::mem::size_of::<F::Output>();
        if len == 0 || out_size == 0 || std::mem::align_of::<F::Output>() != std::mem::align_of::<Slot<F>>() {
            // SAFETY: `raw` holds `len` slots, each read once below.
            let outs = (0..len).map(|i| unsafe { take_done(raw.add(i)) }).collect();
            // SAFETY: `raw` is the boxed slice's allocation of `len` slots;
            // as `MaybeUninit` the box frees it without dropping the slots,
            // whose outputs were moved out.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(raw.cast::<MaybeUninit<Slot<F>>>(), len)) });
            return outs;
        }
        let outs = raw.cast::<F::Output>();
        for i in 0..len {
            // SAFETY: slot `i` is read once, whole, before anything is
            // written at output `i`; output `i` ends at `(i + 1) * out_size`,
            // at or before slot `i + 1` begins (`out_size <= size_of::<Slot>`,
            // a slot holds an output), so no write reaches a slot not yet read.
            unsafe {
                let out = take_done(raw.add(i));
                outs.add(i).write(out);
            }
        }
        // SAFETY: the block of `len` slots now holds `len` packed outputs.
        unsafe { packed_into_vec(raw, len) }
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
        self.block().parent.register(cx.waker());
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
        if !self.block().head.load(Ordering::Acquire).is_null() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// The child wakers' block, made on first use.
    fn block(&mut self) -> &Arc<Shared> {
        let n = self.slots.len();
        self.shared.get_or_insert_with(|| {
            Arc::new(Shared {
                head: AtomicPtr::new(ptr::null_mut()),
                parent: AtomicWaker::new(),
                nodes: zeroed_nodes(n),
            })
        })
    }

    /// Moves the woken stack into `batch`, oldest wake last (popped first).
    fn take_woken(&mut self) {
        let shared = self.block().clone();
        let mut p = shared.head.swap(ptr::null_mut(), Ordering::Acquire);
        // The stack is newest first; `batch` is consumed from its back, so
        // pushing newest first makes the oldest wake come out first.
        while !p.is_null() {
            // SAFETY: nodes on the stack are in our live block.
            let n = unsafe { &*p };
            // SAFETY: both pointers are into the same block (`nodes`).
            let index = unsafe { p.cast_const().offset_from(shared.nodes.as_ptr()) };
            self.batch.push(index as u32);
            p = n.next.load(Ordering::Relaxed);
        }
    }

    /// Polls child `i` with its own waker (see [`poll_slot`](Self::poll_slot)).
    /// `first`: the child's first poll with its own waker.
    fn poll_child(&mut self, i: usize, keep: bool, first: bool) -> Option<F::Output> {
        if !matches!(self.slots[i], Slot::Live(_)) {
            return None; // finished: a stale wake, or the cursor passing by
        }
        let shared = self.block();
        let block = Arc::as_ptr(shared).cast_mut();
        let node = &shared.nodes[i];
        // Before its first poll with its own waker no waker for this node
        // exists, so nobody can have queued it: the flag is still the
        // `false` it was made with, and the (costly) read-modify-write is
        // skipped; the node learns its block.
        if first {
            node.shared.store(block, Ordering::Relaxed);
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
        self.poll_slot(i, &mut Context::from_waker(&waker), keep)
    }

    /// Polls child `i` if it is still running; on completion drops its
    /// future in place and either returns the output or (with `keep`)
    /// stores it in the slot.
    fn poll_slot(&mut self, i: usize, cx: &mut Context<'_>, keep: bool) -> Option<F::Output> {
        // SAFETY: the slice is pinned and never moved; we reach one element
        // in place (structural pinning of the element).
        let slot = unsafe { self.slots.as_mut().get_unchecked_mut().get_unchecked_mut(i) };
        let fut = match slot {
            // SAFETY: the future lives in the pinned slice and is not moved
            // until it is dropped in place below.
            Slot::Live(f) => unsafe { Pin::new_unchecked(f) },
            _ => return None,
        };
        let out = match fut.poll(cx) {
            Poll::Ready(out) => out,
            Poll::Pending => return None,
        };
        self.live -= 1;
        if keep {
            // SAFETY: the slot holds the future that just finished.
            unsafe { finish_in_place(slot, Some(out)) };
            None
        } else {
            // SAFETY: as above.
            unsafe { finish_in_place(slot, None) };
            Some(out)
        }
    }
}

/// Drops a finished child's future in place, then stores its output in the
/// slot (or, with `None`, leaves it `Empty`).
///
/// # Safety
/// `slot` is a pinned slot holding a future that has returned `Ready`.
unsafe fn finish_in_place<F: Future>(slot: *mut Slot<F>, out: Option<F::Output>) {
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
    {
        let _mark = MarkEmpty(slot);
        // SAFETY: the slot holds a finished future; dropping it in place
        // honours the pin, and `_mark` writes `Empty` on every path.
        unsafe { ptr::drop_in_place(slot) };
    }
    if let Some(out) = out {
        // SAFETY: the slot is `Empty` (nothing to drop) and the output is
        // not pinned data.
        unsafe { *slot = Slot::Done(out) };
    }
}

/// The block of a set's `len` slots, whose first `len` outputs (`F::Output`
/// aligned as a slot, not zero-sized) are packed at its start, as the vector
/// of those outputs.
///
/// The block itself becomes the vector's: kept whole as its capacity when it
/// holds a whole number of outputs and at most twice `len` of them (as std's
/// in-place `collect` reuses a block; shrinking a large one costs a
/// `mremap` now and fresh page faults at the next large allocation),
/// otherwise shrunk in place by `realloc`.
///
/// # Safety
/// `raw` is the global-allocator block of a boxed slice of `len` slots
/// (dangling if `len` is 0), no slot of which is read or dropped again, and
/// outputs `0..len` are initialized at its start; `F::Output` is not
/// zero-sized and its alignment is `Slot<F>`'s.
unsafe fn packed_into_vec<F: Future>(raw: *mut Slot<F>, len: usize) -> Vec<F::Output> {
    if len == 0 {
        return Vec::new(); // a zero-length box owns no allocation
    }
    let outs = raw.cast::<F::Output>();
    let out_size = std::mem::size_of::<F::Output>();
    let layout = std::alloc::Layout::array::<Slot<F>>(len).expect("the slots' layout");
    let cap = layout.size() / out_size;
    if layout.size() % out_size == 0 && cap <= 2 * len {
        // SAFETY: the block has `layout`, exactly `cap` outputs' size with
        // their alignment (per the contract), and its first `len` outputs
        // are initialized.
        return unsafe { Vec::from_raw_parts(outs, len, cap) };
    }
    let size = out_size * len;
    // SAFETY: `raw` was allocated by the global allocator with `layout` (a
    // boxed slice of `len` slots) and `size` is non-zero; realloc keeps the
    // alignment, which is the output's.
    let p = unsafe { std::alloc::realloc(outs.cast::<u8>(), layout, size) };
    if p.is_null() {
        std::alloc::handle_alloc_error(std::alloc::Layout::array::<F::Output>(len).expect("outputs' layout"));
    }
    // SAFETY: `p` is a global-allocator block of exactly `len` outputs' size
    // with their alignment, holding `len` initialized outputs.
    unsafe { Vec::from_raw_parts(p.cast::<F::Output>(), len, len) }
}

/// Moves the output out of a finished slot, leaving it to be freed without
/// being dropped.
///
/// # Safety
/// `p` points at a slot that is read no more after this.
unsafe fn take_done<F: Future>(p: *const Slot<F>) -> F::Output {
    // SAFETY: per the contract, `p` is a valid slot.
    match unsafe { &*p } {
        // SAFETY: the slot is not read again, so the output has one owner;
        // only the output is copied out.
        Slot::Done(out) => unsafe { ptr::read(out) },
        _ => unreachable!("a slot without an output after every future completed"),
    }
}

// Under loom the primitives are loom's, which only run inside a model:
// `loom_future_set.rs` models the wake path instead.
#[cfg(all(test, not(asyncio_loom)))]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
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

    /// A parent waker that records that it was woken.
    fn flag_waker() -> (Waker, Arc<std::sync::atomic::AtomicBool>) {
        struct Flag(Arc<std::sync::atomic::AtomicBool>);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        (Waker::from(Arc::new(Flag(flag.clone()))), flag)
    }

    /// Polls `set` to the end the way a loop would: again only once woken
    /// (a pending poll with no wake to come fails the test). Returns the
    /// number of polls of the set.
    fn drive<F: Future>(set: &mut FutureSet<F>) -> u32 {
        let (waker, woken) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut polls = 0;
        loop {
            polls += 1;
            woken.store(false, std::sync::atomic::Ordering::SeqCst);
            if set.poll_all(&mut cx).is_ready() {
                return polls;
            }
            assert!(
                woken.load(std::sync::atomic::Ordering::SeqCst),
                "the set is pending and nothing will wake it"
            );
        }
    }

    #[test]
    fn children_ready_at_once_cost_one_pass_and_no_waker_block() {
        let mut set = FutureSet::new((0..1000u32).map(std::future::ready));
        assert_eq!(drive(&mut set), 1);
        assert!(set.shared.is_none(), "no child needed a waker of its own");
        assert_eq!(set.take_outputs(), (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn children_pending_once_finish_in_the_second_pass_with_the_parents_waker() {
        let polls = Rc::new(Cell::new(0));
        let mut set = FutureSet::new((0..1000).map(|_| Ticks {
            left: 1,
            polls: polls.clone(),
        }));
        assert_eq!(drive(&mut set), 2);
        assert_eq!(polls.get(), 2000);
        assert!(set.shared.is_none());
        assert_eq!(set.take_outputs().len(), 1000);
    }

    /// Child `i` finishes only after child `i - 1`, a wake later (the
    /// benches' `StaggerChain`, smaller).
    struct Chain {
        next: Cell<usize>,
        wakers: RefCell<Vec<Option<Waker>>>,
        polls: Cell<usize>,
    }

    struct Link {
        chain: Rc<Chain>,
        index: usize,
        turn: bool,
    }

    impl Future for Link {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            let chain = self.chain.clone();
            chain.polls.set(chain.polls.get() + 1);
            if chain.next.get() != self.index {
                chain.wakers.borrow_mut()[self.index] = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if !self.turn {
                self.turn = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            chain.next.set(self.index + 1);
            let next = chain.wakers.borrow_mut().get_mut(self.index + 1).and_then(Option::take);
            if let Some(w) = next {
                w.wake();
            }
            Poll::Ready(self.index)
        }
    }

    fn chain(n: usize) -> (Rc<Chain>, FutureSet<Link>) {
        let chain = Rc::new(Chain {
            next: Cell::new(0),
            wakers: RefCell::new(vec![None; n]),
            polls: Cell::new(0),
        });
        let set = FutureSet::new((0..n).map(|index| Link {
            chain: chain.clone(),
            index,
            turn: false,
        }));
        (chain, set)
    }

    #[test]
    fn children_finishing_one_by_one_switch_to_own_wakers() {
        let n = 1000;
        let (chain, mut set) = chain(n);
        drive(&mut set);
        assert_eq!(set.mode, Mode::OwnWakers);
        assert_eq!(set.take_outputs(), (0..n).collect::<Vec<_>>());
        // Two re-poll passes, the pass that hands out own wakers, then about
        // two polls per child: not the n²/2 of re-polling throughout.
        assert!(chain.polls.get() <= 5 * n, "{} polls", chain.polls.get());
    }

    #[test]
    fn small_sets_keep_re_polling() {
        let (chain, mut set) = chain(SMALL);
        drive(&mut set);
        assert!(matches!(set.mode, Mode::Repoll { .. }), "{:?}", set.mode);
        assert!(set.shared.is_none());
        assert_eq!(set.take_outputs(), (0..SMALL).collect::<Vec<_>>());
        assert!(chain.polls.get() <= SMALL * SMALL * 2);
    }

    /// Outputs moved out in place (same alignment as the slots) or into a
    /// new vector (another alignment, or zero-sized), each exactly once.
    #[test]
    fn take_outputs_in_place_and_not() {
        // In place, a heap-owning output (a double drop or a leak shows
        // under Miri and in the counts).
        let mut set = FutureSet::new((0..100).map(|i| std::future::ready(format!("s{i}"))));
        assert_eq!(drive(&mut set), 1);
        let out = set.take_outputs();
        assert_eq!(out.len(), 100);
        assert!(out.iter().enumerate().all(|(i, s)| *s == format!("s{i}")));
        // Outputs less aligned than the slots.
        struct Wide(u64, u8);
        impl Future for Wide {
            type Output = u8;
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
                Poll::Ready(self.1.wrapping_add(self.0 as u8))
            }
        }
        let mut set = FutureSet::new((0..50u8).map(|i| Wide(0, i)));
        drive(&mut set);
        assert_eq!(set.take_outputs(), (0..50).collect::<Vec<u8>>());
        // Zero-sized outputs, and no futures at all.
        let mut set = FutureSet::new((0..7).map(|_| std::future::ready(())));
        drive(&mut set);
        assert_eq!(set.take_outputs().len(), 7);
        let mut set = FutureSet::new(std::iter::empty::<std::future::Ready<u8>>());
        drive(&mut set);
        assert!(set.take_outputs().is_empty());
        // Outputs exactly as large as the slots (nothing to shrink).
        let mut set = FutureSet::new((0..9u64).map(|i| std::future::ready([i; 4])));
        drive(&mut set);
        assert_eq!(set.take_outputs()[8], [8; 4]);
    }

    /// An output that counts how many of its kind are alive.
    struct Counted {
        index: usize,
        text: String,
        alive: Rc<Cell<i64>>,
    }

    impl Counted {
        fn new(index: usize, alive: &Rc<Cell<i64>>) -> Self {
            alive.set(alive.get() + 1);
            Counted {
                index,
                text: format!("out{index}"),
                alive: alive.clone(),
            }
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.alive.set(self.alive.get() - 1);
        }
    }

    /// Ready with a `Counted` after `pending` pending polls; panics at its
    /// first poll if `panic_once` (then behaves); its destructor panics if
    /// `panic_in_drop`. Over twice as large as its output, so packing moves
    /// outputs and the block is shrunk at the end.
    struct Step {
        index: usize,
        pending: u32,
        panic_once: Cell<bool>,
        panic_in_drop: bool,
        alive: Rc<Cell<i64>>,
        _pad: [u64; 10],
    }

    impl Step {
        fn new(index: usize, pending: u32, alive: &Rc<Cell<i64>>) -> Self {
            Step {
                index,
                pending,
                panic_once: Cell::new(false),
                panic_in_drop: false,
                alive: alive.clone(),
                _pad: [index as u64; 10],
            }
        }
    }

    impl Future for Step {
        type Output = Counted;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Counted> {
            if self.panic_once.replace(false) {
                panic!("child {} panics in poll", self.index);
            }
            if self.pending > 0 {
                self.pending -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Counted::new(self.index, &self.alive))
        }
    }

    impl Drop for Step {
        fn drop(&mut self) {
            if self.panic_in_drop && !std::thread::panicking() {
                panic!("child {} panics in drop", self.index);
            }
        }
    }

    fn check_outputs(out: &[Counted], n: usize) {
        assert_eq!(out.len(), n);
        for (i, c) in out.iter().enumerate() {
            assert_eq!((c.index, c.text.as_str()), (i, format!("out{i}").as_str()));
        }
    }

    /// Every child ready at once: the outputs are packed during the one
    /// pass and the slots' block becomes the vector (kept whole when it
    /// holds at most twice the outputs, shrunk otherwise).
    #[test]
    fn a_first_pass_that_finishes_every_child_packs_the_outputs() {
        let alive = Rc::new(Cell::new(0));
        let mut set = FutureSet::new((0..100).map(|i| Step::new(i, 0, &alive)));
        assert_eq!(drive(&mut set), 1);
        assert!(set.packed.is_some(), "packed during the pass");
        assert_eq!(set.len(), 100);
        let noop = &mut Context::from_waker(Waker::noop());
        assert!(
            set.poll_all(noop).is_ready(),
            "polled again before the outputs are taken"
        );
        let out = set.take_outputs();
        check_outputs(&out, 100);
        assert_eq!(out.capacity(), 100, "a slot is over twice an output: shrunk");
        drop(out);
        assert_eq!(alive.get(), 0);
        let mut set = FutureSet::new((0..1000u64).map(std::future::ready));
        drive(&mut set);
        let out = set.take_outputs();
        assert_eq!(out, (0..1000).collect::<Vec<_>>());
        assert_eq!(out.capacity(), 2000, "a slot is two outputs: the block kept whole");
        // A set dropped with its outputs packed and not taken drops them.
        let mut set = FutureSet::new((0..10).map(|i| Step::new(i, 0, &alive)));
        drive(&mut set);
        assert_eq!(alive.get(), 10);
        drop(set);
        assert_eq!(alive.get(), 0);
    }

    /// A pending child in the middle of the first pass: the outputs packed
    /// before it go back to their slots, the rest of the pass runs as
    /// usual, and every output comes out once, in order.
    #[test]
    fn a_pending_child_ends_the_packing_and_nothing_is_lost() {
        for pending_at in [0, 1, 2, 7, 49, 99] {
            let alive = Rc::new(Cell::new(0));
            let mut set = FutureSet::new((0..100).map(|i| Step::new(i, u32::from(i == pending_at), &alive)));
            assert_eq!(drive(&mut set), 2, "pending at {pending_at}");
            assert!(set.packed.is_none());
            let out = set.take_outputs();
            check_outputs(&out, 100);
            drop(out);
            assert_eq!(alive.get(), 0);
            // Dropped after the unpacking, before the end.
            let mut set = FutureSet::new((0..100).map(|i| Step::new(i, u32::from(i == pending_at), &alive)));
            assert!(set.poll_all(&mut Context::from_waker(Waker::noop())).is_pending());
            assert_eq!(alive.get(), 99);
            drop(set);
            assert_eq!(alive.get(), 0);
        }
    }

    /// A child that panics in its poll, or in its destructor once finished,
    /// during the packing: the outputs packed so far are back in their
    /// slots, each dropped exactly once with the set, or handed out if the
    /// set is polled on.
    #[test]
    fn a_panic_during_the_packing_loses_nothing_and_drops_nothing_twice() {
        let noop = &mut Context::from_waker(Waker::noop());
        for at in [0, 1, 5, 19] {
            // Panic in poll, then the set dropped.
            let alive = Rc::new(Cell::new(0));
            let mut set = FutureSet::new((0..20).map(|i| {
                let s = Step::new(i, 0, &alive);
                s.panic_once.set(i == at);
                s
            }));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| set.poll_all(noop)));
            assert!(r.is_err());
            assert_eq!(alive.get(), at as i64, "the outputs before the panicking child");
            assert_eq!(set.live(), 20 - at);
            drop(set);
            assert_eq!(alive.get(), 0);
            // Panic in poll, then the set polled on to the end.
            let mut set = FutureSet::new((0..20).map(|i| {
                let s = Step::new(i, 0, &alive);
                s.panic_once.set(i == at);
                s
            }));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| set.poll_all(noop)));
            assert!(r.is_err());
            assert!(set.poll_all(noop).is_ready());
            let out = set.take_outputs();
            check_outputs(&out, 20);
            drop(out);
            assert_eq!(alive.get(), 0);
            // Panic in the destructor of a finished child: its output is
            // dropped by the unwinding, its slot left empty.
            let mut set = FutureSet::new((0..20).map(|i| {
                let mut s = Step::new(i, 0, &alive);
                s.panic_in_drop = i == at;
                s
            }));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| set.poll_all(noop)));
            assert!(r.is_err());
            assert_eq!(alive.get(), at as i64);
            assert_eq!(
                set.live(),
                20 - at - 1,
                "the child whose destructor panicked is finished"
            );
            // Polled on, the set finishes (the empty slot's output is lost).
            assert!(set.poll_all(noop).is_ready());
            assert_eq!(set.live(), 0);
            drop(set);
            assert_eq!(alive.get(), 0);
        }
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
