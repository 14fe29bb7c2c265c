//! Every kernel × backend × size × thread count, with the memory roofline in the same run.
//!
//! ```text
//! cargo bench --bench kernels                                # 4K, 1M, 16M elements (f32)
//! SIGNFREE_BENCH_LARGE=1 cargo bench --bench kernels         # also 128M (DRAM-bound; slow)
//! cargo bench --bench kernels -- 'sign_step|roofline' --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Groups are named `<kernel>/<n>`; inside a group the ids are `<backend>-<threads>t`, so the
//! roofline and every backend of one kernel and size sit side by side in the report. Sizes of
//! at least `PARALLEL_THRESHOLD` also run on all threads (below it the kernels would not
//! split anyway). A backend this CPU lacks is skipped and a `SKIPPED:` line printed.
//!
//! `Throughput::Bytes` counts the bytes each kernel must move per element (f32 = 4 bytes;
//! packed signs 2 bits = 0.25 bytes; counts are `i32`), listed in `Kernel::quarter_bytes_per_elem`.
//! Write-only outputs cost an extra read-for-ownership that is not counted. The 128M size is
//! behind `SIGNFREE_BENCH_LARGE=1` because each of its ~50 benchmarks streams 1–2 GB per
//! iteration and the default run would take well over half an hour.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signfree::kernels::{Backend, Kernels, PARALLEL_THRESHOLD, packed_words};
use std::hint::black_box;

#[path = "../examples/common/timing.rs"]
mod timing;
use timing::plain_axpy;

#[derive(Clone, Copy, Debug)]
enum Kernel {
    /// Roofline: plain in-place loop `x += s·g`, default target (x r/w, g r: 12 B).
    RooflinePlain,
    /// Roofline: the library's `axpy` on the backend under test (12 B).
    RooflineAxpy,
    /// `memcpy` of one vector (src r, dst w: 8 B).
    Copy,
    /// x r/w, g r: 12 B.
    SignStep,
    /// x r/w, m r/w, g r: 20 B.
    MomentumSignStep,
    /// g r, prev r (dir = prev): 8 B.
    AliasStats,
    /// x r/w, g r, store w: 16 B.
    SignStepStore,
    /// One ALIAS step: `alias_stats` (8 B) then `sign_step_store` (16 B): 24 B.
    AliasStep,
    /// v r: 4 B.
    FirstNonFinite,
    /// v r: 4 B.
    InfNorm,
    /// g r, 2 bits w: 4.25 B.
    PackSigns2bit,
    /// g r, 2 bits r: 4.25 B.
    DotSignPacked2bit,
    /// 2 bits r, counts r/w: 8.25 B.
    AccumulateSigns2bit,
    /// counts r, out w: 8 B.
    VoteFromCounts,
}

impl Kernel {
    const ALL: [Kernel; 14] = [
        Kernel::RooflinePlain,
        Kernel::RooflineAxpy,
        Kernel::Copy,
        Kernel::SignStep,
        Kernel::MomentumSignStep,
        Kernel::AliasStats,
        Kernel::SignStepStore,
        Kernel::AliasStep,
        Kernel::FirstNonFinite,
        Kernel::InfNorm,
        Kernel::PackSigns2bit,
        Kernel::DotSignPacked2bit,
        Kernel::AccumulateSigns2bit,
        Kernel::VoteFromCounts,
    ];

    fn name(self) -> &'static str {
        match self {
            Kernel::RooflinePlain => "roofline_plain_axpy",
            Kernel::RooflineAxpy => "roofline_axpy",
            Kernel::Copy => "roofline_copy",
            Kernel::SignStep => "sign_step",
            Kernel::MomentumSignStep => "momentum_sign_step",
            Kernel::AliasStats => "alias_stats",
            Kernel::SignStepStore => "sign_step_store",
            Kernel::AliasStep => "alias_step",
            Kernel::FirstNonFinite => "first_non_finite",
            Kernel::InfNorm => "inf_norm",
            Kernel::PackSigns2bit => "pack_signs_2bit",
            Kernel::DotSignPacked2bit => "dot_sign_packed_2bit",
            Kernel::AccumulateSigns2bit => "accumulate_signs_2bit",
            Kernel::VoteFromCounts => "vote_from_counts",
        }
    }

    /// Bytes moved per element, in quarter bytes (exact for the 2-bit kernels).
    fn quarter_bytes_per_elem(self) -> u64 {
        match self {
            Kernel::FirstNonFinite | Kernel::InfNorm => 16,
            Kernel::PackSigns2bit | Kernel::DotSignPacked2bit => 17,
            Kernel::Copy | Kernel::AliasStats | Kernel::VoteFromCounts => 32,
            Kernel::AccumulateSigns2bit => 33,
            Kernel::RooflinePlain | Kernel::RooflineAxpy | Kernel::SignStep => 48,
            Kernel::SignStepStore => 64,
            Kernel::MomentumSignStep => 80,
            Kernel::AliasStep => 96,
        }
    }

    /// Whether the kernel runs through a [`Kernels`] backend (the plain loop and `memcpy` do
    /// not, so they run once per size and thread count, not per backend).
    fn per_backend(self) -> bool {
        !matches!(self, Kernel::RooflinePlain | Kernel::Copy)
    }
}

struct Buffers {
    x: Vec<f32>,
    g: Vec<f32>,
    prev: Vec<f32>,
    m: Vec<f32>,
    copy: Vec<f32>,
    pos: Vec<u64>,
    neg: Vec<u64>,
    counts: Vec<i32>,
}

impl Buffers {
    fn new(n: usize) -> Self {
        let g: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 13) as f32 - 6.0 + 0.25)
            .collect();
        let (mut pos, mut neg) = (vec![0; packed_words(n)], vec![0; packed_words(n)]);
        Kernels::detect().pack_signs_2bit(&g, &mut pos, &mut neg);
        Self {
            x: (0..n).map(|i| (i % 97) as f32 * 0.01).collect(),
            prev: g.iter().map(|v| v * 0.5 - 1.0).collect(),
            m: vec![0.1; n],
            copy: vec![1.0; n],
            counts: vec![1; n],
            g,
            pos,
            neg,
        }
    }
}

fn run(kernel: Kernel, k: &Kernels, b: &mut Buffers) {
    let (gamma, decay) = (black_box(1e-7_f32), black_box(1.0_f32));
    match kernel {
        Kernel::RooflinePlain => plain_axpy(&mut b.x, &b.g, black_box(-1e-7), k.threads()),
        Kernel::RooflineAxpy => k.axpy(&mut b.x, &b.g, black_box(-1e-7)),
        Kernel::Copy => b.copy.copy_from_slice(black_box(&b.g)),
        Kernel::SignStep => k.sign_step(&mut b.x, &b.g, gamma, decay),
        Kernel::MomentumSignStep => {
            k.momentum_sign_step(&mut b.x, &mut b.m, &b.g, 0.9, 0.1, gamma, decay)
        }
        Kernel::AliasStats => {
            black_box(k.alias_stats(&b.g, &b.prev, &b.prev));
        }
        Kernel::SignStepStore => {
            black_box(k.sign_step_store(&mut b.x, &b.g, &mut b.prev, gamma, decay));
        }
        Kernel::AliasStep => {
            black_box(k.alias_stats(&b.g, &b.prev, &b.prev));
            black_box(k.sign_step_store(&mut b.x, &b.g, &mut b.prev, gamma, decay));
        }
        Kernel::FirstNonFinite => {
            black_box(k.first_non_finite(&b.g));
        }
        Kernel::InfNorm => {
            black_box(k.inf_norm(&b.g));
        }
        Kernel::PackSigns2bit => k.pack_signs_2bit(&b.g, &mut b.pos, &mut b.neg),
        Kernel::DotSignPacked2bit => {
            black_box(k.dot_sign_packed_2bit(&b.g, &b.pos, &b.neg));
        }
        Kernel::AccumulateSigns2bit => k.accumulate_signs_2bit(&b.pos, &b.neg, &mut b.counts),
        Kernel::VoteFromCounts => k.vote_from_counts(&b.counts, &mut b.m),
    }
}

fn sizes() -> Vec<usize> {
    let mut sizes = vec![4 << 10, 1 << 20, 16 << 20];
    if std::env::var("SIGNFREE_BENCH_LARGE").is_ok_and(|v| v == "1") {
        sizes.push(128 << 20);
    }
    sizes
}

fn bench(c: &mut Criterion) {
    let mut backends = Vec::new();
    for b in [Backend::Scalar, Backend::Avx2, Backend::Avx512] {
        if b.is_supported() {
            backends.push(b);
        } else {
            println!("SKIPPED: {b} not available on this CPU");
        }
    }
    let all = Kernels::detect().threads();
    for n in sizes() {
        let mut buffers = Buffers::new(n);
        let thread_counts: Vec<usize> = if n >= PARALLEL_THRESHOLD && all > 1 {
            vec![1, all]
        } else {
            vec![1]
        };
        for kernel in Kernel::ALL {
            let mut group = c.benchmark_group(format!("{}/{}", kernel.name(), label(n)));
            group.throughput(Throughput::Bytes(
                kernel.quarter_bytes_per_elem() * n as u64 / 4,
            ));
            if n >= 16 << 20 {
                group.sample_size(10);
            }
            for &threads in &thread_counts {
                let list: &[Backend] = if kernel.per_backend() {
                    &backends
                } else {
                    &[Backend::Scalar]
                };
                for &backend in list {
                    let k = Kernels::new(backend)
                        .expect("supported")
                        .with_threads(threads);
                    let id = if kernel.per_backend() {
                        format!("{backend}-{threads}t")
                    } else {
                        format!("default-{threads}t")
                    };
                    group.bench_function(BenchmarkId::from_parameter(id), |bench| {
                        bench.iter(|| run(kernel, &k, &mut buffers))
                    });
                }
            }
            group.finish();
        }
    }
}

fn label(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{}M", n >> 20)
    } else {
        format!("{}K", n >> 10)
    }
}

criterion_group! {
    name = benches;
    // No plots: criterion's plotters backend needs system fonts, which minimal machines (and
    // CI) lack; the numbers and the JSON estimates are unaffected.
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
