//! Checks the MPI backend against the in-process simulation, in one program.
//!
//! ```text
//! cargo build --features mpi --example dist_mpi_check
//! mpirun --allow-run-as-root --oversubscribe -np 4 target/debug/examples/dist_mpi_check
//! ```
//!
//! Every rank trains a9a logistic regression (its contiguous shard) with distributed ALIAS
//! (Options D and F) and majority-vote Signum over MPI, then
//! 1. all-gathers a hash of its parameters' bits and asserts they are equal on every rank;
//! 2. runs the same training with the in-process backend (`M` threads, the same shards) and
//!    asserts the parameters are bit-identical to the MPI run's;
//! 3. makes the last rank's gradient NaN at one step and asserts that every rank returns an
//!    error (its own or `PeerFailed`), nothing changes, and training then continues.
//!
//! Any failed assertion panics, which makes `mpirun` exit non-zero. `tests/dist_mpi.rs` runs
//! the same checks as a 1-rank world under `cargo test`.

use signfree::dist::{
    Communicator, DistAliasSignSgd, DistAliasSignSgdConfig, DistSignSgd, LocalCommunicator,
    MpiCommunicator,
};
use signfree::{
    Bundled, CommunicationErrorKind, CostGradient, Dataset, Error, LogisticRegression, Optimizer,
    Problem, Schedule, SignSgdConfig,
};

const STEPS: usize = 60;
const MU: f64 = 1e-4;

#[derive(Clone, Copy, Debug)]
enum Method {
    AliasD,
    AliasF,
    Signum,
}

fn optimizer<'c, C: Communicator + 'c>(
    method: Method,
    d: usize,
    comm: C,
) -> Box<dyn Optimizer<f64> + 'c> {
    match method {
        Method::AliasD => Box::new(
            DistAliasSignSgd::<f64, _>::new(DistAliasSignSgdConfig::default(), &[d], comm).unwrap(),
        ),
        Method::AliasF => {
            let cfg = DistAliasSignSgdConfig::option_f(0.0);
            Box::new(DistAliasSignSgd::<f64, _>::new(cfg, &[d], comm).unwrap())
        }
        Method::Signum => {
            let cfg = SignSgdConfig {
                lr: 0.05,
                schedule: Schedule::InverseSqrt,
                momentum: Some(0.9),
                weight_decay: 0.0,
            };
            Box::new(DistSignSgd::<f64, _>::new(cfg, &[d], comm).unwrap())
        }
    }
}

/// `STEPS` steps on this rank's shard; with `fail_at`, the last rank's gradient is NaN at that
/// step and the failure is checked on every rank.
fn train<C: Communicator>(
    method: Method,
    data: &Dataset,
    comm: C,
    fail_at: Option<usize>,
) -> Vec<f64> {
    let (rank, size) = (comm.rank(), comm.size());
    let shard = data.shard(rank, size).unwrap();
    let p = LogisticRegression::new(shard, MU).unwrap();
    let d = p.dim();
    let mut opt = optimizer(method, d, comm);
    let (mut x, mut g) = (vec![0.0; d], vec![0.0; d]);
    for t in 0..STEPS {
        let loss = p.cost_and_gradient(&x, &mut g).unwrap();
        if fail_at == Some(t) {
            let mut bad = g.clone();
            if rank == size - 1 {
                bad[3] = f64::NAN;
            }
            let before = x.clone();
            let err = opt.step_flat(&mut x, &bad, Some(loss)).unwrap_err();
            match err {
                Error::NonFiniteGradient { index: 3, .. } if rank == size - 1 => {}
                Error::Communication {
                    kind: CommunicationErrorKind::PeerFailed { failed: 1, first },
                    ..
                } if rank != size - 1 && first == size - 1 => {}
                other => panic!("rank {rank}: unexpected {other:?}"),
            }
            assert_eq!(
                x, before,
                "rank {rank}: parameters changed by a failed step"
            );
            assert_eq!(opt.steps_taken(), t as u64);
        }
        opt.step_flat(&mut x, &g, Some(loss)).unwrap();
    }
    x
}

fn hash(x: &[f64]) -> u64 {
    // FNV-1a over the bits.
    x.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| {
        (h ^ v.to_bits()).wrapping_mul(0x100_0000_01b3)
    })
}

/// Runs every check on `comm`; panics on failure. Returns the full-data losses per method.
pub fn run_checks(comm: &MpiCommunicator) -> Vec<(String, f64)> {
    let data = Bundled::A9a.load().unwrap();
    let full = LogisticRegression::new(data.clone(), MU).unwrap();
    let (rank, size) = (comm.rank(), comm.size());
    let mut losses = Vec::new();
    for method in [Method::AliasD, Method::AliasF, Method::Signum] {
        for fail_at in [None, Some(7)] {
            let x = train(method, &data, comm, fail_at);
            // 1. Bit-identical on every rank.
            let mut all = vec![0_u64; size];
            comm.all_gather_u64(&[hash(&x)], &mut all).unwrap();
            assert!(
                all.iter().all(|&h| h == all[0]),
                "{method:?}: parameters differ between ranks: {all:x?}"
            );
            // 2. Equal to the in-process simulation with the same shards.
            let simulated = LocalCommunicator::run(size, |c| train(method, &data, c, fail_at));
            for (r, xs) in simulated.iter().enumerate() {
                assert!(
                    xs.iter().zip(&x).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{method:?}: MPI rank {rank} differs from simulated rank {r}"
                );
            }
            let mut g = vec![0.0; full.dim()];
            let f = full.cost_and_gradient(&x, &mut g).unwrap();
            losses.push((format!("{method:?} fail_at={fail_at:?}"), f));
        }
    }
    losses
}

#[allow(dead_code)]
fn main() {
    let comm = MpiCommunicator::init().expect("MPI initialises");
    let losses = run_checks(&comm);
    comm.barrier().unwrap();
    if comm.rank() == 0 {
        for (what, f) in losses {
            println!("{what}: full loss after {STEPS} steps {f:.6}");
        }
        println!(
            "dist_mpi_check: OK on {} ranks (bit-identical across ranks and equal to the \
             in-process simulation)",
            comm.size()
        );
    }
}
