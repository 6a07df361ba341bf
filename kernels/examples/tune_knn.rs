use sagevec_kernels::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let d: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(128);
    let nq: usize = 240;
    let nx: usize = 20000;
    let k = 10;
    let mut s = 1u64;
    let mut r = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32) / 16777216.0 - 0.5
    };
    let q: Vec<f32> = (0..nq * d).map(|_| r()).collect();
    let x: Vec<f32> = (0..nx * d).map(|_| r()).collect();
    for isa in Isa::available() {
        let t = KernelTable::for_isa(isa).unwrap();
        let (qr, xr) = (
            Rows::contiguous(&q, d).unwrap(),
            Rows::contiguous(&x, d).unwrap(),
        );
        let mut ids = vec![0u64; nq * k];
        let mut ds = vec![0f32; nq * k];
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t0 = Instant::now();
            t.knn(Metric::L2Sq, qr, xr, None, k, &mut ids, &mut ds)
                .unwrap();
            best = best.min(t0.elapsed().as_secs_f64());
        }
        let mut out = vec![0f32; nq * 256];
        let xs = xr.slice_rows(0, 256);
        let mut bestm = f64::MAX;
        for _ in 0..20 {
            let t0 = Instant::now();
            for _ in 0..10 {
                t.dot_matrix(qr, xs, &mut out).unwrap();
            }
            bestm = bestm.min(t0.elapsed().as_secs_f64() / 10.0);
        }
        println!(
            "{isa} d={d}: knn {:.1} GFLOP/s ({:.0} QPS-equiv at N=100k)  dot_matrix(240x256) {:.1} GFLOP/s",
            2.0 * (nq * nx * d) as f64 / best / 1e9,
            nq as f64 / best * nx as f64 / 100000.0,
            2.0 * (nq * 256 * d) as f64 / bestm / 1e9
        );
    }
    println!(
        "peak fma avx2: {:.1}",
        probe::peak_fma_gflops(Isa::Avx2, std::time::Duration::from_millis(300)).unwrap()
    );
}
