//! The concurrent index (`sagevec_index::Index`) under read, write and mixed load:
//! issue 4's benchmarks.
//!
//! Sections (run one by passing a filter that is a substring of its name, e.g.
//! `cargo bench -p sagevec-benches --bench index -- index_mix`; no filter runs all):
//!
//! | section | what | how |
//! |---|---|---|
//! | `index_search_clustered` | recall@10 vs ef (against exact [`knn`]); `search` QPS from 1..=cores plain OS threads sharing one `Index` (scoped threads holding `&Index`, as `Arc<Index>` clones would); `batch_search` QPS on pools of 1..=cores workers; scaling efficiency QPS(T) / (T · QPS(1)) | criterion (`iter_custom`, one iteration = every thread runs the whole query set once), then a summary table |
//! | `index_search_fmnist` | the same on `../shared/data/fashion-mnist-784-l2` (recall against its published ground truth) | as above; skipped loudly if the data is not found |
//! | `index_mix` | 90% search / 10% add from 1 and 2 threads, each add inserted into the live graph by its caller, against a read-only run of the same threads: ops/s, search and add p50/p99/p99.9 (our own `Instant` per op), and the fraction of just-added vectors that a self-query (k = 10, same ef) finds | custom timed loops, tables |
//! | `index_add_batch` | `add_batch` throughput (vectors/s) at batch sizes 1, 100, 10 000 | criterion, `Throughput::Elements` |
//! | `index_publish` | one-vector `add` (the smallest write that publishes a snapshot) into a fresh index and into the 50k-row one | criterion |
//! | `index_bulk` | bulk-load time (one `add_batch`, linked into the graph on the index's workers, until it returns searchable) and insert rate (rows/s) for 8192 rows on pools of 1..=cores workers (the search sections print the same for their whole base, at every pool size they build) | custom, table |
//!
//! Data. Clustered synthetic vectors, d = 128, reproducible bit for bit in numpy
//! (`benches/compare/index_mix.py` builds the same arrays): `sagevec_benches::index_data`
//! defines them (`N_CLUSTERS` centres, uniform noise of half-width `SPREAD`; the
//! streams are `sagevec_testkit::Clusters`'). Base, queries and the vectors the
//! mix adds use seeds `BASE_SEED`, `QUERY_SEED`, `RESERVE_SEED`.
//! The base is 50 000 rows and the queries 1 000 (10 000 / 200 with `--quick`).
//!
//! The ef used everywhere is the smallest of `EF_LADDER` whose recall@10 reaches
//! `TARGET_RECALL` (0.95), so every QPS is stated at a recall.
//!
//! The mix runs on an index with the default configuration and the full pool,
//! holding the base (one bulk add). Each thread repeats a cycle of 10 operations:
//! `add` one new vector (explicit id), `search` for that vector (the self-query: is
//! its id among the 10 hits?), then 8 searches from the query set (k = 10, the
//! chosen ef). The read-only run replaces the add and the self-query by query-set
//! searches. Total operations are the same at 1 and 2 threads (100 000), so each run
//! adds the same number of vectors (10 000). Before each thread count the added ids
//! are removed and the index compacted back to the base.
//!
//! The box these numbers come from is shared: every table has an `others` column,
//! the cores other processes used meanwhile (`/proc/stat` minus our own CPU time);
//! `!` marks rows above 0.15 cores, which are contaminated and must be rerun.
//!
//! Full run: about 3 to 4 minutes on a 2-core AVX2 box. `-- --quick` (criterion's
//! flag) also shrinks the data, for a smoke test. `--list` and `--test` skip the
//! custom sections; `cargo bench --no-run` only compiles.
//!
//! Run: `cargo bench -p sagevec-benches --bench index` (or `-- --quick`, or a section filter).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use sagevec_benches::index_data::{
    self, BASE_SEED, DIM, N_CLUSTERS, QUERY_SEED, RESERVE_SEED, SPREAD,
};
use sagevec_benches::print_machine_banner;
use sagevec_index::{BatchResults, Index, IndexConfig, IndexStats, SearchParams, knn};
use sagevec_kernels::{Metric, Rows};
use sagevec_scheduler::{NumaPool, Par, Policy, Topology, plan};
use sagevec_testkit::{median, recall_at_k};

const K: usize = 10;
const TARGET_RECALL: f64 = 0.95;
const EF_LADDER: [usize; 12] = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];
/// Adds, then a self-query, then this many query-set searches, per mix cycle.
const MIX_CYCLE: usize = 10;

/// Sizes of one run (`--quick` shrinks everything).
#[derive(Clone, Copy, Debug)]
struct Sizes {
    quick: bool,
    n_base: usize,
    n_queries: usize,
    /// Operations per mixed run, over all threads.
    mix_ops: usize,
    /// Criterion measurement time of the search groups.
    measure: Duration,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                quick,
                n_base: 10_000,
                n_queries: 200,
                mix_ops: 20_000,
                measure: Duration::from_millis(800),
            }
        } else {
            Sizes {
                quick,
                n_base: 50_000,
                n_queries: 1_000,
                mix_ops: 100_000,
                measure: Duration::from_secs(3),
            }
        }
    }
}

/// Command line: criterion's flags plus an optional filter (the first positional
/// argument). Custom sections run when the filter is absent or a substring of
/// their name; criterion filters its own groups.
#[derive(Debug)]
struct Args {
    filter: Option<String>,
    quick: bool,
    /// `--list` / `--test` (cargo test --benches): no custom sections.
    dry: bool,
}

impl Args {
    fn parse() -> Args {
        // Criterion flags that take a value (the value is not a filter).
        const VALUED: [&str; 14] = [
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--save-baseline",
            "--baseline",
            "--load-baseline",
            "--profile-time",
            "--output-format",
            "--plotting-backend",
            "--color",
        ];
        let mut args = Args {
            filter: None,
            quick: std::env::var_os("SAGEVEC_BENCH_QUICK").is_some(),
            dry: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "--quick" {
                args.quick = true;
            } else if a == "--list" || a == "--test" {
                args.dry = true;
            } else if VALUED.contains(&a.as_str()) {
                it.next();
            } else if !a.starts_with('-') && args.filter.is_none() {
                args.filter = Some(a);
            }
        }
        args
    }

    fn wants(&self, section: &str) -> bool {
        !self.dry && self.filter.as_deref().is_none_or(|f| section.contains(f))
    }
}

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/// A base, its queries and the exact top-`K` ids of every query.
struct DataSet {
    name: &'static str,
    dim: usize,
    base: Vec<f32>,
    queries: Vec<f32>,
    /// `n_queries * K` exact neighbour ids, nearest first.
    truth: Vec<u64>,
}

impl DataSet {
    fn n_base(&self) -> usize {
        self.base.len() / self.dim
    }
    fn n_queries(&self) -> usize {
        self.queries.len() / self.dim
    }
    fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }
}

fn clustered_set(sizes: &Sizes, pool: &NumaPool) -> DataSet {
    let clusters = index_data::clusters();
    let base = clusters.sample(sizes.n_base, BASE_SEED);
    let queries = clusters.sample(sizes.n_queries, QUERY_SEED);
    let start = Instant::now();
    let mut out = BatchResults::new(sizes.n_queries, K).expect("k > 0");
    knn(
        Metric::L2Sq,
        Rows::contiguous(&queries, DIM).expect("whole rows"),
        Rows::contiguous(&base, DIM).expect("whole rows"),
        None,
        K,
        Par::Pool(pool),
        &mut out,
    )
    .expect("exact knn");
    let truth = (0..sizes.n_queries)
        .flat_map(|q| out.ids(q).to_vec())
        .collect();
    eprintln!(
        "   clustered: {} x {DIM}, {N_CLUSTERS} clusters, spread {SPREAD}; {} queries; exact knn (ground truth, {} workers) {:.2} s",
        sizes.n_base,
        sizes.n_queries,
        pool.n_threads(),
        start.elapsed().as_secs_f64()
    );
    let sum: f64 = base.iter().map(|&x| f64::from(x)).sum();
    eprintln!(
        "   clustered checksum (numpy must match): base[0][..3] = {:?}, sum(base) = {sum:.6}, queries[0][0] = {}",
        base[..3].iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
        f64::from(queries[0])
    );
    DataSet {
        name: "clustered",
        dim: DIM,
        base,
        queries,
        truth,
    }
}

/// `../shared/data` beside the checkout, or `$SAGEVEC_DATA_DIR`.
fn data_dir(name: &str) -> Option<PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    [
        std::env::var_os("SAGEVEC_DATA_DIR").map(PathBuf::from),
        Some(root.join("../shared/data")),
        Some(root.join("shared/data")),
    ]
    .into_iter()
    .flatten()
    .map(|d| d.join(name))
    .find(|d| d.join("base.npy").exists())
}

/// A little-endian, C-order `.npy` array of 4-byte elements: (descr, shape, words).
fn read_npy(path: &std::path::Path) -> (String, Vec<usize>, Vec<[u8; 4]>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: not .npy", path.display());
    let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii header");
    assert!(header.contains("'fortran_order': False"));
    let descr = header
        .split("'descr': '")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("descr")
        .to_owned();
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let words = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| c.try_into().expect("4 bytes"))
        .collect();
    (descr, shape, words)
}

fn fmnist_set(sizes: &Sizes) -> Option<DataSet> {
    let Some(dir) = data_dir("fashion-mnist-784-l2") else {
        eprintln!(
            "SKIP index_search_fmnist: fashion-mnist-784-l2 not found (../shared/data or SAGEVEC_DATA_DIR)"
        );
        return None;
    };
    let (d_base, s_base, w_base) = read_npy(&dir.join("base.npy"));
    let (d_q, s_q, w_q) = read_npy(&dir.join("queries.npy"));
    let (d_gt, s_gt, w_gt) = read_npy(&dir.join("gt_ids.npy"));
    assert_eq!(
        (d_base.as_str(), d_q.as_str(), d_gt.as_str()),
        ("<f4", "<f4", "<i4")
    );
    let dim = s_base[1];
    let n_queries = if sizes.quick { 200 } else { s_q[0] };
    let gt_k = s_gt[1];
    let base = w_base.iter().map(|w| f32::from_le_bytes(*w)).collect();
    let queries = w_q[..n_queries * dim]
        .iter()
        .map(|w| f32::from_le_bytes(*w))
        .collect();
    let truth = (0..n_queries)
        .flat_map(|q| {
            w_gt[q * gt_k..q * gt_k + K]
                .iter()
                .map(|w| i32::from_le_bytes(*w) as u64)
        })
        .collect();
    eprintln!(
        "   fmnist: {} x {dim} from {}; {n_queries} queries, published ground truth",
        s_base[0],
        dir.display()
    );
    Some(DataSet {
        name: "fmnist",
        dim,
        base,
        queries,
        truth,
    })
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn pool(topo: &Topology, workers: usize) -> Arc<NumaPool> {
    let policy = Policy::default().with_max_threads(workers);
    Arc::new(NumaPool::new(plan(topo, &policy).expect("placement")).expect("pool"))
}

/// An index of `set`'s base, one bulk `add_batch` (linked on the index's
/// workers before it returns), timed to searchable.
fn build_index(set: &DataSet, pool: &Arc<NumaPool>) -> Index {
    let n = set.n_base();
    let mut config = IndexConfig::new(set.dim, Metric::L2Sq);
    config.pool = Some(pool.clone());
    let index = Index::new(config).expect("valid config");
    let load = CpuLoad::now();
    let start = Instant::now();
    index.add_batch(None, &set.base, None).expect("add base");
    index.wait_for_builds();
    let built = start.elapsed();
    let others = load.map_or(f64::NAN, CpuLoad::others_since);
    let st = index.stats();
    eprintln!(
        "   built {} index: {n} rows added and linked in {:.2} s ({:.0} rows/s on {} workers; others {}); graph {:?}",
        set.name,
        built.as_secs_f64(),
        n as f64 / built.as_secs_f64(),
        pool.n_threads(),
        others_cell(others),
        st.graph
    );
    index
}

/// Recall@K of `out` against `set.truth`.
fn recall(set: &DataSet, out: &BatchResults) -> f64 {
    recall_at_k(
        (0..set.n_queries()).map(|q| out.ids(q)),
        set.truth.chunks(K),
        K,
    )
}

/// Recall@K of a batch search of every query at `ef`.
fn recall_at(set: &DataSet, index: &Index, ef: usize) -> f64 {
    let q = Rows::contiguous(&set.queries, set.dim).expect("whole rows");
    let mut out = BatchResults::new(set.n_queries(), K).expect("k > 0");
    index
        .batch_search(q, &SearchParams::new(K).ef(ef), &mut out)
        .expect("search");
    recall(set, &out)
}

/// Recall and batch QPS for each ef of the ladder (stopping two steps past the
/// target); returns the smallest ef reaching `TARGET_RECALL` (the largest tried
/// if none does) and its recall.
fn choose_ef(set: &DataSet, index: &Index) -> (usize, f64) {
    let nq = set.n_queries();
    let q = Rows::contiguous(&set.queries, set.dim).expect("whole rows");
    let mut out = BatchResults::new(nq, K).expect("k > 0");
    let mut chosen = None;
    let mut last = (0, 0.0);
    let mut past = 0;
    eprintln!(
        "   {}: recall@{K} vs ef (batch_search on the index's pool)",
        set.name
    );
    eprintln!("     {:>5}  {:>8}  {:>10}", "ef", "recall", "QPS");
    for ef in EF_LADDER {
        let params = SearchParams::new(K).ef(ef);
        let start = Instant::now();
        index.batch_search(q, &params, &mut out).expect("search");
        let secs = start.elapsed().as_secs_f64();
        let r = recall(set, &out);
        eprintln!("     {ef:>5}  {r:>8.4}  {:>10.0}", nq as f64 / secs);
        last = (ef, r);
        if chosen.is_none() && r >= TARGET_RECALL {
            chosen = Some((ef, r));
        }
        if chosen.is_some() {
            past += 1;
            if past > 2 {
                break;
            }
        }
    }
    let (ef, r) = chosen.unwrap_or(last);
    eprintln!(
        "   {}: ef = {ef} (recall@{K} = {r:.4}; target {TARGET_RECALL})",
        set.name
    );
    (ef, r)
}

/// `threads` OS threads each run the query set `rounds` times through
/// `index.search`; returns the wall time from the common start to the last join.
fn run_readers(
    index: &Index,
    set: &DataSet,
    threads: usize,
    rounds: u64,
    params: &SearchParams,
) -> Duration {
    let nq = set.n_queries();
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    // Warm this thread's scratch before the clock starts.
                    black_box(index.search(set.query(0), params).expect("search"));
                    barrier.wait();
                    let offset = t * nq / threads;
                    for _ in 0..rounds {
                        for i in 0..nq {
                            let q = set.query((i + offset) % nq);
                            black_box(index.search(q, params).expect("search"));
                        }
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().expect("reader thread");
        }
        start.elapsed()
    })
}

/// Median rate (queries/s) of the last `samples` calls logged by an `iter_custom`.
fn median_rate(log: &[(u64, Duration)], samples: usize) -> Option<f64> {
    let tail = &log[log.len().saturating_sub(samples)..];
    median(tail.iter().map(|&(n, d)| n as f64 / d.as_secs_f64()))
}

/// `p`-th percentile (nearest rank) of sorted durations, in microseconds.
fn pct_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * p / 100.0).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1e6
}

/// CPU time other processes took while we measured: `/proc/stat`'s busy ticks of
/// the whole machine minus this process's (`/proc/self/stat`), both in USER_HZ.
/// The box is shared (other engineers compile on it), so every table says how
/// many cores were not ours.
#[derive(Clone, Copy, Debug)]
struct CpuLoad {
    at: Instant,
    busy: u64,
    own: u64,
}

impl CpuLoad {
    fn now() -> Option<CpuLoad> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal ...
        let busy =
            cpu.first()? + cpu.get(1)? + cpu.get(2)? + cpu.get(5)? + cpu.get(6)? + cpu.get(7)?;
        let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the parenthesised command name; utime and stime are the
        // 14th and 15th fields of the whole line.
        let rest = own_stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let own = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(CpuLoad {
            at: Instant::now(),
            busy,
            own,
        })
    }

    /// Cores' worth of CPU that other processes used since `self`.
    fn others_since(self) -> f64 {
        match CpuLoad::now() {
            Some(end) => {
                let ticks = (end.busy - self.busy).saturating_sub(end.own - self.own);
                ticks as f64 / 100.0 / end.at.duration_since(self.at).as_secs_f64()
            }
            None => f64::NAN,
        }
    }
}

/// Others' cores as a table cell, flagged when it can have moved our numbers.
fn others_cell(cores: f64) -> String {
    if cores.is_nan() {
        "?".into()
    } else if cores > 0.15 {
        format!("{cores:.2} !")
    } else {
        format!("{cores:.2}")
    }
}

// ---------------------------------------------------------------------------
// Search scaling
// ---------------------------------------------------------------------------

/// Recall sweep, then criterion groups `index_search_{set}` (`threads{T}/{dim}`:
/// T reader threads; `pool{W}/{dim}`: batch_search on W workers), then the table.
/// `index` was built on the pool of `cores` workers; smaller pools get their own
/// index (built with that pool) when `all_pools`.
fn search_section(
    c: &mut Criterion,
    sizes: &Sizes,
    topo: &Topology,
    cores: usize,
    set: &DataSet,
    index: &Index,
    all_pools: bool,
) -> usize {
    let (ef, r) = choose_ef(set, index);
    let params = SearchParams::new(K).ef(ef);
    let nq = set.n_queries();
    let group_name = format!("index_search_{}", set.name);
    let samples = 10;
    // (threads, median QPS, other processes' cores meanwhile)
    let mut readers: Vec<(usize, f64, f64)> = Vec::new();
    let mut pools: Vec<(usize, f64, f64)> = Vec::new();
    {
        let mut group = c.benchmark_group(&group_name);
        group
            .sample_size(samples)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(sizes.measure);
        for threads in 1..=cores {
            let mut log = Vec::new();
            let load = CpuLoad::now();
            group.throughput(Throughput::Elements((threads * nq) as u64));
            group.bench_function(format!("threads{threads}/{}", set.dim), |b| {
                b.iter_custom(|iters| {
                    let d = run_readers(index, set, threads, iters, &params);
                    log.push((iters * (threads * nq) as u64, d));
                    d
                })
            });
            if let Some(rate) = median_rate(&log, samples) {
                readers.push((threads, rate, load.map_or(f64::NAN, CpuLoad::others_since)));
            }
        }
        let q = Rows::contiguous(&set.queries, set.dim).expect("whole rows");
        let mut out = BatchResults::new(nq, K).expect("k > 0");
        for workers in 1..=cores {
            let own;
            let idx = if workers == cores {
                index
            } else if all_pools {
                own = build_index(set, &pool(topo, workers));
                &own
            } else {
                continue;
            };
            let mut log = Vec::new();
            let load = CpuLoad::now();
            group.throughput(Throughput::Elements(nq as u64));
            group.bench_function(format!("pool{workers}/{}", set.dim), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        idx.batch_search(q, &params, &mut out).expect("search");
                    }
                    let d = start.elapsed();
                    log.push((iters * nq as u64, d));
                    d
                })
            });
            if let Some(rate) = median_rate(&log, samples) {
                pools.push((workers, rate, load.map_or(f64::NAN, CpuLoad::others_since)));
            }
        }
        group.finish();
    }
    print_scaling_table(set, ef, r, &readers, &pools);
    ef
}

fn print_scaling_table(
    set: &DataSet,
    ef: usize,
    recall: f64,
    readers: &[(usize, f64, f64)],
    pools: &[(usize, f64, f64)],
) {
    eprintln!(
        "\n   == {} ({} x {}, {} queries, k = {K}, ef = {ef}, recall@{K} = {recall:.4})",
        set.name,
        set.n_base(),
        set.dim,
        set.n_queries()
    );
    eprintln!(
        "     {:<28} {:>7} {:>12} {:>10} {:>11} {:>8}",
        "mode", "threads", "QPS", "vs 1", "efficiency", "others"
    );
    for (label, rows) in [
        ("search (T OS threads)", readers),
        ("batch_search (W workers)", pools),
    ] {
        let one = rows.iter().find(|r| r.0 == 1).map(|r| r.1);
        for &(t, rate, others) in rows {
            let (x, eff) = match one {
                Some(one) => (
                    format!("{:.2}x", rate / one),
                    format!("{:.1}%", 100.0 * rate / (t as f64 * one)),
                ),
                None => ("-".into(), "-".into()),
            };
            eprintln!(
                "     {label:<28} {t:>7} {rate:>12.0} {x:>10} {eff:>11} {:>8}",
                others_cell(others)
            );
        }
    }
    eprintln!(
        "     (others = cores other processes used meanwhile, from /proc/stat; '!' = more than 0.15: contaminated)\n"
    );
}

// ---------------------------------------------------------------------------
// Mixed load
// ---------------------------------------------------------------------------

struct MixRun {
    threads: usize,
    write: bool,
    ops: usize,
    wall: Duration,
    search: Vec<Duration>,
    add: Vec<Duration>,
    self_found: usize,
    self_rank0: usize,
    self_total: usize,
    before: IndexStats,
    after: IndexStats,
    /// Cores other processes used during the run.
    others: f64,
}

/// The mix (see the module docs) from `threads` threads, `ops` operations in all.
/// Thread `t` adds reserve rows `t, t + threads, ...` with ids `first_id + row`.
#[allow(clippy::too_many_arguments)]
fn run_mix(
    index: &Index,
    set: &DataSet,
    reserve: &[f32],
    first_id: u64,
    threads: usize,
    ops: usize,
    params: &SearchParams,
    write: bool,
) -> MixRun {
    let nq = set.n_queries();
    let dim = set.dim;
    let per_thread = ops / threads;
    let barrier = Barrier::new(threads + 1);
    let before = index.stats();
    let load = CpuLoad::now();
    let (wall, parts) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut search = Vec::with_capacity(per_thread);
                    let mut add = Vec::with_capacity(per_thread / MIX_CYCLE + 1);
                    let (mut found, mut rank0, mut total) = (0usize, 0usize, 0usize);
                    black_box(index.search(set.query(0), params).expect("search"));
                    barrier.wait();
                    let mut qi = t * nq / threads;
                    let mut last: Option<(u64, &[f32])> = None;
                    for j in 0..per_thread {
                        let slot = j % MIX_CYCLE;
                        if write && slot == 0 {
                            let row = (j / MIX_CYCLE) * threads + t;
                            let v = &reserve[row * dim..(row + 1) * dim];
                            let id = first_id + row as u64;
                            let start = Instant::now();
                            index.add(Some(id), v, None).expect("add");
                            add.push(start.elapsed());
                            last = Some((id, v));
                        } else if write && slot == 1 {
                            let (id, v) = last.take().expect("an add precedes");
                            let start = Instant::now();
                            let hits = index.search(v, params).expect("search");
                            search.push(start.elapsed());
                            total += 1;
                            if let Some(pos) = hits.hits.iter().position(|h| h.id == id) {
                                found += 1;
                                rank0 += usize::from(pos == 0);
                            }
                        } else {
                            let q = set.query(qi);
                            qi = (qi + 1) % nq;
                            let start = Instant::now();
                            black_box(index.search(q, params).expect("search"));
                            search.push(start.elapsed());
                        }
                    }
                    (search, add, found, rank0, total)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let parts: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("mix thread"))
            .collect();
        (start.elapsed(), parts)
    });
    let others = load.map_or(f64::NAN, CpuLoad::others_since);
    let after = index.stats();
    let mut run = MixRun {
        threads,
        write,
        ops: per_thread * threads,
        wall,
        search: Vec::new(),
        add: Vec::new(),
        self_found: 0,
        self_rank0: 0,
        self_total: 0,
        before,
        after,
        others,
    };
    for (search, add, found, rank0, total) in parts {
        run.search.extend(search);
        run.add.extend(add);
        run.self_found += found;
        run.self_rank0 += rank0;
        run.self_total += total;
    }
    run.search.sort_unstable();
    run.add.sort_unstable();
    run
}

fn print_mix_header() {
    eprintln!(
        "     {:<10} {:>3} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>22} {:>14} {:>7}",
        "run",
        "thr",
        "ops",
        "ops/s",
        "s p50 us",
        "s p99 us",
        "s p999",
        "a p50 us",
        "a p99 us",
        "self-found",
        "compact/repair",
        "others"
    );
}

fn print_mix_row(r: &MixRun) {
    let (self_found, adds) = if r.write {
        (
            format!(
                "{:.2}% ({}/{})",
                100.0 * r.self_found as f64 / r.self_total.max(1) as f64,
                r.self_found,
                r.self_total
            ),
            (pct_us(&r.add, 50.0), pct_us(&r.add, 99.0)),
        )
    } else {
        ("-".into(), (f64::NAN, f64::NAN))
    };
    eprintln!(
        "     {:<10} {:>3} {:>8} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>22} {:>10}/{:<3} {:>7}",
        if r.write { "90/10 mix" } else { "read-only" },
        r.threads,
        r.ops,
        r.ops as f64 / r.wall.as_secs_f64(),
        pct_us(&r.search, 50.0),
        pct_us(&r.search, 99.0),
        pct_us(&r.search, 99.9),
        adds.0,
        adds.1,
        self_found,
        r.after.compactions - r.before.compactions,
        r.after.repairs - r.before.repairs,
        others_cell(r.others),
    );
}

/// Read-only and mixed runs at 1 and 2 threads (`cores` capped at 2).
fn mix_section(sizes: &Sizes, cores: usize, set: &DataSet, pool: &Arc<NumaPool>, ef: usize) {
    let n = set.n_base();
    let mut config = IndexConfig::new(set.dim, Metric::L2Sq);
    config.pool = Some(pool.clone());
    let index = Index::new(config).expect("valid config");
    let start = Instant::now();
    index.add_batch(None, &set.base, None).expect("add base");
    index.wait_for_builds();
    eprintln!(
        "   mix index: {n} rows, pool {} workers: added and linked in {:.2} s; graph {:?}; recall@{K} at ef {ef} = {:.4}",
        pool.n_threads(),
        start.elapsed().as_secs_f64(),
        index.stats().graph,
        recall_at(set, &index, ef)
    );
    let max_adds = sizes.mix_ops / MIX_CYCLE + 2;
    let reserve = index_data::clusters().sample(max_adds, RESERVE_SEED);
    let params = SearchParams::new(K).ef(ef);
    let first_id = n as u64;
    let mut runs = Vec::new();
    for threads in [1, cores.clamp(1, 2)] {
        if runs.iter().any(|r: &MixRun| r.threads == threads) {
            continue;
        }
        {
            // Back to the base: remove what was added, merge it away.
            let added: Vec<u64> = (first_id..first_id + max_adds as u64).collect();
            let start = Instant::now();
            let removed = index.remove(&added).expect("remove");
            index.compact();
            index.wait_for_builds();
            eprintln!(
                "   reset: removed {} added ids, compacted back to {} rows in {:.2} s; graph {:?}; recall@{K} at ef {ef} = {:.4}",
                removed.count,
                index.len(),
                start.elapsed().as_secs_f64(),
                index.stats().graph,
                recall_at(set, &index, ef)
            );
        }
        for write in [false, true] {
            let run = run_mix(
                &index,
                set,
                &reserve,
                first_id,
                threads,
                sizes.mix_ops,
                &params,
                write,
            );
            if write {
                let start = Instant::now();
                index.wait_for_builds();
                eprintln!(
                    "   {threads}-thread mix: builder drained {:.2} s after the run; index stats latency p50/p99 (lifetime, bucketed) {:?}/{:?}",
                    start.elapsed().as_secs_f64(),
                    run.after.latency.p50,
                    run.after.latency.p99
                );
            }
            runs.push(run);
        }
    }
    eprintln!(
        "\n   == 90% search / 10% add vs read-only ({} base rows x {}, k = {K}, ef = {ef}, {} ops per run; s = search, a = add; self-found = just-added vector in its own top {K})",
        n, set.dim, sizes.mix_ops
    );
    print_mix_header();
    for r in &runs {
        print_mix_row(r);
    }
    for threads in [1, 2] {
        let ro = runs.iter().find(|r| r.threads == threads && !r.write);
        let mx = runs.iter().find(|r| r.threads == threads && r.write);
        if let (Some(ro), Some(mx)) = (ro, mx) {
            eprintln!(
                "     {threads} thread(s): mix search p99 / read-only p99 = {:.2} (target <= 1.3); mix ops/s {:.0}; self-found {:.2}% (rank 0: {:.2}%)",
                pct_us(&mx.search, 99.0) / pct_us(&ro.search, 99.0),
                mx.ops as f64 / mx.wall.as_secs_f64(),
                100.0 * mx.self_found as f64 / mx.self_total.max(1) as f64,
                100.0 * mx.self_rank0 as f64 / mx.self_total.max(1) as f64,
            );
        }
    }
    eprintln!();
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

/// Criterion groups `index_add_batch` (vectors/s at batch sizes 1, 100, 10 000,
/// each linked into the graph before the call returns) and
/// `index_publish` (one-vector add into an empty index and one of the base's size).
fn write_section(c: &mut Criterion, set: &DataSet, pool: &Arc<NumaPool>) {
    const CAP: usize = 100_000;
    let dim = set.dim;
    let source = &set.base;
    let n_source = set.n_base();
    let fresh = || {
        let mut config = IndexConfig::new(dim, Metric::L2Sq);
        config.pool = Some(pool.clone());
        Index::new(config).expect("valid config")
    };
    let mut group = c.benchmark_group("index_add_batch");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for batch in [1usize, 100, 10_000] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("{batch}/{dim}"), |b| {
            let mut index = fresh();
            let mut at = 0usize;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    if index.len() + batch > CAP {
                        index = fresh();
                    }
                    if at + batch > n_source {
                        at = 0;
                    }
                    let rows = &source[at * dim..(at + batch) * dim];
                    at += batch;
                    let start = Instant::now();
                    black_box(index.add_batch(None, rows, None).expect("add"));
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();

    // One-vector adds into an index that holds `preload` rows: the cost of an
    // insert and a publish, as the graph and the id map grow.
    let mut group = c.benchmark_group("index_publish");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for preload in [0usize, n_source] {
        let make = || {
            let index = fresh();
            if preload > 0 {
                index
                    .add_batch(None, &source[..preload * dim], None)
                    .expect("preload");
            }
            index
        };
        group.bench_function(format!("add1/n{}k/{dim}", preload / 1000), |b| {
            let mut index = make();
            let mut at = 0usize;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    if index.len() >= preload + CAP {
                        index = make();
                    }
                    at = (at + 1) % n_source;
                    let v = &source[at * dim..(at + 1) * dim];
                    let start = Instant::now();
                    black_box(index.add(None, v, None).expect("add"));
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

/// Bulk-load time of `rows` rows (one `add_batch`, returning searchable) on pools
/// of 1..=cores workers.
fn bulk_section(topo: &Topology, cores: usize, set: &DataSet, rows: usize) {
    eprintln!(
        "\n   == bulk load ({} rows x {} of {}: one add_batch, linked before it returns)",
        rows, set.dim, set.name
    );
    eprintln!(
        "     {:>7} {:>10} {:>14} {:>8}",
        "workers", "add s", "insert rows/s", "others"
    );
    for workers in 1..=cores {
        let mut config = IndexConfig::new(set.dim, Metric::L2Sq);
        config.pool = Some(pool(topo, workers));
        let index = Index::new(config).expect("valid config");
        let load = CpuLoad::now();
        let start = Instant::now();
        let w = index
            .add_batch(None, &set.base[..rows * set.dim], None)
            .expect("add");
        let added = start.elapsed();
        let others = load.map_or(f64::NAN, CpuLoad::others_since);
        let st = index.stats();
        assert_eq!(st.graph.slots, rows, "every row is in the graph");
        assert_eq!(st.version, w.version, "one publish for the batch");
        eprintln!(
            "     {workers:>7} {:>10.3} {:>14.0} {:>8}",
            added.as_secs_f64(),
            rows as f64 / added.as_secs_f64(),
            others_cell(others)
        );
    }
    eprintln!();
}

fn main() {
    print_machine_banner("index");
    eprintln!("   (this bench is multi-threaded: thread and worker counts are in each id)");
    let args = Args::parse();
    let sizes = Sizes::new(args.quick);
    let mut c = Criterion::default().configure_from_args();
    let topo = Topology::detect();
    let cores = plan(&topo, &Policy::default())
        .map(|p| p.n_threads())
        .unwrap_or(1);
    let all = pool(&topo, cores);
    eprintln!(
        "   index bench: {cores} workers in the full pool; sizes {sizes:?}; filter {:?}",
        args.filter
    );
    let wants_clustered = [
        "index_search_clustered",
        "index_mix",
        "index_add_batch",
        "index_publish",
        "index_bulk",
    ]
    .iter()
    .any(|s| args.wants(s));
    if wants_clustered {
        let set = clustered_set(&sizes, &all);
        let mut ef = None;
        if args.wants("index_search_clustered") {
            let index = build_index(&set, &all);
            ef = Some(search_section(
                &mut c, &sizes, &topo, cores, &set, &index, true,
            ));
        }
        if args.wants("index_mix") {
            let ef = ef.unwrap_or_else(|| {
                let index = build_index(&set, &all);
                choose_ef(&set, &index).0
            });
            mix_section(&sizes, cores, &set, &all, ef);
        }
        if args.wants("index_add_batch") || args.wants("index_publish") {
            write_section(&mut c, &set, &all);
        }
        if args.wants("index_bulk") {
            bulk_section(&topo, cores, &set, 8192.min(set.n_base()));
        }
    }
    if args.wants("index_search_fmnist")
        && let Some(set) = fmnist_set(&sizes)
    {
        let index = build_index(&set, &all);
        search_section(&mut c, &sizes, &topo, cores, &set, &index, !sizes.quick);
    }
    c.final_summary();
}
