//! [`join_all`]: a runtime-neutral in-place join of many futures, the peers'
//! stand-in for `asyncio::gather` (neither tokio nor smol has one), and
//! [`assert_in_order`], the check every join workload makes of its outputs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Awaits every future of `futures` concurrently, in place (no task is
/// spawned), and returns their outputs in input order: the peers' stand-in
/// for `asyncio::gather(iter)`, since neither tokio (only `join!`, for a
/// fixed number) nor smol (`futures_lite::future::zip`, for two) has a
/// join-all of its own. Runtime-neutral: tokio and smol run the same code.
///
/// Every still-running future is polled whenever the join is polled, all
/// with the join's own waker: `futures::future::join_all`'s "small" mode
/// (up to 30 futures; above that it switches to `FuturesOrdered`, one waker
/// per future). Two passes for futures that are pending once; O(n) per wake
/// in general, so O(n²) for children that finish one at a time.
///
/// The futures must be `Unpin` (this crate has no `unsafe` to pin them in
/// place, and boxing each would add an allocation the others don't make).
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future + Unpin,
{
    JoinAll {
        slots: futures.into_iter().map(JoinSlot::Running).collect(),
    }
}

enum JoinSlot<F: Future> {
    Running(F),
    Done(F::Output),
}

/// The future of [`join_all`].
#[must_use = "futures do nothing unless awaited"]
pub struct JoinAll<F: Future> {
    slots: Vec<JoinSlot<F>>,
}

// Nothing in it is pinned: the futures are `Unpin` and polled with `Pin::new`.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future + Unpin> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let mut all_done = true;
        for slot in self.slots.iter_mut() {
            if let JoinSlot::Running(f) = slot {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(out) => *slot = JoinSlot::Done(out),
                    Poll::Pending => all_done = false,
                }
            }
        }
        if !all_done {
            return Poll::Pending;
        }
        let outputs = std::mem::take(&mut self.slots)
            .into_iter()
            .map(|s| match s {
                JoinSlot::Done(out) => out,
                JoinSlot::Running(_) => unreachable!("every future is done"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}

/// Checks that `out` is `0, 1, .., n - 1`: a join returned every output, in
/// input order.
///
/// # Panics
/// If it is not.
pub fn assert_in_order(out: &[u64], n: usize) {
    assert_eq!(out.len(), n, "wrong number of outputs");
    assert!(
        out.iter().enumerate().all(|(i, &v)| v == i as u64),
        "outputs are not in input order"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::futures::{StaggerChain, YieldThen};
    use crate::runtime::{Asyncio, Runtime};

    #[test]
    fn join_all_keeps_input_order() {
        let out = futures_lite::future::block_on(join_all((0..100u64).map(YieldThen::new)));
        assert_in_order(&out, 100);
        let out = futures_lite::future::block_on(join_all((0..3u64).map(std::future::ready)));
        assert_in_order(&out, 3);
        let none: Vec<u64> = futures_lite::future::block_on(join_all(Vec::<std::future::Ready<u64>>::new()));
        assert!(none.is_empty());
    }

    #[test]
    fn staggered_children_finish_one_at_a_time() {
        let n = 200usize;
        // join_all: one child finishes per pass, every pass re-polls all the
        // unfinished ones.
        let chain = StaggerChain::new(n);
        let out = futures_lite::future::block_on(join_all(chain.children()));
        assert_in_order(&out, n);
        assert_eq!(chain.finished(), n);
        let n64 = n as u64;
        assert!(chain.polls() >= n64 * (n64 - 1) / 2, "{} polls", chain.polls());
        // asyncio::gather: two passes over every child with the gather's own
        // waker (as join_all), then, seeing them finish one by one, a pass
        // that gives each its own waker; from then on only a woken child is
        // polled: five polls at most per child.
        let chain = StaggerChain::new(n);
        let out = Asyncio::new().block_on(asyncio::gather(chain.children()));
        assert_in_order(&out, n);
        assert_eq!(chain.finished(), n);
        assert!(chain.polls() <= 5 * n64, "{} polls", chain.polls());
    }
}
