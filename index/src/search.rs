//! The search engine: one query or a batch against one snapshot.
//!
//! A query walks the live graph with `admit(slot)` = "committed at this version,
//! not removed at or before it, and passing the filter"; refused slots are walked
//! through, never returned. Exact search (or a filter that admits few rows, or a
//! graph walk that found fewer than `k` admitted rows) scans every committed slot
//! with the one-to-many kernel instead. Distances are the f32 kernels' for the
//! index's internal metric; the user sees them through [`Shared::report_distance`].

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sagevec_kernels::{DistanceFn, KernelTable, Metric, Rows, TopK, try_kernels};
use sagevec_scheduler::rayon::prelude::*;

use crate::config::SearchParams;
use crate::error::IndexError;
use crate::graph::SearchScratch;
use crate::live::View;
use crate::metadata::Filter;
use crate::results::{BatchResults, RowsMut, for_each_node_rows};
use crate::shared::Shared;
use crate::snapshot::{Hit, Hits, State, metadata_of};
use crate::stats::Counters;

/// Per-thread buffers, so a search allocates nothing once warm.
#[derive(Debug, Default)]
struct Scratch {
    query: Vec<f32>,
    top: Option<TopK>,
    graph: SearchScratch,
    local: Option<TopK>,
    distances: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Rows a filter sample looks at to estimate how many rows pass.
const FILTER_SAMPLE: usize = 64;

/// A checked search call: what every query of it shares.
struct Plan<'a> {
    state: &'a State,
    shared: &'a Shared,
    params: &'a SearchParams,
    ef: usize,
    table: &'static KernelTable,
    pair: DistanceFn<f32>,
}

/// One query's view of the snapshot.
struct Query<'a, 'v> {
    plan: &'a Plan<'a>,
    view: &'a View<'v>,
    /// The query in stored units (unit vector under cosine).
    q: &'a [f32],
}

impl Query<'_, '_> {
    /// Whether committed slot `slot` is live at the snapshot and passes the filter.
    #[inline(always)]
    fn admits(&self, slot: usize) -> bool {
        let version = self.plan.state.version;
        self.view.alive_at(slot, version)
            && self
                .plan
                .params
                .filter
                .as_ref()
                .is_none_or(|f| f.admits(self.view.id(slot), self.view.metadata(slot)))
    }

    /// Exact scan of every committed slot into `out`.
    fn scan(&self, distances: &mut Vec<f32>, out: &mut TopK) {
        let plan = self.plan;
        self.view.for_each_run(|first, rows| {
            distances.resize(rows.n_rows(), 0.0);
            plan.table
                .distances(plan.shared.internal_metric, self.q, rows, distances)
                .expect("query and rows share the index's dimension");
            for (i, &d) in distances.iter().enumerate() {
                let slot = first + i;
                if self.admits(slot) {
                    out.push(d, self.view.id(slot));
                }
            }
        });
    }

    /// Whether a sample says fewer than `4 * ef` committed slots pass `filter`.
    fn few_pass(&self, ef: usize) -> bool {
        let n = self.view.bound();
        let sample = n.min(FILTER_SAMPLE);
        if sample == 0 {
            return true;
        }
        let step = n / sample;
        let passed = (0..sample).filter(|i| self.admits(i * step)).count();
        passed * n < 4 * ef * sample
    }
}

impl Plan<'_> {
    fn new<'a>(
        shared: &'a Shared,
        state: &'a State,
        params: &'a SearchParams,
    ) -> Result<Plan<'a>, IndexError> {
        let ef = params.validate(shared.ef_search)?;
        let table = try_kernels()?;
        Ok(Plan {
            state,
            shared,
            params,
            ef,
            table,
            pair: table.distance_fn::<f32>(shared.internal_metric),
        })
    }

    /// Searches one (unchecked) query into `top` (cleared here, bound `k`), with
    /// the index's internal distances and ids.
    fn run(&self, query: &[f32], scratch: &mut Scratch, top: &mut TopK) -> Result<(), IndexError> {
        self.shared.check_query(query, &mut scratch.query)?;
        let q = if self.shared.metric == Metric::Cosine {
            &scratch.query[..]
        } else {
            query
        };
        let k = self.params.k;
        top.reset(k);
        let view = self.state.graph.view(self.state.bound);
        let one = Query {
            plan: self,
            view: &view,
            q,
        };
        // A small allowed-id set: evaluate exactly those rows, nothing else.
        if let Some(Filter::Ids(set)) = &self.params.filter
            && set.len() <= 32 * self.ef
        {
            for id in set {
                if let Some(slot) = self.state.slot(*id)
                    && view.alive_at(slot, self.state.version)
                {
                    top.push(self.pair.call(q, view.vector(slot)), *id);
                }
            }
            return Ok(());
        }
        if self.params.exact {
            one.scan(&mut scratch.distances, top);
            return Ok(());
        }
        if self.params.filter.is_some() && one.few_pass(self.ef.max(k)) {
            Counters::bump(&self.shared.counters.exact_fallbacks, 1);
            one.scan(&mut scratch.distances, top);
            return Ok(());
        }
        let local = scratch.local.get_or_insert_with(|| TopK::new(k));
        local.reset(k);
        let bound = view.bound();
        let version = self.state.version;
        // Without a filter the rule is two comparisons; kept apart so the walk
        // inlines it.
        if self.params.filter.is_none() {
            self.state.graph.search(
                q,
                self.ef,
                |slot| (slot as usize) < bound && view.alive_at(slot as usize, version),
                &mut scratch.graph,
                local,
            );
        } else {
            self.state.graph.search(
                q,
                self.ef,
                |slot| (slot as usize) < bound && one.admits(slot as usize),
                &mut scratch.graph,
                local,
            );
        }
        // A walk that found fewer than k admitted rows (a filter or many tombstones
        // cut the beam short) may have missed some: scan instead, so a search
        // returns k results whenever k rows pass.
        if local.len() < k && self.state.ids.len() > local.len() {
            if self.params.filter.is_some() {
                Counters::bump(&self.shared.counters.exact_fallbacks, 1);
            }
            one.scan(&mut scratch.distances, top);
            return Ok(());
        }
        for n in local.as_unordered_slice() {
            top.push(n.distance, view.id(n.id as usize));
        }
        Ok(())
    }

    /// Reported distance from the index's internal one.
    fn report(&self, d: f32) -> f32 {
        self.shared.report_distance(d)
    }

    /// An exact, unfiltered batch through the fused many-to-many kernel: each
    /// worker takes a contiguous share of the queries and, for each block of
    /// [`FUSED_QUERY_BLOCK`] of them, streams every committed run of rows once (a
    /// per-query scan re-reads the rows per query). `queries` are the caller's
    /// rows, `stored` the same in stored units (unit vectors under cosine).
    ///
    /// The kernel cannot skip tombstones and ranks by its own formula (the norm
    /// expansion, a few ulps from the one-to-one kernel's), so it keeps
    /// [`fused_candidates`] per query; the live ones get the one-to-one distance,
    /// the formula of every other search path, and the best `k` of them are the
    /// answer when [`fused_answer_is_exact`] proves that no row left out could
    /// rank among them. Otherwise (removed copies crowd the query, ties or
    /// near-ties at the edge of the candidates) the query is scanned alone, as
    /// before, so results equal the per-query path's bit for bit.
    fn exact_batch(
        &self,
        queries: Rows<'_, f32>,
        stored: Rows<'_, f32>,
        out: &mut BatchResults,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<(), IndexError> {
        let (shared, state) = (self.shared, self.state);
        let metric = shared.internal_metric;
        let k = self.params.k;
        // A heap that holds every committed row has seen them all.
        let cap = fused_candidates(k).min(state.bound.max(1));
        let saw_all = cap >= state.bound;
        let version = state.version;
        let par = shared.par()?;
        // Squared norms of every run once for the whole batch, on every worker:
        // the L2 expansion needs them, and their maximum bounds the kernel's error.
        // A cosine index stores unit rows, so its bound needs no pass over them.
        let unit_rows = shared.metric == Metric::Cosine;
        let norms: Vec<Vec<f32>> = {
            let view = state.graph.view(state.bound);
            let mut norms = Vec::new();
            let mut result = Ok(());
            view.for_each_run(|_, rows| {
                if result.is_ok() && !unit_rows && cancelled() {
                    result = Err(IndexError::Cancelled);
                }
                if result.is_ok() && !unit_rows {
                    match crate::exact::squared_norms(rows, par) {
                        Ok(n) => norms.push(n),
                        Err(e) => result = Err(e),
                    }
                }
            });
            result?;
            norms
        };
        let max_norm2 = if unit_rows {
            1.0
        } else {
            norms.iter().flatten().fold(0.0f32, |m, &x| m.max(x))
        };
        // Inner product ranks by the dot product alone.
        let kernel_norms = |run: usize| match metric {
            Metric::InnerProduct => None,
            _ => norms.get(run).map(Vec::as_slice),
        };
        let share = |range: std::ops::Range<usize>, mut rows: RowsMut<'_>| {
            let view = state.graph.view(state.bound);
            let mut heaps: Vec<TopK> = Vec::new();
            SCRATCH.with(|cell| -> Result<(), IndexError> {
                let mut scratch = cell.borrow_mut();
                let mut top = scratch.top.take().unwrap_or_else(|| TopK::new(k));
                let mut block_start = range.start;
                let outcome = loop {
                    if block_start >= range.end {
                        break Ok(());
                    }
                    let block = block_start..(block_start + FUSED_QUERY_BLOCK).min(range.end);
                    block_start = block.end;
                    let start = Instant::now();
                    heaps.clear();
                    heaps.extend(block.clone().map(|_| TopK::new(cap)));
                    let part = stored.slice_rows(block.start, block.end);
                    // Cancellation is checked before each run of rows (about 8 MiB).
                    let mut result: Result<(), IndexError> = Ok(());
                    let mut run = 0;
                    view.for_each_run(|first, base| {
                        if result.is_ok() && cancelled() {
                            result = Err(IndexError::Cancelled);
                        }
                        if result.is_ok() {
                            result = self
                                .table
                                .knn_accumulate(
                                    metric,
                                    part,
                                    base,
                                    kernel_norms(run),
                                    first as u64,
                                    &mut heaps,
                                )
                                .map_err(IndexError::from);
                        }
                        run += 1;
                    });
                    if let Err(e) = result {
                        break Err(e);
                    }
                    for (i, heap) in heaps.iter().enumerate() {
                        let q = part.row(i);
                        top.reset(k);
                        for n in heap.as_unordered_slice() {
                            let slot = n.id as usize;
                            if view.alive_at(slot, version) {
                                top.push(self.pair.call(q, view.vector(slot)), view.id(slot));
                            }
                        }
                        if !saw_all && !fused_answer_is_exact(metric, q, heap, &top, max_norm2) {
                            if cancelled() {
                                result = Err(IndexError::Cancelled);
                                break;
                            }
                            result = self.run(queries.row(block.start + i), &mut scratch, &mut top);
                            if result.is_err() {
                                break;
                            }
                        }
                        let (ids, dists) = rows.row(block.start - range.start + i);
                        top.drain_sorted_into(ids, dists);
                        for d in dists.iter_mut() {
                            *d = self.report(*d);
                        }
                    }
                    if let Err(e) = result {
                        break Err(e);
                    }
                    // The latency histogram counts searches: each query of the
                    // block is recorded at the block's time per query.
                    let each = start.elapsed() / block.len() as u32;
                    for _ in block {
                        shared.latency.record(each);
                    }
                };
                scratch.top = Some(top);
                outcome
            })
        };
        let parallel = !par.is_seq();
        for_each_node_rows(par, out, |_node, range, rows| {
            let workers = if parallel {
                sagevec_scheduler::rayon::current_num_threads()
            } else {
                1
            };
            let per = range.len().div_ceil(workers).max(1);
            let mut items = Vec::new();
            let (mut rest, mut first) = (rows, range.start);
            while first < range.end {
                let end = (first + per).min(range.end);
                let (mine, tail) = rest.split_at(end - first);
                items.push((first..end, mine));
                rest = tail;
                first = end;
            }
            if parallel {
                items.into_par_iter().try_for_each(|(r, o)| share(r, o))
            } else {
                items.into_iter().try_for_each(|(r, o)| share(r, o))
            }
        })
    }
}

/// Whether the best `k` live candidates (`top`, one-to-one distances) are the best
/// `k` live rows of the index, given the full candidate heap `heap` the kernel
/// kept for query `q` (kernel distances; every row it left out ranks at or after
/// its worst): so when the `k`-th one-to-one distance lies below that worst by
/// more than the two formulas can differ for one row, no row left out can
/// belong. Strictly below, so a tie at the edge is scanned too (the per-query
/// path breaks ties by id, the kernel by slot).
///
/// The bound: each formula sums `dim` products in f32, within `(dim + 4)·u` of
/// the exact sum relative to the magnitudes it adds, in any order (Higham,
/// *Accuracy and Stability of Numerical Algorithms*, 3.1); those are at most
/// `2(|q|² + |x|²)` under L2 (norm expansion and squared differences alike) and
/// `|q|·|x|` under inner product. Twice the sum of both formulas' bounds, for
/// the additions around them.
fn fused_answer_is_exact(metric: Metric, q: &[f32], heap: &TopK, top: &TopK, max_x2: f32) -> bool {
    let (Some(kth), Some(cut)) = (top.worst(), heap.worst()) else {
        return false;
    };
    let q2: f64 = q.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let x2 = f64::from(max_x2);
    let gamma = (q.len() as f64 + 4.0) * f64::from(f32::EPSILON) / 2.0;
    let magnitude = match metric {
        Metric::L2Sq => 2.0 * (q2 + x2),
        _ => (q2 * x2).sqrt() + 1.0,
    };
    let err = 4.0 * gamma * magnitude;
    f64::from(kth.distance) < f64::from(cut.distance) - err
}

/// Queries per kernel pass of an exact batch ([`Plan::exact_batch`]): each pass
/// streams every row once for them, and holds their candidate heaps.
const FUSED_QUERY_BLOCK: usize = 256;

/// Queries from which an exact, unfiltered batch runs the fused kernel
/// ([`Plan::exact_batch`]); a smaller batch scans per query.
const FUSED_MIN_QUERIES: usize = 8;

/// Candidates the fused kernel keeps per query for a result of `k`: room for
/// removed rows among the nearest, and for the one-to-one distances reordering
/// the rows around the `k`-th.
fn fused_candidates(k: usize) -> usize {
    k.saturating_mul(2).saturating_add(16)
}

/// One query on the caller's thread.
pub(crate) fn search(
    shared: &Shared,
    state: &State,
    query: &[f32],
    params: &SearchParams,
) -> Result<Hits, IndexError> {
    let start = Instant::now();
    let plan = Plan::new(shared, state, params)?;
    let hits = SCRATCH.with(|cell| -> Result<Vec<Hit>, IndexError> {
        let mut scratch = cell.borrow_mut();
        let mut top = scratch.top.take().unwrap_or_else(|| TopK::new(params.k));
        let result = plan.run(query, &mut scratch, &mut top);
        let hits = result.map(|()| {
            let mut found: Vec<_> = top.as_unordered_slice().to_vec();
            found.sort_unstable_by(sagevec_kernels::cmp_neighbors);
            found
                .into_iter()
                .map(|n| Hit {
                    id: n.id,
                    distance: plan.report(n.distance),
                    metadata: if params.include_metadata {
                        metadata_of(state, n.id)
                    } else {
                        None
                    },
                })
                .collect()
        });
        scratch.top = Some(top);
        hits
    })?;
    Counters::bump(&shared.counters.searches, 1);
    shared.latency.record(start.elapsed());
    Ok(Hits {
        hits,
        version: state.version,
    })
}

/// Queries per parallel work item of a batch.
const BATCH_GRAIN: usize = 8;

/// Every row of `queries` on the index's pool, from one snapshot, into `out`.
/// Gives up with [`IndexError::Cancelled`] once `cancel` is raised: checked after
/// the input is (so bad input is still its own error) and before each chunk of
/// [`BATCH_GRAIN`] queries.
pub(crate) fn batch_search(
    shared: &Shared,
    state: &State,
    queries: Rows<'_, f32>,
    params: &SearchParams,
    out: &mut BatchResults,
    cancel: Option<&AtomicBool>,
) -> Result<u64, IndexError> {
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let plan = Plan::new(shared, state, params)?;
    out.check_shape(queries.n_rows(), params.k)?;
    if queries.n_rows() > 0 && queries.dim() != shared.dim {
        return Err(IndexError::DimensionMismatch {
            expected: shared.dim,
            got: queries.dim(),
        });
    }
    let fused = params.exact && params.filter.is_none() && queries.n_rows() >= FUSED_MIN_QUERIES;
    // Check every query first, so a bad row refuses the batch before any work
    // (and the error names that row); the fused path keeps the unit vectors of a
    // cosine batch.
    let mut units = Vec::new();
    SCRATCH.with(|cell| -> Result<(), IndexError> {
        let mut scratch = cell.borrow_mut();
        queries.iter().enumerate().try_for_each(|(row, q)| {
            shared.check_vector(q, row, &mut scratch.query)?;
            if fused && shared.metric == Metric::Cosine {
                units.extend_from_slice(&scratch.query);
            }
            Ok(())
        })
    })?;
    if cancelled() {
        return Err(IndexError::Cancelled);
    }
    if fused {
        let stored = if units.is_empty() {
            queries
        } else {
            Rows::contiguous(&units, shared.dim)?
        };
        plan.exact_batch(queries, stored, out, &cancelled)?;
        Counters::bump(&shared.counters.batch_searches, 1);
        return Ok(state.version);
    }
    let one = |q: usize, ids: &mut [u64], dists: &mut [f32]| -> Result<(), IndexError> {
        let start = Instant::now();
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let mut top = scratch.top.take().unwrap_or_else(|| TopK::new(params.k));
            let r = plan.run(queries.row(q), &mut scratch, &mut top);
            if r.is_ok() {
                top.drain_sorted_into(ids, dists);
                for d in dists.iter_mut() {
                    *d = plan.report(*d);
                }
            }
            scratch.top = Some(top);
            r
        })?;
        shared.latency.record(start.elapsed());
        Ok(())
    };
    let par = shared.par()?;
    let parallel = !par.is_seq();
    for_each_node_rows(par, out, |_node, range, rows| {
        let work = |(c, mut chunk): (usize, RowsMut<'_>)| {
            if cancelled() {
                return Err(IndexError::Cancelled);
            }
            let first = range.start + c * BATCH_GRAIN;
            (0..chunk.len()).try_for_each(|i| {
                let (ids, dists) = chunk.row(i);
                one(first + i, ids, dists)
            })
        };
        let items = rows.into_chunks(BATCH_GRAIN);
        if parallel {
            items.into_par_iter().enumerate().try_for_each(work)
        } else {
            items.into_iter().enumerate().try_for_each(work)
        }
    })?;
    Counters::bump(&shared.counters.batch_searches, 1);
    Ok(state.version)
}
