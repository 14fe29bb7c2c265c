//! Every optimizer's `Optimizer::step` against the memory roofline measured in the same run.
//!
//! For each size (1M, 16M and 128M `f32` elements; set `SIGNFREE_STEP_SIZES=1M,16M` to choose)
//! and thread count (1 and the available parallelism), one group holds two rooflines — a plain
//! Rust loop `x ← x + s·g` and the crate's `axpy` kernel, 12 bytes per element — and the step
//! of every optimizer in `examples/common/step_methods.rs`, each with its contract's traffic as
//! the group's throughput, so criterion's GB/s compare directly with the rooflines'. Before each
//! timed call the gradient of `½‖x − c‖²` at the current `x` is written (untimed), as a
//! backward pass would.
//!
//! Run: `cargo bench --bench step` (about 10 minutes on 2 cores; the summary table comes from
//! `cargo run --release --example step_summary -- --sizes 1M,16M,128M`).

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use signfree::kernels::Kernels;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../examples/common/step_methods.rs"]
mod step_methods;
use step_methods::{gradient, quadratic, step_methods};

#[path = "../examples/common/timing.rs"]
mod timing;
use timing::{human, parse_size, plain_axpy};

/// Total time of `iters` calls of `timed`, each after an untimed gradient at the current `x`.
fn timed_calls(
    iters: u64,
    x: &mut [f32],
    c: &[f32],
    g: &mut [f32],
    mut timed: impl FnMut(&mut [f32], &[f32]),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        gradient(x, c, g);
        let t = Instant::now();
        timed(x, g);
        total += t.elapsed();
    }
    total
}

fn sizes() -> Vec<usize> {
    match std::env::var("SIGNFREE_STEP_SIZES") {
        Ok(v) => v
            .split(',')
            .map(|s| parse_size(s).expect("SIGNFREE_STEP_SIZES: sizes like 1M,16M"))
            .collect(),
        Err(_) => vec![1 << 20, 16 << 20, 128 << 20],
    }
}

fn bench(c: &mut Criterion) {
    let all = Kernels::detect().threads();
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all);
    }
    for n in sizes() {
        let (mut x, centre) = quadratic(n);
        let mut g = vec![0.0_f32; n];
        for &t in &threads {
            let mut group = c.benchmark_group(format!("step_f32_{}_{t}t", human(n)));
            if n >= 16 << 20 {
                group
                    .sampling_mode(SamplingMode::Flat)
                    .sample_size(10)
                    .warm_up_time(Duration::from_millis(500));
            }
            let k = Kernels::detect().with_threads(t);
            group.throughput(Throughput::Bytes(12 * n as u64));
            group.bench_function(BenchmarkId::new("roofline_plain", 12), |b| {
                b.iter_custom(|iters| {
                    timed_calls(iters, &mut x, &centre, &mut g, |x, g| {
                        plain_axpy(x, g, black_box(-1e-7), t)
                    })
                })
            });
            group.bench_function(BenchmarkId::new("roofline_axpy", 12), |b| {
                b.iter_custom(|iters| {
                    timed_calls(iters, &mut x, &centre, &mut g, |x, g| {
                        k.axpy(x, g, black_box(-1e-7))
                    })
                })
            });
            for m in step_methods() {
                x.copy_from_slice(&quadratic(n).0);
                let mut opt = (m.build)(n, t);
                group.throughput(Throughput::Bytes((m.bytes * n as f64) as u64));
                group.bench_function(BenchmarkId::new(m.name, m.bytes), |b| {
                    b.iter_custom(|iters| {
                        timed_calls(iters, &mut x, &centre, &mut g, |x, g| {
                            black_box(opt.step_flat(x, g, None).expect("step"));
                        })
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    // Criterion's HTML plots need system fonts this crate does not require; numbers suffice.
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
