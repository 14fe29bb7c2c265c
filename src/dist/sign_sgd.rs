//! Majority-vote Sign-SGD and Signum with a scheduled stepsize.

use super::{Communicator, FLAG, LEN, STEP, SignVote, Traffic, agree, layout_fingerprint};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{Backend, Kernels};
use crate::optim::sign_sgd::{SignSgd, SignSgdConfig, SignSgdState};
use crate::optimizer::{Estimates, Optimizer, Stateful, StepReport, check_step_inputs};
use crate::optimizer::{LrMultiplier, check_decay, check_step_value, lr_multiplier_methods};

const OWNER: &str = "DistSignSgd";
const SLOTS: usize = 3;

/// Majority-vote Sign-SGD / Signum: `x_{t+1} = x_t − γ_t·vote_m(sign(u^m_t))` with
/// `u^m = g^m` (Sign-SGD) or this rank's momentum `m^m_t = β m^m_{t−1} + (1 − β) g^m_t`
/// (Signum), `γ_t = lr · schedule(t)`, optional decoupled weight decay `x ← x(1 − γ_t·wd)`.
///
/// The configuration is [`SignSgdConfig`]; with `M = 1` this is [`crate::SignSgd`] bit for bit.
/// Each step first exchanges an error flag and the step index (three scalars), then runs the
/// vote ([`SignVote`]). All ranks must start from the same `x_0`.
///
/// # Example
///
/// ```
/// use signfree::dist::{Communicator, DistSignSgd, LocalCommunicator};
/// use signfree::{Optimizer, SignSgdConfig};
///
/// let c = [[1.0, -2.0], [2.0, -1.0], [3.0, 0.0]];
/// let x = LocalCommunicator::run(3, |comm| {
///     let c = c[comm.rank()];
///     let config = SignSgdConfig { lr: 0.01, ..Default::default() };
///     let mut opt = DistSignSgd::<f64, _>::new(config, &[2], comm).unwrap();
///     let mut x = vec![0.0; 2];
///     for _ in 0..400 {
///         let g = [x[0] - c[0], x[1] - c[1]];
///         opt.step_flat(&mut x, &g, None).unwrap();
///     }
///     x
/// });
/// assert!(x.iter().all(|xi| *xi == x[0]));
/// assert!((x[0][0] - 2.0).abs() < 0.02 && (x[0][1] + 1.0).abs() < 0.02); // the median
/// ```
///
/// # Errors
///
/// [`DistSignSgd::new`]: as [`crate::SignSgd::new`]. [`Optimizer::step`]: the rank with bad
/// input returns its own error ([`Error::DimensionMismatch`], [`Error::NonFiniteGradient`],
/// [`Error::NonFiniteLoss`]), the others [`Error::Communication`]; nothing changes anywhere.
///
/// # References
///
/// J. Bernstein, J. Zhao, K. Azizzadenesheli, A. Anandkumar, "signSGD with Majority Vote is
/// Communication Efficient and Fault Tolerant", ICLR 2019, arXiv:1810.05291 (the method; each
/// worker votes with the sign of its own momentum). The wire protocol is this crate's.
///
/// [`StepReport::estimates`](crate::StepReport::estimates): `schedule_factor`.
#[derive(Debug)]
pub struct DistSignSgd<F: Float, C: Communicator> {
    config: SignSgdConfig,
    layout: Vec<usize>,
    comm: C,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
    state: SignSgdState<F>,
    vote: SignVote,
    /// The vote (and, with momentum, the new momentum) before it is applied.
    next_vote: Vec<Vec<F>>,
    next_momentum: Vec<Vec<F>>,
    gathered: Vec<f64>,
    traffic: Traffic,
}

impl<F: Float, C: Communicator> DistSignSgd<F, C> {
    /// Builds the optimizer on every rank with the same configuration and layout.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn new(config: SignSgdConfig, layout: &[usize], comm: C) -> Result<Self> {
        config.validate::<F>(OWNER, layout)?;
        let buffers = || layout.iter().map(|&n| vec![F::ZERO; n]).collect::<Vec<_>>();
        let momentum = || {
            if config.momentum.is_some() {
                buffers()
            } else {
                Vec::new()
            }
        };
        let kernels = Kernels::detect();
        Ok(Self {
            vote: SignVote::with_kernels(&comm, layout, kernels)?,
            gathered: vec![0.0; SLOTS * comm.size()],
            state: SignSgdState {
                step: 0,
                momentum: momentum(),
            },
            next_momentum: momentum(),
            next_vote: buffers(),
            layout: layout.to_vec(),
            config,
            comm,
            kernels,
            traffic: Traffic::default(),
            lr_multiplier: LrMultiplier::default(),
        })
    }

    /// Forces a kernel backend. Errors if this CPU cannot run it.
    pub fn with_backend(mut self, backend: Backend) -> Result<Self> {
        self.kernels = Kernels::new(backend)?.with_threads(self.kernels.threads());
        self.vote = SignVote::with_kernels(&self.comm, &self.layout, self.kernels)?;
        Ok(self)
    }

    /// Uses at most `threads` threads per kernel call (`0`: the available parallelism, the
    /// default; `1`: this thread only). Reductions are split in chunks per thread, so results are
    /// bit-identical across machines only for the same backend *and* thread count (see the
    /// README's reproducibility notes).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.kernels = self.kernels.with_threads(threads);
        self.vote.set_kernels(self.kernels);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SignSgdConfig {
        &self.config
    }

    /// The communicator.
    pub fn communicator(&self) -> &C {
        &self.comm
    }

    /// Bytes this rank sent in the last step.
    pub fn last_traffic(&self) -> Traffic {
        self.traffic
    }
}

impl<F: Float, C: Communicator> Optimizer<F> for DistSignSgd<F, C> {
    fn step(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<StepReport> {
        let t = self.state.step;
        let (rank, size) = (self.comm.rank(), self.comm.size());
        let comm_err = |kind| Error::Communication {
            step: t,
            rank,
            size,
            kind,
        };
        // The stepsize is checked with the inputs, so that every rank agrees on a failure.
        let factor = self.config.schedule.factor(t);
        let gamma = self.config.lr * self.lr_multiplier.get() * factor;
        let local = check_step_inputs(&self.kernels, &self.layout, params, grads, loss, t)
            .and_then(|()| check_step_value(t, "Sign-SGD stepsize", gamma, F::MAX / 2.0))
            .and_then(|()| check_decay(t, gamma, self.config.weight_decay));
        let out = [
            f64::from(u8::from(local.is_err())),
            t as f64,
            layout_fingerprint(OWNER, &self.layout),
        ];
        debug_assert_eq!((FLAG, STEP, LEN), (0, 1, 2));
        self.comm
            .all_gather_f64(&out, &mut self.gathered)
            .map_err(comm_err)?;
        self.traffic = Traffic {
            scalars: ((size - 1) * SLOTS * 8) as u64,
            ..Traffic::default()
        };
        agree(&self.gathered, SLOTS, local.err(), t, rank, size)?;

        match self.config.momentum {
            None => {
                for (k, g) in grads.iter().enumerate() {
                    self.vote.pack(k, g);
                }
            }
            Some(beta) => {
                let (b, omb) = (F::from_f64(beta), F::from_f64(1.0 - beta));
                for (k, ((next, m), g)) in self
                    .next_momentum
                    .iter_mut()
                    .zip(&self.state.momentum)
                    .zip(grads)
                    .enumerate()
                {
                    // The same expression as the single-node momentum kernel.
                    for ((n, &mi), &gi) in next.iter_mut().zip(m).zip(g.iter()) {
                        *n = b * mi + omb * gi;
                    }
                    self.vote.pack(k, next);
                }
            }
        }
        let vote_traffic = self.vote.exchange(&self.comm).map_err(comm_err)?;
        self.traffic.add(vote_traffic);

        let decay = F::from_f64(1.0 - gamma * self.config.weight_decay);
        let gamma_f = F::from_f64(gamma);
        for (k, (x, v)) in params.iter_mut().zip(&mut self.next_vote).enumerate() {
            self.vote.unpack(k, v);
            self.kernels.sign_step(x, v, gamma_f, decay);
        }
        std::mem::swap(&mut self.state.momentum, &mut self.next_momentum);
        self.state.step = t + 1;
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

    lr_multiplier_methods!(OWNER);

    fn name(&self) -> &'static str {
        if self.config.momentum.is_some() {
            "majority-vote Signum"
        } else {
            "majority-vote Sign-SGD"
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

impl<F: Float, C: Communicator> Stateful for DistSignSgd<F, C> {
    type State = SignSgdState<F>;

    fn state(&self) -> &SignSgdState<F> {
        &self.state
    }

    /// Restores this rank's state (every rank restores its own, saved at the same step; the next
    /// step's agreement refuses ranks whose step counters differ). The state and its checks are
    /// [`crate::SignSgd`]'s: the momentum is this rank's.
    fn set_state(&mut self, state: SignSgdState<F>) -> Result<()> {
        Self::check_state(&self.config, &self.layout, &state)?;
        self.state = state;
        Ok(())
    }
}

impl<F: Float, C: Communicator> DistSignSgd<F, C> {
    /// Checks a state against a configuration and layout without building the optimizer (the
    /// single-node [`crate::SignSgd`]'s checks).
    pub(crate) fn check_state(
        config: &SignSgdConfig,
        layout: &[usize],
        state: &SignSgdState<F>,
    ) -> Result<()> {
        SignSgd::<F>::check_state(config, layout, state)
    }
}
