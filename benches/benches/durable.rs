//! Durable mode: add_batch throughput per `Durability` mode against the same
//! index in memory, and the time to open (recover) a durable index, from a
//! checkpoint (row blocks and the graph's links) and from the log alone (every logged row inserted again).
//!
//! Ids: `durable_add/{mode}/{batch}` (throughput in vectors), and
//! `durable_open/{checkpoint|log}/{rows}`. Files go to a directory under the
//! system temp dir (`SAGEVEC_BENCH_DIR` to choose one: the disk decides fsync
//! cost). Targets (issue 7): Periodic within 1.5x of in-memory add throughput,
//! EveryWrite with 1000-vector batches within 3x.
//!
//! Run: `cargo bench -p sagevec-benches --bench durable`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use sagevec_benches::{print_machine_banner, random_rows};
use sagevec_index::{Durability, Index, IndexConfig};
use sagevec_kernels::Metric;

const DIM: usize = 128;

fn bench_dir(name: &str) -> PathBuf {
    let root = std::env::var_os("SAGEVEC_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = root.join(format!("sagevec-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(durability: Durability) -> IndexConfig {
    let mut c = IndexConfig::new(DIM, Metric::L2Sq);
    c.durability = durability;
    c
}

/// Times opening (recovering) the index in `dir`; the opened index is dropped
/// without a closing checkpoint, so every iteration recovers the same files.
fn bench_open(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, dir: &Path) {
    group.bench_function(id, |b| {
        b.iter(|| Index::open(dir, config(Durability::Off)).unwrap().abandon())
    });
}

fn main() {
    print_machine_banner("durable");
    let mut c = Criterion::default().configure_from_args();

    // add_batch throughput per mode.
    let data = random_rows(1000, DIM, 0xd0);
    let modes: [(&str, Option<Durability>); 4] = [
        ("memory", None),
        ("off", Some(Durability::Off)),
        (
            "periodic100ms",
            Some(Durability::Periodic(Duration::from_millis(100))),
        ),
        ("every_write", Some(Durability::EveryWrite)),
    ];
    for batch in [1usize, 1000] {
        let mut group = c.benchmark_group("durable_add");
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(batch as u64));
        for (name, mode) in &modes {
            let dir = bench_dir(name);
            let index = match mode {
                None => Index::new(config(Durability::EveryWrite)).unwrap(),
                Some(m) => Index::open(&dir, config(*m)).unwrap(),
            };
            let rows = &data[..batch * DIM];
            group.bench_function(format!("{name}/{batch}"), |b| {
                b.iter(|| index.add_batch(None, rows, None).unwrap())
            });
            drop(index);
            let _ = std::fs::remove_dir_all(&dir);
        }
        group.finish();
    }

    // Open (recovery) time.
    for rows in [100_000usize] {
        let data = random_rows(rows, DIM, 0xd1);
        let mut group = c.benchmark_group("durable_open");
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_secs(5))
            .throughput(Throughput::Elements(rows as u64));
        // From a checkpoint: row blocks and the graph's links.
        let dir = bench_dir("open-checkpoint");
        {
            let index = Index::open(&dir, config(Durability::Off)).unwrap();
            index.add_batch(None, &data, None).unwrap();
            index.wait_for_builds();
            index.close().unwrap();
        }
        bench_open(&mut group, &format!("checkpoint/{rows}"), &dir);
        let _ = std::fs::remove_dir_all(&dir);
        // From the log alone (no checkpoint ever written).
        let dir = bench_dir("open-log");
        {
            let index = Index::open(&dir, config(Durability::Off)).unwrap();
            for chunk in data.chunks(1000 * DIM) {
                index.add_batch(None, chunk, None).unwrap();
            }
            index.abandon();
        }
        bench_open(&mut group, &format!("log/{rows}"), &dir);
        let _ = std::fs::remove_dir_all(&dir);
        group.finish();
    }
    c.final_summary();
}
