//! The majority vote against an `f32` all-reduce of the same vector, in the same MPI run.
//!
//! ```text
//! cargo build --release --features mpi --example vote_bench
//! mpirun --allow-run-as-root --oversubscribe -np 4 target/release/examples/vote_bench [d=16777216] [reps=5]
//! ```
//!
//! Each rank holds a dense random `f32` vector of length `d`. Timed, after a barrier, with the
//! slowest rank's time per repetition and the median over repetitions reported:
//! - `vote (exchange)`: [`SignVote::exchange`] on already-packed signs (the communication and
//!   the counting);
//! - `vote (pack+exchange+unpack)`: the whole step from the `f32` vector to the `±1/0` vote;
//! - `f32 all_reduce`: `MPI_Allreduce(MPI_SUM)` of the vector, what data-parallel SGD sends.
//!
//! Bytes per rank: the vote's [`Traffic`](signfree::dist::Traffic); for the all-reduce the ring
//! algorithm's `2(M−1)/M·4d` (the bandwidth-optimal payload, which Open MPI's large-message
//! algorithms also send).

use std::time::Instant;

use mpi::collective::SystemOperation;
use mpi::traits::CommunicatorCollectives;
use signfree::dist::{Communicator, MpiCommunicator, SignVote};
use signfree::kernels::Kernels;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let d: usize = args.next().map_or(1 << 24, |s| s.parse().expect("d"));
    let reps: usize = args.next().map_or(5, |s| s.parse().expect("reps"));
    let comm = MpiCommunicator::init().expect("MPI initialises");
    let (rank, size) = (comm.rank(), comm.size());

    // A dense pseudo-random vector, different on every rank (xorshift64*).
    let mut s = 0x9e37_79b9_7f4a_7c15_u64 ^ (rank as u64 + 1);
    let g: Vec<f32> = (0..d)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            ((s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1 << 24) as f32) - 0.5
        })
        .collect();
    let kernels = Kernels::detect().with_threads(1);
    let mut vote = SignVote::with_kernels(&comm, &[d], kernels).expect("vote buffers");
    let mut out = vec![0.0_f32; d];
    let mut sum = vec![0.0_f32; d];

    // Slowest rank's time of `f`, per repetition.
    let timed = |f: &mut dyn FnMut()| -> f64 {
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            comm.barrier().unwrap();
            let t = Instant::now();
            f();
            let mine = t.elapsed().as_secs_f64();
            let mut all = vec![0.0; size];
            comm.all_gather_f64(&[mine], &mut all).unwrap();
            times.push(all.into_iter().fold(0.0, f64::max));
        }
        median(times)
    };

    let mut traffic = Default::default();
    vote.pack(0, &g);
    let t_exchange = timed(&mut || traffic = vote.exchange(&comm).unwrap());
    let t_full = timed(&mut || {
        vote.pack(0, &g);
        vote.exchange(&comm).unwrap();
        vote.unpack(0, &mut out);
    });
    let t_allreduce = timed(&mut || {
        comm.raw()
            .all_reduce_into(&g[..], &mut sum[..], SystemOperation::sum())
    });

    let traffic: signfree::dist::Traffic = traffic;
    let vote_bytes = traffic.total();
    let ring_bytes = (2 * (size - 1) * d * 4 / size) as u64;
    if rank == 0 {
        println!("vote_bench: M = {size} ranks, d = {d}, median of {reps} (slowest rank)");
        println!(
            "{:<30} {:>12} {:>14} {:>10}",
            "operation", "time (ms)", "bytes/rank", "bits/coord"
        );
        let row = |name: &str, t: f64, b: u64| {
            println!(
                "{name:<30} {:>12.2} {b:>14} {:>10.3}",
                t * 1e3,
                b as f64 * 8.0 / d as f64
            );
        };
        row("vote (exchange)", t_exchange, vote_bytes);
        row("vote (pack+exchange+unpack)", t_full, vote_bytes);
        row("f32 all_reduce (MPI_SUM)", t_allreduce, ring_bytes);
        println!(
            "bytes: {:.1}x fewer; time: exchange {:.1}x, whole vote {:.1}x faster",
            ring_bytes as f64 / vote_bytes as f64,
            t_allreduce / t_exchange,
            t_allreduce / t_full
        );
        println!("vote traffic breakdown: {traffic:?}");
    }
}
