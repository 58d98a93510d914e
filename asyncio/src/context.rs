//! Context variables, as Python's `contextvars`: values that follow the
//! flow of a request through tasks, callbacks and `to_thread` jobs without
//! being passed along by hand.
//!
//! A [`ContextVar`] is declared once, usually as a `static`; each task sees
//! its own value of it:
//!
//! ```
//! use asyncio::ContextVar;
//!
//! static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
//!
//! async fn log(msg: &str) {
//!     println!("[request {:?}] {msg}", REQUEST_ID.get());
//! }
//!
//! asyncio::run(async {
//!     let handlers: Vec<_> = (1..=3)
//!         .map(|id| {
//!             asyncio::create_task(async move {
//!                 REQUEST_ID.set(id);
//!                 log("started").await;
//!                 asyncio::sleep(std::time::Duration::from_millis(1)).await;
//!                 // Still this task's id, whatever ran meanwhile.
//!                 assert_eq!(REQUEST_ID.get(), Some(id));
//!             })
//!         })
//!         .collect();
//!     for h in handlers {
//!         h.await.unwrap();
//!     }
//!     assert_eq!(REQUEST_ID.get(), None, "the children's values stay theirs");
//! });
//! ```
//!
//! # Where a context goes
//!
//! As in asyncio:
//! - a task starts with a copy of its creator's context
//!   ([`create_task`](crate::create_task), [`Builder`](crate::task::Builder),
//!   [`TaskGroup`](crate::TaskGroup) children): it sees the values set
//!   before it was created, and what it sets is seen by no one else (its
//!   own children created afterwards excepted);
//! - [`call_soon`](crate::EventLoop::call_soon),
//!   [`call_later`](crate::EventLoop::call_later),
//!   [`call_at`](crate::EventLoop::call_at) and
//!   [`call_soon_threadsafe`](crate::LoopHandle::call_soon_threadsafe)
//!   run their callback in a copy of the context they were called from;
//! - [`to_thread`](crate::to_thread) runs its closure in a copy of the
//!   caller's context (as `asyncio.to_thread`; `run_in_executor` does not,
//!   as in asyncio);
//! - [`Context::run`] runs a closure in a given context.
//!
//! Futures polled inside one task ([`gather!`](crate::gather!),
//! [`wait`](crate::wait), a plain `join`) share that task's context: a
//! value one of them sets is seen by the others (asyncio's `gather` wraps
//! each coroutine in a task of its own, and so a copy).
//!
//! # Cost
//!
//! A copy is a reference count: the values live in an immutable map that
//! `set` copies on write (in place when nothing else holds it; contexts
//! hold a few variables, so the map is a small sorted vector). A task
//! created in an empty context stores nothing; one created in a non-empty
//! context holds a reference to its creator's map, until its first `set`.
//! The loop does nothing per poll for contexts. The values are
//! `Send + Sync` because contexts cross threads with `to_thread`.
//!
//! A cancelled task's future is dropped in the task's context, so
//! destructors see the values its code saw.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::runtime::ctxvars::{self, Ctx, Value};

/// A context variable, as Python's `contextvars.ContextVar`: each task
/// (each [`Context`]) holds its own value of it. See the
/// [module docs](self).
///
/// Declare it once, usually as a `static` ([`new`](ContextVar::new) and
/// [`with_default`](ContextVar::with_default) are `const`).
///
/// ```
/// use asyncio::ContextVar;
///
/// static USER: ContextVar<String> = ContextVar::new("user");
/// static RETRIES: ContextVar<u32> = ContextVar::with_default("retries", 3);
///
/// assert_eq!(USER.get(), None);
/// assert_eq!(RETRIES.get(), Some(3));
/// let token = USER.set("alice".to_owned());
/// assert_eq!(USER.get().as_deref(), Some("alice"));
/// USER.reset(token).unwrap();
/// assert_eq!(USER.get(), None);
/// ```
pub struct ContextVar<T> {
    name: &'static str,
    default: Option<T>,
    /// 0 until first used; then unique in the process.
    id: AtomicU64,
}

impl<T> ContextVar<T> {
    /// A variable without a default: [`get`](ContextVar::get) is `None`
    /// until it is set.
    pub const fn new(name: &'static str) -> Self {
        ContextVar {
            name,
            default: None,
            id: AtomicU64::new(0),
        }
    }

    /// A variable whose [`get`](ContextVar::get) is `default` where it was
    /// not set (`ContextVar(name, default=...)`).
    pub const fn with_default(name: &'static str, default: T) -> Self {
        ContextVar {
            name,
            default: Some(default),
            id: AtomicU64::new(0),
        }
    }

    /// The variable's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn id(&self) -> u64 {
        match self.id.load(Ordering::Relaxed) {
            0 => {
                let new = ctxvars::new_var_id();
                match self.id.compare_exchange(0, new, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => new,
                    Err(won) => won,
                }
            }
            id => id,
        }
    }
}

impl<T: Clone + Send + Sync + 'static> ContextVar<T> {
    /// The value in the current context, else the default, else `None`
    /// (Python's `get()` raises `LookupError` there).
    pub fn get(&self) -> Option<T> {
        match ctxvars::lookup(self.id()) {
            Some(v) => Some(downcast::<T>(&v).clone()),
            None => self.default.clone(),
        }
    }

    /// Sets the value in the current context; the [`Token`] lets
    /// [`reset`](ContextVar::reset) restore the previous one.
    pub fn set(&self, value: T) -> Token<T> {
        let (old, ctx) = ctxvars::write(self.id(), Some(Arc::new(value)));
        Token {
            var: self.id(),
            name: self.name,
            ctx,
            old,
            _type: PhantomData,
        }
    }

    /// Restores the value the variable had before the [`set`](ContextVar::set)
    /// that made `token` (unsetting it if it had none).
    ///
    /// Taking the token by value makes a second reset with the same token a
    /// compile error (Python raises `RuntimeError` at run time).
    ///
    /// # Errors
    /// [`ResetError::OtherVar`] if `token` was made by another variable,
    /// [`ResetError::OtherContext`] if it was made in another context (a
    /// different task, callback or [`Context`]); the variable is unchanged.
    pub fn reset(&self, token: Token<T>) -> Result<(), ResetError> {
        if token.var != self.id() {
            return Err(ResetError::OtherVar {
                token_var: token.name,
                var: self.name,
            });
        }
        if token.ctx != ctxvars::identity() {
            return Err(ResetError::OtherContext { var: self.name });
        }
        let (replaced, _) = ctxvars::write(token.var, token.old);
        drop(replaced);
        Ok(())
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ContextVar name={:?}>", self.name)
    }
}

fn downcast<T: 'static>(v: &Value) -> &T {
    let any: &(dyn Any + Send + Sync) = &**v;
    any.downcast_ref::<T>()
        .expect("a context variable's value has the variable's type")
}

/// What [`ContextVar::set`] returns: the previous value, for
/// [`ContextVar::reset`]. Dropping it is fine (most `set`s are never
/// reset).
pub struct Token<T> {
    var: u64,
    name: &'static str,
    ctx: u64,
    old: Option<Value>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Clone + 'static> Token<T> {
    /// The value the variable had before the `set` (`Token.old_value`;
    /// `None` for Python's `Token.MISSING`).
    pub fn old_value(&self) -> Option<T> {
        self.old.as_ref().map(|v| downcast::<T>(v).clone())
    }
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Token var={:?}>", self.name)
    }
}

/// Why [`ContextVar::reset`] refused a token (asyncio raises `ValueError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetError {
    /// The token was made by another variable.
    OtherVar {
        /// The variable that made the token.
        token_var: &'static str,
        /// The variable asked to reset.
        var: &'static str,
    },
    /// The token was made in another context.
    OtherContext {
        /// The variable asked to reset.
        var: &'static str,
    },
}

impl fmt::Display for ResetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResetError::OtherVar { token_var, var } => {
                write!(
                    f,
                    "cannot reset {var:?} with a token made by another ContextVar ({token_var:?})"
                )
            }
            ResetError::OtherContext { var } => {
                write!(f, "cannot reset {var:?}: the token was made in a different Context")
            }
        }
    }
}

impl std::error::Error for ResetError {}

/// A context: a set of context variables' values (Python's
/// `contextvars.Context`). Made by [`copy_context`]; `Send`, so it can
/// travel to another thread.
///
/// Cloning makes a copy with its own identity (`Context.copy()`): tokens
/// made in one are refused by the other.
pub struct Context {
    ctx: Ctx,
}

impl Context {
    /// An empty context (`contextvars.Context()`).
    pub fn new() -> Self {
        Context { ctx: Ctx::new(None) }
    }

    /// Runs `f` in this context (`Context.run`): inside, variables read
    /// and write this context's values, and what `f` sets stays here for
    /// the next `run`. The caller's context is back when `f` returns or
    /// panics.
    ///
    /// Tasks created inside `f` start with a copy of this context. A
    /// context can be run by one caller at a time: `&mut self` makes
    /// Python's "already entered" `RuntimeError` a compile error.
    ///
    /// ```
    /// use asyncio::{copy_context, ContextVar};
    ///
    /// static LEVEL: ContextVar<u8> = ContextVar::with_default("level", 0);
    ///
    /// let mut ctx = copy_context();
    /// ctx.run(|| LEVEL.set(2));
    /// assert_eq!(LEVEL.get(), Some(0), "the caller's context is unchanged");
    /// assert_eq!(ctx.run(|| LEVEL.get()), Some(2));
    /// assert_eq!(ctx.get(&LEVEL), Some(2));
    /// ```
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        ctxvars::run_in(&mut self.ctx, f)
    }

    /// The value `var` has in this context (without its default).
    pub fn get<T: Clone + Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<T> {
        self.ctx.lookup(var.id()).map(|v| downcast::<T>(&v).clone())
    }

    /// Whether `var` has a value in this context (`var in ctx`).
    pub fn contains<T>(&self, var: &ContextVar<T>) -> bool {
        self.ctx.lookup(var.id()).is_some()
    }

    /// How many variables have a value in this context.
    pub fn len(&self) -> usize {
        self.ctx.map().map_or(0, |m| m.len())
    }

    /// True if no variable has a value in this context.
    pub fn is_empty(&self) -> bool {
        self.ctx.map().is_none()
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Clone for Context {
    fn clone(&self) -> Self {
        Context {
            ctx: Ctx::new(self.ctx.map().cloned()),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Context with {} variable(s)>", self.len())
    }
}

/// A copy of the current context (`contextvars.copy_context()`): what a
/// task created now would start with.
pub fn copy_context() -> Context {
    Context {
        ctx: Ctx::new(ctxvars::snapshot()),
    }
}

/// `f`, made to run in a copy of the current context: `f` itself when the
/// context is empty (and the caller a task or a callback, whose empty
/// context the loop recreates), else a closure entering it. For the loop's
/// callbacks.
pub(crate) fn bind<F: FnOnce() + 'static>(f: F) -> Box<dyn FnOnce()> {
    match non_empty_copy() {
        None => Box::new(f),
        Some(mut ctx) => Box::new(move || ctx.run(f)),
    }
}

/// [`bind`] for closures sent from another thread.
pub(crate) fn bind_send<F: FnOnce() + Send + 'static>(f: F) -> Box<dyn FnOnce() + Send> {
    match non_empty_copy() {
        None => Box::new(f),
        Some(mut ctx) => Box::new(move || ctx.run(f)),
    }
}

/// A copy of the current context, or `None` when it is empty.
pub(crate) fn non_empty_copy() -> Option<Context> {
    ctxvars::snapshot().map(|map| Context {
        ctx: Ctx::new(Some(map)),
    })
}
