//! # signfree
//!
//! Parameter-free sign optimizers.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod bundled;
#[cfg(feature = "candle")]
pub mod candle;
#[cfg(feature = "serde")]
pub mod checkpoint;
pub mod dist;
pub mod error;
pub mod float;
pub mod kernels;
pub mod monitor;
pub mod optim;
pub mod optimizer;
pub mod problem;
pub mod problems;
pub mod research;
pub mod schedule;
mod state;

pub use bundled::Bundled;
#[cfg(feature = "serde")]
pub use checkpoint::{Checkpoint, Checkpointable};
#[cfg(feature = "mpi")]
pub use dist::MpiCommunicator;
pub use dist::{
    Communicator, DistAliasSignSgd, DistAliasState, DistSignSgd, DistSignSgdState,
    LocalCommunicator, SignVote, Traffic,
};
pub use error::CommunicationErrorKind;
pub use error::{CheckpointError, Dimension, Error, ParseErrorKind, Result, TensorProblem, Value};
pub use float::Float;
pub use kernels::Backend;
pub use monitor::{Monitor, MonitorConfig, Warning};
pub use optim::adam_like::{AdamLikeCompat, AdamLikeConfig, AdamLikeState};
pub use optim::adamw::{AdamW, AdamWConfig, AdamWState};
pub use optim::alias::{
    AliasConfig, AliasRule, AliasScalars, AliasSignSgd, AliasState, AliasStepsize, Warmup,
};
pub use optim::alias_adam::{AliasAdam, AliasAdamConfig, AliasAdamState};
pub use optim::prodigy::{Prodigy, ProdigyConfig, ProdigyState};
pub use optim::sign_sgd::{SignSgd, SignSgdConfig, SignSgdState};
pub use optim::sos::{Probe, ProgressEstimator, SosConfig, SosOutcome, SosSignSgd};
pub use optimizer::{AliasPhase, Estimators, Method, Optimizer, Stateful, StepReport};
pub use problem::{Cost, CostGradient, Counted, EvalCounts, Gradient, Problem, StochasticGradient};
pub use problems::libsvm::{CsrMatrix, Dataset, Features, LibsvmOptions, Storage};
pub use problems::logistic::{LogisticRegression, ReferenceOptimum};
pub use problems::nllsq::NonlinearLeastSquares;
pub use problems::synthetic::{Quadratic, Rosenbrock};
pub use schedule::Schedule;

/// Compiles and runs the README's Rust examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
