//! Distributed ALIAS on a9a logistic regression (`μ = 1e-4`) over MPI: each rank trains on its
//! contiguous shard, the ranks exchange packed signs and a few scalars, and rank 0 prints the
//! bytes it sent per step and the full-data loss.
//!
//! ```text
//! cargo build --release --features mpi --example distributed_logreg
//! mpirun --allow-run-as-root --oversubscribe -np 4 \
//!     target/release/examples/distributed_logreg [steps=500] [every=50] [D|F]
//! ```
//!
//! The full loss is `f(x) = Σ_m (n_m/n) f_m(x)` (each shard's loss includes the `μ/2‖x‖²`
//! term, so the weighted mean is exactly the full objective), all-reduced every `every` steps.

use std::time::Instant;

use signfree::dist::{
    Communicator, DistAliasSignSgd, DistAliasSignSgdConfig, MpiCommunicator, all_reduce_sum,
};
use signfree::{Bundled, CostGradient, LogisticRegression, Optimizer, Problem, Stateful};

fn main() -> Result<(), signfree::Error> {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map_or(500, |s| s.parse().expect("steps"));
    let every: usize = args.next().map_or(50, |s| s.parse().expect("every"));
    let option = args.next().unwrap_or_else(|| "D".into());
    let config = match option.as_str() {
        "D" => DistAliasSignSgdConfig::default(),
        "F" => DistAliasSignSgdConfig::option_f(0.0),
        other => panic!("option must be D or F, got {other}"),
    };

    let comm = MpiCommunicator::init()?;
    let (rank, size) = (comm.rank(), comm.size());
    let data = Bundled::A9a.load()?;
    let n = data.n_samples() as f64;
    let shard = data.shard(rank, size)?;
    let n_m = shard.n_samples() as f64;
    let p = LogisticRegression::new(shard, 1e-4)?;
    let d = p.dim();
    let mut opt = DistAliasSignSgd::<f64, _>::new(config, &[d], &comm)?;
    let (mut x, mut g) = (vec![0.0; d], vec![0.0; d]);
    let mut scratch = vec![0.0; size];
    if rank == 0 {
        println!("a9a: n = {n}, d = {d}, {size} ranks, ALIAS option {option}, μ = 1e-4");
        println!(
            "{:>6} {:>12} {:>10} {:>10} {:>12}",
            "step", "full loss", "γ_t", "bytes", "ms/step"
        );
    }
    let start = Instant::now();
    for t in 0..=steps {
        let loss = p.cost_and_gradient(&x, &mut g)?;
        if t % every == 0 || t == steps {
            // Every rank takes part: the condition depends on t only.
            let mut weighted = [loss * n_m / n];
            all_reduce_sum(&comm, &mut weighted, &mut scratch).expect("all-reduce");
            if rank == 0 {
                let ms = start.elapsed().as_secs_f64() * 1e3 / t.max(1) as f64;
                let (gamma, bytes) = (
                    opt.state().scalars.prev_stepsize,
                    opt.last_traffic().total(),
                );
                println!(
                    "{t:>6} {:>12.6} {gamma:>10.3e} {bytes:>10} {ms:>12.3}",
                    weighted[0]
                );
            }
        }
        if t == steps {
            break;
        }
        opt.step_flat(&mut x, &g, Some(loss))?;
    }
    if rank == 0 {
        let tr = opt.last_traffic();
        println!(
            "bytes sent by rank 0 per step: {} (scalars {}, signs {}, zeros {}, votes {}); \
             an f32 ring all-reduce of the gradient would send {}",
            tr.total(),
            tr.scalars,
            tr.signs,
            tr.zeros,
            tr.votes,
            2 * (size - 1) * d * 4 / size
        );
    }
    Ok(())
}
