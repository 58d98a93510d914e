//! A hierarchical hashed timing wheel with 1 ms ticks.
//!
//! # Layout
//!
//! Eleven levels of 64 slots; level `L` slot `s` covers `64^L` ticks. Eleven
//! levels cover every `u64` tick (66 bits), so no deadline is ever clamped.
//! A timer due at tick `when` sits at the level of the highest 6-bit group in
//! which `when` and the wheel's current tick (`elapsed`) differ, in the slot
//! given by `when`'s bits of that group. Hence every timer at level `L` lies in
//! the same `64^(L+1)` block as `elapsed` and strictly after `elapsed`'s own
//! slot: the soonest slot is the lowest set bit of the lowest non-empty
//! level's occupancy word. Finding the next deadline reads at most eleven
//! words; no timer is ever scanned to find it.
//!
//! Each slot is a doubly linked list threaded through a [`Slab`] by index, so
//! insert and cancel are O(1) and allocate only when the slab grows.
//! Advancing to `now` visits only slots that are due: a level-0 slot fires
//! all its timers; a higher slot is re-inserted relative to its start and so
//! cascades down (each timer moves at most once per level).
//!
//! Timers due at or before `elapsed` go to an `expired` list, kept sorted
//! by deadline, and fire at the next advance: `call_later` with deadlines
//! already past fire in deadline order, as asyncio's heap has them. Timers
//! arrive there in deadline order in the common case (a cascade, or a
//! deadline just past), so the sorted insertion looks at the tail only;
//! within a tick, timers fire in insertion order.
//!
//! A timer can also be *staged*: inserted with a delay instead of a
//! deadline, kept on a `staged` list outside the wheel until
//! [`Wheel::flush_staged`] gives every staged timer its deadline at once.
//! The loop stages the sleeps and timeouts armed during a turn and flushes them
//! with the one clock reading it makes at the turn's end (see
//! `Core::flush_staged_timers`).

use crate::runtime::slab::{Key, Slab};

const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;
const LEVELS: usize = 11;
const NIL: u32 = u32::MAX;

/// A handle to a pending timer.
pub(crate) type TimerKey = Key;

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List { head: NIL, tail: NIL };

struct Node<T> {
    when: u64,
    prev: u32,
    next: u32,
    /// Where the node is linked: `level * SLOTS + slot`, `EXPIRED`, or
    /// `STAGED` (then `when` holds its delay).
    place: u16,
    value: T,
}

const EXPIRED: u16 = u16::MAX;
/// The `place` of a staged node (its `when` then holds the delay).
const STAGED: u16 = u16::MAX - 1;

/// The wheel. `T` is what a timer carries (a waker or a callback).
pub(crate) struct Wheel<T> {
    nodes: Slab<Node<T>>,
    slots: Box<[List; LEVELS * SLOTS]>,
    occupied: [u64; LEVELS],
    expired: List,
    /// Timers waiting for their deadline (`when` holds the delay).
    staged: List,
    elapsed: u64,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Wheel {
            nodes: Slab::default(),
            slots: Box::new([EMPTY; LEVELS * SLOTS]),
            occupied: [0; LEVELS],
            expired: EMPTY,
            staged: EMPTY,
            elapsed: 0,
        }
    }
}

fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / BITS) as usize
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (level as u32 * BITS)) as usize) & (SLOTS - 1)
}

impl<T> Wheel<T> {
    /// Number of pending timers.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Adds a timer due at tick `when`.
    #[inline]
    pub(crate) fn insert(&mut self, when: u64, value: T) -> TimerKey {
        let place = self.place_for(when);
        if place == EXPIRED {
            let key = self.nodes.insert(Node {
                when,
                prev: NIL,
                next: NIL,
                place,
                value,
            });
            self.link_expired(key.index, when);
            return key;
        }
        // The node is written once, with its links, at the slot's tail.
        let tail = self.slots[place as usize].tail;
        let key = self.nodes.insert(Node {
            when,
            prev: tail,
            next: NIL,
            place,
            value,
        });
        self.push_tail(place, tail, key.index);
        key
    }

    /// Adds a timer due `delay` (any unit [`flush_staged`](Self::flush_staged)'s
    /// caller understands) after the next flush; it is not in the wheel
    /// (nor seen by [`next_deadline`](Self::next_deadline)) until then.
    pub(crate) fn insert_staged(&mut self, delay: u64, value: T) -> TimerKey {
        let tail = self.staged.tail;
        let key = self.nodes.insert(Node {
            when: delay,
            prev: tail,
            next: NIL,
            place: STAGED,
            value,
        });
        if tail == NIL {
            self.staged.head = key.index;
        } else {
            self.nodes.at_mut(tail).next = key.index;
        }
        self.staged.tail = key.index;
        key
    }

    /// Whether any timer is staged.
    pub(crate) fn has_staged(&self) -> bool {
        self.staged.head != NIL
    }

    /// Gives every staged timer its deadline tick, `tick(delay)`, in the
    /// order they were staged, and puts it in the wheel.
    pub(crate) fn flush_staged(&mut self, tick: impl Fn(u64) -> u64) {
        let mut cur = std::mem::replace(&mut self.staged, EMPTY).head;
        while cur != NIL {
            let node = self.nodes.at_mut(cur);
            let next = node.next;
            node.when = tick(node.when);
            self.link(cur);
            cur = next;
        }
    }

    /// The tick a timer is due at, if it is pending and not staged.
    pub(crate) fn due(&self, key: TimerKey) -> Option<u64> {
        self.nodes.get(key).filter(|n| n.place != STAGED).map(|n| n.when)
    }

    /// Cancels a timer; `None` if it already fired or was cancelled.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        let node = self.nodes.remove(key)?;
        self.unlink(key.index, node.prev, node.next, node.place);
        Some(node.value)
    }

    /// The value of a pending timer.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.nodes.get_mut(key).map(|n| &mut n.value)
    }

    /// The earliest tick at which some timer may be due, if any. It is a
    /// lower bound: a higher-level slot's start, where it cascades.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.expired.head != NIL {
            return Some(self.elapsed);
        }
        self.next_slot().map(|(_, _, start)| start)
    }

    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let occ = self.occupied[level];
            if occ != 0 {
                let slot = occ.trailing_zeros() as usize;
                let shift = level as u32 * BITS;
                let block = if shift + BITS >= 64 {
                    0
                } else {
                    self.elapsed & !((1u64 << (shift + BITS)) - 1)
                };
                return Some((level, slot, block + ((slot as u64) << shift)));
            }
        }
        None
    }

    /// Advances to tick `now`, moving every timer due at or before it into
    /// `out`, soonest first.
    pub(crate) fn advance(&mut self, now: u64, out: &mut Vec<T>) {
        loop {
            self.take_expired(out);
            match self.next_slot() {
                Some((level, slot, start)) if start <= now => {
                    self.elapsed = self.elapsed.max(start);
                    let list = std::mem::replace(&mut self.slots[level * SLOTS + slot], EMPTY);
                    self.occupied[level] &= !(1u64 << slot);
                    let mut cur = list.head;
                    while cur != NIL {
                        let next = self.nodes.at(cur).next;
                        self.link(cur);
                        cur = next;
                    }
                }
                _ => break,
            }
        }
        self.elapsed = self.elapsed.max(now);
        self.take_expired(out);
    }

    fn take_expired(&mut self, out: &mut Vec<T>) {
        let mut cur = std::mem::replace(&mut self.expired, EMPTY).head;
        while cur != NIL {
            let next = self.nodes.at(cur).next;
            out.push(self.nodes.remove_at(cur).value);
            cur = next;
        }
    }

    /// Where a node due at `when` goes: `EXPIRED`, or its slot (marked
    /// occupied).
    #[inline]
    fn place_for(&mut self, when: u64) -> u16 {
        if when <= self.elapsed {
            return EXPIRED;
        }
        let level = level_for(self.elapsed, when);
        let slot = slot_for(when, level);
        self.occupied[level] |= 1u64 << slot;
        (level * SLOTS + slot) as u16
    }

    /// Appends node `index`, already holding `prev: tail, next: NIL` and
    /// `place`, to slot `place`'s list, whose tail was `tail`.
    #[inline]
    fn push_tail(&mut self, place: u16, tail: u32, index: u32) {
        let list = &mut self.slots[place as usize];
        if tail == NIL {
            list.head = index;
        }
        list.tail = index;
        if tail != NIL {
            self.nodes.at_mut(tail).next = index;
        }
    }

    /// Links node `index` where its deadline belongs, at the tail.
    fn link(&mut self, index: u32) {
        let when = self.nodes.at(index).when;
        let place = self.place_for(when);
        if place == EXPIRED {
            self.link_expired(index, when);
            return;
        }
        let tail = self.slots[place as usize].tail;
        let node = self.nodes.at_mut(index);
        node.prev = tail;
        node.next = NIL;
        node.place = place;
        self.push_tail(place, tail, index);
    }

    /// Links node `index`, due at `when`, into the expired list after every
    /// node due no later (a walk back from the tail, which is where it
    /// belongs unless deadlines already past arrive out of order).
    fn link_expired(&mut self, index: u32, when: u64) {
        let mut prev = self.expired.tail;
        while prev != NIL && self.nodes.at(prev).when > when {
            prev = self.nodes.at(prev).prev;
        }
        let next = if prev == NIL {
            std::mem::replace(&mut self.expired.head, index)
        } else {
            std::mem::replace(&mut self.nodes.at_mut(prev).next, index)
        };
        if next == NIL {
            self.expired.tail = index;
        } else {
            self.nodes.at_mut(next).prev = index;
        }
        let node = self.nodes.at_mut(index);
        node.prev = prev;
        node.next = next;
        node.place = EXPIRED;
    }

    /// Takes node `index` (its links `prev`, `next` and `place`, read
    /// before it was removed from the slab) out of its list.
    fn unlink(&mut self, index: u32, prev: u32, next: u32, place: u16) {
        if prev != NIL {
            self.nodes.at_mut(prev).next = next;
        }
        if next != NIL {
            self.nodes.at_mut(next).prev = prev;
        }
        let list = match place {
            EXPIRED => &mut self.expired,
            STAGED => &mut self.staged,
            _ => &mut self.slots[place as usize],
        };
        if list.head == index {
            list.head = next;
        }
        if list.tail == index {
            list.tail = prev;
        }
        if place != EXPIRED && place != STAGED && list.head == NIL {
            let place = place as usize;
            self.occupied[place / SLOTS] &= !(1u64 << (place % SLOTS));
        }
    }

    /// Removes every pending timer, returning their values.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.slots.iter_mut().for_each(|l| *l = EMPTY);
        self.occupied = [0; LEVELS];
        self.expired = EMPTY;
        self.staged = EMPTY;
        self.nodes.drain().into_iter().map(|n| n.value).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(w: &mut Wheel<u64>, now: u64) -> Vec<u64> {
        let mut out = Vec::new();
        w.advance(now, &mut out);
        out
    }

    #[test]
    fn fires_in_deadline_order_and_not_early() {
        let mut w = Wheel::default();
        let deadlines = [5u64, 1, 64, 63, 65, 4096, 4095, 70_000, 3, 1 << 40];
        for d in deadlines {
            w.insert(d, d);
        }
        let mut fired = Vec::new();
        let mut now = 0;
        while w.len() > 0 {
            let next = w.next_deadline().unwrap();
            assert!(next >= now);
            now = next;
            for v in fire(&mut w, now) {
                assert!(v <= now, "fired {v} early at {now}");
                fired.push(v);
            }
        }
        let mut sorted = deadlines.to_vec();
        sorted.sort();
        assert_eq!(fired, sorted);
    }

    #[test]
    fn next_deadline_is_exact_at_level_zero_and_a_lower_bound_above() {
        let mut w = Wheel::default();
        w.insert(10, 0);
        assert_eq!(w.next_deadline(), Some(10));
        let mut w = Wheel::default();
        w.insert(1000, 0);
        let nd = w.next_deadline().unwrap();
        assert!(nd <= 1000 && nd > 0);
    }

    #[test]
    fn staged_timers_wait_for_the_flush_then_fire_at_now_plus_delay() {
        let mut w = Wheel::default();
        w.insert(30, 100);
        let a = w.insert_staged(5, 5);
        let b = w.insert_staged(40, 40);
        let c = w.insert_staged(5, 6);
        assert!(w.has_staged());
        assert_eq!(w.len(), 4);
        // Not in the wheel yet: neither seen nor fired.
        assert_eq!(w.next_deadline(), Some(30));
        assert_eq!(w.due(a), None);
        assert_eq!(fire(&mut w, 20), Vec::<u64>::new());
        // Cancelled while staged, from the middle of the list.
        assert_eq!(w.remove(b), Some(40));
        w.flush_staged(|delay| 20 + delay);
        assert!(!w.has_staged());
        assert_eq!(w.due(a), Some(25));
        assert_eq!(w.due(c), Some(25));
        assert_eq!(w.next_deadline(), Some(25));
        // Same tick: in the order they were staged.
        assert_eq!(fire(&mut w, 25), vec![5, 6]);
        assert_eq!(fire(&mut w, 30), vec![100]);
        assert_eq!(w.len(), 0);
        // Staged ones are drained with the rest.
        w.insert_staged(1, 1);
        w.insert(3, 3);
        let mut all = w.drain();
        all.sort();
        assert_eq!(all, vec![1, 3]);
        assert!(!w.has_staged());
    }

    #[test]
    fn staged_list_survives_removing_its_head_and_tail() {
        let mut w = Wheel::default();
        let keys: Vec<_> = (0..5u64).map(|i| w.insert_staged(i, i)).collect();
        assert_eq!(w.remove(keys[0]), Some(0));
        assert_eq!(w.remove(keys[4]), Some(4));
        let extra = w.insert_staged(9, 9);
        w.flush_staged(|d| 100 + d);
        assert_eq!(fire(&mut w, 109), vec![1, 2, 3, 9]);
        assert_eq!(w.remove(extra), None);
    }

    #[test]
    fn cancel_removes_and_clears_occupancy() {
        let mut w = Wheel::default();
        let a = w.insert(10, 1);
        let b = w.insert(10, 2);
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(w.remove(a), None);
        assert_eq!(w.next_deadline(), Some(10));
        assert_eq!(w.remove(b), Some(2));
        assert_eq!(w.next_deadline(), None);
        assert!(fire(&mut w, 100).is_empty());
    }

    #[test]
    fn same_tick_fires_in_insertion_order() {
        let mut w = Wheel::default();
        for i in 0..100 {
            w.insert(300, i);
        }
        assert_eq!(fire(&mut w, 300), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn past_deadlines_fire_at_next_advance() {
        let mut w = Wheel::default();
        assert!(fire(&mut w, 50).is_empty());
        w.insert(20, 7);
        assert_eq!(w.next_deadline(), Some(50));
        assert_eq!(fire(&mut w, 50), vec![7]);
    }

    #[test]
    fn past_deadlines_fire_in_deadline_order() {
        let mut w = Wheel::default();
        assert!(fire(&mut w, 100).is_empty());
        for d in [50u64, 20, 80, 20, 10, 99, 0] {
            w.insert(d, d);
        }
        assert_eq!(fire(&mut w, 100), vec![0, 10, 20, 20, 50, 80, 99]);
        let mut w = Wheel::default();
        assert!(fire(&mut w, 100).is_empty());
        let a = w.insert(30, 1);
        w.insert(10, 2);
        w.insert(30, 3);
        w.insert(20, 4);
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(
            fire(&mut w, 100),
            vec![2, 4, 3],
            "sorted, stable, and removal keeps the list whole"
        );
    }

    #[test]
    fn random_against_sorted_model() {
        // A small xorshift so the test needs no dependency.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut w = Wheel::default();
        let mut model: Vec<(u64, u64, Option<TimerKey>)> = Vec::new();
        let mut now = 0u64;
        for id in 0..20_000u64 {
            match rnd() % 4 {
                0 | 1 => {
                    let when = now + rnd() % (1 << (rnd() % 30));
                    let k = w.insert(when, id);
                    model.push((when, id, Some(k)));
                }
                2 if !model.is_empty() => {
                    let i = (rnd() as usize) % model.len();
                    let (_, id, k) = model.swap_remove(i);
                    assert_eq!(w.remove(k.unwrap()), Some(id));
                }
                _ => {
                    now += rnd() % 5000;
                    let mut fired = fire(&mut w, now);
                    let mut due: Vec<u64> = model.iter().filter(|m| m.0 <= now).map(|m| m.1).collect();
                    model.retain(|m| m.0 > now);
                    fired.sort();
                    due.sort();
                    assert_eq!(fired, due);
                }
            }
            assert_eq!(w.len(), model.len());
        }
    }
}
