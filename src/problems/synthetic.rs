//! Closed-form test problems: a separable quadratic and the Rosenbrock function.

use crate::error::{Error, Result};
use crate::problem::{Cost, CostGradient, Gradient, Problem, check_dims};

/// The separable quadratic `f(x) = ½ Σ_i h_i (x_i − c_i)²`, `h_i > 0`.
///
/// Minimiser `c`, `f* = 0`. Its `ℓ∞ → ℓ1` smoothness constant (`docs/ALGORITHMS.md` §0) is exactly
/// `L_∞ = Σ_i h_i`: `‖∇f(x) − ∇f(y)‖_1 = Σ h_i |x_i − y_i| ≤ (Σ h_i)‖x − y‖_∞`, with equality
/// when every `|x_i − y_i|` is equal — as it is after one sign step.
#[derive(Debug, Clone, PartialEq)]
pub struct Quadratic {
    curvature: Vec<f64>,
    center: Vec<f64>,
}

impl Quadratic {
    /// Builds `½ Σ h_i (x_i − c_i)²` from curvatures `h` and center `c`.
    pub fn new(curvature: Vec<f64>, center: Vec<f64>) -> Result<Self> {
        if curvature.len() != center.len() {
            return Err(Error::DimensionMismatch {
                what: "Quadratic center".into(),
                expected: curvature.len(),
                got: center.len(),
            });
        }
        if let Some(&h) = curvature.iter().find(|h| !(h.is_finite() && **h > 0.0)) {
            return Err(Error::invalid(
                "Quadratic",
                "curvature",
                h,
                "finite numbers > 0",
            ));
        }
        if let Some(&c) = center.iter().find(|c| !c.is_finite()) {
            return Err(Error::invalid("Quadratic", "center", c, "finite numbers"));
        }
        Ok(Self { curvature, center })
    }

    /// `½ h ‖x‖²` in `d` dimensions.
    pub fn isotropic(d: usize, h: f64) -> Result<Self> {
        Self::new(vec![h; d], vec![0.0; d])
    }

    /// The minimiser `c`.
    pub fn minimizer(&self) -> &[f64] {
        &self.center
    }

    /// `L_∞ = Σ h_i`.
    pub fn l_inf(&self) -> f64 {
        self.curvature.iter().sum()
    }
}

impl Problem for Quadratic {
    fn dim(&self) -> usize {
        self.curvature.len()
    }
}

impl Cost for Quadratic {
    fn cost(&self, x: &[f64]) -> Result<f64> {
        check_dims(self.dim(), x, None)?;
        Ok(0.5
            * x.iter()
                .zip(&self.center)
                .zip(&self.curvature)
                .map(|((xi, ci), hi)| hi * (xi - ci) * (xi - ci))
                .sum::<f64>())
    }
}

impl Gradient for Quadratic {
    fn gradient(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        check_dims(self.dim(), x, Some(out))?;
        for (((o, xi), ci), hi) in out.iter_mut().zip(x).zip(&self.center).zip(&self.curvature) {
            *o = hi * (xi - ci);
        }
        Ok(())
    }
}

impl CostGradient for Quadratic {}

/// The Rosenbrock function `f(x) = Σ_{i<d−1} [100 (x_{i+1} − x_i²)² + (1 − x_i)²]`, `d ≥ 2`.
///
/// Minimiser `(1, …, 1)`, `f* = 0`; non-convex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rosenbrock {
    dim: usize,
}

impl Rosenbrock {
    /// The `d`-dimensional chained Rosenbrock function.
    pub fn new(dim: usize) -> Result<Self> {
        if dim < 2 {
            return Err(Error::invalid("Rosenbrock", "dim", dim, "an integer >= 2"));
        }
        Ok(Self { dim })
    }
}

impl Problem for Rosenbrock {
    fn dim(&self) -> usize {
        self.dim
    }
}

impl Cost for Rosenbrock {
    fn cost(&self, x: &[f64]) -> Result<f64> {
        check_dims(self.dim, x, None)?;
        Ok(x.windows(2)
            .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
            .sum())
    }
}

impl Gradient for Rosenbrock {
    fn gradient(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        check_dims(self.dim, x, Some(out))?;
        out.fill(0.0);
        for i in 0..self.dim - 1 {
            let t = x[i + 1] - x[i] * x[i];
            out[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i]);
            out[i + 1] += 200.0 * t;
        }
        Ok(())
    }
}

impl CostGradient for Rosenbrock {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosenbrock_at_known_points() {
        let r = Rosenbrock::new(2).unwrap();
        assert_eq!(r.cost(&[1.0, 1.0]).unwrap(), 0.0);
        assert_eq!(r.cost(&[0.0, 0.0]).unwrap(), 1.0);
        let mut g = [0.0; 2];
        r.gradient(&[0.0, 0.0], &mut g).unwrap();
        assert_eq!(g, [-2.0, 0.0]);
        r.gradient(&[1.0, 1.0], &mut g).unwrap();
        assert_eq!(g, [0.0, 0.0]);
        assert!(Rosenbrock::new(1).is_err());
    }

    #[test]
    fn quadratic_values_and_validation() {
        let q = Quadratic::new(vec![1.0, 4.0], vec![1.0, -1.0]).unwrap();
        assert_eq!(q.cost(&[0.0, 0.0]).unwrap(), 0.5 * (1.0 + 4.0));
        assert_eq!(q.l_inf(), 5.0);
        assert!(matches!(
            Quadratic::new(vec![0.0], vec![0.0]),
            Err(Error::InvalidParameter {
                parameter: "curvature",
                ..
            })
        ));
        assert!(matches!(
            q.cost(&[0.0]),
            Err(Error::DimensionMismatch {
                expected: 2,
                got: 1,
                ..
            })
        ));
    }
}
