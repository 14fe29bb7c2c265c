//! The crate's single error type.

use std::path::PathBuf;

/// Every failure signfree reports.
///
/// Each variant carries enough context to act on without a debugger: the parameter and its
/// allowed range for configuration errors, the tensor and coordinate for non-finite inputs, the
/// file, line and column for malformed data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is outside its allowed range. Returned by constructors only.
    #[error("{owner}: invalid `{parameter}` = {value}; expected {expected}")]
    InvalidParameter {
        /// The type whose configuration was rejected, e.g. `"SignSgd"`.
        owner: &'static str,
        /// The field name, e.g. `"lr"`.
        parameter: &'static str,
        /// The value received, formatted.
        value: String,
        /// The allowed range, in words, e.g. `"a finite number > 0"`.
        expected: &'static str,
    },

    /// The number of tensors, or the length of one of them, differs from what is expected.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// What was being compared, e.g. `"gradient tensor 1"`.
        what: String,
        /// The expected length or count.
        expected: usize,
        /// The length or count received.
        got: usize,
    },

    /// A gradient coordinate was NaN or infinite. Nothing was changed.
    #[error("non-finite gradient at step {step}: tensor {tensor}, index {index}, value {value}")]
    NonFiniteGradient {
        /// The optimizer step index at which it was seen.
        step: u64,
        /// Index of the tensor in the parameter list.
        tensor: usize,
        /// Coordinate within that tensor.
        index: usize,
        /// The offending value (as `f64`).
        value: f64,
    },

    /// A gradient coordinate is finite but so large that the optimizer's state or update would
    /// overflow the element type (for example `g²` in Adam's second moment: the limit is
    /// `sqrt(F::MAX) / 2`). Clip the gradient, or use `f64`. Nothing was changed.
    #[error(
        "gradient too large at step {step}: tensor {tensor}, index {index}, value {value:e} (limit {limit:e})"
    )]
    GradientOutOfRange {
        /// The optimizer step index at which it was seen.
        step: u64,
        /// Index of the tensor in the parameter list.
        tensor: usize,
        /// Coordinate within that tensor.
        index: usize,
        /// The offending value (as `f64`).
        value: f64,
        /// The largest magnitude this optimizer accepts at this step.
        limit: f64,
    },

    /// From finite inputs, a step would have produced a value the element type cannot hold: an
    /// infinite or NaN stepsize or estimator, or a stepsize so large that the update would
    /// overflow. The step was refused and nothing was changed; non-finite values never enter an
    /// optimizer's state.
    #[error("step {step} refused: {quantity} = {value:e} is out of range (limit {limit:e})")]
    StepOutOfRange {
        /// The optimizer step index.
        step: u64,
        /// The quantity, e.g. `"ALIAS stepsize"`.
        quantity: &'static str,
        /// The value it would have taken.
        value: f64,
        /// The largest value that can be applied.
        limit: f64,
    },

    /// ALIAS Option F: the loss at the first ALIAS step is below the configured lower bound
    /// `f̃ ≤ f*`, so `f(x_0) − f̃` would be negative. Nothing was changed.
    #[error("loss {loss} at step {step} is below the lower bound f_lower = {f_lower}")]
    LossBelowLowerBound {
        /// The step index.
        step: u64,
        /// The loss received.
        loss: f64,
        /// The configured `f̃`.
        f_lower: f64,
    },

    /// A loss value was NaN or infinite. Nothing was changed.
    #[error("non-finite loss {value} at step {step}")]
    NonFiniteLoss {
        /// The optimizer step index.
        step: u64,
        /// The offending value.
        value: f64,
    },

    /// A method needs the current loss (for example ALIAS Option F at its first step) and none was
    /// passed to `step`.
    #[error("{method} needs the loss at step {step}, but none was given")]
    MissingLoss {
        /// The optimizer that needs it.
        method: &'static str,
        /// The step index.
        step: u64,
    },

    /// A saved state does not fit this optimizer (other tensor layout or other options).
    #[error("state does not fit this optimizer: {reason}")]
    IncompatibleState {
        /// What differs.
        reason: &'static str,
    },

    /// An iterative procedure (for example the reference Newton solver) stopped without meeting
    /// its tolerance.
    #[error("{what} did not converge in {iterations} iterations (residual {residual:e})")]
    NotConverged {
        /// The procedure.
        what: &'static str,
        /// Iterations spent.
        iterations: usize,
        /// Final residual, in the procedure's own measure.
        residual: f64,
    },

    /// A search used up its evaluation budget before finishing.
    #[error("{what} used its budget of {budget} probes without finishing")]
    BudgetExhausted {
        /// The search.
        what: &'static str,
        /// The budget that was exhausted.
        budget: usize,
    },

    /// A checkpoint could not be read or does not belong to this optimizer.
    #[error("checkpoint: {0}")]
    Checkpoint(CheckpointError),

    /// A data file is malformed.
    #[error("{}:{line}:{column}: {kind}", file.display())]
    Parse {
        /// The file, or a label such as `<memory>` for in-memory input.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based byte column within the line.
        column: usize,
        /// What is wrong.
        kind: ParseErrorKind,
    },

    /// Distributed training (`signfree::dist`): a collective failed, a peer's step failed, or the
    /// ranks disagreed about the step. Every rank of the world returns an error for the same
    /// step (the failing rank its own, e.g. [`Error::NonFiniteGradient`]; the others this), and
    /// no rank changed its parameters or state.
    #[error("communication at step {step} on rank {rank} of {size}: {kind}")]
    Communication {
        /// The optimizer step index (0 outside a step).
        step: u64,
        /// The rank reporting it.
        rank: usize,
        /// The number of ranks.
        size: usize,
        /// What happened.
        kind: CommunicationErrorKind,
    },

    /// A candle var or its gradient cannot be trained by this optimizer (feature `candle`): wrong
    /// dtype, shape or device, or a trained var without a gradient. Nothing was changed.
    #[error("var {var}: {reason}")]
    Tensor {
        /// The var's index in the list given to the optimizer (after integer vars were dropped,
        /// for errors raised by `step`).
        var: usize,
        /// What is wrong.
        reason: String,
    },

    /// Reading a file failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What is wrong in a malformed LIBSVM file; the location is in [`Error::Parse`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input has no data rows.
    #[error("no data rows")]
    Empty,
    /// The line is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The label is not a finite number.
    #[error("bad label `{0}`")]
    BadLabel(String),
    /// A token is not of the form `index:value`.
    #[error("bad token `{0}`, expected `index:value`")]
    BadToken(String),
    /// The index is not a positive integer.
    #[error("bad feature index `{0}`")]
    BadIndex(String),
    /// Feature indices are 1-based; 0 was found.
    #[error("feature index 0 (indices start at 1)")]
    ZeroIndex,
    /// Indices must rise strictly within a row.
    #[error("feature index {index} does not exceed the previous index {previous}")]
    NonIncreasingIndex {
        /// The previous index in the row.
        previous: usize,
        /// The index found.
        index: usize,
    },
    /// The index exceeds the declared number of features.
    #[error("feature index {index} exceeds n_features = {n_features}")]
    IndexOutOfRange {
        /// The index found.
        index: usize,
        /// The declared width.
        n_features: usize,
    },
    /// The value is not a finite number.
    #[error("bad or non-finite feature value `{0}`")]
    BadValue(String),
    /// Dense storage of `rows × cols` values cannot be allocated (the width comes from the
    /// largest feature index, whose position the error reports).
    #[error("dense storage of {rows} × {cols} values does not fit in memory; use sparse storage")]
    DenseTooLarge {
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// A third distinct label was found; only binary labels are supported.
    #[error("label {label} is a third class (already seen {first} and {second})")]
    TooManyClasses {
        /// The new label.
        label: f64,
        /// The first label seen.
        first: f64,
        /// The second label seen.
        second: f64,
    },
}

/// What went wrong in distributed training; the step and rank are in [`Error::Communication`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CommunicationErrorKind {
    /// Another rank's input failed its checks at this step (that rank returned its own error).
    #[error("{failed} rank(s) failed this step, the first is rank {first}")]
    PeerFailed {
        /// How many ranks failed.
        failed: usize,
        /// The lowest failing rank.
        first: usize,
    },
    /// The ranks disagree about something that must be equal on all of them.
    #[error("ranks disagree about {what}")]
    Mismatch {
        /// What differs, e.g. `"the step index"`.
        what: &'static str,
    },
    /// A peer left during a collective (its thread panicked or its communicator was dropped).
    #[error("a peer left the world during a collective")]
    PeerLost,
    /// MPI could not be initialised (it already was, or the library refused).
    #[error("MPI could not be initialised")]
    InitFailed,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a signfree checkpoint.
    #[error("not a signfree checkpoint (format `{found}`)")]
    Format {
        /// The format field found.
        found: String,
    },
    /// Written by another format version.
    #[error("format version {found} is not supported (this build reads version {supported})")]
    Version {
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// Written by another optimizer type.
    #[error("checkpoint of `{found}`, not `{expected}`")]
    Optimizer {
        /// The optimizer named in the checkpoint.
        found: String,
        /// The optimizer restoring it.
        expected: &'static str,
    },
    /// Written for another element type.
    #[error("element type `{found}`, expected `{expected}`")]
    Dtype {
        /// The type named in the checkpoint.
        found: String,
        /// The type restoring it.
        expected: &'static str,
    },
    /// The text is not valid checkpoint JSON.
    #[error("malformed at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's description.
        message: String,
    },
}

/// Shorthand for `Result<T, signfree::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(
        owner: &'static str,
        parameter: &'static str,
        value: impl std::fmt::Display,
        expected: &'static str,
    ) -> Self {
        Error::InvalidParameter {
            owner,
            parameter,
            value: value.to_string(),
            expected,
        }
    }
}
