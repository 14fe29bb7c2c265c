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
        /// The value received.
        value: Value,
        /// The allowed range, in words, e.g. `"a finite number > 0"`.
        expected: &'static str,
    },

    /// The number of tensors, or the length of one of them, differs from what is expected.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// What was being compared, e.g. [`Dimension::Gradient`] for tensor 1.
        what: Dimension,
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

    /// A candle var or a burn parameter, or its gradient, cannot be trained by this optimizer
    /// (features `candle`, `burn`): wrong dtype, shape or device, or a trained var without a
    /// gradient. Nothing was changed.
    #[error("var {var}: {problem}")]
    Tensor {
        /// The var's index in the list given to the optimizer (candle: after integer vars were
        /// dropped, for errors raised by `step`; burn: among the module's float parameters, in
        /// burn's visit order).
        var: usize,
        /// What is wrong.
        problem: TensorProblem,
    },

    /// A candle operation the adapter ran failed (feature `candle`), e.g. making a gradient
    /// contiguous or backpropagating. Nothing was changed.
    #[cfg(feature = "candle")]
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),

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
    /// A distributed checkpoint restored on another rank or world size than it was saved on.
    #[error("saved by rank {saved_rank} of {saved_size}, restored on rank {rank} of {size}")]
    World {
        /// The rank that saved it.
        saved_rank: usize,
        /// The world size then.
        saved_size: usize,
        /// The rank restoring it.
        rank: usize,
        /// The world size now.
        size: usize,
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

/// A configuration value as received, in [`Error::InvalidParameter`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A real number.
    Number(f64),
    /// An integer (counts, steps, lengths).
    Integer(i128),
    /// Anything else, described (a layout, a backend, an option).
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Number(v) => write!(f, "{v}"),
            Value::Integer(v) => write!(f, "{v}"),
            Value::Text(v) => f.write_str(v),
        }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}

macro_rules! integer_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Integer(v as i128)
            }
        }
    )*};
}
integer_value!(i32, i64, u8, u32, u64, usize);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

/// Which lengths disagreed, in [`Error::DimensionMismatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dimension {
    /// The number of parameter tensors passed to `step`.
    ParameterCount,
    /// The number of gradient tensors passed to `step`.
    GradientCount,
    /// The number of previous-point gradient tensors (ALIAS same-sample mode).
    PreviousPointGradientCount,
    /// The length of parameter tensor `tensor`.
    Parameter {
        /// Index in the parameter list.
        tensor: usize,
    },
    /// The length of gradient tensor `tensor`.
    Gradient {
        /// Index in the gradient list.
        tensor: usize,
    },
    /// The length of previous-point gradient tensor `tensor`.
    PreviousPointGradient {
        /// Index in the list.
        tensor: usize,
    },
    /// Another length, named (a problem's point or buffer, a dataset's labels, …).
    Named(&'static str),
}

impl From<&'static str> for Dimension {
    fn from(what: &'static str) -> Self {
        Dimension::Named(what)
    }
}

impl std::fmt::Display for Dimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dimension::ParameterCount => f.write_str("number of parameter tensors"),
            Dimension::GradientCount => f.write_str("number of gradient tensors"),
            Dimension::PreviousPointGradientCount => {
                f.write_str("number of previous-point gradient tensors")
            }
            Dimension::Parameter { tensor } => write!(f, "parameter tensor {tensor}"),
            Dimension::Gradient { tensor } => write!(f, "gradient tensor {tensor}"),
            Dimension::PreviousPointGradient { tensor } => {
                write!(f, "previous-point gradient tensor {tensor}")
            }
            Dimension::Named(what) => f.write_str(what),
        }
    }
}

/// Why a framework tensor cannot be trained, in [`Error::Tensor`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TensorProblem {
    /// The var's element type is not the optimizer's.
    #[error("is {found}; this optimizer trains {expected} vars")]
    Dtype {
        /// The var's element type.
        found: &'static str,
        /// The optimizer's.
        expected: &'static str,
    },
    /// The var is not in host memory (the in-place adapter needs CPU storage).
    #[error("is not on the CPU")]
    NotOnCpu,
    /// Two vars share one storage (e.g. two views of one tensor).
    #[error("shares its storage with another var; each trained var must own its storage")]
    SharedStorage,
    /// A var of the trained set has no gradient at this step.
    #[error("has no gradient, but it had one at the first step (the trained set)")]
    MissingGradient,
    /// The gradient's dtype, shape or device differs from the var's.
    #[error(
        "gradient is {found_dtype} {found_shape:?} (on the CPU: {on_cpu}), the var is {dtype} {shape:?}"
    )]
    GradientMismatch {
        /// The var's dtype.
        dtype: &'static str,
        /// The var's shape.
        shape: Vec<usize>,
        /// The gradient's dtype.
        found_dtype: &'static str,
        /// The gradient's shape.
        found_shape: Vec<usize>,
        /// Whether the gradient is in host memory (always `true` from burn, whose adapter
        /// reads every device's tensors to the host).
        on_cpu: bool,
    },
    /// The gradient shares its storage with a trained var.
    #[error("gradient shares its storage with a trained var")]
    GradientAliasesVar,
    /// The storage is not laid out as one contiguous run of the expected element type.
    #[error("{0} storage is not contiguous host memory of the var's dtype")]
    Storage(&'static str),
    /// The backend could not read the tensor to host memory (burn).
    #[error("{what} could not be read to host memory: {message}")]
    Unreadable {
        /// `"parameter"` or `"gradient"`.
        what: &'static str,
        /// The backend's message.
        message: String,
    },
}

/// Shorthand for `Result<T, signfree::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(
        owner: &'static str,
        parameter: &'static str,
        value: impl Into<Value>,
        expected: &'static str,
    ) -> Self {
        Error::InvalidParameter {
            owner,
            parameter,
            value: value.into(),
            expected,
        }
    }

    /// Whether this error means the numbers of a run left what the element type can hold or the
    /// method can apply (a NaN or infinite gradient or loss, a gradient or step out of range):
    /// the run diverged, as opposed to a wrong call. Training loops can stop a run on it.
    pub fn is_divergence(&self) -> bool {
        matches!(
            self,
            Error::NonFiniteGradient { .. }
                | Error::NonFiniteLoss { .. }
                | Error::GradientOutOfRange { .. }
                | Error::StepOutOfRange { .. }
        )
    }
}
