//! Stepsize schedules for Sign-SGD (`docs/ALGORITHMS.md` §1).

use crate::error::{Error, Result};

/// A multiplier on the base stepsize as a function of the step index `t` (counted from 0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Schedule {
    /// `γ_t = γ_0`.
    #[default]
    Constant,
    /// `γ_t = γ_0 / sqrt(t + 1)`.
    InverseSqrt,
    /// The reference code's schedule: linear warm-up `t / warmup_steps` for
    /// `t < warmup_steps`, then cosine decay to a floor of 0.1:
    /// `0.1 + 0.9 · ½ (1 + cos(π (t − w) / (T − w)))`, held at 0.1 for `t ≥ T`.
    WarmupCosine {
        /// `w`, the number of warm-up steps (may be 0).
        warmup_steps: u64,
        /// `T`, the step at which the cosine reaches its floor; must exceed `w`.
        total_steps: u64,
    },
    /// Cosine decay to zero over a known horizon `T`: `½ (1 + cos(π t / T))` for `t < T`, 0 from
    /// `T` on (the "cosine decay to zero" of tuned baselines).
    Cosine {
        /// `T ≥ 1`, the horizon.
        total_steps: u64,
    },
}

impl Schedule {
    /// Checks the schedule's own parameters.
    pub fn validate(&self, owner: &'static str) -> Result<()> {
        if let Schedule::WarmupCosine {
            warmup_steps,
            total_steps,
        } = *self
            && total_steps <= warmup_steps
        {
            return Err(Error::invalid(
                owner,
                "schedule.total_steps",
                total_steps,
                "an integer > schedule.warmup_steps",
            ));
        }
        if let Schedule::Cosine { total_steps: 0 } = *self {
            return Err(Error::invalid(
                owner,
                "schedule.total_steps",
                0,
                "an integer >= 1",
            ));
        }
        Ok(())
    }

    /// The multiplier at step `t`.
    ///
    /// ```
    /// use signfree::Schedule;
    /// let s = Schedule::WarmupCosine { warmup_steps: 10, total_steps: 110 };
    /// assert_eq!(s.factor(5), 0.5);
    /// assert_eq!(s.factor(10), 1.0);
    /// assert!((s.factor(60) - 0.55).abs() < 1e-15);
    /// assert_eq!(s.factor(500), 0.1);
    /// ```
    pub fn factor(&self, t: u64) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::InverseSqrt => 1.0 / ((t as f64) + 1.0).sqrt(),
            Schedule::WarmupCosine {
                warmup_steps: w,
                total_steps: total,
            } => {
                if t < w {
                    t as f64 / w as f64
                } else if t >= total {
                    0.1
                } else {
                    let progress = (t - w) as f64 / (total - w) as f64;
                    0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
                }
            }
            Schedule::Cosine { total_steps: total } => {
                if t >= total {
                    0.0
                } else {
                    0.5 * (1.0 + (std::f64::consts::PI * t as f64 / total as f64).cos())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_sqrt_values() {
        let s = Schedule::InverseSqrt;
        assert_eq!(s.factor(0), 1.0);
        assert_eq!(s.factor(3), 0.5);
    }

    #[test]
    fn warmup_cosine_is_continuous_and_monotone_after_warmup() {
        let s = Schedule::WarmupCosine {
            warmup_steps: 4,
            total_steps: 20,
        };
        assert_eq!(s.factor(0), 0.0);
        assert_eq!(s.factor(4), 1.0);
        let mut prev = 1.0;
        for t in 5..=20 {
            let f = s.factor(t);
            assert!(f < prev && f >= 0.1, "t = {t}: {f}");
            prev = f;
        }
        assert!((s.factor(19) - 0.1).abs() < 0.01);
    }

    #[test]
    fn cosine_decays_from_one_to_zero() {
        let s = Schedule::Cosine { total_steps: 8 };
        assert_eq!(s.factor(0), 1.0);
        assert!((s.factor(4) - 0.5).abs() < 1e-15);
        // ½(1 + cos(7π/8)) = ½(1 − cos(π/8)).
        let last = 0.5 * (1.0 - (std::f64::consts::PI / 8.0).cos());
        assert!((s.factor(7) - last).abs() < 1e-15);
        assert_eq!(s.factor(8), 0.0);
        assert!(
            Schedule::Cosine { total_steps: 0 }
                .validate("SignSgd")
                .is_err()
        );
    }

    #[test]
    fn rejects_total_not_after_warmup() {
        let s = Schedule::WarmupCosine {
            warmup_steps: 5,
            total_steps: 5,
        };
        assert!(matches!(
            s.validate("SignSgd"),
            Err(Error::InvalidParameter {
                parameter: "schedule.total_steps",
                ..
            })
        ));
    }
}
