//! The in-process backend: `M` ranks as threads of one process, sharing memory.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::Communicator;
use crate::error::CommunicationErrorKind;

/// One rank of an in-process world of `M` ranks (threads), for tests and single-machine
/// simulation of `M` workers. It implements [`Communicator`] with the same semantics as the MPI
/// backend, so a program runs unchanged on both.
///
/// Collectives go through shared slots guarded by a mutex and a generation barrier: each rank
/// writes its contribution, waits for all, reads what it needs, and waits again. If a rank's
/// communicator is dropped (its thread returned or panicked) the world is marked broken and
/// every later or pending collective of the others returns
/// [`CommunicationErrorKind::PeerLost`] instead of waiting forever.
///
/// ```
/// use signfree::dist::{Communicator, LocalCommunicator};
/// let ranks = LocalCommunicator::run(4, |comm| {
///     let mut all = [0_u64; 4];
///     comm.all_gather_u64(&[comm.rank() as u64 * 10], &mut all).unwrap();
///     all
/// });
/// assert!(ranks.iter().all(|a| *a == [0, 10, 20, 30]));
/// ```
#[derive(Debug)]
pub struct LocalCommunicator {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    turn: Condvar,
}

#[derive(Debug)]
struct State {
    /// Completed barrier rounds.
    generation: u64,
    /// Ranks waiting in the current round.
    arrived: usize,
    /// A rank has left: collectives fail from now on.
    broken: bool,
    /// Each rank's contribution to the current collective.
    slots: Vec<Vec<u64>>,
    /// Each rank's per-destination counts (variable all-to-all).
    counts: Vec<Vec<usize>>,
}

impl LocalCommunicator {
    /// A world of `size ≥ 1` ranks: element `r` is rank `r`. Move each into its own thread.
    ///
    /// # Panics
    /// If `size` is 0.
    pub fn world(size: usize) -> Vec<LocalCommunicator> {
        assert!(
            size >= 1,
            "LocalCommunicator::world: size must be at least 1"
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                generation: 0,
                arrived: 0,
                broken: false,
                slots: vec![Vec::new(); size],
                counts: vec![vec![0; size]; size],
            }),
            turn: Condvar::new(),
        });
        (0..size)
            .map(|rank| LocalCommunicator {
                rank,
                size,
                shared: Arc::clone(&shared),
            })
            .collect()
    }

    /// Runs `worker` on `size` threads, one per rank, and returns their results in rank order.
    /// A panic in a worker is re-raised here after the others have stopped (their collectives
    /// return [`CommunicationErrorKind::PeerLost`]).
    ///
    /// # Panics
    /// If `size` is 0 or a worker panics.
    pub fn run<T: Send>(size: usize, worker: impl Fn(LocalCommunicator) -> T + Sync) -> Vec<T> {
        let world = Self::world(size);
        let worker = &worker;
        std::thread::scope(|s| {
            let handles: Vec<_> = world
                .into_iter()
                .map(|comm| s.spawn(move || worker(comm)))
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
            results
                .into_iter()
                .map(|r| r.unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for every rank; `Err` if the world broke before all arrived.
    fn wait<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
    ) -> Result<MutexGuard<'a, State>, CommunicationErrorKind> {
        if st.broken {
            return Err(CommunicationErrorKind::PeerLost);
        }
        let generation = st.generation;
        st.arrived += 1;
        if st.arrived == self.size {
            st.arrived = 0;
            st.generation += 1;
            self.shared.turn.notify_all();
            return Ok(st);
        }
        while st.generation == generation && !st.broken {
            st = self
                .shared
                .turn
                .wait(st)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if st.generation == generation {
            Err(CommunicationErrorKind::PeerLost)
        } else {
            Ok(st)
        }
    }

    /// Writes this rank's contribution, waits for all, lets `read` see every slot, waits again
    /// (so slots are not overwritten while someone reads).
    fn collective(
        &self,
        contribution: impl IntoIterator<Item = u64>,
        counts: Option<&[usize]>,
        read: impl FnOnce(&State),
    ) -> Result<(), CommunicationErrorKind> {
        let mut st = self.lock();
        let slot = &mut st.slots[self.rank];
        slot.clear();
        slot.extend(contribution);
        if let Some(c) = counts {
            st.counts[self.rank].copy_from_slice(c);
        }
        let st = self.wait(st)?;
        read(&st);
        self.wait(st).map(drop)
    }
}

impl Drop for LocalCommunicator {
    fn drop(&mut self) {
        let mut st = self.lock();
        st.broken = true;
        self.shared.turn.notify_all();
    }
}

impl Communicator for LocalCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn barrier(&self) -> Result<(), CommunicationErrorKind> {
        let st = self.lock();
        self.wait(st).map(drop)
    }

    fn all_gather_f64(&self, send: &[f64], recv: &mut [f64]) -> Result<(), CommunicationErrorKind> {
        let n = send.len();
        assert_eq!(recv.len(), n * self.size, "all_gather_f64: recv length");
        self.collective(send.iter().map(|v| v.to_bits()), None, |st| {
            for (r, slot) in st.slots.iter().enumerate() {
                for (o, &w) in recv[r * n..(r + 1) * n].iter_mut().zip(slot) {
                    *o = f64::from_bits(w);
                }
            }
        })
    }

    fn all_gather_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), CommunicationErrorKind> {
        let n = send.len();
        assert_eq!(recv.len(), n * self.size, "all_gather_u64: recv length");
        self.collective(send.iter().copied(), None, |st| {
            for (r, slot) in st.slots.iter().enumerate() {
                recv[r * n..(r + 1) * n].copy_from_slice(slot);
            }
        })
    }

    fn all_to_all_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), CommunicationErrorKind> {
        assert_eq!(send.len(), recv.len(), "all_to_all_u64: lengths");
        assert_eq!(send.len() % self.size, 0, "all_to_all_u64: blocks");
        let b = send.len() / self.size;
        let me = self.rank;
        self.collective(send.iter().copied(), None, |st| {
            for (r, slot) in st.slots.iter().enumerate() {
                recv[r * b..(r + 1) * b].copy_from_slice(&slot[me * b..(me + 1) * b]);
            }
        })
    }

    fn all_to_all_varcount_u64(
        &self,
        send: &[u64],
        send_counts: &[usize],
        recv: &mut [u64],
        recv_counts: &[usize],
    ) -> Result<(), CommunicationErrorKind> {
        assert_eq!(send_counts.len(), self.size, "all_to_all_varcount: counts");
        assert_eq!(recv_counts.len(), self.size, "all_to_all_varcount: counts");
        assert_eq!(
            send.len(),
            send_counts.iter().sum::<usize>(),
            "all_to_all_varcount: send"
        );
        assert_eq!(
            recv.len(),
            recv_counts.iter().sum::<usize>(),
            "all_to_all_varcount: recv"
        );
        let me = self.rank;
        self.collective(send.iter().copied(), Some(send_counts), |st| {
            let mut at = 0;
            for (r, (slot, counts)) in st.slots.iter().zip(&st.counts).enumerate() {
                let start: usize = counts[..me].iter().sum();
                let n = counts[me];
                assert_eq!(n, recv_counts[r], "all_to_all_varcount: counts disagree");
                recv[at..at + n].copy_from_slice(&slot[start..start + n]);
                at += n;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_to_all_and_varcount_route_blocks() {
        let out = LocalCommunicator::run(3, |c| {
            let me = c.rank() as u64;
            let send: Vec<u64> = (0..3).map(|j| 10 * me + j).collect();
            let mut recv = [0; 3];
            c.all_to_all_u64(&send, &mut recv).unwrap();
            // Rank r sends r+1 words to everyone: [r; r+1].
            let counts = [c.rank() + 1; 3];
            let send: Vec<u64> = std::iter::repeat_n(me, 3 * (c.rank() + 1)).collect();
            let recv_counts = [1, 2, 3];
            let mut vrecv = [0; 6];
            c.all_to_all_varcount_u64(&send, &counts, &mut vrecv, &recv_counts)
                .unwrap();
            (recv, vrecv)
        });
        for (r, (recv, vrecv)) in out.iter().enumerate() {
            let r = r as u64;
            assert_eq!(*recv, [r, 10 + r, 20 + r]);
            assert_eq!(*vrecv, [0, 1, 1, 2, 2, 2]);
        }
    }

    #[test]
    fn a_peer_leaving_fails_the_others_instead_of_hanging() {
        let out = LocalCommunicator::run(3, |c| {
            if c.rank() == 1 {
                return Ok(()); // leaves: its communicator is dropped
            }
            c.barrier()?;
            c.barrier()
        });
        assert_eq!(out[0], Err(CommunicationErrorKind::PeerLost));
        assert_eq!(out[2], Err(CommunicationErrorKind::PeerLost));
    }
}
