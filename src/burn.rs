//! burn integration (feature `burn`, burn 0.22): every signfree optimizer driving a burn
//! [`Module`].
//!
//! [`BurnOptimizer`] wraps one of the crate's slice-based optimizers and steps a whole module at
//! once: it reads every trained float parameter and its gradient to host memory
//! ([`Tensor::into_data`]), runs the method **once over all of them** and writes the new values
//! back on each parameter's device (keeping its autodiff settings). `BurnOptimizer<O>` works for
//! every [`crate::Method`] `O` of element type `f32` or `f64`, e.g.
//! `BurnOptimizer<signfree::AliasSignSgd<f32>>`.
//!
//! burn 0.22's own optimizers are per-tensor ([`burn::optim::Optimizer`], wrapped by the concrete
//! [`burn::optim::ModuleOptimizer`]), so they cannot hold a quantity summed over all parameters;
//! the adapter is a module-level optimizer with the same call shape as
//! [`burn::optim::ModuleOptimizer::step`]: `model = optim.step(lr, model, grads)`.
//!
//! Semantics, as for the slice API and the candle adapter:
//! - **One global stepsize over all parameters**; ALIAS's norms and inner products run over the
//!   concatenation of every trained parameter, in one `step` call of the inner optimizer.
//! - **Which parameters are trained**: the float parameters that have a gradient in the
//!   [`GradientsParams`] of the *first* step, in the order burn visits the module (frozen
//!   parameters, which get no gradient, are skipped). They are identified by [`ParamId`] and
//!   form the trained set from then on; a later step in which one of them has no gradient is an
//!   error.
//! - **The learning rate burn passes is an outer multiplier** on the method's own stepsize
//!   ([`crate::Optimizer::set_lr_multiplier`]): `lr = 1.0` runs the method as configured, and a
//!   burn learning-rate scheduler puts its schedule on any method (for Sign-SGD, Prodigy and
//!   AdamW it multiplies the configured `lr`; for ALIAS the formula's `γ_t`).
//! - **A failed step changes nothing**: a parameter of another dtype than the method's, a
//!   gradient whose shape or dtype differs from its parameter's, a missing gradient, a
//!   NaN/infinite gradient or loss return the typed [`crate::Error`] from
//!   [`BurnOptimizer::try_step`] and leave the module (which is only borrowed) and the optimizer
//!   state as they were. [`BurnOptimizer::step`], burn's call shape, returns no `Result` and
//!   panics with that error instead.
//! - **Records**: [`BurnOptimizer::to_record`] returns burn's [`OptimizerRecord`] (save it with
//!   [`OptimizerRecord::save`] or [`OptimizerRecord::into_bytes`], as for burn's own
//!   optimizers) and [`BurnOptimizer::load_record`] restores it; the next step continues bit for
//!   bit. The record holds one `u8` tensor: the crate's JSON checkpoint (feature `serde`, exact
//!   float round-trips: configuration, state and layout) with the trained [`ParamId`]s. The
//!   module itself is saved by burn (its records keep the parameter ids).
//! - Each step copies the trained parameters and gradients to host memory and the new values
//!   back to the backend: the method runs on the crate's SIMD kernels whatever the backend, and
//!   the copies are the adapter's cost (measured against burn's AdamW in the README).
//!
//! # Example
//!
//! ```
//! use burn::module::{Module, Param};
//! use burn::optim::GradientsParams;
//! use burn::tensor::{Device, Tensor};
//! use signfree::burn::BurnOptimizer;
//! use signfree::{AliasSignSgd, AliasSignSgdConfig};
//!
//! #[derive(Module, Debug)]
//! struct Model {
//!     w: Param<Tensor<2>>,
//! }
//!
//! # fn main() -> signfree::Result<()> {
//! // Least squares ‖A w − b‖² with an exact solution w* = (1, −2).
//! let device = Device::default().autodiff();
//! let a = Tensor::<2>::from_data([[1.0f32, 2.0], [3.0, 1.0], [0.5, -1.0]], &device);
//! let b = Tensor::<2>::from_data([[-3.0f32], [1.0], [2.5]], &device);
//! let mut model = Model { w: Param::from_tensor(Tensor::zeros([2, 1], &device)) };
//! let mut opt = BurnOptimizer::<AliasSignSgd<f32>>::new(AliasSignSgdConfig::default())?;
//! for _ in 0..500 {
//!     let loss = (a.clone().matmul(model.w.val()) - b.clone()).square().sum();
//!     let grads = GradientsParams::from_grads(loss.backward(), &model);
//!     model = opt.step(1.0, model, grads);
//! }
//! let w = model.w.val().into_data().try_to_vec::<f32>().unwrap();
//! assert!((w[0] - 1.0).abs() < 1e-2 && (w[1] + 2.0).abs() < 1e-2, "{w:?}");
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, OptimizerRecord};
use burn::tensor::{Element, Tensor, TensorData};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, Checkpointable};
use crate::error::{CheckpointError, Error, Result, TensorProblem};
use crate::float::Float;
use crate::optimizer::{Method, StepReport, check_multiplier};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The float types a [`BurnOptimizer`] can train (`f32`, `f64`): parameters of the matching
/// burn dtype (`DType::F32`, `DType::F64`).
pub trait BurnFloat: Float + Element + sealed::Sealed {}
impl BurnFloat for f32 {}
impl BurnFloat for f64 {}

/// The name of the record tensor that holds the saved state.
const RECORD_TENSOR: &str = "signfree.state";

/// A signfree optimizer driving a burn module; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct BurnOptimizer<O: Method>
where
    O::Element: BurnFloat,
{
    config: O::Config,
    trained: Option<Trained<O>>,
    last: Option<StepReport>,
}

#[derive(Debug, Clone)]
struct Trained<O> {
    /// The trained parameters, in the order of the inner optimizer's tensors.
    ids: Vec<ParamId>,
    inner: O,
}

/// What the record's tensor holds (as JSON): the trained parameters and the checkpoint.
#[derive(Serialize, Deserialize)]
struct Saved<C, S> {
    params: Vec<u64>,
    checkpoint: Option<Checkpoint<C, S>>,
}

/// One float parameter of the module, read to host memory.
struct Found {
    /// The parameter's index among the module's float parameters, in visit order.
    index: usize,
    value: TensorData,
    grad: Option<TensorData>,
}

/// Visits the module and reads the parameters to train (those in `wanted`, or every one that has
/// a gradient when `wanted` is `None`) with their gradients. Stops at the first problem.
struct Gather<'a, F> {
    grads: &'a GradientsParams,
    wanted: Option<&'a HashSet<ParamId>>,
    /// Float parameters seen so far (the next one's index).
    count: usize,
    order: Vec<ParamId>,
    found: HashMap<ParamId, Found>,
    error: Option<Error>,
    _element: std::marker::PhantomData<F>,
}

fn tensor_error(var: usize, problem: TensorProblem) -> Error {
    Error::Tensor { var, problem }
}

/// Reads a tensor to host memory. The tensor is first multiplied by 1 (exact in IEEE arithmetic
/// for every value, the sign of zero included) on its backend: the product is a fresh tensor
/// that the backend hands over without copying, where reading a tensor that the module still
/// shares makes burn's NdArray backend copy it element by element (about 5× slower here).
fn read<const D: usize>(t: Tensor<D>, index: usize, what: &'static str) -> Result<TensorData> {
    t.inner().mul_scalar(1.0).try_into_data().map_err(|e| {
        tensor_error(
            index,
            TensorProblem::Unreadable {
                what,
                message: e.to_string(),
            },
        )
    })
}

impl<F: BurnFloat> Gather<'_, F> {
    fn visit<const D: usize>(&mut self, param: &Param<Tensor<D>>) -> Result<Option<Found>> {
        let index = self.count;
        self.count += 1;
        let id = param.id;
        if self.found.contains_key(&id) {
            return Ok(None); // a parameter reached twice (tied weights) is trained once
        }
        let grad = match self.wanted {
            Some(wanted) if !wanted.contains(&id) => return Ok(None),
            Some(_) => self.grads.get::<D>(id),
            None => match self.grads.get::<D>(id) {
                Some(g) => Some(g),
                None => return Ok(None),
            },
        };
        let value: Tensor<D> = (**param).clone();
        let expected = <F as Element>::dtype();
        if value.dtype() != expected {
            return Err(tensor_error(
                index,
                TensorProblem::Dtype {
                    found: value.dtype().name(),
                    expected: expected.name(),
                },
            ));
        }
        let grad = match grad {
            None => None,
            Some(g) => {
                if g.dims() != value.dims() || g.dtype() != value.dtype() {
                    return Err(tensor_error(
                        index,
                        TensorProblem::GradientMismatch {
                            dtype: value.dtype().name(),
                            shape: value.dims().to_vec(),
                            found_dtype: g.dtype().name(),
                            found_shape: g.dims().to_vec(),
                            on_cpu: true,
                        },
                    ));
                }
                Some(read(g, index, "gradient")?)
            }
        };
        let value = read(value, index, "parameter")?;
        self.order.push(id);
        Ok(Some(Found { index, value, grad }))
    }
}

impl<F: BurnFloat> ModuleVisitor for Gather<'_, F> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_some() {
            return;
        }
        match self.visit(param) {
            Ok(Some(found)) => {
                self.found.insert(param.id, found);
            }
            Ok(None) => {}
            Err(e) => self.error = Some(e),
        }
    }
}

/// Writes the updated values back, on each parameter's device, with its autodiff settings.
struct WriteBack {
    updated: HashMap<ParamId, TensorData>,
}

impl ModuleMapper for WriteBack {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(data) = self.updated.remove(&param.id) else {
            return param;
        };
        let (id, old, mapper) = param.consume();
        let autodiff = old.is_autodiff();
        let require_grad = old.is_require_grad();
        let checkpointing = old.gradient_checkpointing_strategy();
        let distributed = old.is_distributed();
        let dtype = old.dtype();
        let device = old.inner().device();
        let mut new = Tensor::<D>::from_data(data, (&device, dtype));
        if autodiff {
            new = Tensor::from_inner(new);
            if let Some(strategy) = checkpointing {
                new = new.with_gradient_checkpointing_strategy(strategy);
            }
        }
        if require_grad {
            new = new.require_grad();
        }
        if distributed {
            new = new.set_distributed(id);
        }
        Param::from_mapped_value(id, new, mapper)
    }
}

impl<O: Method> BurnOptimizer<O>
where
    O::Element: BurnFloat,
{
    /// Validates the configuration; the trained parameters are fixed by the first step.
    pub fn new(config: O::Config) -> Result<Self> {
        O::build(config.clone(), &[])?;
        Ok(Self {
            config,
            trained: None,
            last: None,
        })
    }

    /// The method's configuration.
    pub fn config(&self) -> &O::Config {
        &self.config
    }

    /// The inner slice-based optimizer, once the first step has fixed the trained set.
    pub fn inner(&self) -> Option<&O> {
        self.trained.as_ref().map(|t| &t.inner)
    }

    /// The trained parameters, in the order of the inner optimizer's tensors (`None` before the
    /// first step).
    pub fn trained_params(&self) -> Option<&[ParamId]> {
        self.trained.as_ref().map(|t| &t.ids[..])
    }

    /// The report of the last successful step (stepsize, estimates, backend).
    pub fn last_report(&self) -> Option<&StepReport> {
        self.last.as_ref()
    }

    /// Bytes of per-coordinate optimizer state over the trained parameters (0 before the first
    /// step).
    pub fn state_bytes(&self) -> f64 {
        self.trained.as_ref().map_or(0.0, |t| {
            let n: usize = t.inner.layout().iter().sum();
            n as f64 * t.inner.state_bytes_per_parameter()
        })
    }

    /// One step: returns the updated module and the step's report, or the typed error with
    /// nothing changed (`module` is only read). `lr` is the outer multiplier on the method's
    /// stepsize (`1.0`: as configured); `loss` is the objective at the current parameters, for
    /// the methods that need it (ALIAS Option F at its first step).
    ///
    /// Errors: [`Error::Tensor`] for a parameter of another dtype, a gradient that does not match
    /// its parameter, or a trained parameter without a gradient (`var` is the parameter's index
    /// among the module's float parameters, in burn's visit order, or its position in
    /// [`BurnOptimizer::trained_params`] if the module no longer has it); the inner optimizer's errors
    /// ([`Error::NonFiniteGradient`] with `tensor` indexing [`BurnOptimizer::trained_params`],
    /// …; [`Error::is_divergence`] tells a diverged run from a wrong call);
    /// [`Error::InvalidParameter`] for a negative or non-finite `lr`.
    pub fn try_step<M: Module>(
        &mut self,
        lr: f64,
        module: &M,
        grads: &GradientsParams,
        loss: Option<f64>,
    ) -> Result<(M, StepReport)> {
        check_multiplier("BurnOptimizer", "learning_rate", lr)?;
        let wanted: Option<HashSet<ParamId>> = self
            .trained
            .as_ref()
            .map(|t| t.ids.iter().copied().collect());
        let mut gather = Gather::<O::Element> {
            grads,
            wanted: wanted.as_ref(),
            count: 0,
            order: Vec::new(),
            found: HashMap::new(),
            error: None,
            _element: std::marker::PhantomData,
        };
        module.visit(&mut gather);
        if let Some(e) = gather.error {
            return Err(e);
        }
        let Gather {
            order, mut found, ..
        } = gather;
        let ids: Vec<ParamId> = match &self.trained {
            Some(t) => t.ids.clone(),
            None => order,
        };
        if ids.is_empty() {
            return Err(Error::DimensionMismatch {
                what: "parameters with a gradient".into(),
                expected: 1,
                got: 0,
            });
        }
        let mut values = Vec::with_capacity(ids.len());
        let mut gradients = Vec::with_capacity(ids.len());
        for (k, id) in ids.iter().enumerate() {
            // A trained parameter the module no longer has: report its trained position.
            let f = found
                .remove(id)
                .ok_or_else(|| tensor_error(k, TensorProblem::MissingGradient))?;
            let grad = f
                .grad
                .ok_or_else(|| tensor_error(f.index, TensorProblem::MissingGradient))?;
            values.push((*id, f.index, f.value));
            gradients.push((f.index, grad));
        }
        let mut grad_slices: Vec<&[O::Element]> = Vec::with_capacity(ids.len());
        for (index, g) in &gradients {
            grad_slices.push(g.as_slice().map_err(|e| {
                tensor_error(
                    *index,
                    TensorProblem::Unreadable {
                        what: "gradient",
                        message: e.to_string(),
                    },
                )
            })?);
        }
        let mut param_slices: Vec<&mut [O::Element]> = Vec::with_capacity(ids.len());
        for (_, index, v) in &mut values {
            let index = *index;
            param_slices.push(v.as_mut_slice().map_err(|e| {
                tensor_error(
                    index,
                    TensorProblem::Unreadable {
                        what: "parameter",
                        message: e.to_string(),
                    },
                )
            })?);
        }

        let mut fresh = None;
        let inner = match &mut self.trained {
            Some(t) => &mut t.inner,
            None => {
                let layout: Vec<usize> = param_slices.iter().map(|s| s.len()).collect();
                fresh.insert(O::build(self.config.clone(), &layout)?)
            }
        };
        inner.set_lr_multiplier(lr)?;
        let report = inner.step(&mut param_slices, &grad_slices, loss)?;
        drop(param_slices);
        if let Some(inner) = fresh {
            self.trained = Some(Trained { ids, inner });
        }
        let mut write = WriteBack {
            updated: values.into_iter().map(|(id, _, v)| (id, v)).collect(),
        };
        let module = module.clone().map(&mut write);
        self.last = Some(report.clone());
        Ok((module, report))
    }

    /// One step in burn's call shape (that of [`burn::optim::ModuleOptimizer::step`]): `lr` is
    /// the outer multiplier on the method's stepsize. No loss is passed to the method (use
    /// [`BurnOptimizer::try_step`] for ALIAS Option F).
    ///
    /// # Panics
    /// If the step fails (a NaN gradient, a parameter of another dtype, …), with the
    /// [`crate::Error`]'s message; [`BurnOptimizer::try_step`] returns it instead.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self.try_step(lr, &module, &grads, None) {
            Ok((module, _)) => module,
            Err(e) => panic!("signfree::burn::BurnOptimizer<{}>: {e}", O::NAME),
        }
    }
}

impl<O> BurnOptimizer<O>
where
    O: Method,
    O::Element: BurnFloat,
    O::Config: Serialize + DeserializeOwned,
    O::State: Serialize + DeserializeOwned,
{
    /// The optimizer as burn's [`OptimizerRecord`]: the trained parameter ids and the crate's
    /// JSON checkpoint (configuration, layout and state, floats exact), as one `u8` tensor.
    pub fn to_record(&self) -> Result<OptimizerRecord> {
        let saved = Saved {
            params: self
                .trained
                .as_ref()
                .map_or_else(Vec::new, |t| t.ids.iter().map(ParamId::val).collect()),
            checkpoint: self.trained.as_ref().map(|t| t.inner.checkpoint()),
        };
        let json = serde_json::to_vec(&saved).map_err(|e| {
            Error::Checkpoint(CheckpointError::Syntax {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })
        })?;
        let len = json.len();
        let (bytes, shape, dtype) = TensorData::new(json, [len]).into_parts();
        let tensor = burn_pack::Tensor::new(RECORD_TENSOR.into(), dtype, shape, None, bytes);
        let bytes = burn_pack::Writer::new(vec![tensor])
            .with_metadata("signfree.optimizer", O::NAME)
            .into_bytes()
            .map_err(|e| unreadable(&e))?;
        OptimizerRecord::from_bytes(bytes).map_err(|e| unreadable(&e))
    }

    /// Restores a [`BurnOptimizer::to_record`]ed state (configuration included); the next step
    /// continues bit for bit as the saved optimizer's would (given the same module). Checks the
    /// checkpoint's header (optimizer, element type, version) and its state against its layout;
    /// the layout is checked against the module at the next step. On error nothing changes.
    pub fn load_record(&mut self, record: OptimizerRecord) -> Result<()> {
        let bytes = record.into_bytes().map_err(|e| unreadable(&e))?;
        let reader = burn_pack::Reader::from_bytes(bytes).map_err(|e| unreadable(&e))?;
        let tensor = reader
            .into_tensors()
            .map_err(|e| unreadable(&e))?
            .into_iter()
            .find(|t| t.name == RECORD_TENSOR)
            .ok_or_else(|| {
                Error::Checkpoint(CheckpointError::Format {
                    found: "a burn optimizer record without signfree state".into(),
                })
            })?;
        let json = tensor.into_bytes().map_err(|e| unreadable(&e))?;
        let saved: Saved<O::Config, O::State> = serde_json::from_slice(&json).map_err(|e| {
            Error::Checkpoint(CheckpointError::Syntax {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })
        })?;
        let trained = match saved.checkpoint {
            None => None,
            Some(ck) => {
                if saved.params.len() != ck.layout.len() {
                    return Err(Error::IncompatibleState {
                        reason: "the record's parameter ids do not match its layout",
                    });
                }
                let inner = O::restore(ck)?;
                Some(Trained {
                    ids: saved.params.into_iter().map(ParamId::from).collect(),
                    inner,
                })
            }
        };
        if let Some(t) = &trained {
            self.config = t.inner.config().clone();
        }
        self.trained = trained;
        self.last = None;
        Ok(())
    }
}

fn unreadable(e: &dyn std::fmt::Display) -> Error {
    Error::Checkpoint(CheckpointError::Format {
        found: format!("unreadable burn optimizer record ({e})"),
    })
}
