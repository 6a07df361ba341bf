//! `sagevec demo`: the README's main job, on built-in (generated) data.
//!
//! Builds an index over seeded clustered vectors on every worker, measures exact
//! batch search (the ground truth), graph batch search at a few beam widths
//! (recall@10 and QPS), then the same reader threads twice: searching alone
//! (read-only), and searching while a writer adds and removes (concurrent). It
//! prints searches/s, latency percentiles and each search's own thread CPU time
//! for both (the cost of a search while writes go into the graph, apart from the
//! writer's share of the cores), and whether every acknowledged vector was found by
//! searching for itself right after its add.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use sagevec_index::{BatchResults, Index, IndexConfig, IndexError, SearchParams, knn};
use sagevec_kernels::{Metric, Rows};
use sagevec_scheduler::{NumaPool, Par};

use crate::error::CliError;
use crate::files;
use crate::generate::clustered;
use crate::machine;

/// Options of `sagevec demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Small and fast (CI): 20k vectors, 1 s concurrent phase.
    #[arg(long)]
    quick: bool,
    /// Vectors in the index (default 100k; 20k with --quick).
    #[arg(long)]
    n: Option<usize>,
    /// Vector dimension.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Queries.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Seconds of the concurrent read/write phase (default 5; 1 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl From<IndexError> for CliError {
    fn from(err: IndexError) -> Self {
        CliError::Runtime(format!("index: {err}"))
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (its first
/// field, in nanoseconds); `None` where Linux does not provide it.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// One reader thread's phase: each search's latency, and its thread's CPU time.
struct ReaderRun {
    lat: Vec<Duration>,
    cpu: Option<Duration>,
}

/// All readers of one phase (and the writer's tallies when it ran).
#[derive(Default)]
struct Phase {
    searches: u64,
    lat: Vec<Duration>,
    cpu: Option<Duration>,
    writes: u64,
    found: u64,
    checked: u64,
}

impl Phase {
    /// Mean CPU time of one search on its own thread, in microseconds.
    fn cpu_per_search(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.searches > 0).then(|| us(cpu) / self.searches as f64)
    }
}

pub(crate) fn run(args: &DemoArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let n = args.n.unwrap_or(if args.quick { 20_000 } else { 100_000 });
    let seconds = args.seconds.unwrap_or(if args.quick { 1.0 } else { 5.0 });
    let (dim, nq, k) = (args.dim, args.queries, 10);
    if n == 0 || nq == 0 || dim == 0 {
        return Err(CliError::Usage(
            "--n, --dim and --queries must be at least 1".into(),
        ));
    }
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(CliError::Usage("--seconds must be positive".into()));
    }
    let (isa, source) = machine::active_isa()?;
    let pool = Arc::new(NumaPool::from_env().map_err(|e| CliError::Usage(e.to_string()))?);
    writeln!(
        out,
        "sagevec demo: {n} x {dim} clustered vectors, {nq} queries, k = {k}\n\
         cpu: {} | isa: {} ({}) | pool: {} workers on {} node(s)",
        machine::cpu_model(),
        isa.name(),
        source.describe(),
        pool.n_threads(),
        pool.n_nodes()
    )?;

    // Build.
    let data = clustered(n + nq, dim, args.seed);
    let (base, queries) = data.split_at(n * dim);
    let mut config = IndexConfig::new(dim, Metric::L2Sq);
    config.pool = Some(pool.clone());
    let index = Arc::new(Index::new(config)?);
    let t = Instant::now();
    index.add_batch(None, base, None)?;
    let built = t.elapsed();
    writeln!(
        out,
        "\nbuild: one add_batch, in the graph when it returns: {:.2} s ({:.0} vectors/s, M = 16, ef_construction = 200)",
        built.as_secs_f64(),
        n as f64 / built.as_secs_f64()
    )?;

    // Exact ground truth on every worker.
    let q_rows = Rows::contiguous(queries, dim)?;
    let mut truth = BatchResults::new(nq, k)?;
    let t = Instant::now();
    knn(
        Metric::L2Sq,
        q_rows,
        Rows::contiguous(base, dim)?,
        None,
        k,
        Par::Pool(&pool),
        &mut truth,
    )?;
    let exact = t.elapsed();
    writeln!(
        out,
        "\n{:<28} {:>10} {:>12}\n{:<28} {:>10.0} {:>12}",
        "search",
        "QPS",
        "recall@10",
        "exact knn (fused kernel)",
        nq as f64 / exact.as_secs_f64(),
        "1.000"
    )?;
    let truth_ids = files::result_ids(&truth);
    let mut got = BatchResults::new(nq, k)?;
    for ef in [16usize, 32, 64, 128] {
        let params = SearchParams::new(k).ef(ef);
        index.batch_search(q_rows, &params, &mut got)?; // warm
        let t = Instant::now();
        index.batch_search(q_rows, &params, &mut got)?;
        let el = t.elapsed();
        writeln!(
            out,
            "{:<28} {:>10.0} {:>12.3}",
            format!("graph batch_search ef={ef}"),
            nq as f64 / el.as_secs_f64(),
            files::recall(&truth_ids, &got, k)
        )?;
    }

    // The same readers alone, then beside a writer that adds and removes.
    let readers = pool.n_threads().max(2);
    let queries: Arc<Vec<f32>> = Arc::new(queries.to_vec());
    let phase = |with_writer: bool| -> Result<Phase, CliError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (found, checked) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut handles = Vec::new();
        for r in 0..readers {
            let (index, stop, queries) = (index.clone(), stop.clone(), queries.clone());
            handles.push(std::thread::spawn(
                move || -> Result<ReaderRun, IndexError> {
                    let params = SearchParams::new(k).ef(64);
                    let mut lat = Vec::new();
                    let mut i = r;
                    let cpu0 = thread_cpu();
                    while !stop.load(Ordering::Relaxed) {
                        let q = &queries[(i % nq) * dim..(i % nq + 1) * dim];
                        let t = Instant::now();
                        index.search(q, &params)?;
                        lat.push(t.elapsed());
                        i += readers;
                    }
                    let cpu = thread_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
                    Ok(ReaderRun { lat, cpu })
                },
            ));
        }
        let writer = with_writer.then(|| {
            let (index, stop, found, checked) =
                (index.clone(), stop.clone(), found.clone(), checked.clone());
            let seed = args.seed;
            std::thread::spawn(move || -> Result<u64, IndexError> {
                let mut writes = 0u64;
                let mut round = 0u64;
                let params = SearchParams::new(k).ef(64);
                while !stop.load(Ordering::Relaxed) {
                    let fresh = clustered(100, dim, seed + 1000 + round);
                    let w = index.add_batch(None, &fresh, None)?;
                    // Each acknowledged vector must be found by searching for itself.
                    for (id, v) in w.ids.iter().zip(fresh.chunks(dim)).step_by(10) {
                        checked.fetch_add(1, Ordering::Relaxed);
                        if index.search(v, &params)?.hits.first().map(|h| h.id) == Some(*id) {
                            found.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    index.remove(&w.ids[..10])?;
                    writes += 2;
                    round += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(writes)
            })
        });
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
        let mut p = Phase {
            cpu: Some(Duration::ZERO),
            ..Phase::default()
        };
        for h in handles {
            let run = h
                .join()
                .map_err(|_| CliError::Runtime("a reader panicked".into()))??;
            p.searches += run.lat.len() as u64;
            p.cpu = match (p.cpu, run.cpu) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            p.lat.extend(run.lat);
        }
        if let Some(w) = writer {
            p.writes = w
                .join()
                .map_err(|_| CliError::Runtime("the writer panicked".into()))??;
        }
        p.lat.sort_unstable();
        p.found = found.load(Ordering::Relaxed);
        p.checked = checked.load(Ordering::Relaxed);
        Ok(p)
    };
    let alone = phase(false)?;
    let mixed = phase(true)?;
    writeln!(
        out,
        "\n{readers} reader threads, {seconds} s each{}:\n{:<30} {:>10} {:>9} {:>9} {:>14}",
        if alone.cpu.is_none() {
            " (thread CPU time: /proc/thread-self/schedstat unreadable)"
        } else {
            ""
        },
        "",
        "searches/s",
        "p50 us",
        "p99 us",
        "CPU us/search"
    )?;
    for (name, p) in [
        ("read-only", &alone),
        ("while 1 writer adds/removes", &mixed),
    ] {
        writeln!(
            out,
            "{name:<30} {:>10.0} {:>9.0} {:>9.0} {:>14}",
            p.searches as f64 / seconds,
            us(percentile(&p.lat, 0.5)),
            us(percentile(&p.lat, 0.99)),
            p.cpu_per_search()
                .map_or_else(|| "n/a".into(), |c| format!("{c:.1}")),
        )?;
    }
    if let (Some(a), Some(m)) = (alone.cpu_per_search(), mixed.cpu_per_search()) {
        writeln!(
            out,
            "search CPU time while writing / read-only: {:.2}x",
            m / a
        )?;
    }
    writeln!(
        out,
        "writer: {} writes (add 100 / remove 10), acknowledged vectors found by self-search: {}/{}",
        mixed.writes, mixed.found, mixed.checked
    )?;
    index.wait_for_builds();
    let s = index.stats();
    writeln!(
        out,
        "\nindex: {} live vectors in one graph of {} slots ({} removed, walks {}), version {}, \
         compactions {}, repairs {}, builder errors {}, memory {:.1} MiB",
        s.len,
        s.graph.slots,
        s.graph.removed_slots,
        if s.graph.walks_f16 {
            "an f16 copy"
        } else {
            "f32"
        },
        s.version,
        s.compactions,
        s.repairs,
        s.builder_errors,
        s.memory.total() as f64 / f64::from(1u32 << 20)
    )?;
    Ok(())
}
