//! A kernel-heavy batch, many-to-many dot products (`dot_matrix`, register-tiled),
//! on the pinned `NumaPool` vs rayon pools, at 1 and 2 threads (and all threads).
//!
//! Ids `pool_dot_matrix/{variant}/{threads}`:
//!
//! | variant | what runs |
//! |---|---|
//! | `numa_pinned` | `NumaPool` (real topology, `Pin::On`): queries split over nodes by `broadcast_range`, chunks of 16 queries by `par_chunks` inside each node |
//! | `numa_local_rows` | `NumaPool`: the *rows* split over nodes, each node's part copied once into a `NodeBuffer` placed on that node; every node scores all queries against its own rows (the index's multi-socket layout) |
//! | `rayon_unpinned` | a plain `rayon::ThreadPool` of the same size, same chunks, no pinning |
//! | `rayon_global` | rayon's global pool (default size); benches may build it, library code never does |
//!
//! Data: 256 queries x 8 192 rows x d = 128 (f32 uniform in [-1, 1), 4 MiB of rows,
//! fits a 32 MiB L3),
//! output 256 x 8 192 f32. `SAGEVEC_TOPOLOGY` and `SAGEVEC_PIN` apply to the
//! `numa_*` variants through `Topology::from_env`.
//!
//! On a 2-socket box, measure `numa_local_rows/all` vs `rayon_global/all` with a
//! corpus far past LLC (raise `N_ROWS` to ~2M so rows come from DRAM): the pinned,
//! node-local layout should keep each socket on its own memory controller, where the
//! global pool's threads read rows across the socket link.
//!
//! It lives here, not in `sagevec-scheduler`, because that crate knows no vectors.
//!
//! Run: `cargo bench -p sagevec-benches --bench pool` (`-- --quick` for a short run).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sagevec_benches::random_rows;
use sagevec_kernels::{Rows, kernels};
use sagevec_scheduler::rayon::{self, prelude::*};
use sagevec_scheduler::{NodeBuffer, NumaPool, Pin, Policy, Topology, plan, process_cpus};

const DIM: usize = 128;
const N_QUERIES: usize = 256;
const N_ROWS: usize = 8192;
/// Queries per task: several micro-kernel tiles, enough work to hide scheduling.
const CHUNK: usize = 16;

/// `out[i, j] = q_i . x_j` for the queries in `q`, in chunks of `CHUNK` queries, on
/// whichever rayon pool is current.
fn dot_chunks(q: &[f32], x: &[f32], out: &mut [f32]) {
    let n_rows = x.len() / DIM;
    out.par_chunks_mut(CHUNK * n_rows)
        .zip(q.par_chunks(CHUNK * DIM))
        .for_each(|(o, qc)| {
            let qr = Rows::contiguous(qc, DIM).unwrap();
            let xr = Rows::contiguous(x, DIM).unwrap();
            kernels().dot_matrix(qr, xr, o).unwrap();
        });
}

fn numa_pool(threads: Option<usize>) -> NumaPool {
    let topo = Topology::from_env().unwrap();
    let mut policy = Policy::default().with_pin(Pin::On).with_env().unwrap();
    if let Some(t) = threads {
        policy = policy.with_max_threads(t);
    }
    NumaPool::new(plan(&topo, &policy).unwrap()).unwrap()
}

fn bench(c: &mut Criterion) {
    let q = random_rows(N_QUERIES, DIM, 1);
    let x = random_rows(N_ROWS, DIM, 2);
    let mut out = vec![0f32; N_QUERIES * N_ROWS];
    let n_cpus = process_cpus().unwrap().len();
    eprintln!(
        "pool bench: isa {:?}, {n_cpus} allowed CPU(s), {N_QUERIES} x {N_ROWS} x d{DIM}",
        kernels().isa()
    );

    let mut g = c.benchmark_group("pool_dot_matrix");
    g.throughput(Throughput::Elements((N_QUERIES * N_ROWS) as u64));
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    let mut sizes: Vec<(String, Option<usize>)> = (1..=2.min(n_cpus))
        .map(|t| (t.to_string(), Some(t)))
        .collect();
    if n_cpus > 2 {
        sizes.push(("all".into(), None));
    }
    for (label, threads) in &sizes {
        let pool = numa_pool(*threads);
        eprintln!("{pool}");
        g.bench_function(format!("numa_pinned/{label}"), |b| {
            b.iter(|| {
                let parts = pool.split_range(N_QUERIES);
                // Hand each node its own disjoint slice of `out`.
                let mut slices = Vec::new();
                let mut rest = out.as_mut_slice();
                for (_, r) in &parts {
                    let (head, tail) = rest.split_at_mut(r.len() * N_ROWS);
                    slices.push(std::sync::Mutex::new(head));
                    rest = tail;
                }
                pool.broadcast_range(N_QUERIES, |node, r| {
                    let mut o = slices[node].lock().unwrap();
                    dot_chunks(&q[r.start * DIM..r.end * DIM], &x, &mut o);
                });
                black_box(&out);
            })
        });

        // Rows split over nodes, each part in a buffer first-touched on its node.
        let row_parts = pool.split_range(N_ROWS);
        let local: Vec<NodeBuffer> = row_parts
            .iter()
            .map(|(node, r)| {
                let mut buf = NodeBuffer::zeroed(&pool, *node, r.len() * DIM * 4);
                let rows: &mut [f32] = bytemuck::cast_slice_mut(buf.as_mut_slice());
                rows.copy_from_slice(&x[r.start * DIM..r.end * DIM]);
                buf
            })
            .collect();
        let mut local_out: Vec<Vec<f32>> = row_parts
            .iter()
            .map(|(_, r)| vec![0f32; N_QUERIES * r.len()])
            .collect();
        let outs: Vec<std::sync::Mutex<&mut Vec<f32>>> =
            local_out.iter_mut().map(std::sync::Mutex::new).collect();
        g.bench_function(format!("numa_local_rows/{label}"), |b| {
            b.iter(|| {
                pool.broadcast(|node| {
                    let rows: &[f32] = bytemuck::cast_slice(local[node].as_slice());
                    let mut o = outs[node].lock().unwrap();
                    if !rows.is_empty() {
                        dot_chunks(&q, rows, &mut o);
                    }
                });
                black_box(&outs);
            })
        });
        drop(outs);

        if let Some(t) = threads {
            let plain = rayon::ThreadPoolBuilder::new()
                .num_threads(*t)
                .build()
                .unwrap();
            g.bench_function(format!("rayon_unpinned/{label}"), |b| {
                b.iter(|| {
                    plain.install(|| dot_chunks(&q, &x, &mut out));
                    black_box(&out);
                })
            });
        }
    }
    g.bench_function(
        format!("rayon_global/{}", rayon::current_num_threads()),
        |b| {
            b.iter(|| {
                dot_chunks(&q, &x, &mut out);
                black_box(&out);
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
