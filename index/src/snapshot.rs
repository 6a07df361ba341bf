//! Snapshots: one immutable, consistent version of the index.
//!
//! The index publishes a new [`State`] through `ArcSwap` at every write and every
//! builder swap. A reader loads the current one (one atomic operation, no lock)
//! and answers its whole call from it; a [`Snapshot`] pins one for several calls.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use sagevec_kernels::{Metric, Rows, TopK, try_kernels};
use sagevec_scheduler::rayon::prelude::*;

use crate::config::SearchParams;
use crate::error::IndexError;
use crate::metadata::{Filter, Metadata};
use crate::results::{BatchResults, RowsMut, for_each_node_rows};
use crate::segment::{Segment, SegmentKind, SegmentQuery, SegmentScratch};
use crate::shared::Shared;
use crate::stats::Counters;

/// Where an id's live row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) seg: u64,
    pub(crate) row: u32,
}

/// The id map: persistent (structure-shared between versions), so publishing a
/// write copies only the paths it changes.
pub(crate) type IdMap = imbl::HashMap<u64, Loc>;

/// One published version.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) version: u64,
    /// Sealed segments, then the growing one (if any) last.
    pub(crate) segments: Vec<Arc<Segment>>,
    /// Every live id.
    pub(crate) ids: IdMap,
}

impl State {
    pub(crate) fn segment(&self, uid: u64) -> Option<&Arc<Segment>> {
        self.segments.iter().find(|s| s.uid == uid)
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The vector's id.
    pub id: u64,
    /// Its distance to the query (smaller is closer).
    pub distance: f32,
    /// Its metadata, when asked for and present.
    pub metadata: Option<Metadata>,
}

/// Results of one query: at most `k` hits, best first (ties to the smaller id).
#[derive(Clone, Debug, PartialEq)]
pub struct Hits {
    /// The hits found (fewer than `k` when fewer rows pass).
    pub hits: Vec<Hit>,
    /// The snapshot version the search read.
    pub version: u64,
}

/// A stored vector with its metadata ([`Index::get`](crate::Index::get)).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The id.
    pub id: u64,
    /// The vector as stored (unit-normalised under cosine).
    pub vector: Vec<f32>,
    /// Its metadata, if it was given one.
    pub metadata: Option<Metadata>,
}

/// A pinned, consistent view of one version: every call on it sees the same
/// rows, whatever writers and the builder do meanwhile. Holding it keeps that
/// version's segments in memory.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub(crate) state: Arc<State>,
    pub(crate) shared: Arc<Shared>,
}

impl Snapshot {
    /// The version this view reads.
    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.state.ids.len()
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.state.ids.is_empty()
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.state.ids.contains_key(&id)
    }

    /// The vector and metadata of `id`, if live.
    pub fn get(&self, id: u64) -> Option<Record> {
        get(&self.state, id)
    }

    /// Every live id, in no particular order.
    pub fn ids(&self) -> Vec<u64> {
        self.state.ids.keys().copied().collect()
    }

    /// See [`Index::search`](crate::Index::search).
    pub fn search(&self, query: &[f32], params: &SearchParams) -> Result<Hits, IndexError> {
        search(&self.shared, &self.state, query, params)
    }

    /// See [`Index::batch_search`](crate::Index::batch_search).
    pub fn batch_search(
        &self,
        queries: Rows<'_, f32>,
        params: &SearchParams,
        out: &mut BatchResults,
    ) -> Result<u64, IndexError> {
        batch_search(&self.shared, &self.state, queries, params, out)
    }
}

pub(crate) fn get(state: &State, id: u64) -> Option<Record> {
    let loc = state.ids.get(&id)?;
    let seg = state.segment(loc.seg)?;
    let row = loc.row as usize;
    Some(Record {
        id,
        vector: seg.vector(row).to_vec(),
        metadata: seg.table.metadata(row).cloned(),
    })
}

/// Per-thread buffers, so a search allocates nothing once warm.
#[derive(Debug, Default)]
struct Scratch {
    query: Vec<f32>,
    top: Option<TopK>,
    segment: SegmentScratch,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A checked search call: what every query of it shares.
struct Plan<'a> {
    state: &'a State,
    shared: &'a Shared,
    params: &'a SearchParams,
    ef: usize,
}

impl Plan<'_> {
    fn new<'a>(
        shared: &'a Shared,
        state: &'a State,
        params: &'a SearchParams,
    ) -> Result<Plan<'a>, IndexError> {
        let ef = params.validate(shared.ef_search)?;
        Ok(Plan {
            state,
            shared,
            params,
            ef,
        })
    }

    /// Searches one (unchecked) query into `top` (cleared here, bound `k`), with
    /// the index's internal distances.
    fn run(
        &self,
        query: &[f32],
        scratch: &mut Scratch,
        top_out: &mut TopK,
    ) -> Result<(), IndexError> {
        self.shared.check_query(query, &mut scratch.query)?;
        let q = if self.shared.metric == Metric::Cosine {
            &scratch.query[..]
        } else {
            query
        };
        let table = try_kernels()?;
        let sq = SegmentQuery {
            query: q,
            version: self.state.version,
            filter: self.params.filter.as_ref(),
            ef: self.ef,
            exact: self.params.exact,
            table,
            distance: table.distance_fn::<f32>(self.shared.internal_metric),
            metric: self.shared.internal_metric,
        };
        top_out.reset(self.params.k);
        // A small allowed-id set: evaluate exactly those rows, nothing else.
        if let Some(Filter::Ids(set)) = &self.params.filter
            && set.len() <= 32 * self.ef
        {
            for id in set {
                if let Some(loc) = self.state.ids.get(id)
                    && let Some(seg) = self.state.segment(loc.seg)
                {
                    seg.push_row(&sq, loc.row as usize, top_out);
                }
            }
            return Ok(());
        }
        let mut fallbacks = 0;
        for seg in &self.state.segments {
            if seg.search(&sq, &mut scratch.segment, top_out) {
                fallbacks += 1;
            }
        }
        if fallbacks > 0 {
            Counters::bump(&self.shared.counters.exact_fallbacks, fallbacks);
        }
        Ok(())
    }

    /// Reported distance from the index's internal one.
    fn report(&self, d: f32) -> f32 {
        self.shared.report_distance(d)
    }
}

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

fn metadata_of(state: &State, id: u64) -> Option<Metadata> {
    let loc = state.ids.get(&id)?;
    state
        .segment(loc.seg)?
        .table
        .metadata(loc.row as usize)
        .cloned()
}

/// Queries per parallel work item of a batch.
const BATCH_GRAIN: usize = 8;

pub(crate) fn batch_search(
    shared: &Shared,
    state: &State,
    queries: Rows<'_, f32>,
    params: &SearchParams,
    out: &mut BatchResults,
) -> Result<u64, IndexError> {
    let plan = Plan::new(shared, state, params)?;
    out.check_shape(queries.n_rows(), params.k)?;
    if queries.n_rows() > 0 && queries.dim() != shared.dim {
        return Err(IndexError::DimensionMismatch {
            expected: shared.dim,
            got: queries.dim(),
        });
    }
    // Check every query first, so a bad row refuses the batch before any work.
    SCRATCH.with(|cell| -> Result<(), IndexError> {
        let mut scratch = cell.borrow_mut();
        queries
            .iter()
            .try_for_each(|q| shared.check_query(q, &mut scratch.query))
    })?;
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

/// Segments of a state by kind.
pub(crate) fn segment_counts(state: &State) -> crate::stats::SegmentCounts {
    let mut c = crate::stats::SegmentCounts::default();
    for s in &state.segments {
        match s.kind() {
            SegmentKind::Growing => c.growing += 1,
            SegmentKind::Flat => c.flat += 1,
            SegmentKind::Graph => c.graph += 1,
        }
    }
    c
}
