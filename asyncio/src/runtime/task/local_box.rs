//! [`LocalBoxFuture`]: a type-erased future whose block comes from the
//! loop thread's cache of freed task blocks (`blocks`), not from the
//! global allocator each time.
//!
//! What `Pin<Box<dyn Future<Output = T> + 'a>>` is, at the cost of a task
//! cell's allocation: a server that boxes one future per request (a
//! router's handler, a middleware's wrapper) with a hundred requests in
//! flight outruns glibc's per-thread cache of seven blocks a size, and
//! every box then takes malloc's slower shared paths.
//!
//! Layout: a pointer to the future's block and the
//! two functions for its type (poll it, drop it and give its block
//! back). The block never moves: the future is pinned for its whole life.

use std::alloc::Layout;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::blocks;

/// A future of any type behind one pointer, in a block from the loop
/// thread's cache of freed blocks: `Pin<Box<dyn Future<Output = T> + 'a>>`
/// without a trip to the global allocator each time (the cache keeps up to
/// 256 freed blocks of each size up to 1 KiB per thread while a loop
/// exists there; larger futures, or a thread with no loop, use the global
/// allocator as `Box` does).
///
/// `!Send`, as the futures it holds may be; it is [`Unpin`] (the future
/// itself never moves) and drops its future when dropped, wherever that
/// future had got to.
///
/// ```
/// use asyncio::task::LocalBoxFuture;
/// asyncio::run(async {
///     let label = std::rc::Rc::new("done");
///     let futures: Vec<LocalBoxFuture<'_, usize>> = vec![
///         LocalBoxFuture::new(async { 1 }),
///         LocalBoxFuture::new(async move { label.len() }),
///     ];
///     let mut total = 0;
///     for f in futures {
///         total += f.await;
///     }
///     assert_eq!(total, 5);
/// });
/// ```
///
/// It stays on its thread:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(asyncio::task::LocalBoxFuture::new(async {}));
/// ```
pub struct LocalBoxFuture<'a, T> {
    block: NonNull<u8>,
    /// The two functions for the future's type (kept inline: a `&'static`
    /// table would need `T: 'static`).
    poll: unsafe fn(NonNull<u8>, &mut Context<'_>) -> Poll<T>,
    drop: unsafe fn(NonNull<u8>),
    /// Holds an `F: 'a` that may be `!Send` and `!Sync`.
    _marker: PhantomData<(*mut (), &'a ())>,
}

/// # Safety
/// `block` holds a live `F`, pinned there, not borrowed elsewhere.
unsafe fn poll_in<F: Future>(block: NonNull<u8>, cx: &mut Context<'_>) -> Poll<F::Output> {
    // SAFETY: the caller's promise: a live `F` that stays at this address
    // until it is dropped in place (`drop_in`), so pinning it is sound; the
    // `&mut` is the only reference for the call.
    let fut = unsafe { Pin::new_unchecked(&mut *block.cast::<F>().as_ptr()) };
    fut.poll(cx)
}

/// # Safety
/// `block` holds a live `F`, from [`block_for`]`::<F>`, used by nothing
/// after this.
unsafe fn drop_in<F>(block: NonNull<u8>) {
    /// Gives the block back even if `F`'s destructor panics.
    struct Release<F>(NonNull<u8>, PhantomData<F>);
    impl<F> Drop for Release<F> {
        fn drop(&mut self) {
            if size_of::<F>() != 0 {
                // SAFETY: the block came from `blocks::alloc` with `F`'s
                // layout (`block_for`), and its `F` has been dropped.
                unsafe { blocks::dealloc(self.0, Layout::new::<F>()) };
            }
        }
    }
    let _release = Release::<F>(block, PhantomData);
    // SAFETY: the caller's promise: a live `F`, never used again.
    unsafe { std::ptr::drop_in_place(block.cast::<F>().as_ptr()) };
}

/// A block fit for an `F` (a dangling, aligned pointer for a zero-sized
/// one, which needs no memory).
fn block_for<F>() -> NonNull<u8> {
    if size_of::<F>() == 0 {
        NonNull::<F>::dangling().cast()
    } else {
        blocks::alloc(Layout::new::<F>())
    }
}

impl<'a, T> LocalBoxFuture<'a, T> {
    /// Puts `future` in a block of its own.
    pub fn new<F: Future<Output = T> + 'a>(future: F) -> LocalBoxFuture<'a, T> {
        let block = block_for::<F>();
        // SAFETY: the block is fit for an `F` (its layout, or dangling and
        // aligned for a zero-sized `F`) and holds nothing yet.
        unsafe { block.cast::<F>().as_ptr().write(future) };
        LocalBoxFuture {
            block,
            poll: poll_in::<F>,
            drop: drop_in::<F>,
            _marker: PhantomData,
        }
    }
}

impl<T> Future for LocalBoxFuture<'_, T> {
    type Output = T;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: `block` holds the live future `new` wrote, of the type
        // `poll` was made for; it is never moved (only this pointer
        // moves), and `&mut self` makes this the only use.
        unsafe { (self.poll)(self.block, cx) }
    }
}

impl<T> Drop for LocalBoxFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the future `new` wrote, of the type `drop` was made for, still live
        // (dropped only here), in the block `new` took for it.
        unsafe { (self.drop)(self.block) }
    }
}

impl<T> Unpin for LocalBoxFuture<'_, T> {}

/// An already boxed future (`Box::pin(fut).into()`, a `dyn Future` or
/// not), kept in its `Box`: the block holds the box's pointer, not a second
/// copy of the future.
impl<'a, F: Future + ?Sized + 'a> From<Pin<Box<F>>> for LocalBoxFuture<'a, F::Output> {
    fn from(boxed: Pin<Box<F>>) -> LocalBoxFuture<'a, F::Output> {
        LocalBoxFuture::new(boxed)
    }
}

impl<T> std::fmt::Debug for LocalBoxFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalBoxFuture")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::Waker;

    /// Counts its polls and its drop; ready on the `ready_at`th poll.
    struct Counted {
        polls: Rc<Cell<u32>>,
        drops: Rc<Cell<u32>>,
        ready_at: u32,
        payload: [u64; 4],
    }

    impl Future for Counted {
        type Output = u64;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u64> {
            self.polls.set(self.polls.get() + 1);
            if self.polls.get() >= self.ready_at {
                Poll::Ready(self.payload.iter().sum())
            } else {
                Poll::Pending
            }
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    fn counted(ready_at: u32) -> (Counted, Rc<Cell<u32>>, Rc<Cell<u32>>) {
        let (polls, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let f = Counted {
            polls: polls.clone(),
            drops: drops.clone(),
            ready_at,
            payload: [1, 2, 3, 4],
        };
        (f, polls, drops)
    }

    fn poll<T>(f: &mut LocalBoxFuture<'_, T>) -> Poll<T> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn polls_to_the_end_and_drops_once() {
        let (f, polls, drops) = counted(3);
        let mut boxed = LocalBoxFuture::new(f);
        assert_eq!(poll(&mut boxed), Poll::Pending);
        assert_eq!(poll(&mut boxed), Poll::Pending);
        assert_eq!(poll(&mut boxed), Poll::Ready(10));
        assert_eq!((polls.get(), drops.get()), (3, 0));
        drop(boxed);
        assert_eq!((polls.get(), drops.get()), (3, 1));
    }

    #[test]
    fn dropped_halfway_or_never_polled_drops_its_future() {
        let (f, polls, drops) = counted(5);
        let mut boxed = LocalBoxFuture::new(f);
        assert_eq!(poll(&mut boxed), Poll::Pending);
        drop(boxed);
        assert_eq!((polls.get(), drops.get()), (1, 1));
        let (f, polls, drops) = counted(1);
        drop(LocalBoxFuture::new(f));
        assert_eq!((polls.get(), drops.get()), (0, 1));
    }

    #[test]
    fn zero_sized_and_over_aligned_futures() {
        let mut zst = LocalBoxFuture::new(std::future::ready(()));
        assert_eq!(poll(&mut zst), Poll::Ready(()));
        #[repr(align(64))]
        struct Aligned(u8);
        let mut aligned = LocalBoxFuture::new(async {
            let a = Aligned(7);
            let p = &a as *const Aligned as usize;
            std::future::ready(()).await;
            assert_eq!(p % 64, 0);
            a.0
        });
        assert_eq!(poll(&mut aligned), Poll::Ready(7));
        // Larger than any cached class: the global allocator's.
        let big = [5u8; 4096];
        let mut large = LocalBoxFuture::new(async move { big.iter().map(|&b| usize::from(b)).sum::<usize>() });
        assert_eq!(poll(&mut large), Poll::Ready(5 * 4096));
    }

    #[test]
    fn a_panicking_destructor_still_gives_the_block_back() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let bomb = Bomb;
        let boxed = LocalBoxFuture::new(async move {
            let _b = &bomb;
            std::future::pending::<()>().await
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(boxed)));
        assert!(r.is_err());
    }

    #[test]
    fn blocks_are_reused_with_a_loop_on_the_thread() {
        blocks::loop_opened();
        let first = LocalBoxFuture::new(counted(1).0);
        let at = first.block;
        drop(first);
        let second = LocalBoxFuture::new(counted(1).0);
        assert_eq!(second.block, at, "the freed block came back");
        drop(second);
        blocks::loop_closed();
    }

    #[test]
    fn from_a_box() {
        let (f, polls, drops) = counted(2);
        let boxed: Pin<Box<dyn Future<Output = u64>>> = Box::pin(f);
        let mut local = LocalBoxFuture::from(boxed);
        assert_eq!(poll(&mut local), Poll::Pending);
        assert_eq!(poll(&mut local), Poll::Ready(10));
        drop(local);
        assert_eq!((polls.get(), drops.get()), (2, 1));
        let mut sized: LocalBoxFuture<'_, u32> = Box::pin(async { 7 }).into();
        assert_eq!(poll(&mut sized), Poll::Ready(7));
    }

    #[test]
    fn borrows_for_its_lifetime() {
        let text = String::from("borrowed");
        let mut boxed: LocalBoxFuture<'_, usize> = LocalBoxFuture::new(async { text.len() });
        assert_eq!(poll(&mut boxed), Poll::Ready(8));
    }
}
