//! Shared machinery of the linear-model losses `f(w) = (1/n) Σ ℓ(⟨a_i, w⟩, y_i) + (μ/2)‖w‖²`.

use super::libsvm::Dataset;
use crate::error::{Error, Result};
use crate::problem::check_dims;

/// A per-sample loss as a function of the margin `z = ⟨a_i, w⟩`.
pub(crate) trait MarginLoss {
    /// `ℓ(z, y)`.
    fn value(z: f64, y: f64) -> f64;
    /// `∂ℓ/∂z`.
    fn derivative(z: f64, y: f64) -> f64;
}

/// The logistic function `σ(z) = 1/(1 + e^{−z})`, without overflow.
#[inline]
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^t)`, without overflow or loss of precision for large `|t|`.
#[inline]
pub(crate) fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

fn check_batch(data: &Dataset, batch: &[usize]) -> Result<()> {
    let n = data.n_samples();
    if batch.is_empty() {
        return Err(Error::invalid(
            "StochasticGradient",
            "batch",
            "[]",
            "a non-empty batch",
        ));
    }
    if let Some(&bad) = batch.iter().find(|&&i| i >= n) {
        return Err(Error::DimensionMismatch {
            what: "sample index in batch (expected < n)".into(),
            expected: n,
            got: bad,
        });
    }
    Ok(())
}

/// `(1/|rows|) Σ ℓ(⟨a_i, w⟩, y_i) + (μ/2)‖w‖²`.
pub(crate) fn mean_loss<L: MarginLoss>(
    data: &Dataset,
    mu: f64,
    w: &[f64],
    rows: Option<&[usize]>,
) -> Result<f64> {
    check_dims(data.n_features(), w, None)?;
    let (a, y) = (data.features(), data.labels());
    let sum = match rows {
        None => compensated_sum((0..data.n_samples()).map(|i| L::value(a.row_dot(i, w), y[i]))),
        Some(rows) => {
            check_batch(data, rows)?;
            compensated_sum(rows.iter().map(|&i| L::value(a.row_dot(i, w), y[i])))
        }
    };
    let count = rows.map_or(data.n_samples(), <[usize]>::len) as f64;
    Ok(sum / count + regulariser(mu, w))
}

/// Writes `(1/|rows|) Σ ℓ'(⟨a_i, w⟩, y_i) a_i + μ w` into `out`.
pub(crate) fn mean_gradient<L: MarginLoss>(
    data: &Dataset,
    mu: f64,
    w: &[f64],
    rows: Option<&[usize]>,
    out: &mut [f64],
) -> Result<()> {
    check_dims(data.n_features(), w, Some(out))?;
    if let Some(rows) = rows {
        check_batch(data, rows)?;
    }
    out.fill(0.0);
    let (a, y) = (data.features(), data.labels());
    let mut add = |i: usize| a.row_axpy(i, L::derivative(a.row_dot(i, w), y[i]), out);
    let count = match rows {
        None => {
            (0..data.n_samples()).for_each(&mut add);
            data.n_samples()
        }
        Some(rows) => {
            rows.iter().for_each(|&i| add(i));
            rows.len()
        }
    };
    let scale = 1.0 / count as f64;
    for (o, wj) in out.iter_mut().zip(w) {
        *o = *o * scale + mu * wj;
    }
    Ok(())
}

/// Loss and gradient in one pass over the rows: bit-identical to [`mean_loss`] and
/// [`mean_gradient`] (same terms, same order), at the cost of one margin computation per row.
pub(crate) fn mean_loss_and_gradient<L: MarginLoss>(
    data: &Dataset,
    mu: f64,
    w: &[f64],
    out: &mut [f64],
) -> Result<f64> {
    check_dims(data.n_features(), w, Some(out))?;
    out.fill(0.0);
    let (a, y) = (data.features(), data.labels());
    let n = data.n_samples();
    let losses = (0..n).map(|i| {
        let z = a.row_dot(i, w);
        a.row_axpy(i, L::derivative(z, y[i]), out);
        L::value(z, y[i])
    });
    let sum = compensated_sum(losses);
    let scale = 1.0 / n as f64;
    for (o, wj) in out.iter_mut().zip(w) {
        *o = *o * scale + mu * wj;
    }
    Ok(sum / n as f64 + regulariser(mu, w))
}

/// Neumaier's compensated sum: the error no longer grows with the number of terms, so `f*` and
/// `f(x) − f*` are meaningful near 1e-15 relative even for n = 50 000 samples.
fn compensated_sum(terms: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut compensation) = (0.0_f64, 0.0_f64);
    for t in terms {
        let next = sum + t;
        compensation += if sum.abs() >= t.abs() {
            (sum - next) + t
        } else {
            (t - next) + sum
        };
        sum = next;
    }
    sum + compensation
}

fn regulariser(mu: f64, w: &[f64]) -> f64 {
    if mu == 0.0 {
        0.0
    } else {
        0.5 * mu * w.iter().map(|v| v * v).sum::<f64>()
    }
}
