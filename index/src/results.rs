//! `BatchResults`: the output of a batch search, one cache-line-aligned row per query.
//!
//! Ids and distances live in two 64-byte-aligned buffers whose rows are padded to a
//! whole number of cache lines (`k` rounded up to 8 ids / 16 distances), so the
//! workers that fill neighbouring queries never write the same line.

use std::ops::Range;
use std::sync::Mutex;

use sagevec_kernels::{AlignedVec, PAD_DISTANCE, PAD_ID};
use sagevec_scheduler::Par;

use crate::error::IndexError;

const IDS_PER_LINE: usize = 64 / size_of::<u64>();
const DISTANCES_PER_LINE: usize = 64 / size_of::<f32>();

/// Results of a batch search: for query `q`, `ids(q)` and `distances(q)` hold `k`
/// neighbours best first, padded with `u64::MAX` / `+inf` where fewer exist.
/// Allocate once and reuse it across calls with the same shape.
#[derive(Clone, Debug)]
pub struct BatchResults {
    n_queries: usize,
    k: usize,
    ids_stride: usize,
    distances_stride: usize,
    ids: AlignedVec<u64>,
    distances: AlignedVec<f32>,
}

impl BatchResults {
    /// Room for `n_queries` rows of `k` results, all padding.
    pub fn new(n_queries: usize, k: usize) -> Result<Self, IndexError> {
        if k == 0 {
            return Err(IndexError::ZeroK);
        }
        let ids_stride = k.div_ceil(IDS_PER_LINE) * IDS_PER_LINE;
        let distances_stride = k.div_ceil(DISTANCES_PER_LINE) * DISTANCES_PER_LINE;
        Ok(BatchResults {
            n_queries,
            k,
            ids_stride,
            distances_stride,
            ids: AlignedVec::filled(n_queries * ids_stride, PAD_ID),
            distances: AlignedVec::filled(n_queries * distances_stride, PAD_DISTANCE),
        })
    }

    /// Number of query rows.
    pub fn n_queries(&self) -> usize {
        self.n_queries
    }

    /// Results per query.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The ids found for query `q`, best first.
    ///
    /// # Panics
    /// If `q >= n_queries()`.
    pub fn ids(&self, q: usize) -> &[u64] {
        assert!(
            q < self.n_queries,
            "query {q} out of range for {} rows",
            self.n_queries
        );
        &self.ids[q * self.ids_stride..q * self.ids_stride + self.k]
    }

    /// The distances for query `q`, ascending.
    ///
    /// # Panics
    /// If `q >= n_queries()`.
    pub fn distances(&self, q: usize) -> &[f32] {
        assert!(
            q < self.n_queries,
            "query {q} out of range for {} rows",
            self.n_queries
        );
        &self.distances[q * self.distances_stride..q * self.distances_stride + self.k]
    }

    /// Checks that this buffer fits a call with `n_queries` queries and `k`.
    pub(crate) fn check_shape(&self, n_queries: usize, k: usize) -> Result<(), IndexError> {
        if k == 0 {
            return Err(IndexError::ZeroK);
        }
        if (self.n_queries, self.k) == (n_queries, k) {
            Ok(())
        } else {
            Err(IndexError::ResultsShape {
                expected: (n_queries, k),
                got: (self.n_queries, self.k),
            })
        }
    }

    /// All rows as one mutable run (split it to hand rows to workers).
    pub(crate) fn rows_mut(&mut self) -> RowsMut<'_> {
        RowsMut {
            k: self.k,
            ids_stride: self.ids_stride,
            distances_stride: self.distances_stride,
            ids: &mut self.ids,
            distances: &mut self.distances,
        }
    }
}

/// Runs `f(node, query_range, rows)` for every node's share of the `out` rows
/// (split as [`Par::split_range`] splits `0..n_queries`), each inside its node's
/// pool, all nodes at once; under `Par::Seq` once, here.
pub(crate) fn for_each_node_rows<F>(
    par: Par<'_>,
    out: &mut BatchResults,
    f: F,
) -> Result<(), IndexError>
where
    F: Fn(usize, Range<usize>, RowsMut<'_>) -> Result<(), IndexError> + Sync,
{
    let n = out.n_queries();
    let pieces = par.split_range(n);
    let mut rest = out.rows_mut();
    let mut slots = Vec::with_capacity(pieces.len());
    for (_, range) in &pieces {
        let (mine, tail) = rest.split_at(range.len());
        slots.push(Mutex::new(Some(mine)));
        rest = tail;
    }
    let results = par.broadcast_range(n, |node, range| {
        let slot = pieces
            .iter()
            .position(|(_, r)| r.start == range.start && r.end == range.end)
            .and_then(|i| slots[i].lock().ok()?.take());
        match slot {
            Some(rows) => f(node, range, rows),
            None if range.is_empty() => Ok(()),
            None => unreachable!("every node range has exactly one slot"),
        }
    });
    results.into_iter().collect()
}

/// A contiguous run of result rows, borrowed mutably; split it to give each
/// worker its own rows.
#[derive(Debug)]
pub(crate) struct RowsMut<'a> {
    k: usize,
    ids_stride: usize,
    distances_stride: usize,
    ids: &'a mut [u64],
    distances: &'a mut [f32],
}

impl<'a> RowsMut<'a> {
    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.ids.len() / self.ids_stride
    }

    /// Splits off the first `n` rows.
    ///
    /// # Panics
    /// If `n > len()`.
    pub(crate) fn split_at(self, n: usize) -> (RowsMut<'a>, RowsMut<'a>) {
        let (ids_a, ids_b) = self.ids.split_at_mut(n * self.ids_stride);
        let (d_a, d_b) = self.distances.split_at_mut(n * self.distances_stride);
        let part = |ids, distances| RowsMut {
            k: self.k,
            ids_stride: self.ids_stride,
            distances_stride: self.distances_stride,
            ids,
            distances,
        };
        (part(ids_a, d_a), part(ids_b, d_b))
    }

    /// Splits into runs of `n` rows (the last may be shorter).
    pub(crate) fn into_chunks(self, n: usize) -> Vec<RowsMut<'a>> {
        let n = n.max(1);
        let mut out = Vec::with_capacity(self.len().div_ceil(n));
        let mut rest = self;
        while rest.len() > n {
            let (head, tail) = rest.split_at(n);
            out.push(head);
            rest = tail;
        }
        if rest.len() > 0 {
            out.push(rest);
        }
        out
    }

    /// Row `i` of this run: `(ids, distances)`, `k` each.
    pub(crate) fn row(&mut self, i: usize) -> (&mut [u64], &mut [f32]) {
        let ids = &mut self.ids[i * self.ids_stride..i * self.ids_stride + self.k];
        let d = &mut self.distances[i * self.distances_stride..i * self.distances_stride + self.k];
        (ids, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_line_aligned_and_padded() {
        for k in [1usize, 7, 8, 9, 16, 17, 100] {
            let r = BatchResults::new(5, k).unwrap();
            for q in 0..5 {
                assert_eq!(r.ids(q).as_ptr() as usize % 64, 0, "k={k} q={q}");
                assert_eq!(r.distances(q).as_ptr() as usize % 64, 0);
                assert!(r.ids(q).iter().all(|&i| i == PAD_ID));
                assert!(r.distances(q).iter().all(|d| *d == f32::INFINITY));
                assert_eq!(r.ids(q).len(), k);
            }
        }
        assert_eq!(BatchResults::new(3, 0).unwrap_err(), IndexError::ZeroK);
        let empty = BatchResults::new(0, 4).unwrap();
        assert_eq!(empty.n_queries(), 0);
    }

    #[test]
    fn split_rows_are_disjoint_and_numbered() {
        let mut r = BatchResults::new(6, 3).unwrap();
        let (mut a, mut b) = r.rows_mut().split_at(2);
        assert_eq!((a.len(), b.len()), (2, 4));
        a.row(1).0[0] = 11;
        b.row(0).0[2] = 22;
        b.row(3).1[1] = 0.5;
        assert_eq!(r.ids(1)[0], 11);
        assert_eq!(r.ids(2)[2], 22);
        assert_eq!(r.distances(5)[1], 0.5);
    }
}
