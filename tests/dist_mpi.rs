//! The MPI backend under `cargo test`: a 1-rank MPI world (singleton init, no `mpirun`) runs the
//! checks of `examples/dist_mpi_check.rs`: bit-identical parameters, equality with the
//! in-process simulation, and failure agreement. `.ci/run` runs the same example under
//! `mpirun` with 2 and 4 ranks.
#![cfg(feature = "mpi")]

#[path = "../examples/dist_mpi_check.rs"]
#[allow(dead_code)]
mod dist_mpi_check;

use signfree::dist::{Communicator, MpiCommunicator};

/// One test only: MPI can be initialised once per process.
#[test]
fn mpi_world_matches_the_in_process_simulation() {
    let comm = MpiCommunicator::init().expect("MPI initialises (singleton world)");
    let losses = dist_mpi_check::run_checks(&comm);
    assert_eq!(losses.len(), 6);
    for (what, f) in losses {
        assert!(f < std::f64::consts::LN_2, "{what}: {f}");
    }
    assert!(comm.size() >= 1);
}
