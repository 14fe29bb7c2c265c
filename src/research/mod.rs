//! Ideas beyond the paper (issue "Beyond the paper"), each behind its own type or option so the
//! paper-exact methods stay unchanged. Results and verdicts are in `docs/RESEARCH.md`.
//!
//! - R1/R3: [`GradientScaledStart`], ALIAS started from the first gradient's scale;
//! - R4: the known-horizon cosine decay, [`crate::AliasRule::horizon`] (any ALIAS variant);
//! - R5: [`DistanceSign`], sign momentum scaled by an ℓ∞ distance estimate.

mod distance;
mod gradient_scaled;

pub use distance::{DistanceSign, DistanceSignConfig, DistanceSignState};
pub use gradient_scaled::{GradientScaledStart, GradientScaledStartConfig};
