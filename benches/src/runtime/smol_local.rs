//! The smol single-threaded adapter: [`SmolLocal`], async-executor's
//! `LocalExecutor` driven by `async_io::block_on(ex.run(..))` (what
//! `smol::block_on` is: the thread runs async-io's reactor and timers itself
//! while idle), with the functions every smol adapter has (`smol_common`) and
//! `spawn_blocking`.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use super::smol_common::smol_adapter;
use super::Runtime;

thread_local! {
    static SMOL_LOCAL: RefCell<Option<Rc<async_executor::LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

/// smol's single-threaded `async_executor::LocalExecutor`, driven by
/// `async_io::block_on(ex.run(..))`. Tasks reach the executor through a
/// thread-local, as tokio's and asyncio's `spawn` reach theirs.
pub struct SmolLocal {
    ex: Rc<async_executor::LocalExecutor<'static>>,
}

impl Runtime for SmolLocal {
    const NAME: &'static str = "smol-local";

    fn new() -> Self {
        let ex = Rc::new(async_executor::LocalExecutor::new());
        SMOL_LOCAL.with(|c| *c.borrow_mut() = Some(ex.clone()));
        SmolLocal { ex }
    }

    fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        async_io::block_on(self.ex.run(future))
    }
}

impl Drop for SmolLocal {
    fn drop(&mut self) {
        SMOL_LOCAL.with(|c| c.borrow_mut().take());
    }
}

smol_adapter!(SmolLocal, SMOL_LOCAL, "no smol LocalExecutor on this thread", []);

impl SmolLocal {
    /// `blocking::unblock` (what `smol::unblock` is): `f` on the process's
    /// global blocking pool.
    #[inline]
    pub fn spawn_blocking<F, T>(f: F) -> blocking::Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        blocking::unblock(f)
    }
}
