//! The [`Optimizer`] trait, its [`StepReport`], and the input checks every `step` runs first.

use crate::error::{Dimension, Error, Result};
use crate::float::Float;
use crate::kernels::{Backend, Kernels, first_non_finite};

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

    /// Bytes of optimizer state per parameter (the per-coordinate buffers; the O(1) scalars
    /// are not counted). Sign-SGD: 0; Adam-type methods: two or more vectors of `F`.
    fn state_bytes_per_parameter(&self) -> f64;

    /// Sets an outer multiplier on every stepsize this method applies, from the next step on
    /// (default `1`): `set_lr_multiplier(schedule(t))` before each step puts a warm-up, a cosine
    /// decay or any learning-rate policy on any method, including the parameter-free ones (for
    /// ALIAS it multiplies the formula's `γ_t` and the warm-up stepsize, not the cap `γ_max`;
    /// with [`AliasRule::update_gap`](crate::AliasRule::update_gap) `> 1` the stepsize is held
    /// between refresh steps, and a new multiplier applies from the next refresh step).
    /// The multiplier is a control input, not part of [`Stateful::State`]: after a restore, set
    /// it again. Errors with [`Error::InvalidParameter`] (changing nothing) unless it is finite
    /// and `≥ 0`; a multiplier that drives the stepsize beyond what `F` or the weight decay
    /// allows makes the next `step` fail with [`Error::StepOutOfRange`].
    fn set_lr_multiplier(&mut self, multiplier: f64) -> Result<()>;

    /// The outer multiplier set by [`Optimizer::set_lr_multiplier`] (default `1`).
    fn lr_multiplier(&self) -> f64;

    /// [`Optimizer::step`] for a model that is a single flat vector.
    fn step_flat(&mut self, params: &mut [F], grad: &[F], loss: Option<f64>) -> Result<StepReport> {
        self.step(&mut [params], &[grad], loss)
    }
}

/// An optimizer built from one configuration value, with a name for checkpoints: everything the
/// adapters need to cover a method generically. Implementing it (with [`Optimizer`] and
/// [`Stateful`]) is all a new method needs to be checkpointed (feature `serde`) and used from
/// candle (feature `candle`).
pub trait Method: Optimizer<<Self as Method>::Element> + Stateful + Sized {
    /// The element type of the parameters (`f32` or `f64`).
    type Element: Float;
    /// The configuration.
    type Config: Clone + std::fmt::Debug;
    /// The optimizer's name in checkpoints, e.g. `"AliasSignSgd"`.
    const NAME: &'static str;
    /// Builds the optimizer for tensors of the given lengths, validating the configuration.
    fn build(config: Self::Config, layout: &[usize]) -> Result<Self>;
    /// The configuration it was built with.
    fn config(&self) -> &Self::Config;
    /// Checks a saved state against a configuration and layout before anything is allocated
    /// (the same checks as [`Stateful::set_state`]).
    fn check_state(config: &Self::Config, layout: &[usize], state: &Self::State) -> Result<()>;
}

/// Implements [`Stateful`] and [`Method`] for an optimizer type `$ty<F>` with fields `config`,
/// `layout` and `state: $state<F>`, and inherent `new(config, layout)` and
/// `check_state(config, layout, state)` with the trait's signatures: the one line each method
/// writes to join the framework (checkpoints and the adapters then cover it).
macro_rules! method {
    ($ty:ident, $config:ty, $state:ident, $name:literal) => {
        impl<F: $crate::float::Float> $crate::optimizer::Stateful for $ty<F> {
            type State = $state<F>;
            fn state(&self) -> &$state<F> {
                &self.state
            }
            fn set_state(&mut self, state: $state<F>) -> $crate::error::Result<()> {
                Self::check_state(&self.config, &self.layout, &state)?;
                self.state = state;
                Ok(())
            }
        }
        impl<F: $crate::float::Float> $crate::optimizer::Method for $ty<F> {
            type Element = F;
            type Config = $config;
            const NAME: &'static str = $name;
            fn build(config: $config, layout: &[usize]) -> $crate::error::Result<Self> {
                Self::new(config, layout)
            }
            fn config(&self) -> &$config {
                &self.config
            }
            fn check_state(
                config: &$config,
                layout: &[usize],
                state: &$state<F>,
            ) -> $crate::error::Result<()> {
                Self::check_state(config, layout, state)
            }
        }
    };
}
pub(crate) use method;

/// The outer stepsize multiplier every optimizer keeps ([`Optimizer::set_lr_multiplier`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LrMultiplier(f64);

impl Default for LrMultiplier {
    fn default() -> Self {
        Self(1.0)
    }
}

impl LrMultiplier {
    /// The multiplier.
    pub(crate) fn get(self) -> f64 {
        self.0
    }

    /// Sets it after checking it with [`check_multiplier`] (unchanged otherwise).
    pub(crate) fn set(&mut self, owner: &'static str, multiplier: f64) -> Result<()> {
        check_multiplier(owner, "lr_multiplier", multiplier)?;
        self.0 = multiplier;
        Ok(())
    }
}

/// [`Error::InvalidParameter`] unless an outer stepsize multiplier is finite and `≥ 0`: the one
/// rule for [`Optimizer::set_lr_multiplier`] and the framework adapters' learning rates
/// (`parameter` is the name the caller knows it by).
pub(crate) fn check_multiplier(
    owner: &'static str,
    parameter: &'static str,
    multiplier: f64,
) -> Result<()> {
    check_range(
        owner,
        parameter,
        multiplier,
        multiplier >= 0.0,
        "a finite number >= 0 (the outer multiplier)",
    )
}

/// Implements [`Optimizer::set_lr_multiplier`] and [`Optimizer::lr_multiplier`] on a field
/// `lr_multiplier: LrMultiplier` (inside an `impl Optimizer` block).
macro_rules! lr_multiplier_methods {
    ($owner:expr) => {
        fn set_lr_multiplier(&mut self, multiplier: f64) -> $crate::error::Result<()> {
            self.lr_multiplier.set($owner, multiplier)
        }
        fn lr_multiplier(&self) -> f64 {
            self.lr_multiplier.get()
        }
    };
}
pub(crate) use lr_multiplier_methods;

/// [`Error::StepOutOfRange`] unless the decoupled weight decay factor `1 − γ·λ` stays positive
/// (`γ·λ < 1`; the configuration checks this for the base stepsize, an outer multiplier may
/// break it).
pub(crate) fn check_decay(step: u64, gamma: f64, weight_decay: f64) -> Result<()> {
    check_step_value(
        step,
        "weight decay γ·λ",
        gamma * weight_decay,
        1.0 - f64::EPSILON,
    )
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
    /// The method's own quantities (estimators, schedule factor, phase), by name.
    pub estimates: Estimates,
}

/// A method's own quantities for one step, by name: e.g. Prodigy's `d` and `d_hat`, ALIAS's
/// `smoothness_sum` and its `phase` label. Each method's documentation lists what it reports.
/// A fixed-size value (at most [`Estimates::CAPACITY`] entries), so reporting allocates nothing.
#[derive(Clone, Copy, PartialEq)]
pub struct Estimates {
    len: usize,
    entries: [(&'static str, Estimate); Estimates::CAPACITY],
}

/// One entry of [`Estimates`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Estimate {
    /// A number.
    Number(f64),
    /// A label, e.g. which rule set the stepsize.
    Label(&'static str),
}

impl Default for Estimates {
    fn default() -> Self {
        Self::new()
    }
}

impl Estimates {
    /// The largest number of entries.
    pub const CAPACITY: usize = 6;

    /// No entries.
    pub const fn new() -> Self {
        Self {
            len: 0,
            entries: [("", Estimate::Number(0.0)); Self::CAPACITY],
        }
    }

    /// Adds a number (methods call this when they build their report).
    ///
    /// # Panics
    /// If [`Estimates::CAPACITY`] entries are already there (a bug in the method).
    pub fn number(self, name: &'static str, value: f64) -> Self {
        self.push(name, Estimate::Number(value))
    }

    /// Adds a number if there is one.
    pub fn maybe_number(self, name: &'static str, value: Option<f64>) -> Self {
        match value {
            Some(v) => self.number(name, v),
            None => self,
        }
    }

    /// Adds a label.
    pub fn label(self, name: &'static str, value: &'static str) -> Self {
        self.push(name, Estimate::Label(value))
    }

    fn push(mut self, name: &'static str, value: Estimate) -> Self {
        assert!(
            self.len < Self::CAPACITY,
            "more than {} estimates",
            Self::CAPACITY
        );
        self.entries[self.len] = (name, value);
        self.len += 1;
        self
    }

    /// The number called `name`, if this step reported one.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.iter().find_map(|(n, v)| match v {
            Estimate::Number(x) if n == name => Some(x),
            _ => None,
        })
    }

    /// The label called `name`, if this step reported one.
    pub fn get_label(&self, name: &str) -> Option<&'static str> {
        self.iter().find_map(|(n, v)| match v {
            Estimate::Label(l) if n == name => Some(l),
            _ => None,
        })
    }

    /// Every entry, in the order the method added them.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Estimate)> + '_ {
        self.entries[..self.len].iter().copied()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Estimates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.iter() {
            match value {
                Estimate::Number(x) => map.entry(&name, &x),
                Estimate::Label(l) => map.entry(&name, &l),
            };
        }
        map.finish()
    }
}

/// Checks tensor counts and lengths, gradient finiteness and loss finiteness.
pub(crate) fn check_step_inputs<F: Float>(
    kernels: &Kernels,
    layout: &[usize],
    params: &[&mut [F]],
    grads: &[&[F]],
    loss: Option<f64>,
    step: u64,
) -> Result<()> {
    check_step_shapes(layout, params, grads, loss, step)?;
    check_finite(kernels, grads, step)
}

/// Checks the parameter and gradient lists against the layout, and the loss (for methods that
/// fuse the finiteness check into their first pass).
pub(crate) fn check_step_shapes<F: Float>(
    layout: &[usize],
    params: &[&mut [F]],
    grads: &[&[F]],
    loss: Option<f64>,
    step: u64,
) -> Result<()> {
    check_shapes(
        layout,
        params.len(),
        params.iter().map(|p| p.len()),
        Dimension::ParameterCount,
        |tensor| Dimension::Parameter { tensor },
    )?;
    check_shapes(
        layout,
        grads.len(),
        grads.iter().map(|g| g.len()),
        Dimension::GradientCount,
        |tensor| Dimension::Gradient { tensor },
    )?;
    check_loss(loss, step)
}

/// Checks a list of tensors (given by count and lengths) against the layout.
pub(crate) fn check_shapes(
    layout: &[usize],
    count: usize,
    lengths: impl Iterator<Item = usize>,
    count_of: Dimension,
    tensor: impl Fn(usize) -> Dimension,
) -> Result<()> {
    if count != layout.len() {
        return Err(Error::DimensionMismatch {
            what: count_of,
            expected: layout.len(),
            got: count,
        });
    }
    for (k, (len, &expected)) in lengths.zip(layout).enumerate() {
        if len != expected {
            return Err(Error::DimensionMismatch {
                what: tensor(k),
                expected,
                got: len,
            });
        }
    }
    Ok(())
}

/// [`Error::NonFiniteLoss`] for a NaN or infinite loss.
pub(crate) fn check_loss(loss: Option<f64>, step: u64) -> Result<()> {
    match loss {
        Some(value) if !value.is_finite() => Err(Error::NonFiniteLoss { step, value }),
        _ => Ok(()),
    }
}

/// [`Error::NonFiniteGradient`] naming the first NaN or infinite coordinate.
pub(crate) fn check_finite<F: Float>(kernels: &Kernels, grads: &[&[F]], step: u64) -> Result<()> {
    check_gradients(kernels, grads, step).map(|_| ())
}

/// Checks every gradient coordinate is finite ([`Error::NonFiniteGradient`] names the first one
/// that is not) and returns `max_i |g_i|` over all tensors, for the optimizers whose state or
/// update could overflow with large gradients (see [`check_gradient_limit`]).
pub(crate) fn check_gradients<F: Float>(
    kernels: &Kernels,
    grads: &[&[F]],
    step: u64,
) -> Result<f64> {
    let mut largest = 0.0_f64;
    for (tensor, g) in grads.iter().enumerate() {
        let m = kernels.max_abs(g);
        if !m.is_finite() {
            let index =
                first_non_finite(g).expect("max_abs is non-finite only with such an element");
            return Err(Error::NonFiniteGradient {
                step,
                tensor,
                index,
                value: g[index].to_f64(),
            });
        }
        largest = largest.max(m);
    }
    Ok(largest)
}

/// [`Error::GradientOutOfRange`] naming the first coordinate above `limit`, given
/// `largest = max_i |g_i|` from [`check_gradients`] (the search runs only when it fails).
pub(crate) fn check_gradient_limit<F: Float>(
    grads: &[&[F]],
    largest: f64,
    limit: f64,
    step: u64,
) -> Result<()> {
    if largest <= limit {
        return Ok(());
    }
    for (tensor, g) in grads.iter().enumerate() {
        if let Some(index) = g.iter().position(|x| x.to_f64().abs() > limit) {
            return Err(Error::GradientOutOfRange {
                step,
                tensor,
                index,
                value: g[index].to_f64(),
                limit,
            });
        }
    }
    unreachable!("largest = {largest} > limit = {limit} but no coordinate exceeds the limit")
}

/// The largest gradient magnitude an Adam-type optimizer accepts in `F`: `sqrt(F::MAX) / 2`,
/// so that `g²` and the second moment `v` (a convex combination of past `g²`) stay finite.
pub(crate) fn adam_gradient_limit<F: Float>() -> f64 {
    F::MAX.sqrt() / 2.0
}

/// [`Error::StepOutOfRange`] unless `value` is finite and at most `limit`.
pub(crate) fn check_step_value(
    step: u64,
    quantity: &'static str,
    value: f64,
    limit: f64,
) -> Result<()> {
    if value.is_finite() && value <= limit {
        Ok(())
    } else {
        Err(Error::StepOutOfRange {
            step,
            quantity,
            value,
            limit,
        })
    }
}

/// Checks a layout when an optimizer is built: the total number of parameters must fit in
/// memory addresses for `F` (`total · size_of::<F>() ≤ isize::MAX`), so that a hostile layout
/// (for example from a checkpoint) is a typed error, not an allocation abort or an overflow.
pub(crate) fn check_layout<F: Float>(owner: &'static str, layout: &[usize]) -> Result<usize> {
    let limit = isize::MAX as usize / F::BYTES;
    layout
        .iter()
        .try_fold(0_usize, |total, &n| total.checked_add(n))
        .filter(|&total| total <= limit)
        .ok_or_else(|| {
            Error::invalid(
                owner,
                "layout",
                if layout.len() <= 8 {
                    format!("{layout:?}")
                } else {
                    format!("[{} tensors]", layout.len())
                },
                "tensor lengths whose sum times the element size fits in isize::MAX bytes",
            )
        })
}

/// Checks a configured stepsize fits the element type `F` with room for the parameter it moves:
/// at most `F::MAX / 2`, so `x − γ·sign(g)` stays finite for `|x| ≤ F::MAX / 2`.
pub(crate) fn check_fits<F: Float>(
    owner: &'static str,
    parameter: &'static str,
    value: f64,
) -> Result<()> {
    check_range(
        owner,
        parameter,
        value,
        value.abs() <= F::MAX / 2.0,
        "a value the element type can hold (at most F::MAX / 2)",
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_by_name() {
        let e = Estimates::new()
            .label("phase", "probe")
            .number("d", 0.5)
            .maybe_number("gap", None)
            .maybe_number("d_hat", Some(2.0));
        assert_eq!(e.get("d"), Some(0.5));
        assert_eq!(e.get("d_hat"), Some(2.0));
        assert_eq!(e.get("gap"), None);
        // A label is not a number, and the other way round.
        assert_eq!(
            (e.get("phase"), e.get_label("phase")),
            (None, Some("probe"))
        );
        assert_eq!(e.get_label("d"), None);
        assert_eq!(e.iter().count(), 3);
        assert_eq!(
            format!("{e:?}"),
            r#"{"phase": "probe", "d": 0.5, "d_hat": 2.0}"#
        );
        assert!(Estimates::default().is_empty());
    }

    #[test]
    #[should_panic(expected = "more than 6 estimates")]
    fn estimates_beyond_capacity_are_a_bug() {
        let mut e = Estimates::new();
        for _ in 0..=Estimates::CAPACITY {
            e = e.number("x", 1.0);
        }
    }
}
