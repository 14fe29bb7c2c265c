//! The Adam direction `u = m̂ / (sqrt(v̂) + ε)` and its fused passes, shared by AdamW, Prodigy
//! and ALIAS-Adam (one implementation of the moment updates in the crate).
//!
//! Arithmetic is in the parameter type `F` (as PyTorch does for `f32` parameters); reductions
//! accumulate in `f64`.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::fused::AdamCoefficients;
use crate::optimizer::{adam_gradient_limit, check_range};
use crate::state::{check_buffers, check_values};

/// Coefficients of one Adam-style update, rounded to `F` once per step (the fused passes that
/// use them are kernels: `crate::kernels::adam`).
///
/// `m ← β1·m + c1·g`, `v ← β2·v + c2·g²`, `u = (m·k1) / (sqrt(v)·k2 + ε)`, where `k1 = 1/bc1`
/// and `k2 = 1/sqrt(bc2)` undo the bias of zero-initialised moments (1 when not corrected).
pub(crate) type Moments<F> = AdamCoefficients<F>;

impl<F: Float> AdamCoefficients<F> {
    /// Textbook Adam at 1-based step `t`: `c1 = 1 − β1`, `c2 = 1 − β2`, bias corrections
    /// `1 − β1^t` and `1 − β2^t` (none at `t = 0`, where the moments are still zero).
    pub(crate) fn adam(beta1: f64, beta2: f64, eps: f64, t: u64) -> Self {
        let (bc1, bc2) = if t == 0 {
            (1.0, 1.0)
        } else {
            let t = t.min(i32::MAX as u64) as i32;
            (1.0 - beta1.powi(t), 1.0 - beta2.powi(t))
        };
        Self {
            beta1: F::from_f64(beta1),
            c1: F::from_f64(1.0 - beta1),
            beta2: F::from_f64(beta2),
            c2: F::from_f64(1.0 - beta2),
            k1: F::from_f64(1.0 / bc1),
            k2: F::from_f64(1.0 / bc2.sqrt()),
            eps: F::from_f64(eps),
        }
    }
}

/// Validates Adam's `β1`, `β2` and `ε` for `owner` and element type `F` (`ε` at least `F`'s
/// smallest normal value, so the denominator `sqrt(v̂) + ε` cannot round to 0).
pub(crate) fn validate_adam<F: Float>(
    owner: &'static str,
    beta1: f64,
    beta2: f64,
    eps: f64,
) -> Result<()> {
    check_range(
        owner,
        "beta1",
        beta1,
        (0.0..1.0).contains(&beta1),
        "a number in [0, 1)",
    )?;
    check_range(
        owner,
        "beta2",
        beta2,
        (0.0..1.0).contains(&beta2),
        "a number in [0, 1)",
    )?;
    check_range(
        owner,
        "eps",
        eps,
        eps >= F::MIN_POSITIVE && adam_direction_bound::<F>(beta1, eps) <= F::MAX / 2.0,
        "a finite number with sqrt(F::MAX) / ((1 - beta1) eps) <= F::MAX, so that the \
         direction fits the element type (f32 at beta1 = 0.9: eps >= 5.5e-19)",
    )
}

/// The largest magnitude of an Adam direction `u = m̂ / (sqrt(v̂) + ε)` whose first moment is a
/// running average of gradients within [`adam_gradient_limit`] `G`: `|u| ≤ |m̂|/ε ≤
/// G / ((1 − β1) ε)` (the bias correction `1/(1 − β1^t)` is at most `1/(1 − β1)`). The
/// constructors require it to be at most `F::MAX / 2`, and each step checks `γ` times it.
pub(crate) fn adam_direction_bound<F: Float>(beta1: f64, eps: f64) -> f64 {
    adam_gradient_limit::<F>() / ((1.0 - beta1) * eps)
}

/// Checks Adam moment buffers: the layout's lengths, `|m| ≤ G` and `0 ≤ v ≤ G²` with `G` the
/// gradient limit `sqrt(F::MAX) / 2`. A run never leaves these bounds (the moments are running
/// averages of gradients checked against `G`, scaled by `d` for Prodigy and AdamLike, whose
/// steps check `d·|g| ≤ G`), and within them the step's arithmetic cannot overflow.
pub(crate) fn check_adam_moments<F: Float>(
    layout: &[usize],
    m: &[Vec<F>],
    v: &[Vec<F>],
) -> Result<()> {
    const SHAPE: &str = "moment buffers do not match the layout";
    check_buffers(SHAPE, layout, m, true)?;
    check_buffers(SHAPE, layout, v, true)?;
    let limit = adam_gradient_limit::<F>();
    check_values("first moment m must be finite", m, false)?;
    check_values("second moment v must be finite and >= 0", v, true)?;
    let within = |b: &[Vec<F>], bound: f64| b.iter().flatten().all(|x| x.to_f64().abs() <= bound);
    if !within(m, limit) || !within(v, limit * limit) {
        return Err(Error::IncompatibleState {
            reason: "moments beyond what a run can reach (|m| <= sqrt(F::MAX)/2, v <= F::MAX/4)",
        });
    }
    Ok(())
}

/// Checks the moments of a method whose moments average `d·g` and `d²·g²` (Prodigy, AdamLike):
/// `|m| ≤ d·G` and `v ≤ (d·G)²` with `G` the gradient limit (up to rounding), as in every run
/// (`d` never decreases and every accepted gradient is within `G`). With these, the direction
/// `m / (sqrt(v) + d·ε)` is at most `G/ε` in magnitude.
pub(crate) fn check_scaled_moments<F: Float>(d: f64, m: &[Vec<F>], v: &[Vec<F>]) -> Result<()> {
    let bound = d * adam_gradient_limit::<F>() * (1.0 + 1e-3);
    let m_ok = m.iter().flatten().all(|x| x.to_f64().abs() <= bound);
    let v_ok = v.iter().flatten().all(|x| x.to_f64() <= bound * bound);
    if m_ok && v_ok {
        Ok(())
    } else {
        Err(Error::IncompatibleState {
            reason: "moments beyond what a run with this d can reach (|m| <= d·G, v <= (d·G)²)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_adam_step_moves_by_about_gamma() {
        // t = 1: m = 0.1 g, v = 0.001 g², bias-corrected m̂ = g, v̂ = g² → u = g/(|g| + ε) ≈ ±1.
        let mo = Moments::<f64>::adam(0.9, 0.999, 1e-8, 1);
        let (mut x, mut m, mut v) = ([0.0, 0.0, 0.0], [0.0; 3], [0.0; 3]);
        let moved = crate::kernels::Kernels::detect().adam_update(
            &mut x,
            &mut m,
            &mut v,
            &[2.0, -0.5, 0.0],
            None,
            &mo,
            0.1,
            1.0,
            true,
        );
        let u = |g: f64| g / (g.abs() + 1e-8);
        for (xi, g) in x.iter().zip([2.0, -0.5, 0.0]) {
            assert!((xi + 0.1 * u(g)).abs() < 1e-15, "{xi}");
        }
        assert!((moved - 0.1 * u(2.0)).abs() < 1e-15);
    }
}
