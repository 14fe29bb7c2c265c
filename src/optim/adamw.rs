//! AdamW: the baseline every deep-learning comparison needs.

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::float::Float;
use crate::kernels::Kernels;
use crate::optim::adam::{Moments, adam_direction_bound, check_adam_moments, validate_adam};
use crate::optimizer::{
    Estimates, Optimizer, StepReport, adam_gradient_limit, check_fits, check_gradient_limit,
    check_gradients, check_layout, check_range, check_step_shapes, check_step_value,
};
use crate::optimizer::{LrMultiplier, check_decay, lr_multiplier_methods, method};
use crate::schedule::Schedule;
use crate::state::check_counter;

const OWNER: &str = "AdamW";

/// Configuration of [`AdamW`]; defaults are PyTorch's.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdamWConfig {
    /// `γ`, the base stepsize (default 1e-3).
    pub lr: f64,
    /// Multiplier on `lr` per step (default constant).
    pub schedule: Schedule,
    /// `β1` (default 0.9).
    pub beta1: f64,
    /// `β2` (default 0.999).
    pub beta2: f64,
    /// `ε` (default 1e-8).
    pub eps: f64,
    /// Decoupled weight decay `λ` (default 0.01).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            schedule: Schedule::Constant,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Everything in an [`AdamW`] that changes between steps.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdamWState<F> {
    /// Steps taken.
    pub step: u64,
    /// First moments `m` per tensor.
    pub m: Vec<Vec<F>>,
    /// Second moments `v` per tensor.
    pub v: Vec<Vec<F>>,
}

/// AdamW with PyTorch's semantics (Loshchilov & Hutter).
///
/// # Update rule
///
/// At 1-based step `t` with `γ_t = lr · schedule(t − 1)`:
/// `x ← x(1 − γ_t λ)`; `m ← β1 m + (1 − β1) g`; `v ← β2 v + (1 − β2) g²`;
/// `x ← x − γ_t m̂ / (sqrt(v̂) + ε)` with `m̂ = m/(1 − β1^t)`, `v̂ = v/(1 − β2^t)`.
///
/// # Needs from the problem
///
/// Gradients.
///
/// # Example
///
/// ```
/// use signfree::{AdamW, AdamWConfig, Optimizer};
/// let mut opt = AdamW::<f64>::new(AdamWConfig { lr: 0.1, weight_decay: 0.0, ..Default::default() }, &[1])?;
/// let mut x = [3.0];
/// for _ in 0..500 {
///     let g = [x[0] - 1.0];
///     opt.step_flat(&mut x, &g, None)?;
/// }
/// assert!((x[0] - 1.0).abs() < 1e-2);
/// # Ok::<(), signfree::Error>(())
/// ```
///
/// # Errors
///
/// [`AdamW::new`]: [`Error::InvalidParameter`] for `lr ≤ 0` or above `F::MAX / 2`, `β` outside
/// `[0, 1)`, `ε ≤ 0`, `λ < 0` or `lr·λ ≥ 1`. `step`: dimension and non-finite errors;
/// [`Error::GradientOutOfRange`] for a gradient coordinate above `sqrt(F::MAX) / 2` (its square
/// would overflow `v`). Nothing changes when it fails.
///
/// # References
///
/// I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
/// arXiv:1711.05101; D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization",
/// arXiv:1412.6980.
///
/// [`StepReport::estimates`](crate::StepReport::estimates): `schedule_factor`.
#[derive(Debug, Clone)]
pub struct AdamW<F: Float> {
    config: AdamWConfig,
    layout: Vec<usize>,
    state: AdamWState<F>,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
}

impl<F: Float> AdamW<F> {
    /// Builds the optimizer for tensors of the given lengths, validating the configuration.
    pub fn new(config: AdamWConfig, layout: &[usize]) -> Result<Self> {
        check_range(
            OWNER,
            "lr",
            config.lr,
            config.lr > 0.0,
            "a finite number > 0",
        )?;
        check_fits::<F>(OWNER, "lr", config.lr)?;
        validate_adam::<F>(OWNER, config.beta1, config.beta2, config.eps)?;
        let wd = config.weight_decay;
        check_range(
            OWNER,
            "weight_decay",
            wd,
            wd >= 0.0 && config.lr * wd < 1.0,
            "a finite number >= 0 with lr * weight_decay < 1",
        )?;
        check_layout::<F>(OWNER, layout)?;
        config.schedule.validate(OWNER)?;
        let zeros = || layout.iter().map(|&n| vec![F::ZERO; n]).collect::<Vec<_>>();
        let state = AdamWState {
            step: 0,
            m: zeros(),
            v: zeros(),
        };
        Ok(Self {
            config,
            layout: layout.to_vec(),
            state,
            kernels: Kernels::detect(),
            lr_multiplier: LrMultiplier::default(),
        })
    }

    /// Uses at most `threads` threads per step (`0`: the available parallelism, the default;
    /// `1`: this thread only). Large tensors are cut into one contiguous chunk per thread;
    /// reductions are combined in chunk order, so results are bit-identical for the same
    /// backend *and* thread count (see the README's reproducibility notes).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.kernels = self.kernels.with_threads(threads);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }
}

impl<F: Float> Optimizer<F> for AdamW<F> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        let t = self.state.step;
        check_step_shapes(&self.layout, params, grads, loss, t)?;
        let largest = check_gradients(&self.kernels, grads, t)?;
        check_gradient_limit(grads, largest, adam_gradient_limit::<F>(), t)?;
        let c = &self.config;
        let factor = c.schedule.factor(t);
        let gamma = c.lr * self.lr_multiplier.get() * factor;
        check_decay(t, gamma, c.weight_decay)?;
        let bound = adam_direction_bound::<F>(c.beta1, c.eps);
        check_step_value(
            t,
            "AdamW update bound γ·|u|max",
            gamma * bound,
            F::MAX / 2.0,
        )?;
        let mo = Moments::<F>::adam(c.beta1, c.beta2, c.eps, t + 1);
        let decay = F::from_f64(1.0 - gamma * c.weight_decay);
        let st = &mut self.state;
        let step = F::from_f64(gamma);
        for (((x, m), v), g) in params.iter_mut().zip(&mut st.m).zip(&mut st.v).zip(grads) {
            self.kernels
                .adam_update(x, m, v, g, None, &mo, step, decay, false);
        }
        st.step = t + 1;
        Ok(StepReport {
            step: t,
            stepsize: gamma,
            backend: self.kernels.backend(),
            estimates: Estimates::new().number("schedule_factor", factor),
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
        "AdamW"
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        2.0 * F::BYTES as f64
    }
}

method!(AdamW, AdamWConfig, AdamWState, "AdamW");

impl<F: Float> AdamW<F> {
    /// Checks a state against a configuration and layout without building the optimizer.
    pub(crate) fn check_state(
        _config: &AdamWConfig,
        layout: &[usize],
        state: &AdamWState<F>,
    ) -> Result<()> {
        check_counter(state.step)?;
        check_adam_moments(layout, &state.m, &state.v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    /// Two steps against the textbook formula (β1 = 0.9, β2 = 0.999, ε = 1e-8, λ = 0.1, γ = 0.01).
    #[test]
    fn two_steps_against_the_textbook_formula() {
        let cfg = AdamWConfig {
            lr: 0.01,
            weight_decay: 0.1,
            ..Default::default()
        };
        let mut o = AdamW::<f64>::new(cfg, &[2]).unwrap();
        let mut x = [1.0, -2.0];
        let (g1, g2) = ([0.5, -3.0], [-1.0, 2.0]);
        o.step_flat(&mut x, &g1, None).unwrap();
        o.step_flat(&mut x, &g2, None).unwrap();
        // Independent evaluation of the same formula.
        let (mut xe, mut m, mut v) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
        for (t, g) in [(1, g1), (2, g2)] {
            for i in 0..2 {
                xe[i] *= 1.0 - 0.01 * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.999f64.powi(t));
                xe[i] -= 0.01 * mh / (vh.sqrt() + 1e-8);
            }
        }
        for (a, b) in x.iter().zip(&xe) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
        // At t = 1 the step is ≈ −γ·sign(g) after decay: |Δ| ≈ 0.01.
        assert_eq!(o.steps_taken(), 2);
    }

    #[test]
    fn invalid_configs_name_the_parameter() {
        for (cfg, name) in [
            (
                AdamWConfig {
                    lr: 0.0,
                    ..Default::default()
                },
                "lr",
            ),
            (
                AdamWConfig {
                    beta1: 1.0,
                    ..Default::default()
                },
                "beta1",
            ),
            (
                AdamWConfig {
                    beta2: -0.1,
                    ..Default::default()
                },
                "beta2",
            ),
            (
                AdamWConfig {
                    eps: 0.0,
                    ..Default::default()
                },
                "eps",
            ),
            (
                AdamWConfig {
                    weight_decay: -1.0,
                    ..Default::default()
                },
                "weight_decay",
            ),
        ] {
            match AdamW::<f32>::new(cfg, &[1]) {
                Err(Error::InvalidParameter {
                    owner: OWNER,
                    parameter,
                    ..
                }) => assert_eq!(parameter, name),
                other => panic!("expected InvalidParameter({name}), got {other:?}"),
            }
        }
    }
}
