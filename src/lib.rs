//! # signfree
//!
//! Parameter-free sign optimizers.
#![deny(missing_docs)]
#![deny(unsafe_code)]

// Public namespaces: the low-level kernels, distributed training, ideas beyond the paper, and
// the framework adapter. Everything else is one flat set of names at the root.
#[cfg(feature = "burn")]
pub mod burn;
#[cfg(feature = "candle")]
pub mod candle;
pub mod dist;
pub mod kernels;
pub mod research;

#[cfg(feature = "serde")]
mod checkpoint;
mod error;
mod float;
mod monitor;
mod optim;
mod optimizer;
mod problem;
mod problems;
mod schedule;
mod state;

#[cfg(feature = "serde")]
pub use checkpoint::{
    CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Checkpoint, Checkpointable, RankState,
};
pub use error::{
    CheckpointError, CommunicationErrorKind, Dimension, Error, ParseErrorKind, Result,
    TensorProblem, Value,
};
pub use float::Float;
pub use kernels::Backend;
pub use monitor::{Monitor, MonitorConfig, Warning};
pub use optim::adam_like::{AdamLikeCompat, AdamLikeCompatConfig, AdamLikeCompatState};
pub use optim::adamw::{AdamW, AdamWConfig, AdamWState};
pub use optim::alias::{
    AliasFullMemory, AliasMemory, AliasMemoryState, AliasPhase, AliasRule, AliasScalars,
    AliasSignMemory, AliasSignSgd, AliasSignSgdConfig, AliasSignSgdState, AliasStepsize, Warmup,
};
pub use optim::alias_adam::{AliasAdam, AliasAdamConfig, AliasAdamState};
pub use optim::prodigy::{Prodigy, ProdigyConfig, ProdigyState};
pub use optim::sign_sgd::{SignSgd, SignSgdConfig, SignSgdState};
pub use optim::sos::{Probe, ProgressEstimator, SosOutcome, SosSignSgd, SosSignSgdConfig};
pub use optimizer::{Estimate, Estimates, Method, Optimizer, Stateful, StepReport};
pub use problem::{Cost, CostGradient, Counted, EvalCounts, Gradient, Problem, StochasticGradient};
pub use problems::bundled::Bundled;
pub use problems::libsvm::{
    CsrMatrix, Dataset, Features, LibsvmOptions, MAX_DENSE_VALUES, Storage,
};
pub use problems::logistic::{LogisticRegression, ReferenceOptimum};
pub use problems::nllsq::NonlinearLeastSquares;
pub use problems::synthetic::{Quadratic, Rosenbrock};
pub use schedule::Schedule;

/// Compiles and runs the README's Rust examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
