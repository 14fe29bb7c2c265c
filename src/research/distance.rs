//! **R5**: sign descent whose stepsize is a distance estimate in the ℓ∞ geometry (issue 15).

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::Kernels;
use crate::kernels::fused::DistanceCoefficients;
use crate::optimizer::{
    Estimates, Optimizer, StepReport, check_fits, check_gradients, check_layout, check_range,
    check_step_shapes, check_step_value,
};
use crate::optimizer::{LrMultiplier, lr_multiplier_methods, method};
use crate::state::{check_buffers, check_counter, check_values};

const OWNER: &str = "DistanceSign";

/// Configuration of [`DistanceSign`]. There is no learning rate: `lr` is only the outer
/// multiplier a schedule (or the candle adapter's `set_learning_rate`) sets, default 1.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DistanceSignConfig {
    /// `η`, a constant outer multiplier on `d` (default 1.0; a schedule factor, not a learning
    /// rate); [`crate::Optimizer::set_lr_multiplier`] multiplies it further at run time.
    #[cfg_attr(feature = "serde", serde(alias = "lr"))]
    pub lr_multiplier: f64,
    /// `β1`, the weight of the momentum in the direction `sign(β1 m + (1 − β1) d g)` (default
    /// 0.9, Lion's).
    pub beta1: f64,
    /// `β2`, the decay of the momentum `m` and of the estimator's numerator (default 0.99,
    /// Lion's).
    pub beta2: f64,
    /// `d_0`, the initial distance estimate (default 1e-6, as Prodigy).
    pub d0: f64,
    /// Optional bound on the growth of `d` per step, `d_{k+1} ≤ growth · d_k` (default none).
    pub growth_limit: Option<f64>,
    /// **R5b**: apply `η_k d_k / sqrt(k + 1)` instead of `η_k d_k` (default off). Since `d`
    /// estimates the distance `D_∞` itself, this is the `D/sqrt(T)` scaling of normalised
    /// (sign) descent on convex problems, where plain R5 ends oscillating at the scale of `D`.
    pub inverse_sqrt_decay: bool,
    /// **R5c**: a multiplier on the stepsize per step, `γ_k = η_k · schedule(k) · d_k` (default
    /// constant). The reproduction uses `Schedule::Cosine { total_steps: T }`, the one schedule
    /// the tiny-LLaMA harness also gives every method; the candle adapter leaves it constant
    /// and sets `η_k` instead.
    pub schedule: crate::Schedule,
    /// **R5d**: one estimate per tensor (default off): tensor `i` keeps its own `d_i`, numerator
    /// `N_i` and denominator `‖m_i‖_1`, and moves by `η_k d_i`. Sign descent moves every
    /// coordinate by the same amount, so one global `d` gives a norm gain (initialised at 1)
    /// and an attention matrix (entries ≈ 0.1) the same step; the per-tensor bound
    /// `d̂_i = N_i / ‖m_i‖_1 ≤ ‖x_{0,i} − x*_i‖_∞` holds tensor by tensor (the same argument,
    /// restricted to tensor `i`'s coordinates; convex case), so each tensor's step follows its
    /// own distance. The report's `d` and `d̂` are then the largest over the tensors.
    pub per_tensor: bool,
}

impl Default for DistanceSignConfig {
    fn default() -> Self {
        Self {
            lr_multiplier: 1.0,
            beta1: 0.9,
            beta2: 0.99,
            d0: 1e-6,
            growth_limit: None,
            inverse_sqrt_decay: false,
            schedule: crate::Schedule::Constant,
            per_tensor: false,
        }
    }
}

impl DistanceSignConfig {
    fn validate(&self) -> Result<()> {
        check_range(
            OWNER,
            "lr_multiplier",
            self.lr_multiplier,
            self.lr_multiplier >= 0.0,
            "a finite number >= 0",
        )?;
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            check_range(OWNER, name, b, (0.0..1.0).contains(&b), "in [0, 1)")?;
        }
        check_range(OWNER, "d0", self.d0, self.d0 > 0.0, "a finite number > 0")?;
        if let Some(g) = self.growth_limit {
            check_range(OWNER, "growth_limit", g, g >= 1.0, "a finite number >= 1")?;
        }
        self.schedule.validate(OWNER)
    }
}

/// Everything in a [`DistanceSign`] that changes between steps.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DistanceSignState<F> {
    /// Steps taken.
    pub step: u64,
    /// `d_k`, the distance estimate the next step uses.
    pub d: f64,
    /// `N_k`, the EMA of `d_j ⟨g_j, x_0 − x_j⟩` (the estimator's numerator).
    pub numerator: f64,
    /// `m` per tensor: the EMA of `d_j g_j` (momentum and the estimator's denominator at once).
    pub momentum: Vec<Vec<F>>,
    /// `z = x_0 − x_k` per tensor, the sum of the steps taken.
    pub displacement: Vec<Vec<F>>,
    /// R5d (`per_tensor`): `d_i` per tensor (empty otherwise; `d` is then their maximum).
    #[cfg_attr(feature = "serde", serde(default))]
    pub tensor_d: Vec<f64>,
    /// R5d (`per_tensor`): `N_i` per tensor (empty otherwise; `numerator` is then their sum).
    #[cfg_attr(feature = "serde", serde(default))]
    pub tensor_numerator: Vec<f64>,
}

/// **R5, distance-scaled sign descent**: Lion-style sign momentum whose stepsize is a lower
/// estimate `d` of the ℓ∞ distance to a solution, grown from a tiny `d_0` as in D-Adaptation and
/// Prodigy. No learning rate, no warm-up rate, no cap; 8 bytes of state per `f32` parameter.
///
/// # Update rule
///
/// At step `k` with gradient `g_k`, outer multiplier `η_k` (1 unless a schedule sets it) and the
/// current estimate `d_k`, over all tensors at once (reductions in `f64`):
/// - direction `u_k = sign(β1 m + (1 − β1) d_k g_k)`;
/// - `N ← β2 N + (1 − β2) d_k ⟨g_k, z_k⟩` with `z_k = x_0 − x_k`;
/// - `m ← β2 m + (1 − β2) d_k g_k`;
/// - `x ← x − η_k d_k u_k`, `z ← z + η_k d_k u_k`;
/// - `d̂ = N / ‖m‖_1`, `d_{k+1} = max(d_k, d̂)` (and `≤ growth · d_k` if a growth limit is set).
///
/// # Why it should work
///
/// Sign descent is steepest descent for the ℓ∞ norm, whose dual is ℓ1, and its ideal constant
/// stepsize scales with the ℓ∞ distance `D = ‖x_0 − x*‖_∞` (`docs/ALGORITHMS.md` §0). D-Adaptation's
/// argument carries over to this pair of norms with *any* non-negative weights `w_j`: for convex
/// `f`, `⟨g_j, x_j − x*⟩ ≥ f(x_j) − f* ≥ 0`, hence
/// `Σ w_j ⟨g_j, x_0 − x_j⟩ ≤ Σ w_j ⟨g_j, x_0 − x*⟩ = ⟨Σ w_j g_j, x_0 − x*⟩ ≤ ‖Σ w_j g_j‖_1 · D`,
/// so `d̂ = Σ w_j ⟨g_j, x_0 − x_j⟩ / ‖Σ w_j g_j‖_1 ≤ D`: `d` never overestimates the distance.
/// Choosing the weights `w_j = (1 − β2) β2^{k−j} d_j` (Prodigy's: exponentially forgetting, and
/// emphasising the steps taken with the current scale) makes `Σ w_j g_j` *exactly* a momentum
/// buffer, because the sign direction is invariant to the positive factor `d_j`. So one vector
/// serves as Lion's momentum and as the estimator's gradient sum, and the other holds the
/// displacement `x_0 − x_k` (Prodigy stores `x_0` and `s` separately, 16 B/param with Adam's
/// moments). While the iterates travel in a consistent direction, `⟨g, x_0 − x⟩ ≈ ‖x_0 − x‖_∞
/// ‖g‖_1` and `d` grows geometrically (about 10% per step with β2 = 0.99); once coordinates
/// oscillate around a minimum at the scale of the step, their terms in `⟨g, x_0 − x⟩` change
/// sign and the growth stops. On a non-convex loss the bound is heuristic.
///
/// # Needs from the problem
///
/// Gradients (the loss is only checked for finiteness).
///
/// # Example
///
/// ```
/// use signfree::{Optimizer, Stateful};
/// use signfree::research::{DistanceSign, DistanceSignConfig};
/// // A quadratic with minimiser (1, 2), started at ℓ∞ distance D = 3.
/// let mut opt = DistanceSign::<f64>::new(DistanceSignConfig::default(), &[2])?;
/// let mut x = [3.0, -1.0];
/// for _ in 0..3000 {
///     let g = [x[0] - 1.0, 4.0 * (x[1] - 2.0)];
///     opt.step_flat(&mut x, &g, None)?;
/// }
/// // d grew from 1e-6 to the order of D and never above it; as a constant step it leaves the
/// // iterate oscillating at that scale (the R5 failure on convex problems, see RESEARCH.md).
/// let d = opt.state().d;
/// assert!(d > 0.1 && d <= 3.0, "{d}");
/// assert!((x[0] - 1.0).abs() <= 2.0 * d && (x[1] - 2.0).abs() <= 2.0 * d, "{x:?} {d}");
/// # Ok::<(), signfree::Error>(())
/// ```
///
/// # Errors
///
/// [`DistanceSign::new`]: [`Error::InvalidParameter`] for `lr < 0`, `β` outside `[0, 1)`,
/// `d_0 ≤ 0`, a growth limit below 1. `step`: dimension and non-finite errors; nothing changes
/// when it fails.
///
/// # References
///
/// A. Defazio, K. Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023,
/// arXiv:2301.07733; K. Mishchenko, A. Defazio, "Prodigy: An Expeditiously Adaptive
/// Parameter-Free Learner", ICML 2024, arXiv:2306.06101; X. Chen et al., "Symbolic Discovery of
/// Optimization Algorithms" (Lion), arXiv:2302.06675. Not a method of the ALIAS paper.
///
/// [`StepReport::estimates`](crate::StepReport::estimates): `d` (the largest estimate this step used), `d_hat`, `numerator` (`N`) and `denominator` (`‖m‖_1`).
#[derive(Debug, Clone)]
pub struct DistanceSign<F: Float> {
    config: DistanceSignConfig,
    layout: Vec<usize>,
    state: DistanceSignState<F>,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
}

impl<F: Float> DistanceSign<F> {
    /// Validates `config` and allocates the two buffers (zeros).
    pub fn new(config: DistanceSignConfig, layout: &[usize]) -> Result<Self> {
        config.validate()?;
        check_fits::<F>(OWNER, "d0", config.d0)?;
        check_layout::<F>(OWNER, layout)?;
        let zeros = || layout.iter().map(|&n| vec![F::ZERO; n]).collect();
        Ok(Self {
            state: DistanceSignState {
                step: 0,
                d: config.d0,
                numerator: 0.0,
                momentum: zeros(),
                displacement: zeros(),
                tensor_d: if config.per_tensor {
                    vec![config.d0; layout.len()]
                } else {
                    Vec::new()
                },
                tensor_numerator: if config.per_tensor {
                    vec![0.0; layout.len()]
                } else {
                    Vec::new()
                },
            },
            config,
            layout: layout.to_vec(),
            kernels: Kernels::detect(),
            lr_multiplier: LrMultiplier::default(),
        })
    }

    /// Uses at most `threads` threads per step (`0`: the available parallelism, the default;
    /// `1`: this thread only). Sums are combined in chunk order: bit-identical results need the
    /// same backend and thread count.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.kernels = self.kernels.with_threads(threads);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &DistanceSignConfig {
        &self.config
    }

    /// `N ← β2 N + (1 − β2) d ⟨g, z⟩`, `d̂ = N / ‖m‖_1`, and the next `d = max(d, d̂)` (within
    /// the growth limit). Returns `(next d, d̂)`. The `f64` sums can only overflow for `f64`
    /// parameters near `f64::MAX`; the estimator then keeps its previous numerator and `d` (a
    /// documented saturation: non-finite values never enter the state).
    fn estimate(
        c: &DistanceSignConfig,
        d: f64,
        numerator: &mut f64,
        dot: f64,
        m_l1: f64,
    ) -> (f64, f64) {
        let n = c.beta2 * *numerator + (1.0 - c.beta2) * d * dot;
        if n.is_finite() {
            *numerator = n;
        }
        let d_hat = if m_l1 > 0.0 { *numerator / m_l1 } else { 0.0 };
        let mut next = if d_hat.is_finite() { d.max(d_hat) } else { d };
        if let Some(growth) = c.growth_limit {
            next = next.min(growth * d);
        }
        (next, d_hat)
    }
}

impl<F: Float> Optimizer<F> for DistanceSign<F> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        let k = self.state.step;
        check_step_shapes(&self.layout, params, grads, loss, k)?;
        let largest = check_gradients(&self.kernels, grads, k)?;
        let c = &self.config;
        let lr = c.lr_multiplier * self.lr_multiplier.get() * c.schedule.factor(k);
        let scale = if c.inverse_sqrt_decay {
            lr / ((k + 1) as f64).sqrt()
        } else {
            lr
        };
        // The estimate each tensor uses: its own (R5d) or the global one.
        let st = &self.state;
        let d_of = |t: usize| if c.per_tensor { st.tensor_d[t] } else { st.d };
        let d_max = (0..params.len()).map(d_of).fold(0.0, f64::max);
        // m is a running average of d·g and x, z move by γ: keep both within F.
        check_step_value(k, "DistanceSign d·|g|", d_max * largest, F::MAX / 4.0)?;
        check_step_value(k, "DistanceSign stepsize", scale * d_max, F::MAX / 2.0)?;
        let st = &mut self.state;
        let f = F::from_f64;
        let (mut dot_all, mut m_l1_all) = (0.0_f64, 0.0_f64);
        let (mut d_hat_max, mut gamma_max) = (f64::NEG_INFINITY, 0.0_f64);
        for (t, (x, g)) in params.iter_mut().zip(grads).enumerate() {
            let d = if c.per_tensor { st.tensor_d[t] } else { st.d };
            let (b1, c1) = (f(c.beta1), f((1.0 - c.beta1) * d));
            let (b2, c2) = (f(c.beta2), f((1.0 - c.beta2) * d));
            let gamma = scale * d;
            gamma_max = gamma_max.max(gamma);
            let step = f(gamma);
            let co = DistanceCoefficients {
                beta1: b1,
                c1,
                beta2: b2,
                c2,
                step,
            };
            let (dot, m_l1) = self.kernels.distance_update(
                x,
                &mut st.momentum[t],
                &mut st.displacement[t],
                g,
                &co,
            );
            if c.per_tensor {
                let (next, d_hat) = Self::estimate(c, d, &mut st.tensor_numerator[t], dot, m_l1);
                st.tensor_d[t] = next;
                d_hat_max = d_hat_max.max(d_hat);
            }
            dot_all += dot;
            m_l1_all += m_l1;
        }
        let (d_hat, numerator, denominator);
        if c.per_tensor {
            st.d = st.tensor_d.iter().copied().fold(st.d, f64::max);
            st.numerator = st.tensor_numerator.iter().sum();
            (d_hat, numerator, denominator) = (d_hat_max.max(0.0), st.numerator, m_l1_all);
        } else {
            let d = st.d;
            let (next, dh) = Self::estimate(c, d, &mut st.numerator, dot_all, m_l1_all);
            st.d = next;
            (d_hat, numerator, denominator) = (dh, st.numerator, m_l1_all);
        }
        st.step = k + 1;
        Ok(StepReport {
            step: k,
            stepsize: gamma_max,
            backend: self.kernels.backend(),
            estimates: Estimates::new()
                .number("d", d_max)
                .number("d_hat", d_hat)
                .number("numerator", numerator)
                .number("denominator", denominator),
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
        "distance-scaled sign momentum (R5)"
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        2.0 * F::BYTES as f64
    }
}

method!(
    DistanceSign,
    DistanceSignConfig,
    DistanceSignState,
    "DistanceSign"
);

impl<F: Float> DistanceSign<F> {
    /// Checks a state against a configuration and layout without building the optimizer.
    pub(crate) fn check_state(
        config: &DistanceSignConfig,
        layout: &[usize],
        state: &DistanceSignState<F>,
    ) -> Result<()> {
        check_counter(state.step)?;
        const SHAPE: &str = "buffers do not match the layout";
        check_buffers(SHAPE, layout, &state.momentum, true)?;
        check_buffers(SHAPE, layout, &state.displacement, true)?;
        check_values("momentum must be finite", &state.momentum, false)?;
        check_values("displacement must be finite", &state.displacement, false)?;
        if !(state.d.is_finite() && state.d > 0.0 && state.numerator.is_finite()) {
            return Err(Error::IncompatibleState {
                reason: "d must be finite and > 0, the numerator finite",
            });
        }
        let per_tensor = if config.per_tensor { layout.len() } else { 0 };
        if state.tensor_d.len() != per_tensor || state.tensor_numerator.len() != per_tensor {
            return Err(Error::IncompatibleState {
                reason: "per-tensor estimates: one d and numerator per tensor with per_tensor, \
                         none without",
            });
        }
        if !state
            .tensor_d
            .iter()
            .all(|d| d.is_finite() && *d > 0.0 && *d <= state.d)
            || !state.tensor_numerator.iter().all(|n| n.is_finite())
        {
            return Err(Error::IncompatibleState {
                reason: "per-tensor d must be finite, > 0 and at most d; numerators finite",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::Stateful;

    fn config() -> DistanceSignConfig {
        DistanceSignConfig {
            beta1: 0.5,
            beta2: 0.5,
            d0: 0.1,
            ..Default::default()
        }
    }

    fn estimates(r: &StepReport) -> (f64, f64) {
        (
            r.estimates.get("d").unwrap(),
            r.estimates.get("d_hat").unwrap(),
        )
    }

    /// β1 = β2 = ½, d_0 = 0.1, x_0 = (1, −2).
    /// Step 0, g = (2, −1): z = 0 so N = 0, d̂ = 0; u = sign(½·0.1·g) = (1, −1); x = (0.9, −1.9),
    /// z = (0.1, −0.1), m = ½·0.1·g = (0.1, −0.05).
    /// Step 1, g = (3, −1): ⟨g, z⟩ = 0.4, N = ½·0.1·0.4 = 0.02; u = sign(½m + 0.05g) = (1, −1);
    /// m = (0.2, −0.075), ‖m‖_1 = 0.275, d̂ = 0.02/0.275 < d, so d stays 0.1; x = (0.8, −1.8).
    /// Step 2, g = (1, −1): ⟨g, z⟩ = 0.4, N = 0.01 + 0.02 = 0.03, m = (0.15, −0.0875),
    /// d̂ = 0.03/0.2375 > 0.1: the next step uses it.
    #[test]
    fn three_steps_by_hand() {
        let mut o = DistanceSign::<f64>::new(config(), &[2]).unwrap();
        let mut x = [1.0, -2.0];
        let r = o.step_flat(&mut x, &[2.0, -1.0], None).unwrap();
        assert_eq!((r.stepsize, estimates(&r)), (0.1, (0.1, 0.0)));
        assert_eq!(x, [0.9, -1.9]);
        let r = o.step_flat(&mut x, &[3.0, -1.0], None).unwrap();
        let (d, d_hat) = estimates(&r);
        assert_eq!(d, 0.1);
        assert!((d_hat - 0.02 / 0.275).abs() < 1e-15, "{d_hat}");
        assert!((x[0] - 0.8).abs() < 1e-15 && (x[1] + 1.8).abs() < 1e-15);
        let r = o.step_flat(&mut x, &[1.0, -1.0], None).unwrap();
        assert_eq!(r.stepsize, 0.1);
        let (_, d_hat) = estimates(&r);
        assert!((d_hat - 0.03 / 0.2375).abs() < 1e-15, "{d_hat}");
        let r = o.step_flat(&mut x, &[1.0, -1.0], None).unwrap();
        assert_eq!(r.stepsize, d_hat);
        assert_eq!(o.steps_taken(), 4);
    }

    /// R5b divides step k's stepsize by sqrt(k + 1); the estimator is unchanged (same d̂ as R5).
    #[test]
    fn inverse_sqrt_decay_scales_the_step() {
        let cfg = DistanceSignConfig {
            inverse_sqrt_decay: true,
            ..config()
        };
        let mut o = DistanceSign::<f64>::new(cfg, &[2]).unwrap();
        let mut x = [1.0, -2.0];
        assert_eq!(
            o.step_flat(&mut x, &[2.0, -1.0], None).unwrap().stepsize,
            0.1
        );
        let r = o.step_flat(&mut x, &[3.0, -1.0], None).unwrap();
        assert_eq!(r.stepsize, 0.1 / 2f64.sqrt());
        assert!((x[0] - (0.9 - 0.1 / 2f64.sqrt())).abs() < 1e-15);
    }

    /// R5d: two tensors at ℓ∞ distances 2 and 0.02 from their minimisers; each per-tensor `d`
    /// grows toward its own distance and never above it, so the near tensor ends with a step
    /// two orders of magnitude smaller than the far one (one global `d` gives both the same).
    #[test]
    fn per_tensor_estimates_follow_each_tensors_distance() {
        let cfg = DistanceSignConfig {
            per_tensor: true,
            ..Default::default()
        };
        let mut o = DistanceSign::<f64>::new(cfg, &[2, 2]).unwrap();
        let (mut a, mut b) = ([0.0, 0.0], [0.0, 0.0]);
        let (ta, tb) = ([2.0, -1.0], [0.02, -0.01]);
        for _ in 0..600 {
            let ga: Vec<f64> = (0..2).map(|i| a[i] - ta[i]).collect();
            let gb: Vec<f64> = (0..2).map(|i| b[i] - tb[i]).collect();
            o.step(&mut [&mut a[..], &mut b[..]], &[&ga, &gb], None)
                .unwrap();
            let st = o.state();
            assert!(
                st.tensor_d[0] <= 2.0 && st.tensor_d[1] <= 0.02,
                "{:?}",
                st.tensor_d
            );
            assert_eq!(st.d, st.tensor_d[0].max(st.tensor_d[1]));
        }
        let d = o.state().tensor_d.clone();
        assert!(d[0] > 0.2 && d[1] < 0.02 && d[0] > 50.0 * d[1], "{d:?}");
        // Both tensors end near their minimisers, at the scale of their own estimate.
        assert!((a[0] - 2.0).abs() <= 2.0 * d[0] && (b[0] - 0.02).abs() <= 2.0 * d[1]);
        // The state round-trips; a state without per-tensor estimates does not fit this config.
        let mut r = DistanceSign::<f64>::new(o.config().clone(), &[2, 2]).unwrap();
        r.set_state(o.state().clone()).unwrap();
        let mut global = o.state().clone();
        global.tensor_d.clear();
        global.tensor_numerator.clear();
        assert!(r.set_state(global).is_err());
        let mut too_big = o.state().clone();
        too_big.tensor_d[1] = 2.0 * too_big.d;
        assert!(r.set_state(too_big).is_err());
    }

    #[test]
    fn failed_step_changes_nothing() {
        let mut o = DistanceSign::<f64>::new(config(), &[2]).unwrap();
        let mut x = [1.0, -2.0];
        o.step_flat(&mut x, &[2.0, -1.0], None).unwrap();
        let (before, x_before) = (o.state().clone(), x);
        assert!(o.step_flat(&mut x, &[f64::NAN, 1.0], None).is_err());
        assert!(
            o.step_flat(&mut x, &[1.0, 1.0], Some(f64::INFINITY))
                .is_err()
        );
        assert!(o.step(&mut [&mut x[..1]], &[&[1.0]], None).is_err());
        assert!(o.set_lr_multiplier(-1.0).is_err());
        assert!(o.set_lr_multiplier(f64::NAN).is_err());
        assert_eq!(o.lr_multiplier(), 1.0);
        assert_eq!((o.state(), x), (&before, x_before));
    }

    #[test]
    fn validation_names_the_parameter() {
        for bad in [
            DistanceSignConfig {
                beta2: 1.0,
                ..Default::default()
            },
            DistanceSignConfig {
                d0: 0.0,
                ..Default::default()
            },
            DistanceSignConfig {
                growth_limit: Some(0.5),
                ..Default::default()
            },
        ] {
            let e = DistanceSign::<f32>::new(bad, &[1]).unwrap_err();
            assert!(
                matches!(e, Error::InvalidParameter { owner: OWNER, .. }),
                "{e}"
            );
        }
    }

    /// The estimate grows from 1e-6 by orders of magnitude on a quadratic whose minimiser is at
    /// ℓ∞ distance 2, and never above it (the lower-bound property, convex case).
    #[test]
    fn estimate_grows_but_stays_below_the_distance() {
        let mut o = DistanceSign::<f64>::new(DistanceSignConfig::default(), &[3]).unwrap();
        let mut x = [0.0, 0.0, 0.0];
        let target = [2.0, -1.0, 0.5];
        for _ in 0..500 {
            let g: Vec<f64> = (0..3)
                .map(|i| (i + 1) as f64 * (x[i] - target[i]))
                .collect();
            o.step_flat(&mut x, &g, None).unwrap();
            assert!(o.state().d <= 2.0);
        }
        assert!(o.state().d > 1e-2, "{}", o.state().d);
        let restored = {
            let mut r = DistanceSign::<f64>::new(DistanceSignConfig::default(), &[3]).unwrap();
            r.set_state(o.state().clone()).unwrap();
            r
        };
        assert_eq!(restored.state(), o.state());
        let mut wrong = DistanceSign::<f64>::new(DistanceSignConfig::default(), &[2]).unwrap();
        assert!(wrong.set_state(o.state().clone()).is_err());
    }
}
