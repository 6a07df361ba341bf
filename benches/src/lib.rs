//! Shared helpers for the sagevec benchmarks and examples.
//!
//! - [`SplitMix64`]: the project's seeded generator (`sagevec-rng`, re-exported from
//!   `sagevec-testkit`, which also owns clustered data, recall and medians), so
//!   inputs are identical across runs and machines without pulling in `rand`.
//! - [`random_rows`] / [`random_unit_rows`]: a 64-byte-aligned, row-major corpus
//!   of uniform values in `[-1, 1)`, optionally scaled to unit rows.
//! - [`index_data`]: the clustered data of `benches/index.rs`, which
//!   `benches/compare/index_mix.py` reproduces bit for bit.
//! - [`print_machine_banner`]: CPU model, detected features and ISAs, printed to
//!   stderr before any measurement (as NumKong's CI does), so a result is never
//!   quoted without the machine it came from.

use sagevec_kernels::{AlignedVec, Caps, Isa, try_kernels};
pub use sagevec_testkit::SplitMix64;

pub mod index_data;

/// Bench id element type segment: every kernel benched here is f32.
pub const ELEM: &str = "f32";

/// `n_rows × dim` row-major f32 values in `[-1, 1)`, 64-byte aligned, from `seed`.
pub fn random_rows(n_rows: usize, dim: usize, seed: u64) -> AlignedVec<f32> {
    let mut data = AlignedVec::<f32>::zeroed(n_rows * dim);
    SplitMix64::new(seed).fill(data.as_mut_slice());
    data
}

/// Like [`random_rows`], with every row scaled to unit L2 norm: the input that
/// normalised-embedding metrics expect (anndists' `DistDot` asserts `a·b <= 1`).
pub fn random_unit_rows(n_rows: usize, dim: usize, seed: u64) -> AlignedVec<f32> {
    let mut data = random_rows(n_rows, dim, seed);
    if dim > 0 {
        sagevec_testkit::normalize_rows(data.as_mut_slice(), dim);
    }
    data
}

/// The CPU model name from `/proc/cpuinfo` (what `lscpu` shows), if readable.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// Every ISA this host supports, by name (`scalar`, `avx2`, ...).
pub fn isa_names(isas: &[Isa]) -> Vec<&'static str> {
    isas.iter().map(|isa| isa.name()).collect()
}

/// Prints the machine and ISA banner for `bench` to stderr.
pub fn print_machine_banner(bench: &str) {
    let caps = Caps::detect();
    let features: Vec<&str> = caps
        .list()
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    let active = match try_kernels() {
        Ok(t) => t.isa().name().to_owned(),
        Err(err) => format!("error: {err}"),
    };
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("== sagevec bench `{bench}`");
    eprintln!("   cpu: {} ({threads} logical CPUs)", cpu_model());
    eprintln!("   features: {}", features.join(" "));
    eprintln!(
        "   isa: active (dispatch) = {active}, available = [{}]",
        isa_names(&Isa::available()).join(", ")
    );
    eprintln!("   single-threaded; ids are {{metric}}/{{elem}}/{{isa|peer}}/{{dim}}");
}
