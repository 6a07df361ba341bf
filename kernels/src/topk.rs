//! Top-k selection: a bounded max-heap (`TopK`) and a partial sort (`smallest_k`).
//!
//! One order everywhere: ascending distance by `f32::total_cmp`, ties to the smaller
//! id. `total_cmp` makes the order total (−0.0 < +0.0, NaN after +inf), so results
//! are deterministic whatever order candidates arrive in.

use std::cmp::Ordering;

/// One search result: a row id and its distance (smaller is closer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The row id (or user key).
    pub id: u64,
    /// The distance to the query.
    pub distance: f32,
}

/// The id that pads missing results.
pub const PAD_ID: u64 = u64::MAX;
/// The distance that pads missing results.
pub const PAD_DISTANCE: f32 = f32::INFINITY;

/// The result order: ascending `total_cmp` distance, then ascending id.
#[inline]
pub fn cmp_neighbors(a: &Neighbor, b: &Neighbor) -> Ordering {
    a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id))
}

/// An `i32` whose signed order equals `f32::total_cmp` order (the transform
/// `total_cmp` itself uses), so filters compare integers.
#[inline(always)]
pub fn total_order_key(d: f32) -> i32 {
    let bits = d.to_bits() as i32;
    bits ^ ((((bits >> 31) as u32) >> 1) as i32)
}

/// The `k` smallest of a stream of candidates, kept in a bounded max-heap.
///
/// `push` costs O(log k) when the candidate enters and one comparison when it does
/// not; use [`TopK::admits_key`] to skip most candidates with an integer compare.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    heap: Vec<Neighbor>,
}

impl TopK {
    /// An empty selection of at most `k` results (`k = 0` keeps nothing).
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: Vec::with_capacity(k),
        }
    }

    /// The bound `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Results held now (at most `k`).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no result is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Whether `k` results are held, so a newcomer must beat the worst.
    pub fn is_full(&self) -> bool {
        self.heap.len() >= self.k
    }

    /// The worst result held, if full (the one a newcomer must beat).
    pub fn worst(&self) -> Option<Neighbor> {
        if self.is_full() {
            self.heap.first().copied()
        } else {
            None
        }
    }

    /// The [`total_order_key`] a distance must not exceed to have a chance to
    /// enter: `i32::MAX` while not full. Candidates with a larger key never enter.
    #[inline]
    pub fn admit_key(&self) -> i32 {
        if self.k == 0 {
            i32::MIN
        } else if self.is_full() {
            total_order_key(self.heap[0].distance)
        } else {
            i32::MAX
        }
    }

    /// Whether a distance with this key could enter (a cheap pre-filter for `push`).
    #[inline(always)]
    pub fn admits_key(&self, key: i32) -> bool {
        key <= self.admit_key()
    }

    /// Offers a candidate; returns whether it was kept.
    #[inline]
    pub fn push(&mut self, distance: f32, id: u64) -> bool {
        let cand = Neighbor { id, distance };
        if self.heap.len() < self.k {
            self.heap.push(cand);
            self.sift_up(self.heap.len() - 1);
            true
        } else if self.k > 0 && cmp_neighbors(&cand, &self.heap[0]) == Ordering::Less {
            self.heap[0] = cand;
            self.sift_down(0);
            true
        } else {
            false
        }
    }

    /// Forgets every result (the capacity is kept).
    pub fn clear(&mut self) {
        self.heap.clear();
    }

    /// Forgets every result and sets a new bound `k`, reusing the allocation.
    pub fn reset(&mut self, k: usize) {
        self.heap.clear();
        self.heap.reserve(k);
        self.k = k;
    }

    /// The results held, in heap order (not sorted): for merging into another
    /// selection without allocating.
    pub fn as_unordered_slice(&self) -> &[Neighbor] {
        &self.heap
    }

    /// Empties the selection into `ids` / `distances`, best first, padding the rest
    /// with [`PAD_ID`] / [`PAD_DISTANCE`]. Allocates nothing.
    ///
    /// # Panics
    /// If `ids` and `distances` differ in length.
    pub fn drain_sorted_into(&mut self, ids: &mut [u64], distances: &mut [f32]) {
        assert_eq!(
            ids.len(),
            distances.len(),
            "ids and distances must have one length"
        );
        self.heap.sort_unstable_by(cmp_neighbors);
        for (slot, (id, dist)) in ids.iter_mut().zip(distances.iter_mut()).enumerate() {
            match self.heap.get(slot) {
                Some(n) => {
                    *id = n.id;
                    *dist = n.distance;
                }
                None => {
                    *id = PAD_ID;
                    *dist = PAD_DISTANCE;
                }
            }
        }
        self.heap.clear();
    }

    /// The results, best first (consumes the selection).
    pub fn into_sorted_vec(mut self) -> Vec<Neighbor> {
        self.heap.sort_unstable_by(cmp_neighbors);
        self.heap
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if cmp_neighbors(&self.heap[i], &self.heap[parent]) == Ordering::Greater {
                self.heap.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let mut largest = left;
            if right < n && cmp_neighbors(&self.heap[right], &self.heap[left]) == Ordering::Greater
            {
                largest = right;
            }
            if cmp_neighbors(&self.heap[largest], &self.heap[i]) == Ordering::Greater {
                self.heap.swap(i, largest);
                i = largest;
            } else {
                break;
            }
        }
    }
}

/// The `k` smallest of `distances` (ids are positions plus `id_offset`), best first,
/// by a partial sort: O(n + k log k). Returns fewer than `k` when `distances` is short.
pub fn smallest_k(distances: &[f32], k: usize, id_offset: u64) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = distances
        .iter()
        .enumerate()
        .map(|(i, &distance)| Neighbor {
            id: id_offset + i as u64,
            distance,
        })
        .collect();
    if k == 0 {
        return Vec::new();
    }
    if k < all.len() {
        all.select_nth_unstable_by(k - 1, cmp_neighbors);
        all.truncate(k);
    }
    all.sort_unstable_by(cmp_neighbors);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(d: &[f32], k: usize) -> Vec<Neighbor> {
        let mut all: Vec<Neighbor> = d
            .iter()
            .enumerate()
            .map(|(i, &x)| Neighbor {
                id: i as u64,
                distance: x,
            })
            .collect();
        all.sort_by(cmp_neighbors);
        all.truncate(k);
        all
    }

    #[test]
    fn key_matches_total_cmp() {
        let vals = [
            f32::NEG_INFINITY,
            -1e30,
            -1.0,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            1e-45,
            1.0,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        for &a in &vals {
            for &b in &vals {
                assert_eq!(
                    total_order_key(a).cmp(&total_order_key(b)),
                    a.total_cmp(&b),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn heap_matches_sort_with_ties_and_any_order() {
        // Many ties: the smaller id must win whatever the arrival order.
        let d: Vec<f32> = (0..200).map(|i| ((i * 37) % 11) as f32).collect();
        for k in [0usize, 1, 5, 11, 199, 200, 250] {
            let want = brute(&d, k);
            for rev in [false, true] {
                let mut t = TopK::new(k);
                let order: Vec<usize> = if rev {
                    (0..d.len()).rev().collect()
                } else {
                    (0..d.len()).collect()
                };
                for i in order {
                    if t.admits_key(total_order_key(d[i])) {
                        t.push(d[i], i as u64);
                    }
                }
                assert_eq!(t.clone().into_sorted_vec(), want, "k={k} rev={rev}");
                let mut ids = vec![0u64; k + 2];
                let mut ds = vec![0f32; k + 2];
                t.drain_sorted_into(&mut ids, &mut ds);
                for (j, n) in want.iter().enumerate() {
                    assert_eq!((ids[j], ds[j]), (n.id, n.distance));
                }
                for j in want.len()..k + 2 {
                    assert_eq!((ids[j], ds[j].to_bits()), (PAD_ID, PAD_DISTANCE.to_bits()));
                }
                assert!(t.is_empty());
            }
            assert_eq!(smallest_k(&d, k, 0), want);
        }
    }

    #[test]
    fn nan_sorts_last_and_negative_zero_first() {
        let d = [f32::NAN, 0.0, -0.0, f32::INFINITY];
        let got: Vec<u64> = smallest_k(&d, 4, 10).iter().map(|n| n.id).collect();
        assert_eq!(got, vec![12, 11, 13, 10]);
    }
}
