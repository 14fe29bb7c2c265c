//! The passes over parameter-sized vectors that every optimizer is made of.
//!
//! [`scalar`] is the specification: plain loops whose results define what every faster backend
//! must reproduce. Optimizers call the kernels through this module only, so a faster backend
//! plugs in here without touching any algorithm.

pub mod scalar;

/// Which implementation of the kernels ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Portable loops (the reference semantics).
    Scalar,
}

impl Backend {
    /// The backend used on this machine.
    pub fn detect() -> Self {
        Backend::Scalar
    }
}

pub use scalar::{first_non_finite, sign};
