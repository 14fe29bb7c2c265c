//! The passes over parameter-sized vectors that every optimizer is made of.
//!
//! [`scalar`] is the specification: plain loops whose results define what every faster backend
//! must reproduce. Optimizers call the kernels only through [`Kernels`], which holds the backend
//! chosen once (detected at construction or forced), so a faster backend plugs in here without
//! touching any algorithm.

pub mod scalar;

pub use scalar::{AliasStats, first_non_finite, sign};

use crate::error::{Error, Result};
use crate::float::Float;

/// Which implementation of the kernels runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Portable loops (the reference semantics).
    Scalar,
}

impl Backend {
    /// The fastest backend this CPU supports.
    pub fn detect() -> Self {
        Backend::Scalar
    }

    /// Whether this CPU can run the backend.
    pub fn is_supported(self) -> bool {
        match self {
            Backend::Scalar => true,
        }
    }
}

/// The kernel entry points, bound to one backend chosen once.
///
/// ```
/// use signfree::kernels::{Backend, Kernels};
/// let k = Kernels::new(Backend::Scalar)?;
/// let mut x = [1.0_f32, 1.0];
/// k.sign_step(&mut x, &[2.0, -0.0], 0.5, 1.0);
/// assert_eq!(x, [0.5, 1.0]);
/// # Ok::<(), signfree::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels {
    backend: Backend,
}

impl Default for Kernels {
    fn default() -> Self {
        Self::detect()
    }
}

impl Kernels {
    /// The fastest backend on this CPU.
    pub fn detect() -> Self {
        Self {
            backend: Backend::detect(),
        }
    }

    /// A specific backend (e.g. [`Backend::Scalar`] for reproducibility across machines).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if this CPU cannot run it.
    pub fn new(backend: Backend) -> Result<Self> {
        if !backend.is_supported() {
            return Err(Error::invalid(
                "Kernels",
                "backend",
                format!("{backend:?}"),
                "a backend this CPU supports",
            ));
        }
        Ok(Self { backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// See [`scalar::first_non_finite`].
    pub fn first_non_finite<F: Float>(&self, v: &[F]) -> Option<usize> {
        scalar::first_non_finite(v)
    }

    /// See [`scalar::sign_step`].
    pub fn sign_step<F: Float>(&self, x: &mut [F], g: &[F], gamma: F, decay: F) {
        scalar::sign_step(x, g, gamma, decay)
    }

    /// See [`scalar::momentum_sign_step`].
    #[allow(clippy::too_many_arguments)]
    pub fn momentum_sign_step<F: Float>(
        &self,
        x: &mut [F],
        m: &mut [F],
        g: &[F],
        beta: F,
        one_minus_beta: F,
        gamma: F,
        decay: F,
    ) {
        scalar::momentum_sign_step(x, m, g, beta, one_minus_beta, gamma, decay)
    }

    /// See [`scalar::alias_stats`].
    pub fn alias_stats<F: Float>(&self, g: &[F], prev: &[F], dir: &[F]) -> AliasStats {
        scalar::alias_stats(g, prev, dir)
    }

    /// See [`scalar::sign_step_store`].
    pub fn sign_step_store<F: Float>(
        &self,
        x: &mut [F],
        g: &[F],
        store: &mut [F],
        gamma: F,
        decay: F,
    ) -> f64 {
        scalar::sign_step_store(x, g, store, gamma, decay)
    }

    /// See [`scalar::momentum_sign_step_store`].
    #[allow(clippy::too_many_arguments)]
    pub fn momentum_sign_step_store<F: Float>(
        &self,
        x: &mut [F],
        m: &mut [F],
        g: &[F],
        store: &mut [F],
        beta: F,
        one_minus_beta: F,
        gamma: F,
        decay: F,
    ) -> f64 {
        scalar::momentum_sign_step_store(x, m, g, store, beta, one_minus_beta, gamma, decay)
    }

    /// See [`scalar::inf_norm`].
    pub fn inf_norm<F: Float>(&self, v: &[F]) -> f64 {
        scalar::inf_norm(v)
    }
}
