//! Distributed ALIAS Sign-SGD (Options D and F) with the majority vote.

use super::{Communicator, FLAG, LEN, STEP, SignVote, Traffic, agree, layout_fingerprint};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{Backend, Kernels};
use crate::optim::alias::{AliasRule, AliasScalars, AliasStepsize, Sample, check_step_shapes};
use crate::optimizer::{LrMultiplier, lr_multiplier_methods};
use crate::optimizer::{Optimizer, Stateful, StepReport, check_finite, check_layout, check_range};
use crate::state::{check_buffers, check_counter, check_values};

const OWNER: &str = "DistAliasSignSgd";

/// Scalar slots exchanged per rank and step: flag, step, layout, then ALIAS's own (the two
/// statistics, the loss and whether one was given, and `‖x‖_∞` when the probe may need it).
const A: usize = 3;
const B: usize = 4;
const LOSS: usize = 5;
const HAS_LOSS: usize = 6;
const X_INF: usize = 7;
const SLOTS: usize = 8;

/// Configuration of [`DistAliasSignSgd`]: the options distributed ALIAS supports (the rule,
/// with `update_gap = 1`, and decoupled weight decay). Momentum, sign-only memory and windowed
/// sampling are not defined for the vote yet.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DistAliasSignSgdConfig {
    /// The stepsize rule, as for [`crate::AliasSignSgd`] (`update_gap` must be 1).
    pub rule: AliasRule,
    /// Decoupled weight decay `x ← x(1 − γ_t·wd)` (default 0).
    pub weight_decay: f64,
}

impl DistAliasSignSgdConfig {
    /// Option F with lower bound `f_lower`, everything else default.
    pub fn option_f(f_lower: f64) -> Self {
        Self {
            rule: AliasRule::option_f(f_lower),
            ..Default::default()
        }
    }
}

/// Everything in a [`DistAliasSignSgd`] that changes between steps (identical on every rank
/// except `prev_grad`, which is the rank's own).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DistAliasSignSgdState<F> {
    /// `t`, the number of steps taken.
    pub step: u64,
    /// The stepsize rule's running scalars (identical on every rank).
    pub scalars: AliasScalars,
    /// `g^m_{t−1}`, this rank's previous gradient, per tensor.
    pub prev_grad: Vec<Vec<F>>,
    /// `v_{t−1}`, the previous applied vote (`+1`, `−1`, `0`), per tensor.
    pub prev_vote: Vec<Vec<F>>,
}

/// Distributed ALIAS Sign-SGD: every rank computes the same tuning-free `γ_t` from averaged
/// scalars and applies the same majority vote (`docs/ALGORITHMS.md` §6).
///
/// # Update rule
///
/// On rank `m` of `M`, with its gradient `g^m_t`:
/// 1. all ranks exchange `a^m = ‖g^m_t − g^m_{t−1}‖_1`, `b^m = ⟨g^m_t, v_{t−1}⟩`, the loss
///    `f_m(x_t)` (if given) and an error flag, and take means over ranks (summed in rank order);
/// 2. the shared ALIAS rule ([`crate::AliasRule`]) with the sample
///    `r_{t−1} = mean(a) / ‖x_t − x_{t−1}‖_∞`, gap increment `γ_{t−1}·mean(b)` (Option D), and
///    `f(x_0) = mean_m f_m(x_0)` (Option F) gives `γ_t`, the same on every rank;
/// 3. `v_t = vote_m(sign(g^m_t))` ([`SignVote`], 1 bit per coordinate, a tie gives 0);
/// 4. `x ← x(1 − γ_t·wd) − γ_t v_t`, with `‖x_{t+1} − x_t‖_∞` measured in the same pass.
///
/// With `M = 1` this is [`crate::AliasSignSgd`] bit for bit. Supported options: Option D or
/// F, `L_0`, probe, `lr_multiplier`, cap, warm-up, horizon, weight decay
/// ([`DistAliasSignSgdConfig`]); `update_gap > 1` is refused (not defined for the vote yet).
///
/// **All ranks must start from the same `x_0`** (e.g. zeros, or a broadcast); they then stay
/// bit-identical because they apply the same `γ_t` and `v_t`.
///
/// # Needs from the problem
///
/// Each rank's gradient on its shard. Option F needs every rank's loss at the first step; the
/// loss is given on all ranks or on none.
///
/// # Example
///
/// ```
/// use signfree::dist::{Communicator, DistAliasSignSgd, LocalCommunicator};
/// use signfree::Optimizer;
///
/// // Three workers minimise Σ_m ½‖x − c_m‖², each seeing only its own c_m.
/// let c = [[1.0, -2.0], [2.0, -1.0], [3.0, 0.0]];
/// let x = LocalCommunicator::run(3, |comm| {
///     let c = c[comm.rank()];
///     let mut opt = DistAliasSignSgd::<f64, _>::new(Default::default(), &[2], comm).unwrap();
///     let mut x = vec![0.0; 2];
///     for _ in 0..500 {
///         let g = [x[0] - c[0], x[1] - c[1]];
///         opt.step_flat(&mut x, &g, None).unwrap();
///     }
///     x
/// });
/// assert!(x.iter().all(|xi| *xi == x[0])); // bit-identical on every rank
/// // The vote follows the coordinate-wise median (2, −1), within about γ_t.
/// assert!((x[0][0] - 2.0).abs() < 0.1 && (x[0][1] + 1.0).abs() < 0.1);
/// ```
///
/// # Errors
///
/// [`DistAliasSignSgd::new`]: as [`crate::AliasSignSgd::new`], plus [`Error::InvalidParameter`]
/// for `update_gap > 1`. [`Optimizer::step`]: the rank whose input
/// is bad returns [`Error::DimensionMismatch`], [`Error::NonFiniteGradient`] or
/// [`Error::NonFiniteLoss`]; every other rank returns [`Error::Communication`]
/// ([`crate::CommunicationErrorKind::PeerFailed`]); [`crate::CommunicationErrorKind::Mismatch`]
/// if ranks disagree on the step, length or loss presence; [`Error::MissingLoss`] and
/// [`Error::InvalidParameter`] (`f_lower`) as single-node ALIAS, on every rank alike. Nothing
/// changes on any rank when `step` fails (except after [`crate::CommunicationErrorKind::PeerLost`]
/// during the vote, which leaves parameters and state unchanged too but the world unusable).
///
/// # References
///
/// D. Medyakov et al., "Sign-SGD is the Golden Gate between Multi-Node to Single-Node
/// Learning: Significant Boost via Parameter-Free Optimization", arXiv:2506.03725 (ALIAS; the
/// multi-node setting). The exchange of `a^m`, `b^m` and their averaging are this crate's
/// protocol (`docs/ALGORITHMS.md` §6). Majority vote: J. Bernstein et al., "signSGD with Majority Vote
/// is Communication Efficient and Fault Tolerant", ICLR 2019, arXiv:1810.05291.
///
/// [`StepReport::estimates`](crate::StepReport::estimates): the same entries as [`crate::AliasSignSgd`].
#[derive(Debug)]
pub struct DistAliasSignSgd<F: Float, C: Communicator> {
    config: DistAliasSignSgdConfig,
    layout: Vec<usize>,
    comm: C,
    kernels: Kernels,
    lr_multiplier: LrMultiplier,
    state: DistAliasSignSgdState<F>,
    vote: SignVote,
    /// This step's vote, before it is applied.
    next_vote: Vec<Vec<F>>,
    scalars_out: [f64; SLOTS],
    gathered: Vec<f64>,
    traffic: Traffic,
}

impl<F: Float, C: Communicator> DistAliasSignSgd<F, C> {
    /// Builds the optimizer on every rank with the same configuration and layout.
    ///
    /// # Errors
    /// See the type's docs.
    pub fn new(config: DistAliasSignSgdConfig, layout: &[usize], comm: C) -> Result<Self> {
        config.rule.validate(OWNER)?;
        let wd = config.weight_decay;
        check_range(OWNER, "weight_decay", wd, wd >= 0.0, "a finite number >= 0")?;
        config.rule.validate_decay::<F>(OWNER, wd)?;
        check_layout::<F>(OWNER, layout)?;
        if config.rule.update_gap != 1 {
            return Err(Error::invalid(
                OWNER,
                "update_gap",
                config.rule.update_gap,
                "1 (windowed sampling is not defined for the vote)",
            ));
        }
        let kernels = Kernels::detect();
        let buffers = || layout.iter().map(|&n| vec![F::ZERO; n]).collect::<Vec<_>>();
        Ok(Self {
            vote: SignVote::with_kernels(&comm, layout, kernels)?,
            gathered: vec![0.0; SLOTS * comm.size()],
            config,
            layout: layout.to_vec(),
            comm,
            kernels,
            state: DistAliasSignSgdState {
                step: 0,
                scalars: AliasScalars::default(),
                prev_grad: buffers(),
                prev_vote: buffers(),
            },
            next_vote: buffers(),
            scalars_out: [0.0; SLOTS],
            traffic: Traffic::default(),
            lr_multiplier: LrMultiplier::default(),
        })
    }

    /// Forces a kernel backend (e.g. [`Backend::Scalar`] for bit-reproducible runs across
    /// machines). Errors if this CPU cannot run it.
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
    pub fn config(&self) -> &DistAliasSignSgdConfig {
        &self.config
    }

    /// The communicator.
    pub fn communicator(&self) -> &C {
        &self.comm
    }

    /// Bytes this rank sent in the last successful step (or in the failed step's agreement).
    pub fn last_traffic(&self) -> Traffic {
        self.traffic
    }

    /// Local checks and statistics: `Ok((a, b))`, or the rank's own error.
    fn local_stats(
        &self,
        params: &[&mut [F]],
        grads: &[&[F]],
        loss: Option<f64>,
    ) -> Result<(f64, f64)> {
        let t = self.state.step;
        check_step_shapes(&self.layout, params, grads, loss, t)?;
        let st = &self.state;
        if t == 0 {
            check_finite(&self.kernels, grads, t)?;
            return Ok((0.0, 0.0));
        }
        let (mut a, mut b, mut finite) = (0.0, 0.0, true);
        for ((g, prev), dir) in grads.iter().zip(&st.prev_grad).zip(&st.prev_vote) {
            let s = self.kernels.alias_stats(g, prev, dir);
            a += s.diff_l1;
            b += s.dot_sign;
            finite &= s.finite;
        }
        if !finite {
            check_finite(&self.kernels, grads, t)?;
        }
        Ok((a, b))
    }
}

impl<F: Float, C: Communicator> Optimizer<F> for DistAliasSignSgd<F, C> {
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

        // 1. Agree: every rank sends its flag and statistics, whatever happened locally.
        let local = self.local_stats(params, grads, loss);
        let (a, b) = *local.as_ref().unwrap_or(&(0.0, 0.0));
        let out = &mut self.scalars_out;
        out[FLAG] = f64::from(u8::from(local.is_err()));
        out[STEP] = t as f64;
        out[LEN] = layout_fingerprint(OWNER, &self.layout);
        out[A] = a;
        out[B] = b;
        out[LOSS] = loss.unwrap_or(0.0);
        out[HAS_LOSS] = f64::from(u8::from(loss.is_some()));
        // The probe stepsize scales with ‖x‖_∞; ranks agree on its maximum so that every rank
        // decides the same γ. Measured only while the probe may still be used (S = 0, no L_0).
        let probe_possible = self.config.rule.initial_smoothness.is_none()
            && self.state.scalars.smoothness_sum == 0.0;
        out[X_INF] = if probe_possible {
            let kernels = self.kernels;
            params
                .iter()
                .map(|p| kernels.inf_norm(p))
                .fold(0.0, f64::max)
        } else {
            0.0
        };
        let mut sums = *out;
        self.comm
            .all_gather_f64(out, &mut self.gathered)
            .map_err(comm_err)?;
        self.traffic = Traffic {
            scalars: ((size - 1) * SLOTS * 8) as u64,
            ..Traffic::default()
        };
        agree(&self.gathered, SLOTS, local.err(), t, rank, size)?;
        let with_loss = self
            .gathered
            .chunks_exact(SLOTS)
            .filter(|r| r[HAS_LOSS] != 0.0)
            .count();
        if with_loss != 0 && with_loss != size {
            return Err(comm_err(crate::CommunicationErrorKind::Mismatch {
                what: "whether a loss was given",
            }));
        }
        // Means as sums of x_r / M in rank order (rank 0's value first: exact for M = 1; no
        // overflow where the mean itself is finite).
        let m = size as f64;
        for (i, s) in sums.iter_mut().enumerate() {
            *s = self.gathered[i] / m;
            for r in 1..size {
                *s += self.gathered[r * SLOTS + i] / m;
            }
        }
        let (a_mean, b_mean) = (sums[A], sums[B]);
        let loss_mean = (with_loss == size).then_some(sums[LOSS]);
        let x_inf = self
            .gathered
            .chunks_exact(SLOTS)
            .map(|r| r[X_INF])
            .fold(0.0, f64::max);

        // 2. The same γ_t on every rank from agreed inputs (so errors here are identical on
        // every rank too).
        let st = &self.state;
        let sample = (t > 0).then_some(Sample {
            smoothness_numerator: a_mean,
            move_inf: st.scalars.prev_move,
            gap_increment: st.scalars.prev_stepsize * b_mean,
        });
        let kernels = self.kernels;
        let decision = self.config.rule.decide(
            OWNER,
            t,
            &st.scalars,
            sample,
            loss_mean,
            self.lr_multiplier.get(),
            F::MAX / 2.0,
            || x_inf,
        )?;
        decision.check_decay(t, self.config.weight_decay)?;

        // 3. The vote, into scratch buffers.
        for (k, g) in grads.iter().enumerate() {
            self.vote.pack(k, g);
        }
        let vote_traffic = self.vote.exchange(&self.comm).map_err(comm_err)?;
        for (k, v) in self.next_vote.iter_mut().enumerate() {
            self.vote.unpack(k, v);
        }
        self.traffic.add(vote_traffic);

        // 4. Apply and commit.
        let gamma = decision.gamma;
        let decay = F::from_f64(1.0 - gamma * self.config.weight_decay);
        let gamma_f = F::from_f64(gamma);
        let st = &mut self.state;
        let mut moved = 0.0_f64;
        for (((x, v), store), (g, prev)) in params
            .iter_mut()
            .zip(&self.next_vote)
            .zip(&mut st.prev_vote)
            .zip(grads.iter().zip(&mut st.prev_grad))
        {
            moved = moved.max(kernels.sign_step_store(x, v, store, gamma_f, decay));
            prev.copy_from_slice(g);
        }
        st.step = t + 1;
        decision.commit(&mut st.scalars, moved);
        Ok(decision.report(&self.config.rule, t, kernels.backend()))
    }

    fn layout(&self) -> &[usize] {
        &self.layout
    }

    fn steps_taken(&self) -> u64 {
        self.state.step
    }

    lr_multiplier_methods!(OWNER);

    fn name(&self) -> &'static str {
        match self.config.rule.stepsize {
            AliasStepsize::GapEstimate { .. } => "distributed ALIAS (D)",
            AliasStepsize::LowerBound { .. } => "distributed ALIAS (F)",
        }
    }

    fn state_bytes_per_parameter(&self) -> f64 {
        // g_{t−1} and v_{t−1}; the vote's packed buffers add about 1.5 bytes per 64 parameters
        // per rank and are not counted.
        (2 * F::BYTES) as f64
    }
}

impl<F: Float, C: Communicator> Stateful for DistAliasSignSgd<F, C> {
    type State = DistAliasSignSgdState<F>;

    fn state(&self) -> &DistAliasSignSgdState<F> {
        &self.state
    }

    /// Restores this rank's state (every rank restores its own, saved at the same step; the next
    /// step's agreement refuses ranks whose step counters differ). Checked as
    /// [`crate::AliasSignSgd`]'s: scalars a run can reach, buffers of the layout's lengths,
    /// finite values, votes in `{−1, 0, 1}`.
    fn set_state(&mut self, state: DistAliasSignSgdState<F>) -> Result<()> {
        Self::check_state(&self.config, &self.layout, &state)?;
        self.state = state;
        Ok(())
    }
}

impl<F: Float, C: Communicator> DistAliasSignSgd<F, C> {
    /// Checks a state against a configuration and layout without building the optimizer.
    pub(crate) fn check_state(
        config: &DistAliasSignSgdConfig,
        layout: &[usize],
        state: &DistAliasSignSgdState<F>,
    ) -> Result<()> {
        check_counter(state.step)?;
        state.scalars.validate(&config.rule, state.step)?;
        const SHAPE: &str = "buffers do not match the layout";
        check_buffers(SHAPE, layout, &state.prev_grad, true)?;
        check_buffers(SHAPE, layout, &state.prev_vote, true)?;
        check_values("previous gradient must be finite", &state.prev_grad, false)?;
        let votes_ok = state
            .prev_vote
            .iter()
            .flatten()
            .all(|v| [-1.0, 0.0, 1.0].contains(&v.to_f64()));
        if !votes_ok {
            return Err(Error::IncompatibleState {
                reason: "previous votes must be -1, 0 or 1",
            });
        }
        Ok(())
    }
}
