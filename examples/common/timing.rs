//! Timing helpers shared by the `kernel_summary` and `step_summary` examples and the `kernels` and
//! `step` benches (included with `#[path]`): medians of repeated timings, the plain-loop
//! roofline and a read-only pass, sizes like `16M`.

// Each includer uses a part.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Median of 9 timings of `f`, each long enough to be measured reliably; seconds per call.
pub fn median_secs(mut f: impl FnMut()) -> f64 {
    f(); // warm-up (page faults, caches, frequency)
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_nanos(100));
    let reps = (Duration::from_millis(20).as_secs_f64() / once.as_secs_f64()).ceil() as usize;
    let reps = reps.clamp(1, 1_000_000);
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The plain in-place loop `x ← x + s·g` on `threads` threads, split as the kernels split
/// (one contiguous chunk per thread, the first on this thread, the others on rayon's pool).
pub fn plain_axpy(x: &mut [f32], g: &[f32], s: f32, threads: usize) {
    fn run(x: &mut [f32], g: &[f32], s: f32) {
        for (xi, gi) in x.iter_mut().zip(g) {
            *xi += s * gi;
        }
    }
    if threads <= 1 {
        return run(x, g, s);
    }
    let cl = x.len().div_ceil(threads);
    let mut chunks = x.chunks_mut(cl).zip(g.chunks(cl));
    let first = chunks.next();
    rayon::in_place_scope(|scope| {
        for (xc, gc) in chunks {
            scope.spawn(move |_| run(xc, gc, s));
        }
        if let Some((xc, gc)) = first {
            run(xc, gc, s);
        }
    });
}

/// `Σ (x_i − g_i)` in 16 `f32` lanes on `threads` threads, split like [`plain_axpy`]: a pass
/// that reads two vectors and writes nothing.
pub fn read_only(x: &[f32], g: &[f32], threads: usize) -> f32 {
    fn run(x: &[f32], g: &[f32]) -> f32 {
        let mut acc = [0.0_f32; 16];
        for (xc, gc) in x.as_chunks::<16>().0.iter().zip(g.as_chunks::<16>().0) {
            for j in 0..16 {
                acc[j] += xc[j] - gc[j];
            }
        }
        acc.iter().sum()
    }
    if threads <= 1 {
        return run(x, g);
    }
    let cl = x.len().div_ceil(threads);
    let (first, rest) = (x.len().min(cl), threads - 1);
    let (sum_first, sum_rest) = rayon::join(
        || run(&x[..first], &g[..first]),
        || read_only(&x[first..], &g[first..], rest),
    );
    sum_first + sum_rest
}

pub fn human(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{}M", n >> 20)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 19) {
        format!("{}.5M", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .map(|v| v * mult)
        .map_err(|_| format!("not a size like 4K, 16M or 1000: {s}"))
}
