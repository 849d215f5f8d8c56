//! [`Slab`]: values in one vector, so tree nodes hold a 4-byte slot instead of a `V`.

use std::mem::size_of;

/// The slot that stands for "no value" (and, in the index, "no node").
pub(super) const NONE: u32 = u32::MAX;

/// Slabs and arenas smaller than this are not worth compacting.
pub(super) const COMPACT_MIN: usize = 64;

/// Values in one vector, addressed by `u32` slots, so nodes stay small whatever `V` is.
pub(super) struct Slab<V> {
    slots: Vec<Option<V>>,
    free: Vec<u32>,
    len: usize,
}

impl<V> Slab<V> {
    /// An empty slab.
    pub(super) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// The number of values.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The value in `slot`; [`NONE`] has none.
    #[inline]
    pub(super) fn get(&self, slot: u32) -> Option<&V> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// The value in `slot`, mutably.
    pub(super) fn get_mut(&mut self, slot: u32) -> Option<&mut V> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// The value in `*slot`, made and stored in a new slot written to `*slot` if there is none.
    pub(super) fn get_or_insert_with(
        &mut self,
        slot: &mut u32,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        if self.get(*slot).is_none() {
            *slot = self.alloc();
            self.len += 1;
        }
        self.slots[*slot as usize].get_or_insert_with(make)
    }

    /// Stores `value` in `*slot`, allocating a slot if `*slot` has none; returns the old value.
    pub(super) fn replace(&mut self, slot: &mut u32, value: V) -> Option<V> {
        if let Some(stored) = self.get_mut(*slot) {
            return Some(std::mem::replace(stored, value));
        }
        *slot = self.alloc();
        self.slots[*slot as usize] = Some(value);
        self.len += 1;
        None
    }

    /// Takes the value out of `*slot` and sets `*slot` to [`NONE`].
    pub(super) fn take(&mut self, slot: &mut u32) -> Option<V> {
        let value = self.slots.get_mut(*slot as usize)?.take()?;
        self.free.push(*slot);
        self.len -= 1;
        *slot = NONE;
        if self.len == 0 {
            *self = Self::new();
        }
        Some(value)
    }

    /// Whether most slots are free, so that [`compact`](Self::compact) is worth a walk over the
    /// owner's nodes. Compacting when three quarters are free keeps the cost amortised `O(1)`
    /// per removal.
    pub(super) fn is_sparse(&self) -> bool {
        self.slots.len() >= COMPACT_MIN && self.len < self.slots.len() / 4
    }

    /// Moves every value to a slab sized to fit; `for_each_slot` must call the given function
    /// on every slot the owner holds, which rewrites it.
    pub(super) fn compact(&mut self, for_each_slot: impl FnOnce(&mut dyn FnMut(&mut u32))) {
        let mut old = std::mem::replace(self, Self::new());
        self.slots.reserve_exact(old.len);
        for_each_slot(&mut |slot| {
            if let Some(value) = old.slots.get_mut(*slot as usize).and_then(Option::take) {
                *slot = NONE;
                self.replace(slot, value);
            }
        });
    }

    fn alloc(&mut self) -> u32 {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        let slot = match u32::try_from(self.slots.len()) {
            Ok(slot) if slot != NONE => slot,
            _ => panic!("topic tree is full: value slots are 32 bits"),
        };
        self.slots.push(None);
        slot
    }

    /// Bytes owned on the heap by the slab itself (not by the values).
    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Option<V>>() + self.free.capacity() * size_of::<u32>()
    }
}
