//! Running every method on every problem and recording traces (shared with the quick test).

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use signfree::research::{DistanceSign, DistanceSignConfig, GradientScaledStart};
use signfree::{
    AdamW, AdamWConfig, AliasAdam, AliasAdamConfig, AliasSignSgd, AliasSignSgdConfig, Bundled,
    CostGradient, LogisticRegression, NonlinearLeastSquares, Optimizer, Prodigy, ProdigyConfig,
    Schedule, SignSgd, SignSgdConfig, SosSignSgd, SosSignSgdConfig, StochasticGradient,
};

/// A problem with every oracle the runs need.
pub trait Objective: CostGradient + StochasticGradient + Sync {}
impl<T: CostGradient + StochasticGradient + Sync> Objective for T {}

/// Which loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Logistic regression with μ = 1e-4; f* from Newton.
    Logistic,
    /// Non-linear least squares; f* is the best value any run reached (stated as such).
    Nllsq,
}

impl Loss {
    pub fn name(self) -> &'static str {
        match self {
            Loss::Logistic => "logreg",
            Loss::Nllsq => "nllsq",
        }
    }
}

/// Full gradients or minibatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Stochastic { batch: usize, seed: u64 },
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Stochastic { .. } => "stochastic",
        }
    }
}

/// The compared methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    SignSgdTuned,
    /// Grid-tuned Sign-SGD with cosine decay to zero over the horizon (the second half of the
    /// baseline of issue "Beyond the paper").
    SignSgdTunedCosine,
    Sos,
    AliasD,
    AliasF,
    AliasMomentum,
    /// ALIAS Option D in same-sample mode (stochastic runs only: 2 gradients per step).
    AliasDSameSample,
    /// ALIAS Option D with sign-only memory (2 bits per parameter).
    AliasSignOnly,
    /// Research R1: ALIAS Option D with the gradient-scaled start.
    AliasDGradStart,
    /// Research R1: ALIAS Option F with the gradient-scaled start.
    AliasFGradStart,
    /// Research R1: ALIAS with momentum and the gradient-scaled start.
    AliasMomentumGradStart,
    /// Research R1: ALIAS Option F (f̃ = 0) with momentum and the gradient-scaled start.
    AliasFMomentumGradStart,
    /// Research R3: R1b with the first step bounded by the Polyak step of sign descent.
    AliasFMomentumPolyak,
    /// Research R4: R3 with cosine decay over the known horizon.
    AliasFMomentumPolyakCosine,
    /// Research R5 (issue 15): Lion-style sign momentum scaled by an ℓ∞ distance estimate.
    DistanceSign,
    /// Research R5b: R5 with `d / sqrt(t + 1)`.
    DistanceSignSqrt,
    /// Research R5c: R5 with cosine decay over the horizon (the LLaMA harness's one schedule).
    DistanceSignCosine,
    AliasAdam,
    Prodigy,
    AdamWTuned,
}

impl Method {
    pub const ALL: [Method; 20] = [
        Method::SignSgdTuned,
        Method::SignSgdTunedCosine,
        Method::Sos,
        Method::AliasD,
        Method::AliasF,
        Method::AliasMomentum,
        Method::AliasDSameSample,
        Method::AliasSignOnly,
        Method::AliasDGradStart,
        Method::AliasFGradStart,
        Method::AliasMomentumGradStart,
        Method::AliasFMomentumGradStart,
        Method::AliasFMomentumPolyak,
        Method::AliasFMomentumPolyakCosine,
        Method::DistanceSign,
        Method::DistanceSignSqrt,
        Method::DistanceSignCosine,
        Method::AliasAdam,
        Method::Prodigy,
        Method::AdamWTuned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::SignSgdTuned => "sign-sgd-tuned",
            Method::SignSgdTunedCosine => "sign-sgd-tuned-cosine",
            Method::Sos => "sos",
            Method::AliasD => "alias-d",
            Method::AliasF => "alias-f",
            Method::AliasMomentum => "alias-momentum",
            Method::AliasDSameSample => "alias-d-same-sample",
            Method::AliasSignOnly => "alias-sign-only",
            Method::AliasDGradStart => "r1-alias-d",
            Method::AliasFGradStart => "r1-alias-f",
            Method::AliasMomentumGradStart => "r1-alias-momentum",
            Method::AliasFMomentumGradStart => "r1-alias-f-momentum",
            Method::AliasFMomentumPolyak => "r3-alias-f-momentum",
            Method::AliasFMomentumPolyakCosine => "r4-alias-f-momentum-cosine",
            Method::DistanceSign => "r5-distance-sign",
            Method::DistanceSignSqrt => "r5b-distance-sign-sqrt",
            Method::DistanceSignCosine => "r5c-distance-sign-cosine",
            Method::AliasAdam => "alias-adam",
            Method::Prodigy => "prodigy",
            Method::AdamWTuned => "adamw-tuned",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The optimizer of an untuned method for dimension `d` and horizon `t` (`None` for the
    /// grid-tuned baselines and SOS, which search first). Same-sample ALIAS is plain ALIAS D here
    /// (its full-batch form); `run_method` gives it the second gradient in minibatch runs.
    pub fn untuned(self, d: usize, t: u64) -> signfree::Result<Option<Box<dyn Optimizer<f64>>>> {
        let alias = |c: AliasSignSgdConfig| AliasSignSgd::new(c, &[d]);
        let momentum = AliasSignSgdConfig {
            momentum: Some(0.9),
            ..Default::default()
        };
        let f_momentum = AliasSignSgdConfig {
            momentum: Some(0.9),
            ..AliasSignSgdConfig::option_f(0.0)
        };
        let distance = |c: DistanceSignConfig| DistanceSign::new(c, &[d]);
        Ok(Some(match self {
            Method::SignSgdTuned
            | Method::SignSgdTunedCosine
            | Method::AdamWTuned
            | Method::Sos => {
                return Ok(None);
            }
            Method::AliasD | Method::AliasDSameSample => Box::new(alias(Default::default())?),
            Method::AliasF => Box::new(alias(AliasSignSgdConfig::option_f(0.0))?),
            Method::AliasMomentum => Box::new(alias(momentum)?),
            Method::AliasSignOnly => Box::new(alias(AliasSignSgdConfig {
                memory: signfree::AliasMemory::SignOnly,
                ..Default::default()
            })?),
            Method::AliasDGradStart => {
                Box::new(GradientScaledStart::new(Default::default(), &[d])?)
            }
            Method::AliasFGradStart => Box::new(GradientScaledStart::new(
                AliasSignSgdConfig::option_f(0.0),
                &[d],
            )?),
            Method::AliasMomentumGradStart => Box::new(GradientScaledStart::new(momentum, &[d])?),
            Method::AliasFMomentumGradStart => {
                Box::new(GradientScaledStart::new(f_momentum, &[d])?)
            }
            Method::AliasFMomentumPolyak => {
                Box::new(GradientScaledStart::new(f_momentum, &[d])?.with_polyak_bound())
            }
            Method::AliasFMomentumPolyakCosine => Box::new(
                GradientScaledStart::new(f_momentum, &[d])?
                    .with_polyak_bound()
                    .with_horizon(t)?,
            ),
            Method::DistanceSign => Box::new(distance(Default::default())?),
            Method::DistanceSignSqrt => Box::new(distance(DistanceSignConfig {
                inverse_sqrt_decay: true,
                ..Default::default()
            })?),
            Method::DistanceSignCosine => Box::new(distance(DistanceSignConfig {
                schedule: Schedule::Cosine { total_steps: t },
                ..Default::default()
            })?),
            Method::AliasAdam => Box::new(AliasAdam::new(AliasAdamConfig::default(), &[d])?),
            Method::Prodigy => Box::new(Prodigy::new(ProdigyConfig::default(), &[d])?),
        }))
    }
}

/// The tuning grid `γ = 2^{-k}`, `k = 0..15`.
pub fn grid() -> impl Iterator<Item = f64> {
    (0..=15).map(|k| 2f64.powi(-k))
}

/// One recorded trajectory.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Iteration index of each record.
    pub step: Vec<usize>,
    /// Full objective `f(x_t)`.
    pub loss: Vec<f64>,
    /// `‖∇f(x_t)‖_1` (full gradient).
    pub grad_l1: Vec<f64>,
    /// The stepsize the optimizer applied at that step (NaN at the final record).
    pub stepsize: Vec<f64>,
}

/// One method on one problem.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub method: Method,
    pub trace: Trace,
    /// Gradient evaluations including tuning (grid runs, SOS probes).
    pub grad_evals: u64,
    /// Gradient evaluations spent before the reported trajectory started (tuning).
    pub tuning_evals: u64,
    /// The chosen stepsize of grid-tuned methods and SOS.
    pub chosen_lr: Option<f64>,
    pub wall: Duration,
}

impl RunResult {
    pub fn final_loss(&self) -> f64 {
        *self.trace.loss.last().expect("non-empty trace")
    }
    /// Gradient evaluations spent when the reported trajectory reached step `t` (tuning included).
    pub fn evals_at(&self, t: usize) -> u64 {
        let steps = *self.trace.step.last().expect("non-empty trace") as u64;
        self.tuning_evals + t as u64 * ((self.grad_evals - self.tuning_evals) / steps.max(1))
    }

    pub fn best_grad_l1(&self) -> f64 {
        self.trace
            .grad_l1
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }
}

/// Builds the problem for a data set.
pub fn make_problem(set: Bundled, loss: Loss) -> signfree::Result<Box<dyn Objective>> {
    let data = set.load()?;
    Ok(match loss {
        Loss::Logistic => Box::new(LogisticRegression::new(data, 1e-4)?),
        Loss::Nllsq => Box::new(NonlinearLeastSquares::new(data)),
    })
}

fn l1(v: &[f64]) -> f64 {
    v.iter().map(|x| x.abs()).sum()
}

/// Runs `opt` for `steps` steps from 0.
///
/// With `record_every = Some(k)` the full loss and `‖∇f‖_1` are recorded every `k` steps and at
/// the end (diagnostics, not counted); with `None` only `f(x_T)` is (for grid runs, which are
/// replayed with recording once the best stepsize is known). Full-batch runs hand the optimizer
/// the full loss, computed with the gradient in one pass; stochastic runs draw batches from
/// `StdRng::seed_from_u64(seed)` and hand it the minibatch loss.
pub fn trajectory(
    p: &dyn Objective,
    opt: &mut dyn Optimizer<f64>,
    mode: Mode,
    steps: usize,
    record_every: Option<usize>,
) -> signfree::Result<Trace> {
    let d = p.dim();
    let (mut x, mut g, mut full) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let mut trace = Trace::default();
    let mut batch = Vec::new();
    let mut rng = match mode {
        Mode::Stochastic { seed, .. } => StdRng::seed_from_u64(seed),
        Mode::Full => StdRng::seed_from_u64(0),
    };
    let push = |trace: &mut Trace, t: usize, loss: f64, grad: &[f64]| {
        trace.step.push(t);
        trace.loss.push(loss);
        trace.grad_l1.push(l1(grad));
    };
    for t in 0..steps {
        let recording = record_every.is_some_and(|k| t % k == 0);
        let loss = match mode {
            Mode::Full if record_every.is_some() => {
                let loss = p.cost_and_gradient(&x, &mut g)?;
                if recording {
                    push(&mut trace, t, loss, &g);
                }
                Some(loss)
            }
            Mode::Full => {
                p.gradient(&x, &mut g)?;
                None
            }
            Mode::Stochastic { batch: b, .. } => {
                if recording {
                    let loss = p.cost_and_gradient(&x, &mut full)?;
                    push(&mut trace, t, loss, &full);
                }
                p.stochastic_gradient(&x, &mut rng, b, &mut batch, &mut g)?;
                Some(p.batch_cost(&x, &batch)?)
            }
        };
        let report = opt.step_flat(&mut x, &g, loss)?;
        if recording {
            trace.stepsize.push(report.stepsize);
        }
    }
    let loss = p.cost_and_gradient(&x, &mut full)?;
    push(&mut trace, steps, loss, &full);
    trace.stepsize.push(f64::NAN);
    Ok(trace)
}

/// Minibatch ALIAS in same-sample mode: each step also evaluates the previous iterate on the
/// current batch (two gradients per step).
fn same_sample(
    p: &dyn Objective,
    opt: &mut AliasSignSgd<f64>,
    batch_size: usize,
    seed: u64,
    steps: usize,
    record_every: usize,
) -> signfree::Result<Trace> {
    let d = p.dim();
    let (mut x, mut x_prev) = (vec![0.0; d], vec![0.0; d]);
    let (mut g, mut h, mut full) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut batch, mut trace) = (Vec::new(), Trace::default());
    for t in 0..=steps {
        if t % record_every == 0 || t == steps {
            trace.step.push(t);
            trace.loss.push(p.cost_and_gradient(&x, &mut full)?);
            trace.grad_l1.push(l1(&full));
            if t == steps {
                trace.stepsize.push(f64::NAN);
                break;
            }
        }
        p.stochastic_gradient(&x, &mut rng, batch_size, &mut batch, &mut g)?;
        p.batch_gradient(&x_prev, &batch, &mut h)?;
        let loss = p.batch_cost(&x, &batch)?;
        x_prev.copy_from_slice(&x);
        let report = opt.step_same_sample(&mut [&mut x], &[&g], &[&h], Some(loss))?;
        if t % record_every == 0 {
            trace.stepsize.push(report.stepsize);
        }
    }
    Ok(trace)
}

/// Runs one method, including its tuning.
pub fn run_method(
    p: &dyn Objective,
    method: Method,
    mode: Mode,
    steps: usize,
    record_every: usize,
) -> signfree::Result<RunResult> {
    let start = Instant::now();
    let d = p.dim();
    let t = steps as u64;
    let simple = |opt: &mut dyn Optimizer<f64>| trajectory(p, opt, mode, steps, Some(record_every));
    let (trace, grad_evals, tuning_evals, chosen_lr) = match method {
        Method::SignSgdTuned | Method::SignSgdTunedCosine | Method::AdamWTuned => {
            let make = |lr: f64| -> signfree::Result<Box<dyn Optimizer<f64>>> {
                Ok(if method != Method::AdamWTuned {
                    let schedule = if method == Method::SignSgdTunedCosine {
                        Schedule::Cosine { total_steps: t }
                    } else {
                        Schedule::Constant
                    };
                    Box::new(SignSgd::new(
                        SignSgdConfig {
                            lr,
                            schedule,
                            ..Default::default()
                        },
                        &[d],
                    )?)
                } else {
                    let cfg = AdamWConfig {
                        lr,
                        weight_decay: 0.0,
                        ..Default::default()
                    };
                    Box::new(AdamW::new(cfg, &[d])?)
                })
            };
            // Every grid point runs once (final value only); the best is replayed with recording.
            let mut best = (f64::INFINITY, f64::NAN);
            for lr in grid() {
                let tr = trajectory(p, make(lr)?.as_mut(), mode, steps, None)?;
                let f = *tr.loss.last().expect("non-empty");
                if f < best.0 {
                    best = (f, lr);
                }
            }
            let lr = if best.1.is_nan() { 1.0 } else { best.1 };
            let tr = simple(make(lr)?.as_mut())?;
            let n = grid().count() as u64;
            (tr, n * t, (n - 1) * t, Some(lr))
        }
        Method::Sos => {
            let sos = SosSignSgd::new(SosSignSgdConfig {
                horizon: steps,
                ..Default::default()
            })?;
            let out = match mode {
                Mode::Full => sos.search(p, &vec![0.0; d])?,
                Mode::Stochastic { batch, seed } => {
                    sos.search_stochastic(p, &vec![0.0; d], batch, seed)?
                }
            };
            // Replays Run(γ̂) only to record its trace (the same batches, by the same seed).
            let mut opt = out.optimizer::<f64>(&[d])?;
            let tr = simple(&mut opt)?;
            (
                tr,
                out.gradient_evals,
                out.gradient_evals - t,
                Some(out.stepsize),
            )
        }
        Method::AliasDSameSample if matches!(mode, Mode::Stochastic { .. }) => {
            let Mode::Stochastic { batch, seed } = mode else {
                unreachable!()
            };
            let mut opt = AliasSignSgd::new(AliasSignSgdConfig::default(), &[d])?;
            let tr = same_sample(p, &mut opt, batch, seed, steps, record_every)?;
            (tr, 2 * t, 0, None)
        }
        _ => {
            let mut opt = method
                .untuned(d, t)?
                .expect("every other method is untuned");
            (simple(opt.as_mut())?, t, 0, None)
        }
    };
    Ok(RunResult {
        method,
        trace,
        grad_evals,
        tuning_evals,
        chosen_lr,
        wall: start.elapsed(),
    })
}
