//! Problems: LIBSVM data, logistic regression, non-linear least squares, synthetic tests.

pub mod bundled;
pub mod libsvm;
mod linear;
pub mod logistic;
pub mod nllsq;
pub mod synthetic;
