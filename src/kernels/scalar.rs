//! Reference kernels: the semantics every backend reproduces.
//!
//! Conventions (spec section 0):
//! - `sign(+0) = sign(-0) = 0`, `sign(v) = ±1` otherwise; `sign(NaN) = 0` (every comparison with
//!   NaN is false). Optimizers reject non-finite gradients before any kernel runs, so the NaN
//!   rule only matters for direct kernel users.
//! - Updates are evaluated exactly as written, left to right, with no fused multiply-add:
//!   `x ← (x·decay) − γ·sign(g)`; since `γ·sign(g)` is exact, the result is one rounding of the
//!   product and one of the difference, which any backend can reproduce bit for bit.
//! - Reductions accumulate in `f64`, in index order.

use crate::float::Float;

/// `sign(v)` with `sign(±0) = 0` and `sign(NaN) = 0`.
///
/// ```
/// use signfree::kernels::sign;
/// assert_eq!(sign(-0.0_f32), 0.0);
/// assert_eq!(sign(3.5_f64), 1.0);
/// assert_eq!(sign(-1e-300_f64), -1.0);
/// ```
#[inline(always)]
pub fn sign<F: Float>(v: F) -> F {
    if v > F::ZERO {
        F::ONE
    } else if v < F::ZERO {
        -F::ONE
    } else {
        F::ZERO
    }
}

/// Index of the first NaN or infinite element, if any.
pub fn first_non_finite<F: Float>(v: &[F]) -> Option<usize> {
    v.iter().position(|e| !e.is_finite())
}

/// Sign step with decoupled decay: `x[i] ← x[i]·decay − γ·sign(g[i])`.
///
/// With `decay = 1` the product is exact, so this is the plain Sign-SGD step.
///
/// # Panics
/// If `x` and `g` differ in length.
pub fn sign_step<F: Float>(x: &mut [F], g: &[F], gamma: F, decay: F) {
    assert_eq!(x.len(), g.len(), "sign_step: length mismatch");
    for (xi, &gi) in x.iter_mut().zip(g) {
        *xi = *xi * decay - gamma * sign(gi);
    }
}

/// Momentum sign step (Signum): `m ← β·m + (1−β)·g`, then `x ← x·decay − γ·sign(m)`.
///
/// `one_minus_beta` is passed in so that the caller rounds `1 − β` once.
///
/// # Panics
/// If the three slices differ in length.
pub fn momentum_sign_step<F: Float>(
    x: &mut [F],
    m: &mut [F],
    g: &[F],
    beta: F,
    one_minus_beta: F,
    gamma: F,
    decay: F,
) {
    assert!(
        x.len() == g.len() && m.len() == g.len(),
        "momentum_sign_step: length mismatch"
    );
    for ((xi, mi), &gi) in x.iter_mut().zip(m.iter_mut()).zip(g) {
        *mi = beta * *mi + one_minus_beta * gi;
        *xi = *xi * decay - gamma * sign(*mi);
    }
}

/// `‖v‖_1` accumulated in `f64`.
pub fn l1_norm<F: Float>(v: &[F]) -> f64 {
    v.iter().map(|e| e.to_f64().abs()).sum()
}

/// `‖v‖_∞` in `f64` (0 for an empty slice).
pub fn inf_norm<F: Float>(v: &[F]) -> f64 {
    v.iter().fold(0.0, |acc, e| acc.max(e.to_f64().abs()))
}

/// The ALIAS statistics of one step, accumulated in `f64` (see [`alias_stats`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AliasStats {
    /// `‖g − prev‖_1`.
    pub diff_l1: f64,
    /// `⟨g, sign(dir)⟩`.
    pub dot_sign: f64,
    /// `false` if any element of `g` is NaN or infinite.
    pub finite: bool,
}

/// One pass computing `‖g − prev‖_1`, `⟨g, sign(dir)⟩` and whether `g` is finite.
///
/// `prev` is the previous gradient (or, in same-sample mode, the previous point's gradient on the
/// current batch); `dir` is what the previous direction was the sign of (`g_{t−1}` for ALIAS,
/// the momentum buffer for ALIAS with momentum). The two may be the same slice.
///
/// # Panics
/// If the slices differ in length.
pub fn alias_stats<F: Float>(g: &[F], prev: &[F], dir: &[F]) -> AliasStats {
    assert!(
        g.len() == prev.len() && g.len() == dir.len(),
        "alias_stats: length mismatch"
    );
    let (mut diff_l1, mut dot_sign, mut finite) = (0.0_f64, 0.0_f64, true);
    for ((&gi, &pi), &di) in g.iter().zip(prev).zip(dir) {
        finite &= gi.is_finite();
        diff_l1 += (gi.to_f64() - pi.to_f64()).abs();
        dot_sign += gi.to_f64() * sign(di).to_f64();
    }
    AliasStats {
        diff_l1,
        dot_sign,
        finite,
    }
}

/// Fused ALIAS update: `x ← x·decay − γ·sign(g)`, `store ← g`; returns `max_i |x_new − x_old|`
/// (in `f64`), the exact `‖x_{t+1} − x_t‖_∞` the next step's smoothness sample divides by.
///
/// # Panics
/// If the slices differ in length.
pub fn sign_step_store<F: Float>(x: &mut [F], g: &[F], store: &mut [F], gamma: F, decay: F) -> f64 {
    assert!(
        x.len() == g.len() && store.len() == g.len(),
        "sign_step_store: length mismatch"
    );
    let mut moved = 0.0_f64;
    for ((xi, &gi), si) in x.iter_mut().zip(g).zip(store.iter_mut()) {
        let old = *xi;
        *xi = old * decay - gamma * sign(gi);
        *si = gi;
        moved = moved.max((xi.to_f64() - old.to_f64()).abs());
    }
    moved
}

/// Fused ALIAS update with momentum: `m ← β·m + (1−β)·g`, `x ← x·decay − γ·sign(m)`,
/// `store ← g`; returns `max_i |x_new − x_old|` in `f64`.
///
/// # Panics
/// If the slices differ in length.
#[allow(clippy::too_many_arguments)]
pub fn momentum_sign_step_store<F: Float>(
    x: &mut [F],
    m: &mut [F],
    g: &[F],
    store: &mut [F],
    beta: F,
    one_minus_beta: F,
    gamma: F,
    decay: F,
) -> f64 {
    assert!(
        x.len() == g.len() && m.len() == g.len() && store.len() == g.len(),
        "momentum_sign_step_store: length mismatch"
    );
    let mut moved = 0.0_f64;
    for (((xi, mi), &gi), si) in x.iter_mut().zip(m.iter_mut()).zip(g).zip(store.iter_mut()) {
        let old = *xi;
        *mi = beta * *mi + one_minus_beta * gi;
        *xi = old * decay - gamma * sign(*mi);
        *si = gi;
        moved = moved.max((xi.to_f64() - old.to_f64()).abs());
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_of_special_values() {
        assert_eq!(sign(0.0_f32).to_bits(), 0.0_f32.to_bits());
        assert_eq!(sign(-0.0_f32), 0.0);
        assert_eq!(sign(f32::NAN), 0.0);
        assert_eq!(sign(f64::INFINITY), 1.0);
        assert_eq!(sign(f64::NEG_INFINITY), -1.0);
        assert_eq!(sign(f32::from_bits(1)), 1.0); // smallest subnormal
        assert_eq!(sign(-f64::from_bits(1)), -1.0);
    }

    #[test]
    fn sign_step_by_hand() {
        let mut x = [1.0_f64, -2.0, 0.5, 3.0];
        let g = [0.3, -0.0, -7.0, 0.0];
        sign_step(&mut x, &g, 0.25, 1.0);
        assert_eq!(x, [0.75, -2.0, 0.75, 3.0]);
        // With decay 1 − γ·wd = 0.9: x·0.9 − γ·sign(g).
        let mut x = [1.0_f64, -2.0];
        sign_step(&mut x, &[1.0, 1.0], 0.5, 0.9);
        assert_eq!(x, [1.0 * 0.9 - 0.5, -2.0 * 0.9 - 0.5]);
    }

    #[test]
    fn momentum_by_hand() {
        let mut x = [0.0_f32, 0.0];
        let mut m = [1.0_f32, -1.0];
        // β = 0.5: m = 0.5·m + 0.5·g = [0.5 + 0.5·(-3), -0.5 + 0.5·0.5] = [-1, -0.25].
        momentum_sign_step(&mut x, &mut m, &[-3.0, 0.5], 0.5, 0.5, 0.1, 1.0);
        assert_eq!(m, [-1.0, -0.25]);
        assert_eq!(x, [0.1, 0.1]);
    }

    #[test]
    fn alias_kernels_by_hand() {
        let g = [1.0_f64, -2.0, 0.0, 4.0];
        let prev = [0.5_f64, -2.0, 1.0, -1.0];
        // ‖g − prev‖_1 = 0.5 + 0 + 1 + 5; ⟨g, sign(prev)⟩ = 1·1 + (−2)(−1) + 0 + 4·(−1).
        let s = alias_stats(&g, &prev, &prev);
        assert_eq!(
            s,
            AliasStats {
                diff_l1: 6.5,
                dot_sign: -1.0,
                finite: true
            }
        );
        assert!(!alias_stats(&[f64::NAN], &[0.0], &[0.0]).finite);
        assert!(!alias_stats(&[f32::NEG_INFINITY], &[0.0], &[0.0]).finite);

        let mut x = [1.0_f64, 1.0, 1.0, 1.0];
        let mut store = [9.0; 4];
        let moved = sign_step_store(&mut x, &g, &mut store, 0.25, 0.5);
        assert_eq!(x, [0.25, 0.75, 0.5, 0.25]);
        assert_eq!(store, g);
        assert_eq!(moved, 0.75);

        let (mut x, mut m, mut store) = ([0.0_f32; 2], [1.0_f32, 1.0], [0.0_f32; 2]);
        let moved =
            momentum_sign_step_store(&mut x, &mut m, &[-3.0, 0.0], &mut store, 0.5, 0.5, 0.5, 1.0);
        assert_eq!(
            (x, m, store, moved),
            ([0.5, -0.5], [-1.0, 0.5], [-3.0, 0.0], 0.5)
        );
    }

    #[test]
    fn norms() {
        assert_eq!(l1_norm(&[1.0_f32, -2.5, 0.0]), 3.5);
        assert_eq!(inf_norm(&[1.0_f64, -2.5, 0.0]), 2.5);
        assert_eq!(inf_norm::<f64>(&[]), 0.0);
        assert_eq!(
            first_non_finite(&[1.0_f32, f32::INFINITY, f32::NAN]),
            Some(1)
        );
        assert_eq!(first_non_finite(&[1.0_f32]), None);
    }
}
