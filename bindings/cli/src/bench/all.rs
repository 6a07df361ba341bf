//! `sagevec bench all --out DIR`: the kernel benchmark (quick mode unless
//! `--full`) and the search benchmark, then `DIR/report.json` (both reports) and
//! three PNG plots:
//!
//! | file | shows |
//! |---|---|
//! | `recall_qps.png` | recall@k (x) against QPS (log y) over the ef sweep: batch search on every worker, and `search` on one thread |
//! | `qps_threads.png` | QPS against OS threads calling `search`, with the ideal linear line |
//! | `kernels_bandwidth.png` | l2sq GB/s per dimension, ISA and shape, with the measured memory and L2 read bandwidths |
//!
//! Time on the 2-core dev/CI machine (AMD EPYC, AVX2 + scalar; other builds
//! running): kernels 8.5 s in quick mode (57 s with `--full`), search 30-50 s
//! with its defaults (see [`super::search`]), the plots 0.3 s: 40-80 s in all,
//! 100 s with `--full`. `--tiny` (tests): 0.7 s.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::error::CliError;
use crate::progress::Progress;

use super::search::{self, SearchOpts};
use super::{KernelsArgs, plots};

/// Options of `sagevec bench all`.
#[derive(Debug, Args)]
pub(crate) struct AllArgs {
    /// Directory for report.json, recall_qps.png, qps_threads.png and
    /// kernels_bandwidth.png (created if missing; files in it are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Kernel benchmark in full mode (larger sizes, more repetitions: about 7x
    /// longer) instead of quick mode.
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    search: SearchOpts,
    /// Test mode: tiny sizes, meaningless numbers, finishes in a few seconds.
    #[arg(long, hide = true)]
    tiny: bool,
}

/// Runs `sagevec bench all`.
pub(crate) fn run(args: &AllArgs, progress: Progress, out: &mut dyn Write) -> Result<(), CliError> {
    std::fs::create_dir_all(&args.out).map_err(|e| {
        CliError::Usage(format!(
            "cannot create the --out directory {}: {e}",
            args.out.display()
        ))
    })?;
    let report_path = args.out.join("report.json");
    // Fail on an unwritable directory now, not after minutes of measuring.
    let mut report_file = super::create_output(&report_path, "report")?;

    let kernels_args = KernelsArgs {
        quick: !args.full,
        isa: Vec::new(),
        dims: if args.tiny {
            vec![16, 64]
        } else {
            vec![128, 384, 768, 1536]
        },
        knn_dims: if args.tiny { vec![16] } else { vec![128, 768] },
        k: 10,
        json: None,
        tiny: args.tiny,
    };
    let kernels = super::kernels(&kernels_args, out, None)?;
    writeln!(out)?;
    let search = search::measure(&args.search, args.tiny, progress, out)?;

    let machine = plots::fit(&format!(
        "{}, {}",
        kernels.info.cpu_model, kernels.info.active
    ));
    let plot_files = [
        (plots::RECALL_QPS, "recall@k vs QPS over the ef sweep"),
        (plots::QPS_THREADS, "QPS vs threads calling search()"),
        (
            plots::KERNELS_BANDWIDTH,
            "kernel GB/s vs the measured read bandwidths",
        ),
    ];
    {
        let _step = progress.spinner("drawing the plots");
        plots::recall_qps(&args.out.join(plots::RECALL_QPS), &search, &machine)?;
        plots::qps_threads(&args.out.join(plots::QPS_THREADS), &search, &machine)?;
        plots::kernels_bandwidth(
            &args.out.join(plots::KERNELS_BANDWIDTH),
            &kernels.rows,
            &kernels.limits,
            &machine,
        )?;
    }
    let report = json!({
        "tool": "sagevec bench all",
        "version": env!("CARGO_PKG_VERSION"),
        "unix_time": super::unix_time(),
        "machine": kernels.info.to_json(),
        "kernels": kernels.json,
        "search": search.report,
        "plots": plot_files.iter().map(|(file, shows)| json!({
            "file": file,
            "shows": shows,
            "width": plots::WIDTH,
            "height": plots::HEIGHT,
        })).collect::<Vec<_>>(),
    });
    super::write_json(&mut report_file, &report_path, &report)?;
    writeln!(out, "\nwrote {}", report_path.display())?;
    for (file, _) in plot_files {
        writeln!(out, "wrote {}", args.out.join(file).display())?;
    }
    Ok(())
}
