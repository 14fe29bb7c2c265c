//! The ALIAS stepsize rule: a pure function from scalars (the running smoothness and gap
//! estimates, this step's samples, the loss) to a decision, shared by every ALIAS variant
//! ([`crate::AliasSignSgd`] with full or sign-only memory, [`crate::AliasAdam`], the distributed
//! [`crate::dist::DistAliasSignSgd`]). `docs/ALGORITHMS.md` §2.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::Backend;
use crate::optimizer::{Estimates, StepReport, check_fits, check_range, check_step_value};
use crate::schedule::Schedule;

/// The numerator of ALIAS's stepsize `γ_t = sqrt(numerator / S)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AliasStepsize {
    /// **Option D**: the gap estimate `d = max(d_0, d̃)`, `d̃ = Σ γ_{t−1}⟨g_t, u_{t−1}⟩`;
    /// needs no function values. `d0: None` uses `10⁻⁶ · f(x_0)` when the first step gets a
    /// positive loss and `10⁻⁶` otherwise.
    GapEstimate {
        /// `d_0 > 0`, the initial gap estimate.
        d0: Option<f64>,
    },
    /// **Option F**: `f(x_0) − f̃` with a known lower bound `f̃ ≤ f*` (0 for non-negative
    /// losses); needs the loss at the first step.
    LowerBound {
        /// `f̃`, a lower bound on the optimal value.
        f_lower: f64,
    },
}

impl Default for AliasStepsize {
    fn default() -> Self {
        AliasStepsize::GapEstimate { d0: None }
    }
}

/// Plain (unscaled-direction) steps before ALIAS takes over (the reference code's
/// `warmup_steps`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Warmup {
    /// `w`: steps `0..w` are warm-up steps; ALIAS's sums start at step `w`.
    pub steps: u64,
    /// The warm-up base stepsize.
    pub lr: f64,
    /// The multiplier on `lr` during warm-up.
    pub schedule: Schedule,
}

/// The ALIAS stepsize rule and its settings, shared by every ALIAS variant (`docs/ALGORITHMS.md` §2).
///
/// Given, at step `t ≥ 1`, the smoothness numerator `a_t` (`‖g_t − g_{t−1}‖_1`, or its
/// sign-only estimate) and the direction product `b_t = ⟨g_t, u_{t−1}⟩`:
/// `S ← S + a_t / ‖x_t − x_{t−1}‖_∞` (skipped if nothing moved), Option D:
/// `d̃ ← d̃ + γ_{t−1} b_t`, `d ← max(d, d̃)`; then `γ_t = lr_multiplier · sqrt(numerator / S)`, capped at
/// `γ_max`. Everything off by default gives the paper's method.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AliasRule {
    /// Option D (default) or Option F.
    pub stepsize: AliasStepsize,
    /// `L_0 > 0`, an initial smoothness guess: `S` starts at `L_0` and the first step already
    /// uses the formula. `None` (default): the first step uses the probe stepsize.
    pub initial_smoothness: Option<f64>,
    /// `ε_0`: the probe stepsize is `ε_0 · max(1, ‖x_0‖_∞)` (default `10⁻⁶`, as DoG).
    pub probe: f64,
    /// A constant outer multiplier on the formula's stepsize (default 1: the parameter-free
    /// method); [`crate::Optimizer::set_lr_multiplier`] multiplies it further at run time.
    #[cfg_attr(feature = "serde", serde(alias = "lr"))]
    pub lr_multiplier: f64,
    /// `γ_max`: caps the stepsize (the reference code's `clamp_level`); `None` by default.
    pub max_stepsize: Option<f64>,
    /// Warm-up steps with a scheduled stepsize; `None` by default.
    pub warmup: Option<Warmup>,
    /// `k ≥ 1`: refresh `γ` and sample the estimators only every `k` steps, from differences
    /// over the window (`‖g_t − g_{t−k}‖_1 / ‖x_t − x_{t−k}‖_∞`, gap increment
    /// `⟨g_t, x_{t−k} − x_t⟩`, the convex lower bound on `f(x_{t−k}) − f(x_t)`); `γ` is constant
    /// in between (so is a new [`crate::Optimizer::set_lr_multiplier`], which takes effect at the
    /// next refresh step). Default 1 (every step, the paper's method). The reference code's
    /// `update_gap`; supported by [`crate::AliasSignSgd`].
    pub update_gap: u64,
    /// `T`: a known horizon; multiplies the formula's stepsize by the cosine factor
    /// `½(1 + cos(π t / T))` ([`Schedule::Cosine`]). `None` by default. **Beyond the paper**
    /// (research R4, `docs/RESEARCH.md`): `γ_t = sqrt(d / S_t)` only falls like `1/sqrt(t)`, so
    /// full-batch sign descent ends oscillating at the scale of the last `γ`; tuned baselines
    /// decay to zero over the known budget, and this gives ALIAS the same. The estimators see the
    /// moves actually made, so the smoothness samples stay consistent while `γ` shrinks.
    #[cfg_attr(feature = "serde", serde(default))]
    pub horizon: Option<u64>,
}

impl Default for AliasRule {
    fn default() -> Self {
        Self {
            stepsize: AliasStepsize::default(),
            initial_smoothness: None,
            probe: 1e-6,
            lr_multiplier: 1.0,
            max_stepsize: None,
            warmup: None,
            update_gap: 1,
            horizon: None,
        }
    }
}

/// Which rule set an ALIAS step's stepsize; reported as the `phase` label of
/// [`StepReport::estimates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AliasPhase {
    /// Warm-up: plain Sign-SGD with the warm-up schedule.
    Warmup,
    /// `S` is still 0 (no `L_0`, no sample yet): the tiny probe stepsize.
    Probe,
    /// The ALIAS formula `γ_t = sqrt(numerator / S)`.
    Adaptive,
}

impl AliasPhase {
    /// The label in step reports: `"warmup"`, `"probe"` or `"adaptive"`.
    pub fn label(self) -> &'static str {
        match self {
            AliasPhase::Warmup => "warmup",
            AliasPhase::Probe => "probe",
            AliasPhase::Adaptive => "adaptive",
        }
    }

    /// The phase an ALIAS step report names (`None` for other methods' reports).
    pub fn of(report: &StepReport) -> Option<Self> {
        [AliasPhase::Warmup, AliasPhase::Probe, AliasPhase::Adaptive]
            .into_iter()
            .find(|p| report.estimates.get_label("phase") == Some(p.label()))
    }
}

/// The scalar part of every ALIAS variant's state: O(1) numbers, no history.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AliasScalars {
    /// `S`, the running sum of local smoothness samples `r_{t−1}` (starts at `L_0` or 0).
    pub smoothness_sum: f64,
    /// `d̃`, the running sum of gap increments (Option D).
    pub gap_sum: f64,
    /// `d`, the gap estimate, non-decreasing (Option D).
    pub gap: f64,
    /// `f(x_0)`, the loss at ALIAS's first step (Option F).
    pub initial_loss: Option<f64>,
    /// `γ_{t−1}`, the previous applied stepsize.
    pub prev_stepsize: f64,
    /// `‖x_t − x_{t−1}‖_∞`, measured by the previous step's update pass.
    pub prev_move: f64,
}

impl AliasScalars {
    /// Rejects values no run of `rule` can produce (negative sums or moves, non-finite numbers,
    /// an initial loss below Option F's lower bound), so a corrupted checkpoint cannot poison
    /// later steps.
    pub(crate) fn validate(&self, rule: &AliasRule, step: u64) -> Result<()> {
        let s = self;
        let ok = s.smoothness_sum.is_finite()
            && s.smoothness_sum >= 0.0
            && s.gap_sum.is_finite()
            && s.gap.is_finite()
            && s.gap >= 0.0
            && s.initial_loss.is_none_or(f64::is_finite)
            && s.prev_stepsize.is_finite()
            && s.prev_stepsize >= 0.0
            && s.prev_move.is_finite()
            && s.prev_move >= 0.0;
        if !ok {
            return Err(Error::IncompatibleState {
                reason: "ALIAS scalars out of range (negative or non-finite)",
            });
        }
        if let AliasStepsize::LowerBound { f_lower } = rule.stepsize {
            if s.initial_loss.is_some_and(|loss| loss < f_lower) {
                return Err(Error::IncompatibleState {
                    reason: "ALIAS initial loss below the configured lower bound f_lower",
                });
            }
            // Option F records f(x_0) at the first ALIAS step (after any warm-up).
            let alias_start = rule.warmup.map_or(0, |w| w.steps);
            if step > alias_start && s.initial_loss.is_none() {
                return Err(Error::IncompatibleState {
                    reason: "Option F state past its first step without the initial loss",
                });
            }
        }
        Ok(())
    }
}

/// What a variant measured at a refresh step `t ≥ 1` for the rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// `‖g_t − g_{t−1}‖_1` (or the sign-only estimate `max(0, ‖g_{t−1}‖_1 − ⟨g_t, sign g_{t−1}⟩)`).
    pub smoothness_numerator: f64,
    /// `‖x_t − x_{t−1}‖_∞`, the denominator (measured).
    pub move_inf: f64,
    /// The gap increment `γ_{t−1}⟨g_t, u_{t−1}⟩` (Option D).
    pub gap_increment: f64,
}

/// The rule's decision for one step: the stepsize and the scalars to commit after the update.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decision {
    pub gamma: f64,
    pub phase: AliasPhase,
    pub scalars: AliasScalars,
    pub last_smoothness: Option<f64>,
}

impl Decision {
    /// [`Error::StepOutOfRange`] if the decoupled decay factor `1 − γ·wd` would not be positive.
    pub(crate) fn check_decay(&self, step: u64, weight_decay: f64) -> Result<()> {
        crate::optimizer::check_decay(step, self.gamma, weight_decay)
    }

    /// Commits the decision after the update pass moved `x` by `moved` in ℓ∞.
    pub(crate) fn commit(self, scalars: &mut AliasScalars, moved: f64) {
        *scalars = AliasScalars {
            prev_stepsize: self.gamma,
            prev_move: moved,
            ..self.scalars
        };
    }

    /// The step report.
    pub(crate) fn report(&self, rule: &AliasRule, step: u64, backend: Backend) -> StepReport {
        let option_d = matches!(rule.stepsize, AliasStepsize::GapEstimate { .. });
        StepReport {
            step,
            stepsize: self.gamma,
            backend,
            estimates: Estimates::new()
                .label("phase", self.phase.label())
                .number("smoothness_sum", self.scalars.smoothness_sum)
                .maybe_number("gap_sum", option_d.then_some(self.scalars.gap_sum))
                .maybe_number("gap", option_d.then_some(self.scalars.gap))
                .maybe_number("last_smoothness", self.last_smoothness),
        }
    }
}

impl AliasRule {
    /// The rule with Option F and lower bound `f_lower` (other settings default).
    pub fn option_f(f_lower: f64) -> Self {
        Self {
            stepsize: AliasStepsize::LowerBound { f_lower },
            ..Default::default()
        }
    }

    /// Checks every setting, naming `owner` in errors.
    pub(crate) fn validate(&self, owner: &'static str) -> Result<()> {
        let positive = |name, v: f64| check_range(owner, name, v, v > 0.0, "a finite number > 0");
        match self.stepsize {
            AliasStepsize::GapEstimate { d0: Some(d0) } => positive("d0", d0)?,
            AliasStepsize::GapEstimate { d0: None } => {}
            AliasStepsize::LowerBound { f_lower } => {
                check_range(owner, "f_lower", f_lower, true, "a finite number")?
            }
        }
        if let Some(l0) = self.initial_smoothness {
            positive("initial_smoothness", l0)?;
        }
        if self.update_gap == 0 {
            return Err(Error::invalid(owner, "update_gap", 0, "an integer >= 1"));
        }
        positive("probe", self.probe)?;
        positive("lr_multiplier", self.lr_multiplier)?;
        if let Some(cap) = self.max_stepsize {
            positive("max_stepsize", cap)?;
        }
        if let Some(w) = &self.warmup {
            positive("warmup.lr", w.lr)?;
            w.schedule.validate(owner)?;
        }
        if let Some(total_steps) = self.horizon {
            Schedule::Cosine { total_steps }.validate(owner)?;
        }
        Ok(())
    }

    /// Checks the settings that depend on the element type `F` (the probe and warm-up stepsizes
    /// at most `F::MAX / 2`) and the warm-up stepsize against the decoupled weight decay `wd`
    /// (`warmup.lr·wd < 1`, so the decay factor `1 − γ·wd` stays positive; adaptive stepsizes are
    /// checked at each step).
    pub(crate) fn validate_decay<F: Float>(&self, owner: &'static str, wd: f64) -> Result<()> {
        check_fits::<F>(owner, "probe", self.probe)?;
        if let Some(w) = &self.warmup {
            check_fits::<F>(owner, "warmup.lr", w.lr)?;
            check_range(
                owner,
                "weight_decay",
                wd,
                w.lr * wd < 1.0,
                "a number with warmup.lr * weight_decay < 1",
            )?;
        }
        Ok(())
    }

    /// Whether step `t` refreshes `γ` and samples the estimators (always during warm-up and
    /// with `update_gap = 1`).
    pub(crate) fn is_refresh(&self, t: u64) -> bool {
        let start = self.warmup.map_or(0, |w| w.steps);
        t < start || (t - start).is_multiple_of(self.update_gap)
    }

    /// Decides `γ_t` from the current scalars, this step's sample (absent at `t = 0`) and loss,
    /// with the user's outer `multiplier` on the formula's and the warm-up's stepsize.
    /// `x_inf` is called only for the probe stepsize. Pure: nothing is written.
    ///
    /// Fails with [`Error::StepOutOfRange`] if the stepsize would be non-finite or above
    /// `max_gamma` (the element type's largest value), or an estimator would be non-finite
    /// (a sum overflowing, a sample divided by a vanishing move): non-finite values never enter
    /// the state.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide(
        &self,
        owner: &'static str,
        t: u64,
        scalars: &AliasScalars,
        sample: Option<Sample>,
        loss: Option<f64>,
        multiplier: f64,
        max_gamma: f64,
        x_inf: impl FnOnce() -> f64,
    ) -> Result<Decision> {
        let decision = self.decide_unchecked(owner, t, scalars, sample, loss, multiplier, x_inf)?;
        let s = &decision.scalars;
        check_step_value(t, "ALIAS smoothness sum S", s.smoothness_sum, f64::MAX)?;
        check_step_value(t, "ALIAS gap sum", s.gap_sum.abs(), f64::MAX)?;
        check_step_value(t, "ALIAS gap estimate", s.gap, f64::MAX)?;
        check_step_value(t, "ALIAS stepsize", decision.gamma, max_gamma)?;
        Ok(decision)
    }

    #[allow(clippy::too_many_arguments)]
    fn decide_unchecked(
        &self,
        owner: &'static str,
        t: u64,
        scalars: &AliasScalars,
        sample: Option<Sample>,
        loss: Option<f64>,
        multiplier: f64,
        x_inf: impl FnOnce() -> f64,
    ) -> Result<Decision> {
        let mut next = *scalars;
        let mut last_smoothness = None;
        let alias_start = self.warmup.map_or(0, |w| w.steps);
        if t < alias_start {
            let w = self.warmup.expect("t < alias_start implies a warm-up");
            let gamma = w.lr * multiplier * w.schedule.factor(t);
            return Ok(Decision {
                gamma,
                phase: AliasPhase::Warmup,
                scalars: next,
                last_smoothness,
            });
        }
        if !self.is_refresh(t) {
            let phase = if next.smoothness_sum > 0.0 {
                AliasPhase::Adaptive
            } else {
                AliasPhase::Probe
            };
            let gamma = scalars.prev_stepsize;
            return Ok(Decision {
                gamma,
                phase,
                scalars: next,
                last_smoothness,
            });
        }
        if t == alias_start {
            next.smoothness_sum = self.initial_smoothness.unwrap_or(0.0);
            next.gap_sum = 0.0;
            match self.stepsize {
                AliasStepsize::GapEstimate { d0 } => {
                    next.gap = d0.unwrap_or(match loss {
                        Some(l) if l > 0.0 => 1e-6 * l,
                        _ => 1e-6,
                    });
                }
                AliasStepsize::LowerBound { f_lower } => {
                    let l = loss.ok_or(Error::MissingLoss {
                        method: owner,
                        step: t,
                    })?;
                    if l < f_lower {
                        return Err(Error::LossBelowLowerBound {
                            step: t,
                            loss: l,
                            f_lower,
                        });
                    }
                    next.initial_loss = Some(l);
                }
            }
        }
        if let Some(sample) = sample {
            if sample.move_inf > 0.0 {
                let r = sample.smoothness_numerator / sample.move_inf;
                next.smoothness_sum += r;
                last_smoothness = Some(r);
            }
            if let AliasStepsize::GapEstimate { .. } = self.stepsize {
                next.gap_sum += sample.gap_increment;
                next.gap = next.gap.max(next.gap_sum);
            }
        }
        let numerator = match self.stepsize {
            AliasStepsize::GapEstimate { .. } => next.gap,
            AliasStepsize::LowerBound { f_lower } => {
                // Set at the first ALIAS step; a restored state without it is refused by
                // `AliasScalars::validate`.
                next.initial_loss.ok_or(Error::IncompatibleState {
                    reason: "Option F state without the initial loss",
                })? - f_lower
            }
        };
        let (gamma, phase) = if next.smoothness_sum > 0.0 {
            let horizon = self.horizon.map_or(1.0, |total_steps| {
                Schedule::Cosine { total_steps }.factor(t)
            });
            let mut gamma = self.lr_multiplier
                * multiplier
                * horizon
                * (numerator / next.smoothness_sum).sqrt();
            if let Some(cap) = self.max_stepsize {
                gamma = gamma.min(cap);
            }
            (gamma, AliasPhase::Adaptive)
        } else {
            (self.probe * x_inf().max(1.0), AliasPhase::Probe)
        };
        Ok(Decision {
            gamma,
            phase,
            scalars: next,
            last_smoothness,
        })
    }
}
