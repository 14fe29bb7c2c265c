//! Fused multi-buffer passes of the adaptive methods (AdamW, Prodigy, ALIAS-Adam, R5
//! `DistanceSign`): one portable body per pass, compiled twice on x86-64 (baseline SSE2 and
//! AVX2, selected by the backend) and split across threads like every other kernel.
//!
//! The bodies are written so the compiler vectorises them: element-wise arithmetic in `F`
//! (no fused multiply-add: Rust never contracts, so both compilations give the same bits), and
//! every reduction kept in [`LANES`] independent `f64` accumulators that are combined in a
//! fixed order at the end of a chunk. A sum therefore depends on the chunking (thread count),
//! never on the instruction set. `f64` accumulation of `f32` products is exact per term, and the
//! eight partial sums have the error bound of a sequential sum over each lane (`≤ (n/8)·u·Σ|t|`
//! with `u = 2⁻⁵³`), a tighter bound than one sequential sum over all `n` terms.

use super::{Backend, Kernels, parallel};
use crate::float::Float;

/// Independent accumulators per reduction (one AVX2 `f64` register pair).
const LANES: usize = 8;

/// Coefficients of one Adam-style moment update and direction, rounded to `F` once per step:
/// `m ← β1·m + c1·g`, `v ← β2·v + c2·g²`, `u = (m·k1) / (sqrt(v)·k2 + ε)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamCoefficients<F> {
    pub beta1: F,
    pub c1: F,
    pub beta2: F,
    pub c2: F,
    pub k1: F,
    pub k2: F,
    pub eps: F,
}

impl<F: Float> AdamCoefficients<F> {
    /// The direction coordinate from current moments.
    #[inline(always)]
    pub(crate) fn direction(&self, m: F, v: F) -> F {
        let denom = v.sqrt() * self.k2 + self.eps;
        (m * self.k1).div(denom)
    }
}

/// What [`Kernels::adam_stats`] measures in its one pass over `g`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AdamStats {
    /// `‖g − prev‖_1`.
    pub diff_l1: f64,
    /// `⟨g, u⟩` with `u` the direction of the moments passed in.
    pub dot: f64,
    /// `max_i |g_i|` over the finite coordinates (meaningful when `finite`).
    pub largest: f64,
    /// Whether every coordinate is finite.
    pub finite: bool,
}

/// Prodigy's per-step coefficients (`docs/ALGORITHMS.md`, Prodigy baseline), rounded to `F`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProdigyCoefficients<F> {
    pub beta1: F,
    pub c1: F,
    pub beta2: F,
    pub c2: F,
    pub beta3: F,
    pub c3: F,
    /// `γ·d`.
    pub step: F,
    /// `d·ε`.
    pub eps: F,
    /// `1 − γ·d·λ`.
    pub decay: F,
}

/// One chunk of Prodigy's buffers: `x, m, v, s, x0, g`.
type ProdigyChunk<'a, F> = (
    &'a mut [F],
    &'a mut [F],
    &'a mut [F],
    &'a mut [F],
    &'a [F],
    &'a [F],
);

/// The chunk of every buffer one Adam update touches; `store` is empty unless `g` is kept.
struct AdamChunk<'a, F> {
    x: &'a mut [F],
    m: &'a mut [F],
    v: &'a mut [F],
    g: &'a [F],
    store: &'a mut [F],
}

/// One coordinate of the Adam update.
#[inline(always)]
fn adam_one<F: Float>(
    x: &mut F,
    m: &mut F,
    v: &mut F,
    g: F,
    co: &AdamCoefficients<F>,
    gamma: F,
    decay: F,
) {
    let mi = co.beta1 * *m + co.c1 * g;
    let vi = co.beta2 * *v + co.c2 * (g * g);
    *m = mi;
    *v = vi;
    let old = *x;
    *x = old * decay - gamma * co.direction(mi, vi);
}

/// `m, v` updated, `x ← x·decay − γ·u`, `g` copied into `store` if `STORE`; returns
/// `max_i |x_new − x_old|` (in `f64`) if `TRACK`, else 0. The main loop runs over whole
/// blocks of [`LANES`] (`chunks_exact`, so no bounds checks stop the vectoriser).
#[inline(always)]
fn adam_update_body<F: Float, const TRACK: bool, const STORE: bool>(
    c: AdamChunk<'_, F>,
    co: &AdamCoefficients<F>,
    gamma: F,
    decay: F,
) -> f64 {
    let AdamChunk { x, m, v, g, store } = c;
    if !TRACK {
        // Nothing to reduce: one plain loop, which the compiler vectorises directly.
        let main = x.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g);
        if STORE {
            for ((((x, m), v), &g), s) in main.zip(store.iter_mut()) {
                adam_one(x, m, v, g, co, gamma, decay);
                *s = g;
            }
        } else {
            for (((x, m), v), &g) in main {
                adam_one(x, m, v, g, co, gamma, decay);
            }
        }
        return 0.0;
    }
    // |x_new − x_old| is formed in `F` (the difference of two floats of one type is exact when
    // they are within a factor of two of each other, Sterbenz, and otherwise correctly
    // rounded, so this is the exact move to within half an ulp of `F`); the maximum is taken
    // over the magnitudes' bits, an integer maximum that vectorises.
    let mut moved = F::Bits::default();
    let main = x.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g);
    if STORE {
        for ((((x, m), v), &g), s) in main.zip(store.iter_mut()) {
            let d = adam_one_f(x, m, v, g, co, gamma, decay);
            moved = moved.max(d.magnitude_bits());
            *s = g;
        }
    } else {
        for (((x, m), v), &g) in main {
            let d = adam_one_f(x, m, v, g, co, gamma, decay);
            moved = moved.max(d.magnitude_bits());
        }
    }
    F::from_magnitude_bits(moved).to_f64()
}

/// [`adam_one`] with the move `|x_new − x_old|` formed in `F`.
#[inline(always)]
fn adam_one_f<F: Float>(
    x: &mut F,
    m: &mut F,
    v: &mut F,
    g: F,
    co: &AdamCoefficients<F>,
    gamma: F,
    decay: F,
) -> F {
    let mi = co.beta1 * *m + co.c1 * g;
    let vi = co.beta2 * *v + co.c2 * (g * g);
    *m = mi;
    *v = vi;
    let old = *x;
    let new = old * decay - gamma * co.direction(mi, vi);
    *x = new;
    new - old
}

/// One coordinate of Prodigy's pass; adds to the two sums.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn prodigy_one<F: Float>(
    x: &mut F,
    m: &mut F,
    v: &mut F,
    s: &mut F,
    x0: F,
    g: F,
    co: &ProdigyCoefficients<F>,
    dot: &mut f64,
    s_l1: &mut f64,
) {
    *dot += g.to_f64() * (x0.to_f64() - x.to_f64());
    let mi = co.beta1 * *m + co.c1 * g;
    let vi = co.beta2 * *v + co.c2 * (g * g);
    let si = co.beta3 * *s + co.c3 * g;
    *m = mi;
    *v = vi;
    *s = si;
    *s_l1 += si.to_f64().abs();
    *x = *x * co.decay - co.step * mi.div(vi.sqrt() + co.eps);
}

/// Prodigy's fused pass: the moments `m, v, s`, the update, and the two sums of its estimator,
/// `Σ g·(x0 − x)` (before the update) and `Σ |s|` (after). Returns `(dot, s_l1)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn prodigy_update_body<F: Float>(
    x: &mut [F],
    m: &mut [F],
    v: &mut [F],
    s: &mut [F],
    x0: &[F],
    g: &[F],
    co: &ProdigyCoefficients<F>,
) -> (f64, f64) {
    let (mut dot, mut s_l1) = ([0.0_f64; LANES], [0.0_f64; LANES]);
    let blocks = x.len() / LANES * LANES;
    for (((((x, m), v), s), x0), g) in x[..blocks]
        .chunks_exact_mut(LANES)
        .zip(m[..blocks].chunks_exact_mut(LANES))
        .zip(v[..blocks].chunks_exact_mut(LANES))
        .zip(s[..blocks].chunks_exact_mut(LANES))
        .zip(x0[..blocks].chunks_exact(LANES))
        .zip(g[..blocks].chunks_exact(LANES))
    {
        for j in 0..LANES {
            prodigy_one(
                &mut x[j],
                &mut m[j],
                &mut v[j],
                &mut s[j],
                x0[j],
                g[j],
                co,
                &mut dot[j],
                &mut s_l1[j],
            );
        }
    }
    for k in blocks..x.len() {
        prodigy_one(
            &mut x[k],
            &mut m[k],
            &mut v[k],
            &mut s[k],
            x0[k],
            g[k],
            co,
            &mut dot[0],
            &mut s_l1[0],
        );
    }
    (dot.into_iter().sum(), s_l1.into_iter().sum())
}

/// ALIAS-Adam's statistics pass: `‖g − prev‖_1`, `⟨g, u(m, v)⟩`, `max |g|` and finiteness.
/// The sums run in [`LANES`] `f64` lanes; the maximum over the magnitudes' bits, which also
/// finds NaN and infinity (their bits lie above every finite magnitude's).
#[inline(always)]
fn adam_stats_body<F: Float>(
    g: &[F],
    prev: &[F],
    m: &[F],
    v: &[F],
    co: &AdamCoefficients<F>,
) -> AdamStats {
    let (mut diff, mut dot) = ([0.0_f64; LANES], [0.0_f64; LANES]);
    let mut largest = F::Bits::default();
    let one = |g: F, prev: F, m: F, v: F, diff: &mut f64, dot: &mut f64| {
        *diff += (g.to_f64() - prev.to_f64()).abs();
        *dot += g.to_f64() * co.direction(m, v).to_f64();
    };
    // Blocks of `BLOCK` elements: the directions first, in a plain loop over `F` that the
    // compiler vectorises (computed inside the `f64` lane loop they are not), then the sums
    // from L1.
    const BLOCK: usize = 256;
    let mut u = [F::ZERO; BLOCK];
    let blocks = g.len() / LANES * LANES;
    for start in (0..blocks).step_by(BLOCK) {
        let end = (start + BLOCK).min(blocks);
        let u = &mut u[..end - start];
        for ((u, &m), &v) in u.iter_mut().zip(&m[start..end]).zip(&v[start..end]) {
            *u = co.direction(m, v);
        }
        // One sweep per result (one accumulator pattern per loop is what vectorises).
        let (g, p) = (&g[start..end], &prev[start..end]);
        let g8 = g.as_chunks::<LANES>().0;
        for (g, p) in g8.iter().zip(p.as_chunks::<LANES>().0) {
            for j in 0..LANES {
                diff[j] += (g[j].to_f64() - p[j].to_f64()).abs();
            }
        }
        for (g, u) in g8.iter().zip(u.as_chunks::<LANES>().0) {
            for j in 0..LANES {
                dot[j] += g[j].to_f64() * u[j].to_f64();
            }
        }
        for &g in g {
            largest = largest.max(g.magnitude_bits());
        }
    }
    for k in blocks..g.len() {
        one(g[k], prev[k], m[k], v[k], &mut diff[0], &mut dot[0]);
        largest = largest.max(g[k].magnitude_bits());
    }
    let largest = F::from_magnitude_bits(largest).to_f64();
    AdamStats {
        diff_l1: diff.into_iter().sum(),
        dot: dot.into_iter().sum(),
        largest,
        finite: largest.is_finite(),
    }
}

/// R5's per-step coefficients (`research::DistanceSign`), rounded to `F`: the direction
/// `u = sign(β1·m + c1·g)`, then `m ← β2·m + c2·g`, `x ← x − γ·u`, `z ← z + γ·u`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DistanceCoefficients<F> {
    pub beta1: F,
    pub c1: F,
    pub beta2: F,
    pub c2: F,
    pub step: F,
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn distance_one<F: Float>(
    x: &mut F,
    m: &mut F,
    z: &mut F,
    g: F,
    co: &DistanceCoefficients<F>,
    dot: &mut f64,
    m_l1: &mut f64,
) {
    *dot += g.to_f64() * z.to_f64();
    // sign(β1·m + c1·g) without branches (inputs are finite, so no NaN reaches it).
    let u = F::ONE.mul_sign_of(co.beta1 * *m + co.c1 * g);
    let mi = co.beta2 * *m + co.c2 * g;
    *m = mi;
    *m_l1 += mi.to_f64().abs();
    *x = *x - co.step * u;
    *z = *z + co.step * u;
}

/// R5's fused pass over one tensor; returns `(⟨g, z⟩, ‖m‖_1)` with `z` before and `m` after
/// the update.
#[inline(always)]
fn distance_update_body<F: Float>(
    x: &mut [F],
    m: &mut [F],
    z: &mut [F],
    g: &[F],
    co: &DistanceCoefficients<F>,
) -> (f64, f64) {
    let (mut dot, mut m_l1) = ([0.0_f64; LANES], [0.0_f64; LANES]);
    let blocks = x.len() / LANES * LANES;
    for (((x, m), z), g) in x[..blocks]
        .chunks_exact_mut(LANES)
        .zip(m[..blocks].chunks_exact_mut(LANES))
        .zip(z[..blocks].chunks_exact_mut(LANES))
        .zip(g[..blocks].chunks_exact(LANES))
    {
        for j in 0..LANES {
            distance_one(
                &mut x[j],
                &mut m[j],
                &mut z[j],
                g[j],
                co,
                &mut dot[j],
                &mut m_l1[j],
            );
        }
    }
    for k in blocks..x.len() {
        distance_one(
            &mut x[k],
            &mut m[k],
            &mut z[k],
            g[k],
            co,
            &mut dot[0],
            &mut m_l1[0],
        );
    }
    (dot.into_iter().sum(), m_l1.into_iter().sum())
}

/// The AVX2 compilations of the bodies: the same source with 256-bit vectors.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use super::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn max_abs<F: Float>(v: &[F]) -> f64 {
        F::max_abs(v)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn adam_update<F: Float, const TRACK: bool, const STORE: bool>(
        c: AdamChunk<'_, F>,
        co: &AdamCoefficients<F>,
        gamma: F,
        decay: F,
    ) -> f64 {
        adam_update_body::<F, TRACK, STORE>(c, co, gamma, decay)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn prodigy_update<F: Float>(
        x: &mut [F],
        m: &mut [F],
        v: &mut [F],
        s: &mut [F],
        x0: &[F],
        g: &[F],
        co: &ProdigyCoefficients<F>,
    ) -> (f64, f64) {
        prodigy_update_body(x, m, v, s, x0, g, co)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn adam_stats<F: Float>(
        g: &[F],
        prev: &[F],
        m: &[F],
        v: &[F],
        co: &AdamCoefficients<F>,
    ) -> AdamStats {
        adam_stats_body(g, prev, m, v, co)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn distance_update<F: Float>(
        x: &mut [F],
        m: &mut [F],
        z: &mut [F],
        g: &[F],
        co: &DistanceCoefficients<F>,
    ) -> (f64, f64) {
        distance_update_body(x, m, z, g, co)
    }

    /// Whether `backend` asks for (at least) AVX2 and this CPU has it.
    pub(super) fn usable(backend: Backend) -> bool {
        matches!(backend, Backend::Avx2 | Backend::Avx512)
            && std::arch::is_x86_feature_detected!("avx2")
    }
}

/// Runs the AVX2 compilation `avx2::$kernel` of a body where `$backend` asks for AVX2 (or
/// better) and this CPU has it, else the portable compilation `$body` (the same source).
macro_rules! avx2_or_portable {
    ($backend:expr, $kernel:ident, $body:ident $(::<$($g:ty),*>)? ($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        if avx2::usable($backend) {
            // SAFETY: `usable` checked that this CPU supports AVX2.
            #[allow(unsafe_code)]
            return unsafe { avx2::$kernel$(::<$($g),*>)?($($arg),*) };
        }
        let _ = $backend;
        $body$(::<$($g),*>)?($($arg),*)
    }};
}

fn max_abs_body<F: Float>(v: &[F]) -> f64 {
    F::max_abs(v)
}

fn adam_update_chunk<F: Float, const TRACK: bool, const STORE: bool>(
    backend: Backend,
    c: AdamChunk<'_, F>,
    co: &AdamCoefficients<F>,
    gamma: F,
    decay: F,
) -> f64 {
    avx2_or_portable!(
        backend,
        adam_update,
        adam_update_body::<F, TRACK, STORE>(c, co, gamma, decay)
    )
}

impl Kernels {
    /// The Adam moment update and step over one tensor (see [`AdamCoefficients`]):
    /// `x ← x·decay − γ·u`; `g` is copied into `store` when it is given. Returns
    /// `max_i |x_new − x_old|` when `track_move`, else 0.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn adam_update<F: Float>(
        &self,
        x: &mut [F],
        m: &mut [F],
        v: &mut [F],
        g: &[F],
        store: Option<&mut [F]>,
        co: &AdamCoefficients<F>,
        gamma: F,
        decay: F,
        track_move: bool,
    ) -> f64 {
        let n = x.len();
        assert!(
            m.len() == n && v.len() == n && g.len() == n,
            "adam_update: lengths"
        );
        let backend = self.backend();
        let keep = store.is_some();
        let store: &mut [F] = match store {
            Some(s) => {
                assert_eq!(s.len(), n, "adam_update: store length");
                s
            }
            None => &mut [],
        };
        let chunk = |c: AdamChunk<'_, F>| match (track_move, keep) {
            (false, false) => adam_update_chunk::<F, false, false>(backend, c, co, gamma, decay),
            (false, true) => adam_update_chunk::<F, false, true>(backend, c, co, gamma, decay),
            (true, false) => adam_update_chunk::<F, true, false>(backend, c, co, gamma, decay),
            (true, true) => adam_update_chunk::<F, true, true>(backend, c, co, gamma, decay),
        };
        let Some(cl) = self.split(n) else {
            return chunk(AdamChunk { x, m, v, g, store });
        };
        // One store chunk per chunk when `g` is kept (`store` has `n` elements), else empty
        // ones (`store` is empty); no allocation either way.
        let stores = store
            .chunks_mut(cl)
            .chain(std::iter::repeat_with(|| -> &mut [F] { &mut [] }));
        let mut moved = 0.0_f64;
        parallel::run(
            x.chunks_mut(cl)
                .zip(m.chunks_mut(cl))
                .zip(v.chunks_mut(cl))
                .zip(g.chunks(cl))
                .zip(stores)
                .map(|((((x, m), v), g), store)| AdamChunk { x, m, v, g, store }),
            chunk,
            |r| moved = moved.max(r),
        );
        moved
    }

    /// Prodigy's fused pass over one tensor (see [`ProdigyCoefficients`]); returns
    /// `(Σ g·(x0 − x), Σ |s|)` with `x` before and `s` after the update.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prodigy_update<F: Float>(
        &self,
        x: &mut [F],
        m: &mut [F],
        v: &mut [F],
        s: &mut [F],
        x0: &[F],
        g: &[F],
        co: &ProdigyCoefficients<F>,
    ) -> (f64, f64) {
        let n = x.len();
        assert!(
            [m.len(), v.len(), s.len(), x0.len(), g.len()]
                .iter()
                .all(|&l| l == n),
            "prodigy_update: lengths"
        );
        let backend = self.backend();
        let chunk = |(x, m, v, s, x0, g): ProdigyChunk<'_, F>| {
            avx2_or_portable!(
                backend,
                prodigy_update,
                prodigy_update_body(x, m, v, s, x0, g, co)
            )
        };
        let Some(cl) = self.split(n) else {
            return chunk((x, m, v, s, x0, g));
        };
        let (mut dot, mut s_l1) = (0.0, 0.0);
        parallel::run(
            x.chunks_mut(cl)
                .zip(m.chunks_mut(cl))
                .zip(v.chunks_mut(cl))
                .zip(s.chunks_mut(cl))
                .zip(x0.chunks(cl))
                .zip(g.chunks(cl))
                .map(|(((((x, m), v), s), x0), g)| (x, m, v, s, x0, g)),
            chunk,
            |(d, l)| {
                dot += d;
                s_l1 += l;
            },
        );
        (dot, s_l1)
    }

    /// R5's fused pass over one tensor (see [`DistanceCoefficients`]); returns
    /// `(⟨g, z⟩, ‖m‖_1)`.
    pub(crate) fn distance_update<F: Float>(
        &self,
        x: &mut [F],
        m: &mut [F],
        z: &mut [F],
        g: &[F],
        co: &DistanceCoefficients<F>,
    ) -> (f64, f64) {
        let n = x.len();
        assert!(
            m.len() == n && z.len() == n && g.len() == n,
            "distance_update: lengths"
        );
        let backend = self.backend();
        let chunk = |(x, m, z, g): (&mut [F], &mut [F], &mut [F], &[F])| {
            avx2_or_portable!(
                backend,
                distance_update,
                distance_update_body(x, m, z, g, co)
            )
        };
        let Some(cl) = self.split(n) else {
            return chunk((x, m, z, g));
        };
        let (mut dot, mut m_l1) = (0.0, 0.0);
        parallel::run(
            x.chunks_mut(cl)
                .zip(m.chunks_mut(cl))
                .zip(z.chunks_mut(cl))
                .zip(g.chunks(cl))
                .map(|(((x, m), z), g)| (x, m, z, g)),
            chunk,
            |(d, l)| {
                dot += d;
                m_l1 += l;
            },
        );
        (dot, m_l1)
    }

    /// `max_i |v_i|` as `f64` ([`Float::max_abs`], NaN if some element is NaN), split across
    /// threads like the other kernels: every step's input check runs it over the gradient.
    pub(crate) fn max_abs<F: Float>(&self, v: &[F]) -> f64 {
        let backend = self.backend();
        // The portable body compiled for AVX2 has `vpmaxud`; baseline SSE2 has no unsigned
        // 32-bit maximum and emulates it.
        let chunk = |v: &[F]| avx2_or_portable!(backend, max_abs, max_abs_body::<F>(v));
        let Some(cl) = self.split(v.len()) else {
            return chunk(v);
        };
        let mut largest = 0.0_f64;
        parallel::run(v.chunks(cl), chunk, |m| {
            // NaN wins (f64::max would drop it).
            largest = if m.is_nan() || largest.is_nan() {
                f64::NAN
            } else {
                largest.max(m)
            };
        });
        largest
    }

    /// ALIAS-Adam's statistics over one tensor (see [`AdamStats`]).
    pub(crate) fn adam_stats<F: Float>(
        &self,
        g: &[F],
        prev: &[F],
        m: &[F],
        v: &[F],
        co: &AdamCoefficients<F>,
    ) -> AdamStats {
        let n = g.len();
        assert!(
            prev.len() == n && m.len() == n && v.len() == n,
            "adam_stats: lengths"
        );
        let backend = self.backend();
        let chunk = |(g, prev, m, v): (&[F], &[F], &[F], &[F])| {
            avx2_or_portable!(backend, adam_stats, adam_stats_body(g, prev, m, v, co))
        };
        let Some(cl) = self.split(n) else {
            return chunk((g, prev, m, v));
        };
        let mut out = AdamStats {
            diff_l1: 0.0,
            dot: 0.0,
            largest: 0.0,
            finite: true,
        };
        parallel::run(
            g.chunks(cl)
                .zip(prev.chunks(cl))
                .zip(m.chunks(cl))
                .zip(v.chunks(cl))
                .map(|(((g, p), m), v)| (g, p, m, v)),
            chunk,
            |s| {
                out.diff_l1 += s.diff_l1;
                out.dot += s.dot;
                out.largest = out.largest.max(s.largest);
                out.finite &= s.finite;
            },
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coefficients() -> AdamCoefficients<f32> {
        AdamCoefficients {
            beta1: 0.9,
            c1: 0.1,
            beta2: 0.999,
            c2: 0.001,
            k1: 1.0 / (1.0 - 0.9f32.powi(3)),
            k2: 1.0 / (1.0 - 0.999f32.powi(3)).sqrt(),
            eps: 1e-8,
        }
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
                h as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Every backend and thread count gives the element-wise results of the plain per-element
    /// formula, bit for bit, and the reductions to within the f64 summation bound.
    #[test]
    fn adam_update_matches_the_formula_on_every_backend_and_thread_count() {
        let co = coefficients();
        for n in [0, 1, 7, 8, 9, 63, 1000, 4099] {
            let (x0, g) = (data(n, 1), data(n, 2));
            let (m0, v0) = (
                data(n, 3),
                data(n, 4).iter().map(|v| v * v).collect::<Vec<_>>(),
            );
            // The specification: the per-element formula, max |Δx| with Δx formed in f32.
            let (mut xe, mut me, mut ve) = (x0.clone(), m0.clone(), v0.clone());
            let mut moved = 0.0_f64;
            for k in 0..n {
                me[k] = co.beta1 * me[k] + co.c1 * g[k];
                ve[k] = co.beta2 * ve[k] + co.c2 * (g[k] * g[k]);
                let u = (me[k] * co.k1) / (ve[k].sqrt() * co.k2 + co.eps);
                let new = xe[k] * 0.999 - 0.01 * u;
                moved = moved.max(f64::from((new - xe[k]).abs()));
                xe[k] = new;
            }
            for backend in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
                for threads in [1, 2, 3] {
                    let k = Kernels::new(backend)
                        .unwrap()
                        .with_threads(threads)
                        .with_parallel_threshold(0);
                    let (mut x, mut m, mut v) = (x0.clone(), m0.clone(), v0.clone());
                    let mut store = vec![0.0; n];
                    let got = k.adam_update(
                        &mut x,
                        &mut m,
                        &mut v,
                        &g,
                        Some(&mut store),
                        &co,
                        0.01,
                        0.999,
                        true,
                    );
                    assert_eq!(
                        (&x, &m, &v, &store),
                        (&xe, &me, &ve, &g),
                        "{backend:?} {threads} n={n}"
                    );
                    assert_eq!(got, moved, "{backend:?} {threads} n={n}");
                    let (mut x, mut m, mut v) = (x0.clone(), m0.clone(), v0.clone());
                    let got =
                        k.adam_update(&mut x, &mut m, &mut v, &g, None, &co, 0.01, 0.999, false);
                    assert_eq!((&x, &m, &v, got), (&xe, &me, &ve, 0.0));
                }
            }
        }
    }

    #[test]
    fn prodigy_and_stats_sums_match_the_sequential_sums() {
        let co = coefficients();
        let pc = ProdigyCoefficients {
            beta1: 0.9f32,
            c1: 0.1,
            beta2: 0.999,
            c2: 0.001,
            beta3: 0.9995,
            c3: 0.0005,
            step: 0.01,
            eps: 1e-8,
            decay: 1.0,
        };
        for n in [0, 5, 8, 100, 4099] {
            let (x0, g, prev, s0) = (data(n, 5), data(n, 6), data(n, 7), data(n, 8));
            let (m0, v0) = (
                data(n, 9),
                data(n, 10).iter().map(|v| v * v).collect::<Vec<_>>(),
            );
            let xs: Vec<f32> = x0.iter().map(|v| v + 0.25).collect();
            // Sequential f64 sums: the specification.
            let mut dot_e = 0.0_f64;
            let mut sl1_e = 0.0_f64;
            let mut xe = xs.clone();
            for k in 0..n {
                dot_e += f64::from(g[k]) * (f64::from(x0[k]) - f64::from(xe[k]));
                let mk = pc.beta1 * m0[k] + pc.c1 * g[k];
                let vk = pc.beta2 * v0[k] + pc.c2 * (g[k] * g[k]);
                let sk = pc.beta3 * s0[k] + pc.c3 * g[k];
                sl1_e += f64::from(sk).abs();
                xe[k] = xe[k] * pc.decay - pc.step * (mk / (vk.sqrt() + pc.eps));
            }
            let (mut diff_e, mut sdot_e) = (0.0_f64, 0.0_f64);
            for k in 0..n {
                diff_e += (f64::from(g[k]) - f64::from(prev[k])).abs();
                sdot_e += f64::from(g[k]) * f64::from(co.direction(m0[k], v0[k]));
            }
            let largest_e = g.iter().fold(0.0_f64, |a, &v| a.max(f64::from(v).abs()));
            let close = |a: f64, b: f64, scale: f64| (a - b).abs() <= 1e-13 * scale.max(1.0);
            for backend in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
                for threads in [1, 2, 3] {
                    let k = Kernels::new(backend)
                        .unwrap()
                        .with_threads(threads)
                        .with_parallel_threshold(0);
                    let (mut x, mut m, mut v, mut s) =
                        (xs.clone(), m0.clone(), v0.clone(), s0.clone());
                    let (dot, sl1) = k.prodigy_update(&mut x, &mut m, &mut v, &mut s, &x0, &g, &pc);
                    assert_eq!(x, xe, "{backend:?} {threads} n={n}");
                    assert!(
                        close(dot, dot_e, n as f64) && close(sl1, sl1_e, n as f64),
                        "{dot} {dot_e} {sl1} {sl1_e}"
                    );
                    let st = k.adam_stats(&g, &prev, &m0, &v0, &co);
                    assert!(close(st.diff_l1, diff_e, n as f64) && close(st.dot, sdot_e, n as f64));
                    assert_eq!((st.largest, st.finite), (largest_e, true));
                    // Same thread count, another backend: the same bits.
                    let scalar = Kernels::new(Backend::Scalar)
                        .unwrap()
                        .with_threads(threads)
                        .with_parallel_threshold(0)
                        .adam_stats(&g, &prev, &m0, &v0, &co);
                    assert_eq!(st, scalar);
                }
            }
        }
        // R5's pass: element-wise results equal the formula, sums within the bound.
        let dc = DistanceCoefficients {
            beta1: 0.9f32,
            c1: 1e-4,
            beta2: 0.99,
            c2: 1e-5,
            step: 1e-3,
        };
        for n in [0, 3, 8, 77, 4099] {
            let (x0, g, m0, z0) = (data(n, 12), data(n, 13), data(n, 14), data(n, 15));
            let (mut xe, mut me, mut ze) = (x0.clone(), m0.clone(), z0.clone());
            let (mut dot_e, mut l1_e) = (0.0_f64, 0.0_f64);
            for k in 0..n {
                dot_e += f64::from(g[k]) * f64::from(ze[k]);
                let d = dc.beta1 * me[k] + dc.c1 * g[k];
                let u = if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                me[k] = dc.beta2 * me[k] + dc.c2 * g[k];
                l1_e += f64::from(me[k]).abs();
                xe[k] -= dc.step * u;
                ze[k] += dc.step * u;
            }
            for backend in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
                for threads in [1, 2] {
                    let k = Kernels::new(backend)
                        .unwrap()
                        .with_threads(threads)
                        .with_parallel_threshold(0);
                    let (mut x, mut m, mut z) = (x0.clone(), m0.clone(), z0.clone());
                    let (dot, l1) = k.distance_update(&mut x, &mut m, &mut z, &g, &dc);
                    assert_eq!((&x, &m, &z), (&xe, &me, &ze), "{backend:?} {threads} n={n}");
                    let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * (n as f64).max(1.0);
                    assert!(
                        close(dot, dot_e) && close(l1, l1_e),
                        "{dot} {dot_e} {l1} {l1_e}"
                    );
                }
            }
        }
        // A NaN or infinity is reported and stays out of the maximum.
        let k = Kernels::detect().with_parallel_threshold(0);
        let mut g = data(100, 11);
        g[37] = f32::NAN;
        g[80] = f32::INFINITY;
        let z = vec![0.0; 100];
        let st = k.adam_stats(&g, &z, &z, &z, &co);
        assert!(!st.finite);
    }
}
