//! One line per optimizer: what a user's `Optimizer::step` costs, against the memory roofline
//! measured in the same run (issue "every `step` at the memory limit").
//!
//! ```text
//! cargo run --release --example step_summary                      # 1M and 16M f32, 1 and 2 threads
//! cargo run --release --example step_summary -- --sizes 1M,16M,128M
//! cargo run --release --example step_summary -- --only AdamW,Prodigy
//! ```
//!
//! Every optimizer is stepped through the public `step_flat` on one `f32` tensor of `n`
//! elements, in the default build a user gets, on the quadratic `½‖x − c‖²`: each timed call
//! computes the gradient `x − c` and steps, and the gradient loop alone (timed in the same run)
//! is subtracted. Real gradients matter: synthetic ones that do not match the moves drive the
//! adaptive stepsizes into subnormal numbers, whose arithmetic is many times slower. Times are
//! medians of 9 timings (each repeats the call until it lasts at least 20 ms).
//!
//! The roofline is an in-place `x ← x + s·g` pass (12 bytes/elem) over the same `n` on the same
//! thread count: the faster of a plain Rust loop and the crate's `axpy` kernel. `B/el` is the
//! traffic the method's contract needs at least (its state read and written once, `g` read as
//! often as the method must: ALIAS reads it twice because `γ_t` depends on statistics of all of
//! `g`), *without* the separate read of `g` for the input check (NaN/inf, size limits) that
//! atomic steps make first; `ratio` = (`B/el` · n / time) ÷ roofline GB/s. With the check's read
//! counted, the ratio would be (`B/el` + 4) / `B/el` times higher.

use signfree::kernels::{Backend, Kernels};
use signfree::research::{DistanceSign, DistanceSignConfig};
use signfree::{
    AdamW, AdamWConfig, AliasAdam, AliasAdamConfig, AliasSignSgd, AliasSignSgdConfig, Optimizer,
    Prodigy, ProdigyConfig, SignSgd, SignSgdConfig,
};
use std::hint::black_box;

#[path = "common/timing.rs"]
mod timing;
use timing::{human, median_secs, parse_size, plain_axpy};

/// A method of the table: name, minimal bytes/elem, whether it splits across threads, and a
/// constructor for `n` elements on `threads` threads.
type Build = fn(usize, usize) -> Box<dyn Optimizer<f32>>;

fn methods() -> Vec<(&'static str, f64, bool, Build)> {
    vec![
        ("SignSgd", 12.0, true, |n, t| {
            Box::new(
                SignSgd::new(SignSgdConfig::default(), &[n])
                    .unwrap()
                    .with_threads(t),
            )
        }),
        ("Signum (momentum 0.9)", 20.0, true, |n, t| {
            let c = SignSgdConfig {
                momentum: Some(0.9),
                ..Default::default()
            };
            Box::new(SignSgd::new(c, &[n]).unwrap().with_threads(t))
        }),
        ("AliasSignSgd", 24.0, true, |n, t| {
            Box::new(
                AliasSignSgd::new(AliasSignSgdConfig::default(), &[n])
                    .unwrap()
                    .with_threads(t),
            )
        }),
        ("ALIAS sign-only memory", 16.5, true, |n, t| {
            let c = AliasSignSgdConfig {
                memory: signfree::AliasMemory::SignOnly,
                ..Default::default()
            };
            Box::new(AliasSignSgd::new(c, &[n]).unwrap().with_threads(t))
        }),
        ("AliasAdam", 48.0, true, |n, t| {
            Box::new(
                AliasAdam::new(AliasAdamConfig::default(), &[n])
                    .unwrap()
                    .with_threads(t),
            )
        }),
        ("AdamW", 28.0, true, |n, t| {
            Box::new(
                AdamW::new(AdamWConfig::default(), &[n])
                    .unwrap()
                    .with_threads(t),
            )
        }),
        ("Prodigy", 40.0, true, |n, t| {
            Box::new(
                Prodigy::new(ProdigyConfig::default(), &[n])
                    .unwrap()
                    .with_threads(t),
            )
        }),
        ("R5 DistanceSign (research)", 28.0, true, |n, t| {
            Box::new(
                DistanceSign::new(DistanceSignConfig::default(), &[n])
                    .unwrap()
                    .with_threads(t),
            )
        }),
    ]
}

fn main() {
    let mut sizes = vec![1 << 20, 16 << 20];
    let mut only: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sizes" => {
                let v = args.next().unwrap_or_default();
                match v.split(',').map(parse_size).collect() {
                    Ok(s) => sizes = s,
                    Err(e) => {
                        eprintln!("step_summary: {e}");
                        std::process::exit(2);
                    }
                }
            }
            "--only" => {
                only = Some(
                    args.next()
                        .unwrap_or_default()
                        .split(',')
                        .map(String::from)
                        .collect(),
                )
            }
            _ => {
                eprintln!("usage: step_summary [--sizes 1M,16M,128M] [--only AdamW,Prodigy]");
                std::process::exit(2);
            }
        }
    }
    let all = Kernels::detect().threads();
    println!(
        "# signfree Optimizer::step summary: f32, backend {}, {all} threads available",
        Backend::detect()
    );
    println!(
        "# {:<28} {:>5} {:>2}  {:>5}  {:>9}  {:>7}  {:>7}  {:>5}",
        "method", "n", "t", "B/el", "ms/step", "GB/s", "roof", "ratio"
    );
    for &n in &sizes {
        let g: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 13) as f32 - 6.0 + 0.25)
            .collect();
        let mut x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.01).collect();
        let mut threads = vec![1];
        if all > 1 {
            threads.push(all);
        }
        for &t in &threads {
            let k = Kernels::detect().with_threads(t);
            let plain = median_secs(|| plain_axpy(&mut x, &g, black_box(-1e-7), t));
            let lib = median_secs(|| k.axpy(&mut x, &g, black_box(-1e-7)));
            let roof = 12.0 * n as f64 / plain.min(lib) / 1e9;
            println!(
                "  {:<28} {:>5} {t:>2}  {:>5.1}  {:>9.3}  {:>7.2}  {:>7.2}  {:>5.2}",
                "roofline x+=s*g",
                human(n),
                12.0,
                1e3 * plain.min(lib),
                roof,
                roof,
                1.0
            );
            for (name, bytes, threaded, build) in methods() {
                if (t > 1 && !threaded)
                    || only.as_ref().is_some_and(|o| !o.iter().any(|m| m == name))
                {
                    continue;
                }
                let mut opt = build(n, t);
                // Each step's gradient is that of the quadratic ½‖x − c‖² at the current x,
                // computed in the timed loop; the same loop without the step is timed too and
                // subtracted, so only the step is counted.
                let mut grad = vec![0.0_f32; n];
                let gradient = |x: &[f32], grad: &mut [f32]| {
                    for ((gi, xi), ci) in grad.iter_mut().zip(x).zip(&g) {
                        *gi = xi - ci;
                    }
                };
                let with_step = median_secs(|| {
                    gradient(&x, &mut grad);
                    black_box(opt.step_flat(&mut x, &grad, None).expect("step"));
                });
                let alone = median_secs(|| {
                    gradient(black_box(&x), &mut grad);
                    black_box(&mut grad);
                });
                let secs = (with_step - alone).max(1e-9);
                let gbps = bytes * n as f64 / secs / 1e9;
                println!(
                    "  {name:<28} {:>5} {t:>2}  {bytes:>5.1}  {:>9.3}  {gbps:>7.2}  {roof:>7.2}  {:>5.2}",
                    human(n),
                    1e3 * secs,
                    gbps / roof
                );
            }
        }
    }
}
