//! Counters and search-latency histograms, updated without locks.
//!
//! Latencies go to one of several histogram shards picked per thread, so workers
//! rarely touch the same cache line; [`IndexStats`] merges the shards when asked.
//! Buckets are log-linear (8 per power of two), so a reported percentile is the
//! upper edge of its bucket: at most 1/8 (12.5%) above the true value.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use sagevec_kernels::Metric;

const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = 64 * SUB;
const SHARDS: usize = 16;

#[repr(align(64))]
struct Shard {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// A sharded, lock-free latency histogram.
pub(crate) struct LatencyHistogram {
    shards: Box<[Shard]>,
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram").finish_non_exhaustive()
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let log = 63 - ns.leading_zeros();
    let sub = (ns >> (log - SUB_BITS)) as usize & (SUB - 1);
    ((log - SUB_BITS + 1) as usize) * SUB + sub
}

/// Upper edge (exclusive) of a bucket, in nanoseconds.
fn bucket_upper(b: usize) -> u64 {
    if b < SUB {
        return b as u64 + 1;
    }
    let octave = (b / SUB) as u32 + SUB_BITS - 1;
    let sub = (b % SUB) as u64;
    ((SUB as u64 + sub + 1) << octave) >> SUB_BITS
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

fn my_shard() -> usize {
    SHARD.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS);
        }
        s.get()
    })
}

impl LatencyHistogram {
    pub(crate) fn new() -> Self {
        LatencyHistogram {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
                    count: AtomicU64::new(0),
                    sum_ns: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    pub(crate) fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let s = &self.shards[my_shard()];
        s.buckets[bucket_of(ns).min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        s.count.fetch_add(1, Ordering::Relaxed);
        s.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// `(count, mean, p50, p99)` over all shards.
    pub(crate) fn summary(&self) -> LatencySummary {
        let mut merged = vec![0u64; BUCKETS];
        let (mut count, mut sum) = (0u64, 0u64);
        for s in self.shards.iter() {
            for (m, b) in merged.iter_mut().zip(s.buckets.iter()) {
                *m += b.load(Ordering::Relaxed);
            }
            count += s.count.load(Ordering::Relaxed);
            sum += s.sum_ns.load(Ordering::Relaxed);
        }
        let total: u64 = merged.iter().sum();
        let quantile = |q: f64| -> Duration {
            if total == 0 {
                return Duration::ZERO;
            }
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (b, n) in merged.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Duration::from_nanos(bucket_upper(b));
                }
            }
            Duration::from_nanos(bucket_upper(BUCKETS - 1))
        };
        LatencySummary {
            count,
            mean: Duration::from_nanos(sum.checked_div(count).unwrap_or(0)),
            p50: quantile(0.50),
            p99: quantile(0.99),
        }
    }
}

/// Search latency over the index's lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Searches measured (a batch counts each query).
    pub count: u64,
    /// Mean latency.
    pub mean: Duration,
    /// Median (upper edge of its histogram bucket, at most 12.5% high).
    pub p50: Duration,
    /// 99th percentile (upper edge of its histogram bucket, at most 12.5% high).
    pub p99: Duration,
}

/// Event counters of an index.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) searches: AtomicU64,
    pub(crate) batch_searches: AtomicU64,
    pub(crate) vectors_added: AtomicU64,
    pub(crate) vectors_removed: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) repairs: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) builder_errors: AtomicU64,
    pub(crate) exact_fallbacks: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64, by: u64) {
        c.fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// The live graph of a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GraphCounts {
    /// Slots the snapshot counts (live rows, and removed or replaced ones not yet
    /// compacted away).
    pub slots: usize,
    /// Of those, removed or replaced (walked through, never returned).
    pub removed_slots: usize,
    /// The entry point's level.
    pub max_level: usize,
    /// Whether searches walk an f16 copy of the vectors.
    pub walks_f16: bool,
    /// The f16 copy's power-of-two scale, once fitted (`None` before the first
    /// row, or without a copy).
    pub f16_scale: Option<f32>,
    /// Rows whose f16 copy had elements beyond f16's range at that scale and was
    /// clipped (their walk distances are approximate; returned distances stay exact).
    /// A compaction fits the scale again.
    pub clipped_rows: u64,
}

/// Heap bytes by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryBytes {
    /// The f32 vectors (allocated chunks, rows padded to cache lines).
    pub vectors: usize,
    /// The graph: its f16 walk copy (see [`Traversal`](crate::graph::Traversal))
    /// and links.
    pub graphs: usize,
    /// Ids, tombstones, levels, locks and metadata slots of every row.
    pub rows: usize,
}

impl MemoryBytes {
    /// Sum of the parts.
    pub fn total(&self) -> usize {
        self.vectors + self.graphs + self.rows
    }
}

/// A point-in-time report on an index ([`Index::stats`](crate::Index::stats)).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexStats {
    /// Live vectors.
    pub len: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Distance metric.
    pub metric: Metric,
    /// Snapshot version the report was read from.
    pub version: u64,
    /// The live graph.
    pub graph: GraphCounts,
    /// Rows stored, live or removed-but-not-yet-compacted-away.
    pub rows_stored: usize,
    /// Single-query searches served.
    pub searches: u64,
    /// Batch searches served.
    pub batch_searches: u64,
    /// Vectors added (an upsert counts once).
    pub vectors_added: u64,
    /// Vectors removed.
    pub vectors_removed: u64,
    /// Background compactions published (graph rebuilt without removed rows).
    pub compactions: u64,
    /// Nodes the builder linked again because no walk reached them.
    pub repairs: u64,
    /// Checkpoints written (durable indexes).
    pub checkpoints: u64,
    /// Background jobs that failed (the index kept its graph).
    pub builder_errors: u64,
    /// The last builder failure, if any.
    pub last_builder_error: Option<String>,
    /// Graph searches answered by an exact scan because a filter admitted few rows
    /// (or too few rows passed to fill `k`).
    pub exact_fallbacks: u64,
    /// Search latency per query.
    pub latency: LatencySummary,
    /// Heap bytes by part.
    pub memory: MemoryBytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_values_within_an_eighth() {
        let mut prev = 0;
        for ns in [0u64, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 12_345, 1 << 40] {
            let b = bucket_of(ns);
            assert!(b >= prev);
            prev = b;
            let upper = bucket_upper(b);
            assert!(upper > ns, "ns={ns} b={b} upper={upper}");
            assert!(
                (upper - ns) as f64 <= ns as f64 / 8.0 + 1.0,
                "ns={ns} upper={upper}"
            );
        }
    }

    #[test]
    fn summary_reports_percentiles() {
        let h = LatencyHistogram::new();
        for i in 1..=100u64 {
            h.record(Duration::from_micros(i));
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert!(s.p99 >= Duration::from_micros(99) && s.p99 <= Duration::from_micros(113));
        assert!(s.p50 >= Duration::from_micros(50) && s.p50 <= Duration::from_micros(57));
        assert_eq!(s.mean, Duration::from_nanos(50_500));
    }
}
