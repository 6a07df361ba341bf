//! A resolved C kernel pointer (`sagevec_distance_fn_resolve`, called through an
//! `extern "C"` function pointer, as C calls it) against the Rust kernel
//! (`DistanceFn::call`, and the checked `KernelTable::distance`), one-to-one at
//! d = 128 on a hot pair, in one criterion group per metric, for every ISA.
//! The checked C entry point (`sagevec_distance`) is measured next to them.
//!
//! IDs: `{caller}/{metric}/f32/{isa}/128`.

use std::ffi::c_void;
use std::hint::black_box;

use ::sagevec_kernels::{Isa, KernelTable, Metric};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sagevec::{
    SAGEVEC_ELEM_F32, SAGEVEC_OK, sagevec_distance, sagevec_distance_fn,
    sagevec_distance_fn_resolve, sagevec_kernels, sagevec_kernels_for_isa,
};

const DIM: usize = 128;

fn pair() -> (Vec<f32>, Vec<f32>) {
    let a = (0..DIM)
        .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let b = (0..DIM)
        .map(|i| ((i * 104_729) % 97) as f32 / 48.0 - 1.0)
        .collect();
    (a, b)
}

fn c_kernels(isa: Isa) -> *const sagevec_kernels {
    let code = Isa::ALL.iter().position(|&i| i == isa).unwrap() as u32;
    let mut k = std::ptr::null();
    // SAFETY: `k` is a writable pointer.
    assert_eq!(unsafe { sagevec_kernels_for_isa(code, &mut k) }, SAGEVEC_OK);
    k
}

fn bench(c: &mut Criterion) {
    sagevec_benches::print_machine_banner("resolved (C pointer vs Rust kernel, d = 128)");
    let (a, b) = pair();
    for metric in Metric::ALL {
        let mut group = c.benchmark_group(format!("one_to_one_{}_d{DIM}", metric.name()));
        group.throughput(Throughput::Bytes((2 * DIM * size_of::<f32>()) as u64));
        for isa in Isa::available() {
            let table = KernelTable::for_isa(isa).unwrap();
            let id = |caller: &str| format!("{caller}/{}/f32/{}/{DIM}", metric.name(), isa.name());
            let f = table.distance_fn::<f32>(metric);
            group.bench_function(id("rust-distance_fn"), |bch| {
                bch.iter(|| f.call(black_box(&a), black_box(&b)))
            });
            group.bench_function(id("rust-checked"), |bch| {
                bch.iter(|| {
                    table
                        .distance(metric, black_box(&a), black_box(&b))
                        .unwrap()
                })
            });
            let k = c_kernels(isa);
            let mut resolved: sagevec_distance_fn = None;
            // SAFETY: `resolved` is writable; `k` came from sagevec_kernels_for_isa.
            let st = unsafe {
                sagevec_distance_fn_resolve(k, metric as u32, SAGEVEC_ELEM_F32, &mut resolved)
            };
            assert_eq!(st, SAGEVEC_OK);
            let resolved = resolved.unwrap();
            let (pa, pb) = (a.as_ptr().cast::<c_void>(), b.as_ptr().cast::<c_void>());
            group.bench_function(id("c-resolved"), |bch| {
                // SAFETY: both pointers hold DIM f32s, the resolved pointer's contract.
                bch.iter(|| unsafe { resolved(black_box(pa), black_box(pb), black_box(DIM)) })
            });
            group.bench_function(id("c-checked"), |bch| {
                let mut out = 0.0f32;
                bch.iter(|| {
                    // SAFETY: valid kernels handle, DIM f32s each, writable `out`.
                    let st = unsafe {
                        sagevec_distance(
                            k,
                            metric as u32,
                            SAGEVEC_ELEM_F32,
                            black_box(pa),
                            black_box(pb),
                            DIM,
                            &mut out,
                        )
                    };
                    debug_assert_eq!(st, SAGEVEC_OK);
                    out
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
