//! The vectors to benchmark on: generated (as `sagevec demo`'s) or read from
//! files, with the ground truth when a file gives it.

use std::path::PathBuf;

use sagevec_cli::formats::IdMatrix;
use sagevec_kernels::Rows;
use serde::Serialize;

use super::options::{SearchOpts, Sizes};
use crate::error::CliError;
use crate::files;
use crate::generate::clustered;
use crate::progress::Progress;

/// The vectors, the queries, and the ground truth if a file gave it.
pub(super) struct Data {
    pub(super) base: Vec<f32>,
    pub(super) queries: Vec<f32>,
    pub(super) dim: usize,
    pub(super) n: usize,
    pub(super) nq: usize,
    pub(super) truth: Option<IdMatrix>,
    /// The data file (for error messages naming rows), if any.
    pub(super) path: Option<PathBuf>,
    /// One line naming the data set: `100000 x 128 clustered (seed 42), 1000
    /// queries, l2`.
    pub(super) label: String,
    /// The `data` member of the JSON report.
    pub(super) report: DataReport,
}

/// Where the vectors came from, as the JSON report says it (`source` is
/// `generated` or `files`).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub(crate) enum DataReport {
    Generated {
        generator: &'static str,
        seed: u64,
        n: usize,
        dim: usize,
        queries: usize,
        metric: String,
    },
    Files {
        data: String,
        queries_file: String,
        truth: Option<String>,
        n: usize,
        dim: usize,
        queries: usize,
        metric: String,
    },
}

impl Data {
    /// Generated data or the files of `opts`.
    pub(super) fn load(
        opts: &SearchOpts,
        sizes: Sizes,
        progress: Progress,
    ) -> Result<Data, CliError> {
        let Some(path) = &opts.data else {
            let Sizes { n, dim, nq, .. } = sizes;
            let mut base = {
                let _step =
                    progress.spinner(&format!("generating {} x {dim} clustered vectors", n + nq));
                clustered(n + nq, dim, opts.seed)
            };
            let queries = base.split_off(n * dim);
            return Ok(Data {
                base,
                queries,
                dim,
                n,
                nq,
                truth: None,
                path: None,
                label: format!(
                    "{n} x {dim} clustered (seed {}), {} queries, {}",
                    opts.seed, nq, opts.metric
                ),
                report: DataReport::Generated {
                    generator: "clustered: 100 centres, spread 4, noise 1 (as sagevec demo)",
                    seed: opts.seed,
                    n,
                    dim,
                    queries: nq,
                    metric: opts.metric.to_string(),
                },
            });
        };
        let queries_path = PathBuf::from(opts.queries.clone().unwrap_or_default());
        let data = files::read_vectors(path, None, progress)?;
        let queries = files::read_vectors(&queries_path, None, progress)?;
        files::check_dim(&queries_path, &queries, data.dim)?;
        if data.rows == 0 {
            return Err(CliError::Usage(format!("{}: no rows", path.display())));
        }
        let truth = match &opts.truth {
            Some(truth_path) => {
                let truth = files::read_ids(truth_path)?;
                if truth.rows < queries.rows || truth.cols < opts.k {
                    return Err(CliError::Usage(format!(
                        "{}: {} x {} ids, need at least {} x {} (a row per query, k columns)",
                        truth_path.display(),
                        truth.rows,
                        truth.cols,
                        queries.rows,
                        opts.k
                    )));
                }
                Some(truth)
            }
            None => None,
        };
        Ok(Data {
            label: format!(
                "{} x {} from {}, {} queries, {}",
                data.rows,
                data.dim,
                path.display(),
                queries.rows,
                opts.metric
            ),
            report: DataReport::Files {
                data: path.display().to_string(),
                queries_file: queries_path.display().to_string(),
                truth: opts.truth.as_ref().map(|p| p.display().to_string()),
                n: data.rows,
                dim: data.dim,
                queries: queries.rows,
                metric: opts.metric.to_string(),
            },
            dim: data.dim,
            n: data.rows,
            nq: queries.rows,
            base: data.data,
            queries: queries.data,
            truth,
            path: Some(path.clone()),
        })
    }

    pub(super) fn query(&self, q: usize) -> &[f32] {
        &self.queries[q * self.dim..(q + 1) * self.dim]
    }

    pub(super) fn query_rows(&self) -> Result<Rows<'_, f32>, CliError> {
        Rows::contiguous(&self.queries, self.dim)
            .map_err(|e| CliError::Runtime(format!("query rows: {e}")))
    }
}
