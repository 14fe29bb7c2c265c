//! Problems by capability: gradients, function values, minibatch gradients, and call counting.
//!
//! Problems work in `f64`. Each capability is its own trait, so an algorithm asks for exactly
//! what it uses (ALIAS Option D needs gradients only; SOS with the function-value estimator and
//! Option F also need [`Cost`]).

use std::sync::atomic::{AtomicU64, Ordering};

use rand::{Rng, RngExt};

use crate::error::{Error, Result};

/// The number of variables.
pub trait Problem {
    /// `d`, the length of `x`.
    fn dim(&self) -> usize;
}

/// A function value oracle.
pub trait Cost: Problem {
    /// `f(x)`.
    fn cost(&self, x: &[f64]) -> Result<f64>;
}

/// A gradient oracle writing into a caller-owned buffer (no allocation).
pub trait Gradient: Problem {
    /// Writes `∇f(x)` into `out` (overwriting it).
    fn gradient(&self, x: &[f64], out: &mut [f64]) -> Result<()>;
}

/// Function value and gradient at once: one pass over the data where the problem can fuse them
/// (the linear models do), otherwise the two oracles in turn. Results equal the separate calls.
pub trait CostGradient: Cost + Gradient {
    /// Writes `∇f(x)` into `out` and returns `f(x)`.
    fn cost_and_gradient(&self, x: &[f64], out: &mut [f64]) -> Result<f64> {
        self.gradient(x, out)?;
        self.cost(x)
    }
}

/// A finite sum `f = (1/n) Σ_i f_i (+ a deterministic regulariser)` with minibatch oracles.
///
/// Batches are lists of sample indices owned by the caller; [`StochasticGradient::sample_batch`]
/// draws one, so an algorithm can evaluate two points on the *same* batch (ALIAS's same-sample
/// mode) or replay batches (SOS's common random numbers) by reseeding its RNG.
pub trait StochasticGradient: Problem {
    /// `n`, the number of samples.
    fn n_samples(&self) -> usize;

    /// Writes the minibatch gradient `(1/|B|) Σ_{i∈B} ∇f_i(x)` (plus the regulariser's
    /// gradient) into `out`.
    fn batch_gradient(&self, x: &[f64], batch: &[usize], out: &mut [f64]) -> Result<()>;

    /// The minibatch loss `(1/|B|) Σ_{i∈B} f_i(x)` (plus the regulariser).
    fn batch_cost(&self, x: &[f64], batch: &[usize]) -> Result<f64>;

    /// Replaces `batch` with `batch_size` indices drawn uniformly **with replacement**.
    /// Reuses `batch`'s allocation.
    fn sample_batch(&self, rng: &mut dyn Rng, batch_size: usize, batch: &mut Vec<usize>) {
        let n = self.n_samples();
        batch.clear();
        batch.extend((0..batch_size).map(|_| rng.random_range(0..n)));
    }

    /// Draws a batch of `batch_size` into `batch` and writes its gradient into `out`.
    fn stochastic_gradient(
        &self,
        x: &[f64],
        rng: &mut dyn Rng,
        batch_size: usize,
        batch: &mut Vec<usize>,
        out: &mut [f64],
    ) -> Result<()> {
        if batch_size == 0 {
            return Err(Error::invalid(
                "StochasticGradient",
                "batch_size",
                0,
                "an integer >= 1",
            ));
        }
        self.sample_batch(rng, batch_size, batch);
        self.batch_gradient(x, batch, out)
    }
}

/// Checks `x` (and `out`, if given) against the problem dimension.
pub(crate) fn check_dims(dim: usize, x: &[f64], out: Option<&[f64]>) -> Result<()> {
    if x.len() != dim {
        return Err(Error::DimensionMismatch {
            what: "point x".into(),
            expected: dim,
            got: x.len(),
        });
    }
    if let Some(out) = out
        && out.len() != dim
    {
        return Err(Error::DimensionMismatch {
            what: "gradient buffer".into(),
            expected: dim,
            got: out.len(),
        });
    }
    Ok(())
}

/// How many times each oracle of a [`Counted`] problem was called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalCounts {
    /// Full gradient evaluations.
    pub gradients: u64,
    /// Full function evaluations.
    pub costs: u64,
    /// Minibatch gradient evaluations.
    pub batch_gradients: u64,
    /// Minibatch function evaluations.
    pub batch_costs: u64,
    /// Samples touched by minibatch gradients (the sum of batch sizes).
    pub samples: u64,
}

/// Wraps a problem and counts every oracle call (thread-safe).
///
/// ```
/// use signfree::{Counted, Gradient, Quadratic};
/// let p = Counted::new(Quadratic::isotropic(3, 1.0)?);
/// let mut g = vec![0.0; 3];
/// p.gradient(&[1.0, 2.0, 3.0], &mut g)?;
/// p.gradient(&[0.0, 0.0, 0.0], &mut g)?;
/// assert_eq!(p.counts().gradients, 2);
/// # Ok::<(), signfree::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Counted<P> {
    inner: P,
    gradients: AtomicU64,
    costs: AtomicU64,
    batch_gradients: AtomicU64,
    batch_costs: AtomicU64,
    samples: AtomicU64,
}

impl<P> Counted<P> {
    /// Wraps `inner` with all counts at zero.
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            gradients: AtomicU64::new(0),
            costs: AtomicU64::new(0),
            batch_gradients: AtomicU64::new(0),
            batch_costs: AtomicU64::new(0),
            samples: AtomicU64::new(0),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> EvalCounts {
        EvalCounts {
            gradients: self.gradients.load(Ordering::Relaxed),
            costs: self.costs.load(Ordering::Relaxed),
            batch_gradients: self.batch_gradients.load(Ordering::Relaxed),
            batch_costs: self.batch_costs.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
        }
    }

    /// Sets every count to zero.
    pub fn reset_counts(&self) {
        for c in [
            &self.gradients,
            &self.costs,
            &self.batch_gradients,
            &self.batch_costs,
            &self.samples,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// The wrapped problem.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Unwraps the problem.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

fn bump(c: &AtomicU64, by: u64) {
    c.fetch_add(by, Ordering::Relaxed);
}

impl<P: Problem> Problem for Counted<P> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
}

impl<P: Cost> Cost for Counted<P> {
    fn cost(&self, x: &[f64]) -> Result<f64> {
        bump(&self.costs, 1);
        self.inner.cost(x)
    }
}

impl<P: Gradient> Gradient for Counted<P> {
    fn gradient(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        bump(&self.gradients, 1);
        self.inner.gradient(x, out)
    }
}

impl<P: CostGradient> CostGradient for Counted<P> {
    fn cost_and_gradient(&self, x: &[f64], out: &mut [f64]) -> Result<f64> {
        bump(&self.costs, 1);
        bump(&self.gradients, 1);
        self.inner.cost_and_gradient(x, out)
    }
}

impl<P: StochasticGradient> StochasticGradient for Counted<P> {
    fn n_samples(&self) -> usize {
        self.inner.n_samples()
    }

    fn batch_gradient(&self, x: &[f64], batch: &[usize], out: &mut [f64]) -> Result<()> {
        bump(&self.batch_gradients, 1);
        bump(&self.samples, batch.len() as u64);
        self.inner.batch_gradient(x, batch, out)
    }

    fn batch_cost(&self, x: &[f64], batch: &[usize]) -> Result<f64> {
        bump(&self.batch_costs, 1);
        self.inner.batch_cost(x, batch)
    }

    fn sample_batch(&self, rng: &mut dyn Rng, batch_size: usize, batch: &mut Vec<usize>) {
        self.inner.sample_batch(rng, batch_size, batch)
    }
}
