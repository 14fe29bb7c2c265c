//! Run diagnostics for tuning-free methods: warnings a user can act on when a run stalls or
//! diverges (issue 15).

use crate::optimizer::StepReport;

/// Settings of a [`Monitor`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorConfig {
    /// Weight of the previous value in the loss's running average `ℓ̄ ← w ℓ̄ + (1 − w) ℓ`
    /// (default 0.9: about ten steps, enough to see through minibatch noise).
    pub smoothing: f64,
    /// Steps after the first observed one at which [`Warning::Stalled`] is checked (default
    /// 100).
    pub patience: u64,
    /// The relative improvement that counts as a new best for the divergence check (default
    /// 1e-3).
    pub min_progress: f64,
    /// [`Warning::Diverging`] when the running average exceeds the best one by this fraction of
    /// its magnitude (default 0.5: 50% above the best).
    pub divergence: f64,
    /// [`Warning::Stalled`] when, `patience` steps into the run, the best running average is
    /// still within this fraction of the first loss (default 0.02: not even 2% below the start).
    /// A plateau after real progress looks the same as convergence under minibatch noise, so
    /// it is not reported.
    pub min_total_progress: f64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            smoothing: 0.9,
            patience: 100,
            min_progress: 1e-3,
            divergence: 0.5,
            min_total_progress: 0.02,
        }
    }
}

/// What a [`Monitor`] reports.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Warning {
    /// `patience` steps into the run (counted from step `since`, the first one observed) the
    /// smoothed loss has not got `min_total_progress` below the first loss; `best` is its best
    /// value. With a tuning-free stepsize this means the stepsize estimate is stuck far too
    /// small (paper-exact ALIAS on minibatches: `stepsize` between 1e-7 and 5e-7 throughout,
    /// the loss creeping down by 0.4% in 100 steps).
    Stalled {
        /// The step at which the warning fired.
        step: u64,
        /// The first step observed (the stall is measured from it).
        since: u64,
        /// The best smoothed loss.
        best: f64,
        /// The stepsize this step applied.
        stepsize: f64,
    },
    /// The smoothed loss is far above its best: the stepsize is too large for this model.
    Diverging {
        /// The step at which the warning fired.
        step: u64,
        /// The smoothed loss now.
        smoothed: f64,
        /// The best smoothed loss.
        best: f64,
        /// The stepsize this step applied.
        stepsize: f64,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Warning::Stalled {
                step,
                since,
                best,
                stepsize,
            } => write!(
                f,
                "step {step}: stalled, the smoothed loss is still near its value at step \
                 {since} (best {best:.4}, stepsize {stepsize:.2e})"
            ),
            Warning::Diverging {
                step,
                smoothed,
                best,
                stepsize,
            } => write!(
                f,
                "step {step}: smoothed loss {smoothed:.4} far above its best {best:.4} \
                 (stepsize {stepsize:.2e})"
            ),
        }
    }
}

/// Watches the losses and step reports of a run and warns, once per episode, when it stalls or
/// diverges. It keeps O(1) numbers and never changes the optimizer.
///
/// The checks use the running average of the loss, not single minibatch values, and compare it
/// with its own best value, so they need no knowledge of the loss's scale beyond its sign
/// (the divergence check is relative to `|best|`).
///
/// # Example
///
/// ```
/// use signfree::{Monitor, Warning};
/// use signfree::{Optimizer, SignSgd, SignSgdConfig};
/// // A stepsize far too small for f(x) = x²/2 from x = 1: the loss does not move.
/// let config = SignSgdConfig { lr: 1e-9, ..Default::default() };
/// let mut opt = SignSgd::<f64>::new(config, &[1])?;
/// let mut monitor = Monitor::default();
/// let mut x = [1.0];
/// let mut warned = None;
/// for _ in 0..300 {
///     let loss = 0.5 * x[0] * x[0];
///     let g = [x[0]];
///     let report = opt.step_flat(&mut x, &g, Some(loss))?;
///     warned = warned.or(monitor.observe(&report, loss));
/// }
/// assert!(matches!(warned, Some(Warning::Stalled { .. })), "{warned:?}");
/// # Ok::<(), signfree::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Monitor {
    config: MonitorConfig,
    smoothed: Option<f64>,
    first: f64,
    first_step: u64,
    best: f64,
    /// Whether the current episode has been reported (re-armed by progress).
    stalled_reported: bool,
    diverging_reported: bool,
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new(MonitorConfig::default())
    }
}

impl Monitor {
    /// A monitor with the given settings.
    pub fn new(config: MonitorConfig) -> Self {
        Self {
            config,
            smoothed: None,
            first: f64::NAN,
            first_step: 0,
            best: f64::INFINITY,
            stalled_reported: false,
            diverging_reported: false,
        }
    }

    /// The running average of the losses seen so far.
    pub fn smoothed_loss(&self) -> Option<f64> {
        self.smoothed
    }

    /// Records one step (its report and the loss at the point it started from) and returns a
    /// warning when the run has just stalled or started to diverge. A non-finite loss is
    /// ignored (the optimizers refuse such steps themselves).
    pub fn observe(&mut self, report: &StepReport, loss: f64) -> Option<Warning> {
        if !loss.is_finite() {
            return None;
        }
        let c = &self.config;
        let s = match self.smoothed {
            None => {
                self.first = loss;
                self.first_step = report.step;
                loss
            }
            Some(prev) => c.smoothing * prev + (1.0 - c.smoothing) * loss,
        };
        self.smoothed = Some(s);
        let step = report.step;
        if s < self.best - c.min_progress * self.best.abs() || self.best.is_infinite() {
            self.best = s;
            self.diverging_reported = false;
            return None;
        }
        if !self.diverging_reported && s > self.best + c.divergence * self.best.abs() {
            self.diverging_reported = true;
            return Some(Warning::Diverging {
                step,
                smoothed: s,
                best: self.best,
                stepsize: report.stepsize,
            });
        }
        let never_moved = self.best > self.first - c.min_total_progress * self.first.abs();
        if !self.stalled_reported && never_moved && step - self.first_step >= c.patience {
            self.stalled_reported = true;
            return Some(Warning::Stalled {
                step,
                since: self.first_step,
                best: self.best,
                stepsize: report.stepsize,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Backend;
    use crate::optimizer::Estimates;

    fn report(step: u64) -> StepReport {
        StepReport {
            step,
            stepsize: 1e-3,
            backend: Backend::Scalar,
            estimates: Estimates::new().number("schedule_factor", 1.0),
        }
    }

    #[test]
    fn progress_gives_no_warning() {
        let mut m = Monitor::default();
        for t in 0..1000 {
            assert_eq!(m.observe(&report(t), 10.0 / (1.0 + t as f64)), None);
        }
    }

    #[test]
    fn a_flat_loss_warns_once_after_the_patience() {
        let mut m = Monitor::default();
        let warnings: Vec<(u64, Warning)> = (0..500)
            .filter_map(|t| m.observe(&report(t), 4.0).map(|w| (t, w)))
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let (t, w) = warnings[0];
        assert_eq!(t, 100);
        assert!(matches!(w, Warning::Stalled { since: 0, best, .. } if best == 4.0));
    }

    /// Paper-exact ALIAS on the tiny LLaMA: the loss creeps down 0.4% in 100 steps, a new best
    /// every few steps, and is still a stall.
    #[test]
    fn a_creeping_loss_is_a_stall() {
        let mut m = Monitor::default();
        let warnings: Vec<Warning> = (0..400)
            .filter_map(|t| m.observe(&report(t), 4.17 - 1.7e-4 * t as f64))
            .collect();
        assert!(
            matches!(
                warnings[..],
                [Warning::Stalled {
                    step: 100,
                    since: 0,
                    ..
                }]
            ),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_plateau_after_progress_is_not_a_stall() {
        let mut m = Monitor::default();
        for t in 0..1000 {
            let loss = if t < 100 { 4.0 - t as f64 / 50.0 } else { 2.0 };
            assert_eq!(m.observe(&report(t), loss), None, "{t}");
        }
    }

    #[test]
    fn a_rising_loss_warns_of_divergence_and_progress_rearms() {
        let mut m = Monitor::default();
        // Falls to 1, then rises to 3: the running average passes 1.5 (50% above its best).
        let loss = |t: u64| if t < 50 { 2.0 - t as f64 / 50.0 } else { 3.0 };
        let first = (0..200).find_map(|t| m.observe(&report(t), loss(t)));
        let Some(Warning::Diverging { step, best, .. }) = first else {
            panic!("{first:?}")
        };
        // The running average lags the linear descent by about ten steps: its best is ≈ 1.2.
        assert!((50..60).contains(&step) && best < 1.25, "{step} {best}");
        // No repeat within the episode; new progress re-arms the check.
        assert!(
            (200..260)
                .all(|t| !matches!(m.observe(&report(t), 3.0), Some(Warning::Diverging { .. })))
        );
        for t in 260..400 {
            m.observe(&report(t), 0.1);
        }
        let again = (400..500).find_map(|t| m.observe(&report(t), 5.0));
        assert!(
            matches!(again, Some(Warning::Diverging { .. })),
            "{again:?}"
        );
        // Non-finite losses are ignored.
        assert_eq!(m.observe(&report(500), f64::NAN), None);
    }
}
