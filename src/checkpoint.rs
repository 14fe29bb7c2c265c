//! Versioned checkpoints: save an optimizer's configuration and state, restore it elsewhere, and
//! continue bit for bit (feature `serde`).
//!
//! The format is JSON (self-describing; `f64` values round-trip exactly through serde_json's
//! `float_roundtrip`), wrapped in a header that names the format version, the optimizer, the
//! element type and the tensor layout. Restoring checks each and returns a typed
//! [`Error::Checkpoint`] or [`Error::IncompatibleState`] on any mismatch.
//!
//! ```
//! use signfree::{AliasSignSgdConfig, AliasSignSgd, Checkpointable, Optimizer};
//! let mut a = AliasSignSgd::<f32>::new(AliasSignSgdConfig::default(), &[3])?;
//! let mut x = [1.0_f32, -2.0, 0.5];
//! a.step_flat(&mut x, &[0.5, -1.0, 2.0], None)?;
//! let saved = a.to_json()?;
//! let mut b = AliasSignSgd::<f32>::from_json(&saved)?;
//! let (mut xa, mut xb) = (x, x);
//! a.step_flat(&mut xa, &[0.25, 1.0, -2.0], None)?;
//! b.step_flat(&mut xb, &[0.25, 1.0, -2.0], None)?;
//! assert_eq!(xa, xb);
//! # Ok::<(), signfree::Error>(())
//! ```
//!
//! SOS's search is not checkpointed: a search restarts from its configuration (the optimizer it
//! returns, constant-step Sign-SGD, checkpoints like any other).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::dist::{Communicator, DistAliasSignSgd, DistSignSgd};
use crate::error::{CheckpointError, Error, Result};
use crate::float::Float;
use crate::optimizer::{Method, Optimizer, Stateful};

/// The format name written into every checkpoint.
pub const CHECKPOINT_FORMAT: &str = "signfree-checkpoint";
/// The current format version; a checkpoint with another version is refused.
pub const CHECKPOINT_VERSION: u32 = 2;

/// A checkpoint: header, configuration and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint<C, S> {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`CHECKPOINT_VERSION`] when written.
    pub version: u32,
    /// The optimizer type, e.g. `"AliasSignSgd"`.
    pub optimizer: String,
    /// `"f32"` or `"f64"`.
    pub dtype: String,
    /// The tensor lengths.
    pub layout: Vec<usize>,
    /// The configuration.
    pub config: C,
    /// Everything that changes between steps.
    pub state: S,
}

fn dtype<F: Float>() -> &'static str {
    if F::BYTES == 4 { "f32" } else { "f64" }
}

/// Save and restore an optimizer with its configuration: every [`Method`] whose configuration
/// and state serialize has it.
pub trait Checkpointable: Method {
    /// The checkpoint value.
    fn checkpoint(&self) -> Checkpoint<Self::Config, Self::State>;

    /// Restores an optimizer from a checkpoint value, checking every header field.
    ///
    /// The saved state is checked against the layout and configuration *before* the optimizer
    /// is built: buffers must have exactly the layout's lengths wherever the configuration has
    /// them, so the optimizer never allocates more than the checkpoint itself holds, and a file
    /// that claims a huge layout is an [`Error::IncompatibleState`] (or, if its lengths overflow
    /// the address space, [`Error::InvalidParameter`] for `layout`), never an allocation abort.
    fn restore(ck: Checkpoint<Self::Config, Self::State>) -> Result<Self>;

    /// The checkpoint as JSON text.
    fn to_json(&self) -> Result<String>;

    /// Restores from JSON text written by [`Checkpointable::to_json`].
    fn from_json(text: &str) -> Result<Self>;
}

fn syntax(e: &serde_json::Error) -> Error {
    Error::Checkpoint(CheckpointError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

impl<O> Checkpointable for O
where
    O: Method,
    O::Config: Serialize + DeserializeOwned,
    O::State: Serialize + DeserializeOwned,
{
    fn checkpoint(&self) -> Checkpoint<O::Config, O::State> {
        Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            version: CHECKPOINT_VERSION,
            optimizer: O::NAME.into(),
            dtype: dtype::<O::Element>().into(),
            layout: self.layout().to_vec(),
            config: self.config().clone(),
            state: self.state().clone(),
        }
    }

    fn restore(ck: Checkpoint<O::Config, O::State>) -> Result<Self> {
        check_header::<O::Element, _, _>(&ck, O::NAME)?;
        O::check_state(&ck.config, &ck.layout, &ck.state)?;
        let mut opt = O::build(ck.config, &ck.layout)?;
        opt.set_state(ck.state)?;
        Ok(opt)
    }

    fn to_json(&self) -> Result<String> {
        serde_json::to_string(&self.checkpoint()).map_err(|e| syntax(&e))
    }

    fn from_json(text: &str) -> Result<Self> {
        let ck: Checkpoint<O::Config, O::State> =
            serde_json::from_str(text).map_err(|e| syntax(&e))?;
        Self::restore(ck)
    }
}

/// Checks format, version, optimizer name, element type and that the layout fits in memory.
fn check_header<F: Float, C, S>(ck: &Checkpoint<C, S>, name: &'static str) -> Result<()> {
    if ck.format != CHECKPOINT_FORMAT {
        return Err(Error::Checkpoint(CheckpointError::Format {
            found: ck.format.clone(),
        }));
    }
    if ck.version != CHECKPOINT_VERSION {
        return Err(Error::Checkpoint(CheckpointError::Version {
            found: ck.version,
            supported: CHECKPOINT_VERSION,
        }));
    }
    if ck.optimizer != name {
        return Err(Error::Checkpoint(CheckpointError::Optimizer {
            found: ck.optimizer.clone(),
            expected: name,
        }));
    }
    let expected = dtype::<F>();
    if ck.dtype != expected {
        return Err(Error::Checkpoint(CheckpointError::Dtype {
            found: ck.dtype.clone(),
            expected,
        }));
    }
    crate::optimizer::check_layout::<F>(name, &ck.layout)?;
    Ok(())
}

/// The state a distributed optimizer's checkpoint holds: this rank's state and the world it
/// was saved in (each rank saves and restores its own; restoring checks rank and size).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankState<S> {
    /// The rank that saved it.
    pub rank: usize,
    /// The number of ranks then.
    pub size: usize,
    /// That rank's optimizer state.
    pub state: S,
}

/// What checkpoints need from a distributed optimizer (its configuration, layout and world).
trait DistParts<C: Communicator>: Stateful + Sized {
    type Element: Float;
    type Config: Clone + Serialize + DeserializeOwned;
    const NAME: &'static str;
    fn parts(&self) -> (&Self::Config, &[usize], &C);
    fn build(config: Self::Config, layout: &[usize], comm: C) -> Result<Self>;
    fn check_state(config: &Self::Config, layout: &[usize], state: &Self::State) -> Result<()>;
}

fn dist_to_json<C: Communicator, O: DistParts<C>>(o: &O) -> Result<String>
where
    O::State: Serialize,
{
    let (config, layout, comm) = o.parts();
    let ck = Checkpoint {
        format: CHECKPOINT_FORMAT.into(),
        version: CHECKPOINT_VERSION,
        optimizer: O::NAME.into(),
        dtype: dtype::<O::Element>().into(),
        layout: layout.to_vec(),
        config: config.clone(),
        state: RankState {
            rank: comm.rank(),
            size: comm.size(),
            state: o.state(),
        },
    };
    serde_json::to_string(&ck).map_err(|e| syntax(&e))
}

fn dist_from_json<C: Communicator, O: DistParts<C>>(text: &str, comm: C) -> Result<O>
where
    O::State: DeserializeOwned,
{
    let ck: Checkpoint<O::Config, RankState<O::State>> =
        serde_json::from_str(text).map_err(|e| syntax(&e))?;
    check_header::<O::Element, _, _>(&ck, O::NAME)?;
    let saved = &ck.state;
    if (saved.rank, saved.size) != (comm.rank(), comm.size()) {
        return Err(Error::Checkpoint(CheckpointError::World {
            saved_rank: saved.rank,
            saved_size: saved.size,
            rank: comm.rank(),
            size: comm.size(),
        }));
    }
    O::check_state(&ck.config, &ck.layout, &saved.state)?;
    let mut opt = O::build(ck.config, &ck.layout, comm)?;
    opt.set_state(ck.state.state)?;
    Ok(opt)
}

macro_rules! dist_checkpoint {
    ($ty:ident, $config:ty, $name:literal) => {
        impl<F: Float + Serialize + DeserializeOwned, C: Communicator> DistParts<C> for $ty<F, C> {
            type Element = F;
            type Config = $config;
            const NAME: &'static str = $name;
            fn parts(&self) -> (&$config, &[usize], &C) {
                (
                    self.config(),
                    Optimizer::<F>::layout(self),
                    self.communicator(),
                )
            }
            fn build(config: $config, layout: &[usize], comm: C) -> Result<Self> {
                Self::new(config, layout, comm)
            }
            fn check_state(config: &$config, layout: &[usize], state: &Self::State) -> Result<()> {
                Self::check_state(config, layout, state)
            }
        }

        impl<F: Float + Serialize + DeserializeOwned, C: Communicator> $ty<F, C> {
            /// This rank's checkpoint as JSON (feature `serde`): configuration, layout, its own
            /// state, and its rank and world size. Every rank saves its own, at the same step.
            ///
            /// # Errors
            /// [`Error::Checkpoint`] if serialisation fails.
            pub fn to_json(&self) -> Result<String> {
                dist_to_json(self)
            }

            /// Restores this rank from the checkpoint it saved, on a world of the same size (the
            /// rank and size are checked, then everything [`Checkpointable::restore`] checks).
            /// Restore every rank before the next step; ranks restored at different steps are
            /// refused by that step's agreement.
            ///
            /// # Errors
            /// [`Error::Checkpoint`] (including [`CheckpointError::World`]),
            /// [`Error::IncompatibleState`], [`Error::InvalidParameter`].
            pub fn from_json(text: &str, comm: C) -> Result<Self> {
                dist_from_json(text, comm)
            }
        }
    };
}

dist_checkpoint!(DistSignSgd, crate::SignSgdConfig, "DistSignSgd");
dist_checkpoint!(
    DistAliasSignSgd,
    crate::dist::DistAliasSignSgdConfig,
    "DistAliasSignSgd"
);
