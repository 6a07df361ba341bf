//! Snapshots: one consistent version of the index.
//!
//! The index publishes a new [`State`] through `ArcSwap` at every write and every
//! builder swap. A state names the live graph, the committed slot prefix
//! (`bound`), the id map and the version; a slot below the bound is visible to
//! readers of that version unless a tombstone at or before it removed it. A reader
//! loads the current state (one atomic operation, no lock) and answers its whole
//! call from it; a [`Snapshot`] pins one for several calls.

use std::sync::Arc;

use sagevec_kernels::Rows;

use crate::config::SearchParams;
use crate::error::IndexError;
use crate::live::LiveGraph;
use crate::metadata::Metadata;
use crate::results::BatchResults;
use crate::shared::Shared;

/// The id map: id -> slot, persistent (structure-shared between versions), so
/// publishing a write copies only the paths it changes.
pub(crate) type IdMap = imbl::HashMap<u64, u32>;

/// One published version.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) version: u64,
    /// Slots `0..bound` are committed: written, linked, and visible at `version`
    /// unless removed at or before it.
    pub(crate) bound: usize,
    /// Every live id and its slot.
    pub(crate) ids: IdMap,
    pub(crate) graph: Arc<LiveGraph>,
}

impl State {
    /// The slot of a live id.
    pub(crate) fn slot(&self, id: u64) -> Option<usize> {
        self.ids.get(&id).map(|&s| s as usize)
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
/// version's graph in memory (its slots are never reused). Searches of one pinned
/// version may still route differently while writers change the graph's links
/// (see [`docs::concurrency`](crate::docs::concurrency)), never in which rows they
/// may return.
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

    /// The metadata of `id`, if it is live and has any (no copy of the vector).
    pub fn metadata(&self, id: u64) -> Option<Metadata> {
        metadata_of(&self.state, id)
    }

    /// Every live id, in no particular order.
    pub fn ids(&self) -> Vec<u64> {
        self.state.ids.keys().copied().collect()
    }

    /// Every live row of this version, each id once with the vector and metadata
    /// it has here, in the order the rows were written (a replaced id comes where
    /// its latest write put it): what pickling or copying an index reads. Each
    /// item is a [`Record`] as [`get`](Self::get) returns it (the vector copied
    /// out, unit-normalised under cosine). The iterator holds its own copy of
    /// this snapshot, so later writes do not change what it yields.
    ///
    /// ```
    /// use sagevec_index::{Index, IndexConfig, Metric};
    ///
    /// let index = Index::new(IndexConfig::new(2, Metric::L2Sq))?;
    /// index.add_batch(Some(&[7, 8]), &[1.0, 2.0, 3.0, 4.0], None)?;
    /// let snapshot = index.snapshot();
    /// index.remove(&[7])?;
    /// let ids: Vec<u64> = snapshot.export().map(|r| r.id).collect();
    /// assert_eq!(ids, [7, 8]);
    /// assert_eq!(index.snapshot().export().map(|r| r.id).collect::<Vec<_>>(), [8]);
    /// # Ok::<(), sagevec_index::IndexError>(())
    /// ```
    pub fn export(&self) -> Export {
        Export {
            snapshot: self.clone(),
            slot: 0,
        }
    }

    /// See [`Index::search`](crate::Index::search).
    pub fn search(
        &self,
        query: &[f32],
        params: &SearchParams,
    ) -> Result<crate::snapshot::Hits, IndexError> {
        crate::search::search(&self.shared, &self.state, query, params)
    }

    /// See [`Index::batch_search`](crate::Index::batch_search).
    pub fn batch_search(
        &self,
        queries: Rows<'_, f32>,
        params: &SearchParams,
        out: &mut BatchResults,
    ) -> Result<u64, IndexError> {
        self.batch_search_cancellable(queries, params, out, None)
    }

    /// [`batch_search`](Self::batch_search) that gives up with
    /// [`IndexError::Cancelled`] soon after `cancel` is raised: how a binding lets
    /// Ctrl-C stop a large batch (the flag as
    /// [`Index::add_batch_cancellable`](crate::Index::add_batch_cancellable) takes
    /// it). The flag is read once the input is checked (bad input is still
    /// reported as such) and before each chunk of 8 queries a worker takes, so
    /// each worker finishes at most the chunk it is on (an exact unfiltered batch,
    /// which runs the fused kernel over blocks of 256 queries: before each ~8 MiB
    /// run of rows of a block, and before each query it rescans). After a cancel, `out`
    /// holds the rows finished so far and stale rows elsewhere: use none of it.
    /// Searching changes nothing, so there is nothing to undo.
    pub fn batch_search_cancellable(
        &self,
        queries: Rows<'_, f32>,
        params: &SearchParams,
        out: &mut BatchResults,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<u64, IndexError> {
        crate::search::batch_search(&self.shared, &self.state, queries, params, out, cancel)
    }
}

/// The live rows of a snapshot, in slot (write) order: see [`Snapshot::export`].
#[derive(Clone, Debug)]
pub struct Export {
    snapshot: Snapshot,
    /// The next slot to look at.
    slot: usize,
}

impl Iterator for Export {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let state = &self.snapshot.state;
        let view = state.graph.view(state.bound);
        while self.slot < state.bound {
            let slot = self.slot;
            self.slot += 1;
            // Replaced, removed and never-published slots are dead at this version.
            if view.alive_at(slot, state.version) {
                return Some(Record {
                    id: view.id(slot),
                    vector: view.vector(slot).to_vec(),
                    metadata: view.metadata(slot).cloned(),
                });
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.snapshot.state.bound - self.slot))
    }
}

impl std::iter::FusedIterator for Export {}

pub(crate) fn get(state: &State, id: u64) -> Option<Record> {
    let slot = state.slot(id)?;
    let view = state.graph.view(state.bound);
    Some(Record {
        id,
        vector: view.vector(slot).to_vec(),
        metadata: view.metadata(slot).cloned(),
    })
}

pub(crate) fn metadata_of(state: &State, id: u64) -> Option<Metadata> {
    let slot = state.slot(id)?;
    state.graph.view(state.bound).metadata(slot).cloned()
}
