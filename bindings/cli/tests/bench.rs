//! `sagevec bench search` and `sagevec bench all`, run as a user would, in the
//! hidden `--tiny` mode: the JSON reports' structure, the PNG plots (signature,
//! IHDR size, not blank), the data-file path, and usage errors (exit code 2).
//! Nothing here asserts on speed.

use std::path::Path;

use sagevec_cli::formats::{self, Format, IdMatrix, Matrix};
use serde_json::Value;

mod common;
use common::{TempDir, ok, sagevec, text, usage_error};

/// Pixel size of every plot (`bench::plots::WIDTH` × `HEIGHT`).
const PLOT_SIZE: (u32, u32) = (1280, 720);
const PLOTS: [&str; 3] = ["recall_qps.png", "qps_threads.png", "kernels_bandwidth.png"];

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f64_of(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key:?} is not a number in {v}"))
}

/// Checks the `bench search` report; returns its sweep.
fn check_search_report(report: &Value, n: u64, dim: u64, queries: u64) -> Vec<Value> {
    assert_eq!(report["data"]["n"], n, "{}", report["data"]);
    assert_eq!(report["data"]["dim"], dim);
    assert_eq!(report["data"]["queries"], queries);
    assert_eq!(report["k"], 10);
    assert!(report["workers"].as_u64().unwrap() >= 1);
    assert!(report["machine"]["cpu_model"].is_string());

    let build = &report["build"];
    assert_eq!(build["m"], 16);
    assert_eq!(build["ef_construction"], 200);
    assert_eq!(build["graph_segments"], 1, "{build}");
    // What --traversal asked for, and the copy it walks at this dimension.
    let walks = match build["traversal"].as_str() {
        Some("f32") => "f32",
        Some("f16") => "f16",
        Some("auto") if dim >= 96 => "f16",
        Some("auto") => "f32",
        _ => panic!("build.traversal: {build}"),
    };
    assert_eq!(build["walks"], walks, "{build}");
    assert!(f64_of(build, "seconds") > 0.0);
    assert!(f64_of(build, "vectors_per_second") > 0.0);

    let sweep = report["sweep"]
        .as_array()
        .expect("sweep is an array")
        .clone();
    assert!(!sweep.is_empty());
    let mut last_ef = 0;
    for p in &sweep {
        let ef = p["ef"].as_u64().unwrap();
        assert!(
            ef >= 10 && ef > last_ef,
            "efs raised to k, sorted, distinct: {p}"
        );
        last_ef = ef;
        for key in ["recall", "recall_single_thread"] {
            let r = f64_of(p, key);
            assert!((0.0..=1.0).contains(&r), "{key} {r}");
        }
        for key in ["qps", "qps_single_thread", "spread", "spread_single_thread"] {
            assert!(f64_of(p, key) >= 0.0, "{key} in {p}");
        }
    }

    let threads = &report["threads"];
    let ef = threads["ef"].as_u64().unwrap();
    let chosen = sweep
        .iter()
        .find(|p| p["ef"] == ef)
        .unwrap_or_else(|| panic!("threads ef {ef} is not a swept ef"));
    assert_eq!(threads["recall"], chosen["recall"]);
    assert!(threads["ef_choice"].is_string());
    assert!(f64_of(threads, "seconds_per_run") > 0.0);
    let points = threads["points"].as_array().unwrap();
    assert!(!points.is_empty());
    for p in points {
        assert!(p["threads"].as_u64().unwrap() >= 1);
        assert!(f64_of(p, "qps") > 0.0, "{p}");
    }
    sweep
}

/// Width, height, bit depth and colour type from a PNG's IHDR chunk, after
/// checking the signature and that IHDR comes first.
fn png_header(bytes: &[u8]) -> (u32, u32, u8, u8) {
    assert!(
        bytes.len() > 33,
        "too short for a PNG: {} bytes",
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[8..12], &13u32.to_be_bytes(), "IHDR length");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20), bytes[24], bytes[25])
}

/// Fraction of pixels that are not white (decoded with the png crate).
fn ink(path: &Path) -> f64 {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = &buf[..info.buffer_size()];
    let inked = pixels
        .chunks_exact(3)
        .filter(|p| p.iter().any(|&c| c < 250))
        .count();
    inked as f64 / (pixels.len() / 3) as f64
}

#[test]
fn bench_search_tiny_prints_tables_and_writes_json() {
    let dir = TempDir::new("search");
    let json = dir.arg("search.json");
    let out = ok(&[
        "bench",
        "search",
        "--tiny",
        "--threads",
        "1,2",
        "--runs",
        "2",
        "--traversal",
        "f16",
        "--json",
        &json,
    ]);
    for needle in [
        "sagevec bench search: 2000 x 16 clustered (seed 42)",
        "build:",
        "searches walk f16 (--traversal f16)",
        "ground truth: exact knn",
        "recall@10",
        "QPS (1 thread)",
        "QPS vs threads",
        "speedup",
        "wrote ",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let report = read_json(Path::new(&json));
    assert_eq!(report["tool"], "sagevec bench search");
    assert_eq!(report["mode"], "tiny");
    assert_eq!(report["runs"], 2);
    assert_eq!(report["data"]["source"], "generated");
    assert_eq!(report["truth"]["source"], "exact knn");
    assert!(report["unix_time"].as_u64().unwrap() > 0);
    let sweep = check_search_report(&report, 2000, 16, 100);
    assert_eq!(report["build"]["traversal"], "f16");
    // Clustered 2000 x 16 is easy: the widest beam finds nearly everything.
    let best = sweep
        .iter()
        .map(|p| f64_of(p, "recall"))
        .fold(0.0, f64::max);
    assert!(best >= 0.9, "best recall@10 {best}");
    let threads: Vec<u64> = report["threads"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["threads"].as_u64().unwrap())
        .collect();
    assert_eq!(threads, [1, 2]);
}

#[test]
fn bench_search_reads_data_queries_and_truth_files() {
    let dir = TempDir::new("search-files");
    let (n, nq, dim) = (400, 12, 8);
    // Deterministic values in [0, 1) (multiplicative hashing), distinct rows.
    let data = Matrix {
        rows: n,
        dim,
        data: (0..n * dim)
            .map(|x| ((x * 7919) % 1009) as f32 / 1009.0)
            .collect(),
    };
    let queries = Matrix {
        rows: nq,
        dim,
        data: (0..nq * dim)
            .map(|x| ((x * 104_729) % 997) as f32 / 997.0)
            .collect(),
    };
    // Brute-force truth, nearest first.
    let mut truth = IdMatrix {
        rows: nq,
        cols: 10,
        data: Vec::new(),
    };
    for q in 0..nq {
        let mut d: Vec<(f32, i64)> = (0..n)
            .map(|i| {
                let s = queries
                    .row(q)
                    .iter()
                    .zip(data.row(i))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>();
                (s, i as i64)
            })
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        truth.data.extend(d[..10].iter().map(|p| p.1));
    }
    formats::write_vectors(&dir.path("base.fvecs"), &data, Format::Fvecs).unwrap();
    formats::write_vectors(&dir.path("queries.npy"), &queries, Format::Npy).unwrap();
    formats::write_ids(&dir.path("truth.ivecs"), &truth, Format::Ivecs).unwrap();

    for with_truth in [false, true] {
        let json = dir.arg("report.json");
        let mut args = vec![
            "bench".to_owned(),
            "search".into(),
            "--tiny".into(),
            "--data".into(),
            dir.arg("base.fvecs"),
            "--queries".into(),
            dir.arg("queries.npy"),
            "--ef".into(),
            "16,64,200".into(),
            "--threads".into(),
            "1".into(),
            "--runs".into(),
            "1".into(),
            "--json".into(),
            json.clone(),
        ];
        if with_truth {
            args.extend(["--truth".into(), dir.arg("truth.ivecs")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ok(&args);
        assert!(out.contains("base.fvecs"), "{out}");
        let report = read_json(Path::new(&json));
        assert_eq!(report["data"]["source"], "files");
        assert_eq!(
            report["truth"]["source"],
            if with_truth { "file" } else { "exact knn" }
        );
        let sweep = check_search_report(&report, n as u64, dim as u64, nq as u64);
        assert_eq!(sweep.len(), 3);
        // ef = 200 over 400 rows is close to a scan.
        let widest = f64_of(&sweep[2], "recall");
        assert!(widest >= 0.9, "recall@10 at ef 200: {widest}");
    }

    // A query file of another dimension is the user's mistake: exit 2, named.
    let wrong = Matrix {
        rows: 2,
        dim: 3,
        data: vec![0.5; 6],
    };
    formats::write_vectors(&dir.path("wrong.fvecs"), &wrong, Format::Fvecs).unwrap();
    let err = usage_error(&[
        "bench",
        "search",
        "--tiny",
        "--data",
        &dir.arg("base.fvecs"),
        "--queries",
        &dir.arg("wrong.fvecs"),
    ]);
    assert!(err.contains("wrong.fvecs"), "{err}");
}

#[test]
fn bench_all_tiny_writes_the_report_and_three_plots() {
    let dir = TempDir::new("all");
    let out_dir = dir.path("out"); // created by the command
    let out = ok(&[
        "bench",
        "all",
        "--tiny",
        "--threads",
        "1,2",
        "--runs",
        "1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    for needle in [
        "machine limits",
        "l2sq 1:N mem",
        "sagevec bench search",
        "QPS vs threads",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let report = read_json(&out_dir.join("report.json"));
    assert_eq!(report["tool"], "sagevec bench all");
    assert!(report["machine"]["logical_cpus"].as_u64().unwrap() >= 1);
    assert_eq!(report["kernels"]["plan"]["mode"], "tiny");
    assert!(f64_of(&report["kernels"]["limits"], "mem_read_gbs") > 0.0);
    assert!(f64_of(&report["kernels"]["limits"], "l2_read_gbs") > 0.0);
    let rows = report["kernels"]["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["gbs"].as_f64().is_some_and(|g| g > 0.0))
    );
    check_search_report(&report["search"], 2000, 16, 100);

    let plots = report["plots"].as_array().unwrap();
    let files: Vec<&str> = plots.iter().map(|p| p["file"].as_str().unwrap()).collect();
    assert_eq!(files, PLOTS);
    for plot in plots {
        let name = plot["file"].as_str().unwrap();
        let path = out_dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (w, h, depth, color) = png_header(&bytes);
        assert_eq!((w, h), PLOT_SIZE, "{name}");
        assert_eq!(
            (plot["width"].as_u64(), plot["height"].as_u64()),
            (Some(w.into()), Some(h.into()))
        );
        assert_eq!((depth, color), (8, 2), "{name}: 8-bit RGB");
        assert!(out.contains(&format!("wrote {}", path.display())), "{out}");
        // Axes, text and lines: well above nothing, well below a filled frame.
        let ink = ink(&path);
        assert!(
            (0.01..0.6).contains(&ink),
            "{name}: {:.1}% non-white pixels",
            100.0 * ink
        );
    }
}

#[test]
fn bad_bench_search_and_all_arguments_exit_2() {
    let dir = TempDir::new("bad");
    let not_a_dir = dir.path("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let under_file = not_a_dir.join("out");
    let all_out = dir.arg("all");
    let cases: Vec<Vec<&str>> = vec![
        // --queries without --data is a count.
        vec!["bench", "search", "--tiny", "--queries", "queries.fvecs"],
        vec!["bench", "search", "--tiny", "--queries", "0"],
        // --truth needs --data, --data needs --queries.
        vec!["bench", "search", "--tiny", "--truth", "t.ivecs"],
        vec!["bench", "search", "--tiny", "--data", "d.fvecs"],
        vec!["bench", "search", "--tiny", "--ef", "0"],
        vec!["bench", "search", "--tiny", "--threads", "0"],
        vec!["bench", "search", "--tiny", "--runs", "0"],
        vec!["bench", "search", "--tiny", "--duration", "-1"],
        vec!["bench", "search", "--tiny", "-k", "0"],
        vec!["bench", "search", "--tiny", "--traversal", "bf16"],
        vec![
            "bench",
            "all",
            "--tiny",
            "--out",
            &all_out,
            "--traversal",
            "f8",
        ],
        vec![
            "bench",
            "search",
            "--tiny",
            "--data",
            "missing.fvecs",
            "--queries",
            "q.fvecs",
        ],
        vec![
            "bench",
            "search",
            "--tiny",
            "--json",
            "/nonexistent-dir/x/y.json",
        ],
        vec!["bench", "all", "--tiny"],
        vec![
            "bench",
            "all",
            "--tiny",
            "--out",
            under_file.to_str().unwrap(),
        ],
    ];
    for args in &cases {
        let o = sagevec(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(!text(&o.stderr).is_empty(), "{args:?}");
        assert!(
            !text(&o.stderr).contains("panicked"),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert!(
            !text(&o.stdout).contains("build:"),
            "{args:?} measured before failing"
        );
    }
}
