//! Prodigy: Adam with a distance-to-solution estimate `d` (a parameter-free baseline).

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::Kernels;
use crate::kernels::fused::ProdigyCoefficients;
use crate::optim::adam::{check_adam_moments, check_scaled_moments, validate_adam};
use crate::optimizer::{
    Estimates, Optimizer, StepReport, adam_gradient_limit, check_fits, check_gradient_limit,
    check_gradients, check_layout, check_range, check_step_shapes, check_step_value,
};
use crate::optimizer::{LrMultiplier, lr_multiplier_methods, method};
use crate::schedule::Schedule;
use crate::state::{check_buffers, check_counter, check_scalar, check_values};

const OWNER: &str = "Prodigy";

/// Configuration of [`Prodigy`]; defaults are the paper's recommended ones.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProdigyConfig {
    /// `γ`, a constant outer multiplier on the estimated stepsize `d` (default 1.0; Prodigy's
    /// `lr`); [`crate::Optimizer::set_lr_multiplier`] multiplies it further at run time.
    #[cfg_attr(feature = "serde", serde(alias = "lr"))]
    pub lr_multiplier: f64,
    /// Multiplier on `lr` per step (default constant).
    pub schedule: Schedule,
    /// `β1` (default 0.9).
    pub beta1: f64,
    /// `β2` (default 0.999).
    pub beta2: f64,
    /// `ε` (default 1e-8).
    pub eps: f64,
    /// `d_0`, the initial distance estimate (default 1e-6).
    pub d0: f64,
    /// Decoupled weight decay `λ`: `x ← x(1 − γ d λ)` (default 0).
    pub weight_decay: f64,
}

impl Default for ProdigyConfig {
    fn default() -> Self {
        Self {
            lr_multiplier: 1.0,
            schedule: Schedule::Constant,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            d0: 1e-6,
            weight_decay: 0.0,
        }
    }
}

/// Everything in a [`Prodigy`] that changes between steps.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProdigyState<F> {
    /// Steps taken.
    pub step: u64,
    /// `d_k`, the current distance estimate.
    pub d: f64,
    /// `r_k`, the weighted sum of `γ d² ⟨g, x_0 − x⟩`.
    pub numerator: f64,
    /// `m` per tensor.
    pub m: Vec<Vec<F>>,
    /// `v` per tensor.
    pub v: Vec<Vec<F>>,
    /// `s` per tensor (weighted gradient sum).
    pub s: Vec<Vec<F>>,
    /// `x_0` per tensor, captured at the first step.
    pub x0: Vec<Vec<F>>,
}

/// Prodigy (Adam version), Algorithm 3 of Mishchenko & Defazio.
///
/// # Update rule
///
/// At step `k` with `γ_k = lr · schedule(k)` and the current estimate `d_k`:
/// - `m ← β1 m + (1 − β1) d_k g`, `v ← β2 v + (1 − β2) d_k² g²`;
/// - `r ← √β2 r + (1 − √β2) γ_k d_k² ⟨g, x_0 − x_k⟩`, `s ← √β2 s + (1 − √β2) γ_k d_k² g`;
/// - `x ← x(1 − γ_k d_k λ) − γ_k d_k m / (sqrt(v) + d_k ε)`;
/// - `d_{k+1} = max(d_k, r / ‖s‖_1)`.
///
/// No bias correction (the paper's default). All four vector updates run in one pass.
///
/// # Needs from the problem
///
/// Gradients.
///
/// # Example
///
/// ```
/// use signfree::{Optimizer, Prodigy, ProdigyConfig};
/// let mut opt = Prodigy::<f64>::new(ProdigyConfig::default(), &[2])?;
/// let mut x = [3.0, -1.0];
/// for _ in 0..2000 {
///     let g = [x[0] - 1.0, 4.0 * (x[1] - 2.0)];
///     opt.step_flat(&mut x, &g, None)?;
/// }
/// assert!((x[0] - 1.0).abs() < 1e-2 && (x[1] - 2.0).abs() < 1e-2);
/// # Ok::<(), signfree::Error>(())
/// ```
///
/// # Errors
///
/// [`Prodigy::new`]: [`Error::InvalidParameter`] for `lr ≤ 0` or above `F::MAX / 2`, `β` outside
/// `[0, 1)`, `ε ≤ 0`, `d_0 ≤ 0` or `d_0·ε` below `F`'s smallest normal value, `λ < 0`, or a layout
/// beyond the address space. `step`: dimension and non-finite errors;
/// [`Error::GradientOutOfRange`] for `|g| > sqrt(F::MAX) / 2`; [`Error::StepOutOfRange`] when
/// `d·|g|`, `γ·d²·|g|` or `γ·d·λ` would leave the range its state can hold (an unbounded
/// objective makes `d` grow until then). Nothing changes when it fails.
///
/// # References
///
/// K. Mishchenko, A. Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
/// ICML 2024, arXiv:2306.06101.
///
/// [`StepReport::estimates`](crate::StepReport::estimates): `d` (the estimate this step used) and `d_hat` (this step's new estimate).
#[derive(Debug, Clone)]
pub struct Prodigy<F: Float> {
    config: ProdigyConfig,
    layout: Vec<usize>,
    state: ProdigyState<F>,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
}

impl<F: Float> Prodigy<F> {
    /// Uses at most `threads` threads per step (`0`: the available parallelism, the default;
    /// `1`: this thread only). Large tensors are cut into one contiguous chunk per thread;
    /// reductions are combined in chunk order, so results are bit-identical for the same
    /// backend *and* thread count (see the README's reproducibility notes).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.kernels = self.kernels.with_threads(threads);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ProdigyConfig {
        &self.config
    }

    /// Builds the optimizer for tensors of the given lengths, validating the configuration.
    pub fn new(config: ProdigyConfig, layout: &[usize]) -> Result<Self> {
        let c = &config;
        check_range(
            OWNER,
            "lr_multiplier",
            c.lr_multiplier,
            c.lr_multiplier > 0.0,
            "a finite number > 0",
        )?;
        validate_adam::<F>(OWNER, c.beta1, c.beta2, c.eps)?;
        check_fits::<F>(OWNER, "lr_multiplier", c.lr_multiplier)?;
        check_range(OWNER, "d0", c.d0, c.d0 > 0.0, "a finite number > 0")?;
        // The step divides by sqrt(v) + d·ε in F: d_0·ε must not round to 0 (d only grows).
        check_range(
            OWNER,
            "d0",
            c.d0,
            c.d0 * c.eps >= F::MIN_POSITIVE,
            "a number with d0 * eps >= the element type's smallest normal value",
        )?;
        // d enters v through d²: d_0 at most sqrt(F::MAX)/2.
        check_range(
            OWNER,
            "d0",
            c.d0,
            c.d0 <= adam_gradient_limit::<F>(),
            "a number <= sqrt(F::MAX) / 2",
        )?;
        let wd = c.weight_decay;
        check_range(OWNER, "weight_decay", wd, wd >= 0.0, "a finite number >= 0")?;
        check_layout::<F>(OWNER, layout)?;
        c.schedule.validate(OWNER)?;
        let zeros = || layout.iter().map(|&n| vec![F::ZERO; n]).collect::<Vec<_>>();
        let state = ProdigyState {
            step: 0,
            d: config.d0,
            numerator: 0.0,
            m: zeros(),
            v: zeros(),
            s: zeros(),
            x0: zeros(),
        };
        Ok(Self {
            config,
            layout: layout.to_vec(),
            state,
            kernels: Kernels::detect(),
            lr_multiplier: LrMultiplier::default(),
        })
    }
}

impl<F: Float> Optimizer<F> for Prodigy<F> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        let k = self.state.step;
        check_step_shapes(&self.layout, params, grads, loss, k)?;
        let largest = check_gradients(&self.kernels, grads, k)?;
        // g² is formed in F before it is scaled.
        check_gradient_limit(grads, largest, adam_gradient_limit::<F>(), k)?;
        let c = &self.config;
        let gamma = c.lr_multiplier * self.lr_multiplier.get() * c.schedule.factor(k);
        let d = self.state.d;
        // Everything the pass writes stays within F. The state's m, v and s are running averages
        // of d·g, d²·g² and γ·d²·g (d never decreases), bounded by the largest such product over
        // the steps so far; each step checks its own products and coefficients, so the bound
        // holds for the whole state. The update is γ·d·m/(sqrt(v) + d·ε) with |m| ≤ d·G (G the
        // gradient limit), so |m/(…)| ≤ G/ε (finite by the ε check in `new`).
        let limit = adam_gradient_limit::<F>();
        let beta3 = c.beta2.sqrt();
        check_step_value(k, "Prodigy d·|g|", d * largest, limit)?;
        check_step_value(
            k,
            "Prodigy (1 − β2)·d²",
            (1.0 - c.beta2) * d * d,
            F::MAX / 4.0,
        )?;
        check_step_value(
            k,
            "Prodigy (1 − β3)·γ·d²",
            (1.0 - beta3) * gamma * d * d,
            F::MAX / 4.0,
        )?;
        check_step_value(k, "Prodigy γ·d²·|g|", gamma * d * d * largest, F::MAX / 4.0)?;
        check_step_value(
            k,
            "Prodigy update bound γ·d·G/ε",
            gamma * d * limit / c.eps,
            F::MAX / 2.0,
        )?;
        check_step_value(
            k,
            "Prodigy decay γ·d·λ",
            gamma * d * c.weight_decay,
            1.0 - f64::EPSILON,
        )?;
        let st = &mut self.state;
        if k == 0 {
            for (x0, x) in st.x0.iter_mut().zip(params.iter()) {
                x0.copy_from_slice(x);
            }
        }
        let f = F::from_f64;
        let (b1, c1) = (f(c.beta1), f((1.0 - c.beta1) * d));
        let (b2, c2) = (f(c.beta2), f((1.0 - c.beta2) * d * d));
        let (b3, c3) = (f(beta3), f((1.0 - beta3) * gamma * d * d));
        let step = f(gamma * d);
        let eps = f(d * c.eps);
        let decay = f(1.0 - gamma * d * c.weight_decay);
        let co = ProdigyCoefficients {
            beta1: b1,
            c1,
            beta2: b2,
            c2,
            beta3: b3,
            c3,
            step,
            eps,
            decay,
        };
        let (mut dot, mut s_l1) = (0.0_f64, 0.0_f64);
        for (t, (x, g)) in params.iter_mut().zip(grads).enumerate() {
            let (d, l) = self.kernels.prodigy_update(
                x,
                &mut st.m[t],
                &mut st.v[t],
                &mut st.s[t],
                &st.x0[t],
                g,
                &co,
            );
            dot += d;
            s_l1 += l;
        }
        st.numerator = beta3 * st.numerator + (1.0 - beta3) * gamma * d * d * dot;
        let d_hat = if s_l1 > 0.0 { st.numerator / s_l1 } else { 0.0 };
        // d̂ can only be non-finite if the f64 sums overflowed; keep d then (the next step's
        // range check refuses what it cannot apply).
        if d_hat.is_finite() {
            st.d = d.max(d_hat);
        }
        st.step = k + 1;
        Ok(StepReport {
            step: k,
            stepsize: gamma * d,
            backend: self.kernels.backend(),
            estimates: Estimates::new().number("d", d).number("d_hat", d_hat),
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
        "Prodigy"
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        4.0 * F::BYTES as f64
    }
}

method!(Prodigy, ProdigyConfig, ProdigyState, "Prodigy");

impl<F: Float> Prodigy<F> {
    /// Checks a state against a configuration and layout without building the optimizer.
    pub(crate) fn check_state(
        config: &ProdigyConfig,
        layout: &[usize],
        state: &ProdigyState<F>,
    ) -> Result<()> {
        check_counter(state.step)?;
        check_scalar("Prodigy d must be finite and >= d0", state.d, true)?;
        if state.d < config.d0 {
            return Err(Error::IncompatibleState {
                reason: "Prodigy d must be finite and >= d0",
            });
        }
        check_scalar("Prodigy numerator must be finite", state.numerator, false)?;
        check_adam_moments(layout, &state.m, &state.v)?;
        check_scaled_moments(state.d, &state.m, &state.v)?;
        const SHAPE: &str = "buffers do not match the layout";
        check_buffers(SHAPE, layout, &state.s, true)?;
        check_buffers(SHAPE, layout, &state.x0, true)?;
        check_values("Prodigy s must be finite", &state.s, false)?;
        check_values("Prodigy x0 must be finite", &state.x0, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps by hand. Step 0 (d = d_0 = 1e-6, γ = 1, x = x_0 so ⟨g, x_0 − x⟩ = 0):
    /// m = 0.1 d g, v = 0.001 d² g², x_1 = x_0 − d·m/(sqrt(v) + dε) ≈ x_0 − d·0.1/sqrt(0.001)·sign(g),
    /// r = 0 → d̂ = 0, d stays d_0. Step 1: r = (1 − √β2)·d²·⟨g_1, x_0 − x_1⟩ > 0 when g_1 ∥ g_0.
    #[test]
    fn two_steps_by_hand() {
        let mut o = Prodigy::<f64>::new(ProdigyConfig::default(), &[1]).unwrap();
        let mut x = [1.0];
        let r = o.step_flat(&mut x, &[2.0], None).unwrap();
        let d = 1e-6_f64;
        let (m, v): (f64, f64) = (0.1 * d * 2.0, 0.001 * d * d * 4.0);
        let x1 = 1.0 - d * m / (v.sqrt() + d * 1e-8);
        assert!((x[0] - x1).abs() < 1e-18);
        assert_eq!(
            (r.estimates.get("d"), r.estimates.get("d_hat")),
            (Some(d), Some(0.0))
        );
        let r = o.step_flat(&mut x, &[2.0], None).unwrap();
        let b3 = 0.999f64.sqrt();
        let s = b3 * (1.0 - b3) * d * d * 2.0 + (1.0 - b3) * d * d * 2.0;
        let num = (1.0 - b3) * d * d * 2.0 * (1.0 - x1);
        let d_hat = r.estimates.get("d_hat").unwrap();
        assert!(
            (d_hat - num / s).abs() <= 1e-12 * d_hat,
            "{d_hat} vs {}",
            num / s
        );
    }
}
