//! Multi-node training: majority-vote Sign-SGD/Signum and distributed ALIAS (`docs/ALGORITHMS.md` §6).
//!
//! `M` workers (ranks) each hold a shard of the data and compute their own gradient `g^m_t`.
//! Every step they exchange
//! - the **signs** of their gradients (or momenta) for a **majority vote**
//!   `v_t = sign(Σ_m sign(g^m_t))` (a tie gives 0), and
//! - a few **scalars** (for ALIAS: `a^m = ‖g^m_t − g^m_{t−1}‖_1`, `b^m = ⟨g^m_t, v_{t−1}⟩`, the
//!   loss, and an error flag),
//!
//! and then all apply the same update `x_{t+1} = x_t − γ_t v_t`, so the parameters stay
//! bit-identical on every rank without ever being sent.
//!
//! | type | what |
//! | --- | --- |
//! | [`Communicator`] | the collectives the methods need (all-gather, all-to-all, barrier, rank, size) |
//! | [`LocalCommunicator`] | in-process backend: `M` threads in one process, for tests and simulation |
//! | `MpiCommunicator` (feature `mpi`) | real processes under `mpirun` (Open MPI through rsmpi) |
//! | [`SignVote`] | the majority-vote exchange at 1 bit per coordinate, over any backend |
//! | [`DistSignSgd`] | majority-vote Sign-SGD / Signum with a scheduled stepsize |
//! | [`DistAliasSignSgd`] | distributed ALIAS, Options D and F |
//!
//! [`crate::Dataset::shard`] splits a LIBSVM data set into contiguous row blocks, one per rank.
//!
//! # What is the paper's and what is ours
//!
//! The paper (Medyakov et al., arXiv:2506.03725) states that ALIAS and Sign-SGD run in the
//! multi-node setting with a majority vote. The protocol below (which scalars are reduced, that
//! they are averaged, how the vote travels, the failure agreement) is **this crate's
//! definition** (`docs/ALGORITHMS.md` §6, tagged "ours"). Majority-vote Sign-SGD itself is from
//! Bernstein, Zhao, Azizzadenesheli, Anandkumar, "signSGD with Majority Vote is Communication
//! Efficient and Fault Tolerant", ICLR 2019, arXiv:1810.05291.
//!
//! # The vote on the wire
//!
//! A vote is not an associative operation on packed bits, so it is done as a reduce-scatter of
//! packed slices followed by an all-gather of the packed results ([`SignVote`]):
//! 1. each rank packs its signs and sends rank `j` the `j`-th of `M` word-aligned slices at
//!    **1 bit per coordinate** (`g > 0`), plus one header word with the number of exact zeros
//!    in that slice (`sign(0) = 0` abstains);
//! 2. the zeros' positions follow in a variable-size exchange (a list of 32-bit indices, or a
//!    1-bit mask when that is smaller); dense gradients send nothing here;
//! 3. rank `j` counts the `M` votes of its slice and packs the result in 2 bits per coordinate
//!    (the result is ternary: `+1`, `−1`, or 0 for a tie);
//! 4. an all-gather gives every rank the whole result.
//!
//! Per rank and step that is `(M−1)/M` bits per coordinate in step 1 and `2(M−1)/M` in step 4,
//! `3(M−1)/M` bits in all, against `64(M−1)/M` bits for a ring all-reduce of `f32` gradients:
//! 21× fewer bytes for every `M`.
//!
//! **Byte accounting** ([`Traffic`]): the payload a rank hands to the network for peers other
//! than itself, counted for the direct/ring algorithms: an all-gather of `b` bytes per rank
//! sends `(M−1)·b`, an all-to-all with `b`-byte blocks sends `(M−1)·b`. An MPI library may add
//! headers or pick other algorithms for small messages; it cannot send less payload.
//!
//! # Determinism
//!
//! Scalars are all-gathered and summed in rank order on every rank (never with an MPI
//! reduction, whose rounding may depend on the algorithm), so every rank computes bit-identical
//! `γ_t`, and the in-process backend gives bit-identical results to MPI for the same shards.
//! With `M = 1`, [`DistAliasSignSgd`] reproduces [`crate::AliasSignSgd`] bit for bit and
//! [`DistSignSgd`] reproduces [`crate::SignSgd`].
//!
//! # Failures
//!
//! A rank whose input fails its checks (a non-finite gradient or loss, wrong shapes) still takes
//! part in the step's scalar exchange, with an error flag set. Every rank sees the flags before
//! anything changes; the failing rank returns its own error (e.g. [`Error::NonFiniteGradient`]),
//! the others [`Error::Communication`] with [`CommunicationErrorKind::PeerFailed`], and no rank
//! has changed its parameters or state: no rank waits for a collective the others skipped.
//! Ranks that disagree about the step index, the tensor layout (compared as a 52-bit
//! fingerprint of every tensor length) or whether a loss was
//! given return [`CommunicationErrorKind::Mismatch`]. With the in-process backend, a rank that
//! panics or drops its communicator makes the others' next collective return
//! [`CommunicationErrorKind::PeerLost`] instead of hanging. With MPI, a failing collective
//! aborts the job (rsmpi's error handler).
//!
//! Every rank runs the same sequence of collectives every step: the only branches around them
//! depend on values every rank has agreed on.

mod alias;
mod local;
#[cfg(feature = "mpi")]
mod mpi;
mod sign_sgd;
mod vote;

pub use alias::{DistAliasSignSgd, DistAliasSignSgdConfig, DistAliasSignSgdState};
pub use local::LocalCommunicator;
#[cfg(feature = "mpi")]
pub use mpi::MpiCommunicator;
pub use sign_sgd::DistSignSgd;
pub use vote::SignVote;

use crate::error::{CommunicationErrorKind, Error};

/// The collectives distributed training needs, over `size()` ranks numbered `0..size()`.
///
/// Every rank must call the same collectives in the same order with matching lengths (the
/// usual MPI contract). Backends return [`CommunicationErrorKind::PeerLost`] when a peer has
/// left; they never return early on one rank only.
///
/// The scalar all-reduce and the sign vote are built on these primitives ([`all_reduce_sum`],
/// [`SignVote`]), so every backend runs the same protocol.
pub trait Communicator {
    /// This process's rank, in `0..size()`.
    fn rank(&self) -> usize;

    /// The number of ranks `M ≥ 1`.
    fn size(&self) -> usize;

    /// Waits until every rank has arrived.
    ///
    /// # Errors
    /// [`CommunicationErrorKind::PeerLost`] if a peer left.
    fn barrier(&self) -> Result<(), CommunicationErrorKind>;

    /// `recv[r·n .. (r+1)·n]` ← rank `r`'s `send`, for every `r` (`n = send.len()`, equal on all
    /// ranks; `recv.len() = M·n`).
    ///
    /// # Errors
    /// [`CommunicationErrorKind::PeerLost`] if a peer left.
    fn all_gather_f64(&self, send: &[f64], recv: &mut [f64]) -> Result<(), CommunicationErrorKind>;

    /// [`Communicator::all_gather_f64`] for packed words.
    ///
    /// # Errors
    /// [`CommunicationErrorKind::PeerLost`] if a peer left.
    fn all_gather_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), CommunicationErrorKind>;

    /// Personalised exchange with equal blocks: `send` and `recv` hold `M` blocks of `b` words;
    /// block `j` of `send` goes to rank `j`, block `r` of `recv` comes from rank `r`.
    ///
    /// # Errors
    /// [`CommunicationErrorKind::PeerLost`] if a peer left.
    fn all_to_all_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), CommunicationErrorKind>;

    /// Personalised exchange with variable blocks: `send` is the concatenation of blocks of
    /// `send_counts[j]` words for rank `j`; `recv` receives `recv_counts[r]` words from rank `r`,
    /// concatenated in rank order. The counts must match pairwise (rank `r`'s `send_counts[j]` =
    /// rank `j`'s `recv_counts[r]`).
    ///
    /// # Errors
    /// [`CommunicationErrorKind::PeerLost`] if a peer left.
    fn all_to_all_varcount_u64(
        &self,
        send: &[u64],
        send_counts: &[usize],
        recv: &mut [u64],
        recv_counts: &[usize],
    ) -> Result<(), CommunicationErrorKind>;
}

impl<C: Communicator + ?Sized> Communicator for &C {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn size(&self) -> usize {
        (**self).size()
    }
    fn barrier(&self) -> Result<(), CommunicationErrorKind> {
        (**self).barrier()
    }
    fn all_gather_f64(&self, send: &[f64], recv: &mut [f64]) -> Result<(), CommunicationErrorKind> {
        (**self).all_gather_f64(send, recv)
    }
    fn all_gather_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), CommunicationErrorKind> {
        (**self).all_gather_u64(send, recv)
    }
    fn all_to_all_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), CommunicationErrorKind> {
        (**self).all_to_all_u64(send, recv)
    }
    fn all_to_all_varcount_u64(
        &self,
        send: &[u64],
        send_counts: &[usize],
        recv: &mut [u64],
        recv_counts: &[usize],
    ) -> Result<(), CommunicationErrorKind> {
        (**self).all_to_all_varcount_u64(send, send_counts, recv, recv_counts)
    }
}

/// All-reduce (sum) of a few scalars, identical on every rank: `values` are all-gathered into
/// `scratch` (at least `M·values.len()` long) and summed in rank order, starting from rank 0's
/// value (so with `M = 1` the result is the input, bit for bit). Returns the bytes this rank
/// sent.
///
/// ```
/// use signfree::dist::{Communicator, LocalCommunicator, all_reduce_sum};
/// let sums = LocalCommunicator::run(3, |comm| {
///     let mut v = [comm.rank() as f64, 1.0];
///     let mut scratch = vec![0.0; 6];
///     all_reduce_sum(&comm, &mut v, &mut scratch).unwrap();
///     v
/// });
/// assert!(sums.iter().all(|v| *v == [3.0, 3.0]));
/// ```
///
/// # Errors
/// [`CommunicationErrorKind::PeerLost`] if a peer left.
///
/// # Panics
/// If `scratch` is too short.
pub fn all_reduce_sum<C: Communicator + ?Sized>(
    comm: &C,
    values: &mut [f64],
    scratch: &mut [f64],
) -> Result<u64, CommunicationErrorKind> {
    let (n, m) = (values.len(), comm.size());
    let scratch = &mut scratch[..n * m];
    comm.all_gather_f64(values, scratch)?;
    for (i, v) in values.iter_mut().enumerate() {
        *v = scratch[i];
        for r in 1..m {
            *v += scratch[r * n + i];
        }
    }
    Ok(((m - 1) * n * 8) as u64)
}

/// Bytes one rank sent in one step, by purpose (see the module docs for how they are counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// The scalar exchange (error flag, step index, ALIAS's `a^m`, `b^m`, loss).
    pub scalars: u64,
    /// Vote phase 1: packed 1-bit signs and one header word per destination.
    pub signs: u64,
    /// Vote phase 2: the positions of exact zeros (0 for dense gradients).
    pub zeros: u64,
    /// Vote phase 3: this rank's slice of the 2-bit vote result, to every other rank.
    pub votes: u64,
}

impl Traffic {
    /// All bytes sent.
    pub fn total(&self) -> u64 {
        self.scalars + self.signs + self.zeros + self.votes
    }

    /// Adds another exchange's bytes.
    pub fn add(&mut self, other: Traffic) {
        self.scalars += other.scalars;
        self.signs += other.signs;
        self.zeros += other.zeros;
        self.votes += other.votes;
    }
}

/// The scalar slots every distributed step exchanges first (before anything changes): the
/// failure flag, the step index and the layout's fingerprint.
pub(crate) const FLAG: usize = 0;
pub(crate) const STEP: usize = 1;
pub(crate) const LEN: usize = 2;

/// A 52-bit fingerprint of an optimizer kind and its tensor layout (FNV-1a over the kind's
/// name, the tensor count and every length), exact as an `f64` so ranks can compare them in the
/// agreement slots: ranks running different distributed optimizers, or whose layouts differ in
/// any tensor length or in the number of tensors, disagree here (up to a 2⁻⁵² collision chance),
/// before any layout-dependent exchange.
pub(crate) fn layout_fingerprint(kind: &str, layout: &[usize]) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |byte: u8| h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    kind.bytes().for_each(&mut eat);
    for word in std::iter::once(layout.len()).chain(layout.iter().copied()) {
        (word as u64).to_le_bytes().into_iter().for_each(&mut eat);
    }
    (h >> 12) as f64
}

/// Checks the gathered agreement slots (`k` per rank, slots [`FLAG`], [`STEP`], [`LEN`]):
/// the local error if this rank failed, [`CommunicationErrorKind::PeerFailed`] if another did,
/// [`CommunicationErrorKind::Mismatch`] if the step or the layout differ.
pub(crate) fn agree(
    gathered: &[f64],
    k: usize,
    local: Option<Error>,
    step: u64,
    rank: usize,
    size: usize,
) -> crate::Result<()> {
    let comm_err = |kind| Error::Communication {
        step,
        rank,
        size,
        kind,
    };
    let rows = || gathered.chunks_exact(k).take(size);
    let failed = rows().filter(|r| r[FLAG] != 0.0).count();
    if let Some(e) = local {
        return Err(e);
    }
    if failed > 0 {
        let first = rows().position(|r| r[FLAG] != 0.0).unwrap_or(0);
        return Err(comm_err(CommunicationErrorKind::PeerFailed {
            failed,
            first,
        }));
    }
    let first = &gathered[..k];
    if rows().any(|r| r[STEP] != first[STEP]) {
        return Err(comm_err(CommunicationErrorKind::Mismatch {
            what: "the step index",
        }));
    }
    if rows().any(|r| r[LEN] != first[LEN]) {
        return Err(comm_err(CommunicationErrorKind::Mismatch {
            what: "the optimizer or its tensor layout (number of tensors or a tensor's length)",
        }));
    }
    Ok(())
}
