//! ℓ2-regularised logistic regression, with a Newton reference solver for `f*`.

use super::libsvm::Dataset;
use super::linear::{
    MarginLoss, mean_gradient, mean_loss, mean_loss_and_gradient, sigmoid, softplus,
};
use crate::error::{Error, Result};
use crate::problem::{Cost, CostGradient, Gradient, Problem, StochasticGradient};

struct Logistic;

impl MarginLoss for Logistic {
    #[inline]
    fn value(z: f64, y: f64) -> f64 {
        softplus(-y * z)
    }
    #[inline]
    fn derivative(z: f64, y: f64) -> f64 {
        -y * sigmoid(-y * z)
    }
}

/// Logistic regression `f(w) = (1/n) Σ log(1 + exp(−y_i ⟨a_i, w⟩)) + (μ/2)‖w‖²` (spec
/// section 8), labels in `{−1, +1}`.
///
/// ```
/// use signfree::{Cost, Dataset, LibsvmOptions, LogisticRegression};
/// let data = Dataset::from_path(
///     concat!(env!("CARGO_MANIFEST_DIR"), "/data/heart_scale"),
///     LibsvmOptions::default(),
/// )?;
/// let problem = LogisticRegression::new(data, 1e-4)?;
/// let opt = problem.reference_optimum()?;
/// assert!(opt.f_star < problem.cost(&vec![0.0; 13])?);
/// assert!(opt.grad_inf_norm < 1e-10);
/// # Ok::<(), signfree::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LogisticRegression {
    data: Dataset,
    mu: f64,
}

/// A high-accuracy minimiser, from [`LogisticRegression::reference_optimum`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceOptimum {
    /// The minimiser `x*`.
    pub x: Vec<f64>,
    /// `f* = f(x*)`.
    pub f_star: f64,
    /// `‖∇f(x*)‖_∞` at the returned point.
    pub grad_inf_norm: f64,
    /// Newton iterations used.
    pub iterations: usize,
}

impl LogisticRegression {
    /// Builds the problem; `mu` is the ℓ2 weight `μ ≥ 0`.
    pub fn new(data: Dataset, mu: f64) -> Result<Self> {
        if !(mu.is_finite() && mu >= 0.0) {
            return Err(Error::invalid(
                "LogisticRegression",
                "mu",
                mu,
                "a finite number >= 0",
            ));
        }
        Ok(Self { data, mu })
    }

    /// The data set.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// `μ`.
    pub fn mu(&self) -> f64 {
        self.mu
    }

    /// Minimises `f` by Newton's method with a backtracking line search, from `w = 0`, until
    /// `‖∇f‖_∞ ≤ 1e-12` (or no further decrease is possible at working precision with
    /// `‖∇f‖_∞ ≤ 1e-9`).
    ///
    /// Builds the dense `d × d` Hessian `(1/n) Aᵀ diag(σ(z)(1−σ(z))) A + μI`, so it is meant for
    /// `d` up to a few thousand (the bundled sets have `d ≤ 300`).
    ///
    /// # Errors
    /// [`Error::NotConverged`] if the Hessian is singular (`μ = 0` on separable data) or the
    /// tolerance is not met in 100 iterations.
    pub fn reference_optimum(&self) -> Result<ReferenceOptimum> {
        const MAX_ITER: usize = 100;
        let d = self.dim();
        let (a, n) = (self.data.features(), self.data.n_samples());
        let mut w = vec![0.0; d];
        let mut g = vec![0.0; d];
        let mut h = vec![0.0; d * d];
        let mut step = vec![0.0; d];
        let mut trial = vec![0.0; d];
        let mut f = self.cost(&w)?;
        let inf_norm = |v: &[f64]| v.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        for iteration in 0..MAX_ITER {
            self.gradient(&w, &mut g)?;
            let gnorm = inf_norm(&g);
            if gnorm <= 1e-12 {
                return Ok(ReferenceOptimum {
                    x: w,
                    f_star: f,
                    grad_inf_norm: gnorm,
                    iterations: iteration,
                });
            }
            // Hessian, lower triangle.
            h.fill(0.0);
            for i in 0..n {
                let s = sigmoid(a.row_dot(i, &w));
                let weight = s * (1.0 - s) / n as f64;
                a.for_each_in_row(i, |j, vj| {
                    a.for_each_in_row(i, |k, vk| {
                        if k <= j {
                            h[j * d + k] += weight * vj * vk;
                        }
                    })
                });
            }
            for j in 0..d {
                h[j * d + j] += self.mu;
            }
            if !cholesky_solve(&mut h, d, &g, &mut step) {
                return Err(Error::NotConverged {
                    what: "Newton (singular Hessian)",
                    iterations: iteration,
                    residual: gnorm,
                });
            }
            // Backtracking on f along −step; the allowance of a few ulps of f lets the last
            // full steps through when the true decrease is below rounding error.
            let slope: f64 = g.iter().zip(&step).map(|(gi, si)| gi * si).sum();
            let allowance = 4.0 * f64::EPSILON * f.abs();
            let mut t = 1.0;
            let accepted = loop {
                for ((tr, wi), si) in trial.iter_mut().zip(&w).zip(&step) {
                    *tr = wi - t * si;
                }
                let f_trial = self.cost(&trial)?;
                if f_trial <= f - 1e-4 * t * slope + allowance {
                    break Some(f_trial);
                }
                // Near the optimum the decrease falls below the rounding of `f`; there a full
                // Newton step that shrinks the gradient is the right step.
                if t == 1.0 && gnorm < 1e-6 {
                    self.gradient(&trial, &mut g)?;
                    if inf_norm(&g) < gnorm {
                        break Some(f_trial);
                    }
                }
                t *= 0.5;
                if t < 1e-10 {
                    break None;
                }
            };
            match accepted {
                Some(f_new) => {
                    std::mem::swap(&mut w, &mut trial);
                    f = f_new;
                }
                None if gnorm <= 1e-9 => {
                    return Ok(ReferenceOptimum {
                        x: w,
                        f_star: f,
                        grad_inf_norm: gnorm,
                        iterations: iteration,
                    });
                }
                None => {
                    return Err(Error::NotConverged {
                        what: "Newton (line search)",
                        iterations: iteration,
                        residual: gnorm,
                    });
                }
            }
        }
        self.gradient(&w, &mut g)?;
        Err(Error::NotConverged {
            what: "Newton",
            iterations: MAX_ITER,
            residual: inf_norm(&g),
        })
    }
}

/// Solves `H x = b` for symmetric positive definite `H` given by its lower triangle (row-major,
/// overwritten by the Cholesky factor). Returns `false` if `H` is not positive definite.
fn cholesky_solve(h: &mut [f64], d: usize, b: &[f64], x: &mut [f64]) -> bool {
    for j in 0..d {
        let diag = h[j * d + j] - (0..j).map(|k| h[j * d + k] * h[j * d + k]).sum::<f64>();
        if diag <= 0.0 || !diag.is_finite() {
            return false;
        }
        let ljj = diag.sqrt();
        h[j * d + j] = ljj;
        for i in (j + 1)..d {
            let s = h[i * d + j] - (0..j).map(|k| h[i * d + k] * h[j * d + k]).sum::<f64>();
            h[i * d + j] = s / ljj;
        }
    }
    for i in 0..d {
        let s = b[i] - (0..i).map(|k| h[i * d + k] * x[k]).sum::<f64>();
        x[i] = s / h[i * d + i];
    }
    for i in (0..d).rev() {
        let s = x[i] - ((i + 1)..d).map(|k| h[k * d + i] * x[k]).sum::<f64>();
        x[i] = s / h[i * d + i];
    }
    true
}

impl Problem for LogisticRegression {
    fn dim(&self) -> usize {
        self.data.n_features()
    }
}

impl Cost for LogisticRegression {
    fn cost(&self, x: &[f64]) -> Result<f64> {
        mean_loss::<Logistic>(&self.data, self.mu, x, None)
    }
}

impl Gradient for LogisticRegression {
    fn gradient(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        mean_gradient::<Logistic>(&self.data, self.mu, x, None, out)
    }
}

impl CostGradient for LogisticRegression {
    fn cost_and_gradient(&self, x: &[f64], out: &mut [f64]) -> Result<f64> {
        mean_loss_and_gradient::<Logistic>(&self.data, self.mu, x, out)
    }
}

impl StochasticGradient for LogisticRegression {
    fn n_samples(&self) -> usize {
        self.data.n_samples()
    }
    fn batch_gradient(&self, x: &[f64], batch: &[usize], out: &mut [f64]) -> Result<()> {
        mean_gradient::<Logistic>(&self.data, self.mu, x, Some(batch), out)
    }
    fn batch_cost(&self, x: &[f64], batch: &[usize]) -> Result<f64> {
        mean_loss::<Logistic>(&self.data, self.mu, x, Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // H = [[4, 2], [2, 3]], b = [2, 1] → x = [0.5, 0].
        let mut h = vec![4.0, 0.0, 2.0, 3.0];
        let mut x = vec![0.0; 2];
        assert!(cholesky_solve(&mut h, 2, &[2.0, 1.0], &mut x));
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15);
        let mut singular = vec![1.0, 0.0, 1.0, 1.0];
        assert!(!cholesky_solve(&mut singular, 2, &[1.0, 1.0], &mut x));
    }

    #[test]
    fn rejects_negative_mu() {
        let data = Dataset::parse(b"1 1:1\n-1 1:-1\n", "m", Default::default()).unwrap();
        assert!(matches!(
            LogisticRegression::new(data, -1.0),
            Err(Error::InvalidParameter {
                parameter: "mu",
                ..
            })
        ));
    }
}
