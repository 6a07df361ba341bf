//! The options of the search benchmark, and the plan they resolve to (defaults,
//! `--tiny`, checks), before anything is built.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use sagevec_index::MAX_K;
use sagevec_index::graph::Traversal;
use sagevec_kernels::Metric;

use crate::error::CliError;

/// Options of the search benchmark, shared by `bench search` and `bench all`.
#[derive(Debug, Args)]
pub(crate) struct SearchOpts {
    /// Vectors to generate [default: 100000]; ignored with --data.
    #[arg(long, value_name = "N")]
    n: Option<usize>,
    /// Dimension of the generated vectors [default: 128]; ignored with --data.
    #[arg(long, value_name = "D")]
    dim: Option<usize>,
    /// Queries: how many to generate [default: 1000], or with --data the query
    /// file (.npy, .fvecs or .bvecs, of the data's dimension).
    #[arg(long, value_name = "N|FILE")]
    pub(super) queries: Option<OsString>,
    /// Seed of the generated data (the same seed gives `sagevec demo`'s vectors).
    #[arg(long, default_value_t = 42)]
    pub(super) seed: u64,
    /// Index the vectors of FILE (.npy, .fvecs or .bvecs) instead of generated
    /// data; needs --queries FILE.
    #[arg(long, value_name = "FILE", requires = "queries")]
    pub(super) data: Option<PathBuf>,
    /// True neighbour ids per query, nearest first, as row numbers of --data
    /// (.npy of integers or .ivecs, at least k columns) [default: computed
    /// exactly with a scan of every vector].
    #[arg(long, value_name = "FILE", requires = "data")]
    pub(super) truth: Option<PathBuf>,
    /// Distance: l2 (squared Euclidean), ip (inner product) or cosine.
    #[arg(long, default_value = "l2")]
    pub(super) metric: Metric,
    /// Which copy of the vectors graph searches walk: f32 (the vectors
    /// themselves), f16 (a half-precision copy, half the bytes per hop; the beam
    /// is re-ranked with f32, so distances stay exact) or auto (f16 from 96
    /// dimensions).
    #[arg(long, default_value = "auto", value_name = "auto|f32|f16")]
    pub(super) traversal: Traversal,
    /// Neighbours per query (recall@k).
    #[arg(short, long, default_value_t = 10, value_parser = parse_k)]
    pub(super) k: usize,
    /// Beam widths to sweep, comma-separated (values below k are raised to k).
    #[arg(long, value_delimiter = ',', value_name = "EF,...",
          default_value = "10,16,24,32,48,64,96,128,256", value_parser = parse_ef)]
    ef: Vec<usize>,
    /// Thread counts of the QPS-vs-threads phase, comma-separated [default: 1, 2,
    /// 4, ... below the number of logical CPUs, and that number].
    #[arg(long, value_delimiter = ',', value_name = "T,...", value_parser = parse_threads)]
    threads: Vec<usize>,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = parse_runs)]
    pub(super) runs: usize,
    /// Index builds to time (the median is reported; the last index is searched).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_runs)]
    pub(super) build_runs: usize,
    /// Seconds of each timed run of the QPS-vs-threads phase.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS", value_parser = parse_duration)]
    duration: f64,
}

/// Options of `sagevec bench search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    pub(crate) opts: SearchOpts,
    /// Also write the build, sweep and threads results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(super) json: Option<PathBuf>,
    /// Test mode: tiny sizes, meaningless numbers, finishes in about a second.
    #[arg(long, hide = true)]
    pub(super) tiny: bool,
}

fn parse_k(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(k) if (1..=1024).contains(&k) => Ok(k),
        _ => Err(format!("invalid k {s:?}: expected an integer in 1..=1024")),
    }
}

fn parse_ef(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(ef) if (1..=MAX_K).contains(&ef) => Ok(ef),
        _ => Err(format!(
            "invalid ef {s:?}: expected an integer in 1..={MAX_K}"
        )),
    }
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(t) if (1..=4096).contains(&t) => Ok(t),
        _ => Err(format!(
            "invalid thread count {s:?}: expected an integer in 1..=4096"
        )),
    }
}

fn parse_runs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(r) if (1..=1000).contains(&r) => Ok(r),
        _ => Err(format!(
            "invalid run count {s:?}: expected an integer in 1..=1000"
        )),
    }
}

fn parse_duration(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(d) if d.is_finite() && d > 0.0 && d <= 600.0 => Ok(d),
        _ => Err(format!(
            "invalid duration {s:?}: expected seconds in (0, 600]"
        )),
    }
}

/// Sizes of generated data (ignored with `--data`) and of a threads-phase run,
/// after the defaults and `--tiny`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sizes {
    pub(super) n: usize,
    pub(super) dim: usize,
    pub(super) nq: usize,
    pub(super) duration: Duration,
}

/// What one benchmark run does: every option checked and resolved.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) sizes: Sizes,
    pub(super) k: usize,
    /// Beam widths to sweep: raised to k, sorted, distinct, at least one.
    pub(super) efs: Vec<usize>,
    /// Thread counts of the threads phase, in the order given, distinct.
    pub(super) threads: Vec<usize>,
}

impl Plan {
    /// Resolves `opts` (`tiny` for the test sizes) on a machine of `logical_cpus`;
    /// a usage error for a value no run could use, before minutes of building.
    pub(super) fn new(
        opts: &SearchOpts,
        tiny: bool,
        logical_cpus: usize,
    ) -> Result<Plan, CliError> {
        let count = match (&opts.data, &opts.queries) {
            (None, Some(q)) => Some(
                q.to_str()
                    .and_then(|s| s.trim().parse::<usize>().ok())
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "--queries {}: expected a count of queries to generate (at least 1); \
                             a query file needs --data",
                            q.to_string_lossy()
                        ))
                    })?,
            ),
            _ => None,
        };
        let sizes = Sizes {
            n: opts.n.unwrap_or(if tiny { 2000 } else { 100_000 }),
            dim: opts.dim.unwrap_or(if tiny { 16 } else { 128 }),
            nq: count.unwrap_or(if tiny { 100 } else { 1000 }),
            duration: if tiny {
                Duration::from_millis(20)
            } else {
                Duration::from_secs_f64(opts.duration)
            },
        };
        if opts.data.is_none()
            && (sizes.n == 0 || !(1..=sagevec_index::MAX_DIM).contains(&sizes.dim))
        {
            return Err(CliError::Usage(format!(
                "--n must be at least 1 and --dim in 1..={}",
                sagevec_index::MAX_DIM
            )));
        }
        let k = opts.k;
        let mut efs: Vec<usize> = opts.ef.iter().map(|&ef| ef.max(k)).collect();
        efs.sort_unstable();
        efs.dedup();
        if efs.is_empty() {
            return Err(CliError::Usage("--ef: give at least one beam width".into()));
        }
        let threads = if opts.threads.is_empty() {
            default_threads(logical_cpus)
        } else {
            super::super::dedup(&opts.threads)
        };
        Ok(Plan {
            sizes,
            k,
            efs,
            threads,
        })
    }
}

/// Thread counts 1, 2, 4, ... below `logical`, then `logical`.
fn default_threads(logical: usize) -> Vec<usize> {
    let mut threads: Vec<usize> = std::iter::successors(Some(1usize), |&t| t.checked_mul(2))
        .take_while(|&t| t < logical)
        .collect();
    threads.push(logical.max(1));
    threads
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        opts: SearchOpts,
    }

    fn plan(args: &[&str], tiny: bool) -> Result<Plan, CliError> {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .expect("valid arguments");
        Plan::new(&cli.opts, tiny, 6)
    }

    #[test]
    fn default_threads_are_powers_of_two_then_the_cpu_count() {
        assert_eq!(default_threads(1), [1]);
        assert_eq!(default_threads(2), [1, 2]);
        assert_eq!(default_threads(6), [1, 2, 4, 6]);
        assert_eq!(default_threads(8), [1, 2, 4, 8]);
    }

    #[test]
    fn plan_resolves_defaults_tiny_sizes_and_beam_widths() {
        let p = plan(&[], false).unwrap();
        assert_eq!((p.sizes.n, p.sizes.dim, p.sizes.nq), (100_000, 128, 1000));
        assert_eq!(p.sizes.duration, Duration::from_secs(1));
        assert_eq!(p.threads, [1, 2, 4, 6]);
        let p = plan(
            &["--ef", "64,4,10,32,10", "-k", "10", "--threads", "2,1,2"],
            true,
        )
        .unwrap();
        assert_eq!((p.sizes.n, p.sizes.dim, p.sizes.nq), (2000, 16, 100));
        assert_eq!(p.sizes.duration, Duration::from_millis(20));
        assert_eq!(p.efs, [10, 32, 64]);
        assert_eq!(p.threads, [2, 1]);
        let p = plan(&["--queries", "7", "--n", "50", "--dim", "3"], false).unwrap();
        assert_eq!((p.sizes.n, p.sizes.dim, p.sizes.nq), (50, 3, 7));
    }

    #[test]
    fn plan_refuses_what_no_run_could_use() {
        for args in [&["--n", "0"][..], &["--dim", "0"], &["--dim", "65537"]] {
            let err = plan(args, false).unwrap_err();
            assert!(err.to_string().contains("--n must be at least 1"), "{err}");
        }
        for q in ["0", "abc"] {
            let err = plan(&["--queries", q], false).unwrap_err();
            assert!(
                err.to_string().contains("a query file needs --data"),
                "{err}"
            );
        }
        // With --data the sizes are the files': --n 0 and --queries FILE are fine.
        assert!(
            plan(
                &["--data", "x.npy", "--queries", "q.npy", "--n", "0"],
                false
            )
            .is_ok()
        );
    }
}
