//! Distributed methods on the in-process backend: `M = 1` equals the single-node optimizers bit
//! for bit, the vote equals a naive count for `M = 1..7`, failures reach every rank, and sharded
//! logistic regression converges with bit-identical parameters on every rank.

use proptest::prelude::*;
use signfree::dist::{
    Communicator, DistAliasSignSgd, DistAliasSignSgdConfig, DistSignSgd, LocalCommunicator,
    SignVote, all_reduce_sum,
};
use signfree::{
    AliasRule, AliasSignSgd, AliasSignSgdConfig, AliasStepsize, Bundled, CommunicationErrorKind,
    Cost, CostGradient, Error, LogisticRegression, Optimizer, Problem, Schedule, SignSgd,
    SignSgdConfig, Warmup,
};

fn mushrooms() -> LogisticRegression {
    LogisticRegression::new(Bundled::Mushrooms.load().unwrap(), 1e-4).unwrap()
}

/// The distributed configuration with the same rule and weight decay.
fn dist_config(cfg: &AliasSignSgdConfig) -> DistAliasSignSgdConfig {
    assert!(cfg.momentum.is_none() && cfg.memory == signfree::AliasMemory::Full);
    DistAliasSignSgdConfig {
        rule: cfg.rule.clone(),
        weight_decay: cfg.weight_decay,
    }
}

/// Runs single-node ALIAS and 1-rank distributed ALIAS side by side; every step's report and
/// parameters must be identical (f64 and f32).
fn assert_one_rank_is_single_node(cfg: AliasSignSgdConfig, steps: usize) {
    let p = mushrooms();
    let d = p.dim();
    LocalCommunicator::run(1, |comm| {
        let mut single = AliasSignSgd::<f64>::new(cfg.clone(), &[d]).unwrap();
        let mut dist = DistAliasSignSgd::<f64, _>::new(dist_config(&cfg), &[d], comm).unwrap();
        let (mut x1, mut x2, mut g) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
        for t in 0..steps {
            let loss = p.cost_and_gradient(&x1, &mut g).unwrap();
            let r1 = single.step_flat(&mut x1, &g, Some(loss)).unwrap();
            let r2 = dist.step_flat(&mut x2, &g, Some(loss)).unwrap();
            assert_eq!(r1, r2, "report at step {t}");
            assert!(
                x1.iter().zip(&x2).all(|(a, b)| a.to_bits() == b.to_bits()),
                "x at step {t}"
            );
        }
        // f32 parameters, the same gradients rounded.
        let mut single = AliasSignSgd::<f32>::new(cfg.clone(), &[d]).unwrap();
        let comm = dist.communicator();
        let mut dist = DistAliasSignSgd::<f32, _>::new(dist_config(&cfg), &[d], comm).unwrap();
        let (mut x1, mut x2) = (vec![0.0_f32; d], vec![0.0_f32; d]);
        let mut gf = vec![0.0_f32; d];
        for t in 0..steps {
            let xd: Vec<f64> = x1.iter().map(|&v| v.into()).collect();
            let loss = p.cost_and_gradient(&xd, &mut g).unwrap();
            gf.iter_mut().zip(&g).for_each(|(o, &v)| *o = v as f32);
            let r1 = single.step_flat(&mut x1, &gf, Some(loss)).unwrap();
            let r2 = dist.step_flat(&mut x2, &gf, Some(loss)).unwrap();
            assert_eq!(r1, r2, "f32 report at step {t}");
            assert_eq!(x1, x2, "f32 x at step {t}");
        }
    });
}

#[test]
fn one_rank_reproduces_alias_option_d_bit_for_bit() {
    assert_one_rank_is_single_node(AliasSignSgdConfig::default(), 300);
}

#[test]
fn one_rank_reproduces_alias_option_f_with_options_bit_for_bit() {
    let cfg = AliasSignSgdConfig {
        rule: AliasRule {
            initial_smoothness: Some(1.0),
            max_stepsize: Some(0.5),
            warmup: Some(Warmup {
                steps: 5,
                lr: 1e-3,
                schedule: Schedule::Constant,
            }),
            ..AliasRule::option_f(0.0)
        },
        weight_decay: 1e-3,
        ..Default::default()
    };
    assert_one_rank_is_single_node(cfg, 300);
}

#[test]
fn one_rank_reproduces_sign_sgd_and_signum_bit_for_bit() {
    let p = mushrooms();
    let d = p.dim();
    for momentum in [None, Some(0.9)] {
        let cfg = SignSgdConfig {
            lr: 0.01,
            schedule: Schedule::InverseSqrt,
            momentum,
            weight_decay: 0.1,
        };
        LocalCommunicator::run(1, |comm| {
            let mut single = SignSgd::<f64>::new(cfg.clone(), &[d]).unwrap();
            let mut dist = DistSignSgd::<f64, _>::new(cfg.clone(), &[d], comm).unwrap();
            let (mut x1, mut x2, mut g) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
            for t in 0..200 {
                p.cost_and_gradient(&x1, &mut g).unwrap();
                let r1 = single.step_flat(&mut x1, &g, None).unwrap();
                let r2 = dist.step_flat(&mut x2, &g, None).unwrap();
                assert_eq!(r1, r2);
                assert_eq!(x1, x2, "step {t}, momentum {momentum:?}");
            }
        });
    }
}

/// The naive reference: count `sign(u^m_i)` over ranks, take the sign of the sum.
fn naive_vote(inputs: &[Vec<Vec<f32>>]) -> Vec<Vec<f32>> {
    let sign = |v: f32| {
        if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        }
    };
    (0..inputs[0].len())
        .map(|k| {
            (0..inputs[0][k].len())
                .map(|i| {
                    let c: i32 = inputs.iter().map(|r| sign(r[k][i])).sum();
                    c.signum() as f32
                })
                .collect()
        })
        .collect()
}

/// Random tensors for `m` ranks: values in {−2, −1, −0, 0, 1, 2} with a zero probability
/// `zero_pct`%, so both zero encodings (index list and mask) are exercised.
fn vote_case() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<Vec<f32>>>)> {
    (
        1_usize..=7,
        prop::collection::vec(0_usize..300, 1..4),
        0_u32..=100,
    )
        .prop_flat_map(|(m, layout, zero_pct)| {
            let tensors: Vec<_> = layout
                .iter()
                .map(|&n| {
                    prop::collection::vec(
                        (0_u32..100, any::<bool>(), 1_u32..3).prop_map(move |(z, neg, mag)| {
                            if z < zero_pct {
                                if neg { -0.0 } else { 0.0 }
                            } else if neg {
                                -(mag as f32)
                            } else {
                                mag as f32
                            }
                        }),
                        n,
                    )
                })
                .collect();
            (Just(layout), prop::collection::vec(tensors, m))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn vote_matches_naive_count((layout, inputs) in vote_case()) {
        let expected = naive_vote(&inputs);
        let m = inputs.len();
        let results = LocalCommunicator::run(m, |comm| {
            let mut vote = SignVote::new(&comm, &layout).unwrap();
            let mine: Vec<&[f32]> = inputs[comm.rank()].iter().map(Vec::as_slice).collect();
            let mut out: Vec<Vec<f32>> = layout.iter().map(|&n| vec![7.0; n]).collect();
            let mut outs: Vec<&mut [f32]> = out.iter_mut().map(Vec::as_mut_slice).collect();
            // Twice: buffers are reused between votes.
            vote.vote(&comm, &mine, &mut outs).unwrap();
            vote.vote(&comm, &mine, &mut outs).unwrap();
            out
        });
        for out in &results {
            prop_assert_eq!(out, &expected);
        }
    }
}

/// Bytes per rank for a dense vector: `(M−1)(B+1)·8` signs, `(M−1)·2B·8` votes, nothing for
/// zeros; at least 16× below a ring all-reduce of `f32` (`2(M−1)/M·4d`).
#[test]
fn vote_traffic_is_three_bits_per_coordinate() {
    let d = 1 << 16;
    for m in [2_usize, 3, 4, 7] {
        let traffic = LocalCommunicator::run(m, |comm| {
            let g: Vec<f32> = (0..d)
                .map(|i| if i % 3 == 0 { -1.0 } else { 0.5 })
                .collect();
            let mut vote = SignVote::new(&comm, &[d]).unwrap();
            let mut out = vec![0.0_f32; d];
            vote.vote(&comm, &[&g], &mut [&mut out]).unwrap()
        });
        let b = (d / 64).div_ceil(m) as u64;
        let others = m as u64 - 1;
        for t in traffic {
            assert_eq!(t.signs, others * (b + 1) * 8);
            assert_eq!(t.zeros, 0);
            assert_eq!(t.votes, others * 2 * b * 8);
            let ring_f32 = 2 * others * (d as u64) * 4 / m as u64;
            assert!(ring_f32 >= 16 * t.total(), "M = {m}: {t:?} vs {ring_f32}");
        }
    }
}

#[test]
fn scalar_all_reduce_is_identical_on_every_rank() {
    let out = LocalCommunicator::run(5, |comm| {
        let mut v = [0.1 * comm.rank() as f64, 1e-17, 1.0];
        let mut scratch = [0.0; 15];
        let bytes = all_reduce_sum(&comm, &mut v, &mut scratch).unwrap();
        (v, bytes)
    });
    for (v, bytes) in &out {
        assert_eq!(v.map(f64::to_bits), out[0].0.map(f64::to_bits));
        assert_eq!(*bytes, 4 * 3 * 8);
    }
    let direct = 0.0 + 0.1 + 0.2 + 0.30000000000000004 + 0.4;
    assert_eq!(out[0].0[0], direct);
}

/// Sharded logistic regression (mushrooms, 4 ranks): every rank's gradient is its shard's,
/// parameters stay bit-identical, and the full loss falls.
#[test]
fn sharded_logistic_regression_converges_identically_on_every_rank() {
    let data = Bundled::Mushrooms.load().unwrap();
    let full = LogisticRegression::new(data.clone(), 1e-4).unwrap();
    let d = full.dim();
    for cfg in [
        DistAliasSignSgdConfig::default(),
        DistAliasSignSgdConfig::option_f(0.0),
    ] {
        let xs = LocalCommunicator::run(4, |comm| {
            let shard = data.shard(comm.rank(), comm.size()).unwrap();
            let p = LogisticRegression::new(shard, 1e-4).unwrap();
            let mut opt = DistAliasSignSgd::<f64, _>::new(cfg.clone(), &[d], comm).unwrap();
            let (mut x, mut g) = (vec![0.0; d], vec![0.0; d]);
            for _ in 0..300 {
                let loss = p.cost_and_gradient(&x, &mut g).unwrap();
                opt.step_flat(&mut x, &g, Some(loss)).unwrap();
            }
            x
        });
        assert!(xs.iter().all(|x| x == &xs[0]));
        let f0 = full.cost(&vec![0.0; d]).unwrap();
        let f = full.cost(&xs[0]).unwrap();
        // mushrooms is sorted by class, so contiguous shards are very unequal (shard 0: 88%
        // class 2, shard 2: 82% class 1) and the vote follows the median shard, not the mean:
        // 0.17 here against 0.014 for single-node ALIAS on the full data (Options D and F alike).
        assert!(f < 0.3 * f0, "{cfg:?}: f = {f}, f0 = {f0}");
    }
}

/// A rank with a NaN gradient: it returns `NonFiniteGradient`, every other rank
/// `Communication { PeerFailed }`, nobody changes anything, and the next good step works.
#[test]
fn a_failing_rank_fails_every_rank_without_change() {
    let d = 70;
    for method in ["alias", "sign-sgd"] {
        let out = LocalCommunicator::run(3, |comm| {
            let rank = comm.rank();
            let mut opt: Box<dyn Optimizer<f64>> = if method == "alias" {
                Box::new(
                    DistAliasSignSgd::<f64, _>::new(DistAliasSignSgdConfig::default(), &[d], comm)
                        .unwrap(),
                )
            } else {
                Box::new(DistSignSgd::<f64, _>::new(SignSgdConfig::default(), &[d], comm).unwrap())
            };
            let mut x = vec![0.5; d];
            let grad = |x: &[f64], r: usize| -> Vec<f64> {
                x.iter()
                    .enumerate()
                    .map(|(i, v)| v - (i + r) as f64 * 0.01)
                    .collect()
            };
            for _ in 0..4 {
                let g = grad(&x, rank);
                opt.step_flat(&mut x, &g, None).unwrap();
            }
            let before = x.clone();
            let mut g = grad(&x, rank);
            if rank == 1 {
                g[17] = f64::NAN;
            }
            let err = opt.step_flat(&mut x, &g, None).unwrap_err();
            assert_eq!(x, before);
            assert_eq!(opt.steps_taken(), 4);
            // Wrong shape on rank 2 only.
            let short = vec![0.0; d - 1];
            let g = grad(&x, rank);
            let shape_err = if rank == 2 {
                opt.step_flat(&mut x[..d - 1], &short, None).unwrap_err()
            } else {
                opt.step_flat(&mut x, &g, None).unwrap_err()
            };
            assert_eq!(x, before);
            // Then a good step on every rank.
            let g = grad(&x, rank);
            opt.step_flat(&mut x, &g, None).unwrap();
            assert_eq!(opt.steps_taken(), 5);
            (err, shape_err, x)
        });
        for (rank, (err, shape_err, x)) in out.iter().enumerate() {
            match (rank, err) {
                (
                    1,
                    Error::NonFiniteGradient {
                        step: 4, index: 17, ..
                    },
                ) => {}
                (
                    0 | 2,
                    Error::Communication {
                        step: 4,
                        kind:
                            CommunicationErrorKind::PeerFailed {
                                failed: 1,
                                first: 1,
                            },
                        ..
                    },
                ) => {}
                _ => panic!("{method}: rank {rank}: {err:?}"),
            }
            match (rank, shape_err) {
                (2, Error::DimensionMismatch { .. }) => {}
                (
                    0 | 1,
                    Error::Communication {
                        kind:
                            CommunicationErrorKind::PeerFailed {
                                failed: 1,
                                first: 2,
                            },
                        ..
                    },
                ) => {}
                _ => panic!("{method}: rank {rank}: {shape_err:?}"),
            }
            assert_eq!(x, &out[0].2);
        }
    }
}

#[test]
fn loss_on_some_ranks_only_is_a_mismatch_everywhere() {
    let out = LocalCommunicator::run(2, |comm| {
        let rank = comm.rank();
        let mut opt =
            DistAliasSignSgd::<f64, _>::new(DistAliasSignSgdConfig::option_f(0.0), &[3], comm)
                .unwrap();
        let mut x = vec![1.0; 3];
        let loss = (rank == 0).then_some(1.0);
        let err = opt.step_flat(&mut x, &[1.0, 1.0, 1.0], loss).unwrap_err();
        (err, x, opt.steps_taken())
    });
    for (err, x, steps) in out {
        assert!(matches!(
            err,
            Error::Communication {
                kind: CommunicationErrorKind::Mismatch { .. },
                ..
            }
        ));
        assert_eq!((x, steps), (vec![1.0; 3], 0));
    }
}

#[test]
fn a_rank_that_leaves_fails_the_others() {
    let out = LocalCommunicator::run(3, |comm| {
        if comm.rank() == 2 {
            return None;
        }
        let mut opt =
            DistAliasSignSgd::<f64, _>::new(DistAliasSignSgdConfig::default(), &[4], comm).unwrap();
        let mut x = vec![1.0; 4];
        Some((opt.step_flat(&mut x, &[1.0; 4], None).unwrap_err(), x))
    });
    for (err, x) in out.into_iter().flatten() {
        assert!(matches!(
            err,
            Error::Communication {
                kind: CommunicationErrorKind::PeerLost,
                ..
            }
        ));
        assert_eq!(x, vec![1.0; 4]);
    }
}

#[test]
fn unsupported_options_are_refused() {
    let comm = LocalCommunicator::world(1).pop().unwrap();
    // Momentum and sign-only memory are not in the distributed configuration at all.
    for (cfg, name) in [(
        DistAliasSignSgdConfig {
            rule: AliasRule {
                update_gap: 2,
                stepsize: AliasStepsize::GapEstimate { d0: None },
                ..Default::default()
            },
            ..Default::default()
        },
        "update_gap",
    )] {
        match DistAliasSignSgd::<f32, _>::new(cfg, &[3], &comm) {
            Err(Error::InvalidParameter { parameter, .. }) => assert_eq!(parameter, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(comm.size(), 1);
}

#[test]
fn distributed_states_restore_and_continue_bit_for_bit() {
    use signfree::Stateful;
    let out = LocalCommunicator::run(3, |comm| {
        let rank = comm.rank() as f64;
        let grad = |x: &[f64], t: usize| -> Vec<f64> {
            x.iter()
                .enumerate()
                .map(|(i, v)| v - (i as f64 + rank + t as f64 * 0.1).sin())
                .collect()
        };
        let cfg = DistAliasSignSgdConfig::option_f(0.0);
        let mut a = DistAliasSignSgd::<f64, _>::new(cfg.clone(), &[4], &comm).unwrap();
        let mut x = vec![0.5; 4];
        for t in 0..3 {
            let g = grad(&x, t);
            a.step_flat(&mut x, &g, Some(2.0)).unwrap();
        }
        // Restore this rank's state into a second optimizer on the same communicator.
        let saved = a.state().clone();
        let mut b = DistAliasSignSgd::<f64, _>::new(cfg, &[4], &comm).unwrap();
        b.set_state(saved.clone()).unwrap();
        let mut corrupt = saved.clone();
        corrupt.prev_vote[0][1] = 0.5;
        assert!(matches!(
            b.set_state(corrupt),
            Err(Error::IncompatibleState { .. })
        ));
        let mut y = x.clone();
        let mut xs = Vec::new();
        for t in 3..6 {
            let g = grad(&x, t);
            a.step_flat(&mut x, &g, Some(2.0)).unwrap();
            xs.push(x.clone());
        }
        // b continues from the saved point with the same gradients.
        let mut ys = Vec::new();
        b.set_state(saved).unwrap();
        for t in 3..6 {
            let g = grad(&y, t);
            b.step_flat(&mut y, &g, Some(2.0)).unwrap();
            ys.push(y.clone());
        }
        (xs, ys)
    });
    for (xs, ys) in out {
        assert_eq!(xs, ys);
    }
}

/// Each rank saves its own checkpoint (JSON) after 3 steps; optimizers restored from them on
/// the same world continue bit for bit with the originals, for distributed ALIAS and Signum. A
/// checkpoint restored on another rank is a typed error.
#[cfg(feature = "serde")]
#[test]
fn distributed_checkpoints_restore_on_every_rank() {
    use signfree::CheckpointError;
    let out = LocalCommunicator::run(3, |comm| {
        let rank = comm.rank();
        let grad = |x: &[f64], t: usize| -> Vec<f64> {
            x.iter()
                .enumerate()
                .map(|(i, v)| v - (i as f64 + rank as f64 + t as f64 * 0.1).sin())
                .collect()
        };
        let mut a =
            DistAliasSignSgd::<f64, _>::new(DistAliasSignSgdConfig::option_f(0.0), &[4], &comm)
                .unwrap();
        let signum = SignSgdConfig {
            lr: 0.05,
            momentum: Some(0.9),
            ..Default::default()
        };
        let mut s = DistSignSgd::<f64, _>::new(signum, &[4], &comm).unwrap();
        let step = |o: &mut dyn Optimizer<f64>, x: &mut Vec<f64>, t: usize, loss| {
            let g = grad(x, t);
            o.step_flat(x, &g, loss).unwrap()
        };
        let (mut x, mut y) = (vec![0.5; 4], vec![0.5; 4]);
        for t in 0..3 {
            step(&mut a, &mut x, t, Some(2.0));
            step(&mut s, &mut y, t, None);
        }
        let (ja, js) = (a.to_json().unwrap(), s.to_json().unwrap());
        let mut b = DistAliasSignSgd::<f64, _>::from_json(&ja, &comm).unwrap();
        let mut r = DistSignSgd::<f64, _>::from_json(&js, &comm).unwrap();
        let (mut x2, mut y2) = (x.clone(), y.clone());
        for t in 3..8 {
            let ra = step(&mut a, &mut x, t, Some(2.0));
            assert_eq!(ra, step(&mut b, &mut x2, t, Some(2.0)));
            step(&mut s, &mut y, t, None);
            step(&mut r, &mut y2, t, None);
        }
        assert_eq!((&x, &y), (&x2, &y2));
        (rank, ja, x)
    });
    // Every rank ends at the same point; rank 0's checkpoint does not restore on rank 1.
    assert!(out.iter().all(|(_, _, x)| x == &out[0].2));
    let from_rank_0 = out[0].1.clone();
    let errs = LocalCommunicator::run(2, |comm| {
        DistAliasSignSgd::<f64, _>::from_json(&from_rank_0, comm).err()
    });
    for err in errs {
        assert!(
            matches!(
                err,
                Some(Error::Checkpoint(CheckpointError::World {
                    saved_rank: 0,
                    saved_size: 3,
                    ..
                }))
            ),
            "{err:?}"
        );
    }
}
