//! The majority-vote exchange: packed signs out, the packed vote back (module docs of
//! [`crate::dist`] describe the protocol).

use super::{Communicator, Traffic};
use crate::error::{CommunicationErrorKind, Error, Result};
use crate::float::Float;
use crate::kernels::{Kernels, packed_words};

/// Majority vote over all ranks at 1 bit per coordinate: `v = sign(Σ_m sign(u^m))`, a tie
/// gives 0, `sign(±0) = 0` abstains. Correct for any number of ranks `M`.
///
/// All buffers are allocated by [`SignVote::new`]; a vote allocates nothing (the MPI backend
/// may allocate inside the library).
///
/// # Protocol (ours; `docs/ALGORITHMS.md` §6)
///
/// The concatenated tensors are packed into 64-bit words (each tensor starts on a word) and cut
/// into `M` equal word-aligned slices. Rank `j` receives slice `j` of every rank's `g > 0` bits
/// (all-to-all, 1 bit per coordinate plus a header word counting exact zeros), then the zeros'
/// positions (variable all-to-all: 32-bit indices, or a 1-bit mask when smaller), counts the
/// votes with [`Kernels::accumulate_signs_1bit`] (a zero was counted as `−1` there and is given
/// `+1` back), packs the result with [`Kernels::vote_from_counts_2bit`], and an all-gather
/// hands every rank the whole 2-bit result.
///
/// # Example
///
/// ```
/// use signfree::dist::{Communicator, LocalCommunicator, SignVote};
/// let votes = LocalCommunicator::run(3, |comm| {
///     let g: [[f32; 4]; 3] = [[1.0, -2.0, 0.0, 0.0], [3.0, 4.0, -1.0, 0.0], [-1.0, -1.0, 0.0, 0.0]];
///     let mut vote = SignVote::new(&comm, &[4]).unwrap();
///     let mut out = [9.0_f32; 4];
///     vote.vote(&comm, &[&g[comm.rank()][..]], &mut [&mut out[..]]).unwrap();
///     out
/// });
/// // 2–1, 1–2, one −1 against two abstentions, all abstain.
/// assert!(votes.iter().all(|v| *v == [1.0, -1.0, -1.0, 0.0]));
/// ```
#[derive(Debug, Clone)]
pub struct SignVote {
    layout: Vec<usize>,
    /// First word of each tensor in the packed planes.
    offsets: Vec<usize>,
    /// `B`: words per rank's slice.
    block: usize,
    rank: usize,
    size: usize,
    kernels: Kernels,
    /// 1 for each real coordinate (not a tensor's tail padding or the slices' padding).
    valid: Vec<u64>,
    /// This rank's packed `u > 0` and `u < 0`, `M·B` words.
    pos: Vec<u64>,
    neg: Vec<u64>,
    /// All-to-all buffers: `M` blocks of a header word and `B` sign words.
    send: Vec<u64>,
    recv: Vec<u64>,
    /// Zero positions out and in.
    zeros_send: Vec<u64>,
    zeros_send_counts: Vec<usize>,
    zeros_recv: Vec<u64>,
    zeros_recv_counts: Vec<usize>,
    /// Vote counts of this rank's slice, `64·B`.
    counts: Vec<i32>,
    /// `B` zero words (the empty negative plane for counting zero masks).
    empty: Vec<u64>,
    /// This rank's slice of the result: `B` positive then `B` negative words.
    result: Vec<u64>,
    /// Every rank's result slices, rank order.
    gathered: Vec<u64>,
    /// The whole result, `M·B` words each.
    vote_pos: Vec<u64>,
    vote_neg: Vec<u64>,
}

/// Words that carry `z` zero positions in a slice of `block` words: a list of 32-bit indices
/// (two per word) when shorter than the slice, else a 1-bit mask of `block` words.
fn zero_words(z: usize, block: usize) -> usize {
    z.div_ceil(2).min(block)
}

impl SignVote {
    /// Buffers for voting on tensors of the given lengths among `comm`'s ranks.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if one rank's slice would exceed `2^32` coordinates (zero
    /// positions travel as 32-bit indices).
    pub fn new<C: Communicator + ?Sized>(comm: &C, layout: &[usize]) -> Result<Self> {
        Self::with_kernels(comm, layout, Kernels::detect())
    }

    /// [`SignVote::new`] with given kernels (e.g. a forced backend or thread count).
    ///
    /// # Errors
    /// As [`SignVote::new`].
    pub fn with_kernels<C: Communicator + ?Sized>(
        comm: &C,
        layout: &[usize],
        kernels: Kernels,
    ) -> Result<Self> {
        let (rank, size) = (comm.rank(), comm.size());
        let mut offsets = Vec::with_capacity(layout.len());
        let mut words = 0;
        for &n in layout {
            offsets.push(words);
            words += packed_words(n);
        }
        let block = words.div_ceil(size).max(1);
        if block.saturating_mul(64) > u32::MAX as usize {
            return Err(Error::invalid(
                "SignVote",
                "layout",
                words.saturating_mul(64),
                "at most 2^32 coordinates per rank's slice",
            ));
        }
        let total = size * block;
        let mut valid = vec![0_u64; total];
        for (&n, &o) in layout.iter().zip(&offsets) {
            let w = packed_words(n);
            valid[o..o + w].fill(u64::MAX);
            if n % 64 != 0 {
                valid[o + w - 1] = (1_u64 << (n % 64)) - 1;
            }
        }
        Ok(Self {
            layout: layout.to_vec(),
            offsets,
            block,
            rank,
            size,
            kernels,
            valid,
            pos: vec![0; total],
            neg: vec![0; total],
            send: vec![0; size * (block + 1)],
            recv: vec![0; size * (block + 1)],
            zeros_send: vec![0; total],
            zeros_send_counts: vec![0; size],
            zeros_recv: vec![0; total],
            zeros_recv_counts: vec![0; size],
            counts: vec![0; 64 * block],
            empty: vec![0; block],
            result: vec![0; 2 * block],
            gathered: vec![0; 2 * total],
            vote_pos: vec![0; total],
            vote_neg: vec![0; total],
        })
    }

    /// The tensor lengths.
    pub fn layout(&self) -> &[usize] {
        &self.layout
    }

    /// Replaces the kernels (same layout; e.g. another thread count).
    pub(crate) fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    /// Packs this rank's signs of tensor `k` (`u` is a gradient or momentum; only its signs
    /// are used).
    ///
    /// # Panics
    /// If `k` is out of range or `u.len()` differs from the layout.
    pub fn pack<F: Float>(&mut self, k: usize, u: &[F]) {
        assert_eq!(u.len(), self.layout[k], "SignVote::pack: length mismatch");
        let r = self.offsets[k]..self.offsets[k] + packed_words(u.len());
        self.kernels
            .pack_signs_2bit(u, &mut self.pos[r.clone()], &mut self.neg[r]);
    }

    /// Runs the exchange on the packed signs (every rank calls it); afterwards
    /// [`SignVote::unpack`] gives the vote. Returns the bytes this rank sent.
    ///
    /// # Errors
    /// [`CommunicationErrorKind::PeerLost`] if a peer left (the vote is then undefined).
    pub fn exchange<C: Communicator + ?Sized>(
        &mut self,
        comm: &C,
    ) -> std::result::Result<Traffic, CommunicationErrorKind> {
        let (m, b) = (self.size, self.block);
        // Phase 1 payload: per destination j, [zero count, B words of `u > 0` bits]; and the
        // zero positions of slice j, as a mask or a list of indices.
        let mut off = 0;
        for j in 0..m {
            let slice = j * b..(j + 1) * b;
            let head = j * (b + 1);
            self.send[head + 1..head + 1 + b].copy_from_slice(&self.pos[slice.clone()]);
            let zero_word = |i: usize| !(self.pos[i] | self.neg[i]) & self.valid[i];
            let z: usize = slice
                .clone()
                .map(|i| zero_word(i).count_ones() as usize)
                .sum();
            self.send[head] = z as u64;
            let w = zero_words(z, b);
            let out = &mut self.zeros_send[off..off + w];
            if w == b && z > 0 {
                for (o, i) in out.iter_mut().zip(slice) {
                    *o = zero_word(i);
                }
            } else if w > 0 {
                out.fill(0);
                let mut n = 0;
                for (local, i) in slice.enumerate() {
                    let mut bits = zero_word(i);
                    while bits != 0 {
                        let idx = (local * 64 + bits.trailing_zeros() as usize) as u64;
                        out[n / 2] |= idx << (32 * (n % 2));
                        n += 1;
                        bits &= bits - 1;
                    }
                }
            }
            self.zeros_send_counts[j] = w;
            off += w;
        }
        comm.all_to_all_u64(&self.send, &mut self.recv)?;
        let mut recv_total = 0;
        for r in 0..m {
            let z = self.recv[r * (b + 1)] as usize;
            self.zeros_recv_counts[r] = zero_words(z, b);
            recv_total += self.zeros_recv_counts[r];
        }
        comm.all_to_all_varcount_u64(
            &self.zeros_send[..off],
            &self.zeros_send_counts,
            &mut self.zeros_recv[..recv_total],
            &self.zeros_recv_counts,
        )?;

        // Count: every 1-bit vote is ±1, so a zero was counted as −1; give it +1 back.
        self.counts.fill(0);
        let mut off_in = 0;
        for r in 0..m {
            let head = r * (b + 1);
            self.kernels
                .accumulate_signs_1bit(&self.recv[head + 1..head + 1 + b], &mut self.counts);
            let z = self.recv[head] as usize;
            let w = self.zeros_recv_counts[r];
            let zeros = &self.zeros_recv[off_in..off_in + w];
            if w == b && z > 0 {
                self.kernels
                    .accumulate_signs_2bit(zeros, &self.empty, &mut self.counts);
            } else {
                for n in 0..z {
                    let idx = (zeros[n / 2] >> (32 * (n % 2))) as u32;
                    self.counts[idx as usize] += 1;
                }
            }
            off_in += w;
        }
        let (res_pos, res_neg) = self.result.split_at_mut(b);
        self.kernels
            .vote_from_counts_2bit(&self.counts, res_pos, res_neg);
        comm.all_gather_u64(&self.result, &mut self.gathered)?;
        for r in 0..m {
            let g = &self.gathered[2 * r * b..2 * (r + 1) * b];
            self.vote_pos[r * b..(r + 1) * b].copy_from_slice(&g[..b]);
            self.vote_neg[r * b..(r + 1) * b].copy_from_slice(&g[b..]);
        }

        let others = (m - 1) as u64;
        let zeros_sent: usize = (0..m)
            .filter(|&j| j != self.rank)
            .map(|j| self.zeros_send_counts[j])
            .sum();
        Ok(Traffic {
            scalars: 0,
            signs: others * (b as u64 + 1) * 8,
            zeros: zeros_sent as u64 * 8,
            votes: others * 2 * b as u64 * 8,
        })
    }

    /// The vote for tensor `k` after [`SignVote::exchange`]: `+1`, `−1` or `0` per coordinate.
    ///
    /// # Panics
    /// If `k` is out of range or `out.len()` differs from the layout.
    pub fn unpack<F: Float>(&self, k: usize, out: &mut [F]) {
        assert_eq!(
            out.len(),
            self.layout[k],
            "SignVote::unpack: length mismatch"
        );
        let r = self.offsets[k]..self.offsets[k] + packed_words(out.len());
        self.kernels
            .unpack_signs_2bit(&self.vote_pos[r.clone()], &self.vote_neg[r], out);
    }

    /// The vote for tensor `k` as 2-bit planes (`+1` bits, `−1` bits).
    pub fn vote_planes(&self, k: usize) -> (&[u64], &[u64]) {
        let r = self.offsets[k]..self.offsets[k] + packed_words(self.layout[k]);
        (&self.vote_pos[r.clone()], &self.vote_neg[r])
    }

    /// Packs every tensor of `inputs`, exchanges, and unpacks the vote into `outputs`.
    ///
    /// # Errors
    /// [`CommunicationErrorKind::PeerLost`] if a peer left.
    ///
    /// # Panics
    /// If the tensor counts or lengths differ from the layout.
    pub fn vote<F: Float, C: Communicator + ?Sized>(
        &mut self,
        comm: &C,
        inputs: &[&[F]],
        outputs: &mut [&mut [F]],
    ) -> std::result::Result<Traffic, CommunicationErrorKind> {
        assert!(
            inputs.len() == self.layout.len() && outputs.len() == self.layout.len(),
            "SignVote::vote: tensor count mismatch"
        );
        for (k, u) in inputs.iter().enumerate() {
            self.pack(k, u);
        }
        let traffic = self.exchange(comm)?;
        for (k, out) in outputs.iter_mut().enumerate() {
            self.unpack(k, out);
        }
        Ok(traffic)
    }
}
