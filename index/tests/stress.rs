//! Concurrency stress: writers add, upsert and remove whole batches, inserting
//! into the live graph concurrently, while readers search and the builder compacts
//! and repairs; every read checks the invariants of
//! `sagevec_index::docs::concurrency`.
//!
//! Runs ~3 s by default; `SAGEVEC_STRESS_SECS=60` runs longer, and
//! `SAGEVEC_STRESS_OPS=1000000` runs until that many writer and reader operations
//! are done (whatever the time).
//!
//! The model: each writer owns its batches (fresh ids, never reused after a
//! remove). A batch's vectors are a function of `(id, generation)`; an upsert
//! rewrites the whole batch with the next generation. A batch record carries a
//! `busy` flag and its generation so a reader can tell whether a write to it
//! overlapped its read (then it checks only what holds whatever the overlap).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sagevec_index::{BatchResults, Filter, Index, IndexConfig, SearchParams};
use sagevec_kernels::{Metric, Rows};
use sagevec_scheduler::{NumaPool, Policy, Topology, plan};

const DIM: usize = 8;
const WRITERS: usize = 2;
const READERS: usize = 4;
/// Rows a writer keeps live at most, so the builder keeps up on 2 cores.
const LIVE_ROWS_PER_WRITER: usize = 3000;

fn vector(id: u64, generation: u64) -> [f32; DIM] {
    let mut s = id
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(generation.wrapping_mul(0xD1B5_4A32_D192_ED03));
    std::array::from_fn(|_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 * 8.0 - 4.0
    })
}

/// One batch as the model knows it.
struct Batch {
    ids: Vec<u64>,
    /// A write to this batch is in progress.
    busy: AtomicBool,
    /// Current generation (bumped after each acknowledged upsert).
    generation: AtomicU64,
    /// Acknowledged as removed (ids never come back).
    removed: AtomicBool,
    /// Acknowledged as added at least once.
    added: AtomicBool,
}

#[derive(Default)]
struct Model {
    batches: Mutex<Vec<Arc<Batch>>>,
    /// Ids whose remove has returned, each with the number of removes that
    /// returned before it (so a reader can tell which were gone before it started
    /// without copying the set).
    removed_ids: Mutex<HashMap<u64, usize>>,
    /// Removes returned so far (bumped after their ids are in `removed_ids`).
    removes_done: AtomicUsize,
}

#[derive(Default)]
struct Tally {
    ops: AtomicUsize,
    /// Graph self-queries right after an add, and how many missed the row.
    self_queries: AtomicUsize,
    self_misses: AtomicUsize,
    searches: AtomicUsize,
    checks: AtomicUsize,
    violations: AtomicUsize,
}

impl Tally {
    fn violation(&self, what: String) {
        if self.violations.fetch_add(1, Ordering::SeqCst) < 20 {
            eprintln!("VIOLATION: {what}");
        }
    }
}

fn stress_secs() -> f64 {
    std::env::var("SAGEVEC_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0)
}

/// Operations to run instead of a time limit (`SAGEVEC_STRESS_OPS`).
fn stress_ops() -> Option<usize> {
    std::env::var("SAGEVEC_STRESS_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
}

/// When the run ends: a deadline, or a number of operations.
#[derive(Clone, Copy)]
enum Until {
    Deadline(Instant),
    Ops(usize),
}

impl Until {
    fn more(self, tally: &Tally) -> bool {
        match self {
            Until::Deadline(d) => Instant::now() < d,
            Until::Ops(n) => tally.ops.load(Ordering::Relaxed) < n,
        }
    }
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn writer(w: usize, index: &Index, model: &Model, tally: &Tally, until: Until) {
    let mut rng = Rng(0x1234_5678 + w as u64);
    let mut next_id = (w as u64) << 40;
    let mut mine: Vec<Arc<Batch>> = Vec::new();
    while until.more(tally) {
        let live: Vec<&Arc<Batch>> = mine
            .iter()
            .filter(|b| !b.removed.load(Ordering::SeqCst))
            .collect();
        let live_rows: usize = live.iter().map(|b| b.ids.len()).sum();
        let roll = rng.below(10);
        // New batches while the writer holds few rows; past LIVE_ROWS_PER_WRITER
        // only upserts and removes (which keep the builder compacting).
        if (roll < 6 && live_rows < LIVE_ROWS_PER_WRITER) || live.len() < 3 {
            // A new batch of fresh ids.
            let n = 1 + rng.below(24);
            let ids: Vec<u64> = (next_id..next_id + n as u64).collect();
            next_id += n as u64;
            let batch = Arc::new(Batch {
                ids,
                busy: AtomicBool::new(true),
                generation: AtomicU64::new(0),
                removed: AtomicBool::new(false),
                added: AtomicBool::new(false),
            });
            model.batches.lock().unwrap().push(batch.clone());
            let data: Vec<f32> = batch.ids.iter().flat_map(|&id| vector(id, 0)).collect();
            index.add_batch(Some(&batch.ids), &data, None).unwrap();
            batch.added.store(true, Ordering::SeqCst);
            batch.busy.store(false, Ordering::SeqCst);
            // Read-your-writes: the whole batch is there the moment add returns, and
            // a graph search right after finds a row of it.
            if let Some(&id) = batch.ids.iter().find(|&&id| !index.contains(id)) {
                tally.violation(format!("id {id} missing right after its add returned"));
            }
            let first = batch.ids[0];
            let found = index
                .search(&vector(first, 0), &SearchParams::new(10))
                .unwrap()
                .hits
                .iter()
                .any(|h| h.id == first);
            tally.self_queries.fetch_add(1, Ordering::Relaxed);
            if !found {
                tally.self_misses.fetch_add(1, Ordering::Relaxed);
            }
            mine.push(batch);
        } else if roll < 8 {
            // Upsert a whole live batch with the next generation.
            let b = live[rng.below(live.len())].clone();
            let g = b.generation.load(Ordering::SeqCst) + 1;
            b.busy.store(true, Ordering::SeqCst);
            let data: Vec<f32> = b.ids.iter().flat_map(|&id| vector(id, g)).collect();
            index.add_batch(Some(&b.ids), &data, None).unwrap();
            b.generation.store(g, Ordering::SeqCst);
            b.busy.store(false, Ordering::SeqCst);
        } else {
            // Remove a whole live batch.
            let b = live[rng.below(live.len())].clone();
            b.busy.store(true, Ordering::SeqCst);
            let r = index.remove(&b.ids).unwrap();
            if r.count != b.ids.len() {
                tally.violation(format!("remove counted {} of {}", r.count, b.ids.len()));
            }
            {
                let mut gone = model.removed_ids.lock().unwrap();
                let seq = model.removes_done.load(Ordering::SeqCst);
                gone.extend(b.ids.iter().map(|&id| (id, seq)));
                model.removes_done.store(seq + 1, Ordering::SeqCst);
            }
            b.removed.store(true, Ordering::SeqCst);
            b.busy.store(false, Ordering::SeqCst);
        }
        tally.ops.fetch_add(1, Ordering::Relaxed);
    }
}

fn reader(r: usize, index: &Index, model: &Model, tally: &Tally, until: Until) {
    let mut rng = Rng(0xABCD_EF01 + r as u64);
    let mut last_version = 0u64;
    let mut batch_out = BatchResults::new(4, 10).unwrap();
    while until.more(tally) {
        let batch = {
            let all = model.batches.lock().unwrap();
            if all.is_empty() {
                continue;
            }
            all[rng.below(all.len())].clone()
        };
        // What the model says before the read.
        let busy0 = batch.busy.load(Ordering::SeqCst);
        let gen0 = batch.generation.load(Ordering::SeqCst);
        let added0 = batch.added.load(Ordering::SeqCst);
        let removed0 = batch.removed.load(Ordering::SeqCst);
        // Removes that returned before this read started.
        let removes_before = model.removes_done.load(Ordering::SeqCst);
        let gone_before = |id: u64| {
            model
                .removed_ids
                .lock()
                .unwrap()
                .get(&id)
                .is_some_and(|&seq| seq < removes_before)
        };

        // 1. No torn batch: one snapshot holds all of a batch's ids or none.
        let snap = index.snapshot();
        let present = batch.ids.iter().filter(|&&id| snap.contains(id)).count();
        if present != 0 && present != batch.ids.len() {
            tally.violation(format!(
                "torn batch: {present} of {} ids at v{}",
                batch.ids.len(),
                snap.version()
            ));
        }
        // The same through a filtered exact search of that snapshot.
        let probe = vector(batch.ids[0], gen0);
        let k = batch.ids.len().min(10);
        let hits = snap
            .search(
                &probe,
                &SearchParams::new(k)
                    .exact(true)
                    .filter(Filter::ids(batch.ids.iter().copied())),
            )
            .unwrap();
        if !hits.hits.is_empty() && hits.hits.len() != k {
            tally.violation(format!("torn batch via search: {} of {k}", hits.hits.len()));
        }

        // 2. Versions never go backwards for one reader.
        let v = snap.version();
        if v < last_version {
            tally.violation(format!("version went back: {last_version} -> {v}"));
        }
        last_version = v;
        drop(snap);

        // 3. Every acknowledged, stable, live id is found by self-query (exact),
        //    and by graph search it is counted.
        let id = batch.ids[rng.below(batch.ids.len())];
        let q = vector(id, gen0);
        let exact = index.search(&q, &SearchParams::new(1).exact(true)).unwrap();
        let graph = index.search(&q, &SearchParams::new(10)).unwrap();
        tally.searches.fetch_add(2, Ordering::Relaxed);
        if exact.version < last_version || graph.version < exact.version {
            tally.violation("search versions went back".into());
        }
        last_version = graph.version;
        let stable = !busy0
            && !batch.busy.load(Ordering::SeqCst)
            && batch.generation.load(Ordering::SeqCst) == gen0
            && batch.removed.load(Ordering::SeqCst) == removed0;
        if stable && added0 && !removed0 {
            tally.checks.fetch_add(1, Ordering::Relaxed);
            if exact.hits.first().map(|h| h.id) != Some(id) {
                tally.violation(format!(
                    "acknowledged id {id} (gen {gen0}) not found: {:?}",
                    exact.hits.first()
                ));
            }
            // `get` and `contains` of a later snapshot see it too (its vector may be
            // a newer generation if an upsert started since).
            let again_stable = !batch.busy.load(Ordering::SeqCst)
                && batch.generation.load(Ordering::SeqCst) == gen0
                && !batch.removed.load(Ordering::SeqCst);
            let got = index.get(id);
            if again_stable && got.map(|r| r.vector) != Some(q.to_vec()) {
                tally.violation(format!("acknowledged id {id} (gen {gen0}): get differs"));
            }
            if again_stable && !index.contains(id) {
                tally.violation(format!("acknowledged id {id}: contains is false"));
            }
        }
        if stable && removed0 && exact.hits.first().map(|h| h.id) == Some(id) {
            tally.violation(format!("removed id {id} found"));
        }

        // 4. No id whose remove returned before the search started is returned.
        if removes_before > 0 {
            let queries: Vec<f32> = (0..4).flat_map(|i| vector(id + i, gen0)).collect();
            index
                .batch_search(
                    Rows::contiguous(&queries, DIM).unwrap(),
                    &SearchParams::new(10),
                    &mut batch_out,
                )
                .unwrap();
            tally.searches.fetch_add(4, Ordering::Relaxed);
            for h in exact.hits.iter().chain(&graph.hits) {
                if gone_before(h.id) {
                    tally.violation(format!("removed id {} returned", h.id));
                }
            }
            for qi in 0..4 {
                for &rid in batch_out.ids(qi) {
                    if rid != u64::MAX && gone_before(rid) {
                        tally.violation(format!("removed id {rid} returned by batch_search"));
                    }
                }
            }
        }
        tally.ops.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn readers_writers_and_builder_keep_every_invariant() {
    let pool =
        Arc::new(NumaPool::new(plan(&Topology::detect(), &Policy::default()).unwrap()).unwrap());
    let mut cfg = IndexConfig::new(DIM, Metric::L2Sq);
    cfg.pool = Some(pool);
    cfg.graph.ef_construction = 64;
    let index = Arc::new(Index::new(cfg).unwrap());
    let model = Arc::new(Model::default());
    let tally = Arc::new(Tally::default());
    let secs = stress_secs();
    let started = Instant::now();
    let deadline = match stress_ops() {
        Some(n) => Until::Ops(n),
        None => Until::Deadline(started + Duration::from_secs_f64(secs)),
    };
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (index, model, tally) = (index.clone(), model.clone(), tally.clone());
        handles.push(std::thread::spawn(move || {
            writer(w, &index, &model, &tally, deadline)
        }));
    }
    for r in 0..READERS {
        let (index, model, tally) = (index.clone(), model.clone(), tally.clone());
        handles.push(std::thread::spawn(move || {
            reader(r, &index, &model, &tally, deadline)
        }));
    }
    for h in handles {
        h.join().unwrap();
    }

    // Quiescent: len() and contents match the model, before and after compaction.
    let live: HashSet<u64> = model
        .batches
        .lock()
        .unwrap()
        .iter()
        .filter(|b| !b.removed.load(Ordering::SeqCst))
        .flat_map(|b| b.ids.iter().copied())
        .collect();
    let removed: HashSet<u64> = model.removed_ids.lock().unwrap().keys().copied().collect();
    let check_contents = |when: &str| {
        if index.len() != live.len() {
            tally.violation(format!(
                "{when}: len {} != model {}",
                index.len(),
                live.len()
            ));
        }
        let ids: HashSet<u64> = index.ids().into_iter().collect();
        if ids != live {
            tally.violation(format!("{when}: id set differs from the model"));
        }
        if removed.iter().any(|id| index.contains(*id)) {
            tally.violation(format!("{when}: a removed id is present"));
        }
    };
    check_contents("after the run");
    let lost_before = index.unreachable_ids().len();
    let t = Instant::now();
    index.wait_for_builds();
    let builds = t.elapsed();
    check_contents("after builds");
    // Once the builder settles, every live node is reachable from the entry point
    // (the count before shows how often pruning left one that was not).
    let lost = index.unreachable_ids();
    println!(
        "unreachable live ids after the run: {lost_before}, after the builder settled: {}",
        lost.len()
    );
    if !lost.is_empty() {
        tally.violation(format!(
            "{} live ids unreachable after the builder settled: {:?}",
            lost.len(),
            &lost[..lost.len().min(8)]
        ));
    }
    let t = Instant::now();
    index.compact();
    index.wait_for_builds();
    let compaction = t.elapsed();
    check_contents("after compaction");
    println!(
        "{} live rows; builds drained in {builds:?}, compaction took {compaction:?}",
        live.len()
    );
    let batches = model.batches.lock().unwrap();
    for b in batches.iter().filter(|b| !b.removed.load(Ordering::SeqCst)) {
        let g = b.generation.load(Ordering::SeqCst);
        for &id in b.ids.iter().step_by(7) {
            let hit = index
                .search(&vector(id, g), &SearchParams::new(1).exact(true))
                .unwrap();
            if hit.hits.first().map(|h| h.id) != Some(id) {
                tally.violation(format!("after compaction: id {id} not found"));
            }
            if index.get(id).map(|r| r.vector) != Some(vector(id, g).to_vec()) {
                tally.violation(format!("after compaction: id {id} has the wrong vector"));
            }
        }
    }
    let stats = index.stats();
    let (self_q, self_miss) = (
        tally.self_queries.load(Ordering::SeqCst),
        tally.self_misses.load(Ordering::SeqCst),
    );
    println!(
        "stress {:.1} s: {} writer+reader ops, {} searches, {} acknowledged-id checks, \
         graph self-queries after add {self_q} ({self_miss} missed), compactions {}, \
         repairs {}, builder errors {}, final version {}, violations {}",
        started.elapsed().as_secs_f64(),
        tally.ops.load(Ordering::SeqCst),
        tally.searches.load(Ordering::SeqCst),
        tally.checks.load(Ordering::SeqCst),
        stats.compactions,
        stats.repairs,
        stats.builder_errors,
        stats.version,
        tally.violations.load(Ordering::SeqCst),
    );
    assert!(
        stats.compactions > 0,
        "compactions must have run (one was asked for): {stats:?}"
    );
    // A graph search with k = 10 right after an add finds the added row: at least
    // 99.9% of the time (hnswlib's own adds: 99.6-99.8% in the 90/10 mix).
    assert!(
        self_q > 0 && self_miss * 1000 <= self_q,
        "{self_miss} of {self_q} self-queries missed"
    );
    assert!(
        tally.checks.load(Ordering::SeqCst) > 100,
        "too few checks to mean anything"
    );
    assert_eq!(stats.builder_errors, 0);
    assert_eq!(
        tally.violations.load(Ordering::SeqCst),
        0,
        "invariant violations"
    );
}
