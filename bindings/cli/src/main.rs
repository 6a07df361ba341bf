//! `sagevec`: the command-line front of sagevec.
//!
//! `sagevec info` says what the kernels will use here and how work is placed;
//! `sagevec demo` builds and searches an index on generated data (the README's
//! main job); `sagevec build`, `search` and `eval` work on data files (.npy,
//! .fvecs, .ivecs, .bvecs; see `sagevec_cli::formats`); `sagevec bench`
//! measures the kernels against the machine's own limits.
//!
//! Everything is written to a locked stdout through `io::Write` (no `println!`), so
//! every command can also be pointed at any writer. Exit codes: 0 on success, 2 for
//! a usage error or bad input (including an unknown or unsupported `SAGEVEC_ISA`;
//! clap's own usage errors also exit 2), 1 for a runtime failure such as an I/O
//! error. A closed stdout (`sagevec info | head -1`) ends the program quietly.

mod bench;
mod build;
mod demo;
mod error;
mod eval;
mod files;
mod generate;
mod info;
mod machine;
mod progress;
mod search;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;
use crate::progress::Progress;

/// sagevec: CPU vector search with runtime-dispatched SIMD kernels.
#[derive(Debug, Parser)]
#[command(name = "sagevec", version, about, long_about = None)]
struct Cli {
    /// No progress bars (they are also off when stderr is not a terminal).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the CPU, its SIMD features, and the ISA each kernel family uses here.
    ///
    /// `SAGEVEC_ISA=scalar|avx2|avx512` forces an ISA; naming one this CPU lacks is
    /// an error (exit code 2).
    Info(info::InfoArgs),
    /// Build an index on generated data, search it (recall@10, QPS), then search
    /// while writing: the README's main job.
    Demo(demo::DemoArgs),
    /// Build an index from a vector file and save it to a directory.
    Build(build::BuildArgs),
    /// Search a saved index with a file of queries; write the k nearest ids.
    Search(search::SearchArgs),
    /// Recall@k and QPS of a saved index against ground truth, over an ef sweep.
    Eval(eval::EvalArgs),
    /// Measure throughput.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Kernel throughput per ISA and dimension, beside this machine's measured peak
    /// FMA rate and read bandwidth (single thread).
    Kernels(bench::KernelsArgs),
    /// Index build time, recall@k vs QPS over an ef sweep, and QPS vs threads, on
    /// generated clustered data (default 100k x 128) or on files.
    Search(bench::search::SearchArgs),
    /// Kernels (quick mode unless --full) and search, then DIR/report.json and PNG
    /// plots: recall vs QPS, QPS vs threads, kernel GB/s vs measured bandwidth.
    All(bench::all::AllArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let progress = Progress::new(cli.quiet);
    let result = match cli.command {
        Command::Info(args) => info::run(&args, &mut out),
        Command::Demo(args) => demo::run(&args, &mut out),
        Command::Build(args) => build::run(&args, progress, &mut out),
        Command::Search(args) => search::run(&args, progress, &mut out),
        Command::Eval(args) => eval::run(&args, progress, &mut out),
        Command::Bench { what } => match what {
            BenchCommand::Kernels(args) => bench::run(&args, &mut out),
            BenchCommand::Search(args) => bench::search::run(&args, progress, &mut out),
            BenchCommand::All(args) => bench::all::run(&args, progress, &mut out),
        },
    }
    .and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}
