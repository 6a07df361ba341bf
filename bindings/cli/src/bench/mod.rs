//! `sagevec bench`: measurements on this machine.
//!
//! | command | measures | time on the 2-core dev/CI machine |
//! |---|---|---|
//! | `bench kernels` | l2sq kernel throughput per ISA and dimension against the machine's measured limits (below) | `--quick` 8.5 s, full 57 s |
//! | `bench search` | index build time, recall@k vs QPS over an ef sweep, QPS vs threads ([`search`]) | 30-50 s at 100 000 × 128 |
//! | `bench all --out DIR` | both, then `DIR/report.json` and three PNG plots ([`all`], [`plots`]) | 40-80 s; 100 s with `--full` |
//!
//! (Measured on an AMD EPYC with AVX2, 2 logical CPUs, while other builds and
//! tests kept the load average between 2 and 6: the ranges are that noise. A
//! machine with more cores builds the graph faster but runs more thread counts.)
//!
//! `bench kernels` first measures the machine's ceilings (peak FMA per ISA, read
//! bandwidth from memory and from L2; see [`limits`]), then each kernel shape (see
//! [`cases`]) runs for every selected ISA and dimension, single-threaded, and one
//! aligned table row is printed per measurement. `--json FILE` also writes every
//! row and the limits.
//!
//! Sizes per mode (full / `--quick`):
//!
//! | | full | quick |
//! |---|---|---|
//! | peak FMA probe (best of 3) | 0.3 s per ISA | 0.2 s per ISA |
//! | memory read probe | 1 GiB, median of 5 | 256 MiB, median of 5 |
//! | repetitions (median of) | 11 (mem pass: 7, knn: 3) | 7 (mem pass: 5, knn: 3) |
//! | out-of-cache corpus | 100 000 rows at d = 768 (293 MiB), all dims | 96 MiB |
//! | knn | Q = 1000 × N = 100 000, k = 10 | Q = 256 × N = 20 000 |
//! | knn budget per repetition (Q shrinks past it: the scalar path) | 6 s | 0.4 s |
//!
//! A hidden `--tiny` flag on every command shrinks everything so tests can run
//! the whole path in a second or two; its numbers mean nothing.

pub(crate) mod all;
mod cases;
mod limits;
mod plots;
mod probe;
mod report;
pub(crate) mod search;
pub(crate) mod timing;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use sagevec_kernels::{Isa, KernelTable};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::info::Info;

use cases::Row;
use limits::LimitPlan;

/// Options of `sagevec bench kernels`.
#[derive(Debug, Args)]
pub(crate) struct KernelsArgs {
    /// Smaller sizes and fewer repetitions (about 9 s instead of about 1 min on the 2-core dev machine).
    #[arg(long)]
    quick: bool,
    /// ISAs to bench, comma-separated [default: every ISA this CPU supports].
    #[arg(long, value_delimiter = ',', value_parser = parse_isa, value_name = "ISA,...")]
    isa: Vec<Isa>,
    /// Dimensions for the one-to-one and one-to-many rows, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_dim, value_name = "D,...",
          default_values_t = [128usize, 384, 768, 1536])]
    dims: Vec<usize>,
    /// Dimensions for the many-to-many fused top-k rows, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_dim, value_name = "D,...",
          default_values_t = [128usize, 768])]
    knn_dims: Vec<usize>,
    /// Neighbours per query in the fused top-k rows.
    #[arg(long, default_value_t = 10, value_parser = parse_k)]
    k: usize,
    /// Also write every row and the machine limits as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Test mode: tiny sizes, meaningless numbers, finishes in well under a second.
    #[arg(long, hide = true)]
    tiny: bool,
}

fn parse_isa(s: &str) -> Result<Isa, String> {
    s.parse::<Isa>().map_err(|e| e.to_string())
}

fn parse_dim(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(d) if (1..=1 << 16).contains(&d) => Ok(d),
        _ => Err(format!(
            "invalid dimension {s:?}: expected an integer in 1..=65536"
        )),
    }
}

fn parse_k(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(k) if (1..=1024).contains(&k) => Ok(k),
        _ => Err(format!("invalid k {s:?}: expected an integer in 1..=1024")),
    }
}

/// Sizes, repetition counts and time targets of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    mode: &'static str,
    limits: LimitPlan,
    /// Timed repetitions for batched (fast) cases, and the minimum time of a batch.
    reps: usize,
    target: Duration,
    /// Bytes of rows in the L2-resident block.
    l2_block_bytes: usize,
    /// Bytes of the out-of-cache corpus, and full passes timed over it.
    corpus_bytes: usize,
    mem_reps: usize,
    /// knn: queries, base rows, k, repetitions, time budget per repetition.
    knn_q: usize,
    knn_n: usize,
    k: usize,
    knn_reps: usize,
    knn_budget: Duration,
}

impl Plan {
    fn new(args: &KernelsArgs) -> Plan {
        const KIB: usize = 1024;
        const MIB: usize = 1024 * KIB;
        if args.tiny {
            Plan {
                mode: "tiny",
                limits: LimitPlan {
                    fma_time: Duration::from_millis(5),
                    mem_bytes: 4 * MIB,
                    mem_reps: 3,
                    l2_bytes: 64 * KIB,
                    reps: 3,
                    target: Duration::from_micros(200),
                },
                reps: 3,
                target: Duration::from_micros(200),
                l2_block_bytes: 64 * KIB,
                corpus_bytes: MIB,
                mem_reps: 3,
                knn_q: 8,
                knn_n: 500,
                k: args.k,
                knn_reps: 1,
                knn_budget: Duration::from_millis(50),
            }
        } else if args.quick {
            Plan {
                mode: "quick",
                limits: LimitPlan {
                    fma_time: Duration::from_millis(200),
                    mem_bytes: 256 * MIB,
                    mem_reps: 5,
                    l2_bytes: 256 * KIB,
                    reps: 7,
                    target: Duration::from_millis(5),
                },
                reps: 7,
                target: Duration::from_millis(5),
                l2_block_bytes: 256 * KIB,
                corpus_bytes: 96 * MIB,
                mem_reps: 5,
                knn_q: 256,
                knn_n: 20_000,
                k: args.k,
                knn_reps: 3,
                knn_budget: Duration::from_millis(400),
            }
        } else {
            Plan {
                mode: "full",
                limits: LimitPlan {
                    fma_time: Duration::from_millis(300),
                    mem_bytes: 1024 * MIB,
                    mem_reps: 5,
                    l2_bytes: 256 * KIB,
                    reps: 11,
                    target: Duration::from_millis(20),
                },
                reps: 11,
                target: Duration::from_millis(20),
                l2_block_bytes: 256 * KIB,
                corpus_bytes: 100_000 * 768 * 4,
                mem_reps: 7,
                knn_q: 1000,
                knn_n: 100_000,
                k: args.k,
                knn_reps: 3,
                knn_budget: Duration::from_secs(6),
            }
        }
    }

    fn json(&self) -> Value {
        json!({
            "mode": self.mode,
            "reps": self.reps,
            "batch_target_seconds": self.target.as_secs_f64(),
            "l2_block_bytes": self.l2_block_bytes,
            "corpus_bytes": self.corpus_bytes,
            "mem_reps": self.mem_reps,
            "knn_queries": self.knn_q,
            "knn_rows": self.knn_n,
            "k": self.k,
            "knn_reps": self.knn_reps,
            "knn_budget_seconds": self.knn_budget.as_secs_f64(),
            "fma_probe_seconds": self.limits.fma_time.as_secs_f64(),
        })
    }
}

/// A row's stable id: `l2sq/f32/{isa}/{dim}/{case}` (the bench-id grammar).
pub(crate) fn row_id(isa: Isa, dim: usize, case: &str) -> String {
    format!("l2sq/f32/{isa}/{dim}/{case}")
}

/// Keeps the first occurrence of each value.
fn dedup<T: PartialEq + Copy>(values: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for &v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Creates an output file now, so that a bad path fails before minutes of
/// measuring (a usage error naming `what` and the path).
fn create_output(path: &Path, what: &str) -> Result<File, CliError> {
    File::create(path)
        .map_err(|e| CliError::Usage(format!("cannot write {what} {}: {e}", path.display())))
}

/// Writes `value` as pretty JSON and a newline to `file` (created at `path`).
fn write_json(file: &mut File, path: &Path, value: &impl Serialize) -> Result<(), CliError> {
    // Through a `Value`, whose object keys are sorted: the files keep one key
    // order whatever the struct's field order.
    let text = serde_json::to_value(value)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .map_err(|e| CliError::Runtime(format!("encoding JSON: {e}")))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|e| CliError::Runtime(format!("writing {}: {e}", path.display())))
}

/// What `bench kernels` measured: for `bench all`'s report and plots.
#[derive(Debug)]
pub(crate) struct KernelsOutcome {
    pub(crate) info: Info,
    pub(crate) limits: limits::Limits,
    pub(crate) rows: Vec<Row>,
    /// The JSON report (`bench kernels --json`, the `kernels` member of `bench all`).
    pub(crate) json: Value,
}

/// Runs `sagevec bench kernels`.
pub(crate) fn run(args: &KernelsArgs, out: &mut dyn Write) -> Result<(), CliError> {
    kernels(args, out, args.json.as_deref()).map(drop)
}

/// Measures the limits and every kernel row, printing the table to `out`; writes
/// the JSON report to `json` if given.
fn kernels(
    args: &KernelsArgs,
    out: &mut dyn Write,
    json: Option<&Path>,
) -> Result<KernelsOutcome, CliError> {
    // Validate everything before spending minutes measuring.
    let info = Info::gather()?;
    let isas = if args.isa.is_empty() {
        Isa::available()
    } else {
        dedup(&args.isa)
    };
    for &isa in &isas {
        // IsaError's message names SAGEVEC_ISA as the source; here it is --isa.
        isa.require().map_err(|_| {
            let names: Vec<&str> = Isa::available().iter().map(|i| i.name()).collect();
            CliError::Usage(format!(
                "--isa {isa}: this CPU/OS does not support {isa}; it supports only: {}",
                names.join(", ")
            ))
        })?;
    }
    let tables: Vec<&'static KernelTable> = isas
        .iter()
        .map(|&isa| KernelTable::for_isa(isa).map_err(|e| CliError::Usage(e.to_string())))
        .collect::<Result<_, _>>()?;
    let dims = dedup(&args.dims);
    let knn_dims = dedup(&args.knn_dims);
    let mut json_file = json
        .map(|path| create_output(path, "--json file"))
        .transpose()?;
    let plan = Plan::new(args);

    let isa_names: Vec<&str> = isas.iter().map(|i| i.name()).collect();
    writeln!(
        out,
        "sagevec bench kernels: {} mode, single thread",
        plan.mode
    )?;
    writeln!(
        out,
        "cpu: {} ({} logical CPUs); active isa: {} ({}); benched: {}",
        info.cpu_model,
        info.logical_cpus,
        info.active,
        info.source.describe(),
        isa_names.join(", ")
    )?;
    writeln!(
        out,
        "note: figures from a shared or busy machine are noisy; compare runs on one box only."
    )?;
    writeln!(out)?;
    writeln!(out, "machine limits (single thread):")?;
    out.flush()?;
    let limits = limits::measure(&plan.limits, |line| {
        writeln!(out, "{line}")?;
        out.flush()
    })?;

    let max_dim = dims.iter().chain(&knn_dims).copied().max().unwrap_or(1);
    let knn_floats = knn_dims.iter().map(|&d| plan.knn_n * d).max().unwrap_or(0);
    let corpus_floats = (plan.corpus_bytes / 4).max(knn_floats).max(max_dim * 64);
    let corpus = cases::random_vec(corpus_floats, 0x5a6e_7665_c000_0001);
    let max_knn_dim = knn_dims.iter().copied().max().unwrap_or(1);
    let queries = cases::random_vec(plan.knn_q * max_knn_dim, 0x5a6e_7665_c000_0002);

    writeln!(out)?;
    writeln!(
        out,
        "conventions: time/op = median of {} timed repetitions after a warm-up \
         (1:N mem: {} full passes; knn: {}); spread = (max - min) / median.",
        plan.reps, plan.mem_reps, plan.knn_reps
    )?;
    writeln!(
        out,
        "  GB/s = bytes of rows read / time (10^9 B/s; the query is not counted)."
    )?;
    writeln!(
        out,
        "  GFLOP/s counts 2 flops per element pair for every shape (l2sq's sub+FMA as 2, \
         knn as 2*Q*N*d, like GEMM/faiss)."
    )?;
    writeln!(
        out,
        "  % limit: GFLOP/s vs the ISA's peak FMA (fma) for in-cache shapes, \
         GB/s vs memory read bandwidth (mem) out of cache."
    )?;
    writeln!(
        out,
        "  shapes: 1:1 hot = one pair in L1; 1:N L2 = one query vs {} of rows; \
         1:N mem = one query vs {} of rows, one full pass per op;",
        report::fmt_bytes(plan.l2_block_bytes),
        report::fmt_bytes(corpus_floats * 4)
    )?;
    writeln!(
        out,
        "  knn = Q queries x N rows, top-k fused, cached row norms (fewer queries where a \
         repetition would exceed {}).",
        report::fmt_time(plan.knn_budget.as_secs_f64())
    )?;
    writeln!(out)?;
    report::write_header(out)?;

    let mut rows: Vec<Row> = Vec::new();
    let mut emit = |row: Row, out: &mut dyn Write| -> Result<(), CliError> {
        report::write_row(out, &row, &limits)?;
        rows.push(row);
        Ok(())
    };
    for &dim in &dims {
        for table in &tables {
            emit(cases::one_to_one(table, dim, &plan)?, out)?;
        }
    }
    writeln!(out)?;
    for &dim in &dims {
        for table in &tables {
            emit(cases::one_to_many_l2(table, dim, &corpus, &plan)?, out)?;
        }
    }
    writeln!(out)?;
    for &dim in &dims {
        for table in &tables {
            emit(cases::one_to_many_mem(table, dim, &corpus, &plan)?, out)?;
        }
    }
    if !knn_dims.is_empty() {
        writeln!(out)?;
    }
    for &dim in &knn_dims {
        for table in &tables {
            emit(
                cases::knn(table, dim, &corpus, &queries, &plan, limits.mem_gbs)?,
                out,
            )?;
        }
    }

    let report = json!({
        "tool": "sagevec bench kernels",
        "version": env!("CARGO_PKG_VERSION"),
        "unix_time": unix_time(),
        "machine": info.to_json(),
        "limits": report::limits_json(&limits),
        "plan": plan.json(),
        "isas": isa_names,
        "conventions": {
            "time": "median seconds per op over `reps` timed repetitions after a warm-up",
            "gbs": "bytes of rows read per op / time, 1e9 B/s; query bytes not counted",
            "gflops": "2 flops per element pair (l2sq sub+fma counted as 2; knn 2*Q*N*d)",
            "pct_of_limit": "gflops vs peak_fma_gflops[isa] (limit_kind peak_fma) or gbs vs mem_read_gbs (limit_kind mem_read)",
        },
        "rows": rows.iter().map(|r| report::row_json(r, &limits)).collect::<Vec<_>>(),
    });
    if let (Some(file), Some(path)) = (json_file.as_mut(), json) {
        write_json(file, path, &report)?;
        writeln!(out)?;
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(KernelsOutcome {
        info,
        limits,
        rows,
        json: report,
    })
}
