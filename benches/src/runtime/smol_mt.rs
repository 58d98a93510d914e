//! The smol multi-threaded adapter: [`SmolMt`], async-executor's `Executor`
//! run by two threads, the calling thread only driving the root future
//! (`async_io::block_on`), with the functions every smol adapter has
//! (`smol_common`).

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::smol_common::smol_adapter;
use super::Runtime;
use crate::futures::Signal;

thread_local! {
    static SMOL_MT: RefCell<Option<Arc<async_executor::Executor<'static>>>> = const { RefCell::new(None) };
}

/// smol's multi-threaded `async_executor::Executor`, run by two threads; the
/// calling thread only drives the root future (`async_io::block_on`).
pub struct SmolMt {
    stops: Vec<Arc<Signal>>,
    threads: Vec<JoinHandle<()>>,
}

impl Runtime for SmolMt {
    const NAME: &'static str = "smol-mt(2)";

    fn new() -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        for i in 0..2 {
            let stop = Arc::new(Signal::new());
            let (ex, s) = (ex.clone(), stop.clone());
            let t = std::thread::Builder::new()
                .name(format!("smol-worker-{i}"))
                .spawn(move || {
                    SMOL_MT.with(|c| *c.borrow_mut() = Some(ex.clone()));
                    async_io::block_on(ex.run(s.wait()));
                    SMOL_MT.with(|c| c.borrow_mut().take());
                })
                .expect("spawn smol worker");
            stops.push(stop);
            threads.push(t);
        }
        SMOL_MT.with(|c| *c.borrow_mut() = Some(ex));
        SmolMt { stops, threads }
    }

    fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        async_io::block_on(future)
    }
}

impl Drop for SmolMt {
    fn drop(&mut self) {
        for s in &self.stops {
            s.notify();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        SMOL_MT.with(|c| c.borrow_mut().take());
    }
}

smol_adapter!(SmolMt, SMOL_MT, "no smol Executor on this thread", [+ Send]);
