//! Debug mode's bookkeeping: what each task is, who made it, how busy it
//! has been, and what the loop is running right now; plus the watchdog
//! thread that reports a loop stuck in one poll while it is still stuck.
//!
//! Everything here exists only for a loop in debug mode; a loop not in
//! debug mode pays one predictable branch per poll. In debug mode the costs
//! are kept off the per-poll path:
//! - each task's record (`TaskRecord`: name, creation site, parent,
//!   TaskGroup, age, poll count, busy time) lives in the task's own
//!   allocation, just before its header (`task/cell.rs`): no allocation of
//!   its own, and a poll updates its counters without a lock;
//! - records reach the shared table (read by dumps from other threads)
//!   in batches, once per loop turn, under one lock; a completed task
//!   leaves the table, under that lock, with the next batch, and the
//!   loop's reference keeps it allocated until then: whatever a dump finds
//!   in the table is alive;
//! - a poll reads the clock once (its start is the previous poll's end
//!   within a turn), and that clock is the coarse monotonic one (a few ns
//!   to read, millisecond resolution): a poll's time is exact to a few ms,
//!   and a task's busy time, a sum of such readings, is right on average;
//! - what is running now is published in atomics (task id, creation site,
//!   start time, a sequence number), which is all the watchdog needs.
//!
//! The watchdog wakes a few times per threshold and reports each poll that
//! has run past the threshold once, while it is still running. Dumps from
//! other threads (`dump_all`, the dump signal) read the shared table and
//! never touch the loop, so they answer while the loop is blocked; a task
//! created in the turn that blocked may be missing from them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::Thread;
use std::time::Duration;

use super::report;
use super::task::{Name, RawTask};
use crate::runtime::task::TaskId;

/// One task, as debug mode knows it: stored in the task's allocation
/// (`task/cell.rs`). Written by the loop thread only; read by dumps from
/// any thread while the task is in the shared table.
pub(crate) struct TaskRecord {
    id: TaskId,
    name: Mutex<Option<Name>>,
    site: &'static Location<'static>,
    /// The creating task's id (ids start at 1).
    parent: Option<NonZeroU64>,
    /// The TaskGroup's id (ids start at 1).
    group: Option<NonZeroU64>,
    /// Coarse clock, ns.
    created: u64,
    polls: AtomicU64,
    busy_ns: AtomicU64,
    /// Its index in the shared table once published.
    slot: AtomicUsize,
}

impl TaskRecord {
    /// Counts one poll of `took` (single writer: the loop thread).
    pub(crate) fn polled(&self, took_ns: u64) {
        self.polls
            .store(self.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let busy = self.busy_ns.load(Ordering::Relaxed) + took_ns;
        self.busy_ns.store(busy, Ordering::Relaxed);
    }

    /// The name the task was given, if any.
    pub(crate) fn name(&self) -> Option<Box<str>> {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).as_deref().cloned()
    }

    pub(crate) fn set_name(&self, name: Box<str>) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(name));
    }

    fn parent(&self) -> Option<TaskId> {
        self.parent.map(TaskId)
    }

    /// `Task-7 'name'`, or `Task-7` for a task without a name of its own.
    fn name_or_id(&self) -> String {
        super::task::label(self.id, self.name().as_deref())
    }

    fn describe(&self) -> String {
        format!("{} (created at {})", self.name_or_id(), self.site)
    }
}

/// A task in the shared table.
#[derive(Clone, Copy)]
struct Published(RawTask);

// SAFETY: other threads reach a published task only through the table's
// lock, and only its header's vtable pointer (never written after spawn)
// and its record (`Published::record`), whose mutable parts are atomics and
// a mutex. A completed task leaves the table, under the lock, at the next
// publication (or at once if cancelled while queued), and the loop's
// reference keeps it allocated until then; the table is cleared when debug
// mode ends: no entry outlives its task.
unsafe impl Send for Published {}

impl Published {
    fn record(&self) -> &TaskRecord {
        self.0.record().expect("only traced tasks are published")
    }
}

/// The part shared with the watchdog and other threads.
pub(crate) struct Watch {
    /// When the running poll started (coarse clock, ns); zero while nothing
    /// runs.
    poll_started: AtomicU64,
    /// Counts polls, so each stall is reported once.
    poll_seq: AtomicU64,
    /// The running task's id (0: a callback).
    running_id: AtomicU64,
    threshold_ns: AtomicU64,
    /// Whether stall reports come with the loop thread's backtrace (opt-in:
    /// see `stall_trace`).
    backtraces: AtomicBool,
    closed: AtomicBool,
    loop_thread: String,
    #[cfg(target_os = "linux")]
    thread: super::stall_trace::ThreadHandle,
    tasks: Mutex<Table>,
    watchdog: Mutex<Option<Thread>>,
}

/// The published tasks: a slab (a record knows its slot).
#[derive(Default)]
struct Table {
    slots: Vec<Option<Published>>,
    free: Vec<usize>,
}

impl Table {
    fn insert(&mut self, t: RawTask) {
        let slot = self.free.pop().unwrap_or(self.slots.len());
        let t = Published(t);
        t.record().slot.store(slot, Ordering::Relaxed);
        if slot == self.slots.len() {
            self.slots.push(Some(t));
        } else {
            self.slots[slot] = Some(t);
        }
    }

    /// Removes `t` if it is here (a task published by an earlier debug
    /// session is not).
    fn remove(&mut self, t: RawTask, r: &TaskRecord) {
        let slot = r.slot.swap(usize::MAX, Ordering::Relaxed);
        if let Some(s) = self.slots.get_mut(slot) {
            if s.is_some_and(|x| x.0 == t) {
                *s = None;
                self.free.push(slot);
            }
        }
    }

    /// Empties the table, marking every record unpublished.
    fn clear(&mut self) {
        for t in self.slots.drain(..).flatten() {
            t.record().slot.store(usize::MAX, Ordering::Relaxed);
        }
        self.free.clear();
    }

    fn iter(&self) -> impl Iterator<Item = &TaskRecord> {
        self.slots.iter().flatten().map(Published::record)
    }

    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// The coarse monotonic clock, in ns: a few ns to read, resolution of the
/// kernel's tick (1–4 ms).
pub(crate) fn coarse_now() -> u64 {
    // Through libc, whose vDSO lookup valgrind understands (rustix's own
    // faults under valgrind: bytecodealliance/rustix#1559).
    #[cfg(target_os = "linux")]
    {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `t` is a valid, writable timespec for the call's duration,
        // and CLOCK_MONOTONIC_COARSE exists on every Linux this builds for;
        // on failure `t` stays zero, which callers read as "no time yet".
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }
    #[cfg(not(target_os = "linux"))]
    {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        EPOCH.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64 + 1
    }
}

/// How many completed tasks (and their memory) wait at most for the next
/// publication.
const REMOVAL_BATCH: usize = 256;

/// Every live debug-mode loop, for `dump_all`.
static WATCHES: Mutex<Vec<Weak<Watch>>> = Mutex::new(Vec::new());

thread_local! {
    /// The TaskGroup a task being spawned right now belongs to.
    static SPAWN_GROUP: Cell<Option<NonZeroU64>> = const { Cell::new(None) };
}

/// Runs `f` with spawns attributed to TaskGroup `group`.
pub(crate) fn in_group<R>(group: u64, f: impl FnOnce() -> R) -> R {
    let old = SPAWN_GROUP.with(|g| g.replace(NonZeroU64::new(group)));
    let r = f();
    SPAWN_GROUP.with(|g| g.set(old));
    r
}

/// A poll that a nested one interrupted ([`Debugger::running`]).
pub(crate) struct OuterPoll {
    id: u64,
    started: u64,
    poll_start: u64,
}

/// The loop thread's side: the shared part, plus records and removals not
/// yet published, and the clock reading the next poll can start from.
pub(crate) struct Debugger {
    watch: Arc<Watch>,
    /// Tasks spawned since the last publication, all alive: a task is
    /// published before it is first polled, and one completed before that
    /// is either still held by the reference handed to `finished` (until
    /// the publication, which adds then removes it) or, cancelled while
    /// queued, published by `finished` before it leaves the table.
    added: RefCell<Vec<RawTask>>,
    /// Tasks completed since the last publication, each with the loop's
    /// reference (`finished`).
    removed: RefCell<Vec<RawTask>>,
    /// The previous poll's end within this turn (0: read the clock).
    clock: Cell<u64>,
    /// The running poll's start: the creation time of tasks it spawns.
    poll_start: Cell<u64>,
}

impl Debugger {
    pub(crate) fn new(threshold: Duration) -> Debugger {
        let watch = Arc::new(Watch {
            poll_started: AtomicU64::new(0),
            poll_seq: AtomicU64::new(0),
            running_id: AtomicU64::new(0),
            threshold_ns: AtomicU64::new(threshold.as_nanos() as u64),
            backtraces: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            loop_thread: super::context::thread_desc(),
            #[cfg(target_os = "linux")]
            thread: super::stall_trace::ThreadHandle::current(),
            tasks: Mutex::new(Table::default()),
            watchdog: Mutex::new(None),
        });
        let weak = Arc::downgrade(&watch);
        let spawned = std::thread::Builder::new()
            .name("asyncio-watchdog".into())
            .spawn(move || watchdog(weak));
        match spawned {
            Ok(handle) => *watch.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle.thread().clone()),
            Err(e) => report::warning(&format!("debug mode: no stall detector (thread spawn failed: {e})")),
        }
        let mut all = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&watch));
        drop(all);
        Debugger {
            watch,
            added: RefCell::new(Vec::new()),
            removed: RefCell::new(Vec::new()),
            clock: Cell::new(0),
            poll_start: Cell::new(0),
        }
    }

    /// Turns the stall reports' backtraces on or off.
    pub(crate) fn set_backtraces(&self, on: bool) {
        self.watch.backtraces.store(on, Ordering::Relaxed);
    }

    pub(crate) fn set_threshold(&self, threshold: Duration) {
        self.watch
            .threshold_ns
            .store(threshold.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The record of a task being created (`parent`: the task creating it),
    /// to be stored with it.
    pub(crate) fn record(
        &self,
        id: TaskId,
        name: Option<Box<str>>,
        site: &'static Location<'static>,
        parent: Option<TaskId>,
    ) -> TaskRecord {
        let created = match self.poll_start.get() {
            0 => coarse_now(),
            t => t,
        };
        TaskRecord {
            id,
            name: Mutex::new(name.map(Box::new)),
            site,
            parent: parent.map(|p| p.0),
            group: SPAWN_GROUP.with(Cell::get),
            created,
            polls: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            slot: AtomicUsize::new(usize::MAX),
        }
    }

    /// A task was created with a record.
    pub(crate) fn spawned(&self, t: RawTask) {
        self.added.borrow_mut().push(t);
    }

    /// A task with a record completed. It must leave the table before its
    /// allocation can be freed: with `loop_ref` the caller hands over the
    /// loop's reference to the task, and the task leaves the table with
    /// the next publication, which then releases that reference (one lock
    /// per batch, not per task); without, it leaves the table now.
    ///
    /// # Safety
    /// With `loop_ref`, the caller owns a reference to `t` and gives it up.
    pub(crate) unsafe fn finished(&self, t: RawTask, r: &TaskRecord, loop_ref: bool) {
        if loop_ref {
            let mut removed = self.removed.borrow_mut();
            removed.push(t);
            let full = removed.len() >= REMOVAL_BATCH;
            drop(removed);
            if full {
                self.publish();
            }
            return;
        }
        if r.slot.load(Ordering::Relaxed) == usize::MAX {
            // Completed without a poll (cancelled first): it may still be
            // in `added`, which must hold live tasks only.
            self.publish();
        }
        self.watch.tasks().remove(t, r);
    }

    /// A poll of task `id` or, for `id` 0, a callback starts; returns its
    /// start time. Tasks created since the last publication are published
    /// first, so the watchdog can name whichever task this is.
    pub(crate) fn begin(&self, id: u64) -> u64 {
        if !self.added.borrow().is_empty() {
            self.publish();
        }
        let now = match self.clock.replace(0) {
            0 => coarse_now(),
            t => t,
        };
        self.poll_start.set(now);
        let w = &self.watch;
        w.running_id.store(id, Ordering::Relaxed);
        // Single writer: no read-modify-write needed.
        w.poll_seq
            .store(w.poll_seq.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        w.poll_started.store(now, Ordering::Release);
        now
    }

    /// The poll running now, if any: what [`resume`](Debugger::resume)
    /// restores after a poll nested in it (an eager task's first poll,
    /// inside its creator's).
    pub(crate) fn running(&self) -> Option<OuterPoll> {
        let w = &self.watch;
        let started = w.poll_started.load(Ordering::Relaxed);
        (started != 0).then(|| OuterPoll {
            id: w.running_id.load(Ordering::Relaxed),
            started,
            poll_start: self.poll_start.get(),
        })
    }

    /// The poll `outer` goes on after a nested one ended: the watchdog
    /// watches it again, from its own start (under a new sequence number,
    /// so a stall of it is reported even if the nested poll's was).
    pub(crate) fn resume(&self, outer: OuterPoll) {
        self.poll_start.set(outer.poll_start);
        let w = &self.watch;
        w.running_id.store(outer.id, Ordering::Relaxed);
        w.poll_seq
            .store(w.poll_seq.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        w.poll_started.store(outer.started, Ordering::Release);
    }

    /// The poll begun at `start` ended; how long it took, in ns.
    pub(crate) fn end(&self, start: u64) -> u64 {
        self.watch.poll_started.store(0, Ordering::Release);
        self.poll_start.set(0);
        let now = coarse_now();
        self.clock.set(now);
        now.saturating_sub(start)
    }

    /// The loop is about to wait: publish the turn's records, and start the
    /// next turn's first poll from a fresh clock reading.
    pub(crate) fn turn_ends(&self) {
        self.clock.set(0);
        self.publish();
    }

    /// Publishes the tasks spawned since the last publication, and takes
    /// the tasks completed since then out of the table, releasing the
    /// references `finished` was handed.
    fn publish(&self) {
        let mut added = self.added.borrow_mut();
        let mut removed = self.removed.borrow_mut();
        if added.is_empty() && removed.is_empty() {
            return;
        }
        let mut tasks = self.watch.tasks();
        for t in added.drain(..) {
            tasks.insert(t);
        }
        for &t in removed.iter() {
            if let Some(r) = t.record() {
                tasks.remove(t, r);
            }
        }
        drop(tasks);
        drop(added);
        let done = std::mem::take(&mut *removed);
        drop(removed);
        for t in done {
            // SAFETY: `finished` was handed this reference, and it is
            // released once: the batch was taken out above. No longer in the
            // table, the task may be freed.
            unsafe { t.dec_ref() };
        }
    }

    /// Reports the tasks still pending as the loop closes (asyncio's "Task
    /// was destroyed but it is pending!"): the first 50 one by one, then
    /// how many more.
    pub(crate) fn report_pending(&self, pending: &[&TaskRecord]) {
        const SHOWN: usize = 50;
        let now = coarse_now();
        for r in pending.iter().take(SHOWN) {
            report::debug(&format!(
                "Task was destroyed but it is pending: {} (age {:.3} s, {} polls); cancelling it",
                r.describe(),
                now.saturating_sub(r.created) as f64 / 1e9,
                r.polls.load(Ordering::Relaxed)
            ));
        }
        if pending.len() > SHOWN {
            report::debug(&format!(
                "... and {} more tasks destroyed while pending",
                pending.len() - SHOWN
            ));
        }
    }

    /// The task tree, current as of now.
    pub(crate) fn dump(&self) -> String {
        self.turn_ends();
        self.watch.dump()
    }

    /// Stops the watchdog, and empties the table: the tasks in it may
    /// outlive debug mode, the table (held by dumps) may outlive the loop.
    pub(crate) fn close(&self) {
        self.publish();
        self.watch.tasks().clear();
        self.watch.closed.store(true, Ordering::Release);
        // No capture may signal this thread once it goes on from here.
        #[cfg(target_os = "linux")]
        super::stall_trace::quiesce();
        if let Some(t) = self.watch.watchdog.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.unpark();
        }
    }
}

impl Drop for Debugger {
    fn drop(&mut self) {
        // Normally done by `close`; a loop dropped without closing must not
        // leave entries that outlive their tasks, or references, either.
        self.publish();
        self.watch.tasks().clear();
    }
}

impl Watch {
    fn tasks(&self) -> MutexGuard<'_, Table> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How reports name the running task `id` (published by `begin`).
    fn describe_running(&self, id: u64) -> String {
        match self.tasks().iter().find(|r| r.id.as_u64() == id) {
            Some(r) => r.describe(),
            None => format!("Task-{id}"),
        }
    }

    /// The task tree, as text (the `python -m asyncio pstree` role).
    fn dump(&self) -> String {
        let tasks = self.tasks();
        let now = coarse_now();
        let busy = self.poll_started.load(Ordering::Acquire) != 0;
        let running = busy.then(|| self.running_id.load(Ordering::Relaxed));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "event loop on thread {}: {} task(s){}",
            self.loop_thread,
            tasks.len(),
            if running == Some(0) { ", running a callback" } else { "" }
        );
        let live: HashMap<TaskId, &TaskRecord> = tasks.iter().map(|r| (r.id, r)).collect();
        let mut children: HashMap<Option<TaskId>, Vec<&TaskRecord>> = HashMap::new();
        for r in live.values() {
            // A parent that finished: show the child at the top level.
            let parent = r.parent().filter(|p| live.contains_key(p));
            children.entry(parent).or_default().push(r);
        }
        for list in children.values_mut() {
            list.sort_by_key(|r| (r.created, r.id));
        }
        // Depth-first, children in creation order.
        fn walk(
            out: &mut String,
            children: &HashMap<Option<TaskId>, Vec<&TaskRecord>>,
            parent: Option<TaskId>,
            prefix: &str,
            now: u64,
            running: Option<u64>,
        ) {
            let Some(list) = children.get(&parent) else { return };
            for (i, r) in list.iter().enumerate() {
                let last = i + 1 == list.len();
                let state = if running == Some(r.id.as_u64()) {
                    "running"
                } else {
                    "waiting"
                };
                let group = r.group.map(|g| format!(" in TaskGroup-{g}")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{prefix}{} {} [{state}]{group} created at {}, age {:.3} s, {} polls, busy {:.3} ms",
                    if last { "└──" } else { "├──" },
                    r.name_or_id(),
                    r.site,
                    now.saturating_sub(r.created) as f64 / 1e9,
                    r.polls.load(Ordering::Relaxed),
                    r.busy_ns.load(Ordering::Relaxed) as f64 / 1e6
                );
                let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
                walk(out, children, Some(r.id), &deeper, now, running);
            }
        }
        walk(&mut out, &children, None, "", now, running);
        out
    }
}

/// Dumps every live debug-mode loop in the process.
pub(crate) fn dump_all() -> String {
    let all: Vec<Arc<Watch>> = WATCHES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|w| !w.closed.load(Ordering::Acquire))
        .collect();
    if all.is_empty() {
        return "no event loop in debug mode is running\n".to_owned();
    }
    all.iter().map(|w| w.dump()).collect()
}

/// The watchdog: reports a poll that has run past the threshold, once per
/// poll, while it is still running.
fn watchdog(watch: Weak<Watch>) {
    let mut reported_seq = u64::MAX;
    loop {
        let Some(w) = watch.upgrade() else { return };
        if w.closed.load(Ordering::Acquire) {
            return;
        }
        let threshold = Duration::from_nanos(w.threshold_ns.load(Ordering::Relaxed));
        let seq = w.poll_seq.load(Ordering::Relaxed);
        let started = w.poll_started.load(Ordering::Acquire);
        let id = w.running_id.load(Ordering::Relaxed);
        // Read the sequence again: the fields belong to one poll only if it
        // did not change meanwhile.
        if started != 0 && seq != reported_seq && seq == w.poll_seq.load(Ordering::Acquire) {
            let running_for = Duration::from_nanos(coarse_now().saturating_sub(started));
            if running_for >= threshold {
                reported_seq = seq;
                let who = if id == 0 {
                    "a callback".to_owned()
                } else {
                    w.describe_running(id)
                };
                // The stack first, while the thread is still stuck there; its
                // symbols after the report, which must not wait for them.
                #[cfg(target_os = "linux")]
                let stack = if w.backtraces.load(Ordering::Relaxed) {
                    super::stall_trace::capture(w.thread, || {
                        !w.closed.load(Ordering::Acquire) && w.poll_seq.load(Ordering::Acquire) == seq
                    })
                } else {
                    None
                };
                report::debug(&format!(
                    "event loop on thread {} is blocked: {who} has been running for {:.3} seconds and has not \
                     returned to the loop (no other task or callback can run until it does)",
                    w.loop_thread,
                    running_for.as_secs_f64()
                ));
                #[cfg(target_os = "linux")]
                if let Some(stack) = stack {
                    report::debug(&format!(
                        "the blocked loop thread {} was at:\n{}",
                        w.loop_thread,
                        super::stall_trace::symbolize(&stack)
                    ));
                }
            }
        }
        drop(w);
        std::thread::park_timeout((threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(250)));
    }
}
