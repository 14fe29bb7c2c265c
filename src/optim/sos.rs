//! SOS Sign-SGD: Sign-SGD with a constant stepsize found by bracketing and log-space bisection.

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{Kernels, scalar};
use crate::optim::sign_sgd::{SignSgd, SignSgdConfig};
use crate::problem::{Cost, Gradient, StochasticGradient, check_dims};

const OWNER: &str = "SosSignSgd";

/// How SOS measures progress `N(γ)` of a probe run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ProgressEstimator {
    /// `N = max(0, γ Σ_t ⟨g_{t+1}, sign(g_t)⟩)`, a lower bound on `f(x_0) − f(x_T)` for convex
    /// `f` (the ALIAS gap increments); needs gradients only. Default.
    #[default]
    InnerProducts,
    /// `N = max(0, f(x_0) − f(x_T))`; needs function values (one per probe, plus `f(x_0)` once).
    FunctionValues,
}

/// Configuration of [`SosSignSgd`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SosSignSgdConfig {
    /// `T ≥ 2`, the number of steps (and gradient evaluations) of every probe run and of the
    /// final run. Default 1000.
    pub horizon: usize,
    /// `ρ > 1`: bisection stops when `γ_hi / γ_lo ≤ ρ`. Default 2.
    pub rho: f64,
    /// `γ_s > 0`, the initial stepsize bound; `None` (default) uses `1e-8 · max(1, ‖x_0‖_∞)`.
    pub initial_stepsize: Option<f64>,
    /// Maximum number of probe runs; exceeding it is [`Error::BudgetExhausted`]. Default 64.
    pub max_probes: usize,
    /// How `N(γ)` is measured. Default [`ProgressEstimator::InnerProducts`].
    pub progress: ProgressEstimator,
}

impl Default for SosSignSgdConfig {
    fn default() -> Self {
        Self {
            horizon: 1000,
            rho: 2.0,
            initial_stepsize: None,
            max_probes: 64,
            progress: ProgressEstimator::InnerProducts,
        }
    }
}

/// One probe run `Run(γ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Probe {
    /// `γ`.
    pub stepsize: f64,
    /// `N(γ)`, the progress estimate.
    pub progress: f64,
    /// `D(γ) = Σ_t ‖g_{t+1} − g_t‖_1 / γ`, the accumulated smoothness.
    pub smoothness: f64,
    /// `φ(γ) = sqrt(N / D)` (`+∞` when `D = 0`, 0 for a run that was not finite).
    pub phi: f64,
    /// `φ(γ) ≥ γ` and the run stayed finite.
    pub safe: bool,
}

/// What [`SosSignSgd::search`] found.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SosOutcome {
    /// `γ̂ = γ_lo`, the largest stepsize known safe when bisection stopped.
    pub stepsize: f64,
    /// `γ_hi`, the smallest stepsize known unsafe (`γ_hi / γ̂ ≤ ρ`).
    pub upper_bound: f64,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
    /// Gradient evaluations (full or minibatch), all probes together.
    pub gradient_evals: u64,
    /// Function evaluations (0 with [`ProgressEstimator::InnerProducts`]).
    pub cost_evals: u64,
    /// `x_T` of `Run(γ̂)`, kept from that probe (not recomputed).
    pub x: Vec<f64>,
}

impl SosOutcome {
    /// Constant-step Sign-SGD with `γ̂`, to continue from [`SosOutcome::x`] in a custom loop.
    pub fn optimizer<F: Float>(&self, layout: &[usize]) -> Result<SignSgd<F>> {
        SignSgd::new(
            SignSgdConfig {
                lr: self.stepsize,
                ..Default::default()
            },
            layout,
        )
    }
}

/// SOS Sign-SGD: find a near-optimal constant stepsize for `T` steps of Sign-SGD by bisection
/// (`docs/ALGORITHMS.md` §3), then run with it.
///
/// # Search
///
/// `Run(γ)` is `T` steps of constant-step Sign-SGD from `x_0`, with `T` gradients
/// `g_0 … g_{T−1}` and the `T − 1` consecutive pairs among them:
/// - `N(γ) = max(0, γ Σ_t ⟨g_{t+1}, sign(g_t)⟩)` or `max(0, f(x_0) − f(x_T))`;
/// - `D(γ) = Σ_t ‖g_{t+1} − g_t‖_1 / γ`;
/// - `φ(γ) = sqrt(N(γ) / D(γ))`; `γ` is *safe* when `φ(γ) ≥ γ` and the run stayed finite.
///
/// `φ` estimates `sqrt(Δ / (L_∞ T))`, the best constant stepsize, so its fixed point is the
/// target. Bracketing: if `γ_s` is unsafe, try `γ_s / 2^(2^k)`, `k = 0, 1, …` until safe;
/// otherwise try `γ_s · 2^(2^k)` until unsafe. Then bisect in log space (`γ_mid = sqrt(γ_lo γ_hi)`)
/// until `γ_hi / γ_lo ≤ ρ`. The answer is `γ̂ = γ_lo` and the final iterate of `Run(γ̂)`.
///
/// **Which parts are whose**: the bisection structure and the initial bound `γ_s` are the
/// paper's; `φ`, `N`, `D`, the doubling-exponent bracket and the default `γ_s` are this crate's
/// definitions (`docs/ALGORITHMS.md` §3), built from the same estimators as ALIAS (they use the same
/// kernel, [`Kernels::alias_stats`]).
///
/// # Needs from the problem
///
/// Gradients ([`SosSignSgd::search`]); with [`ProgressEstimator::FunctionValues`] also function
/// values ([`SosSignSgd::search_with_values`]); minibatch gradients for
/// [`SosSignSgd::search_stochastic`], where every probe replays the same minibatches (common
/// random numbers) so probes differ only by `γ`. **Caveat**: `D(γ)` then compares gradients of
/// consecutive minibatches, whose noise does not shrink with `γ`; when the noise's ℓ1 norm
/// dominates the gradient's, `φ(γ)/γ` stays below 1 at every scale and the search ends with
/// [`Error::BudgetExhausted`] (seen on heart_scale with batch 16; batch 128 works).
///
/// # Example
///
/// ```
/// use signfree::{Cost, Quadratic, SosSignSgdConfig, SosSignSgd};
/// let q = Quadratic::new(vec![1.0, 4.0, 9.0], vec![3.0, -1.0, 2.0])?;
/// let sos = SosSignSgd::new(SosSignSgdConfig { horizon: 200, ..Default::default() })?;
/// let out = sos.search(&q, &[0.0; 3])?;
/// assert_eq!(out.gradient_evals, 200 * out.probes.len() as u64);
/// assert!(out.upper_bound / out.stepsize <= 2.0);
/// assert!(q.cost(&out.x)? < 1e-2 * q.cost(&[0.0; 3])?);
/// # Ok::<(), signfree::Error>(())
/// ```
///
/// # Errors
///
/// [`SosSignSgd::new`]: [`Error::InvalidParameter`] for `horizon < 2`, `rho ≤ 1`,
/// `initial_stepsize ≤ 0`, `max_probes = 0`. Searches: [`Error::DimensionMismatch`] for a wrong
/// `x_0`, [`Error::BudgetExhausted`] when `max_probes` runs are not enough, oracle errors as is.
/// A probe run that produces a non-finite gradient or loss is *unsafe*, not an error.
///
/// # References
///
/// D. Medyakov et al., "Sign-SGD is the Golden Gate between Multi-Node to Single-Node Learning:
/// Significant Boost via Parameter-Free Optimization", arXiv:2506.03725 (SOS Sign-SGD).
#[derive(Debug, Clone)]
pub struct SosSignSgd {
    config: SosSignSgdConfig,
    kernels: Kernels,
}

/// The gradient oracle of a probe run: `(x, out, t)` writes the gradient at step `t` of a run.
type GradientOracle<'a> = dyn FnMut(&[f64], &mut [f64], usize) -> Result<()> + 'a;

/// What one probe run measured.
struct RunResult {
    progress_inner: f64,
    smoothness: f64,
    finite: bool,
}

impl SosSignSgd {
    /// Validates the configuration.
    pub fn new(config: SosSignSgdConfig) -> Result<Self> {
        if config.horizon < 2 {
            return Err(Error::invalid(
                OWNER,
                "horizon",
                config.horizon,
                "an integer >= 2",
            ));
        }
        let rho = config.rho;
        if !(rho.is_finite() && rho > 1.0) {
            return Err(Error::invalid(OWNER, "rho", rho, "a finite number > 1"));
        }
        if let Some(g) = config.initial_stepsize
            && !(g.is_finite() && g > 0.0)
        {
            return Err(Error::invalid(
                OWNER,
                "initial_stepsize",
                g,
                "a finite number > 0",
            ));
        }
        if config.max_probes == 0 {
            return Err(Error::invalid(OWNER, "max_probes", 0, "an integer >= 1"));
        }
        Ok(Self {
            config,
            kernels: Kernels::detect(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SosSignSgdConfig {
        &self.config
    }

    /// Searches with full gradients and the inner-product progress estimator.
    pub fn search<P: Gradient + ?Sized>(&self, problem: &P, x0: &[f64]) -> Result<SosOutcome> {
        if self.config.progress == ProgressEstimator::FunctionValues {
            return Err(Error::invalid(
                OWNER,
                "progress",
                "FunctionValues",
                "InnerProducts here; use search_with_values for function values",
            ));
        }
        check_dims(problem.dim(), x0, None)?;
        self.bisect(
            x0,
            None,
            &mut |x, out, _| problem.gradient(x, out),
            &mut |_| Ok(f64::NAN),
        )
    }

    /// Searches with full gradients; function values are used when the configuration asks for
    /// [`ProgressEstimator::FunctionValues`].
    pub fn search_with_values<P: Gradient + Cost + ?Sized>(
        &self,
        problem: &P,
        x0: &[f64],
    ) -> Result<SosOutcome> {
        check_dims(problem.dim(), x0, None)?;
        let f0 = match self.config.progress {
            ProgressEstimator::FunctionValues => Some(problem.cost(x0)?),
            ProgressEstimator::InnerProducts => None,
        };
        self.bisect(
            x0,
            f0,
            &mut |x, out, _| problem.gradient(x, out),
            &mut |x| problem.cost(x),
        )
    }

    /// Searches with minibatch gradients of `batch_size` samples; every probe run draws the same
    /// batches from an RNG seeded with `seed` (common random numbers). Progress uses inner
    /// products.
    pub fn search_stochastic<P: StochasticGradient + ?Sized>(
        &self,
        problem: &P,
        x0: &[f64],
        batch_size: usize,
        seed: u64,
    ) -> Result<SosOutcome> {
        check_dims(problem.dim(), x0, None)?;
        if batch_size == 0 {
            return Err(Error::invalid(OWNER, "batch_size", 0, "an integer >= 1"));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut batch = Vec::with_capacity(batch_size);
        self.bisect(
            x0,
            None,
            &mut |x, out, t| {
                if t == 0 {
                    rng = StdRng::seed_from_u64(seed); // every probe replays the same stream
                }
                problem.stochastic_gradient(x, &mut rng, batch_size, &mut batch, out)
            },
            &mut |_| Ok(f64::NAN),
        )
    }

    /// Bracketing and bisection over probe runs. `grad(x, out, t)` is the oracle at step `t` of
    /// a run; `cost` is used only for the function-value estimator, with `f0 = f(x_0)`.
    fn bisect(
        &self,
        x0: &[f64],
        f0: Option<f64>,
        grad: &mut GradientOracle<'_>,
        cost: &mut dyn FnMut(&[f64]) -> Result<f64>,
    ) -> Result<SosOutcome> {
        let cfg = &self.config;
        let d = x0.len();
        let mut x = vec![0.0; d];
        let (mut g, mut g_prev) = (vec![0.0; d], vec![0.0; d]);
        let mut best_x = vec![0.0; d];
        let mut probes = Vec::new();
        let mut gradient_evals = 0u64;
        let mut cost_evals = u64::from(f0.is_some());

        // Runs T steps of Sign-SGD with stepsize γ from x_0, leaving x_T in `x`.
        let mut probe = |gamma: f64, x: &mut Vec<f64>, probes: &mut Vec<Probe>| -> Result<bool> {
            if probes.len() == cfg.max_probes {
                return Err(Error::BudgetExhausted {
                    what: "SOS bracketing and bisection",
                    budget: cfg.max_probes,
                });
            }
            x.copy_from_slice(x0);
            let mut run = RunResult {
                progress_inner: 0.0,
                smoothness: 0.0,
                finite: true,
            };
            for t in 0..cfg.horizon {
                grad(x, &mut g, t)?;
                gradient_evals += 1;
                if t > 0 {
                    let s = self.kernels.alias_stats(&g, &g_prev, &g_prev);
                    if !s.finite {
                        run.finite = false;
                        break;
                    }
                    run.progress_inner += s.dot_sign;
                    run.smoothness += s.diff_l1;
                } else if scalar::first_non_finite(&g).is_some() {
                    run.finite = false;
                    break;
                }
                self.kernels.sign_step_store(x, &g, &mut g_prev, gamma, 1.0);
            }
            let progress = match (f0, run.finite) {
                (_, false) => 0.0,
                (None, true) => (gamma * run.progress_inner).max(0.0),
                (Some(f0), true) => {
                    cost_evals += 1;
                    let f_t = cost(x)?;
                    if f_t.is_finite() {
                        (f0 - f_t).max(0.0)
                    } else {
                        0.0
                    }
                }
            };
            let smoothness = run.smoothness / gamma;
            let phi = if !run.finite {
                0.0
            } else if smoothness > 0.0 {
                (progress / smoothness).sqrt()
            } else {
                f64::INFINITY
            };
            let safe = run.finite && phi >= gamma;
            probes.push(Probe {
                stepsize: gamma,
                progress,
                smoothness,
                phi,
                safe,
            });
            Ok(safe)
        };

        let x0_inf = x0.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let gamma_s = cfg.initial_stepsize.unwrap_or(1e-8 * x0_inf.max(1.0));
        let (mut lo, mut hi);
        if probe(gamma_s, &mut x, &mut probes)? {
            best_x.copy_from_slice(&x);
            lo = gamma_s;
            let mut k = 0u32;
            loop {
                let gamma = gamma_s * 2f64.powf(2f64.powi(k as i32));
                if !gamma.is_finite() {
                    return Err(Error::BudgetExhausted {
                        what: "SOS bracketing (stepsize overflow)",
                        budget: probes.len(),
                    });
                }
                if probe(gamma, &mut x, &mut probes)? {
                    best_x.copy_from_slice(&x);
                    lo = gamma;
                    k += 1;
                } else {
                    hi = gamma;
                    break;
                }
            }
        } else {
            hi = gamma_s;
            let mut k = 0u32;
            loop {
                let gamma = gamma_s / 2f64.powf(2f64.powi(k as i32));
                if gamma == 0.0 {
                    return Err(Error::BudgetExhausted {
                        what: "SOS bracketing (stepsize underflow)",
                        budget: probes.len(),
                    });
                }
                if probe(gamma, &mut x, &mut probes)? {
                    best_x.copy_from_slice(&x);
                    lo = gamma;
                    break;
                }
                hi = gamma;
                k += 1;
            }
        }
        while hi / lo > cfg.rho {
            let mid = (lo * hi).sqrt();
            if probe(mid, &mut x, &mut probes)? {
                best_x.copy_from_slice(&x);
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(SosOutcome {
            stepsize: lo,
            upper_bound: hi,
            probes,
            gradient_evals,
            cost_evals,
            x: best_x,
        })
    }
}
