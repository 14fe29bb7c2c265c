//! The Sign-SGD step against the memory roofline measured in the same run.
//!
//! `x ← x − γ·sign(g)` reads `x` and `g` and writes `x`: 3 · size_of::<F>() bytes per element.
//! The roofline is an in-place `x ← x + s·g` loop with exactly that traffic, so the ratio of the
//! two throughputs says how close the step is to the speed of memory.
//!
//! Run: `cargo bench --bench sign_step`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signfree::kernels::scalar;
use signfree::{Optimizer, SignSgd, SignSgdConfig};
use std::hint::black_box;

fn inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    let x = (0..n).map(|i| (i % 97) as f32 * 0.01).collect();
    let g = (0..n).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
    (x, g)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign_step_f32");
    for &n in &[4 << 10, 1 << 20, 16 << 20] {
        let (mut x, g) = inputs(n);
        group.throughput(Throughput::Bytes((3 * 4 * n) as u64));
        group.bench_function(BenchmarkId::new("roofline_axpy", n), |b| {
            b.iter(|| {
                for (xi, gi) in x.iter_mut().zip(&g) {
                    *xi += black_box(-1e-7f32) * gi;
                }
            })
        });
        group.bench_function(BenchmarkId::new("scalar_kernel", n), |b| {
            b.iter(|| scalar::sign_step(&mut x, &g, black_box(1e-7), 1.0))
        });
        let mut opt = SignSgd::<f32>::new(
            SignSgdConfig {
                lr: 1e-7,
                ..Default::default()
            },
            &[n],
        )
        .expect("valid config");
        // The optimizer step includes the finiteness check on g (one extra read of g).
        group.bench_function(BenchmarkId::new("optimizer_step", n), |b| {
            b.iter(|| opt.step_flat(&mut x, &g, None).expect("finite gradient"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Criterion's HTML plots need system fonts this crate does not require; numbers suffice.
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
