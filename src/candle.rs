//! candle integration (feature `candle`): every signfree optimizer as a [`candle_nn::Optimizer`].
//!
//! [`CandleOptimizer`] wraps one of the crate's slice-based optimizers (ALIAS Sign-SGD and its
//! sign-only-memory mode, ALIAS-Adam, Sign-SGD/Signum, Prodigy, AdamW) and runs it **in place on
//! the vars' CPU storage**: no copy of the parameters or gradients is made (a non-contiguous
//! gradient is first made contiguous), and the crate's SIMD kernels do the work.
//! `CandleOptimizer<O>` works for every [`crate::Method`] `O` of element type `f32` or `f64`,
//! e.g. `CandleOptimizer<signfree::AliasSignSgd<f32>>`.
//!
//! Semantics, as for the slice API:
//! - **One global stepsize over all vars**; ALIAS's norms and inner products run over the
//!   concatenation of every trained var.
//! - **Which vars are trained**: float vars of the optimizer's dtype (`f32` for the aliases);
//!   integer vars are dropped in `new`, a float var of another dtype is an error. The vars that
//!   have a gradient at the *first* step are the trained set from then on (vars that never get a
//!   gradient are skipped); a later step in which a trained var has no gradient is an error.
//! - **`learning_rate()` is an outer multiplier** on the method's own stepsize, default `1.0`,
//!   so that `set_learning_rate(schedule(t))` applies a schedule to any method (for Sign-SGD,
//!   Prodigy and AdamW it multiplies the configured `lr`; for ALIAS the formula's `γ_t`).
//! - **A failed step changes nothing**: wrong shapes, a missing gradient, a NaN/infinite gradient
//!   or loss return an error and leave the vars and the optimizer state as they were.
//!   [`CandleOptimizer::step_with_loss`] returns the typed [`crate::Error`] (with
//!   [`crate::Error::is_divergence`] for loops that stop diverged runs); the
//!   [`candle_nn::Optimizer`] methods wrap it in a [`candle_core::Error::Wrapped`], which keeps
//!   only its message.
//! - [`candle_nn::Optimizer::backward_step`] passes the loss value to the method (ALIAS Option F
//!   needs it at its first step); [`candle_nn::Optimizer::step`] passes none.
//!
//! Vars must live on the CPU (the adapter works on host memory) and own their storage (candle's
//! `Var` constructors copy, so this holds unless two `Var`s wrap one storage; `new` refuses that),
//! and a gradient that shares storage with a trained var is refused by the step (either would
//! otherwise deadlock on candle's storage locks).
//!
//! # Example
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use candle_nn::Optimizer as _;
//! use signfree::AliasSignSgdConfig;
//! use signfree::AliasSignSgd;
//! use signfree::candle::CandleOptimizer;
//!
//! # fn main() -> candle_core::Result<()> {
//! // Least squares ‖A w − b‖² with an exact solution w* = (1, −2).
//! let dev = Device::Cpu;
//! let a = Tensor::new(&[[1.0f32, 2.0], [3.0, 1.0], [0.5, -1.0]], &dev)?;
//! let b = Tensor::new(&[[-3.0f32], [1.0], [2.5]], &dev)?;
//! let w = Var::zeros((2, 1), candle_core::DType::F32, &dev)?;
//! let mut opt = CandleOptimizer::<AliasSignSgd<f32>>::new(vec![w.clone()], AliasSignSgdConfig::default())?;
//! for _ in 0..500 {
//!     let loss = a.matmul(&w)?.sub(&b)?.sqr()?.sum_all()?;
//!     opt.backward_step(&loss)?;
//! }
//! let w = w.flatten_all()?.to_vec1::<f32>()?;
//! assert!((w[0] - 1.0).abs() < 1e-2 && (w[1] + 2.0).abs() < 1e-2, "{w:?}");
//! # Ok(())
//! # }
//! ```

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp1, Layout, Storage, Tensor, Var, WithDType};

use crate::error::{Error, Result, TensorProblem};
use crate::float::Float;
use crate::optimizer::{Method, StepReport};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The float types whose candle storage the adapter can update in place (`f32`, `f64`).
pub trait CandleFloat: Float + WithDType + sealed::Sealed {
    #[doc(hidden)]
    fn storage(s: &CpuStorage) -> Option<&[Self]>;
    #[doc(hidden)]
    fn storage_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
}

macro_rules! candle_float {
    ($t:ty, $variant:ident) => {
        impl CandleFloat for $t {
            fn storage(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn storage_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
candle_float!(f32, F32);
candle_float!(f64, F64);

/// A signfree optimizer driving candle vars; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct CandleOptimizer<O: Method>
where
    O::Element: CandleFloat,
{
    vars: Vec<Var>,
    /// The address of each var's storage: distinct vars must not share one (the step write-locks
    /// them all at once), and no gradient may alias one.
    storage_keys: Vec<usize>,
    config: O::Config,
    lr: f64,
    trained: Option<Trained<O>>,
    last: Option<StepReport>,
}

#[derive(Debug, Clone)]
struct Trained<O> {
    /// Indices into `vars` of the trained set.
    active: Vec<usize>,
    inner: O,
}

/// What [`CandleOptimizer::save`] returns: enough to continue a run bit for bit.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CandleState<S> {
    /// The outer learning-rate multiplier.
    pub lr: f64,
    /// The trained vars (indices into the adapter's var list) and the inner optimizer's state;
    /// `None` before the first step.
    pub trained: Option<(Vec<usize>, S)>,
}

/// The address of the storage behind `t` (shared by views and by vars made from them).
fn storage_key(t: &Tensor) -> usize {
    let (storage, _) = t.storage_and_layout();
    std::ptr::from_ref::<Storage>(&storage).addr()
}

fn wrap(e: Error) -> candle_core::Error {
    candle_core::Error::wrap(e)
}

fn tensor_error(var: usize, problem: TensorProblem) -> Error {
    Error::Tensor { var, problem }
}

impl<O: Method> CandleOptimizer<O>
where
    O::Element: CandleFloat,
{
    /// Keeps the float vars (integer vars are dropped, repeated vars kept once) and validates the
    /// configuration. Errors (typed; `candle_nn::Optimizer::new` wraps them) for an invalid
    /// configuration, a float var of another dtype than the method's, a var not on the CPU, or
    /// two vars sharing one storage.
    pub fn try_new(vars: Vec<Var>, config: O::Config) -> Result<Self> {
        O::build(config.clone(), &[])?;
        let mut kept: Vec<Var> = Vec::with_capacity(vars.len());
        let mut keys: Vec<usize> = Vec::with_capacity(vars.len());
        for (k, var) in vars.into_iter().enumerate() {
            if !var.dtype().is_float() || kept.iter().any(|v| v.id() == var.id()) {
                continue;
            }
            if var.dtype() != O::Element::DTYPE {
                return Err(tensor_error(
                    k,
                    TensorProblem::Dtype {
                        found: var.dtype().as_str(),
                        expected: O::Element::DTYPE.as_str(),
                    },
                ));
            }
            if !var.device().is_cpu() {
                return Err(tensor_error(k, TensorProblem::NotOnCpu));
            }
            let key = storage_key(&var);
            if keys.contains(&key) {
                return Err(tensor_error(k, TensorProblem::SharedStorage));
            }
            keys.push(key);
            kept.push(var);
        }
        Ok(Self {
            vars: kept,
            storage_keys: keys,
            config,
            lr: 1.0,
            trained: None,
            last: None,
        })
    }

    /// The vars this optimizer may train (integer vars already dropped), in the given order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The method's configuration.
    pub fn config(&self) -> &O::Config {
        &self.config
    }

    /// The inner slice-based optimizer, once the first step has fixed the trained set.
    pub fn inner(&self) -> Option<&O> {
        self.trained.as_ref().map(|t| &t.inner)
    }

    /// The report of the last successful step (stepsize, estimates, backend).
    pub fn last_report(&self) -> Option<&StepReport> {
        self.last.as_ref()
    }

    /// Bytes of per-coordinate optimizer state over the trained vars (0 before the first step).
    pub fn state_bytes(&self) -> f64 {
        self.trained.as_ref().map_or(0.0, |t| {
            let n: usize = t.active.iter().map(|&k| self.vars[k].elem_count()).sum();
            n as f64 * t.inner.state_bytes_per_parameter()
        })
    }

    /// One step from a gradient store, with the loss value if the method needs it (ALIAS
    /// Option F at its first step). Returns the step's report, or the typed error
    /// ([`Error::is_divergence`] tells a diverged run from a wrong call).
    pub fn step_with_loss(&mut self, grads: &GradStore, loss: Option<f64>) -> Result<StepReport> {
        let lr = self.lr;
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::invalid(
                "CandleOptimizer",
                "learning_rate",
                lr,
                "a finite number >= 0 (the outer multiplier)",
            ));
        }
        let active: Vec<usize> = match &self.trained {
            Some(t) => t.active.clone(),
            None => (0..self.vars.len())
                .filter(|&k| grads.get(&self.vars[k]).is_some())
                .collect(),
        };
        if active.is_empty() {
            return Err(Error::DimensionMismatch {
                what: "vars with a gradient".into(),
                expected: self.vars.len().max(1),
                got: 0,
            });
        }
        let mut gradients = Vec::with_capacity(active.len());
        for &k in &active {
            let var = &self.vars[k];
            let g = grads
                .get(var)
                .ok_or_else(|| tensor_error(k, TensorProblem::MissingGradient))?;
            if g.dtype() != var.dtype() || g.dims() != var.dims() || !g.device().is_cpu() {
                return Err(tensor_error(
                    k,
                    TensorProblem::GradientMismatch {
                        dtype: var.dtype().as_str(),
                        shape: var.dims().to_vec(),
                        found_dtype: g.dtype().as_str(),
                        found_shape: g.dims().to_vec(),
                        on_cpu: g.device().is_cpu(),
                    },
                ));
            }
            gradients.push(if g.is_contiguous() {
                g.clone()
            } else {
                g.contiguous()?
            });
        }
        let guards: Vec<_> = gradients.iter().map(|g| g.storage_and_layout()).collect();
        let mut grad_slices: Vec<&[O::Element]> = Vec::with_capacity(active.len());
        for ((storage, layout), &k) in guards.iter().zip(&active) {
            if self
                .storage_keys
                .contains(&std::ptr::from_ref::<Storage>(storage).addr())
            {
                return Err(tensor_error(k, TensorProblem::GradientAliasesVar));
            }
            let slice = match &**storage {
                Storage::Cpu(cpu) => O::Element::storage(cpu),
                _ => None,
            };
            let (start, end) = layout
                .contiguous_offsets()
                .ok_or_else(|| tensor_error(k, TensorProblem::Storage("gradient")))?;
            let slice = slice.ok_or_else(|| tensor_error(k, TensorProblem::Storage("gradient")))?;
            grad_slices.push(&slice[start..end]);
        }

        let mut fresh = None;
        let inner = match &mut self.trained {
            Some(t) => &mut t.inner,
            None => {
                let layout: Vec<usize> =
                    active.iter().map(|&k| self.vars[k].elem_count()).collect();
                fresh.insert(O::build(self.config.clone(), &layout)?)
            }
        };
        inner.set_lr_multiplier(lr)?;
        let vars: Vec<&Var> = active.iter().map(|&k| &self.vars[k]).collect();
        let mut run = |params: &mut [&mut [O::Element]]| inner.step(params, &grad_slices, loss);
        let report = with_slices_mut(&vars, &mut run)??;
        drop(guards);
        if let Some(inner) = fresh {
            self.trained = Some(Trained { active, inner });
        }
        self.last = Some(report.clone());
        Ok(report)
    }
}

impl<O: Method> CandleOptimizer<O>
where
    O::Element: CandleFloat,
{
    /// Everything needed to continue this run later (with the same vars, in the same order).
    pub fn save(&self) -> CandleState<O::State> {
        CandleState {
            lr: self.lr,
            trained: self
                .trained
                .as_ref()
                .map(|t| (t.active.clone(), t.inner.state().clone())),
        }
    }

    /// Restores a [`CandleOptimizer::save`]d state; the next step continues bit for bit as the
    /// saved optimizer's would (given the same var values). On error nothing changes.
    pub fn restore(&mut self, state: CandleState<O::State>) -> Result<()> {
        let trained = match state.trained {
            None => None,
            Some((active, inner_state)) => {
                if active.is_empty() || active.iter().any(|&k| k >= self.vars.len()) {
                    return Err(Error::IncompatibleState {
                        reason: "trained var indices do not fit this optimizer's vars",
                    });
                }
                let layout: Vec<usize> =
                    active.iter().map(|&k| self.vars[k].elem_count()).collect();
                let mut inner = O::build(self.config.clone(), &layout)?;
                inner.set_state(inner_state)?;
                Some(Trained { active, inner })
            }
        };
        self.trained = trained;
        self.lr = state.lr;
        Ok(())
    }
}

impl<O: Method> candle_nn::Optimizer for CandleOptimizer<O>
where
    O::Element: CandleFloat,
{
    type Config = O::Config;

    /// [`CandleOptimizer::try_new`], with the error wrapped for candle.
    fn new(vars: Vec<Var>, config: O::Config) -> candle_core::Result<Self> {
        Self::try_new(vars, config).map_err(wrap)
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step_with_loss(grads, None).map(drop).map_err(wrap)
    }

    /// Backpropagates `loss` and steps, passing the loss value to the method.
    fn backward_step(&mut self, loss: &Tensor) -> candle_core::Result<()> {
        let value = loss.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        let [value] = value[..] else {
            return Err(wrap(Error::DimensionMismatch {
                what: "loss tensor elements".into(),
                expected: 1,
                got: value.len(),
            }));
        };
        let grads = loss.backward()?;
        self.step_with_loss(&grads, Some(value))
            .map(drop)
            .map_err(wrap)
    }

    /// The outer multiplier on the method's stepsize (default 1.0).
    fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Sets the outer multiplier; a negative or non-finite value makes the next step fail.
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
}

/// Runs `f` with mutable slices of all `vars`' storage at once, each var write-locked by candle's
/// in-place op machinery (one nested in-place op per var).
fn with_slices_mut<F: CandleFloat, R, G: FnMut(&mut [&mut [F]]) -> R>(
    vars: &[&Var],
    f: &mut G,
) -> candle_core::Result<R> {
    let mut done = Vec::with_capacity(vars.len());
    nest(vars, &mut done, f)
}

fn nest<F: CandleFloat, R, G: FnMut(&mut [&mut [F]]) -> R>(
    vars: &[&Var],
    done: &mut Vec<&mut [F]>,
    f: &mut G,
) -> candle_core::Result<R> {
    let Some((first, rest)) = vars.split_first() else {
        return Ok(f(done));
    };
    let op = Nest {
        rest,
        done: RefCell::new(done),
        f: RefCell::new(f),
        out: RefCell::new(None),
        var: first.id(),
    };
    first.inplace_op1(&op)?;
    op.out
        .into_inner()
        .ok_or_else(|| candle_core::Error::msg("signfree: in-place op did not run on the CPU"))
}

/// One level of [`nest`]: holds the slices of the vars before it and continues with the rest.
struct Nest<'a, 'b, 'c, F, R, G> {
    rest: &'a [&'a Var],
    done: RefCell<&'b mut Vec<&'c mut [F]>>,
    f: RefCell<&'b mut G>,
    out: RefCell<Option<R>>,
    var: candle_core::TensorId,
}

impl<F: CandleFloat, R, G: FnMut(&mut [&mut [F]]) -> R> InplaceOp1 for Nest<'_, '_, '_, F, R, G> {
    fn name(&self) -> &'static str {
        "signfree-step"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::msg(format!("signfree: var {:?} is not contiguous", self.var))
        })?;
        let slice = F::storage_mut(storage).ok_or_else(|| {
            candle_core::Error::msg(format!("signfree: var {:?} has another dtype", self.var))
        })?;
        let mut done = self.done.borrow_mut();
        let mut next: Vec<&mut [F]> = Vec::with_capacity(done.len() + 1 + self.rest.len());
        next.extend(done.iter_mut().map(|s| &mut **s));
        next.push(&mut slice[start..end]);
        let mut f = self.f.borrow_mut();
        let out = nest(self.rest, &mut next, &mut **f)?;
        *self.out.borrow_mut() = Some(out);
        Ok(())
    }
}
