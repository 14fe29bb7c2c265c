//! Non-linear least squares with a logistic link (the paper's second convex-like test).

use super::libsvm::Dataset;
use super::linear::{MarginLoss, mean_gradient, mean_loss, mean_loss_and_gradient, sigmoid};
use crate::error::Result;
use crate::problem::{Cost, CostGradient, Gradient, Problem, StochasticGradient};

struct SquaredSigmoid;

impl MarginLoss for SquaredSigmoid {
    #[inline]
    fn value(z: f64, y: f64) -> f64 {
        let r = 0.5 * (y + 1.0) - sigmoid(z);
        r * r
    }
    #[inline]
    fn derivative(z: f64, y: f64) -> f64 {
        let s = sigmoid(z);
        -2.0 * (0.5 * (y + 1.0) - s) * s * (1.0 - s)
    }
}

/// Non-linear least squares `f(w) = (1/n) Σ (y_i − σ(⟨a_i, w⟩))²` with `y ∈ {0, 1}` (spec
/// section 8): the data set's `±1` labels are mapped by `y = (label + 1)/2`.
///
/// Non-convex, bounded below by 0; no closed-form or Newton `f*` is offered.
#[derive(Debug, Clone)]
pub struct NonlinearLeastSquares {
    data: Dataset,
}

impl NonlinearLeastSquares {
    /// Builds the problem.
    pub fn new(data: Dataset) -> Self {
        Self { data }
    }

    /// The data set.
    pub fn data(&self) -> &Dataset {
        &self.data
    }
}

impl Problem for NonlinearLeastSquares {
    fn dim(&self) -> usize {
        self.data.n_features()
    }
}

impl Cost for NonlinearLeastSquares {
    fn cost(&self, x: &[f64]) -> Result<f64> {
        mean_loss::<SquaredSigmoid>(&self.data, 0.0, x, None)
    }
}

impl Gradient for NonlinearLeastSquares {
    fn gradient(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        mean_gradient::<SquaredSigmoid>(&self.data, 0.0, x, None, out)
    }
}

impl CostGradient for NonlinearLeastSquares {
    fn cost_and_gradient(&self, x: &[f64], out: &mut [f64]) -> Result<f64> {
        mean_loss_and_gradient::<SquaredSigmoid>(&self.data, 0.0, x, out)
    }
}

impl StochasticGradient for NonlinearLeastSquares {
    fn n_samples(&self) -> usize {
        self.data.n_samples()
    }
    fn batch_gradient(&self, x: &[f64], batch: &[usize], out: &mut [f64]) -> Result<()> {
        mean_gradient::<SquaredSigmoid>(&self.data, 0.0, x, Some(batch), out)
    }
    fn batch_cost(&self, x: &[f64], batch: &[usize]) -> Result<f64> {
        mean_loss::<SquaredSigmoid>(&self.data, 0.0, x, Some(batch))
    }
}
