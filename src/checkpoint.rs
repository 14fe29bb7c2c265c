//! Versioned checkpoints: save an optimizer's configuration and state, restore it elsewhere, and
//! continue bit for bit (feature `serde`).
//!
//! The format is JSON (self-describing; `f64` values round-trip exactly through serde_json's
//! `float_roundtrip`), wrapped in a header that names the format version, the optimizer, the
//! element type and the tensor layout. Restoring checks each and returns a typed
//! [`Error::Checkpoint`] or [`Error::IncompatibleState`] on any mismatch.
//!
//! ```
//! use signfree::{AliasConfig, AliasSignSgd, Checkpointable, Optimizer};
//! let mut a = AliasSignSgd::<f32>::new(AliasConfig::default(), &[3])?;
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
use crate::optimizer::{Optimizer, Stateful};

/// The format name written into every checkpoint.
pub const FORMAT: &str = "signfree-checkpoint";
/// The current format version; a checkpoint with another version is refused.
pub const VERSION: u32 = 1;

/// A checkpoint: header, configuration and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint<C, S> {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written.
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

/// Save and restore an optimizer with its configuration.
pub trait Checkpointable: Stateful + Sized {
    /// The configuration type.
    type Config: Clone + Serialize + DeserializeOwned;
    /// The element type.
    type Element: Float;
    /// The optimizer's name in checkpoints.
    const NAME: &'static str;
    /// The element type's name (`"f32"`/`"f64"`).
    fn dtype_name() -> &'static str;
    /// The configuration and layout this optimizer was built with.
    fn config_and_layout(&self) -> (Self::Config, Vec<usize>);
    /// Builds a fresh optimizer (validating the configuration).
    fn build(config: Self::Config, layout: &[usize]) -> Result<Self>;
    /// Checks a saved state against the configuration and layout it claims, before anything is
    /// allocated (the same checks as [`Stateful::set_state`]).
    fn check_state(config: &Self::Config, layout: &[usize], state: &Self::State) -> Result<()>;

    /// The checkpoint value.
    fn checkpoint(&self) -> Checkpoint<Self::Config, Self::State> {
        let (config, layout) = self.config_and_layout();
        Checkpoint {
            format: FORMAT.into(),
            version: VERSION,
            optimizer: Self::NAME.into(),
            dtype: Self::dtype_name().into(),
            layout,
            config,
            state: self.state().clone(),
        }
    }

    /// Restores an optimizer from a checkpoint value, checking every header field.
    ///
    /// The saved state is checked against the layout and configuration *before* the optimizer
    /// is built: buffers must have exactly the layout's lengths wherever the configuration has
    /// them, so the optimizer never allocates more than the checkpoint itself holds, and a file
    /// that claims a huge layout is an [`Error::IncompatibleState`] (or, if its lengths overflow
    /// the address space, [`Error::InvalidParameter`] for `layout`), never an allocation abort.
    fn restore(ck: Checkpoint<Self::Config, Self::State>) -> Result<Self> {
        if ck.format != FORMAT {
            return Err(Error::Checkpoint(CheckpointError::Format {
                found: ck.format,
            }));
        }
        if ck.version != VERSION {
            return Err(Error::Checkpoint(CheckpointError::Version {
                found: ck.version,
                supported: VERSION,
            }));
        }
        if ck.optimizer != Self::NAME {
            return Err(Error::Checkpoint(CheckpointError::Optimizer {
                found: ck.optimizer,
                expected: Self::NAME,
            }));
        }
        if ck.dtype != Self::dtype_name() {
            return Err(Error::Checkpoint(CheckpointError::Dtype {
                found: ck.dtype,
                expected: Self::dtype_name(),
            }));
        }
        crate::optimizer::check_layout::<Self::Element>(Self::NAME, &ck.layout)?;
        Self::check_state(&ck.config, &ck.layout, &ck.state)?;
        let mut opt = Self::build(ck.config, &ck.layout)?;
        opt.set_state(ck.state)?;
        Ok(opt)
    }

    /// The checkpoint as JSON text.
    fn to_json(&self) -> Result<String>
    where
        Self::State: Serialize,
    {
        serde_json::to_string(&self.checkpoint()).map_err(|e| {
            Error::Checkpoint(CheckpointError::Syntax {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })
        })
    }

    /// Restores from JSON text written by [`Checkpointable::to_json`].
    fn from_json(text: &str) -> Result<Self>
    where
        Self::State: DeserializeOwned,
    {
        let ck: Checkpoint<Self::Config, Self::State> =
            serde_json::from_str(text).map_err(|e| {
                Error::Checkpoint(CheckpointError::Syntax {
                    line: e.line(),
                    column: e.column(),
                    message: e.to_string(),
                })
            })?;
        Self::restore(ck)
    }
}

macro_rules! checkpointable {
    ($ty:ident, $config:ty, $name:literal) => {
        impl<F: Float + Serialize + DeserializeOwned> Checkpointable for crate::$ty<F> {
            type Config = $config;
            type Element = F;
            const NAME: &'static str = $name;
            fn dtype_name() -> &'static str {
                dtype::<F>()
            }
            fn config_and_layout(&self) -> (Self::Config, Vec<usize>) {
                (self.config().clone(), Optimizer::<F>::layout(self).to_vec())
            }
            fn build(config: Self::Config, layout: &[usize]) -> Result<Self> {
                crate::$ty::<F>::new(config, layout)
            }
            fn check_state(
                config: &Self::Config,
                layout: &[usize],
                state: &Self::State,
            ) -> Result<()> {
                crate::$ty::<F>::check_state(config, layout, state)
            }
        }
    };
}

checkpointable!(SignSgd, crate::SignSgdConfig, "SignSgd");
checkpointable!(AliasSignSgd, crate::AliasConfig, "AliasSignSgd");
checkpointable!(AliasAdam, crate::AliasAdamConfig, "AliasAdam");
checkpointable!(AdamW, crate::AdamWConfig, "AdamW");
checkpointable!(Prodigy, crate::ProdigyConfig, "Prodigy");
checkpointable!(AdamLikeCompat, crate::AdamLikeConfig, "AdamLikeCompat");
