//! ALIAS-Adam: the ALIAS stepsize rule applied to Adam's direction.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{Backend, Kernels};
use crate::optim::adam::{Moments, adam_direction_bound, check_adam_moments, validate_adam};
use crate::optim::alias::{AliasRule, AliasScalars, Sample, check_step_shapes};
use crate::optimizer::{LrMultiplier, lr_multiplier_methods, method};
use crate::optimizer::{
    Optimizer, StepReport, adam_gradient_limit, check_finite, check_gradient_limit,
    check_gradients, check_layout, check_range, check_step_value,
};
use crate::state::{check_buffers, check_counter, check_values};

const OWNER: &str = "AliasAdam";

/// Configuration of [`AliasAdam`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AliasAdamConfig {
    /// The ALIAS stepsize rule (shared with [`crate::AliasSignSgd`]).
    pub rule: AliasRule,
    /// `β1` (default 0.9).
    pub beta1: f64,
    /// `β2` (default 0.999).
    pub beta2: f64,
    /// `ε` (default 1e-8).
    pub eps: f64,
    /// Decoupled weight decay `x ← x(1 − γ_t·wd)` (default 0).
    pub weight_decay: f64,
}

impl Default for AliasAdamConfig {
    fn default() -> Self {
        Self {
            rule: AliasRule::default(),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Everything in an [`AliasAdam`] that changes between steps.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AliasAdamState<F> {
    /// Steps taken.
    pub step: u64,
    /// The stepsize rule's running scalars.
    pub scalars: AliasScalars,
    /// `g_{t−1}` per tensor.
    pub prev_grad: Vec<Vec<F>>,
    /// First moments per tensor.
    pub m: Vec<Vec<F>>,
    /// Second moments per tensor.
    pub v: Vec<Vec<F>>,
}

/// ALIAS-Adam: `x_{t+1} = x_t − γ_t u_t` with Adam's direction `u_t = m̂_t / (sqrt(v̂_t) + ε)`
/// and ALIAS's tuning-free `γ_t` (`docs/ALGORITHMS.md` §4).
///
/// # Update rule
///
/// The [`AliasRule`] of ALIAS Sign-SGD with the direction-general estimators: smoothness
/// `r_{t−1} = ‖g_t − g_{t−1}‖_1 / ‖x_t − x_{t−1}‖_∞` (measured), gap term
/// `d̃ ← d̃ + γ_{t−1}⟨g_t, u_{t−1}⟩`. Moments are bias-corrected (`β1 = 0.9`, `β2 = 0.999`,
/// `ε = 1e-8`); decoupled weight decay optional. Two passes per step: the statistics (with
/// `u_{t−1}` recomputed from the stored moments) and the fused moment-and-parameter update.
///
/// **Whose is what**: the paper shows an Adam variant with an ALIAS stepsize (its Figure 4); the
/// formulas here are this crate's definition (`docs/ALGORITHMS.md` §4). The reference code's `AdamLike`
/// rule (a Prodigy-like scalar per tensor) is not implemented yet.
///
/// # Needs from the problem
///
/// Gradients (Option F also the first loss).
///
/// # Example
///
/// ```
/// use signfree::{AliasAdam, AliasAdamConfig, Cost, Gradient, Optimizer, Quadratic};
/// let q = Quadratic::new(vec![1.0, 10.0], vec![1.0, -1.0])?;
/// let mut opt = AliasAdam::<f64>::new(AliasAdamConfig::default(), &[2])?;
/// let (mut x, mut g) = (vec![0.0; 2], vec![0.0; 2]);
/// let f0 = q.cost(&x)?;
/// for _ in 0..1000 {
///     q.gradient(&x, &mut g)?;
///     opt.step_flat(&mut x, &g, None)?;
/// }
/// assert!(q.cost(&x)? < 1e-3 * f0);
/// # Ok::<(), signfree::Error>(())
/// ```
///
/// # Errors
///
/// As [`crate::AliasSignSgd`], plus [`Error::InvalidParameter`] for `β` outside `[0, 1)` or
/// `ε ≤ 0`, and [`Error::GradientOutOfRange`] from `step` for a gradient coordinate above
/// `sqrt(F::MAX) / 2` (its square would overflow `v`). Nothing changes when `step` fails.
///
/// # References
///
/// D. Medyakov et al., arXiv:2506.03725; D. P. Kingma, J. Ba, "Adam", arXiv:1412.6980.
///
/// [`StepReport::estimates`](crate::StepReport::estimates): the same entries as [`crate::AliasSignSgd`].
#[derive(Debug, Clone)]
pub struct AliasAdam<F: Float> {
    config: AliasAdamConfig,
    layout: Vec<usize>,
    state: AliasAdamState<F>,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
}

impl<F: Float> AliasAdam<F> {
    /// The configuration.
    pub fn config(&self) -> &AliasAdamConfig {
        &self.config
    }

    /// Builds the optimizer for tensors of the given lengths, validating the configuration.
    pub fn new(config: AliasAdamConfig, layout: &[usize]) -> Result<Self> {
        config.rule.validate(OWNER)?;
        if config.rule.update_gap != 1 {
            return Err(Error::invalid(
                OWNER,
                "update_gap",
                config.rule.update_gap,
                "1 (AliasAdam has no windowed mode)",
            ));
        }
        validate_adam::<F>(OWNER, config.beta1, config.beta2, config.eps)?;
        let wd = config.weight_decay;
        check_range(OWNER, "weight_decay", wd, wd >= 0.0, "a finite number >= 0")?;
        config.rule.validate_decay::<F>(OWNER, wd)?;
        check_layout::<F>(OWNER, layout)?;
        let zeros = || layout.iter().map(|&n| vec![F::ZERO; n]).collect::<Vec<_>>();
        let state = AliasAdamState {
            step: 0,
            scalars: AliasScalars::default(),
            prev_grad: zeros(),
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

    /// Forces a kernel backend. Errors if this CPU cannot run it.
    pub fn with_backend(mut self, backend: Backend) -> Result<Self> {
        self.kernels = Kernels::new(backend)?.with_threads(self.kernels.threads());
        Ok(self)
    }

    /// Uses at most `threads` threads per kernel call (`0`: the available parallelism, the
    /// default; `1`: this thread only). Reductions are split in chunks per thread, so results are
    /// bit-identical across machines only for the same backend *and* thread count (see the
    /// README's reproducibility notes).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.kernels = self.kernels.with_threads(threads);
        self
    }
}

impl<F: Float> Optimizer<F> for AliasAdam<F> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        let t = self.state.step;
        check_step_shapes(&self.layout, params, grads, loss, t)?;
        let c = &self.config;
        let st = &self.state;
        // Pass 1 (pure): the statistics for the rule, fused with the gradient checks.
        let (sample, largest) = if t == 0 {
            (None, check_gradients(&self.kernels, grads, t)?)
        } else {
            // u_{t−1} from the moments after step t−1 (1-based Adam step t).
            let prev = Moments::<F>::adam(c.beta1, c.beta2, c.eps, t);
            let (mut diff, mut dot, mut largest, mut finite) = (0.0, 0.0, 0.0_f64, true);
            for (k, g) in grads.iter().enumerate() {
                let s = self
                    .kernels
                    .adam_stats(g, &st.prev_grad[k], &st.m[k], &st.v[k], &prev);
                diff += s.diff_l1;
                dot += s.dot;
                largest = largest.max(s.largest);
                finite &= s.finite;
            }
            if !finite {
                check_finite(&self.kernels, grads, t)?;
            }
            let sample = Sample {
                smoothness_numerator: diff,
                move_inf: st.scalars.prev_move,
                gap_increment: st.scalars.prev_stepsize * dot,
            };
            (Some(sample), largest)
        };
        check_gradient_limit(grads, largest, adam_gradient_limit::<F>(), t)?;
        let kernels = self.kernels;
        let decision = c.rule.decide(
            OWNER,
            t,
            &st.scalars,
            sample,
            loss,
            self.lr_multiplier.get(),
            F::MAX / 2.0,
            || {
                params
                    .iter()
                    .map(|p| kernels.inf_norm(p))
                    .fold(0.0, f64::max)
            },
        )?;
        decision.check_decay(t, c.weight_decay)?;
        let bound = adam_direction_bound::<F>(c.beta1, c.eps);
        check_step_value(
            t,
            "ALIAS-Adam update bound γ·|u|max",
            decision.gamma * bound,
            F::MAX / 2.0,
        )?;
        let mo = Moments::<F>::adam(c.beta1, c.beta2, c.eps, t + 1);
        let gamma = F::from_f64(decision.gamma);
        let decay = F::from_f64(1.0 - decision.gamma * c.weight_decay);
        let st = &mut self.state;
        let mut moved = 0.0_f64;
        for ((((x, m), v), g), store) in params
            .iter_mut()
            .zip(&mut st.m)
            .zip(&mut st.v)
            .zip(grads)
            .zip(&mut st.prev_grad)
        {
            moved =
                moved.max(kernels.adam_update(x, m, v, g, Some(store), &mo, gamma, decay, true));
        }
        st.step = t + 1;
        decision.commit(&mut st.scalars, moved);
        Ok(decision.report(&c.rule, t, kernels.backend()))
    }

    fn layout(&self) -> &[usize] {
        &self.layout
    }

    fn steps_taken(&self) -> u64 {
        self.state.step
    }

    lr_multiplier_methods!(OWNER);

    fn name(&self) -> &'static str {
        "ALIAS-Adam"
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        3.0 * F::BYTES as f64
    }
}

method!(AliasAdam, AliasAdamConfig, AliasAdamState, "AliasAdam");

impl<F: Float> AliasAdam<F> {
    /// Checks a state against a configuration and layout without building the optimizer.
    pub(crate) fn check_state(
        config: &AliasAdamConfig,
        layout: &[usize],
        state: &AliasAdamState<F>,
    ) -> Result<()> {
        check_counter(state.step)?;
        state.scalars.validate(&config.rule, state.step)?;
        check_buffers(
            "previous-gradient buffers do not match the layout",
            layout,
            &state.prev_grad,
            true,
        )?;
        check_values("previous gradient must be finite", &state.prev_grad, false)?;
        check_adam_moments(layout, &state.m, &state.v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::alias::AliasPhase;

    /// Option F, L_0 = 4, loss 1: γ_0 = sqrt(1/4) = 0.5; t = 1 Adam step u_0 = g/(|g| + ε).
    /// Step 1: the gap term is not used (Option F) but S grows by ‖g_1 − g_0‖_1 / ‖Δx‖_∞.
    #[test]
    fn first_two_steps_by_hand() {
        let cfg = AliasAdamConfig {
            rule: AliasRule {
                initial_smoothness: Some(4.0),
                ..AliasRule::option_f(0.0)
            },
            ..Default::default()
        };
        let mut o = AliasAdam::<f64>::new(cfg, &[2]).unwrap();
        let mut x = [0.0, 0.0];
        let r = o.step_flat(&mut x, &[3.0, -1.0], Some(1.0)).unwrap();
        assert_eq!(r.stepsize, 0.5);
        let u = |g: f64| g / (g.abs() + 1e-8);
        assert!((x[0] + 0.5 * u(3.0)).abs() < 1e-15 && (x[1] + 0.5 * u(-1.0)).abs() < 1e-15);
        let r = o.step_flat(&mut x, &[1.0, -1.0], None).unwrap();
        let phase = AliasPhase::of(&r).unwrap();
        let smoothness_sum = r.estimates.get("smoothness_sum").unwrap();
        let last_smoothness = r.estimates.get("last_smoothness");
        let moved = 0.5 * u(3.0);
        assert_eq!(phase, AliasPhase::Adaptive);
        assert!((last_smoothness.unwrap() - 2.0 / moved).abs() < 1e-12);
        assert!((smoothness_sum - (4.0 + 2.0 / moved)).abs() < 1e-12);
        assert!((r.stepsize - (1.0 / smoothness_sum).sqrt()).abs() < 1e-15);
    }

    /// Option D's gap term uses the applied Adam direction: γ_{t−1}⟨g_t, u_{t−1}⟩.
    #[test]
    fn gap_term_uses_the_adam_direction() {
        let cfg = AliasAdamConfig {
            rule: AliasRule {
                initial_smoothness: Some(1.0),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut o = AliasAdam::<f64>::new(cfg, &[2]).unwrap();
        let mut x = [0.0, 0.0];
        let r0 = o.step_flat(&mut x, &[2.0, -0.5], Some(1.0)).unwrap();
        let r1 = o.step_flat(&mut x, &[1.0, 1.0], None).unwrap();
        let u0 = [2.0 / (2.0 + 1e-8), -0.5 / (0.5 + 1e-8)];
        let gap_sum = r1.estimates.get("gap_sum");
        let expected = r0.stepsize * (1.0 * u0[0] + 1.0 * u0[1]);
        assert!(
            (gap_sum.unwrap() - expected).abs() < 1e-15,
            "{gap_sum:?} vs {expected}"
        );
    }
}
