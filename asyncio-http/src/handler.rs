//! [`Handler`]: async functions whose arguments are extractors, and the
//! type-erased [`Endpoint`] the router keeps of each.
//!
//! `Handler<Args>` is implemented for every `Fn(A1, …, An) -> impl Future`
//! (up to eight arguments) whose arguments are extractors: `A1 … An-1`
//! implement [`FromRequestParts`], `An` implements [`FromRequest`]. `Args`
//! is only there to keep the implementations apart (a function of two
//! arguments and one of three are different `Handler`s); a caller never
//! names it. The handler is called through an `Rc`, so the future it
//! returns may outlive the call without the function being `Clone`.

use std::future::{ready, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;

use crate::extract::{FromRequest, FromRequestParts};
use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// A boxed response future of the loop's thread: what a handler or
/// middleware returns once its arguments are bound. Made with
/// `HandlerFuture::new(future)`: an [`asyncio::task::LocalBoxFuture`],
/// which takes its block from the loop thread's cache of freed blocks
/// instead of the global allocator (`Box::pin(future).into()` works too,
/// at a `Box`'s cost).
pub type HandlerFuture = asyncio::task::LocalBoxFuture<'static, Response>;

/// A request handler: an async function (or closure) whose arguments are
/// extractors and whose output is [`IntoResponse`]. See the
/// [`extract`](crate::extract) module.
///
/// ```
/// use asyncio_http::extract::Path;
/// use asyncio_http::{Request, Router};
///
/// async fn plain(req: Request) -> String { req.path().to_owned() }
/// async fn typed(Path(id): Path<u32>) -> String { format!("{id}") }
/// async fn nothing() -> &'static str { "ok" }
///
/// let app = Router::new()
///     .get("/a", plain)
///     .get("/b/{id}", typed)
///     .get("/c", nothing)
///     .get("/d", |req: Request| async move { req.method().to_string() });
/// # drop(app);
/// ```
pub trait Handler<Args>: 'static {
    /// Makes the arguments from `req` and runs the handler; a rejected
    /// argument answers in the handler's place.
    fn call(self: Rc<Self>, req: Request) -> HandlerFuture;
}

impl<F, Fut, R> Handler<()> for F
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn call(self: Rc<Self>, _req: Request) -> HandlerFuture {
        HandlerFuture::new(Respond { fut: self() })
    }
}

pin_project_lite::pin_project! {
    /// A handler's future, its output turned into a response. A named
    /// future rather than `async { fut.await.into_response() }`: an async
    /// block moves the handler's future (the request inside it) once more,
    /// into its await slot, on the first poll.
    struct Respond<Fut> {
        #[pin]
        fut: Fut,
    }
}

impl<Fut: Future<Output = R>, R: IntoResponse> Future for Respond<Fut> {
    type Output = Response;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Response> {
        self.project().fut.poll(cx).map(IntoResponse::into_response)
    }
}

macro_rules! handler_for {
    ($($part:ident),* ; $last:ident) => {
        impl<F, Fut, R, $($part,)* $last> Handler<($($part,)* $last,)> for F
        where
            F: Fn($($part,)* $last) -> Fut + 'static,
            Fut: Future<Output = R> + 'static,
            R: IntoResponse,
            $($part: FromRequestParts + 'static,)*
            $last: FromRequest + 'static,
        {
            #[allow(non_snake_case, unused_mut)]
            fn call(self: Rc<Self>, mut req: Request) -> HandlerFuture {
                // First every extractor that answers at once; the first
                // that would wait sends this request down the async path,
                // with what was made so far.
                let mut now = true;
                $(
                    let $part: Option<$part> = if now {
                        match $part::from_request_parts_now(&mut req) {
                            Some(Ok(v)) => Some(v),
                            Some(Err(rejection)) => return HandlerFuture::new(ready(rejection.into_response())),
                            None => {
                                now = false;
                                None
                            }
                        }
                    } else {
                        None
                    };
                )*
                if now {
                    match $last::from_request_now(req) {
                        Ok(Ok($last)) => {
                            return HandlerFuture::new(Respond { fut: self($($part.expect("made above"),)* $last) });
                        }
                        Ok(Err(rejection)) => return HandlerFuture::new(ready(rejection.into_response())),
                        Err(back) => req = back,
                    }
                }
                HandlerFuture::new(async move {
                    $(
                        let $part = match $part {
                            Some(v) => v,
                            None => match $part::from_request_parts(&mut req).await {
                                Ok(v) => v,
                                Err(rejection) => return rejection.into_response(),
                            },
                        };
                    )*
                    let $last = match $last::from_request(req).await {
                        Ok(v) => v,
                        Err(rejection) => return rejection.into_response(),
                    };
                    self($($part,)* $last).await.into_response()
                })
            }
        }
    };
}

handler_for!(; T1);
handler_for!(T1; T2);
handler_for!(T1, T2; T3);
handler_for!(T1, T2, T3; T4);
handler_for!(T1, T2, T3, T4; T5);
handler_for!(T1, T2, T3, T4, T5; T6);
handler_for!(T1, T2, T3, T4, T5, T6; T7);
handler_for!(T1, T2, T3, T4, T5, T6, T7; T8);

/// A handler with its argument types forgotten, as the router keeps it
/// (and as a middleware's [`Next`](crate::middleware::Next) holds the rest
/// of the chain).
pub(crate) trait Endpoint: 'static {
    fn serve(&self, req: Request) -> HandlerFuture;
}

struct Erased<H, Args> {
    handler: Rc<H>,
    _args: PhantomData<fn() -> Args>,
}

impl<H: Handler<Args>, Args: 'static> Endpoint for Erased<H, Args> {
    #[inline]
    fn serve(&self, req: Request) -> HandlerFuture {
        self.handler.clone().call(req)
    }
}

/// The endpoint that runs `handler`.
pub(crate) fn endpoint<H: Handler<Args>, Args: 'static>(handler: H) -> Rc<dyn Endpoint> {
    Rc::new(Erased {
        handler: Rc::new(handler),
        _args: PhantomData,
    })
}
