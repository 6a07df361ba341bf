//! Per-search state that is reused, never reallocated: an epoch-stamped visited set
//! and the packed `(distance, row)` keys the beam's heaps hold.
//!
//! *Visited set*: one `u16` stamp per node; a search bumps the epoch instead of
//! clearing, so starting a search costs O(1), and the array is zeroed only when the
//! epoch wraps (every 65 535 searches).
//!
//! *Packed keys*: a candidate is one `u64`, the distance's
//! [`total_order_key`](sagevec_kernels::total_order_key) (sign-flipped to unsigned)
//! in the high half and the row in the low half. Integer order on the key is
//! exactly the kernels' result order (ascending `f32::total_cmp`, ties to the
//! smaller row), so the heaps compare one integer, and the distance is recovered
//! bit for bit.

use sagevec_kernels::total_order_key;

/// Marks nodes seen by the current search.
#[derive(Clone, Debug, Default)]
pub(crate) struct VisitedSet {
    stamps: Vec<u16>,
    epoch: u16,
}

impl VisitedSet {
    /// Starts a new search over `n` nodes: nothing is visited afterwards.
    pub(crate) fn reset(&mut self, n: usize) {
        if self.stamps.len() < n {
            self.stamps.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamps.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `node` visited; returns whether it was new.
    #[inline(always)]
    pub(crate) fn insert(&mut self, node: u32) -> bool {
        let slot = &mut self.stamps[node as usize];
        if *slot == self.epoch {
            false
        } else {
            *slot = self.epoch;
            true
        }
    }

    /// Heap bytes held.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.stamps.capacity() * size_of::<u16>()
    }

    #[cfg(test)]
    pub(crate) fn set_epoch(&mut self, epoch: u16) {
        self.epoch = epoch;
    }
}

/// `(distance, row)` as one integer ordered like the kernels' result order.
#[inline(always)]
pub(crate) fn pack(distance: f32, row: u32) -> u64 {
    let key = (total_order_key(distance) as u32) ^ 0x8000_0000;
    (u64::from(key) << 32) | u64::from(row)
}

/// The row of a packed key.
#[inline(always)]
pub(crate) fn row_of(packed: u64) -> u32 {
    packed as u32
}

/// The distance of a packed key, bit for bit as it was packed.
#[inline(always)]
pub(crate) fn distance_of(packed: u64) -> f32 {
    let key = (((packed >> 32) as u32) ^ 0x8000_0000) as i32;
    // `total_order_key` is an involution: applying it again undoes it.
    let bits = key ^ ((((key >> 31) as u32) >> 1) as i32);
    f32::from_bits(bits as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_keys_order_like_the_kernels_and_round_trip() {
        let ds = [
            f32::NEG_INFINITY,
            -3.5,
            -0.0,
            0.0,
            1e-40,
            2.0,
            f32::INFINITY,
            f32::NAN,
        ];
        for &a in &ds {
            for &b in &ds {
                for (ra, rb) in [(0u32, 1u32), (7, 7), (u32::MAX, 0)] {
                    let want = a.total_cmp(&b).then(ra.cmp(&rb));
                    assert_eq!(pack(a, ra).cmp(&pack(b, rb)), want, "{a} {b} {ra} {rb}");
                }
            }
            let p = pack(a, 12345);
            assert_eq!(distance_of(p).to_bits(), a.to_bits());
            assert_eq!(row_of(p), 12345);
        }
    }

    #[test]
    fn visited_set_forgets_on_reset_and_survives_the_wrap() {
        let mut v = VisitedSet::default();
        v.reset(10);
        assert!(v.insert(3));
        assert!(!v.insert(3));
        v.reset(10);
        assert!(v.insert(3));
        // Node 4 stamped at epoch 1; after 65 535 more searches the epoch is 1 again,
        // so the wrap must clear the stamps or node 4 would look visited.
        v.reset(10);
        v.set_epoch(1);
        assert!(v.insert(4));
        v.set_epoch(u16::MAX);
        v.reset(20);
        assert!(v.insert(4) && v.insert(19));
        assert!(!v.insert(4));
    }
}
