//! Sign-SGD and Signum with a scheduled stepsize: the tuned baseline.

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::float::Float;
use crate::kernels::{Backend, Kernels};
use crate::optimizer::{
    Estimates, Optimizer, StepReport, check_fits, check_layout, check_range, check_step_inputs,
    check_step_value,
};
use crate::optimizer::{LrMultiplier, check_decay, lr_multiplier_methods, method};
use crate::schedule::Schedule;
use crate::state::{check_buffers, check_counter, check_values};

/// Configuration of [`SignSgd`]. Build with struct-update syntax over [`Default`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SignSgdConfig {
    /// `γ_0`, the base stepsize (default 1e-3). Sign-SGD needs it tuned; see the ALIAS and SOS
    /// methods for ways around that.
    pub lr: f64,
    /// Multiplier on `lr` per step (default constant).
    pub schedule: Schedule,
    /// `β` for Signum momentum `m_t = β m_{t−1} + (1 − β) g_t`, direction `sign(m_t)`;
    /// `None` (default) is plain Sign-SGD and keeps no buffer.
    pub momentum: Option<f64>,
    /// Decoupled weight decay `wd`: `x ← x (1 − γ_t·wd)` before the sign step (default 0).
    pub weight_decay: f64,
}

impl SignSgdConfig {
    /// Checks every setting for element type `F` and the layout, naming `owner` in errors (shared
    /// by [`SignSgd`] and the distributed [`crate::DistSignSgd`]).
    pub(crate) fn validate<F: Float>(&self, owner: &'static str, layout: &[usize]) -> Result<()> {
        check_range(owner, "lr", self.lr, self.lr > 0.0, "a finite number > 0")?;
        check_fits::<F>(owner, "lr", self.lr)?;
        check_layout::<F>(owner, layout)?;
        if let Some(beta) = self.momentum {
            check_range(
                owner,
                "momentum",
                beta,
                (0.0..1.0).contains(&beta),
                "a number in [0, 1)",
            )?;
        }
        let wd = self.weight_decay;
        check_range(
            owner,
            "weight_decay",
            wd,
            wd >= 0.0 && self.lr * wd < 1.0,
            "a finite number >= 0 with lr * weight_decay < 1",
        )?;
        self.schedule.validate(owner)
    }
}

impl Default for SignSgdConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            schedule: Schedule::Constant,
            momentum: None,
            weight_decay: 0.0,
        }
    }
}

/// Everything in a [`SignSgd`] that changes between steps.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SignSgdState<F> {
    /// `t`, the number of steps taken.
    pub step: u64,
    /// `m`, the Signum momentum buffer per tensor (empty without momentum).
    pub momentum: Vec<Vec<F>>,
}

/// Sign-SGD: `x_{t+1} = x_t − γ_t sign(g_t)` (`docs/ALGORITHMS.md` §1), optionally with Signum momentum
/// and decoupled weight decay.
///
/// # Update rule
///
/// With `γ_t = lr · schedule(t)`:
/// 1. if `weight_decay > 0`: `x ← x (1 − γ_t·wd)`;
/// 2. without momentum `x ← x − γ_t sign(g_t)`; with momentum
///    `m_t = β m_{t−1} + (1 − β) g_t` (starting from `m = 0`) and `x ← x − γ_t sign(m_t)`.
///
/// `sign(±0) = 0`: a coordinate with a zero gradient does not move.
///
/// # Needs from the problem
///
/// A gradient only; the loss is never needed.
///
/// # Example
///
/// ```
/// use signfree::{Optimizer, SignSgd, SignSgdConfig, Schedule};
///
/// // Minimise ½‖x − c‖² with a decaying stepsize.
/// let c = [1.0_f64, -2.0, 0.5];
/// let mut x = vec![0.0_f64; 3];
/// let config = SignSgdConfig { lr: 0.5, schedule: Schedule::InverseSqrt, ..Default::default() };
/// let mut opt = SignSgd::<f64>::new(config, &[3])?;
/// for _ in 0..2000 {
///     let g: Vec<f64> = x.iter().zip(&c).map(|(xi, ci)| xi - ci).collect();
///     opt.step_flat(&mut x, &g, None)?;
/// }
/// for (xi, ci) in x.iter().zip(&c) {
///     assert!((xi - ci).abs() < 0.02);
/// }
/// # Ok::<(), signfree::Error>(())
/// ```
///
/// # Errors
///
/// [`SignSgd::new`]: [`Error::InvalidParameter`] for `lr` not finite, ≤ 0 or above `F::MAX / 2`, `momentum`
/// outside `[0, 1)`, `weight_decay` negative or with `lr·weight_decay ≥ 1`, or an invalid
/// schedule. [`Optimizer::step`]: [`Error::DimensionMismatch`], [`Error::NonFiniteGradient`],
/// [`Error::NonFiniteLoss`]; nothing changes when it fails.
///
/// # References
///
/// - J. Bernstein, Y.-X. Wang, K. Azizzadenesheli, A. Anandkumar, "signSGD: Compressed
///   Optimisation for Non-Convex Problems", ICML 2018, arXiv:1802.04434.
/// - D. Medyakov et al., "Sign-SGD is the Golden Gate between Multi-Node to Single-Node
///   Learning", arXiv:2506.03725 (Algorithm 1).
///
/// [`StepReport::estimates`](crate::StepReport::estimates): `schedule_factor`.
#[derive(Debug, Clone)]
pub struct SignSgd<F: Float> {
    config: SignSgdConfig,
    layout: Vec<usize>,
    state: SignSgdState<F>,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
}

impl<F: Float> SignSgd<F> {
    /// Builds the optimizer for tensors of the given lengths, validating the configuration.
    pub fn new(config: SignSgdConfig, layout: &[usize]) -> Result<Self> {
        config.validate::<F>("SignSgd", layout)?;
        let momentum = match config.momentum {
            Some(_) => layout.iter().map(|&n| vec![F::ZERO; n]).collect(),
            None => Vec::new(),
        };
        Ok(Self {
            config,
            layout: layout.to_vec(),
            state: SignSgdState { step: 0, momentum },
            kernels: Kernels::detect(),
            lr_multiplier: LrMultiplier::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SignSgdConfig {
        &self.config
    }

    /// Forces a kernel backend (e.g. [`Backend::Scalar`] for bit-reproducible runs across
    /// machines). Errors if this CPU cannot run it.
    pub fn with_backend(mut self, backend: Backend) -> Result<Self> {
        self.kernels = Kernels::new(backend)?.with_threads(self.kernels.threads());
        Ok(self)
    }

    /// Uses at most `threads` threads per kernel call (`0`: the available parallelism, the
    /// default; `1`: this thread only). Reductions are split in chunks per thread, so results are
    /// bit-identical across machines only for the same backend *and* thread count (see the
    /// README's reproducibility notes).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.kernels = self.kernels.with_threads(threads);
        self
    }
}

impl<F: Float> Optimizer<F> for SignSgd<F> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        let t = self.state.step;
        check_step_inputs(&self.kernels, &self.layout, params, grads, loss, t)?;
        let factor = self.config.schedule.factor(t);
        let gamma = self.config.lr * self.lr_multiplier.get() * factor;
        // The configuration was checked in `new`; an outer multiplier may still scale the
        // stepsize past what F holds or what the weight decay allows.
        check_step_value(t, "Sign-SGD stepsize", gamma, F::MAX / 2.0)?;
        check_decay(t, gamma, self.config.weight_decay)?;
        let decay = F::from_f64(1.0 - gamma * self.config.weight_decay);
        let gamma_f = F::from_f64(gamma);
        match self.config.momentum {
            None => {
                for (x, g) in params.iter_mut().zip(grads) {
                    self.kernels.sign_step(x, g, gamma_f, decay);
                }
            }
            Some(beta) => {
                let (b, omb) = (F::from_f64(beta), F::from_f64(1.0 - beta));
                for ((x, m), g) in params.iter_mut().zip(&mut self.state.momentum).zip(grads) {
                    self.kernels
                        .momentum_sign_step(x, m, g, b, omb, gamma_f, decay);
                }
            }
        }
        self.state.step += 1;
        Ok(StepReport {
            step: t,
            stepsize: gamma,
            backend: self.kernels.backend(),
            estimates: Estimates::new().number("schedule_factor", factor),
        })
    }

    fn layout(&self) -> &[usize] {
        &self.layout
    }

    fn steps_taken(&self) -> u64 {
        self.state.step
    }

    lr_multiplier_methods!("SignSgd");

    fn name(&self) -> &'static str {
        if self.config.momentum.is_some() {
            "Signum"
        } else {
            "Sign-SGD"
        }
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        if self.config.momentum.is_some() {
            F::BYTES as f64
        } else {
            0.0
        }
    }
}

method!(SignSgd, SignSgdConfig, SignSgdState, "SignSgd");

impl<F: Float> SignSgd<F> {
    /// Checks a state against a configuration and layout without building the optimizer.
    pub(crate) fn check_state(
        config: &SignSgdConfig,
        layout: &[usize],
        state: &SignSgdState<F>,
    ) -> Result<()> {
        check_counter(state.step)?;
        check_buffers(
            "momentum buffers do not match the layout and momentum setting",
            layout,
            &state.momentum,
            config.momentum.is_some(),
        )?;
        check_values("momentum values must be finite", &state.momentum, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::optimizer::Stateful;

    fn opt(config: SignSgdConfig, layout: &[usize]) -> SignSgd<f64> {
        SignSgd::new(config, layout).unwrap()
    }

    #[test]
    fn one_step_by_hand() {
        let mut o = opt(
            SignSgdConfig {
                lr: 0.1,
                ..Default::default()
            },
            &[4],
        );
        let mut x = [1.0, 2.0, 3.0, 4.0];
        let r = o.step_flat(&mut x, &[2.0, -0.5, 0.0, -0.0], None).unwrap();
        assert_eq!(x, [0.9, 2.1, 3.0, 4.0]);
        assert_eq!((r.step, r.stepsize), (0, 0.1));
    }

    #[test]
    fn weight_decay_then_sign_by_hand() {
        // γ = 0.5, wd = 0.2: x ← x·0.9 − 0.5·sign(g).
        let cfg = SignSgdConfig {
            lr: 0.5,
            weight_decay: 0.2,
            ..Default::default()
        };
        let mut o = opt(cfg, &[2]);
        let mut x = [2.0, -4.0];
        o.step_flat(&mut x, &[1.0, 0.0], None).unwrap();
        assert_eq!(x, [2.0 * 0.9 - 0.5, -4.0 * 0.9]);
    }

    #[test]
    fn signum_two_steps_by_hand() {
        // β = 0.9. Step 0: m = 0.1·g0 = [0.1, -0.2]  → x = [-0.1, 0.1].
        // Step 1: g1 = [-3, 1]: m = 0.9·[0.1, -0.2] + 0.1·[-3, 1] = [-0.21, -0.08]
        //         → sign = [-1, -1], x = [0, 0.2].
        let cfg = SignSgdConfig {
            lr: 0.1,
            momentum: Some(0.9),
            ..Default::default()
        };
        let mut o = opt(cfg, &[2]);
        let mut x = [0.0, 0.0];
        o.step_flat(&mut x, &[1.0, -2.0], None).unwrap();
        assert_eq!(x, [-0.1, 0.1]);
        o.step_flat(&mut x, &[-3.0, 1.0], None).unwrap();
        assert_eq!(x, [0.0, 0.2]);
        assert!((o.state().momentum[0][0] - -0.21).abs() < 1e-15);
        assert!((o.state().momentum[0][1] - -0.08).abs() < 1e-15);
    }

    #[test]
    fn schedule_sets_stepsize() {
        let cfg = SignSgdConfig {
            lr: 1.0,
            schedule: Schedule::InverseSqrt,
            ..Default::default()
        };
        let mut o = opt(cfg, &[1]);
        let mut x = [0.0];
        let sizes: Vec<f64> = (0..4)
            .map(|_| o.step_flat(&mut x, &[1.0], None).unwrap().stepsize)
            .collect();
        assert_eq!(sizes, [1.0, 1.0 / 2f64.sqrt(), 1.0 / 3f64.sqrt(), 0.5]);
    }

    #[test]
    fn several_tensors_share_one_stepsize() {
        let mut o = opt(
            SignSgdConfig {
                lr: 0.25,
                ..Default::default()
            },
            &[2, 1],
        );
        let (mut a, mut b) = ([0.0, 0.0], [1.0]);
        o.step(&mut [&mut a, &mut b], &[&[1.0, -1.0], &[5.0]], None)
            .unwrap();
        assert_eq!((a, b), ([-0.25, 0.25], [0.75]));
    }

    #[test]
    fn invalid_configs_name_the_parameter() {
        let cases = [
            (
                SignSgdConfig {
                    lr: 0.0,
                    ..Default::default()
                },
                "lr",
            ),
            (
                SignSgdConfig {
                    lr: f64::NAN,
                    ..Default::default()
                },
                "lr",
            ),
            (
                SignSgdConfig {
                    momentum: Some(1.0),
                    ..Default::default()
                },
                "momentum",
            ),
            (
                SignSgdConfig {
                    weight_decay: -1.0,
                    ..Default::default()
                },
                "weight_decay",
            ),
            (
                SignSgdConfig {
                    lr: 1.0,
                    weight_decay: 1.0,
                    ..Default::default()
                },
                "weight_decay",
            ),
        ];
        for (cfg, name) in cases {
            match SignSgd::<f32>::new(cfg, &[1]) {
                Err(Error::InvalidParameter {
                    owner: "SignSgd",
                    parameter,
                    ..
                }) => {
                    assert_eq!(parameter, name)
                }
                other => panic!("expected InvalidParameter({name}), got {other:?}"),
            }
        }
    }

    #[test]
    fn failed_step_changes_nothing() {
        let cfg = SignSgdConfig {
            lr: 0.1,
            momentum: Some(0.5),
            ..Default::default()
        };
        let mut o = SignSgd::<f32>::new(cfg, &[2, 2]).unwrap();
        let (mut a, mut b) = ([1.0_f32, 2.0], [3.0_f32, 4.0]);
        o.step(&mut [&mut a, &mut b], &[&[1.0, 1.0], &[1.0, 1.0]], None)
            .unwrap();
        let before = (a, b, o.state().clone());
        let bad: [(&[f32], &[f32], Option<f64>); 4] = [
            (&[1.0, 1.0], &[f32::NAN, 1.0], None),
            (&[1.0, 1.0], &[1.0, f32::INFINITY], None),
            (&[1.0, 1.0], &[1.0], None),
            (&[1.0, 1.0], &[1.0, 1.0], Some(f64::NAN)),
        ];
        for (ga, gb, loss) in bad {
            let err = o.step(&mut [&mut a, &mut b], &[ga, gb], loss).unwrap_err();
            assert!(matches!(
                err,
                Error::NonFiniteGradient {
                    step: 1,
                    tensor: 1,
                    ..
                } | Error::DimensionMismatch { .. }
                    | Error::NonFiniteLoss { step: 1, .. }
            ));
            assert_eq!((a, b, o.state().clone()), before);
        }
    }
}
