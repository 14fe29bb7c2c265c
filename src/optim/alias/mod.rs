//! ALIAS Sign-SGD: Sign-SGD whose stepsize comes from running estimates of smoothness and gap.
//!
//! - [`rule`]: the stepsize rule itself (scalars only), which every ALIAS variant in the crate
//!   feeds with the same two samples before applying its own direction;
//! - this file: [`AliasSignSgd`] with full memory (the previous gradient), its configuration,
//!   state and the start rules' hooks;
//! - [`sign_only`]: the same method keeping only the previous gradient's signs.

mod rule;
mod sign_only;

pub(crate) use rule::Sample;
pub use rule::{AliasPhase, AliasRule, AliasScalars, AliasStepsize, Warmup};

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{Backend, Kernels, packed_words};
use crate::optimizer::{LrMultiplier, lr_multiplier_methods, method};
use crate::optimizer::{
    Optimizer, StepReport, check_finite, check_layout, check_range, check_shapes, check_step_value,
};
use crate::state::{check_buffers, check_counter, check_scalar, check_values, fits_layout_with};

pub(crate) use crate::optimizer::check_step_shapes;

const OWNER: &str = "AliasSignSgd";

/// Configuration of [`AliasSignSgd`]; every practical option is off by default, which gives the
/// paper's method.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AliasSignSgdConfig {
    /// The stepsize rule (Option D or F, start, cap, warm-up).
    pub rule: AliasRule,
    /// Decoupled weight decay `x ← x(1 − γ_t·wd)` before the sign step (default 0).
    pub weight_decay: f64,
    /// `β` for the momentum direction `sign(m_t)`, `m_t = β m_{t−1} + (1−β) g_t`; `None` by
    /// default. The gap term then uses the applied direction: `γ_{t−1}⟨g_t, sign(m_{t−1})⟩`.
    pub momentum: Option<f64>,
    /// What is kept of the previous gradient: all of it ([`AliasMemory::Full`], the default) or
    /// its signs and ℓ1 norm ([`AliasMemory::SignOnly`], which refuses weight decay, momentum
    /// and `update_gap > 1`).
    pub memory: AliasMemory,
}

/// What ALIAS keeps of the previous gradient for its smoothness sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AliasMemory {
    /// `g_{t−1}` itself (the paper's method): one buffer of `F` per parameter, plus the momentum
    /// and anchor buffers when those options are on.
    #[default]
    Full,
    /// Sign-only memory (`docs/ALGORITHMS.md` §5, the formula is this crate's): keep
    /// `sign(g_{t−1})` as 2-bit packed signs and the scalar `‖g_{t−1}‖_1` instead of `g_{t−1}`,
    /// and use the smoothness sample
    /// `r̂_{t−1} = max(0, ‖g_{t−1}‖_1 − ⟨g_t, sign(g_{t−1})⟩) / ‖x_t − x_{t−1}‖_∞`
    /// (`∈ [0, r_{t−1}]` for convex `f`). The gap term is unchanged. State: 2 bits per parameter.
    /// `‖x_t − x_{t−1}‖_∞` is then derived as `γ_{t−1}` (exact in real arithmetic for the sign
    /// direction without decay), so this kind refuses weight decay, momentum and
    /// `update_gap > 1`.
    SignOnly,
}

impl AliasSignSgdConfig {
    /// Option F with lower bound `f_lower`, everything else default.
    pub fn option_f(f_lower: f64) -> Self {
        Self {
            rule: AliasRule::option_f(f_lower),
            ..Default::default()
        }
    }
}

/// Everything in an [`AliasSignSgd`] that changes between steps: O(1) scalars plus the memory
/// of the previous gradient, whose kind follows [`AliasSignSgdConfig::memory`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AliasSignSgdState<F> {
    /// `t`, the number of steps taken (warm-up included).
    pub step: u64,
    /// The stepsize rule's running scalars.
    pub scalars: AliasScalars,
    /// The previous gradient (or its signs), and the buffers its options need.
    pub memory: AliasMemoryState<F>,
}

/// The state of one [`AliasMemory`] kind.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AliasMemoryState<F> {
    /// [`AliasMemory::Full`].
    Full(AliasFullMemory<F>),
    /// [`AliasMemory::SignOnly`].
    SignOnly(AliasSignMemory),
}

impl<F> AliasMemoryState<F> {
    /// The full memory, if this is [`AliasMemoryState::Full`].
    pub fn full(&self) -> Option<&AliasFullMemory<F>> {
        match self {
            Self::Full(memory) => Some(memory),
            Self::SignOnly(_) => None,
        }
    }

    /// The sign-only memory, if this is [`AliasMemoryState::SignOnly`].
    pub fn sign_only(&self) -> Option<&AliasSignMemory> {
        match self {
            Self::Full(_) => None,
            Self::SignOnly(memory) => Some(memory),
        }
    }
}

/// [`AliasMemory::Full`]'s state: per-tensor buffers of `F`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AliasFullMemory<F> {
    /// `g_{t−1}` per tensor (with `update_gap > 1`, the gradient of the last refresh step).
    pub prev_grad: Vec<Vec<F>>,
    /// `m_{t−1}` per tensor (empty without momentum).
    pub momentum: Vec<Vec<F>>,
    /// `x` at the last refresh step per tensor (empty unless `update_gap > 1`).
    pub anchor: Vec<Vec<F>>,
}

/// [`AliasMemory::SignOnly`]'s state: 2 bits per parameter and one scalar.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AliasSignMemory {
    /// `sign(g_{t−1}) > 0` bits per tensor (64 per word).
    pub pos: Vec<Vec<u64>>,
    /// `sign(g_{t−1}) < 0` bits per tensor.
    pub neg: Vec<Vec<u64>>,
    /// `‖g_{t−1}‖_1`.
    pub grad_l1: f64,
}

/// ALIAS Sign-SGD: `x_{t+1} = x_t − γ_t sign(g_t)` with a tuning-free `γ_t` (`docs/ALGORITHMS.md` §2).
///
/// # Update rule
///
/// At step `t ≥ 1`, with `g_t` the gradient the caller passes:
/// 1. `r_{t−1} = ‖g_t − g_{t−1}‖_1 / ‖x_t − x_{t−1}‖_∞` (skipped when nothing moved);
///    `S ← S + r_{t−1}`;
/// 2. Option D only: `d̃ ← d̃ + γ_{t−1}⟨g_t, sign(g_{t−1})⟩`, `d ← max(d, d̃)`;
/// 3. `γ_t = sqrt(d / S)` (Option D) or `γ_t = sqrt((f(x_0) − f̃) / S)` (Option F), times `lr_multiplier`,
///    capped at `γ_max` if set;
/// 4. `x ← x(1 − γ_t·wd) − γ_t sign(g_t)`.
///
/// Norms and inner products run over all tensors at once, accumulated in `f64`; there is one
/// stepsize for the whole model.
///
/// **Start** (our definition, `docs/ALGORITHMS.md` §2): with `L_0` given, `S = L_0` and step 0 uses the
/// formula; otherwise step 0 moves by the probe stepsize `ε_0·max(1, ‖x_0‖_∞)` and the formula
/// takes over once `S > 0`.
///
/// **`‖x_t − x_{t−1}‖_∞` is measured**, not assumed: the fused update pass returns
/// `max_i |x_{t,i} − x_{t−1,i}|`, so weight decay and coordinates with `sign = 0` are accounted
/// exactly.
///
/// **Defaults and why**: `ε_0 = 10⁻⁶` keeps the probe harmless at any scale (`‖x_0‖_∞`
/// relative); `d_0 = 10⁻⁶·f(x_0)` is small against any real gap so that `d` is soon set by
/// observed progress, as in D-Adaptation and Prodigy.
///
/// **Stochastic use**: pass minibatch gradients; the smoothness sample then compares gradients of
/// consecutive minibatches. [`AliasSignSgd::step_same_sample`] takes in addition the previous
/// point's gradient on the current batch, for a lower-noise sample (2 gradients per step).
/// **Pitfall**: with consecutive-batch samples *and* the probe start, the first sample divides
/// minibatch noise by the probe's tiny move, so `S` starts enormous and Option D barely moves
/// (a9a, batch 128, 1000 steps: `f − f*` 0.31 from 0.37). For minibatch training give `L_0`
/// (e.g. 1) or use same-sample mode; both then reach `f − f* ≈ 0.01` in that setting.
///
/// # Needs from the problem
///
/// Gradients. Option F also needs the loss at the first step.
///
/// # Example
///
/// ```
/// use signfree::{AliasSignSgdConfig, AliasSignSgd, Cost, Gradient, Optimizer, Quadratic};
///
/// // No stepsize anywhere: ALIAS finds the scale of the problem by itself.
/// let q = Quadratic::new(vec![1.0, 10.0, 100.0], vec![1.0, -2.0, 3.0])?;
/// let mut opt = AliasSignSgd::<f64>::new(AliasSignSgdConfig::default(), &[3])?;
/// let (mut x, mut g) = (vec![0.0; 3], vec![0.0; 3]);
/// let f0 = q.cost(&x)?;
/// for _ in 0..2000 {
///     q.gradient(&x, &mut g)?;
///     opt.step_flat(&mut x, &g, None)?;
/// }
/// assert!(q.cost(&x)? < 1e-3 * f0);
/// # Ok::<(), signfree::Error>(())
/// ```
///
/// # Errors
///
/// [`AliasSignSgd::new`]: [`Error::InvalidParameter`] naming the field for a non-positive or
/// non-finite `d_0`, `L_0`, `ε_0`, `lr_multiplier` or `γ_max`, a non-finite `f̃`, negative weight decay,
/// momentum outside `[0, 1)`, an invalid warm-up or `warmup.lr·wd ≥ 1`, or a layout beyond the
/// address space. [`Optimizer::step`]:
/// [`Error::DimensionMismatch`], [`Error::NonFiniteGradient`], [`Error::NonFiniteLoss`];
/// [`Error::MissingLoss`] for Option F without a loss at its first step;
/// [`Error::LossBelowLowerBound`] if that loss is below `f̃`; [`Error::StepOutOfRange`] if the
/// stepsize or an estimator would be non-finite or beyond `F::MAX / 2` (an overflowing sum, a
/// smoothness sample divided by a vanishing move) or `1 − γ·wd ≤ 0`. Nothing changes when `step`
/// fails; non-finite values never enter the state.
///
/// # References
///
/// D. Medyakov, S. Stanko, G. Molodtsov, P. Zmushko, G. Evseev, E. Petrov, A. Beznosikov,
/// "Sign-SGD is the Golden Gate between Multi-Node to Single-Node Learning: Significant Boost
/// via Parameter-Free Optimization", arXiv:2506.03725. The start rule, the default `d_0` and the
/// same-sample mode's details are this crate's definitions (`docs/ALGORITHMS.md` §2 and §7).
///
/// [`StepReport::estimates`](crate::StepReport::estimates): the label `phase` ([`AliasPhase::label`]), `smoothness_sum` (`S`), with Option D `gap_sum` (`d̃`) and `gap` (`d`), and `last_smoothness` (the sample `r_{t−1}` added this step, if any); all after this step's update.
#[derive(Debug, Clone)]
pub struct AliasSignSgd<F: Float> {
    config: AliasSignSgdConfig,
    layout: Vec<usize>,
    state: AliasSignSgdState<F>,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
}

impl<F: Float> AliasSignSgd<F> {
    /// Builds the optimizer for tensors of the given lengths, validating the configuration.
    pub fn new(config: AliasSignSgdConfig, layout: &[usize]) -> Result<Self> {
        config.rule.validate(OWNER)?;
        let wd = config.weight_decay;
        check_range(OWNER, "weight_decay", wd, wd >= 0.0, "a finite number >= 0")?;
        config.rule.validate_decay::<F>(OWNER, wd)?;
        check_layout::<F>(OWNER, layout)?;
        if let Some(beta) = config.momentum {
            check_range(
                OWNER,
                "momentum",
                beta,
                (0.0..1.0).contains(&beta),
                "a number in [0, 1)",
            )?;
        }
        if config.memory == AliasMemory::SignOnly {
            let refuse = |parameter, value: String| {
                Err(Error::invalid(
                    OWNER,
                    parameter,
                    value,
                    "off with AliasMemory::SignOnly",
                ))
            };
            if config.weight_decay != 0.0 {
                return refuse("weight_decay", config.weight_decay.to_string());
            }
            if let Some(beta) = config.momentum {
                return refuse("momentum", beta.to_string());
            }
            if config.rule.update_gap != 1 {
                return refuse("update_gap", config.rule.update_gap.to_string());
            }
        }
        let buffers = || layout.iter().map(|&n| vec![F::ZERO; n]).collect::<Vec<_>>();
        let bits = || {
            layout
                .iter()
                .map(|&n| vec![0u64; packed_words(n)])
                .collect::<Vec<_>>()
        };
        let memory = match config.memory {
            AliasMemory::Full => AliasMemoryState::Full(AliasFullMemory {
                prev_grad: buffers(),
                momentum: if config.momentum.is_some() {
                    buffers()
                } else {
                    Vec::new()
                },
                anchor: if config.rule.update_gap > 1 {
                    buffers()
                } else {
                    Vec::new()
                },
            }),
            AliasMemory::SignOnly => AliasMemoryState::SignOnly(AliasSignMemory {
                pos: bits(),
                neg: bits(),
                grad_l1: 0.0,
            }),
        };
        let state = AliasSignSgdState {
            step: 0,
            scalars: AliasScalars::default(),
            memory,
        };
        Ok(Self {
            config,
            layout: layout.to_vec(),
            state,
            kernels: Kernels::detect(),
            lr_multiplier: LrMultiplier::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AliasSignSgdConfig {
        &self.config
    }

    /// Forces a kernel backend (e.g. [`Backend::Scalar`] for bit-reproducible runs across
    /// machines). Errors if this CPU cannot run it.
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

    /// Sets `L_0` before the first ALIAS step (a start rule computed from the first gradient,
    /// [`crate::research::GradientScaledStart`]); `l0 > 0` finite, checked by the caller.
    pub(crate) fn set_initial_smoothness(&mut self, l0: Option<f64>) {
        self.config.rule.initial_smoothness = l0;
    }

    /// A step in same-sample mode: `previous_point_grads` is the gradient at the *previous*
    /// iterate `x_{t−1}` on the *current* minibatch, so the smoothness sample
    /// `‖g_t − ∇f_{B_t}(x_{t−1})‖_1 / ‖x_t − x_{t−1}‖_∞` sees no minibatch-to-minibatch noise.
    /// It is ignored at step 0 (there is no previous iterate), but its shape is still checked.
    pub fn step_same_sample(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        previous_point_grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        check_shapes(
            &self.layout,
            previous_point_grads.len(),
            previous_point_grads.iter().map(|g| g.len()),
            crate::error::Dimension::PreviousPointGradientCount,
            |tensor| crate::error::Dimension::PreviousPointGradient { tensor },
        )?;
        check_finite(&self.kernels, previous_point_grads, self.state.step)?;
        self.step_impl(params, grads, Some(previous_point_grads), loss)
    }

    fn step_impl(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        reference: Option<&[&[F]]>,
        loss: Option<f64>,
    ) -> Result<StepReport> {
        check_step_shapes(&self.layout, params, grads, loss, self.state.step)?;
        let AliasSignSgdState {
            step,
            scalars,
            memory,
        } = &mut self.state;
        let core = Core {
            config: &self.config,
            kernels: self.kernels,
            multiplier: self.lr_multiplier.get(),
            step,
            scalars,
        };
        let input = Input {
            grads,
            reference,
            loss,
        };
        match memory {
            AliasMemoryState::Full(memory) => core.step_full(memory, params, input),
            AliasMemoryState::SignOnly(memory) => core.step_sign_only(memory, params, input),
        }
    }
}

/// What one step of either memory kind reads and writes besides its memory: the shared part of
/// [`AliasSignSgd`], borrowed apart from the memory.
struct Core<'a> {
    config: &'a AliasSignSgdConfig,
    kernels: Kernels,
    multiplier: f64,
    step: &'a mut u64,
    scalars: &'a mut AliasScalars,
}

/// A step's inputs other than the parameters (shapes already checked).
struct Input<'a, F> {
    grads: &'a [&'a [F]],
    /// Same-sample mode: the previous point's gradient on the current batch.
    reference: Option<&'a [&'a [F]]>,
    loss: Option<f64>,
}

impl Core<'_> {
    /// The stepsize rule's decision for step `t` from `sample`.
    fn decide<F: Float>(
        &self,
        sample: Option<Sample>,
        params: &[&mut [F]],
        loss: Option<f64>,
    ) -> Result<rule::Decision> {
        let kernels = self.kernels;
        self.config.rule.decide(
            OWNER,
            *self.step,
            self.scalars,
            sample,
            loss,
            self.multiplier,
            F::MAX / 2.0,
            || {
                params
                    .iter()
                    .map(|p| kernels.inf_norm(p))
                    .fold(0.0, f64::max)
            },
        )
    }

    /// A step with full memory.
    fn step_full<F: Float>(
        self,
        mem: &mut AliasFullMemory<F>,
        params: &mut [&mut [F]],
        input: Input<'_, F>,
    ) -> Result<StepReport> {
        let Input {
            grads,
            reference,
            loss,
        } = input;
        let t = *self.step;
        let kernels = self.kernels;
        let rule = &self.config.rule;

        // Pass 1 (refresh steps, t ≥ 1): ‖g_t − g_{t−1}‖_1 and ⟨g_t, u_{t−1}⟩ over all tensors,
        // fused with the finiteness check. Otherwise check alone.
        let refresh = rule.is_refresh(t);
        let windowed = !mem.anchor.is_empty();
        let sample = if t == 0 || !refresh {
            check_finite(&kernels, grads, t)?;
            None
        } else {
            let (mut diff_l1, mut dot, mut finite) = (0.0, 0.0, true);
            for (k, g) in grads.iter().enumerate() {
                let prev = reference.map_or(mem.prev_grad[k].as_slice(), |r| r[k]);
                let dir = mem.momentum.get(k).unwrap_or(&mem.prev_grad[k]);
                let s = kernels.alias_stats(g, prev, dir);
                diff_l1 += s.diff_l1;
                dot += s.dot_sign;
                finite &= s.finite;
            }
            if !finite {
                check_finite(&kernels, grads, t)?;
            }
            Some(if windowed {
                let (mut move_inf, mut gap) = (0.0_f64, 0.0_f64);
                for ((g, x), anchor) in grads.iter().zip(params.iter()).zip(&mem.anchor) {
                    let (m, d) = window_stats(g, x, anchor);
                    move_inf = move_inf.max(m);
                    gap += d;
                }
                Sample {
                    smoothness_numerator: diff_l1,
                    move_inf,
                    gap_increment: gap,
                }
            } else {
                Sample {
                    smoothness_numerator: diff_l1,
                    move_inf: self.scalars.prev_move,
                    gap_increment: self.scalars.prev_stepsize * dot,
                }
            })
        };
        let decision = self.decide(sample, params, loss)?;

        // Pass 2: the update; on refresh steps it also stores g_t (and, windowed, x_t) for the
        // next sample and measures ‖x_{t+1} − x_t‖_∞.
        decision.check_decay(t, self.config.weight_decay)?;
        let gamma = decision.gamma;
        let decay = F::from_f64(1.0 - gamma * self.config.weight_decay);
        let gamma_f = F::from_f64(gamma);
        if refresh && windowed {
            for (anchor, x) in mem.anchor.iter_mut().zip(params.iter()) {
                anchor.copy_from_slice(x);
            }
        }
        let mut moved = 0.0_f64;
        match (self.config.momentum, refresh) {
            (None, true) => {
                for ((x, g), store) in params.iter_mut().zip(grads).zip(&mut mem.prev_grad) {
                    moved = moved.max(kernels.sign_step_store(x, g, store, gamma_f, decay));
                }
            }
            (None, false) => {
                for (x, g) in params.iter_mut().zip(grads) {
                    kernels.sign_step(x, g, gamma_f, decay);
                }
            }
            (Some(beta), true) => {
                let (b, omb) = (F::from_f64(beta), F::from_f64(1.0 - beta));
                for (((x, m), g), store) in params
                    .iter_mut()
                    .zip(&mut mem.momentum)
                    .zip(grads)
                    .zip(&mut mem.prev_grad)
                {
                    let step =
                        kernels.momentum_sign_step_store(x, m, g, store, b, omb, gamma_f, decay);
                    moved = moved.max(step);
                }
            }
            (Some(beta), false) => {
                let (b, omb) = (F::from_f64(beta), F::from_f64(1.0 - beta));
                for ((x, m), g) in params.iter_mut().zip(&mut mem.momentum).zip(grads) {
                    kernels.momentum_sign_step(x, m, g, b, omb, gamma_f, decay);
                }
            }
        }
        *self.step = t + 1;
        decision.commit(self.scalars, moved);
        Ok(decision.report(rule, t, kernels.backend()))
    }
}

/// `(‖x − anchor‖_∞, ⟨g, anchor − x⟩)` in `f64`: the window's denominator and gap increment
/// (only with `update_gap > 1`).
fn window_stats<F: Float>(g: &[F], x: &[F], anchor: &[F]) -> (f64, f64) {
    let (mut move_inf, mut dot) = (0.0_f64, 0.0_f64);
    for ((&gi, &xi), &ai) in g.iter().zip(x).zip(anchor) {
        let delta = ai.to_f64() - xi.to_f64();
        move_inf = move_inf.max(delta.abs());
        dot += gi.to_f64() * delta;
    }
    (move_inf, dot)
}

impl<F: Float> Optimizer<F> for AliasSignSgd<F> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        self.step_impl(params, grads, None, loss)
    }

    fn layout(&self) -> &[usize] {
        &self.layout
    }

    fn steps_taken(&self) -> u64 {
        self.state.step
    }

    lr_multiplier_methods!(OWNER);

    fn name(&self) -> &'static str {
        if self.config.memory == AliasMemory::SignOnly {
            return match self.config.rule.stepsize {
                AliasStepsize::GapEstimate { .. } => "ALIAS sign-only (D)",
                AliasStepsize::LowerBound { .. } => "ALIAS sign-only (F)",
            };
        }
        match (self.config.rule.stepsize, self.config.momentum) {
            (AliasStepsize::GapEstimate { .. }, None) => "ALIAS (D)",
            (AliasStepsize::LowerBound { .. }, None) => "ALIAS (F)",
            (AliasStepsize::GapEstimate { .. }, Some(_)) => "ALIAS-momentum (D)",
            (AliasStepsize::LowerBound { .. }, Some(_)) => "ALIAS-momentum (F)",
        }
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        if self.config.memory == AliasMemory::SignOnly {
            return 0.25; // two bits
        }
        let buffers = 1
            + usize::from(self.config.momentum.is_some())
            + usize::from(self.config.rule.update_gap > 1);
        (buffers * F::BYTES) as f64
    }
}

method!(
    AliasSignSgd,
    AliasSignSgdConfig,
    AliasSignSgdState,
    "AliasSignSgd"
);

impl<F: Float> AliasSignSgd<F> {
    /// Checks a state against a configuration and layout without building the optimizer.
    pub(crate) fn check_state(
        config: &AliasSignSgdConfig,
        layout: &[usize],
        state: &AliasSignSgdState<F>,
    ) -> Result<()> {
        check_counter(state.step)?;
        state.scalars.validate(&config.rule, state.step)?;
        let mismatch = |reason| Err(Error::IncompatibleState { reason });
        match (&state.memory, config.memory) {
            (AliasMemoryState::Full(mem), AliasMemory::Full) => {
                check_buffers(
                    "previous-gradient buffers do not match the layout",
                    layout,
                    &mem.prev_grad,
                    true,
                )?;
                check_buffers(
                    "momentum buffers do not match the layout and momentum setting",
                    layout,
                    &mem.momentum,
                    config.momentum.is_some(),
                )?;
                check_buffers(
                    "anchor buffers do not match the layout and update_gap setting",
                    layout,
                    &mem.anchor,
                    config.rule.update_gap > 1,
                )?;
                for buffers in [&mem.prev_grad, &mem.momentum, &mem.anchor] {
                    check_values("ALIAS buffers must be finite", buffers, false)?;
                }
            }
            (AliasMemoryState::SignOnly(mem), AliasMemory::SignOnly) => {
                if !fits_layout_with(layout, &mem.pos, packed_words)
                    || !fits_layout_with(layout, &mem.neg, packed_words)
                {
                    return mismatch("sign-memory buffers do not match the layout");
                }
                check_scalar(
                    "previous gradient norm must be finite and >= 0",
                    mem.grad_l1,
                    true,
                )?;
            }
            _ => return mismatch("the state's memory kind differs from the configuration's"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::Stateful;
    use crate::schedule::Schedule;
    use approx::assert_relative_eq;

    fn quadratic_grad(h: &[f64], x: &[f64]) -> Vec<f64> {
        h.iter().zip(x).map(|(h, x)| h * x).collect()
    }

    fn alias_fields(r: &StepReport) -> (AliasPhase, f64, Option<f64>, Option<f64>, Option<f64>) {
        let e = &r.estimates;
        (
            AliasPhase::of(r).unwrap_or_else(|| panic!("not an ALIAS report: {r:?}")),
            e.get("smoothness_sum").unwrap(),
            e.get("gap_sum"),
            e.get("gap"),
            e.get("last_smoothness"),
        )
    }

    /// Option F, L_0 = 8, f̃ = 0 on f(x) = ½(x₁² + 2x₂²) from x_0 = (1, −1), f(x_0) = 1.5.
    /// Step 0: S = 8, γ_0 = sqrt(1.5/8); g_0 = (1, −2) → x_1 = (1 − γ_0, −1 + γ_0).
    /// Step 1: g_1 = (1 − γ_0, −2 + 2γ_0); ‖g_1 − g_0‖_1 = 3γ_0; ‖x_1 − x_0‖_∞ = γ_0 → r_0 = 3,
    ///         S = 11, γ_1 = sqrt(1.5/11).
    #[test]
    fn option_f_with_l0_two_steps_by_hand() {
        let h = [1.0, 2.0];
        let cfg = AliasSignSgdConfig {
            rule: AliasRule {
                stepsize: AliasStepsize::LowerBound { f_lower: 0.0 },
                initial_smoothness: Some(8.0),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut o = AliasSignSgd::<f64>::new(cfg, &[2]).unwrap();
        let mut x = vec![1.0, -1.0];
        let r0 = o
            .step_flat(&mut x, &quadratic_grad(&h, &[1.0, -1.0]), Some(1.5))
            .unwrap();
        let g0 = (1.5f64 / 8.0).sqrt();
        assert_eq!(r0.stepsize, g0);
        assert_eq!(
            alias_fields(&r0),
            (AliasPhase::Adaptive, 8.0, None, None, None)
        );
        assert_eq!(x, [1.0 - g0, -1.0 + g0]);
        let r1 = o
            .step_flat(&mut x.clone(), &quadratic_grad(&h, &x), None)
            .unwrap();
        let (phase, s, _, _, r) = alias_fields(&r1);
        assert_eq!(phase, AliasPhase::Adaptive);
        assert_relative_eq!(r.unwrap(), 3.0, max_relative = 1e-14);
        assert_relative_eq!(s, 11.0, max_relative = 1e-14);
        assert_relative_eq!(r1.stepsize, (1.5f64 / 11.0).sqrt(), max_relative = 1e-14);
    }

    /// Option D, d_0 = 0.5, no L_0, same quadratic from x_0 = (2, −1).
    /// Step 0: probe γ_0 = 1e-6·max(1, ‖x_0‖_∞) = 2e-6; g_0 = (2, −2).
    /// Step 1: g_1 = (2 − γ_0, −2 + 2γ_0): r_0 = 3γ_0/γ_0 = 3 = S;
    ///         d̃ = γ_0⟨g_1, (1, −1)⟩ = γ_0(4 − 3γ_0); d = max(0.5, d̃) = 0.5; γ_1 = sqrt(0.5/3).
    /// Step 2: d̃ grows by γ_1⟨g_2, sign g_1⟩ with g_2 = h·x_2.
    #[test]
    fn option_d_probe_start_by_hand() {
        let h = [1.0, 2.0];
        let cfg = AliasSignSgdConfig {
            rule: AliasRule {
                stepsize: AliasStepsize::GapEstimate { d0: Some(0.5) },
                ..Default::default()
            },
            ..Default::default()
        };
        let mut o = AliasSignSgd::<f64>::new(cfg, &[2]).unwrap();
        let mut x = vec![2.0, -1.0];
        let r0 = o
            .step_flat(&mut x, &quadratic_grad(&h, &[2.0, -1.0]), None)
            .unwrap();
        assert_eq!(r0.stepsize, 2e-6);
        assert_eq!(
            alias_fields(&r0),
            (AliasPhase::Probe, 0.0, Some(0.0), Some(0.5), None)
        );
        let g1 = quadratic_grad(&h, &x);
        let r1 = o.step_flat(&mut x, &g1, None).unwrap();
        let (phase, s, d_sum, d, r) = alias_fields(&r1);
        assert_eq!(phase, AliasPhase::Adaptive);
        // x_1 − x_0 is measured in floating point: relative error ~1e-10 at this scale.
        assert_relative_eq!(r.unwrap(), 3.0, max_relative = 1e-9);
        assert_relative_eq!(s, 3.0, max_relative = 1e-9);
        assert_relative_eq!(d_sum.unwrap(), 2e-6 * (4.0 - 6e-6), max_relative = 1e-12);
        assert_eq!(d, Some(0.5));
        let gamma1 = (0.5f64 / 3.0).sqrt();
        assert_relative_eq!(r1.stepsize, gamma1, max_relative = 1e-9);
        // Step 2: the gap sum grows by γ_1⟨g_2, sign(g_1)⟩ = γ_1 (|g_{2,1}| + |g_{2,2}|) here,
        // since x_2 = x_1 − γ_1 (1, −1) keeps both coordinates' signs.
        let g2 = quadratic_grad(&h, &x);
        assert!(g2[0] > 0.0 && g2[1] < 0.0);
        let r2 = o.step_flat(&mut x, &g2, None).unwrap();
        let (_, _, d_sum2, _, _) = alias_fields(&r2);
        assert_relative_eq!(
            d_sum2.unwrap() - d_sum.unwrap(),
            r1.stepsize * (g2[0] - g2[1]),
            max_relative = 1e-12
        );
    }

    #[test]
    fn option_d_default_d0_scales_with_the_first_loss() {
        let mut o = AliasSignSgd::<f32>::new(AliasSignSgdConfig::default(), &[1]).unwrap();
        let r = o.step_flat(&mut [0.0], &[1.0], Some(3.0)).unwrap();
        assert_eq!(alias_fields(&r).3, Some(3e-6));
        let mut o = AliasSignSgd::<f32>::new(AliasSignSgdConfig::default(), &[1]).unwrap();
        let r = o.step_flat(&mut [0.0], &[1.0], None).unwrap();
        assert_eq!(alias_fields(&r).3, Some(1e-6));
    }

    #[test]
    fn cap_and_lr_multiplier() {
        let cfg = AliasSignSgdConfig {
            rule: AliasRule {
                stepsize: AliasStepsize::LowerBound { f_lower: 0.0 },
                initial_smoothness: Some(1.0),
                max_stepsize: Some(0.1),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut o = AliasSignSgd::<f64>::new(cfg.clone(), &[1]).unwrap();
        assert_eq!(
            o.step_flat(&mut [0.0], &[1.0], Some(4.0)).unwrap().stepsize,
            0.1
        );
        let cfg = AliasSignSgdConfig {
            rule: AliasRule {
                max_stepsize: None,
                lr_multiplier: 0.25,
                ..cfg.rule.clone()
            },
            ..cfg
        };
        let mut o = AliasSignSgd::<f64>::new(cfg, &[1]).unwrap();
        assert_eq!(
            o.step_flat(&mut [0.0], &[1.0], Some(4.0)).unwrap().stepsize,
            0.5
        );
    }

    /// Warm-up steps are plain Sign-SGD; at step w the sums start (with the sample from the
    /// last warm-up step) and the formula takes over.
    #[test]
    fn warmup_then_alias() {
        let cfg = AliasSignSgdConfig {
            rule: AliasRule {
                stepsize: AliasStepsize::LowerBound { f_lower: 0.0 },
                warmup: Some(Warmup {
                    steps: 2,
                    lr: 0.1,
                    schedule: Schedule::Constant,
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut o = AliasSignSgd::<f64>::new(cfg, &[1]).unwrap();
        let mut x = [1.0];
        for t in 0..2 {
            let g = [x[0]];
            let r = o.step_flat(&mut x, &g, None).unwrap();
            assert_eq!(
                (r.step, r.stepsize, alias_fields(&r).0),
                (t, 0.1, AliasPhase::Warmup)
            );
        }
        // x_2 = 0.8, g_2 = 0.8, g_1 = 0.9, Δx = 0.1 → r = 1 = S; γ = sqrt(f(x_2)/1).
        let g = [x[0]];
        let err = o.step_flat(&mut x, &g, None).unwrap_err();
        assert!(matches!(err, Error::MissingLoss { step: 2, .. }));
        let r = o.step_flat(&mut x, &g, Some(0.32)).unwrap();
        assert_relative_eq!(alias_fields(&r).1, 1.0, max_relative = 1e-12);
        assert_relative_eq!(r.stepsize, 0.32f64.sqrt(), max_relative = 1e-12);
    }

    /// With weight decay the measured ‖x_t − x_{t−1}‖_∞ includes the decay's share.
    #[test]
    fn weight_decay_move_is_measured() {
        let cfg = AliasSignSgdConfig {
            rule: AliasRule {
                stepsize: AliasStepsize::LowerBound { f_lower: 0.0 },
                initial_smoothness: Some(1.0),
                ..Default::default()
            },
            weight_decay: 0.5,
            ..Default::default()
        };
        let mut o = AliasSignSgd::<f64>::new(cfg, &[2]).unwrap();
        let mut x = [4.0, 0.0];
        // γ_0 = sqrt(1/1) = 1: x ← x·(1 − 0.5) − sign(g) = (2 − 1, 0 − 0) with g = (1, 0).
        o.step_flat(&mut x, &[1.0, 0.0], Some(1.0)).unwrap();
        assert_eq!(x, [1.0, 0.0]);
        assert_eq!(o.state().scalars.prev_move, 3.0);
    }

    /// Momentum direction by hand (β = 0.5, Option D, L_0 = 4, d_0 = 1):
    /// step 0: m_0 = 0.5·g_0 = (1, −0.5), γ_0 = sqrt(1/4) = 0.5, x_1 = x_0 − 0.5·(1, −1).
    /// step 1 with g_1 = (−4, 1): the gap term uses the *applied* direction sign(m_0) = (1, −1):
    /// d̃ = γ_0⟨g_1, sign(m_0)⟩ = 0.5·(−4 − 1) = −2.5 (d stays 1); m_1 = (−1.5, 0.25), so
    /// x_2 = x_1 − γ_1·(−1, 1).
    #[test]
    fn momentum_direction_and_gap_term_by_hand() {
        let rule = AliasRule {
            stepsize: AliasStepsize::GapEstimate { d0: Some(1.0) },
            initial_smoothness: Some(4.0),
            ..Default::default()
        };
        let cfg = AliasSignSgdConfig {
            rule,
            momentum: Some(0.5),
            ..Default::default()
        };
        let mut o = AliasSignSgd::<f64>::new(cfg, &[2]).unwrap();
        let mut x = [0.0, 0.0];
        let r0 = o.step_flat(&mut x, &[2.0, -1.0], None).unwrap();
        assert_eq!((r0.stepsize, x), (0.5, [-0.5, 0.5]));
        assert_eq!(o.state().memory.full().unwrap().momentum[0], [1.0, -0.5]);
        let r1 = o.step_flat(&mut x, &[-4.0, 1.0], None).unwrap();
        let (_, s, d_sum, d, r) = alias_fields(&r1);
        // ‖g_1 − g_0‖_1 = 6 + 2 = 8 over ‖Δx‖_∞ = 0.5: r_0 = 16, S = 20.
        assert_eq!((r, s, d_sum, d), (Some(16.0), 20.0, Some(-2.5), Some(1.0)));
        let g1 = (1.0f64 / 20.0).sqrt();
        assert_eq!(r1.stepsize, g1);
        assert_eq!(o.state().memory.full().unwrap().momentum[0], [-1.5, 0.25]);
        assert_eq!(x, [-0.5 + g1, 0.5 - g1]);
    }

    /// update_gap = 3 on f(x) = x² (g = 2x, so every smoothness sample is exactly 2) with
    /// Option F, L_0 = 2, f(x_0) = 110.25: γ = sqrt(f_0/2) for steps 0–2, sqrt(f_0/4) for 3–5,
    /// sqrt(f_0/6) at 6.
    #[test]
    fn update_gap_refreshes_every_k_steps() {
        let rule = AliasRule {
            initial_smoothness: Some(2.0),
            update_gap: 3,
            ..AliasRule::option_f(0.0)
        };
        let mut o = AliasSignSgd::<f64>::new(
            AliasSignSgdConfig {
                rule,
                ..Default::default()
            },
            &[1],
        )
        .unwrap();
        let mut x = [10.5];
        let mut gammas = Vec::new();
        for t in 0..7 {
            let g = [2.0 * x[0]];
            let loss = (t == 0).then_some(110.25);
            gammas.push(o.step_flat(&mut x, &g, loss).unwrap().stepsize);
        }
        // γ_0 = sqrt(110.25/2) ≈ 7.42: x oscillates 10.5 → 3.08 → −4.34 → 3.08 (anchor at t = 3,
        // S = 2 + 2) → −2.17 → 3.08 → −2.17 (t = 6: x_6 ≠ x_3, S = 6): no coordinate sits at 0.
        let (a, b, c) = (
            (110.25f64 / 2.0).sqrt(),
            (110.25f64 / 4.0).sqrt(),
            (110.25f64 / 6.0).sqrt(),
        );
        let expected = [a, a, a, b, b, b, c];
        for (g, e) in gammas.iter().zip(expected) {
            assert!((g - e).abs() <= 1e-14 * e, "{gammas:?}");
        }
        assert!((o.state().scalars.smoothness_sum - 6.0).abs() < 1e-12);
        assert_eq!(o.state_bytes_per_parameter(), 16.0);
    }

    #[test]
    fn invalid_configs_name_the_parameter() {
        let d = AliasSignSgdConfig::default();
        let cases = [
            (
                AliasSignSgdConfig {
                    rule: AliasRule {
                        stepsize: AliasStepsize::GapEstimate { d0: Some(0.0) },
                        ..d.rule.clone()
                    },
                    ..d.clone()
                },
                "d0",
            ),
            (
                AliasSignSgdConfig {
                    rule: AliasRule {
                        stepsize: AliasStepsize::LowerBound { f_lower: f64::NAN },
                        ..d.rule.clone()
                    },
                    ..d.clone()
                },
                "f_lower",
            ),
            (
                AliasSignSgdConfig {
                    rule: AliasRule {
                        initial_smoothness: Some(-1.0),
                        ..d.rule.clone()
                    },
                    ..d.clone()
                },
                "initial_smoothness",
            ),
            (
                AliasSignSgdConfig {
                    rule: AliasRule {
                        probe: 0.0,
                        ..d.rule.clone()
                    },
                    ..d.clone()
                },
                "probe",
            ),
            (
                AliasSignSgdConfig {
                    rule: AliasRule {
                        lr_multiplier: f64::INFINITY,
                        ..d.rule.clone()
                    },
                    ..d.clone()
                },
                "lr_multiplier",
            ),
            (
                AliasSignSgdConfig {
                    rule: AliasRule {
                        max_stepsize: Some(0.0),
                        ..d.rule.clone()
                    },
                    ..d.clone()
                },
                "max_stepsize",
            ),
            (
                AliasSignSgdConfig {
                    weight_decay: -0.1,
                    ..d.clone()
                },
                "weight_decay",
            ),
            (
                AliasSignSgdConfig {
                    momentum: Some(-0.5),
                    ..d.clone()
                },
                "momentum",
            ),
            (
                AliasSignSgdConfig {
                    rule: AliasRule {
                        warmup: Some(Warmup {
                            steps: 3,
                            lr: 0.0,
                            schedule: Schedule::Constant,
                        }),
                        ..d.rule.clone()
                    },
                    ..d.clone()
                },
                "warmup.lr",
            ),
        ];
        for (cfg, name) in cases {
            match AliasSignSgd::<f32>::new(cfg, &[1]) {
                Err(Error::InvalidParameter {
                    owner: OWNER,
                    parameter,
                    ..
                }) => assert_eq!(parameter, name),
                other => panic!("expected InvalidParameter({name}), got {other:?}"),
            }
        }
    }

    #[test]
    fn lower_bound_above_the_loss_is_rejected_without_change() {
        let cfg = AliasSignSgdConfig {
            rule: AliasRule {
                stepsize: AliasStepsize::LowerBound { f_lower: 1.0 },
                ..Default::default()
            },
            ..Default::default()
        };
        let mut o = AliasSignSgd::<f64>::new(cfg, &[1]).unwrap();
        let mut x = [3.0];
        let err = o.step_flat(&mut x, &[1.0], Some(0.5)).unwrap_err();
        assert!(matches!(
            err,
            Error::LossBelowLowerBound {
                step: 0,
                loss: 0.5,
                f_lower: 1.0,
            }
        ));
        assert_eq!((x, o.steps_taken()), ([3.0], 0));
    }
}
