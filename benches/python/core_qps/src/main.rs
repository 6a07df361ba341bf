//! Times the Rust core on an index that `benches/python/threads.py` saved
//! (`Index.save`), so that both sides search the very same graph and
//! graphs: `Index::load` here, `sagevec.Index.load` there.
//!
//! ```text
//! sagevec-python-bench-core INDEX_DIR QUERIES.f32 DIM K EF REPEATS [TINY_DIR]
//! ```
//!
//! `QUERIES.f32`: row-major little-endian float32, `DIM` per row. Prints one
//! JSON object: per repeat, the batch time of all queries in one
//! `Index::batch_search` (results buffer allocated once, as a Rust caller
//! would), the mean time of one `Index::search` call over all queries one by
//! one, the QPS of single-query `search` from 1 and from 2 threads (each
//! over its share of the queries, as the Python threads do), and, with
//! `TINY_DIR`, the mean time of one `search` call on that (tiny) index.

use std::time::Instant;

use sagevec_index::{BatchResults, Index, IndexConfig, SearchParams};
use sagevec_kernels::{Metric, Rows};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("argument {i}: expected {what}"))
}

fn load(dir: &str, dim: usize, ef: usize) -> Index {
    let mut config = IndexConfig::new(dim, Metric::L2Sq);
    config.ef_search = ef;
    let index = Index::load(dir, config).unwrap_or_else(|e| panic!("load {dir}: {e}"));
    index.wait_for_builds();
    index
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir: String = arg(&args, 1, "index directory");
    let qfile: String = arg(&args, 2, "queries file");
    let dim: usize = arg(&args, 3, "dim");
    let k: usize = arg(&args, 4, "k");
    let ef: usize = arg(&args, 5, "ef");
    let repeats: usize = arg(&args, 6, "repeats");
    let tiny: Option<String> = args.get(7).cloned();

    let bytes = std::fs::read(&qfile).unwrap_or_else(|e| panic!("read {qfile}: {e}"));
    let queries: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let rows = Rows::contiguous(&queries, dim).expect("queries shape");
    let nq = rows.n_rows();
    let index = load(&dir, dim, ef);
    // What sagevec.Index passes: the beam made explicit (max(ef, k)).
    let params = SearchParams::new(k).ef(ef.max(k));

    let mut out = BatchResults::new(nq, k).expect("results");
    // Warm up (the first calls of a fresh process run at half speed: pool
    // threads, page faults, caches): at least 5 calls and half a second, as
    // the long-running Python process is warm by the time it measures.
    let warm = Instant::now();
    for i in 0.. {
        if i >= 5 && warm.elapsed().as_secs_f64() > 0.5 {
            break;
        }
        index
            .batch_search(rows, &params, &mut out)
            .expect("warm-up");
    }
    // Back to back, as the Python side times its batch calls.
    let mut batch_s = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        index
            .batch_search(rows, &params, &mut out)
            .expect("batch search");
        batch_s.push(t.elapsed().as_secs_f64());
    }
    let mut single_us = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        for q in rows.iter() {
            std::hint::black_box(index.search(q, &params).expect("search"));
        }
        single_us.push(t.elapsed().as_secs_f64() * 1e6 / nq as f64);
    }

    // Single-query search from 1 and 2 threads, each over its share of the
    // queries (what the Python threads do, without Python): the scaling this
    // machine allows, for comparison with the Python threads' scaling.
    let threads_qps = |n_threads: usize| -> f64 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for first in 0..n_threads {
                let (index, params) = (&index, &params);
                s.spawn(move || {
                    for q in rows.iter().skip(first).step_by(n_threads) {
                        std::hint::black_box(index.search(q, params).expect("search"));
                    }
                });
            }
        });
        nq as f64 / t.elapsed().as_secs_f64()
    };
    let mut qps_1 = Vec::with_capacity(repeats);
    let mut qps_2 = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        qps_1.push(threads_qps(1));
        qps_2.push(threads_qps(2));
    }

    let mut tiny_us = Vec::new();
    if let Some(tiny) = tiny {
        let small = load(&tiny, dim, ef);
        let calls = 20_000;
        for _ in 0..repeats.max(9) {
            let t = Instant::now();
            for i in 0..calls {
                let q = rows.row(i % nq);
                std::hint::black_box(small.search(q, &params).expect("search"));
            }
            tiny_us.push(t.elapsed().as_secs_f64() * 1e6 / calls as f64);
        }
    }
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.6}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{{\"n_queries\": {nq}, \"batch_s\": [{}], \"single_us\": [{}], \"tiny_single_us\": [{}], \
         \"threads_qps_1\": [{}], \"threads_qps_2\": [{}]}}",
        list(&batch_s),
        list(&single_us),
        list(&tiny_us),
        list(&qps_1),
        list(&qps_2)
    );
}
