//! One line per kernel: throughput against the memory roofline measured in the same run.
//!
//! ```text
//! cargo run --release --example kernel_summary                  # 16M and 128M f32, 1 and all threads
//! cargo run --release --example kernel_summary -- --sizes 1M,16M
//! cargo run --release --example kernel_summary -- --threshold   # 1 vs 2 threads, small n
//! ```
//!
//! Every figure is the median of 9 timings (each timing repeats the call until it lasts at
//! least 20 ms). Throughput counts the bytes each kernel must move per element (listed in
//! `bytes/elem`; `f32` is 4 bytes, packed signs 2 bits, counts 4 bytes) divided by the median
//! time. A write-only output costs the CPU an extra read (write-allocate) that is *not*
//! counted, so kernels with one look slightly worse than their real traffic.
//!
//! The roofline is an in-place `x ← x + s·g` pass over the same `n` (12 bytes/elem: read `x`
//! and `g`, write `x`, exactly the sign step's traffic), on the same thread count, timed in the
//! same run: the faster of a plain Rust loop (compiled for the default target) and the
//! library's `axpy` kernel on the detected backend. `ratio` is kernel GB/s ÷ roofline GB/s.

use signfree::kernels::{Backend, Kernels, packed_words};
use std::hint::black_box;

#[path = "common/timing.rs"]
mod timing;
use timing::{human, median_secs, parse_size, plain_axpy};

struct Buffers {
    x: Vec<f32>,
    g: Vec<f32>,
    prev: Vec<f32>,
    m: Vec<f32>,
    pos: Vec<u64>,
    neg: Vec<u64>,
    counts: Vec<i32>,
}

impl Buffers {
    fn new(n: usize) -> Self {
        let g: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 13) as f32 - 6.0 + 0.25)
            .collect();
        let mut pos = vec![0; packed_words(n)];
        let mut neg = vec![0; packed_words(n)];
        Kernels::detect().pack_signs_2bit(&g, &mut pos, &mut neg);
        Self {
            x: (0..n).map(|i| (i % 97) as f32 * 0.01).collect(),
            prev: g.iter().map(|v| v * 0.5 - 1.0).collect(),
            m: vec![0.1; n],
            counts: vec![0; n],
            g,
            pos,
            neg,
        }
    }
}

fn line(name: &str, backend: &str, n: usize, threads: usize, bpe: f64, secs: f64, roof: f64) {
    let gbps = bpe * n as f64 / secs / 1e9;
    println!(
        "{name:<26} {backend:<7} {:>5} {threads:>2}  {bpe:>5.2}  {gbps:>7.2}  {roof:>7.2}  {:>5.2}",
        human(n),
        gbps / roof
    );
}

fn summary(sizes: &[usize]) {
    let best = Backend::detect();
    let all = Kernels::detect().threads();
    println!("# signfree kernel summary: f32, detected backend {best}, {all} threads available");
    println!(
        "# {:<24} {:<7} {:>5} {:>2}  {:>5}  {:>7}  {:>7}  {:>5}",
        "kernel", "backend", "n", "t", "B/el", "GB/s", "roof", "ratio"
    );
    for &n in sizes {
        let mut b = Buffers::new(n);
        for threads in [1, all] {
            let k = Kernels::new(best).unwrap().with_threads(threads);
            let (gamma, decay) = (black_box(1e-7_f32), black_box(1.0_f32));

            // The roofline, in this run, on this thread count.
            let plain = median_secs(|| plain_axpy(&mut b.x, &b.g, -1e-7, threads));
            let lib = median_secs(|| k.axpy(&mut b.x, &b.g, black_box(-1e-7)));
            let roof = 12.0 * n as f64 / plain.min(lib) / 1e9;
            line(
                "roofline: plain x+=s*g",
                "default",
                n,
                threads,
                12.0,
                plain,
                roof,
            );
            line(
                "roofline: axpy kernel",
                best.name(),
                n,
                threads,
                12.0,
                lib,
                roof,
            );
            let mut dst = vec![0.0_f32; n];
            let t = median_secs(|| dst.copy_from_slice(black_box(&b.g)));
            line("copy (memcpy)", "libc", n, threads, 8.0, t, roof);
            drop(dst);

            let mut backends = vec![best];
            for extra in [Backend::Avx2, Backend::Scalar] {
                if extra != best && extra.is_supported() {
                    backends.push(extra);
                }
            }
            for &be in &backends {
                let k = Kernels::new(be).unwrap().with_threads(threads);
                let t = median_secs(|| k.sign_step(&mut b.x, &b.g, gamma, decay));
                line("sign_step", be.name(), n, threads, 12.0, t, roof);
                // One ALIAS step's vector work: statistics pass (read g, prev: 8 B) then the
                // fused update storing g (read x, g; write x, prev: 16 B) = 24 B/elem.
                let t = median_secs(|| {
                    black_box(k.alias_stats(&b.g, &b.prev, &b.prev));
                    black_box(k.sign_step_store(&mut b.x, &b.g, &mut b.prev, gamma, decay));
                });
                line(
                    "alias_step (stats+store)",
                    be.name(),
                    n,
                    threads,
                    24.0,
                    t,
                    roof,
                );
                // Its two passes separately.
                let t = median_secs(|| {
                    black_box(k.alias_stats(&b.g, &b.prev, &b.prev));
                });
                line("alias_stats", be.name(), n, threads, 8.0, t, roof);
                let t = median_secs(|| {
                    black_box(k.sign_step_store(&mut b.x, &b.g, &mut b.prev, gamma, decay));
                });
                line("sign_step_store", be.name(), n, threads, 16.0, t, roof);
                let t = median_secs(|| {
                    black_box(k.momentum_sign_step_store(
                        &mut b.x,
                        &mut b.m,
                        &b.g,
                        &mut b.prev,
                        0.9,
                        0.1,
                        gamma,
                        decay,
                    ));
                });
                line(
                    "momentum_sign_step_store",
                    be.name(),
                    n,
                    threads,
                    24.0,
                    t,
                    roof,
                );
            }

            let t = median_secs(|| {
                k.momentum_sign_step(&mut b.x, &mut b.m, &b.g, 0.9, 0.1, gamma, decay)
            });
            line("momentum_sign_step", best.name(), n, threads, 20.0, t, roof);
            let t = median_secs(|| {
                black_box(k.first_non_finite(&b.g));
            });
            line("first_non_finite", best.name(), n, threads, 4.0, t, roof);
            let t = median_secs(|| {
                black_box(k.inf_norm(&b.g));
            });
            line("inf_norm", best.name(), n, threads, 4.0, t, roof);
            let t = median_secs(|| k.pack_signs_2bit(&b.g, &mut b.pos, &mut b.neg));
            line("pack_signs_2bit", best.name(), n, threads, 4.25, t, roof);
            let t = median_secs(|| {
                black_box(k.dot_sign_packed_2bit(&b.g, &b.pos, &b.neg));
            });
            line(
                "dot_sign_packed_2bit",
                best.name(),
                n,
                threads,
                4.25,
                t,
                roof,
            );
            let t = median_secs(|| k.accumulate_signs_2bit(&b.pos, &b.neg, &mut b.counts));
            line(
                "accumulate_signs_2bit",
                best.name(),
                n,
                threads,
                8.25,
                t,
                roof,
            );
            let t = median_secs(|| k.vote_from_counts(&b.counts, &mut b.m));
            line("vote_from_counts", best.name(), n, threads, 8.0, t, roof);
        }
    }
}

/// Times the sign step on 1 and 2 threads (threshold 0) for growing `n`: where the second
/// thread starts to pay is the basis of `PARALLEL_THRESHOLD`.
fn threshold() {
    let best = Backend::detect();
    let one = Kernels::new(best).unwrap().with_threads(1);
    let two = one.with_threads(2).with_parallel_threshold(0);
    println!("# sign_step f32, backend {best}: 1 vs 2 threads");
    println!(
        "# {:>8} {:>10} {:>10} {:>8}",
        "n", "1t µs", "2t µs", "speedup"
    );
    for n in [
        64 << 10,
        256 << 10,
        512 << 10,
        1 << 20,
        3 << 19,
        2 << 20,
        3 << 20,
        4 << 20,
        8 << 20,
        16 << 20,
    ] {
        let b = Buffers::new(n);
        let mut x = b.x.clone();
        let t1 = median_secs(|| one.sign_step(&mut x, &b.g, black_box(1e-7), 1.0));
        let t2 = median_secs(|| two.sign_step(&mut x, &b.g, black_box(1e-7), 1.0));
        println!(
            "  {:>8} {:>10.1} {:>10.1} {:>8.2}",
            human(n),
            t1 * 1e6,
            t2 * 1e6,
            t1 / t2
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--threshold") {
        return threshold();
    }
    let sizes = match args.iter().position(|a| a == "--sizes") {
        Some(i) => args
            .get(i + 1)
            .expect("--sizes needs a list like 1M,16M")
            .split(',')
            .map(|s| parse_size(s).unwrap_or_else(|e| panic!("{e}")))
            .collect(),
        None => vec![16 << 20, 128 << 20],
    };
    summary(&sizes);
}
