//! A per-thread cache of freed task-cell blocks, in front of the global
//! allocator.
//!
//! A loop that spawns many tasks at once (a hundred HTTP/2 streams in
//! flight, `gather` over thousands) outruns the system allocator's own
//! per-thread cache (glibc's tcache keeps 7 blocks of a size), and every
//! spawn and free past that takes its slower shared paths: about 300
//! instructions per task against 40 here (callgrind). Blocks are kept in
//! size classes of 8 bytes up to [`MAX_CACHED`] bytes, at most [`KEEP`] per
//! class, as a free list threaded through the blocks themselves; the rest
//! goes back to the global allocator as before.
//!
//! Only a thread with a loop keeps blocks, and only while the loop exists:
//! when its thread's last loop is dropped, the cache goes back to the
//! global allocator (so a finished `run` holds no memory for tasks gone).
//! A block freed on a thread without a loop (a waker holding the last
//! reference was dropped there) is freed at once. A block is always
//! allocated and freed with the layout of its class, so it can go back
//! through any path.

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::NonNull;

/// Size classes are multiples of this (and cached blocks aligned to it).
const GRAIN: usize = 8;
/// Larger cells go straight to the global allocator.
const MAX_CACHED: usize = 1024;
const CLASSES: usize = MAX_CACHED / GRAIN;
/// Most free blocks kept per class and thread.
const KEEP: u32 = 256;

/// A free block's first word: the next free block of its class.
struct Free {
    next: Option<NonNull<Free>>,
}

struct Class {
    head: Cell<Option<NonNull<Free>>>,
    len: Cell<u32>,
}

struct Cache {
    classes: [Class; CLASSES],
    /// Loops alive on this thread: blocks are kept only while there is one.
    loops: Cell<u32>,
}

impl Cache {
    /// Gives every kept block back to the global allocator.
    fn release(&self) {
        for (i, class) in self.classes.iter().enumerate() {
            let mut next = class.head.take();
            while let Some(block) = next {
                // SAFETY: every block on the list is a free block of this
                // class, allocated with `class_layout(i)`, owned by the list
                // alone; its first word (written when it was freed) links
                // the next one.
                unsafe {
                    next = block.as_ref().next;
                    std::alloc::dealloc(block.as_ptr().cast(), class_layout(i));
                }
            }
            class.len.set(0);
        }
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.release();
    }
}

/// A loop was made on this thread: freed cells are kept from now on.
pub(crate) fn loop_opened() {
    let _ = CACHE.try_with(|cache| cache.loops.set(cache.loops.get() + 1));
}

/// A loop of this thread was dropped: with no loop left, the kept blocks
/// go back to the global allocator.
pub(crate) fn loop_closed() {
    let _ = CACHE.try_with(|cache| {
        let loops = cache.loops.get().saturating_sub(1);
        cache.loops.set(loops);
        if loops == 0 {
            cache.release();
        }
    });
}

thread_local! {
    static CACHE: Cache = const {
        Cache {
            classes: [const { Class { head: Cell::new(None), len: Cell::new(0) } }; CLASSES],
            loops: Cell::new(0),
        }
    };
}

/// The class of a block for `layout`, if blocks of its size are cached.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= GRAIN && layout.size() <= MAX_CACHED && layout.size() > 0)
        .then(|| layout.size().div_ceil(GRAIN) - 1)
}

/// The layout every block of class `class` is allocated and freed with.
#[inline]
fn class_layout(class: usize) -> Layout {
    // A free block holds a `Free`: every class is at least one word.
    const { assert!(size_of::<Free>() <= GRAIN && align_of::<Free>() <= GRAIN) };
    match Layout::from_size_align((class + 1) * GRAIN, GRAIN) {
        Ok(layout) => layout,
        Err(_) => unreachable!("size classes are small multiples of the grain"),
    }
}

/// A block fit for `layout` (non-zero size): a cached one if there is one.
#[inline]
pub(super) fn alloc(layout: Layout) -> NonNull<u8> {
    let (layout, class) = match class_of(layout) {
        Some(class) => (class_layout(class), Some(class)),
        None => (layout, None),
    };
    if let Some(class) = class {
        let cached = CACHE
            .try_with(|cache| {
                let class = &cache.classes[class];
                let block = class.head.get()?;
                // SAFETY: the head of the list is a free block that the
                // list owns; its first word links the next.
                class.head.set(unsafe { block.as_ref().next });
                class.len.set(class.len.get() - 1);
                Some(block.cast::<u8>())
            })
            .ok()
            .flatten();
        if let Some(block) = cached {
            return block;
        }
    }
    // SAFETY: `layout` has a non-zero size (the caller's promise; a class
    // layout is at least a grain).
    let ptr = unsafe { std::alloc::alloc(layout) };
    match NonNull::new(ptr) {
        Some(ptr) => ptr,
        None => std::alloc::handle_alloc_error(layout),
    }
}

/// Gives back a block from [`alloc`].
///
/// # Safety
/// `ptr` came from [`alloc`] with the same `layout`, and nothing uses it
/// any more (its contents have been dropped).
#[inline]
pub(super) unsafe fn dealloc(ptr: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: allocated by `alloc` with this very layout (no class).
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
        return;
    };
    let kept = CACHE
        .try_with(|cache| {
            let list = &cache.classes[class];
            if list.len.get() >= KEEP || cache.loops.get() == 0 {
                return false;
            }
            let block = ptr.cast::<Free>();
            // SAFETY: the block is ours (the caller's promise), at least a
            // grain large and aligned to it (`class_layout`): room for the
            // link, which the list then owns with the block.
            unsafe { block.as_ptr().write(Free { next: list.head.get() }) };
            list.head.set(Some(block));
            list.len.set(list.len.get() + 1);
            true
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: `alloc` gives a block of this class its class layout;
        // nothing uses it.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), class_layout(class)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps blocks on this thread for the guard's life, as a loop does.
    struct Loop;
    impl Loop {
        fn open() -> Loop {
            loop_opened();
            Loop
        }
    }
    impl Drop for Loop {
        fn drop(&mut self) {
            loop_closed();
        }
    }

    #[test]
    fn a_freed_block_is_given_again() {
        let _loop = Loop::open();
        let layout = Layout::from_size_align(200, 8).unwrap();
        let a = alloc(layout);
        // SAFETY: `a` is a fresh block of `layout`, unused.
        unsafe { dealloc(a, layout) };
        let b = alloc(Layout::from_size_align(196, 4).unwrap());
        assert_eq!(a, b, "same class: the cached block comes back");
        // SAFETY: as above (the class is the same, so is its layout).
        unsafe { dealloc(b, Layout::from_size_align(196, 4).unwrap()) };
    }

    #[test]
    fn large_and_over_aligned_blocks_are_not_cached() {
        for layout in [
            Layout::from_size_align(MAX_CACHED + 8, 8).unwrap(),
            Layout::from_size_align(64, 64).unwrap(),
        ] {
            assert_eq!(class_of(layout), None);
            let p = alloc(layout);
            assert_eq!(p.as_ptr() as usize % layout.align(), 0);
            // SAFETY: fresh, unused, same layout.
            unsafe { dealloc(p, layout) };
        }
    }

    #[test]
    fn at_most_keep_blocks_are_kept_per_class() {
        let guard = Loop::open();
        let layout = Layout::from_size_align(344, 8).unwrap();
        let class = class_of(layout).unwrap();
        let blocks: Vec<_> = (0..KEEP + 10).map(|_| alloc(layout)).collect();
        for b in blocks {
            // SAFETY: fresh, unused, same layout.
            unsafe { dealloc(b, layout) };
        }
        assert_eq!(CACHE.with(|c| c.classes[class].len.get()), KEEP);
        drop(guard);
        assert_eq!(
            CACHE.with(|c| c.classes[class].len.get()),
            0,
            "released with the last loop"
        );
    }

    #[test]
    fn without_a_loop_blocks_are_freed_at_once() {
        let layout = Layout::from_size_align(72, 8).unwrap();
        let class = class_of(layout).unwrap();
        let p = alloc(layout);
        // SAFETY: fresh, unused, same layout.
        unsafe { dealloc(p, layout) };
        assert_eq!(CACHE.with(|c| c.classes[class].len.get()), 0);
    }

    #[test]
    fn a_block_freed_on_another_thread_stays_usable() {
        let layout = Layout::from_size_align(120, 8).unwrap();
        let p = alloc(layout).as_ptr() as usize;
        std::thread::spawn(move || {
            let _loop = Loop::open();
            let p = NonNull::new(p as *mut u8).unwrap();
            // SAFETY: the block is unused, allocated with `layout`; it joins
            // this thread's cache, which frees it when the thread ends.
            unsafe { dealloc(p, layout) };
            let q = alloc(layout);
            assert_eq!(p, q);
            // SAFETY: as above.
            unsafe { dealloc(q, layout) };
        })
        .join()
        .unwrap();
    }
}
