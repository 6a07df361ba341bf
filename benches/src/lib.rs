//! Shared helpers for the sagevec benchmarks (`benches/kernels.rs`, `benches/knn.rs`).
//!
//! - [`SplitMix64`]: a tiny seeded generator, so inputs are identical across runs
//!   and machines without pulling in `rand`.
//! - [`random_rows`] / [`random_unit_rows`]: a 64-byte-aligned, row-major corpus
//!   of uniform values in `[-1, 1)`, optionally scaled to unit rows.
//! - [`print_machine_banner`]: CPU model, detected features and ISAs, printed to
//!   stderr before any measurement (as NumKong's CI does), so a result is never
//!   quoted without the machine it came from.

use sagevec_kernels::{AlignedVec, Caps, Isa, try_kernels};

/// Bench id element type segment: every kernel benched here is f32.
pub const ELEM: &str = "f32";

/// SplitMix64 (Steele, Lea and Flood 2014): a 64-bit state, one add and three
/// xor-shift-multiply rounds per output. Good enough for benchmark inputs.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform `f32` in `[-1, 1)` (24 random mantissa bits).
    pub fn next_f32(&mut self) -> f32 {
        const SCALE: f32 = 1.0 / (1u32 << 23) as f32;
        ((self.next_u64() >> 40) as u32) as f32 * SCALE - 1.0
    }

    /// A uniform index in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn next_index(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fills `out` with uniform values in `[-1, 1)`.
    pub fn fill(&mut self, out: &mut [f32]) {
        out.iter_mut().for_each(|x| *x = self.next_f32());
    }
}

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
    for row in data.as_mut_slice().chunks_exact_mut(dim.max(1)) {
        let norm = row
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            row.iter_mut()
                .for_each(|x| *x = (f64::from(*x) / norm) as f32);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..10_000 {
            let x = a.next_f32();
            assert_eq!(x.to_bits(), b.next_f32().to_bits());
            assert!((-1.0..1.0).contains(&x));
        }
        // First output of the reference implementation for seed 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
