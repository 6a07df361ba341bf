//! End-to-end tests of the `sagevec` binary: run it as a user would and check exit
//! codes, messages and JSON keys.
//!
//! Each test sets or clears `SAGEVEC_ISA` on the child process explicitly, so the
//! suite gives the same results whatever the parent environment forces (CI runs it
//! under several `SAGEVEC_ISA` values). Nothing here asserts on speed: the bench
//! test runs the hidden `--tiny` mode and only checks the report's structure.

use std::process::{Command, Output};

use serde_json::Value;

const ISA_NAMES: [&str; 3] = ["scalar", "avx2", "avx512"];

fn sagevec(args: &[&str], isa_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sagevec"));
    cmd.args(args);
    match isa_env {
        Some(v) => cmd.env("SAGEVEC_ISA", v),
        None => cmd.env_remove("SAGEVEC_ISA"),
    };
    cmd.output().expect("the sagevec binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

fn info_json(isa_env: Option<&str>) -> Value {
    let o = sagevec(&["info", "--json"], isa_env);
    assert!(o.status.success(), "info --json failed: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("info --json prints valid JSON")
}

#[test]
fn info_names_the_active_isa() {
    let o = sagevec(&["info"], None);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let text = stdout(&o);
    let line = text
        .lines()
        .find(|l| l.starts_with("active isa:"))
        .unwrap_or_else(|| panic!("no `active isa:` line in\n{text}"));
    assert!(
        ISA_NAMES.iter().any(|n| line.contains(n)),
        "active isa line names no ISA: {line}"
    );
    assert!(line.contains("auto"), "{line}");
    for key in [
        "cpu:",
        "logical cpus:",
        "features:",
        "isas available:",
        "kernel families:",
    ] {
        assert!(text.contains(key), "missing {key:?} in\n{text}");
    }
}

#[test]
fn info_json_has_the_documented_keys() {
    let v = info_json(None);
    for key in [
        "version",
        "cpu_model",
        "logical_cpus",
        "features",
        "available_isas",
        "active_isa",
        "isa_source",
        "families",
    ] {
        assert!(v.get(key).is_some(), "missing key {key:?} in {v}");
    }
    assert!(v["logical_cpus"].as_u64().unwrap() >= 1);
    assert_eq!(v["isa_source"], "auto");
    let available: Vec<&str> = v["available_isas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(available[0], "scalar");
    let active = v["active_isa"].as_str().unwrap();
    // With no override the active ISA is the best available one.
    assert_eq!(Some(&active), available.last());
    assert!(v["features"].get("avx2").and_then(Value::as_bool).is_some());
    let families = v["families"].as_array().unwrap();
    assert!(!families.is_empty());
    assert!(
        families
            .iter()
            .all(|f| f["isa"] == active && f["elem"].is_string())
    );
}

#[test]
fn forced_scalar_is_reported() {
    let o = sagevec(&["info"], Some("scalar"));
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("active isa:     scalar (from SAGEVEC_ISA=scalar)"),
        "{text}"
    );
    let v = info_json(Some("scalar"));
    assert_eq!(v["active_isa"], "scalar");
    assert_eq!(v["isa_source"], "SAGEVEC_ISA");
    assert!(
        v["families"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["isa"] == "scalar")
    );
}

#[test]
fn unknown_isa_exits_2_naming_the_value() {
    let o = sagevec(&["info"], Some("bogus"));
    assert_eq!(o.status.code(), Some(2), "stdout: {}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("\"bogus\""),
        "message should name the value: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn unsupported_isa_exits_2_with_a_clear_message() {
    let available = info_json(None)["available_isas"].clone();
    let missing = ISA_NAMES
        .iter()
        .find(|n| !available.as_array().unwrap().iter().any(|a| a == *n));
    let Some(missing) = missing else {
        println!(
            "skipped: this CPU supports every ISA ({available}); no unsupported one to ask for"
        );
        return;
    };
    for args in [&["info"][..], &["info", "--json"][..]] {
        let o = sagevec(args, Some(missing));
        assert_eq!(o.status.code(), Some(2), "{args:?}: stdout {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains(missing),
            "message should name {missing}: {err}"
        );
        assert!(err.contains("supports only"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The bench refuses it too, before measuring anything.
    let o = sagevec(&["bench", "kernels", "--tiny", "--isa", missing], None);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains(missing));
}

#[test]
fn bench_kernels_tiny_prints_the_table_and_json() {
    let dir = std::env::temp_dir().join(format!("sagevec-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("bench.json");
    let o = sagevec(
        &[
            "bench",
            "kernels",
            "--quick",
            "--tiny",
            "--dims",
            "16,17",
            "--knn-dims",
            "16",
            "--isa",
            "scalar",
            "--json",
            json_path.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "machine limits",
        "peak FMA, scalar",
        "read bandwidth, memory",
        "kernel ",
        "GB/s",
        "GFLOP/s",
        "% limit",
        "l2sq 1:1 hot",
        "l2sq 1:N L2",
        "l2sq 1:N mem",
        "knn l2 k=10",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(report["limits"]["mem_read_gbs"].as_f64().unwrap() > 0.0);
    assert!(
        report["limits"]["peak_fma_gflops"]["scalar"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let rows = report["rows"].as_array().unwrap();
    // 3 shapes x 2 dims + 1 knn row, all scalar.
    assert_eq!(rows.len(), 7, "{rows:?}");
    for row in rows {
        assert_eq!(row["isa"], "scalar");
        assert!(row["seconds_median"].as_f64().unwrap() > 0.0);
        assert!(row["gflops"].as_f64().unwrap() > 0.0);
        assert!(row["id"].as_str().unwrap().starts_with("l2sq/f32/scalar/"));
    }
}

#[test]
fn bad_bench_arguments_exit_2() {
    for args in [
        &["bench", "kernels", "--tiny", "--isa", "sse9"][..],
        &["bench", "kernels", "--tiny", "--dims", "0"][..],
        &["bench", "kernels", "--tiny", "--dims", "x"][..],
        &[
            "bench",
            "kernels",
            "--tiny",
            "--json",
            "/nonexistent-dir/x/y.json",
        ][..],
        &["frobnicate"][..],
    ] {
        let o = sagevec(args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty());
    }
}

#[cfg(unix)]
#[test]
fn non_utf8_isa_exits_2() {
    use std::os::unix::ffi::OsStrExt;
    let o = Command::new(env!("CARGO_BIN_EXE_sagevec"))
        .arg("info")
        .env("SAGEVEC_ISA", std::ffi::OsStr::from_bytes(b"avx\xff2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not valid UTF-8"), "{}", stderr(&o));
}

#[test]
fn info_isas_lists_what_the_json_lists_and_ignores_sagevec_isa() {
    let want: Vec<String> = info_json(None)["available_isas"]
        .as_array()
        .expect("available_isas is an array")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for env in [None, Some("scalar"), Some("bogus")] {
        let o = sagevec(&["info", "--isas"], env);
        assert!(o.status.success(), "{env:?}: {}", stderr(&o));
        let got: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
        assert_eq!(got, want, "{env:?}");
    }
    assert_eq!(want.first().map(String::as_str), Some("scalar"));
}

#[test]
fn info_reports_synthetic_topology_and_placement() {
    let o = Command::new(env!("CARGO_BIN_EXE_sagevec"))
        .args(["info", "--json"])
        .env_remove("SAGEVEC_ISA")
        .env("SAGEVEC_TOPOLOGY", "pack:2 numa:1 l3:1 core:4 pu:2")
        .env("SAGEVEC_NUM_THREADS", "4")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["topology"]["numa_nodes"], 2);
    assert_eq!(v["topology"]["pus"], 16);
    assert_eq!(v["placement"]["nodes"], 2);
    assert_eq!(v["placement"]["threads"], 4);
    assert!(
        v["topology"]["source"]
            .as_str()
            .unwrap()
            .contains("synthetic")
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_sagevec"))
        .arg("info")
        .env_remove("SAGEVEC_ISA")
        .env("SAGEVEC_TOPOLOGY", "not a topology")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("not a topology"), "{}", stderr(&bad));
}
