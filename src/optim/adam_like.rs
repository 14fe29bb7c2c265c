//! The reference code's Adam-like rule (`AdamLike` in the authors' `parameter_free_signsgd.py`),
//! offered as a compatibility mode for users comparing against that code.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{Kernels, sign};
use crate::optim::adam::{check_adam_moments, check_scaled_moments, validate_adam};
use crate::optimizer::{
    Estimates, Optimizer, StepReport, adam_gradient_limit, check_fits, check_gradient_limit,
    check_gradients, check_layout, check_range, check_step_shapes, check_step_value,
};
use crate::optimizer::{LrMultiplier, check_decay, lr_multiplier_methods, method};
use crate::state::{check_buffers, check_counter, check_values};

const OWNER: &str = "AdamLikeCompat";

/// Configuration of [`AdamLikeCompat`]; defaults are the reference code's.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdamLikeCompatConfig {
    /// `lr` (the reference code's `adam_lr`, default 1e-3).
    pub lr: f64,
    /// `β1` (default 0.9).
    pub beta1: f64,
    /// `β2` (default 0.999).
    pub beta2: f64,
    /// `ε` (default 1e-8).
    pub eps: f64,
    /// Weight decay `x ← x(1 − lr·wd)`, applied after the step as the reference code does
    /// (default 0).
    pub weight_decay: f64,
    /// Steps during which `d` is replaced by 1 in the step size (default 0).
    pub warmup_steps: u64,
}

impl Default for AdamLikeCompatConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 0,
        }
    }
}

/// Everything in an [`AdamLikeCompat`] that changes between steps.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdamLikeCompatState<F> {
    /// Steps taken.
    pub step: u64,
    /// `d` per tensor (starts at 1).
    pub d: Vec<f64>,
    /// `r` per tensor (starts at 1).
    pub r: Vec<f64>,
    /// `g_{t−1}` per tensor.
    pub prev_grad: Vec<Vec<F>>,
    /// `m` per tensor.
    pub m: Vec<Vec<F>>,
    /// `v` per tensor.
    pub v: Vec<Vec<F>>,
}

/// The reference code's Adam-like optimizer, reproduced as a **compatibility mode** (spec
/// section 4, last paragraph); [`crate::AliasAdam`] is the crate's Adam variant of ALIAS.
///
/// # Update rule
///
/// Per tensor, with scalars `d = r = 1` at the start:
/// - from the second step: `r ← √β2·r + (1 − √β2)·d·Σ_i |g_i||g_{t−1,i}|`, `d ← max(d, r)`;
/// - `m ← β1 m + (1 − β1) d g`, `v ← β2 v + (1 − β2) d² g²` (no bias correction);
/// - `x_i ← x_i − sign(m_i) · lr · sqrt(d² / (1 + (v_i − m_i²)/(m_i² + ε)))` (with `d = 1` in that
///   formula during `warmup_steps`); then `x ← x(1 − lr·wd)`.
///
/// `d` and `r` are per tensor (not global), as in the reference code; nothing here is a
/// convergence-tested method of the paper. Use it to reproduce runs of that code.
///
/// # Needs from the problem
///
/// Gradients.
///
/// # Example
///
/// ```
/// use signfree::{AdamLikeCompat, AdamLikeCompatConfig, Optimizer};
/// let mut opt = AdamLikeCompat::<f64>::new(AdamLikeCompatConfig { lr: 0.01, ..Default::default() }, &[2])?;
/// let mut x = [1.0, -1.0];
/// let r = opt.step_flat(&mut x, &[2.0, -3.0], None)?;
/// // First step: m = 0.1·g, v = 0.001·g², so (v − m²)/m² = −0.9 and every coordinate moves by
/// // lr·sqrt(1/(1 − 0.9)) = lr·√10 (up to ε).
/// let expected = 0.01 * 10f64.sqrt();
/// assert!(r.stepsize > 0.0 && (1.0 - x[0] - expected).abs() < 1e-6);
/// # Ok::<(), signfree::Error>(())
/// ```
///
/// # Errors
///
/// [`AdamLikeCompat::new`]: [`Error::InvalidParameter`] for `lr ≤ 0`, `β` outside `[0, 1)`,
/// `ε ≤ 0`, `wd < 0` or `lr·wd ≥ 1`. `step`: dimension and non-finite errors;
/// [`Error::GradientOutOfRange`] for `|g| > sqrt(F::MAX) / 2`; [`Error::StepOutOfRange`] when a
/// tensor's `d·|g|` would exceed that limit. Nothing changes when it fails.
///
/// # References
///
/// The authors' public code (`evseevgrv/SignSGD_GoldenGate`, `parameter_free_signsgd.py`,
/// class `AdamLike`); D. Medyakov et al., arXiv:2506.03725.
///
/// [`StepReport::estimates`](crate::StepReport::estimates): `d` and `d_hat` (`r`) of the last tensor.
#[derive(Debug, Clone)]
pub struct AdamLikeCompat<F: Float> {
    config: AdamLikeCompatConfig,
    layout: Vec<usize>,
    state: AdamLikeCompatState<F>,
    /// This step's `(r, d)` per tensor, computed and checked before anything is written.
    estimates: Vec<(f64, f64)>,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
}

impl<F: Float> AdamLikeCompat<F> {
    /// Builds the optimizer for tensors of the given lengths, validating the configuration.
    pub fn new(config: AdamLikeCompatConfig, layout: &[usize]) -> Result<Self> {
        let c = &config;
        check_range(OWNER, "lr", c.lr, c.lr > 0.0, "a finite number > 0")?;
        validate_adam::<F>(OWNER, c.beta1, c.beta2, c.eps)?;
        let wd = c.weight_decay;
        check_range(
            OWNER,
            "weight_decay",
            wd,
            wd >= 0.0 && c.lr * wd < 1.0,
            "a finite number >= 0 with lr * weight_decay < 1",
        )?;
        check_fits::<F>(OWNER, "lr", c.lr)?;
        check_layout::<F>(OWNER, layout)?;
        let zeros = || layout.iter().map(|&n| vec![F::ZERO; n]).collect::<Vec<_>>();
        let state = AdamLikeCompatState {
            step: 0,
            d: vec![1.0; layout.len()],
            r: vec![1.0; layout.len()],
            prev_grad: zeros(),
            m: zeros(),
            v: zeros(),
        };
        Ok(Self {
            config,
            layout: layout.to_vec(),
            state,
            estimates: vec![(1.0, 1.0); layout.len()],
            kernels: Kernels::detect(),
            lr_multiplier: LrMultiplier::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AdamLikeCompatConfig {
        &self.config
    }
}

impl<F: Float> Optimizer<F> for AdamLikeCompat<F> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        let t = self.state.step;
        check_step_shapes(&self.layout, params, grads, loss, t)?;
        let largest = check_gradients(&self.kernels, grads, t)?;
        // g² is formed in F before it is scaled.
        check_gradient_limit(grads, largest, adam_gradient_limit::<F>(), t)?;
        let c = &self.config;
        let lr = c.lr * self.lr_multiplier.get();
        check_decay(t, lr, c.weight_decay)?;
        let st = &mut self.state;
        let beta3 = c.beta2.sqrt();
        // Pass 1 (pure): each tensor's r and d, checked so that `d·g` (whose square enters v)
        // stays within the element type.
        for (k, g) in grads.iter().enumerate() {
            let (mut r, mut d) = (st.r[k], st.d[k]);
            if t > 0 {
                let dot: f64 = g
                    .iter()
                    .zip(&st.prev_grad[k])
                    .map(|(a, b)| a.to_f64().abs() * b.to_f64().abs())
                    .sum();
                r = beta3 * r + (1.0 - beta3) * d * dot;
                d = d.max(r);
            }
            // d·g (and so m) within G, (1 − β2)·d² within F, and the step
            // lr·d·sqrt((m² + ε)/(v + ε)) ≤ lr·d·sqrt(2)·(G/sqrt(ε) + 1) (the scale is kept
            // above half its exact minimum below) within F::MAX / 2.
            let limit = adam_gradient_limit::<F>();
            let d_step = if t < c.warmup_steps { 1.0 } else { d };
            check_step_value(t, "AdamLike d·|g|", d * largest, limit)?;
            check_step_value(
                t,
                "AdamLike (1 − β2)·d²",
                (1.0 - c.beta2) * d * d,
                F::MAX / 4.0,
            )?;
            let step_bound = lr * d_step * 2f64.sqrt() * (limit / c.eps.sqrt() + 1.0);
            check_step_value(t, "AdamLike step bound", step_bound, F::MAX / 2.0)?;
            self.estimates[k] = (r, d);
        }
        let f = F::from_f64;
        let decay = f(1.0 - lr * c.weight_decay);
        let mut last_d = 1.0;
        for (k, (x, g)) in params.iter_mut().zip(grads).enumerate() {
            let (r, d) = self.estimates[k];
            (st.r[k], st.d[k]) = (r, d);
            let d_step = if t < c.warmup_steps { 1.0 } else { d };
            let (b1, c1) = (f(c.beta1), f((1.0 - c.beta1) * d));
            let (b2, c2) = (f(c.beta2), f((1.0 - c.beta2) * d * d));
            let (m, v, prev) = (&mut st.m[k], &mut st.v[k], &mut st.prev_grad[k]);
            for i in 0..g.len() {
                let gi = g[i];
                m[i] = b1 * m[i] + c1 * gi;
                v[i] = b2 * v[i] + c2 * (gi * gi);
                let (mi, vi) = (m[i].to_f64(), v[i].to_f64());
                let ratio = (vi - mi * mi) / (mi * mi + c.eps);
                // 1 + ratio = (v + ε)/(m² + ε) ≥ ε/(m² + ε); the reference form cancels (to 0
                // or below) when m² ≫ v, so use the quotient when it falls under half that.
                let mut scale = 1.0 + ratio;
                if scale < 0.5 * c.eps / (mi * mi + c.eps) {
                    scale = (vi + c.eps) / (mi * mi + c.eps);
                }
                let step = lr * (d_step * d_step / scale).sqrt();
                x[i] = (x[i] - sign(m[i]) * f(step)) * decay;
                prev[i] = gi;
            }
            last_d = d;
        }
        st.step = t + 1;
        Ok(StepReport {
            step: t,
            stepsize: lr * last_d,
            backend: self.kernels.backend(),
            estimates: Estimates::new()
                .number("d", last_d)
                .number("d_hat", st.r.last().copied().unwrap_or(0.0)),
        })
    }

    fn layout(&self) -> &[usize] {
        &self.layout
    }

    fn steps_taken(&self) -> u64 {
        self.state.step
    }

    lr_multiplier_methods!(OWNER);

    fn name(&self) -> &'static str {
        "AdamLike (reference code)"
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        3.0 * F::BYTES as f64
    }
}

method!(
    AdamLikeCompat,
    AdamLikeCompatConfig,
    AdamLikeCompatState,
    "AdamLikeCompat"
);

impl<F: Float> AdamLikeCompat<F> {
    /// Checks a state against a configuration and layout without building the optimizer.
    pub(crate) fn check_state(
        _config: &AdamLikeCompatConfig,
        layout: &[usize],
        state: &AdamLikeCompatState<F>,
    ) -> Result<()> {
        check_counter(state.step)?;
        // d starts at 1 and never decreases; r is a running average of non-negative terms (it
        // can underflow to 0).
        let scalars_ok = state.d.len() == layout.len()
            && state.r.len() == layout.len()
            && state.d.iter().all(|v| v.is_finite() && *v > 0.0)
            && state.r.iter().all(|v| v.is_finite() && *v >= 0.0);
        if !scalars_ok {
            return Err(Error::IncompatibleState {
                reason: "per-tensor scalars must be one per tensor, finite, d > 0 and r >= 0",
            });
        }
        check_buffers(
            "previous-gradient buffers do not match the layout",
            layout,
            &state.prev_grad,
            true,
        )?;
        check_values("previous gradient must be finite", &state.prev_grad, false)?;
        check_adam_moments(layout, &state.m, &state.v)?;
        for ((&d, m), v) in state.d.iter().zip(&state.m).zip(&state.v) {
            check_scaled_moments(d, std::slice::from_ref(m), std::slice::from_ref(v))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::Stateful;

    /// Two steps by hand, one tensor, lr = 0.1, wd = 0.
    /// Step 0 (d = 1): m = 0.1 g, v = 0.001 g²; ratio = (0.001 − 0.01)/0.01 g²/(g²) ≈ −0.9 →
    /// step = 0.1·sqrt(1/0.1). Step 1: r = √β2·1 + (1 − √β2)·1·Σ|g1||g0|, d = max(1, r).
    #[test]
    fn two_steps_by_hand() {
        let cfg = AdamLikeCompatConfig {
            lr: 0.1,
            ..Default::default()
        };
        let mut o = AdamLikeCompat::<f64>::new(cfg, &[2]).unwrap();
        let mut x = [0.0, 0.0];
        o.step_flat(&mut x, &[2.0, -1.0], None).unwrap();
        for (xi, g) in x.iter().zip([2.0f64, -1.0]) {
            let (m, v) = (0.1 * g, 0.001 * g * g);
            let step = 0.1 * (1.0 / (1.0 + (v - m * m) / (m * m + 1e-8))).sqrt();
            assert!((xi + g.signum() * step).abs() < 1e-15, "{xi}");
        }
        o.step_flat(&mut x, &[1.0, 3.0], None).unwrap();
        let b3 = 0.999f64.sqrt();
        let r = b3 + (1.0 - b3) * (2.0 * 1.0 + 1.0 * 3.0);
        assert!((o.state().r[0] - r).abs() < 1e-15);
        assert_eq!(o.state().d[0], r.max(1.0));
    }
}
