//! A generational slab: stable `u32` indices, O(1) insert and remove, and a
//! generation per slot so a stale key (its entry removed, the slot reused)
//! is recognised instead of reaching the new entry.

/// A key into a [`Slab`]: slot index and the generation it was issued for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) index: u32,
    pub(crate) gen: u32,
}

enum Slot<T> {
    Full { gen: u32, value: T },
    Free { gen: u32, next_free: u32 },
}

const NONE: u32 = u32::MAX;

pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: u32,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: NONE,
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if self.free != NONE {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            let gen = match *slot {
                Slot::Free { gen, next_free } => {
                    self.free = next_free;
                    gen
                }
                Slot::Full { .. } => unreachable!("free list points at a full slot"),
            };
            *slot = Slot::Full { gen, value };
            Key { index, gen }
        } else {
            let index = u32::try_from(self.slots.len()).expect("slab full");
            assert!(index != NONE, "slab full");
            self.slots.push(Slot::Full { gen: 0, value });
            Key { index, gen: 0 }
        }
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        match self.slots.get(key.index as usize) {
            Some(Slot::Full { gen, value }) if *gen == key.gen => Some(value),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.slots.get_mut(key.index as usize) {
            Some(Slot::Full { gen, value }) if *gen == key.gen => Some(value),
            _ => None,
        }
    }

    /// Reaches an entry by index alone, for structures that link entries
    /// by index and know the entry is present.
    pub(crate) fn at_mut(&mut self, index: u32) -> &mut T {
        match &mut self.slots[index as usize] {
            Slot::Full { value, .. } => value,
            Slot::Free { .. } => panic!("slab index {index} is free"),
        }
    }

    pub(crate) fn at(&self, index: u32) -> &T {
        match &self.slots[index as usize] {
            Slot::Full { value, .. } => value,
            Slot::Free { .. } => panic!("slab index {index} is free"),
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        match self.slots.get(key.index as usize) {
            Some(Slot::Full { gen, .. }) if *gen == key.gen => Some(self.remove_at(key.index)),
            _ => None,
        }
    }

    pub(crate) fn remove_at(&mut self, index: u32) -> T {
        let slot = &mut self.slots[index as usize];
        let gen = match slot {
            Slot::Full { gen, .. } => gen.wrapping_add(1),
            Slot::Free { .. } => panic!("slab index {index} is free"),
        };
        let old = std::mem::replace(
            slot,
            Slot::Free {
                gen,
                next_free: self.free,
            },
        );
        self.free = index;
        self.len -= 1;
        match old {
            Slot::Full { value, .. } => value,
            Slot::Free { .. } => unreachable!(),
        }
    }

    /// The values present, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Full { value, .. } => Some(value),
            Slot::Free { .. } => None,
        })
    }

    /// Removes every entry, returning the values.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for i in 0..self.slots.len() {
            if matches!(self.slots[i], Slot::Full { .. }) {
                out.push(self.remove_at(i as u32));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_miss() {
        let mut s = Slab::default();
        let a = s.insert(1);
        assert_eq!(s.remove(a), Some(1));
        let b = s.insert(2);
        assert_eq!(a.index, b.index);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&2));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn drain_returns_all() {
        let mut s = Slab::default();
        let keys: Vec<_> = (0..10).map(|i| s.insert(i)).collect();
        s.remove(keys[3]);
        let mut v = s.drain();
        v.sort();
        assert_eq!(v, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
        assert_eq!(s.len(), 0);
    }
}
