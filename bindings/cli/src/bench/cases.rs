//! The benchmark cases: one function per (kernel shape), each returning a [`Row`].
//!
//! | case | what is timed | bytes counted | flops counted |
//! |---|---|---|---|
//! | `l2sq 1:1 hot` | `distance(l2sq)` on one pair that stays in L1 | 2·d·4 | 2·d |
//! | `l2sq 1:N L2` | `distances(l2sq)`, one query vs a block of rows that fits L2 | N·d·4 | 2·N·d |
//! | `l2sq 1:N mem` | `distances(l2sq)` over a corpus several times the LLC, in chunks, rotating; one op = one full pass | N·d·4 | 2·N·d |
//! | `knn l2 k=K` | `knn(l2sq)` Q queries × N rows, top-k fused, cached row norms | — | 2·Q·N·d |
//!
//! The query's own bytes are not counted (it stays in L1). Flops follow the GEMM
//! convention, 2 per element pair, for every shape: l2sq really issues a sub and an
//! FMA per pair, but counting it as 2 keeps one-to-many and many-to-many (which uses
//! `|q|² + |x|² - 2q·x`) on the same scale as faiss/BLAS figures.

use std::hint::black_box;

use sagevec_kernels::{AlignedVec, Isa, KernelError, KernelTable, Metric, Rows};
use sagevec_rng::SplitMix64;

use super::timing::{self, Sample};
use super::{Plan, row_id};

/// What a row's percentage is quoted against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitKind {
    /// GFLOP/s vs the ISA's measured peak FMA rate (in-cache shapes).
    Fma,
    /// GB/s vs the measured memory read bandwidth (out-of-cache shapes).
    Mem,
}

/// One measured line of the table.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// Stable id, `{metric}/{elem}/{isa}/{dim}/{case}`.
    pub(crate) id: String,
    /// Kernel column (`l2sq 1:1 hot`, ...).
    pub(crate) kernel: String,
    /// Shape column (`1x1`, `1x85`, `256x20000`).
    pub(crate) shape: String,
    pub(crate) isa: Isa,
    pub(crate) dim: usize,
    /// Rows per op (1 for the pair), queries per op (1 except knn).
    pub(crate) n_rows: usize,
    pub(crate) n_queries: usize,
    pub(crate) k: Option<usize>,
    pub(crate) sample: Sample,
    /// Bytes of vectors read per op (None where it is not meaningful: knn).
    pub(crate) bytes_per_op: Option<f64>,
    pub(crate) flops_per_op: f64,
    pub(crate) limit: LimitKind,
}

impl Row {
    pub(crate) fn gbs(&self) -> Option<f64> {
        self.bytes_per_op.map(|b| b / self.sample.median / 1e9)
    }

    pub(crate) fn gflops(&self) -> f64 {
        self.flops_per_op / self.sample.median / 1e9
    }

    pub(crate) fn qps(&self) -> f64 {
        self.n_queries as f64 / self.sample.median
    }
}

/// Deterministic pseudo-random floats in [-1, 1) (`SplitMix64::fill`): cheap enough
/// to fill hundreds of MiB, and never denormal, NaN or infinite.
pub(crate) fn random_vec(len: usize, seed: u64) -> AlignedVec<f32> {
    let mut v = AlignedVec::<f32>::zeroed(len);
    SplitMix64::new(seed).fill(&mut v);
    v
}

/// One-to-one l2sq on a hot pair.
pub(crate) fn one_to_one(table: &KernelTable, dim: usize, plan: &Plan) -> Result<Row, KernelError> {
    let a = random_vec(dim, 1);
    let b = random_vec(dim, 2);
    let sample = timing::batched(plan.reps, plan.target, |iters| {
        for _ in 0..iters {
            black_box(table.distance(Metric::L2Sq, black_box(&a[..]), black_box(&b[..]))?);
        }
        Ok(())
    })?;
    Ok(Row {
        id: row_id(table.isa(), dim, "one_to_one_hot"),
        kernel: "l2sq 1:1 hot".into(),
        shape: "1x1".into(),
        isa: table.isa(),
        dim,
        n_rows: 1,
        n_queries: 1,
        k: None,
        sample,
        bytes_per_op: Some((2 * dim * 4) as f64),
        flops_per_op: (2 * dim) as f64,
        limit: LimitKind::Fma,
    })
}

/// One query against a block of `plan.l2_block_bytes` of rows (L2-resident after
/// the warm-up).
pub(crate) fn one_to_many_l2(
    table: &KernelTable,
    dim: usize,
    corpus: &[f32],
    plan: &Plan,
) -> Result<Row, KernelError> {
    let n = (plan.l2_block_bytes / (dim * 4))
        .max(1)
        .min(corpus.len() / dim);
    let block = Rows::contiguous(&corpus[..n * dim], dim)?;
    let query = random_vec(dim, 3);
    let mut out = vec![0.0f32; n];
    let sample = timing::batched(plan.reps, plan.target, |iters| {
        for _ in 0..iters {
            table.distances(Metric::L2Sq, black_box(&query[..]), block, &mut out)?;
            black_box(&mut out);
        }
        Ok(())
    })?;
    Ok(Row {
        id: row_id(table.isa(), dim, "one_to_many_l2"),
        kernel: "l2sq 1:N L2".into(),
        shape: format!("1x{n}"),
        isa: table.isa(),
        dim,
        n_rows: n,
        n_queries: 1,
        k: None,
        sample,
        bytes_per_op: Some((n * dim * 4) as f64),
        flops_per_op: (2 * n * dim) as f64,
        limit: LimitKind::Fma,
    })
}

/// Rows per `distances` call in the out-of-cache pass: the output chunk stays in L1.
const MEM_CHUNK_ROWS: usize = 256;

/// One query against the whole corpus (several times the LLC), called chunk by
/// chunk in order so every row comes from memory; one op = one full pass.
pub(crate) fn one_to_many_mem(
    table: &KernelTable,
    dim: usize,
    corpus: &[f32],
    plan: &Plan,
) -> Result<Row, KernelError> {
    let n = corpus.len() / dim;
    let all = Rows::contiguous(&corpus[..n * dim], dim)?;
    let query = random_vec(dim, 4);
    let mut out = vec![0.0f32; MEM_CHUNK_ROWS];
    let sample = timing::repeated(1, plan.mem_reps, || {
        let mut start = 0;
        while start < n {
            let end = (start + MEM_CHUNK_ROWS).min(n);
            let chunk = all.slice_rows(start, end);
            table.distances(
                Metric::L2Sq,
                black_box(&query[..]),
                chunk,
                &mut out[..end - start],
            )?;
            black_box(&mut out);
            start = end;
        }
        Ok(())
    })?;
    Ok(Row {
        id: row_id(table.isa(), dim, "one_to_many_mem"),
        kernel: "l2sq 1:N mem".into(),
        shape: format!("1x{n}"),
        isa: table.isa(),
        dim,
        n_rows: n,
        n_queries: 1,
        k: None,
        sample,
        bytes_per_op: Some((n * dim * 4) as f64),
        flops_per_op: (2 * n * dim) as f64,
        limit: LimitKind::Mem,
    })
}

/// Queries per calibration run (and the granularity of a shrunk query count): the
/// kernels' query block, a multiple of every ISA's tile height.
const KNN_QUERY_STEP: usize = 24;

/// Many-to-many fused top-k: `plan.knn_q` queries × `plan.knn_n` rows of the
/// corpus, cached row norms. A first run on `KNN_QUERY_STEP` queries warms up and
/// estimates the time per query; if the full query count would exceed
/// `plan.knn_budget` per repetition (the scalar path), fewer queries are timed —
/// the shape column shows the count used, and QPS stays per query.
///
/// The base is streamed from memory once per call, a fixed cost the 24-query run
/// spreads over few queries; the estimate takes that out (at `mem_gbs`, the measured
/// read bandwidth, and never more than half the run), so the SIMD paths keep the full
/// Q on a noisy machine.
pub(crate) fn knn(
    table: &KernelTable,
    dim: usize,
    corpus: &[f32],
    queries: &[f32],
    plan: &Plan,
    mem_gbs: f64,
) -> Result<Row, KernelError> {
    let k = plan.k;
    let n = plan.knn_n.min(corpus.len() / dim);
    let base = Rows::contiguous(&corpus[..n * dim], dim)?;
    let mut norms = vec![0.0f32; n];
    table.squared_norms(base, &mut norms)?;
    let q_max = plan.knn_q.min(queries.len() / dim);
    let all_q = Rows::contiguous(&queries[..q_max * dim], dim)?;
    let mut ids = vec![0u64; q_max * k];
    let mut dists = vec![0.0f32; q_max * k];

    let mut run = |q: usize| {
        table.knn(
            Metric::L2Sq,
            all_q.slice_rows(0, q),
            base,
            Some(&norms),
            k,
            &mut ids[..q * k],
            &mut dists[..q * k],
        )?;
        black_box(&mut ids);
        Ok(())
    };
    let q0 = q_max.min(KNN_QUERY_STEP);
    let t0 = timing::once(|| run(q0))?;
    let stream = if mem_gbs > 0.0 {
        (n * dim * 4) as f64 / (mem_gbs * 1e9)
    } else {
        0.0
    };
    let per_query = (t0 - stream).max(0.5 * t0) / q0 as f64;
    let budget = plan.knn_budget.as_secs_f64();
    let q = if per_query * q_max as f64 <= budget {
        q_max
    } else {
        let fit = (budget / per_query) as usize / KNN_QUERY_STEP * KNN_QUERY_STEP;
        fit.clamp(q0, q_max)
    };
    let sample = timing::repeated(0, plan.knn_reps, || run(q))?;
    Ok(Row {
        id: row_id(table.isa(), dim, &format!("knn_k{k}")),
        kernel: format!("knn l2 k={k}"),
        shape: format!("{q}x{n}"),
        isa: table.isa(),
        dim,
        n_rows: n,
        n_queries: q,
        k: Some(k),
        sample,
        bytes_per_op: None,
        flops_per_op: 2.0 * q as f64 * n as f64 * dim as f64,
        limit: LimitKind::Fma,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_vec_in_range_and_deterministic() {
        let a = random_vec(10_000, 7);
        assert!(a.iter().all(|x| (-1.0..1.0).contains(x)));
        assert_eq!(a, random_vec(10_000, 7));
        let mean: f32 = a.iter().sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.05, "mean {mean}");
    }
}
