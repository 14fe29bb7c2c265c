//! The [`Optimizer`] trait, its [`StepReport`], and the input checks every `step` runs first.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{Backend, first_non_finite};

/// An optimizer that updates parameters in place from a gradient the caller computed.
///
/// A model is a list of tensors (`params[k]` is the k-th tensor, flattened); every method in this
/// crate uses **one global stepsize** over all of them, and its norms and inner products are over
/// the concatenation of all tensors. The tensor lengths (the *layout*) are fixed when the
/// optimizer is built.
///
/// `step` either succeeds or changes nothing: wrong tensor counts or lengths, a NaN or infinite
/// gradient coordinate, or a non-finite loss return an error and leave the parameters and the
/// optimizer state exactly as they were.
pub trait Optimizer<F: Float> {
    /// One update. `loss` is the objective at the current parameters; methods that need it say so
    /// (and return [`Error::MissingLoss`] without it), the others ignore it after checking that it
    /// is finite.
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport>;

    /// The tensor lengths this optimizer was built for.
    fn layout(&self) -> &[usize];

    /// The number of successful steps taken so far.
    fn steps_taken(&self) -> u64;

    /// A short human-readable name, e.g. `"Sign-SGD"`.
    fn name(&self) -> &'static str;

    /// [`Optimizer::step`] for a model that is a single flat vector.
    fn step_flat(&mut self, params: &mut [F], grad: &[F], loss: Option<f64>) -> Result<StepReport> {
        self.step(&mut [params], &[grad], loss)
    }
}

/// Save and restore everything that changes between steps.
pub trait Stateful {
    /// The state value: all counters, running sums and buffers.
    type State: Clone;
    /// The current state.
    fn state(&self) -> &Self::State;
    /// Replaces the state; a restored optimizer continues bit for bit as the saved one would.
    fn set_state(&mut self, state: Self::State) -> Result<()>;
}

/// What one call to [`Optimizer::step`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StepReport {
    /// The index of this step, from 0.
    pub step: u64,
    /// `γ_t`, the stepsize applied.
    pub stepsize: f64,
    /// The kernel implementation that ran.
    pub backend: Backend,
    /// The method's own estimators.
    pub estimators: Estimators,
}

/// Method-specific quantities reported with each step.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Estimators {
    /// Sign-SGD and Signum have none beyond the scheduled stepsize.
    Scheduled {
        /// The schedule's multiplier at this step.
        schedule_factor: f64,
    },
}

/// Checks tensor counts and lengths, gradient finiteness and loss finiteness.
pub(crate) fn check_step_inputs<F: Float>(
    layout: &[usize],
    params: &[&mut [F]],
    grads: &[&[F]],
    loss: Option<f64>,
    step: u64,
) -> Result<()> {
    if params.len() != layout.len() {
        return Err(Error::DimensionMismatch {
            what: "number of parameter tensors".into(),
            expected: layout.len(),
            got: params.len(),
        });
    }
    if grads.len() != layout.len() {
        return Err(Error::DimensionMismatch {
            what: "number of gradient tensors".into(),
            expected: layout.len(),
            got: grads.len(),
        });
    }
    for (k, ((&len, p), g)) in layout.iter().zip(params).zip(grads).enumerate() {
        if p.len() != len {
            return Err(Error::DimensionMismatch {
                what: format!("parameter tensor {k}"),
                expected: len,
                got: p.len(),
            });
        }
        if g.len() != len {
            return Err(Error::DimensionMismatch {
                what: format!("gradient tensor {k}"),
                expected: len,
                got: g.len(),
            });
        }
    }
    if let Some(value) = loss
        && !value.is_finite()
    {
        return Err(Error::NonFiniteLoss { step, value });
    }
    for (tensor, g) in grads.iter().enumerate() {
        if let Some(index) = first_non_finite(g) {
            return Err(Error::NonFiniteGradient {
                step,
                tensor,
                index,
                value: g[index].to_f64(),
            });
        }
    }
    Ok(())
}

/// Returns [`Error::InvalidParameter`] unless `value` is finite and `ok` (the caller's range test).
pub(crate) fn check_range(
    owner: &'static str,
    parameter: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<()> {
    if value.is_finite() && ok {
        Ok(())
    } else {
        Err(Error::invalid(owner, parameter, value, expected))
    }
}
