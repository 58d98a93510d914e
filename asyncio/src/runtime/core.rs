//! The loop core: the ready queue, the turn, task completion and close.
//!
//! # One turn
//!
//! 1. Run up to [`EVENT_INTERVAL`] entries from the FIFO ready queue (tasks
//!    and `call_soon` callbacks), including entries queued during the batch.
//! 2. Wait for I/O: not at all if entries are still ready, else until the
//!    nearest timer (forever if there is none). The wait goes through the
//!    remote queue's park handshake, so another thread can cut it short.
//! 3. Turn remote wakes and `call_soon_threadsafe` callbacks into local ones.
//! 4. Fire due timers.
//!
//! A `call_soon` also does step 3 first when something came from another
//! thread (one relaxed load otherwise): a `call_soon_threadsafe` made before
//! a `call_soon` runs before it, as in asyncio's single ready queue.
//!
//! Step 1's bound is the fairness guarantee: a task that only yields can
//! delay I/O, timers and remote wakes by at most 61 polls (the same interval
//! tokio uses). With a virtual clock, step 2 never sleeps while timers are
//! pending: if nothing is ready after a non-blocking I/O poll, the clock
//! jumps to the next timer (Trio's autojump).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use super::clock::{tick_ceil, Clock};
use super::context;
use super::ctxvars;
use super::debug::Debugger;
use super::pool::{PoolHandle, ThreadPool};
use super::reactor::{Driver, Reactor};
use super::remote::{Remote, SendTask, Shared};
use super::report;
use super::spin::{self, SpinPredictor};
use super::task::TaskId;
use super::task::{
    schedule_local, spawn_raw, waker_ref, ExtraSlot, JoinHandle, OwnedList, RawTask, CANCELLED, CANCEL_REQUESTED,
    COMPLETE, DETACHED, NOTIFIED, RUNNING, SCHEDULED,
};
use super::timer::{TimerAction, TimerKey, Wheel};

/// Ready-queue entries run between two looks at I/O, timers and remote wakes.
pub(crate) const EVENT_INTERVAL: usize = 61;

/// A `call_soon`/`call_later` callback, shared with its `Handle`.
pub(crate) struct CallbackCell {
    pub(crate) f: Cell<Option<Box<dyn FnOnce()>>>,
    pub(crate) timer: Cell<Option<TimerKey>>,
    pub(crate) cancelled: Cell<bool>,
    pub(crate) location: &'static Location<'static>,
}

impl CallbackCell {
    pub(crate) fn new(f: Box<dyn FnOnce()>, location: &'static Location<'static>) -> Rc<Self> {
        Rc::new(CallbackCell {
            f: Cell::new(Some(f)),
            timer: Cell::new(None),
            cancelled: Cell::new(false),
            location,
        })
    }
}

/// An entry of the ready queue. Task entries hold no reference (see
/// `runtime::task`).
pub(crate) enum Ready {
    Task(RawTask),
    Callback(Rc<CallbackCell>),
}

/// Task ids are process-wide and sequential, so names read `Task-1`,
/// `Task-2`, … as in asyncio, and stay unique across loops.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    loop_id: usize,
    this: Weak<Core>,
    ready: RefCell<VecDeque<Ready>>,
    tasks: RefCell<OwnedList>,
    timers: RefCell<Wheel<TimerAction>>,
    pub(crate) clock: Clock,
    pub(crate) reactor: Reactor,
    current: Cell<Option<RawTask>>,
    /// Tasks run their first poll inside `create_task` (asyncio's
    /// `eager_task_factory`) unless created with `eager(false)`.
    eager: Cell<bool>,
    pub(crate) debug: Cell<bool>,
    pub(crate) slow_callback: Cell<Duration>,
    /// Debug mode: stall reports carry the loop thread's backtrace.
    stall_backtraces: Cell<bool>,
    running: Cell<bool>,
    closed: Cell<bool>,
    /// Whether to spin before sleeping (see `spin.rs`).
    spin: SpinPredictor,
    remote_buf: RefCell<Vec<Remote>>,
    wake_buf: RefCell<Vec<Waker>>,
    timer_buf: RefCell<Vec<TimerAction>>,
    /// The thread pool `to_thread` uses, created at first use (asyncio's
    /// default executor; the facade's `ThreadPoolExecutor` wraps it).
    pub(crate) default_executor: RefCell<Option<PoolHandle<ThreadPool>>>,
    /// Debug mode's records and watchdog; `Some` exactly while `debug` is on.
    debugger: RefCell<Option<Rc<Debugger>>>,
}

impl Core {
    pub(crate) fn new(debug: bool, virtual_time: bool, driver: Driver) -> io::Result<Rc<Core>> {
        let (reactor, waker) = Reactor::new(driver)?;
        let shared = Shared::new(waker);
        static NEXT_LOOP_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let loop_id = NEXT_LOOP_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        context::register_loop(loop_id);
        crate::runtime::task::loop_opened();
        Ok(Rc::new_cyclic(|this| Core {
            shared,
            loop_id,
            this: this.clone(),
            ready: RefCell::new(VecDeque::with_capacity(64)),
            tasks: RefCell::new(OwnedList::default()),
            timers: RefCell::new(Wheel::default()),
            clock: Clock::new(virtual_time),
            reactor,
            current: Cell::new(None),
            eager: Cell::new(false),
            debug: Cell::new(debug),
            slow_callback: Cell::new(Duration::from_millis(100)),
            stall_backtraces: Cell::new(false),
            running: Cell::new(false),
            closed: Cell::new(false),
            spin: SpinPredictor::new(),
            remote_buf: RefCell::new(Vec::new()),
            wake_buf: RefCell::new(Vec::new()),
            timer_buf: RefCell::new(Vec::new()),
            default_executor: RefCell::new(None),
            debugger: RefCell::new(debug.then(|| Rc::new(Debugger::new(Duration::from_millis(100))))),
        }))
    }

    /// A strong reference to this core.
    pub(crate) fn rc(&self) -> Rc<Core> {
        self.this.upgrade().expect("event loop core is being dropped")
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    fn next_id(&self) -> TaskId {
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Ids start at 1; 2^64 spawns would take centuries.
        TaskId(std::num::NonZeroU64::new(id).expect("task ids exhausted"))
    }

    /// Whether tasks start eagerly by default.
    pub(crate) fn eager_tasks(&self) -> bool {
        self.eager.get()
    }

    /// Makes tasks start eagerly by default (or not).
    pub(crate) fn set_eager_tasks(&self, on: bool) {
        self.eager.set(on);
    }

    pub(crate) fn push_ready(&self, entry: Ready) {
        self.ready.borrow_mut().push_back(entry);
    }

    /// Queues a `call_soon` callback. What other threads sent before it
    /// (`call_soon_threadsafe`, remote wakes) is queued first, so the two
    /// kinds of callback run in the order they were made, as in asyncio,
    /// where both append to one ready queue. Costs one relaxed load when
    /// nothing came from elsewhere.
    pub(crate) fn push_soon(&self, entry: Ready) {
        if self.shared.queue.has_pending() {
            self.drain_remote();
        }
        self.push_ready(entry);
    }

    /// Creates a task in a copy of the current context and schedules its
    /// first poll, or, with `eager` while the loop runs, polls it once now
    /// (see [`run_eager`](Core::run_eager)).
    ///
    /// # Safety
    /// As [`spawn_raw`]: `fut` must stay valid until the loop drops it.
    pub(crate) unsafe fn spawn<F: Future>(
        &self,
        fut: F,
        location: &'static Location<'static>,
        name: Option<Box<str>>,
        eager: bool,
    ) -> RawTask {
        assert!(!self.closed.get(), "create_task() called on a closed event loop");
        let id = self.next_id();
        let debugger = self.debugger.borrow();
        let (name, record) = match &*debugger {
            Some(d) => {
                let parent = self.current.get().map(|p| p.header().id);
                (None, Some(d.record(id, name, location, parent)))
            }
            None => (name, None),
        };
        let extra = ExtraSlot::new(name, ctxvars::inherit(self.current.get()));
        // SAFETY: forwarded from the caller.
        let t = unsafe { spawn_raw(fut, self.shared.clone(), id, location, extra, record) };
        if let Some(d) = &*debugger {
            d.spawned(t);
        }
        drop(debugger);
        self.tasks.borrow_mut().push_back(t);
        if eager && self.running.get() {
            self.run_eager(t);
        } else {
            t.set(SCHEDULED);
            self.push_ready(Ready::Task(t));
        }
        t
    }

    /// Creates a task for a `'static` future; the handle reads its output.
    /// Started as the loop's default says (see [`spawn_task_with`](Core::spawn_task_with)).
    pub(crate) fn spawn_task<F: Future + 'static>(
        &self,
        fut: F,
        location: &'static Location<'static>,
        name: Option<Box<str>>,
    ) -> JoinHandle<F::Output> {
        self.spawn_task_with(fut, location, name, None)
    }

    /// [`spawn_task`](Core::spawn_task), choosing eager or lazy start
    /// (`None`: the loop's default).
    pub(crate) fn spawn_task_with<F: Future + 'static>(
        &self,
        fut: F,
        location: &'static Location<'static>,
        name: Option<Box<str>>,
        eager: Option<bool>,
    ) -> JoinHandle<F::Output> {
        let eager = eager.unwrap_or(self.eager.get());
        // SAFETY: a 'static future stays valid for as long as the loop keeps
        // it; the handle adopts the reference spawn reserved for it, and the
        // output type is F::Output.
        unsafe { JoinHandle::adopt(self.spawn(fut, location, name, eager)) }
    }

    /// An eager task's first poll, inside `create_task` (asyncio 3.12's
    /// eager tasks).
    ///
    /// The new task is the current task for the poll (whatever ran before,
    /// a task or a callback, is current again after), and the poll is an
    /// ordinary one: a panic becomes the task's error, a cancel requested
    /// during it ends the task cancelled, debug mode times it. A task that
    /// finishes here is complete before `create_task` returns and never
    /// enters the ready queue; one that returns `Pending` waits for its
    /// waker like any task (or, woken during the poll, is queued at the back
    /// now). The creator goes on after that: the eager task's first step
    /// runs before anything the creator does next, and before every entry
    /// already in the ready queue.
    #[inline(never)]
    fn run_eager(&self, t: RawTask) {
        let prev = self.current.get();
        if self.debug.get() {
            // If created inside a TaskGroup's child, what this task creates
            // in its first poll is not the group's.
            super::debug::in_group(0, || self.poll_task(t, prev));
        } else {
            self.poll_task(t, prev);
        }
    }

    /// Runs the loop until `fut`, run as the main task, completes; returns
    /// its output, or the panic or cancellation that ended it.
    ///
    /// `fut` need not be `'static`: it is dropped before this returns, on
    /// every path (the guard below also runs while unwinding).
    pub(crate) fn block_on<F: Future>(
        &self,
        fut: F,
        location: &'static Location<'static>,
    ) -> Result<F::Output, super::task::TaskError> {
        struct Main<'a, T> {
            core: &'a Core,
            handle: Option<JoinHandle<T>>,
        }
        impl<T> Drop for Main<'_, T> {
            fn drop(&mut self) {
                let Some(handle) = self.handle.take() else { return };
                let t = handle.task().raw();
                if !t.is_complete() {
                    // Leaving early (a panic in the engine): drop the borrowed
                    // future now, before the borrow ends.
                    // SAFETY: on the loop thread; live and not complete, and
                    // not being polled (polls catch their panics).
                    unsafe { t.cancel_now() };
                    self.core.complete(t, true);
                }
                drop(handle);
            }
        }
        let _enter = context::enter(self);
        // SAFETY: `Main` drops the future before this function returns or
        // unwinds past it, so the future's borrows outlive its use; the
        // handle adopts the reference reserved for it, output type F::Output.
        let handle = unsafe { JoinHandle::<F::Output>::adopt(self.spawn(fut, location, None, false)) };
        let main = handle.task().raw();
        let mut guard = Main {
            core: self,
            handle: Some(handle),
        };
        self.run_until(main);
        let mut handle = guard.handle.take().expect("main handle");
        let waker = std::task::Waker::noop();
        match handle.poll_join(&mut Context::from_waker(waker)) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => unreachable!("run_until returned before the main task completed"),
        }
    }

    /// This loop's identity: unique in the process, never reused (an
    /// address could be reused by the next loop on the same thread).
    pub(crate) fn id(&self) -> usize {
        self.loop_id
    }

    /// The task being polled, if any.
    pub(crate) fn current_task(&self) -> Option<RawTask> {
        self.current.get()
    }

    /// Live (not yet complete) tasks, oldest first.
    pub(crate) fn all_tasks(&self) -> Vec<RawTask> {
        self.tasks.borrow().snapshot()
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    // ----- timers -------------------------------------------------------

    pub(crate) fn timer_insert(&self, deadline: Instant, action: TimerAction) -> TimerKey {
        self.timer_insert_tick(self.clock.deadline_tick(deadline), action)
    }

    /// [`timer_insert`](Self::timer_insert) with the deadline's tick
    /// already known (`Clock::coarse_deadline` gives it).
    #[inline]
    pub(crate) fn timer_insert_tick(&self, tick: u64, action: TimerAction) -> TimerKey {
        self.timers.borrow_mut().insert(tick, action)
    }

    /// Adds a timer due `delay` after the end of this turn: its deadline is
    /// taken from the clock reading the loop makes when the turn ends
    /// (`fire_timers`, or before it sleeps), so no clock is read per timer
    /// and the deadline is never earlier than `now() + delay` at the call.
    /// For a running clock only (a paused one is read for free, and can be
    /// moved mid-turn).
    #[inline]
    pub(crate) fn timer_stage(&self, delay: Duration, action: TimerAction) -> TimerKey {
        let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.timers.borrow_mut().insert_staged(ns, action)
    }

    /// The instant a pending timer is due (its tick's start); `None` if it
    /// fired, was cancelled, or is staged (its deadline not yet taken).
    pub(crate) fn timer_due(&self, key: TimerKey) -> Option<Instant> {
        self.timers.borrow().due(key).map(|t| self.clock.tick_instant(t))
    }

    /// Pauses the clock (virtual time from now on), first giving staged
    /// timers their deadlines from the real time they were armed in: an
    /// `advance` later in this turn must not move them.
    pub(crate) fn pause_clock(&self) {
        self.flush_staged_now();
        self.clock.pause();
    }

    /// Gives staged timers, if any, their deadlines from a clock reading
    /// made now (none is made without them).
    fn flush_staged_now(&self) {
        if self.timers.borrow().has_staged() {
            self.flush_staged_timers(self.clock.since_origin_anchored());
        }
    }

    /// Gives staged timers their deadlines: `since` (the time since the
    /// clock's origin, just read) plus each one's delay, rounded up to a tick.
    fn flush_staged_timers(&self, since: Duration) {
        let mut timers = self.timers.borrow_mut();
        if timers.has_staged() {
            let now = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
            timers.flush_staged(|delay| tick_ceil(now.saturating_add(delay)));
        }
    }

    /// Cancels a timer, returning its action if it had not fired.
    pub(crate) fn timer_remove(&self, key: TimerKey) -> Option<TimerAction> {
        self.timers.borrow_mut().remove(key)
    }

    /// Makes a pending timer wake `waker`; false if it already fired.
    pub(crate) fn timer_set_waker(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut timers = self.timers.borrow_mut();
        match timers.get_mut(key) {
            Some(TimerAction::Wake(w)) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            Some(TimerAction::Call(_)) => true,
            None => false,
        }
    }

    pub(crate) fn timer_count(&self) -> usize {
        self.timers.borrow().len()
    }

    /// For tests: whether a timer is staged, and the wheel's next deadline
    /// (the start of the slot its soonest timer waits in).
    #[cfg(test)]
    pub(crate) fn timer_state(&self) -> (bool, Option<u64>) {
        let t = self.timers.borrow();
        (t.has_staged(), t.next_deadline())
    }

    /// The instant of the next timer, if any (staged ones given their
    /// deadlines first).
    fn next_timer(&self) -> Option<Instant> {
        self.flush_staged_now();
        self.timers.borrow().next_deadline().map(|t| self.clock.tick_instant(t))
    }

    /// Fires every timer due by now: wakes sleepers, queues callbacks.
    pub(crate) fn fire_timers(&self) {
        let since = self.clock.since_origin_anchored();
        self.flush_staged_timers(since);
        let now = since.as_millis() as u64;
        if self.timers.borrow().next_deadline().is_none_or(|t| t > now) {
            return;
        }
        let mut buf = self.timer_buf.take();
        self.timers.borrow_mut().advance(now, &mut buf);
        for action in buf.drain(..) {
            match action {
                TimerAction::Wake(w) => w.wake(),
                TimerAction::Call(cb) => {
                    cb.timer.set(None);
                    self.push_ready(Ready::Callback(cb));
                }
            }
        }
        self.timer_buf.replace(buf);
    }

    // ----- the loop -----------------------------------------------------

    /// Runs turns until `main` completes.
    pub(crate) fn run_until(&self, main: RawTask) {
        struct Running<'a>(&'a Core);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.running.set(false);
                // Timers staged in the last batch get their deadlines now,
                // not at the next run's first turn.
                self.0.flush_staged_now();
                // Debug mode: what finished in the last turn leaves the
                // dump table now (and its memory is released), not at the
                // next run.
                if let Some(d) = self.0.debugger() {
                    d.turn_ends();
                }
            }
        }
        self.running.set(true);
        let _running = Running(self);
        // The first batch runs before any turn has read the clock: read it
        // now, so `Clock::recent` is this run's (not the loop's creation's
        // or the previous run's).
        self.clock.since_origin_anchored();
        while !main.is_complete() {
            let mut n = 0;
            while n < EVENT_INTERVAL {
                let next = self.ready.borrow_mut().pop_front();
                match next {
                    Some(Ready::Task(t)) => {
                        self.run_task(t);
                        if t == main && main.is_complete() {
                            return;
                        }
                    }
                    Some(Ready::Callback(cb)) => self.run_callback(&cb),
                    None => break,
                }
                n += 1;
            }
            self.wait_and_dispatch();
        }
    }

    fn run_task(&self, t: RawTask) {
        let s = t.state();
        if s & COMPLETE != 0 {
            // Only while closing: a cancelled task left in the queue carries
            // the loop's reference (see `complete`).
            t.clear(SCHEDULED);
            // SAFETY: that reference is ours to release.
            unsafe { t.dec_ref() };
            return;
        }
        t.clear(SCHEDULED);
        if s & CANCEL_REQUESTED != 0 {
            // SAFETY: on the loop thread; live and not complete.
            unsafe { t.cancel_now() };
            self.complete(t, true);
            return;
        }
        // From the loop's turn: no task is current.
        self.poll_task(t, None);
    }

    /// Polls `t` once as the current task, then completes or requeues it.
    /// The task is live, not complete, not queued and not running; `prev`,
    /// the current task now (an eager task's creator), is current again
    /// after.
    #[inline(always)]
    fn poll_task(&self, t: RawTask, prev: Option<RawTask>) {
        t.set(RUNNING);
        self.current.set(Some(t));
        let waker = waker_ref(t);
        let mut cx = Context::from_waker(&waker);
        let debugger = if self.debug.get() {
            self.debugger.borrow().clone()
        } else {
            None
        };
        let done = if let Some(d) = debugger {
            // An eager task's poll nests in its creator's: that one goes on
            // after it, as the watchdog's running poll.
            let outer = d.running();
            let start = d.begin(t.header().id.as_u64());
            // SAFETY: on the loop thread; live and not complete.
            let done = unsafe { t.poll(&mut cx) };
            let took_ns = d.end(start);
            if let Some(outer) = outer {
                d.resume(outer);
            }
            if let Some(r) = t.record() {
                r.polled(took_ns);
            }
            let took = Duration::from_nanos(took_ns);
            if took >= self.slow_callback.get() {
                report::debug(&format!(
                    "Executing task {} (created at {}) took {:.3} seconds: it held the loop, and nothing else \
                     ran meanwhile",
                    t.debug_name(),
                    t.header().location,
                    took.as_secs_f64()
                ));
            }
            done
        } else {
            // SAFETY: on the loop thread; live and not complete.
            unsafe { t.poll(&mut cx) }
        };
        self.current.set(prev);
        let s = t.state();
        t.clear(RUNNING | NOTIFIED);
        if done {
            if s & CANCEL_REQUESTED != 0 {
                // asyncio: a task cancelled while running ends cancelled even
                // if it returned before reaching another await.
                // SAFETY: on the loop thread; the output is stored.
                unsafe { t.cancel_now() };
                self.complete(t, true);
            } else {
                self.complete(t, false);
            }
        } else if s & (NOTIFIED | CANCEL_REQUESTED) != 0 {
            t.set(SCHEDULED);
            self.push_ready(Ready::Task(t));
        }
    }

    /// Marks `t` complete, hands its output on and releases the loop's
    /// reference (or leaves it to the ready-queue entry, while closing).
    pub(crate) fn complete(&self, t: RawTask, cancelled: bool) {
        debug_assert!(!t.is_complete(), "a task completed twice");
        if t.is_complete() {
            return;
        }
        t.set(COMPLETE | if cancelled { CANCELLED } else { 0 });
        t.clear(RUNNING | NOTIFIED);
        self.tasks.borrow_mut().remove(t);
        let debugger = if self.debug.get() {
            self.debugger.borrow().clone()
        } else {
            None
        };
        if t.state() & DETACHED != 0 {
            // The task is complete, and being detached, nobody has taken
            // (or will take) its output.
            if debugger.is_some() && !cancelled && t.output_failed() {
                report::debug(&format!(
                    "Task exception was never retrieved: {} (created at {}) panicked and its handle was dropped \
                     unread",
                    t.debug_name(),
                    t.header().location
                ));
            }
            // SAFETY: complete, on the loop thread; nobody can read it.
            unsafe { t.drop_output() };
        }
        if let Some(w) = t.header().join_waker.take() {
            w.wake();
        }
        // The loop's reference, unless a ready-queue entry releases it
        // (a task cancelled by `close` while queued).
        let mut loop_ref = t.state() & SCHEDULED == 0;
        if let Some(d) = debugger {
            if let Some(r) = t.record() {
                // SAFETY: with `loop_ref`, the loop's reference is handed
                // over, and not released below.
                unsafe { d.finished(t, r, loop_ref) };
                loop_ref = false;
            }
        }
        if loop_ref {
            // SAFETY: the loop's reference, released once, here.
            unsafe { t.dec_ref() };
        }
    }

    fn run_callback(&self, cb: &CallbackCell) {
        let Some(f) = cb.f.take() else { return };
        let debugger = if self.debug.get() {
            self.debugger.borrow().clone()
        } else {
            None
        };
        let start = debugger.as_ref().map(|d| d.begin(0));
        let depth = ctxvars::begin_callback();
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            report::callback_panicked(&format!("callback scheduled at {}", cb.location), &*p);
        }
        ctxvars::end_callback(depth);
        if let (Some(d), Some(start)) = (debugger, start) {
            let took = Duration::from_nanos(d.end(start));
            if took >= self.slow_callback.get() {
                report::debug(&format!(
                    "Executing callback scheduled at {} took {:.3} seconds",
                    cb.location,
                    took.as_secs_f64()
                ));
            }
        }
    }

    /// Steps 2–4 of a turn.
    fn wait_and_dispatch(&self) {
        if self.debug.get() {
            if let Some(d) = &*self.debugger.borrow() {
                d.turn_ends();
            }
        }
        let has_ready = !self.ready.borrow().is_empty();
        let timeout = if has_ready {
            Some(Duration::ZERO)
        } else if self.clock.is_paused() {
            // Virtual time: look at I/O and remote work without sleeping;
            // if that makes nothing ready, jump to the next timer.
            self.poll_io(Some(Duration::ZERO));
            self.drain_remote();
            if !self.ready.borrow().is_empty() {
                self.fire_timers();
                return;
            }
            match self.next_timer() {
                Some(at) => {
                    self.clock.advance_to(at);
                    self.fire_timers();
                    return;
                }
                None => None,
            }
        } else {
            self.next_timer()
                .map(|at| at.saturating_duration_since(self.clock.now()))
        };
        if timeout == Some(Duration::ZERO) {
            self.poll_io(timeout);
        } else {
            self.trim_ready_queue();
            self.sleep(timeout);
        }
        self.drain_remote();
        self.fire_timers();
    }

    /// Waits for I/O, a remote item or `timeout`, whichever comes first;
    /// spins first when the spin predictor expects remote work within its
    /// budget (see `spin.rs`).
    fn sleep(&self, timeout: Option<Duration>) {
        let queue = &self.shared.queue;
        let mut spun = Duration::ZERO;
        if let Some(budget) = self.spin.budget(timeout) {
            let start = std::time::Instant::now();
            let mut look_at_io = spin::IO_INTERVAL;
            loop {
                for _ in 0..64 {
                    if queue.has_pending() {
                        self.spin.hit(start.elapsed());
                        // Look at I/O as the sleep would have (without
                        // sleeping), so a stream of remote work cannot keep
                        // it waiting.
                        self.poll_io(Some(Duration::ZERO));
                        return;
                    }
                    std::hint::spin_loop();
                }
                spun = start.elapsed();
                if spun >= budget {
                    self.spin.missed();
                    break;
                }
                // I/O that comes meanwhile is served within the interval,
                // not after the whole budget.
                if spun >= look_at_io {
                    if self.poll_io(Some(Duration::ZERO)) > 0 {
                        self.spin.slept(spun, Duration::ZERO, false);
                        return;
                    }
                    look_at_io = spun + spin::IO_INTERVAL;
                }
            }
        }
        let timeout = timeout.map(|t| t.saturating_sub(spun));
        let start = std::time::Instant::now();
        let io = queue.park(|may_block| self.poll_io(if may_block { timeout } else { Some(Duration::ZERO) }));
        let remote = io == 0 && queue.has_pending();
        if remote || self.spin.learning() {
            self.spin.slept(spun, start.elapsed(), remote);
        }
    }

    /// About to sleep with nothing ready: give back what a burst of tasks
    /// made the ready queue grow to, keeping a working size.
    fn trim_ready_queue(&self) {
        const KEEP: usize = 1024;
        let mut ready = self.ready.borrow_mut();
        if ready.capacity() > KEEP && ready.is_empty() {
            ready.shrink_to(KEEP);
        }
    }

    /// Polls for I/O and wakes what is ready; returns the number of I/O
    /// events.
    fn poll_io(&self, timeout: Option<Duration>) -> usize {
        let mut wakers = self.wake_buf.take();
        let events = match self.reactor.turn(timeout, &mut wakers) {
            Ok(n) => n,
            Err(e) => {
                report::internal(&format!("polling for I/O failed: {e}"));
                0
            }
        };
        for w in wakers.drain(..) {
            w.wake();
        }
        self.wake_buf.replace(wakers);
        events
    }

    fn drain_remote(&self) {
        let mut buf = self.remote_buf.take();
        self.shared.queue.drain_into(&mut buf);
        for item in buf.drain(..) {
            self.accept_remote(item);
        }
        self.remote_buf.replace(buf);
    }

    fn accept_remote(&self, item: Remote) {
        match item {
            Remote::Wake(SendTask(t)) => {
                // A swap, not a store: it reads the last waker's `true`, so
                // what that waker published before waking is visible to the
                // poll that follows (a plain store could miss it while the
                // waker, seeing the flag still set, queued nothing).
                t.header()
                    .remote_queued
                    .swap(false, std::sync::atomic::Ordering::AcqRel);
                schedule_local(self, t);
                // SAFETY: the queue entry owned this reference.
                unsafe { t.dec_ref() };
            }
            Remote::Call(f) => {
                self.push_ready(Ready::Callback(CallbackCell::new(f, Location::caller())));
            }
        }
    }

    /// Cancels every live task (oldest first, dropping its future here),
    /// discards queued callbacks, timers and I/O wakers, and refuses further
    /// remote work. Idempotent.
    pub(crate) fn close(&self) {
        if self.closed.get() {
            return;
        }
        self.cancel_all();
        let _enter = context::enter(self);
        // What other threads sent meanwhile is dropped from here on.
        self.closed.set(true);
        for item in self.shared.queue.close() {
            match item {
                Remote::Wake(SendTask(t)) => {
                    t.header()
                        .remote_queued
                        .swap(false, std::sync::atomic::Ordering::AcqRel);
                    // SAFETY: the queue entry owned this reference.
                    unsafe { t.dec_ref() };
                }
                Remote::Call(f) => drop(f),
            }
        }
        let timers = self.timers.borrow_mut().drain();
        for action in timers {
            if let TimerAction::Call(cb) = action {
                drop(cb.f.take());
            }
        }
        let io = self.reactor.clear();
        drop(io);
        let debugger = self.debugger.borrow().clone();
        if let Some(d) = debugger {
            d.close();
        }
    }

    /// Cancels every live task (oldest first, dropping its future here;
    /// debug mode lists them first) and discards queued callbacks, without
    /// closing the loop: it can still run (`Runner::close` waits for the
    /// default executor in between, as `asyncio.run` does).
    pub(crate) fn cancel_all(&self) {
        if self.closed.get() {
            return;
        }
        let _enter = context::enter(self);
        if let Some(d) = &*self.debugger.borrow() {
            let all = self.all_tasks();
            let pending: Vec<_> = all.iter().filter_map(RawTask::record).collect();
            d.report_pending(&pending);
        }
        loop {
            let front = self.tasks.borrow().front();
            if let Some(t) = front {
                // SAFETY: members of the live list are live and not complete;
                // nothing is being polled during close.
                unsafe { t.cancel_now() };
                self.complete(t, true);
                continue;
            }
            let next = self.ready.borrow_mut().pop_front();
            match next {
                Some(Ready::Task(t)) => self.run_task(t),
                Some(Ready::Callback(cb)) => drop(cb.f.take()),
                None => {
                    let mut buf = Vec::new();
                    self.shared.queue.drain_into(&mut buf);
                    if buf.is_empty() {
                        break;
                    }
                    for item in buf {
                        self.accept_remote(item);
                    }
                }
            }
        }
    }

    /// Turns debug mode on or off (starting or stopping its watchdog).
    pub(crate) fn set_debug(&self, on: bool) {
        // The flag changes only with the debugger (completions rely on the
        // two agreeing: a traced task in the table is handed to it).
        let mut debugger = self.debugger.borrow_mut();
        self.debug.set(on);
        match (on, debugger.is_some()) {
            (true, false) => {
                let d = Debugger::new(self.slow_callback.get());
                d.set_backtraces(self.stall_backtraces.get());
                *debugger = Some(Rc::new(d));
            }
            (false, true) => {
                if let Some(d) = debugger.take() {
                    d.close();
                }
            }
            _ => {}
        }
    }

    /// Debug mode's stall reports carry the loop thread's backtrace.
    pub(crate) fn set_stall_backtraces(&self, on: bool) {
        self.stall_backtraces.set(on);
        if let Some(d) = &*self.debugger.borrow() {
            d.set_backtraces(on);
        }
    }

    /// Sets the slow-poll and stall threshold.
    pub(crate) fn set_slow_callback(&self, threshold: Duration) {
        self.slow_callback.set(threshold);
        if let Some(d) = &*self.debugger.borrow() {
            d.set_threshold(threshold);
        }
    }

    /// Debug mode's records, if debug mode is on.
    pub(crate) fn debugger(&self) -> Option<Rc<Debugger>> {
        self.debugger.borrow().clone()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.close();
        context::unregister_loop(self.loop_id);
        crate::runtime::task::loop_closed();
    }
}
