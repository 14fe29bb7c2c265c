//! candle integration (feature `candle`): every signfree optimizer as a [`candle_nn::Optimizer`].
//!
//! [`CandleOptimizer`] wraps one of the crate's slice-based optimizers (ALIAS Sign-SGD and its
//! sign-only-memory mode, ALIAS-Adam, Sign-SGD/Signum, Prodigy, AdamW, ...):
//! `CandleOptimizer<O>` works for every [`crate::Method`] `O` of element type `F` = `f32` or
//! `f64`, e.g. `CandleOptimizer<signfree::AliasSignSgd<f32>>`, on vars of any candle device and
//! of the float dtypes `bf16`, `f16`, `f32` (and `f64` when `F` is `f64`).
//!
//! # Two paths, one implementation of each method
//!
//! Each var takes one of two paths ([`StepPath`]), chosen when the optimizer is built:
//!
//! | var | path | what a step does |
//! |---|---|---|
//! | CPU, dtype `F` | **in place** | the crate's SIMD kernels run on the var's own storage: no copy of the parameters or gradients (a non-contiguous gradient is made contiguous) |
//! | CPU `bf16`/`f16` (or `f32` under an `f64` method) | **generic** | the gradient is converted to `F`; the method steps an `F` **master copy** of the var in host memory; the master, rounded to the var's dtype, is written back |
//! | CUDA / Metal, any accepted dtype | **generic** | as above, plus one device-to-host copy of the gradient and one host-to-device copy of the new values (and, for `bf16`/`f16`, of the var, see below) |
//!
//! A float var of a dtype wider than `F` (an `f64` var under an `f32` method) is an error: its
//! values would silently lose precision (use `O<f64>`). [`CandleOptimizer::with_path`] forces a
//! path: [`StepPath::Generic`] for every var (what the tests do to check the generic path on the
//! CPU), or [`StepPath::InPlace`] to refuse anything the in-place path cannot take.
//!
//! The generic path runs **the same slice optimizer** `O` as the in-place path, on host
//! memory; it does not re-implement any method in candle tensor ops. So every method's arithmetic
//! and its global sums (norms, inner products) are computed in `F` (`f32` or better, with the
//! sums in `f64` as in the slice API), the optimizer state is in `F`, and both paths take
//! bit-identical steps from the same `F` values and gradients. The price is the copies above:
//! on an accelerator the step is bound by host-device transfers and runs on the host's cores.
//!
//! **Master copies.** A `bf16`/`f16` var cannot hold the result of a small step: a `bf16` has
//! 8 significant bits, so near 1.0 any step below 2⁻⁹ ≈ 0.002 rounds away and sign steps of
//! 1e-4 would never move the var. The generic path therefore keeps, for each var narrower than
//! `F`, an `F` master copy that accumulates the updates, and writes its rounding into the var
//! after each step (candle's conversion: round to nearest even from `f32`; from an `f64`
//! master, the `half` crate's conversion first drops the low 32 mantissa bits, so a value just
//! above a tie may round down). A var of dtype `F` on an
//! accelerator needs no master: it is read back at each step. Host memory between steps:
//! `size_of::<F>()` + the var's element size per parameter of each narrower var
//! ([`CandleOptimizer::master_bytes`]). [`CandleOptimizer::master`] shows a master copy.
//! If a var is changed outside the optimizer (`var.set`, loading weights), the next step sees
//! that it no longer holds the rounding of its master (a bitwise comparison with the last value
//! written, after one device-to-host copy of the var) and restarts that var's master from the
//! var's value.
//!
//! # Semantics
//!
//! As for the slice API, whatever path each var takes:
//! - **One global stepsize over all vars**; ALIAS's norms and inner products run over the
//!   concatenation of every trained var, in-place and generic vars alike (one model may mix them).
//! - **Which vars are trained**: float vars (integer vars are dropped in `new`). The vars that
//!   have a gradient at the *first* step are the trained set from then on (vars that never get a
//!   gradient are skipped); a later step in which a trained var has no gradient is an error.
//! - **`learning_rate()` is an outer multiplier** on the method's own stepsize, default `1.0`,
//!   so that `set_learning_rate(schedule(t))` applies a schedule to any method (for Sign-SGD,
//!   Prodigy and AdamW it multiplies the configured `lr`; for ALIAS the formula's `γ_t`).
//! - **A failed step changes nothing**: wrong shapes, a missing gradient, a NaN/infinite gradient
//!   or loss return an error and leave the vars, the master copies and the optimizer state as
//!   they were (the generic path converts and checks every gradient before anything changes,
//!   and writes back only after the method's step succeeded).
//!   [`CandleOptimizer::step_with_loss`] returns the typed [`crate::Error`] (with
//!   [`crate::Error::is_divergence`] for loops that stop diverged runs); the
//!   [`candle_nn::Optimizer`] methods wrap it in a [`candle_core::Error::Wrapped`], which keeps
//!   only its message. One exception: a device error *while writing back* to an accelerator
//!   (after the step succeeded; on the CPU the write-back cannot fail) is returned as
//!   [`crate::Error::Candle`], and then the optimizer state has already advanced.
//! - [`candle_nn::Optimizer::backward_step`] passes the loss value to the method (ALIAS Option F
//!   needs it at its first step); [`candle_nn::Optimizer::step`] passes none.
//! - [`CandleOptimizer::save`] / [`CandleOptimizer::restore`] cover the master copies, so a
//!   restored run continues bit for bit on either path.
//!
//! Vars must own their storage (candle's `Var` constructors copy, so this holds unless two `Var`s
//! wrap one storage; `new` refuses that), generic vars must be contiguous, and a gradient that
//! shares storage with a trained var is refused by the step (the in-place path would otherwise
//! deadlock on candle's storage locks).
//!
//! # Example
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! use candle_nn::Optimizer as _;
//! use signfree::candle::{CandleOptimizer, StepPath};
//! use signfree::{AliasSignSgd, AliasSignSgdConfig, Prodigy, ProdigyConfig};
//!
//! # fn main() -> candle_core::Result<()> {
//! // Least squares ‖A w − b‖² with an exact solution w* = (1, −2).
//! let dev = Device::Cpu;
//! let a = Tensor::new(&[[1.0f32, 2.0], [3.0, 1.0], [0.5, -1.0]], &dev)?;
//! let b = Tensor::new(&[[-3.0f32], [1.0], [2.5]], &dev)?;
//! let w = Var::zeros((2, 1), DType::F32, &dev)?;
//! let mut opt = CandleOptimizer::<AliasSignSgd<f32>>::new(vec![w.clone()], AliasSignSgdConfig::default())?;
//! assert_eq!(opt.var_path(0), Some(StepPath::InPlace)); // CPU f32: in place
//! for _ in 0..500 {
//!     let loss = a.matmul(&w)?.sub(&b)?.sqr()?.sum_all()?;
//!     opt.backward_step(&loss)?;
//! }
//! let w = w.flatten_all()?.to_vec1::<f32>()?;
//! assert!((w[0] - 1.0).abs() < 1e-2 && (w[1] + 2.0).abs() < 1e-2, "{w:?}");
//!
//! // The same model in bf16 (on a GPU, the same code with `Device::new_cuda(0)?`): the generic
//! // path, with an f32 master copy of `w`. (Prodigy here: paper ALIAS's probe step, 1e-6, does
//! // not change a bf16 forward pass, so its smoothness estimate never starts; see the README.)
//! let (a, b) = (a.to_dtype(DType::BF16)?, b.to_dtype(DType::BF16)?);
//! let w = Var::zeros((2, 1), DType::BF16, &dev)?;
//! let mut opt = CandleOptimizer::<Prodigy<f32>>::new(vec![w.clone()], ProdigyConfig::default())?;
//! assert_eq!(opt.var_path(0), Some(StepPath::Generic));
//! for _ in 0..500 {
//!     let loss = a.matmul(&w)?.sub(&b)?.sqr()?.sum_all()?;
//!     opt.backward_step(&loss)?;
//! }
//! let master = opt.master(0).expect("bf16 vars have an f32 master copy");
//! assert!((master[0] - 1.0).abs() < 3e-2 && (master[1] + 2.0).abs() < 3e-2, "{master:?}");
//! // The var holds the master rounded to bf16.
//! let rounded = Tensor::new(master, &dev)?.to_dtype(DType::BF16)?;
//! assert_eq!(w.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?, rounded.to_dtype(DType::F32)?.to_vec1::<f32>()?);
//! # Ok(())
//! # }
//! ```

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Device, InplaceOp1, Layout, Storage, Tensor, Var, WithDType};

use crate::error::{Error, Result, TensorProblem};
use crate::float::Float;
use crate::optimizer::{Method, StepReport, check_multiplier};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The float types the adapter's methods compute in (`f32`, `f64`): the dtype whose CPU vars it
/// updates in place, and the dtype of the generic path's master copies.
pub trait CandleFloat: Float + WithDType + sealed::Sealed {
    /// The var dtypes the generic path accepts: this type and the narrower floats.
    #[doc(hidden)]
    const GENERIC_DTYPES: &'static [DType];
    /// [`CandleFloat::GENERIC_DTYPES`] in words, for errors.
    #[doc(hidden)]
    const GENERIC_NAMES: &'static str;
    #[doc(hidden)]
    fn storage(s: &CpuStorage) -> Option<&[Self]>;
    #[doc(hidden)]
    fn storage_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
}

macro_rules! candle_float {
    ($t:ty, $variant:ident, $dtypes:expr, $names:literal) => {
        impl CandleFloat for $t {
            const GENERIC_DTYPES: &'static [DType] = $dtypes;
            const GENERIC_NAMES: &'static str = $names;
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
candle_float!(
    f32,
    F32,
    &[DType::F32, DType::BF16, DType::F16],
    "f32, bf16 or f16"
);
candle_float!(
    f64,
    F64,
    &[DType::F64, DType::F32, DType::BF16, DType::F16],
    "f64, f32, bf16 or f16"
);

/// Which path a var's updates take; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepPath {
    /// The default: in place for CPU vars of the method's dtype `F`, generic for the others.
    #[default]
    Auto,
    /// In place on the var's CPU storage (SIMD kernels, no copies); only CPU vars of dtype `F`.
    InPlace,
    /// Host `F` copies of the gradient (and a master copy of vars narrower than `F`), the
    /// values written back in the var's dtype on its device; any device, dtypes up to `F`.
    Generic,
}

/// A var on the generic path.
#[derive(Debug, Clone, Default)]
struct GenericVar<F> {
    /// The master copy, kept only for a var narrower than `F`.
    master: Option<Vec<F>>,
    /// The host tensor (the var's dtype) last written into the var: the master is current while
    /// the var holds exactly these bits.
    written: Option<Tensor>,
}

/// A signfree optimizer driving candle vars; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct CandleOptimizer<O: Method>
where
    O::Element: CandleFloat,
{
    vars: Vec<Var>,
    /// The address of each var's storage: distinct vars must not share one (the step write-locks
    /// the in-place vars all at once), and no gradient may alias one.
    storage_keys: Vec<usize>,
    /// Per var: `None` for the in-place path, the generic path's data otherwise.
    generic: Vec<Option<GenericVar<O::Element>>>,
    path: StepPath,
    config: O::Config,
    lr: f64,
    trained: Option<Trained<O>>,
    last: Option<StepReport>,
}

#[derive(Debug, Clone)]
struct Trained<O> {
    /// Indices into `vars` of the trained set (strictly increasing).
    active: Vec<usize>,
    inner: O,
}

/// What [`CandleOptimizer::save`] returns: enough to continue a run bit for bit.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CandleState<S, F = f32> {
    /// The outer learning-rate multiplier.
    pub lr: f64,
    /// The trained vars (indices into the adapter's var list) and the inner optimizer's state;
    /// `None` before the first step.
    pub trained: Option<(Vec<usize>, S)>,
    /// The generic path's master copies (index into the adapter's var list, values), in
    /// increasing var order: one for each var narrower than `F` that has taken a step.
    #[cfg_attr(feature = "serde", serde(default))]
    pub masters: Vec<(usize, Vec<F>)>,
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

/// `t`'s values as a host vector of `F` (row-major).
fn host_values<F: CandleFloat>(t: &Tensor) -> Result<Vec<F>> {
    Ok(t.to_device(&Device::Cpu)?
        .to_dtype(F::DTYPE)?
        .flatten_all()?
        .to_vec1::<F>()?)
}

/// Whether two host tensors hold the same bits (same dtype and shape).
fn same_bits(a: &Tensor, b: &Tensor) -> Result<bool> {
    if a.dtype() != b.dtype() || a.dims() != b.dims() {
        return Ok(false);
    }
    let (a, b) = (a.contiguous()?, b.contiguous()?);
    let (sa, la) = a.storage_and_layout();
    let (sb, lb) = b.storage_and_layout();
    let (Storage::Cpu(ca), Storage::Cpu(cb)) = (&*sa, &*sb) else {
        return Ok(false);
    };
    let (Some((a0, a1)), Some((b0, b1))) = (la.contiguous_offsets(), lb.contiguous_offsets())
    else {
        return Ok(false);
    };
    macro_rules! eq_bits {
        ($x:expr, $y:expr) => {{
            let (x, y) = (&$x[a0..a1], &$y[b0..b1]);
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }};
    }
    Ok(match (ca, cb) {
        (CpuStorage::BF16(x), CpuStorage::BF16(y)) => eq_bits!(x, y),
        (CpuStorage::F16(x), CpuStorage::F16(y)) => eq_bits!(x, y),
        (CpuStorage::F32(x), CpuStorage::F32(y)) => eq_bits!(x, y),
        (CpuStorage::F64(x), CpuStorage::F64(y)) => eq_bits!(x, y),
        _ => false,
    })
}

impl<O: Method> CandleOptimizer<O>
where
    O::Element: CandleFloat,
{
    /// Keeps the float vars (integer vars are dropped, repeated vars kept once), picks each var's
    /// path ([`StepPath::Auto`]) and validates the configuration. Errors (typed;
    /// `candle_nn::Optimizer::new` wraps them) for an invalid configuration, a float var wider
    /// than the method's dtype (or of an unsupported float dtype), a non-contiguous var that needs
    /// the generic path, or two vars sharing one storage. The var index in an error is its index
    /// in `vars`.
    pub fn try_new(vars: Vec<Var>, config: O::Config) -> Result<Self> {
        O::build(config.clone(), &[])?;
        let mut kept: Vec<Var> = Vec::with_capacity(vars.len());
        let mut keys: Vec<usize> = Vec::with_capacity(vars.len());
        let mut generic = Vec::with_capacity(vars.len());
        for (k, var) in vars.into_iter().enumerate() {
            if !var.dtype().is_float() || kept.iter().any(|v| v.id() == var.id()) {
                continue;
            }
            let is_generic =
                Self::takes_generic(&var, StepPath::Auto).map_err(|p| tensor_error(k, p))?;
            let key = storage_key(&var);
            if keys.contains(&key) {
                return Err(tensor_error(k, TensorProblem::SharedStorage));
            }
            keys.push(key);
            kept.push(var);
            generic.push(is_generic.then(GenericVar::default));
        }
        Ok(Self {
            vars: kept,
            storage_keys: keys,
            generic,
            path: StepPath::Auto,
            config,
            lr: 1.0,
            trained: None,
            last: None,
        })
    }

    /// Whether `var` takes the generic path under `path`, or why it can take none.
    fn takes_generic(var: &Var, path: StepPath) -> std::result::Result<bool, TensorProblem> {
        let element = O::Element::DTYPE;
        let dtype_error = |expected| TensorProblem::Dtype {
            found: var.dtype().as_str(),
            expected,
        };
        let generic_ok = || {
            if !O::Element::GENERIC_DTYPES.contains(&var.dtype()) {
                Err(dtype_error(O::Element::GENERIC_NAMES))
            } else if !var.is_contiguous() {
                Err(TensorProblem::Storage("var"))
            } else {
                Ok(true)
            }
        };
        match path {
            StepPath::InPlace if var.dtype() != element => Err(dtype_error(element.as_str())),
            StepPath::InPlace if !var.device().is_cpu() => Err(TensorProblem::NotOnCpu),
            StepPath::InPlace => Ok(false),
            StepPath::Auto if var.dtype() == element && var.device().is_cpu() => Ok(false),
            StepPath::Auto | StepPath::Generic => generic_ok(),
        }
    }

    /// Chooses the path of every var ([`StepPath::Auto`] is what [`CandleOptimizer::try_new`]
    /// does): [`StepPath::Generic`] sends every var through the generic path (e.g. to check it
    /// against the in-place path on the CPU); [`StepPath::InPlace`] refuses (with the same typed
    /// errors as `try_new`, var indices into [`CandleOptimizer::vars`]) any var it cannot update
    /// in place. Allowed at any time: a var that leaves the generic path drops its master copy,
    /// one that joins it starts its master from the var's value at the next step.
    pub fn with_path(mut self, path: StepPath) -> Result<Self> {
        let mut generic = Vec::with_capacity(self.vars.len());
        for (k, (var, old)) in self.vars.iter().zip(&mut self.generic).enumerate() {
            let is_generic = Self::takes_generic(var, path).map_err(|p| tensor_error(k, p))?;
            generic.push(is_generic.then(|| old.take().unwrap_or_default()));
        }
        self.generic = generic;
        self.path = path;
        Ok(self)
    }

    /// The path asked for ([`StepPath::Auto`] unless [`CandleOptimizer::with_path`] chose one).
    pub fn path(&self) -> StepPath {
        self.path
    }

    /// The path var `k` (an index into [`CandleOptimizer::vars`]) takes: [`StepPath::InPlace`]
    /// or [`StepPath::Generic`]; `None` if there is no such var.
    pub fn var_path(&self, k: usize) -> Option<StepPath> {
        self.generic.get(k).map(|g| match g {
            Some(_) => StepPath::Generic,
            None => StepPath::InPlace,
        })
    }

    /// The master copy of var `k` (an index into [`CandleOptimizer::vars`]), in `F`, row-major:
    /// only vars on the generic path narrower than `F` have one, from their first step on.
    pub fn master(&self, k: usize) -> Option<&[O::Element]> {
        self.generic.get(k)?.as_ref()?.master.as_deref()
    }

    /// Host memory the generic path keeps between steps, in bytes: each master copy and the
    /// last value written into its var.
    pub fn master_bytes(&self) -> usize {
        self.generic
            .iter()
            .flatten()
            .map(|g| {
                g.master.as_ref().map_or(0, |m| m.len() * O::Element::BYTES)
                    + g.written
                        .as_ref()
                        .map_or(0, |w| w.elem_count() * w.dtype().size_in_bytes())
            })
            .sum()
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

    /// Bytes of per-coordinate optimizer state over the trained vars (0 before the first step);
    /// the generic path's master copies are [`CandleOptimizer::master_bytes`].
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
        check_multiplier("CandleOptimizer", "learning_rate", lr)?;
        let Self {
            vars,
            storage_keys,
            generic,
            config,
            trained,
            last,
            ..
        } = self;
        let active: Vec<usize> = match trained {
            Some(t) => t.active.clone(),
            None => (0..vars.len())
                .filter(|&k| grads.get(&vars[k]).is_some())
                .collect(),
        };
        if active.is_empty() {
            return Err(Error::DimensionMismatch {
                what: "vars with a gradient".into(),
                expected: vars.len().max(1),
                got: 0,
            });
        }

        // Every gradient is checked, and the generic ones copied to the host in `F`, before
        // anything changes.
        let mut inplace_grads = Vec::with_capacity(active.len());
        let mut host_grads: Vec<Vec<O::Element>> = Vec::new();
        for &k in &active {
            let var = &vars[k];
            let is_generic = generic[k].is_some();
            let g = grads
                .get(var)
                .ok_or_else(|| tensor_error(k, TensorProblem::MissingGradient))?;
            if g.dtype() != var.dtype()
                || g.dims() != var.dims()
                || !(is_generic || g.device().is_cpu())
            {
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
            if is_generic {
                host_grads.push(host_values(g)?);
            } else {
                inplace_grads.push(if g.is_contiguous() {
                    g.clone()
                } else {
                    g.contiguous()?
                });
            }
        }

        // The generic vars' values in `F`: the master copy if the var still holds its rounding,
        // else (no master kept, first step, or the var was changed outside) read from the var.
        let mut fresh: Vec<Option<Vec<O::Element>>> = Vec::new();
        for &k in &active {
            let Some(g) = &generic[k] else { continue };
            let current = match (&g.master, &g.written) {
                (Some(_), Some(written)) => same_bits(&vars[k].to_device(&Device::Cpu)?, written)?,
                _ => false,
            };
            fresh.push(if current {
                None
            } else {
                Some(host_values(vars[k].as_tensor())?)
            });
        }

        let guards: Vec<_> = inplace_grads
            .iter()
            .map(|g| g.storage_and_layout())
            .collect();
        let inplace: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&k| generic[k].is_none())
            .collect();
        let mut inplace_slices: Vec<&[O::Element]> = Vec::with_capacity(inplace.len());
        for ((storage, layout), &k) in guards.iter().zip(&inplace) {
            if storage_keys.contains(&std::ptr::from_ref::<Storage>(storage).addr()) {
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
            inplace_slices.push(&slice[start..end]);
        }
        // All gradients in the order of `active`.
        let grad_slices: Vec<&[O::Element]> = {
            let (mut ip, mut gp) = (inplace_slices.iter(), host_grads.iter());
            active
                .iter()
                .filter_map(|&k| match generic[k] {
                    None => ip.next().copied(),
                    Some(_) => gp.next().map(Vec::as_slice),
                })
                .collect()
        };

        let mut built = None;
        let inner = match trained {
            Some(t) => &mut t.inner,
            None => {
                let layout: Vec<usize> = active.iter().map(|&k| vars[k].elem_count()).collect();
                built.insert(O::build(config.clone(), &layout)?)
            }
        };
        inner.set_lr_multiplier(lr)?;
        let report = {
            let is_generic: Vec<bool> = active.iter().map(|&k| generic[k].is_some()).collect();
            // The generic vars' parameter slices, in the order of `active` (which increases).
            let mut generic_params: Vec<&mut [O::Element]> = generic
                .iter_mut()
                .enumerate()
                .filter(|(k, _)| active.binary_search(k).is_ok())
                .filter_map(|(_, g)| g.as_mut())
                .zip(fresh.iter_mut())
                .filter_map(|(g, f)| match f {
                    Some(values) => Some(values.as_mut_slice()),
                    None => g.master.as_deref_mut(),
                })
                .collect();
            let inplace_vars: Vec<&Var> = inplace.iter().map(|&k| &vars[k]).collect();
            let mut run = |in_place: &mut [&mut [O::Element]]| {
                let (mut ip, mut gp) = (in_place.iter_mut(), generic_params.iter_mut());
                let mut params: Vec<&mut [O::Element]> = is_generic
                    .iter()
                    .filter_map(|&g| {
                        if g {
                            gp.next().map(|s| &mut **s)
                        } else {
                            ip.next().map(|s| &mut **s)
                        }
                    })
                    .collect();
                inner.step(&mut params, &grad_slices, loss)
            };
            with_slices_mut(&inplace_vars, &mut run)??
        };
        drop(guards);

        // The step succeeded: write the generic vars back (every conversion first, then the
        // copies into the vars).
        let mut writes = Vec::with_capacity(fresh.len());
        let mut fresh_iter = fresh.into_iter();
        for &k in &active {
            let Some(g) = &mut generic[k] else { continue };
            let fresh = fresh_iter.next().flatten();
            let var = &vars[k];
            let values = match (&fresh, &g.master) {
                (Some(values), _) | (None, Some(values)) => values.as_slice(),
                (None, None) => unreachable!("a generic var without values"),
            };
            let host =
                Tensor::from_slice(values, var.shape(), &Device::Cpu)?.to_dtype(var.dtype())?;
            let target = host.to_device(var.device())?;
            writes.push((k, fresh, host, target));
        }
        for (k, fresh, host, target) in writes {
            vars[k].set(&target)?;
            if let Some(g) = &mut generic[k]
                && vars[k].dtype() != O::Element::DTYPE
            {
                if let Some(values) = fresh {
                    g.master = Some(values);
                }
                g.written = Some(host);
            }
        }
        if let Some(inner) = built {
            *trained = Some(Trained { active, inner });
        }
        *last = Some(report.clone());
        Ok(report)
    }
}

impl<O: Method> CandleOptimizer<O>
where
    O::Element: CandleFloat,
{
    /// Everything needed to continue this run later (with the same vars, in the same order): the
    /// multiplier, the trained set, the method's state and the generic path's master copies.
    pub fn save(&self) -> CandleState<O::State, O::Element> {
        CandleState {
            lr: self.lr,
            trained: self
                .trained
                .as_ref()
                .map(|t| (t.active.clone(), t.inner.state().clone())),
            masters: self
                .generic
                .iter()
                .enumerate()
                .filter_map(|(k, g)| Some((k, g.as_ref()?.master.clone()?)))
                .collect(),
        }
    }

    /// Restores a [`CandleOptimizer::save`]d state; the next step continues bit for bit as the
    /// saved optimizer's would (given the same var values). A saved master copy is used while
    /// its var holds the master's rounding, and is dropped for a var that here has the method's
    /// dtype or takes the in-place path (a run may move between devices and dtypes); a generic
    /// var without one starts its master from its value. On error nothing changes.
    pub fn restore(&mut self, state: CandleState<O::State, O::Element>) -> Result<()> {
        let n = self.vars.len();
        let trained = match state.trained {
            None => None,
            Some((active, inner_state)) => {
                if active.is_empty()
                    || active.iter().any(|&k| k >= n)
                    || active.windows(2).any(|w| w[0] >= w[1])
                {
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
        if state.masters.iter().any(|(k, _)| *k >= n)
            || state.masters.windows(2).any(|w| w[0].0 >= w[1].0)
        {
            return Err(Error::IncompatibleState {
                reason: "master copy var indices do not fit this optimizer's vars",
            });
        }
        let mut masters: Vec<Option<(Vec<O::Element>, Tensor)>> = vec![None; n];
        for (k, values) in state.masters {
            let var = &self.vars[k];
            if self.generic[k].is_none() || var.dtype() == O::Element::DTYPE {
                continue;
            }
            if values.len() != var.elem_count() || values.iter().any(|x| !x.is_finite()) {
                return Err(Error::IncompatibleState {
                    reason: "a master copy does not fit its var (length) or is not finite",
                });
            }
            let written =
                Tensor::from_slice(&values, var.shape(), &Device::Cpu)?.to_dtype(var.dtype())?;
            masters[k] = Some((values, written));
        }
        for (g, m) in self.generic.iter_mut().zip(masters) {
            if let Some(g) = g {
                (g.master, g.written) = m.unzip();
            }
        }
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
