//! Shared helpers for the kernel test binaries: which ISAs to test, a seeded PRNG,
//! f64 references and the derived error bounds.

#![allow(dead_code, unreachable_pub)]

use sagevec_kernels::{Element, Extensions, ISA_ENV, Isa, KernelTable, Metric, Rows};

/// The metrics of the float row types (f32, f16, bf16): `<f32 as Element>::METRICS`
/// as an array (parity.rs checks they agree).
pub const FLOAT_METRICS: [Metric; 3] = [Metric::L2Sq, Metric::InnerProduct, Metric::Cosine];

/// Proptest cases: `PROPTEST_CASES` if set (valgrind and qemu runs use fewer), else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Unit roundoff of f32 (round to nearest): 2⁻²⁴.
pub const U: f64 = 1.0 / 16_777_216.0;
/// Half the smallest subnormal spacing: the absolute error of one rounding in the
/// subnormal range (products of tiny inputs land there).
pub const SUBNORMAL_HALF_ULP: f64 = 1.401_298_464_324_817e-45 / 2.0;

/// The tables under test: only `SAGEVEC_ISA`'s if set (the test command runs each
/// ISA in turn that way), else every ISA the host supports. ISAs the host lacks are
/// reported with a visible skip line.
pub fn tables() -> Vec<&'static KernelTable> {
    if let Ok(name) = std::env::var(ISA_ENV)
        && !name.trim().is_empty()
    {
        let isa: Isa = name.parse().expect("SAGEVEC_ISA names a known ISA");
        let table = KernelTable::for_isa(isa)
            .unwrap_or_else(|e| panic!("the test runner asked for {isa}: {e}"));
        return vec![table];
    }
    let (have, lack): (Vec<Isa>, Vec<Isa>) = Isa::ALL.into_iter().partition(|i| i.is_supported());
    if !lack.is_empty() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let names: Vec<&str> = lack.iter().map(|i| i.name()).collect();
            eprintln!(
                "SKIP: {} kernels not tested: this CPU/OS lacks them",
                names.join(", ")
            );
        });
    }
    have.into_iter()
        .map(|isa| KernelTable::for_isa(isa).expect("supported"))
        .collect()
}

/// [`tables`] plus, for each ISA with extensions, the table without any (so both
/// the base path and the extension path of the i8/u8 and bits families run).
pub fn variant_tables() -> Vec<&'static KernelTable> {
    let mut out = Vec::new();
    for t in tables() {
        if t.extensions() != Extensions::NONE {
            out.push(KernelTable::for_isa_with(t.isa(), Extensions::NONE).expect("base path"));
        }
        out.push(t);
    }
    out
}

/// A table's name in messages: the ISA plus its extensions (`avx512+vnni+...`).
pub fn table_name(t: &KernelTable) -> String {
    let mut name = t.isa().name().to_owned();
    for e in t.extensions().names() {
        name.push('+');
        name.push_str(e);
    }
    name
}

/// SplitMix64: a tiny, seeded, reproducible generator.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.unit() * scale).collect()
    }
    /// Small integers in [-r, r]: every dot/norm of short vectors is exact in f32.
    pub fn ints(&mut self, n: usize, r: i64) -> Vec<f32> {
        (0..n)
            .map(|_| (self.below((2 * r + 1) as usize) as i64 - r) as f32)
            .collect()
    }
}

/// Higham's γₙ = n·u / (1 - n·u) for f32.
pub fn gamma(n: usize) -> f64 {
    let nu = n as f64 * U;
    nu / (1.0 - nu)
}

pub fn ref_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

pub fn ref_abs_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs())
        .sum()
}

pub fn ref_l2sq(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum()
}

/// Cosine distance with the kernels' definition (1 for a zero vector, clamped to [0, 2]).
pub fn ref_cos(a: &[f32], b: &[f32]) -> f64 {
    let (d, na, nb) = (ref_dot(a, b), ref_dot(a, a), ref_dot(b, b));
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    (1.0 - d / (na * nb).sqrt()).clamp(0.0, 2.0)
}

pub fn reference(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        Metric::L2Sq => ref_l2sq(a, b),
        Metric::InnerProduct => -ref_dot(a, b),
        Metric::Cosine => ref_cos(a, b),
        other => panic!("no float reference for {other}"),
    }
}

/// The derived bound on |kernel − exact| for one-to-one kernels (see the crate's
/// numeric contract):
/// - dot: γₙ Σ|aᵢbᵢ| (each product and each addition rounds once; any order);
/// - l2sq: γₙ₊₂ Σ(aᵢ-bᵢ)² (the difference and the square add two roundings);
/// - cosine: dot and both norms carry γₙ relative error, so
///   |ĉ − c| ≤ γₙ(Σ|aᵢbᵢ|/(|a||b|) + |c|)/(1 − γₙ), plus 2u for the final f32 rounding.
///
/// Each gets n·(half a subnormal ulp) for products that underflow.
pub fn bound(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let n = a.len();
    let tiny = (n as f64 + 2.0) * SUBNORMAL_HALF_ULP * 4.0;
    match metric {
        Metric::InnerProduct => gamma(n) * ref_abs_dot(a, b) + tiny,
        Metric::L2Sq => gamma(n + 2) * ref_l2sq(a, b) + tiny,
        Metric::Cosine => {
            let (na, nb) = (ref_dot(a, a), ref_dot(b, b));
            if na == 0.0 || nb == 0.0 {
                return 0.0;
            }
            let s = ref_abs_dot(a, b) / (na * nb).sqrt();
            let c = (1.0 - ref_cos(a, b)).abs();
            gamma(n + 2) * (s + c) / (1.0 - gamma(n + 2)) + 2.0 * U
        }
        other => panic!("no float bound for {other}"),
    }
}

/// Bound for the many-to-many (norm-expansion) path, for a pair.
/// - l2: |q|² + |x|² − 2q·x with each part within γ_d: γ_{d+2}(|q|² + |x|² + 2Σ|qᵢxᵢ|);
/// - ip: as dot;
/// - cosine: q·x · (1/|q|) · (1/|x|) with reciprocal norms rounded to f32:
///   γ_{d+4}(Σ|qᵢxᵢ|/(|q||x|) + |c|) + 2u.
pub fn bound_tiled(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let d = a.len();
    let tiny = (d as f64 + 4.0) * SUBNORMAL_HALF_ULP * 8.0;
    match metric {
        Metric::InnerProduct => gamma(d) * ref_abs_dot(a, b) + tiny,
        Metric::L2Sq => {
            gamma(d + 3) * (ref_dot(a, a) + ref_dot(b, b) + 2.0 * ref_abs_dot(a, b)) + tiny
        }
        Metric::Cosine => {
            let (na, nb) = (ref_dot(a, a), ref_dot(b, b));
            if na == 0.0 || nb == 0.0 {
                return 0.0;
            }
            let s = ref_abs_dot(a, b) / (na * nb).sqrt();
            let c = (1.0 - ref_cos(a, b)).abs();
            gamma(d + 6) * (s + c) / (1.0 - gamma(d + 6)) + 2.0 * U
        }
        other => panic!("no float bound for {other}"),
    }
}

/// Asserts `got` is within `bound` of `exact`, with context.
pub fn assert_close(got: f32, exact: f64, bound: f64, ctx: &dyn Fn() -> String) {
    let err = (f64::from(got) - exact).abs();
    assert!(
        err <= bound,
        "{}: got {got:e}, exact {exact:e}, |err| {err:e} > bound {bound:e}",
        ctx()
    );
}

/// `dot_matrix(qs, xs)` (row-major `n_q × n_x`) and `squared_norms(xs)`, for the
/// many-to-many checks of every row type that has them.
pub fn dots_and_norms<T: Element>(
    t: &KernelTable,
    qs: Rows<'_, T>,
    xs: Rows<'_, T>,
) -> (Vec<f32>, Vec<f32>) {
    let mut dots = vec![0.0f32; qs.n_rows() * xs.n_rows()];
    t.dot_matrix(qs, xs, &mut dots).unwrap();
    let mut norms = vec![0.0f32; xs.n_rows()];
    t.squared_norms(xs, &mut norms).unwrap();
    (dots, norms)
}
