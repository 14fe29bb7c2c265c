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

use crate::error::{CheckpointError, Error, Result};
use crate::float::Float;
use crate::optimizer::Method;

/// The format name written into every checkpoint.
pub const CHECKPOINT_FORMAT: &str = "signfree-checkpoint";
/// The current format version; a checkpoint with another version is refused.
pub const CHECKPOINT_VERSION: u32 = 1;

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
        if ck.format != CHECKPOINT_FORMAT {
            return Err(Error::Checkpoint(CheckpointError::Format {
                found: ck.format,
            }));
        }
        if ck.version != CHECKPOINT_VERSION {
            return Err(Error::Checkpoint(CheckpointError::Version {
                found: ck.version,
                supported: CHECKPOINT_VERSION,
            }));
        }
        if ck.optimizer != O::NAME {
            return Err(Error::Checkpoint(CheckpointError::Optimizer {
                found: ck.optimizer,
                expected: O::NAME,
            }));
        }
        let expected = dtype::<O::Element>();
        if ck.dtype != expected {
            return Err(Error::Checkpoint(CheckpointError::Dtype {
                found: ck.dtype,
                expected,
            }));
        }
        crate::optimizer::check_layout::<O::Element>(O::NAME, &ck.layout)?;
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
