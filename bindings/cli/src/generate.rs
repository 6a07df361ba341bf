//! Seeded generated data: the built-in vectors of `sagevec demo` and
//! `sagevec bench search`, the same for the same seed on every machine.

/// xorshift64*: seeded data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// `n` row-major vectors of `dim` around 100 random centres (spread 4, noise 1).
pub(crate) fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let centres: Vec<f32> = (0..100 * dim).map(|_| rng.f32() * 4.0).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = (rng.next() % 100) as usize;
        out.extend((0..dim).map(|j| centres[c * dim + j] + rng.f32()));
    }
    out
}
