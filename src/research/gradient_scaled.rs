//! R1/R3: ALIAS whose smoothness sum starts from the first gradient's scale.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::scalar;
use crate::optim::alias::{AliasSignSgd, AliasSignSgdConfig, AliasSignSgdState};
use crate::optimizer::{Method, Optimizer, Stateful, StepReport, check_step_inputs};

/// **R1, gradient-scaled start**: ALIAS whose initial smoothness is set from the first gradient,
/// `L_0 = ‖g_0‖_1 / max(1, ‖x_0‖_∞)`, instead of the probe step (used only when the
/// configuration gives no `L_0`).
///
/// Why it should help: for any `x*`, `‖∇f(x_0) − ∇f(x*)‖_1 ≤ L_∞ ‖x_0 − x*‖_∞`, so
/// `‖g_0‖_1 / D ≤ L_∞` whenever the distance to a minimiser is at most `D`; with the scale
/// guess `D = max(1, ‖x_0‖_∞)` the first step is a real step of the formula. The paper-exact
/// probe moves by `10⁻⁶`, and with minibatch gradients its smoothness sample is
/// `‖noise‖_1 / 10⁻⁶`, which fixes `S` at a huge value for the rest of the run. Here every sample
/// divides by a move of the formula's size.
///
/// After the first step it is ALIAS Sign-SGD with that `S`: its state is an [`AliasSignSgdState`] and
/// it checkpoints like the others. A warm-up is refused (the start rule replaces the probe at
/// step 0). Not the paper's method; the docs of `AliasSignSgd` describe that one.
#[derive(Debug, Clone)]
pub struct GradientScaledStart<F: Float> {
    config: GradientScaledStartConfig,
    layout: Vec<usize>,
    /// Built from `config` in `new`; the first step gives it the gradient-scaled `L_0`.
    inner: AliasSignSgd<F>,
}

/// The configuration of a [`GradientScaledStart`] as one value.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GradientScaledStartConfig {
    /// The ALIAS configuration the start rule feeds (R4's horizon is
    /// [`crate::AliasRule::horizon`]).
    pub alias: AliasSignSgdConfig,
    /// R3: also bound the first step by the Polyak step (see
    /// [`GradientScaledStart::with_polyak_bound`]).
    pub polyak_bound: bool,
}

const OWNER: &str = "GradientScaledStart";

impl<F: Float> GradientScaledStart<F> {
    /// Validates `config` (by building the ALIAS optimizer it runs); refuses a warm-up.
    pub fn new(config: AliasSignSgdConfig, layout: &[usize]) -> Result<Self> {
        Self::from_config(
            GradientScaledStartConfig {
                alias: config,
                polyak_bound: false,
            },
            layout,
        )
    }

    /// [`GradientScaledStart::new`] from one configuration value.
    pub fn from_config(config: GradientScaledStartConfig, layout: &[usize]) -> Result<Self> {
        if config.alias.rule.warmup.is_some() {
            return Err(Error::invalid(
                OWNER,
                "warmup",
                "Some(..)",
                "None (the gradient-scaled start replaces the probe at step 0)",
            ));
        }
        let inner = AliasSignSgd::new(config.alias.clone(), layout)?;
        Ok(Self {
            config,
            layout: layout.to_vec(),
            inner,
        })
    }

    /// **R3**: also bound the first step by the Polyak step of sign descent: the first-order
    /// model `f(x_0 − γ sign g_0) ≈ f(x_0) − γ‖g_0‖_1` must not predict a value below 0 (a lower
    /// bound for non-negative losses), so `γ_0 ≤ f(x_0)/‖g_0‖_1`, i.e.
    /// `L_0 = max(‖g_0‖_1 / D, ‖g_0‖_1² / f(x_0))`. Applies when the first step gets a positive
    /// loss.
    pub fn with_polyak_bound(mut self) -> Self {
        self.config.polyak_bound = true;
        self
    }

    /// **R4**: R3 or R1 with a known horizon `T`, i.e. [`crate::AliasRule::horizon`] set to `T`
    /// (cosine decay of the formula's stepsize over the horizon). Errors for `T = 0`.
    pub fn with_horizon(mut self, total_steps: u64) -> Result<Self> {
        let mut alias = self.config.alias.clone();
        alias.rule.horizon = Some(total_steps);
        let mut inner = AliasSignSgd::new(alias.clone(), &self.layout)?;
        inner.set_lr_multiplier(self.inner.lr_multiplier())?;
        self.config.alias = alias;
        self.inner = inner;
        Ok(self)
    }

    /// `L_0` from the first gradient and point (`None`: keep the configuration's start).
    fn initial_smoothness(
        &self,
        params: &[&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<Option<f64>> {
        if self.config.alias.rule.initial_smoothness.is_some() {
            return Ok(None);
        }
        let g_l1: f64 = grads.iter().map(|g| scalar::l1_norm(g)).sum();
        if g_l1 <= 0.0 {
            return Ok(None);
        }
        let x_inf = params
            .iter()
            .map(|p| scalar::inf_norm(p))
            .fold(0.0, f64::max);
        let mut l0 = g_l1 / x_inf.max(1.0);
        if let (true, Some(f0)) = (self.config.polyak_bound, loss)
            && f0 > 0.0
        {
            l0 = l0.max(g_l1 * g_l1 / f0);
        }
        // Extreme gradients: ‖g‖_1 (or its square) overflowing is a step error; an L_0 that
        // underflows to 0 (subnormal gradients) leaves the probe start.
        crate::optimizer::check_step_value(0, "gradient-scaled L_0", l0, f64::MAX)?;
        Ok((l0 > 0.0).then_some(l0))
    }
}

impl<F: Float> Optimizer<F> for GradientScaledStart<F> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        if self.inner.steps_taken() > 0 {
            return self.inner.step(params, grads, loss);
        }
        check_step_inputs(
            &crate::kernels::Kernels::detect().with_threads(1),
            &self.layout,
            params,
            grads,
            loss,
            0,
        )?;
        let Some(l0) = self.initial_smoothness(params, grads, loss)? else {
            return self.inner.step(params, grads, loss);
        };
        // The start is the step's only use of L_0 (it becomes S); a failed step takes it back.
        self.inner.set_initial_smoothness(Some(l0));
        let report = self.inner.step(params, grads, loss);
        if report.is_err() {
            self.inner.set_initial_smoothness(None);
        }
        report
    }

    fn layout(&self) -> &[usize] {
        &self.layout
    }

    fn steps_taken(&self) -> u64 {
        self.inner.steps_taken()
    }

    fn set_lr_multiplier(&mut self, multiplier: f64) -> Result<()> {
        self.inner.set_lr_multiplier(multiplier)
    }

    fn lr_multiplier(&self) -> f64 {
        self.inner.lr_multiplier()
    }

    fn name(&self) -> &'static str {
        if self.config.alias.rule.horizon.is_some() {
            "ALIAS, gradient-scaled start with cosine decay over the horizon (R4)"
        } else if self.config.polyak_bound {
            "ALIAS, gradient-scaled start with Polyak bound (R3)"
        } else {
            "ALIAS, gradient-scaled start (R1)"
        }
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        self.inner.state_bytes_per_parameter()
    }
}

impl<F: Float> Stateful for GradientScaledStart<F> {
    type State = AliasSignSgdState<F>;

    fn state(&self) -> &AliasSignSgdState<F> {
        self.inner.state()
    }

    /// Restores the ALIAS state; a state past step 0 already holds the start's `S`.
    fn set_state(&mut self, state: AliasSignSgdState<F>) -> Result<()> {
        self.inner.set_state(state)
    }
}

impl<F: Float> Method for GradientScaledStart<F> {
    type Element = F;
    type Config = GradientScaledStartConfig;
    const NAME: &'static str = OWNER;

    fn build(config: GradientScaledStartConfig, layout: &[usize]) -> Result<Self> {
        Self::from_config(config, layout)
    }

    fn config(&self) -> &GradientScaledStartConfig {
        &self.config
    }

    fn check_state(
        config: &GradientScaledStartConfig,
        layout: &[usize],
        state: &AliasSignSgdState<F>,
    ) -> Result<()> {
        AliasSignSgd::<F>::check_state(&config.alias, layout, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x_0 = (3, −1), g_0 = (2, −4): L_0 = 6/3 = 2; Option F with f(x_0) = 8: γ_0 = sqrt(8/2) = 2.
    #[test]
    fn first_step_uses_the_gradient_scale() {
        let mut o =
            GradientScaledStart::<f64>::new(AliasSignSgdConfig::option_f(0.0), &[2]).unwrap();
        let mut x = [3.0, -1.0];
        let r = o.step_flat(&mut x, &[2.0, -4.0], Some(8.0)).unwrap();
        assert_eq!(r.stepsize, 2.0);
        assert_eq!(x, [1.0, 1.0]);
        assert_eq!(o.steps_taken(), 1);
        // A failed first step changes nothing and can be retried.
        let mut o =
            GradientScaledStart::<f64>::new(AliasSignSgdConfig::option_f(0.0), &[2]).unwrap();
        assert!(o.step_flat(&mut x, &[2.0, -4.0], None).is_err());
        assert_eq!((x, o.steps_taken()), ([1.0, 1.0], 0));
    }

    /// R3: x_0 = (3, −1), g_0 = (2, −4), f(x_0) = 2: L_0 = max(6/3, 36/2) = 18, so Option F's
    /// γ_0 = sqrt(2/18) = 1/3 = f(x_0)/‖g_0‖_1.
    /// R4 scales step 1 by `½(1 + cos(π/2)) = ½` against R3 from the same state (the two agree
    /// exactly at step 0, where the factor is 1), and refuses `T = 0`.
    #[test]
    fn horizon_decays_the_stepsize() {
        let config = AliasSignSgdConfig::option_f(0.0);
        let mut r3 = GradientScaledStart::<f64>::new(config.clone(), &[2])
            .unwrap()
            .with_polyak_bound();
        let mut r4 = r3.clone().with_horizon(2).unwrap();
        let (mut x3, mut x4) = ([3.0, -1.0], [3.0, -1.0]);
        let a = r3.step_flat(&mut x3, &[2.0, -4.0], Some(8.0)).unwrap();
        let b = r4.step_flat(&mut x4, &[2.0, -4.0], Some(8.0)).unwrap();
        assert_eq!((a.stepsize, x3), (b.stepsize, x4));
        let a = r3.step_flat(&mut x3, &[1.0, -1.0], Some(2.0)).unwrap();
        let b = r4.step_flat(&mut x4, &[1.0, -1.0], Some(2.0)).unwrap();
        assert!(a.stepsize > 0.0);
        assert!((b.stepsize - 0.5 * a.stepsize).abs() <= 1e-15 * a.stepsize);
        assert!(r4.name().contains("R4"));
        assert!(
            GradientScaledStart::<f64>::new(config, &[2])
                .unwrap()
                .with_horizon(0)
                .is_err()
        );
    }

    #[test]
    fn polyak_bound_limits_the_first_step() {
        let mut o = GradientScaledStart::<f64>::new(AliasSignSgdConfig::option_f(0.0), &[2])
            .unwrap()
            .with_polyak_bound();
        let mut x = [3.0, -1.0];
        let r = o.step_flat(&mut x, &[2.0, -4.0], Some(2.0)).unwrap();
        assert!((r.stepsize - 1.0 / 3.0).abs() < 1e-15);
    }
}
