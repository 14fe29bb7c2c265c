//! One line per optimizer: what a user's `Optimizer::step` costs, against the memory roofline
//! measured in the same run.
//!
//! ```text
//! cargo run --release --example step_summary                      # 1M and 16M f32, 1 and 2 threads
//! cargo run --release --example step_summary -- --sizes 1M,16M,128M
//! cargo run --release --example step_summary -- --only AdamW,Prodigy
//! ```
//!
//! Every optimizer is stepped through the public `step_flat` on one `f32` tensor of `n`
//! elements, in the default build a user gets, on the quadratic `½‖x − c‖²`: before each step
//! the gradient `x − c` at the current `x` is written (untimed, as a backward pass would), and
//! only the `step` call is timed. The time is the median over at least 9 calls (as many as fit in
//! half a second, at most 301).
//!
//! Two rooflines, timed the same way (gradient written, then one call) on the same `n` and
//! thread count: a plain Rust loop `x ← x + s·g` and the crate's `axpy` kernel, both 12 bytes per
//! element. `B/el` is the traffic the method's contract needs, the separate read of `g` for
//! the input check included (see `examples/common/step_methods.rs`); `ratio` = (`B/el` · n /
//! time) ÷ the faster roofline's GB/s. A third line times a pass that only reads `x` and `g`
//! (8 bytes per element, no writes): on machines where a core reads memory more slowly than it
//! streams a read-modify-write, methods with read-only passes (the statistics of ALIAS, every
//! step's input check) are bounded below the roofline, and this line shows by how much.

use signfree::kernels::{Backend, Kernels};
use std::hint::black_box;
use std::time::Instant;

#[path = "common/timing.rs"]
mod timing;
use timing::{human, parse_size, plain_axpy, read_only};

#[path = "common/step_methods.rs"]
mod step_methods;
use step_methods::{gradient, quadratic, step_methods};

/// Median seconds of `timed(x, g)`, each call preceded by writing the gradient at `x` into `g`
/// (untimed).
fn median_call_secs(
    x: &mut [f32],
    c: &[f32],
    g: &mut [f32],
    mut timed: impl FnMut(&mut [f32], &[f32]),
) -> f64 {
    gradient(x, c, g);
    timed(x, g); // warm-up (page faults, caches, frequency)
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 9 || (samples.len() < 301 && start.elapsed().as_secs_f64() < 0.5) {
        gradient(x, c, g);
        let t = Instant::now();
        timed(x, g);
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
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
        "# {:<28} {:>5} {:>2}  {:>5}  {:>9}  {:>7}  {:>7}  {:>7}  {:>5}",
        "method", "n", "t", "B/el", "ms/step", "GB/s", "plain", "axpy", "ratio"
    );
    for &n in &sizes {
        let (mut x, c) = quadratic(n);
        let mut g = vec![0.0_f32; n];
        let mut threads = vec![1];
        if all > 1 {
            threads.push(all);
        }
        for &t in &threads {
            let k = Kernels::detect().with_threads(t);
            let plain = median_call_secs(&mut x, &c, &mut g, |x, g| {
                plain_axpy(x, g, black_box(-1e-7), t)
            });
            let lib = median_call_secs(&mut x, &c, &mut g, |x, g| k.axpy(x, g, black_box(-1e-7)));
            let roof = 12.0 * n as f64 / plain.min(lib) / 1e9;
            let (plain_gbps, lib_gbps) =
                (12.0 * n as f64 / plain / 1e9, 12.0 * n as f64 / lib / 1e9);
            println!(
                "  {:<28} {:>5} {t:>2}  {:>5.1}  {:>9.3}  {:>7.2}  {plain_gbps:>7.2}  {lib_gbps:>7.2}  {:>5.2}",
                "roofline x+=s*g",
                human(n),
                12.0,
                1e3 * plain.min(lib),
                roof,
                1.0
            );
            // For reading the table, not a roofline: a pass that only reads (the statistics
            // passes and the input check are such passes) over x and g, 8 B/el.
            let read = median_call_secs(&mut x, &c, &mut g, |x, g| {
                black_box(read_only(x, g, t));
            });
            let read_gbps = 8.0 * n as f64 / read / 1e9;
            println!(
                "  {:<28} {:>5} {t:>2}  {:>5.1}  {:>9.3}  {read_gbps:>7.2}  {plain_gbps:>7.2}  {lib_gbps:>7.2}  {:>5.2}",
                "(read-only pass over x, g)",
                human(n),
                8.0,
                1e3 * read,
                read_gbps / roof
            );
            for m in step_methods() {
                if only
                    .as_ref()
                    .is_some_and(|o| !o.iter().any(|name| name == m.name))
                {
                    continue;
                }
                let (x0, _) = quadratic(n);
                x.copy_from_slice(&x0);
                let mut opt = (m.build)(n, t);
                let secs = median_call_secs(&mut x, &c, &mut g, |x, g| {
                    black_box(opt.step_flat(x, g, None).expect("step"));
                });
                let gbps = m.bytes * n as f64 / secs / 1e9;
                println!(
                    "  {:<28} {:>5} {t:>2}  {:>5.1}  {:>9.3}  {gbps:>7.2}  {plain_gbps:>7.2}  {lib_gbps:>7.2}  {:>5.2}",
                    m.name,
                    human(n),
                    m.bytes,
                    1e3 * secs,
                    gbps / roof
                );
            }
        }
    }
}
