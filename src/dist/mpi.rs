//! The MPI backend (feature `mpi`): Open MPI (or any MPI) through the `mpi` crate (rsmpi).

use std::cell::RefCell;

use mpi::Count;
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::{Threading, Universe};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives};

use super::Communicator;
use crate::error::{CommunicationErrorKind, Error, Result};

/// A rank of an MPI job: each process of `mpirun -np M prog` is one rank.
///
/// [`MpiCommunicator::init`] initialises MPI (thread level "funneled": the kernels may use
/// threads, only the calling thread talks to MPI) and owns it: MPI is finalised when this value
/// is dropped. [`MpiCommunicator::from_world`] wraps a communicator of a program that
/// initialised MPI itself.
///
/// Collectives map one to one: `MPI_Allgather`, `MPI_Alltoall`, `MPI_Alltoallv`,
/// `MPI_Barrier`. rsmpi keeps MPI's default error handler, which aborts the whole job on a
/// communication failure, so these methods do not return errors in practice; a rank whose
/// *input* is bad is handled by the optimizers' agreement step (see [`crate::dist`]).
///
/// Run as root (containers, CI): `mpirun --allow-run-as-root --oversubscribe -np 4 prog`.
pub struct MpiCommunicator {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// `MPI_Alltoallv` counts and displacements (send, recv), reused.
    scratch: RefCell<[Vec<Count>; 4]>,
    // Dropped last: finalises MPI.
    _universe: Option<Universe>,
}

impl std::fmt::Debug for MpiCommunicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiCommunicator")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("owns_mpi", &self._universe.is_some())
            .finish()
    }
}

impl MpiCommunicator {
    /// Initialises MPI and returns this process's rank of the world communicator.
    ///
    /// # Errors
    /// [`Error::Communication`] with [`CommunicationErrorKind::InitFailed`] if MPI was already
    /// initialised in this process (use [`MpiCommunicator::from_world`] then).
    pub fn init() -> Result<Self> {
        let (universe, _level) =
            mpi::initialize_with_threading(Threading::Funneled).ok_or(Error::Communication {
                step: 0,
                rank: 0,
                size: 0,
                kind: CommunicationErrorKind::InitFailed,
            })?;
        let world = universe.world();
        let mut comm = Self::from_world(world);
        comm._universe = Some(universe);
        Ok(comm)
    }

    /// Wraps a communicator (e.g. `universe.world()` or a split of it) of a program that
    /// manages MPI itself.
    pub fn from_world(world: SimpleCommunicator) -> Self {
        let rank = world.rank() as usize;
        let size = world.size() as usize;
        let v = || vec![0 as Count; size];
        Self {
            world,
            rank,
            size,
            scratch: RefCell::new([v(), v(), v(), v()]),
            _universe: None,
        }
    }

    /// The underlying rsmpi communicator, for anything else the program needs (e.g.
    /// broadcasting `x_0` or the baseline `f32` all-reduce of the vote benchmark).
    pub fn raw(&self) -> &SimpleCommunicator {
        &self.world
    }
}

fn fill_partition(counts: &[usize], out_counts: &mut [Count], out_displs: &mut [Count]) {
    let mut at = 0;
    for ((&c, oc), od) in counts.iter().zip(out_counts).zip(out_displs) {
        *oc = Count::try_from(c).expect("all_to_all_varcount: count exceeds i32");
        *od = Count::try_from(at).expect("all_to_all_varcount: offset exceeds i32");
        at += c;
    }
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn barrier(&self) -> std::result::Result<(), CommunicationErrorKind> {
        self.world.barrier();
        Ok(())
    }

    fn all_gather_f64(
        &self,
        send: &[f64],
        recv: &mut [f64],
    ) -> std::result::Result<(), CommunicationErrorKind> {
        assert_eq!(
            recv.len(),
            send.len() * self.size,
            "all_gather_f64: recv length"
        );
        self.world.all_gather_into(send, recv);
        Ok(())
    }

    fn all_gather_u64(
        &self,
        send: &[u64],
        recv: &mut [u64],
    ) -> std::result::Result<(), CommunicationErrorKind> {
        assert_eq!(
            recv.len(),
            send.len() * self.size,
            "all_gather_u64: recv length"
        );
        self.world.all_gather_into(send, recv);
        Ok(())
    }

    fn all_to_all_u64(
        &self,
        send: &[u64],
        recv: &mut [u64],
    ) -> std::result::Result<(), CommunicationErrorKind> {
        assert_eq!(send.len(), recv.len(), "all_to_all_u64: lengths");
        assert_eq!(send.len() % self.size, 0, "all_to_all_u64: blocks");
        self.world.all_to_all_into(send, recv);
        Ok(())
    }

    fn all_to_all_varcount_u64(
        &self,
        send: &[u64],
        send_counts: &[usize],
        recv: &mut [u64],
        recv_counts: &[usize],
    ) -> std::result::Result<(), CommunicationErrorKind> {
        assert_eq!(send_counts.len(), self.size, "all_to_all_varcount: counts");
        assert_eq!(recv_counts.len(), self.size, "all_to_all_varcount: counts");
        let mut scratch = self.scratch.borrow_mut();
        let [sc, sd, rc, rd] = &mut *scratch;
        fill_partition(send_counts, sc, sd);
        fill_partition(recv_counts, rc, rd);
        let send = Partition::new(send, &sc[..], &sd[..]);
        let mut recv = PartitionMut::new(recv, &rc[..], &rd[..]);
        self.world.all_to_all_varcount_into(&send, &mut recv);
        Ok(())
    }
}
