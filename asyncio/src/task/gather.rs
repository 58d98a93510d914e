//! [`gather!`](crate::gather!), [`try_gather!`](crate::try_gather!),
//! [`gather()`] and [`try_gather()`]: await many futures concurrently.
//!
//! Like `asyncio.gather`, outputs come back in argument order whatever the
//! completion order. Tasks and plain futures are both accepted: a plain
//! future runs inside the gather (no task is spawned, so it may borrow), a
//! [`Task`](crate::Task) was already running and is only awaited.
//!
//! | asyncio | here |
//! |---|---|
//! | `await gather(a, b, c)` (mixed types) | `gather!(a, b, c).await` → tuple |
//! | `await gather(*coros)` | `gather(coros).await` → `Vec` |
//! | `return_exceptions=True` | the default: `Result` outputs are all returned |
//! | `return_exceptions=False` | `try_gather!` / `try_gather`: first `Err` returns, the rest are dropped |

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::runtime::future_set::FutureSet;

pin_project! {
    /// A future and, once it finished, its output.
    #[doc(hidden)]
    #[project = MaybeDoneProj]
    #[project_replace = MaybeDoneReplace]
    pub enum MaybeDone<F: Future> {
        Running { #[pin] fut: F },
        Done { out: F::Output },
        Taken,
    }
}

impl<F: Future> MaybeDone<F> {
    fn new(fut: F) -> Self {
        MaybeDone::Running { fut }
    }

    /// Polls if still running; true once the output is stored.
    fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let out = match self.as_mut().project() {
            MaybeDoneProj::Running { fut } => match fut.poll(cx) {
                Poll::Ready(out) => out,
                Poll::Pending => return false,
            },
            MaybeDoneProj::Done { .. } => return true,
            MaybeDoneProj::Taken => panic!("gather polled after completion"),
        };
        self.project_replace(MaybeDone::Done { out });
        true
    }

    fn take(self: Pin<&mut Self>) -> F::Output {
        match self.project_replace(MaybeDone::Taken) {
            MaybeDoneReplace::Done { out } => out,
            _ => unreachable!("take before done"),
        }
    }

    /// Drops the future (or output) now.
    fn clear(self: Pin<&mut Self>) {
        self.project_replace(MaybeDone::Taken);
    }
}

/// A future whose output is a `Result`; lets `try_gather!` name the `Ok` and
/// `Err` types of each argument. Implemented for every such future.
///
/// ```
/// fn ok_type<F: asyncio::task::TryFuture<Ok = u8>>(_: F) {}
/// ok_type(async { Ok::<u8, String>(1) });
/// ```
pub trait TryFuture: Future<Output = Result<Self::Ok, Self::Error>> {
    /// The success type.
    type Ok;
    /// The error type.
    type Error;
}

impl<F, T, E> TryFuture for F
where
    F: Future<Output = Result<T, E>>,
{
    type Ok = T;
    type Error = E;
}

/// Tuples of futures that [`gather!`](crate::gather!) can await together.
#[doc(hidden)]
pub trait GatherTuple {
    type Future: Future;
    fn into_gather(self) -> Self::Future;
}

/// Tuples of `Result` futures that [`try_gather!`](crate::try_gather!) can
/// await together.
#[doc(hidden)]
pub trait TryGatherTuple {
    type Future: Future;
    fn into_try_gather(self) -> Self::Future;
}

macro_rules! impl_gather {
    ($gather:ident, $try_gather:ident; $($F:ident $f:ident),+) => {
        pin_project! {
            #[doc(hidden)]
            #[must_use = "futures do nothing unless awaited"]
            pub struct $gather<$($F: Future),+> {
                $(#[pin] $f: MaybeDone<$F>,)+
            }
        }

        impl<$($F: Future),+> Future for $gather<$($F),+> {
            type Output = ($($F::Output,)+);

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let mut this = self.project();
                let mut all = true;
                $(all &= this.$f.as_mut().poll_done(cx);)+
                if !all {
                    return Poll::Pending;
                }
                Poll::Ready(($(this.$f.as_mut().take(),)+))
            }
        }

        impl<$($F: Future),+> GatherTuple for ($($F,)+) {
            type Future = $gather<$($F),+>;
            fn into_gather(self) -> Self::Future {
                let ($($f,)+) = self;
                $gather { $($f: MaybeDone::new($f),)+ }
            }
        }

        pin_project! {
            #[doc(hidden)]
            #[must_use = "futures do nothing unless awaited"]
            pub struct $try_gather<$($F: Future),+> {
                $(#[pin] $f: MaybeDone<$F>,)+
            }
        }

        impl<Err, $($F: TryFuture<Error = Err>),+> Future for $try_gather<$($F),+> {
            type Output = Result<($($F::Ok,)+), Err>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let mut this = self.project();
                let mut all = true;
                let mut failed = None;
                $(
                    if failed.is_none() {
                        if this.$f.as_mut().poll_done(cx) {
                            if let MaybeDoneProj::Done { out: Err(_) } = this.$f.as_mut().project() {
                                failed = match this.$f.as_mut().take() {
                                    Err(e) => Some(e),
                                    Ok(_) => unreachable!(),
                                };
                            }
                        } else {
                            all = false;
                        }
                    }
                )+
                if let Some(err) = failed {
                    // Fail fast: drop every other future now.
                    $(this.$f.as_mut().clear();)+
                    return Poll::Ready(Err(err));
                }
                if !all {
                    return Poll::Pending;
                }
                Poll::Ready(Ok(($(
                    match this.$f.as_mut().take() {
                        Ok(v) => v,
                        Err(_) => unreachable!("errors return early"),
                    },
                )+)))
            }
        }

        impl<Err, $($F: TryFuture<Error = Err>),+> TryGatherTuple for ($($F,)+) {
            type Future = $try_gather<$($F),+>;
            fn into_try_gather(self) -> Self::Future {
                let ($($f,)+) = self;
                $try_gather { $($f: MaybeDone::new($f),)+ }
            }
        }
    };
}

impl_gather!(Gather1, TryGather1; A a);
impl_gather!(Gather2, TryGather2; A a, B b);
impl_gather!(Gather3, TryGather3; A a, B b, C c);
impl_gather!(Gather4, TryGather4; A a, B b, C c, D d);
impl_gather!(Gather5, TryGather5; A a, B b, C c, D d, E e);
impl_gather!(Gather6, TryGather6; A a, B b, C c, D d, E e, F f);
impl_gather!(Gather7, TryGather7; A a, B b, C c, D d, E e, F f, G g);
impl_gather!(Gather8, TryGather8; A a, B b, C c, D d, E e, F f, G g, H h);
impl_gather!(Gather9, TryGather9; A a, B b, C c, D d, E e, F f, G g, H h, I i);
impl_gather!(Gather10, TryGather10; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j);
impl_gather!(Gather11, TryGather11; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k);
impl_gather!(Gather12, TryGather12; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l);

/// Awaits up to twelve futures of different types concurrently and returns
/// their outputs as a tuple, in argument order (`await asyncio.gather(a, b)`).
///
/// `Result` outputs are returned as they are, errors included (asyncio's
/// `return_exceptions=True`); see [`try_gather!`](crate::try_gather!) to stop
/// at the first error. Plain futures run inside the gather, so they may
/// borrow; [`Task`](crate::Task)s were already running and are awaited.
///
/// # Cancel safety
/// Dropping the gather drops every future in it (a `Task` is detached, not
/// cancelled, as when any `Task` handle is dropped).
///
/// ```
/// use std::time::Duration;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let start = asyncio::time::Instant::now();
///     let (a, b, c) = asyncio::gather!(
///         async { asyncio::sleep(Duration::from_secs(2)).await; "two" },
///         async { asyncio::sleep(Duration::from_secs(1)).await; 1 },
///         asyncio::create_task(async { 3.0 }),
///     )
///     .await;
///     assert_eq!((a, b, c.unwrap()), ("two", 1, 3.0));
///     assert_eq!(start.elapsed(), Duration::from_secs(2));
/// });
/// ```
#[macro_export]
macro_rules! gather {
    ($($fut:expr),+ $(,)?) => {
        $crate::task::GatherTuple::into_gather(($($fut,)+))
    };
}

/// Awaits up to twelve `Result` futures concurrently; the first `Err` is
/// returned at once and the other futures are dropped (asyncio's
/// `gather(..., return_exceptions=False)`, except that plain futures do not
/// keep running; a [`Task`](crate::Task) argument is detached, as any dropped
/// handle, and keeps running).
/// All `Ok`: the tuple of values, in argument order.
///
/// # Cancel safety
/// Dropping it drops every future in it.
///
/// ```
/// asyncio::run(async {
///     let ok: Result<(u8, &str), String> = asyncio::try_gather!(async { Ok(1) }, async { Ok("b") }).await;
///     assert_eq!(ok, Ok((1, "b")));
///     let err: Result<(u8, u8), String> =
///         asyncio::try_gather!(async { Ok(1) }, async { Err("no".to_string()) }).await;
///     assert_eq!(err, Err("no".to_string()));
/// });
/// ```
#[macro_export]
macro_rules! try_gather {
    ($($fut:expr),+ $(,)?) => {
        $crate::task::TryGatherTuple::into_try_gather(($($fut,)+))
    };
}

/// Awaits every future of `futures` concurrently and returns the outputs in
/// input order (`await asyncio.gather(*aws)`).
///
/// Futures that finish together cost what a plain join-all costs, or less:
/// the gather polls every unfinished future, with the waker it was polled
/// with, whenever it is polled, and when all are ready at the first poll
/// their outputs are written straight into the returned vector, which
/// reuses the futures' own allocation (so it may have spare capacity, at
/// most its length again, as a `Vec` collected in place from a larger one
/// may).
/// Once a pass finishes fewer than an eighth of them (over eight), each
/// future gets a waker of its own and only woken ones are polled: a gather
/// of 100,000 futures finishing one by one does not re-poll them all
/// whenever one wakes.
///
/// # Cancel safety
/// Dropping the gather drops every future still in it.
///
/// ```
/// use std::time::Duration;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let tasks: Vec<_> = (1..=3u64)
///         .map(|i| asyncio::create_task(async move {
///             asyncio::sleep(Duration::from_secs(4 - i)).await;
///             i
///         }))
///         .collect();
///     let results = asyncio::gather(tasks).await;
///     let values: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
///     assert_eq!(values, [1, 2, 3]);
/// });
/// ```
pub fn gather<I>(futures: I) -> Gather<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    Gather {
        set: FutureSet::new(futures),
    }
}

/// The future of [`gather()`].
///
/// ```
/// asyncio::run(async {
///     let g: asyncio::task::Gather<_> = asyncio::gather([std::future::ready(1), std::future::ready(2)]);
///     assert_eq!(g.await, [1, 2]);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    set: FutureSet<F>,
}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.set.poll_all(cx) {
            Poll::Ready(()) => Poll::Ready(this.set.take_outputs()),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Awaits `Result` futures concurrently: all `Ok` gives the values in input
/// order; the first `Err` is returned at once and every other future is
/// dropped before this returns.
///
/// # Cancel safety
/// Dropping it drops every future still in it.
///
/// ```
/// asyncio::run(async {
///     let all: Result<Vec<u32>, String> = asyncio::try_gather((1..=3).map(|i| async move { Ok(i) })).await;
///     assert_eq!(all, Ok(vec![1, 2, 3]));
///     let first_err: Result<Vec<u32>, String> = asyncio::try_gather((1..=3).map(|i| async move {
///         if i == 2 { Err(format!("job {i} failed")) } else { Ok(i) }
///     }))
///     .await;
///     assert_eq!(first_err, Err("job 2 failed".to_string()));
/// });
/// ```
pub fn try_gather<I, T, E>(futures: I) -> TryGather<I::Item>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    let set = FutureSet::new(futures);
    let outputs = (0..set.len()).map(|_| None).collect();
    TryGather {
        set: Some(set),
        outputs,
    }
}

/// The future of [`try_gather()`].
///
/// ```
/// asyncio::run(async {
///     let g: asyncio::task::TryGather<_> = asyncio::try_gather([std::future::ready(Ok::<u8, ()>(1))]);
///     assert_eq!(g.await, Ok(vec![1]));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct TryGather<F: TryFuture> {
    set: Option<FutureSet<F>>,
    outputs: Vec<Option<F::Ok>>,
}

// As for `Gather`: nothing in it is pinned in place.
impl<F: TryFuture> Unpin for TryGather<F> {}

impl<F: TryFuture> Future for TryGather<F> {
    type Output = Result<Vec<F::Ok>, F::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let set = this.set.as_mut().expect("try_gather polled after completion");
        loop {
            match set.poll_next(cx) {
                Poll::Ready(Some((i, Ok(v)))) => this.outputs[i] = Some(v),
                Poll::Ready(Some((_, Err(e)))) => {
                    this.set = None; // drop the rest now
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(None) => {
                    this.set = None;
                    let outputs = std::mem::take(&mut this.outputs);
                    return Poll::Ready(Ok(outputs
                        .into_iter()
                        .map(|o| o.expect("every future completed"))
                        .collect()));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
