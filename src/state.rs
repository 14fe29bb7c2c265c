//! Checks a saved optimizer state must pass before it is accepted, by `set_state` and by
//! checkpoint loading (which runs them *before* the optimizer allocates anything, so a file that
//! claims a huge layout is refused without allocating it).
//!
//! A state is accepted only if a run of the optimizer could have produced it: buffers of the
//! layout's lengths exactly where the configuration has them, every value finite, moments that
//! are squares non-negative, counters below their limit. Non-finite values never enter a state
//! (a step that would create one fails with [`Error::StepOutOfRange`] or
//! [`Error::GradientOutOfRange`] and changes nothing), so every state an optimizer reaches can be
//! saved and restored.

use crate::error::{Error, Result};
use crate::float::Float;

/// Whether per-tensor buffers match the layout (one buffer per tensor, `len(n)` elements for a
/// tensor of `n` parameters).
pub(crate) fn fits_layout_with<T>(
    layout: &[usize],
    buffers: &[Vec<T>],
    len: impl Fn(usize) -> usize,
) -> bool {
    buffers.len() == layout.len() && buffers.iter().zip(layout).all(|(b, &n)| b.len() == len(n))
}

/// Whether per-tensor buffers match the layout element for element.
pub(crate) fn fits_layout<T>(layout: &[usize], buffers: &[Vec<T>]) -> bool {
    fits_layout_with(layout, buffers, |n| n)
}

/// [`Error::IncompatibleState`] unless `buffers` matches the layout when `present`, and is
/// empty otherwise. (For an empty layout both are the empty list.)
pub(crate) fn check_buffers<T>(
    reason: &'static str,
    layout: &[usize],
    buffers: &[Vec<T>],
    present: bool,
) -> Result<()> {
    let ok = if present {
        fits_layout(layout, buffers)
    } else {
        buffers.is_empty()
    };
    ok.then_some(()).ok_or(Error::IncompatibleState { reason })
}

/// [`Error::IncompatibleState`] unless every value is finite (and, with `non_negative`, `≥ 0`).
pub(crate) fn check_values<F: Float>(
    reason: &'static str,
    buffers: &[Vec<F>],
    non_negative: bool,
) -> Result<()> {
    let ok = buffers.iter().flatten().all(|&x| {
        let x = x.to_f64();
        x.is_finite() && (!non_negative || x >= 0.0)
    });
    ok.then_some(()).ok_or(Error::IncompatibleState { reason })
}

/// [`Error::IncompatibleState`] if the step counter is at its maximum (the next step could not
/// be counted).
pub(crate) fn check_counter(step: u64) -> Result<()> {
    (step < u64::MAX)
        .then_some(())
        .ok_or(Error::IncompatibleState {
            reason: "step counter at its maximum",
        })
}

/// [`Error::IncompatibleState`] unless the scalar is finite (and, with `non_negative`, `≥ 0`).
pub(crate) fn check_scalar(reason: &'static str, value: f64, non_negative: bool) -> Result<()> {
    (value.is_finite() && (!non_negative || value >= 0.0))
        .then_some(())
        .ok_or(Error::IncompatibleState { reason })
}
