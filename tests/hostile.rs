//! Hostile inputs: checkpoints that claim huge layouts or carry impossible values, gradients at
//! the edge of the element type, configurations beyond its range, ranks with different layouts.
//! Nothing may abort, panic, write a non-finite parameter, or reach a state its own checkpoint
//! cannot restore; every refusal is a typed error that changes nothing.
#![cfg(feature = "serde")]

#[macro_use]
#[path = "support/methods.rs"]
mod methods;

use proptest::prelude::*;
use signfree::dist::{
    Communicator, DistAliasSignSgd, DistAliasSignSgdConfig, DistSignSgd, LocalCommunicator,
};
use signfree::{
    AdamLikeCompat, AdamLikeCompatConfig, AdamW, AdamWConfig, AliasAdam, AliasAdamConfig,
    AliasRule, AliasSignSgd, AliasSignSgdConfig, Backend, Checkpointable, CommunicationErrorKind,
    Error, Float, Optimizer, Prodigy, ProdigyConfig, SignSgd, SignSgdConfig, Stateful,
};

fn json_of<O: Checkpointable>(o: &O) -> String
where
    O::State: serde::Serialize,
{
    o.to_json().expect("to_json")
}

/// Replaces the `"layout":[…]` field of a checkpoint.
fn with_layout(json: &str, layout: &str) -> String {
    let start = json.find("\"layout\":[").expect("layout field") + "\"layout\":".len();
    let end = start + json[start..].find(']').unwrap() + 1;
    format!("{}{}{}", &json[..start], layout, &json[end..])
}

// ---- 1. A checkpoint cannot kill the process --------------------------------------------------

fn hostile_layouts_are_refused<F, O>(o: O)
where
    F: Float,
    O: Checkpointable<Element = F>,
    O::State: serde::Serialize + serde::de::DeserializeOwned,
{
    let json = json_of(&o);
    for layout in [
        "[1000000000000]",
        "[18446744073709551615]",
        "[18446744073709551615,18446744073709551615]",
        "[4611686018427387904,4611686018427387904,4611686018427387904]",
        "[5,7,3]",
        "[15]",
        "[]",
    ] {
        match O::from_json(&with_layout(&json, layout)) {
            // Only an optimizer that keeps no per-parameter buffer may accept another layout
            // (it then allocates nothing for it).
            Ok(_) => assert_eq!(
                o.state_bytes_per_parameter(),
                0.0,
                "{} accepted layout {layout}",
                o.name()
            ),
            Err(Error::IncompatibleState { .. } | Error::InvalidParameter { .. }) => {}
            Err(e) => panic!("{}: layout {layout}: unexpected {e}", o.name()),
        }
    }
}

#[test]
fn checkpoints_with_hostile_layouts_are_typed_errors() {
    every_method!(f32, &[5, 3], hostile_layouts_are_refused);
    every_method!(f64, &[5, 3], hostile_layouts_are_refused);
}

#[test]
fn huge_layouts_are_refused_at_construction() {
    let e = AdamW::<f32>::new(AdamWConfig::default(), &[usize::MAX]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                parameter: "layout",
                ..
            }
        ),
        "{e}"
    );
    let e = AliasSignSgd::<f64>::new(
        AliasSignSgdConfig::default(),
        &[usize::MAX / 2, usize::MAX / 2],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                parameter: "layout",
                ..
            }
        ),
        "{e}"
    );
}

// ---- 2 and 6. Non-finite values never enter the state ------------------------------------------

/// Steps `o` through `grads` (one tensor of 4 and one of 2 coordinates); after every step the
/// parameters are finite and the state survives `to_json` → `from_json` bit for bit, and a
/// failed step changed nothing.
fn steps_stay_finite_and_restorable<F, O>(mut o: O, grads: &[Vec<f64>])
where
    F: Float,
    O: Checkpointable<Element = F>,
    O::State: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut x: Vec<F> = [0.5, -1.0, 2.0, 0.0, 1.0, -3.0].map(F::from_f64).to_vec();
    for (t, g) in grads.iter().enumerate() {
        let g: Vec<F> = g.iter().map(|&v| F::from_f64(v)).collect();
        let before_x = format!("{x:?}");
        let before_state = format!("{:?}", o.state());
        let loss = Some(1.0 + t as f64);
        let (x0, x1) = x.split_at_mut(4);
        match o.step(&mut [x0, x1], &[&g[..4], &g[4..]], loss) {
            Ok(report) => {
                assert!(report.stepsize.is_finite(), "{}: stepsize", o.name());
                assert!(
                    x.iter().all(|v| v.is_finite()),
                    "{}: non-finite parameter after gradient {g:?}: {x:?}",
                    o.name()
                );
            }
            Err(
                Error::GradientOutOfRange { .. }
                | Error::StepOutOfRange { .. }
                | Error::NonFiniteGradient { .. },
            ) => {
                assert_eq!(
                    format!("{x:?}"),
                    before_x,
                    "{}: failed step moved x",
                    o.name()
                );
                assert_eq!(
                    format!("{:?}", o.state()),
                    before_state,
                    "{}: failed step changed the state",
                    o.name()
                );
            }
            Err(e) => panic!("{}: unexpected error {e}", o.name()),
        }
        let json = o.to_json().unwrap();
        let back = O::from_json(&json)
            .unwrap_or_else(|e| panic!("{}: own checkpoint refused: {e}\n{json}", o.name()));
        assert_eq!(format!("{:?}", back.state()), format!("{:?}", o.state()));
    }
}

/// Gradients from tiny to the element type's largest magnitude (and subnormal ones).
fn edge_gradients(max: f64) -> Vec<Vec<f64>> {
    let tiny = f64::from_bits(1);
    vec![
        vec![1.0, -2.0, 0.5, 0.0, 3.0, -1.0],
        vec![1e20, -1e20, 1e19, 0.0, 1.0, 1.0],
        vec![max, -max, max, max, -max, max],
        vec![tiny, -tiny, tiny, 0.0, tiny, -tiny],
        vec![-tiny, tiny, -tiny, 0.0, -tiny, tiny],
        vec![1e-30, 1e-30, -1e-30, 1e-30, 0.0, 1e-30],
        vec![max / 3.0, 1.0, -max / 7.0, 2.0, 1e300, -1e300],
        vec![1.0, -2.0, 0.5, 0.0, 3.0, -1.0],
    ]
}

#[test]
fn edge_gradients_give_finite_restorable_states_or_typed_errors() {
    let g32 = edge_gradients(f32::MAX as f64);
    let g64 = edge_gradients(f64::MAX);
    every_method!(f32, &[4, 2], steps_stay_finite_and_restorable, &g32);
    every_method!(f64, &[4, 2], steps_stay_finite_and_restorable, &g64);
    // The f64 edge cases also through the f32 optimizers (they saturate to ±inf or round to 0
    // when converted, so they must be refused or harmless).
    every_method!(f32, &[4, 2], steps_stay_finite_and_restorable, &g64);
}

#[test]
fn exploding_adam_gradients_are_refused_not_stored_as_infinity() {
    // Regression: one AdamW<f32> step with g = 1e20 made v infinite and to_json wrote `null`.
    let mut o = AdamW::<f32>::new(AdamWConfig::default(), &[2]).unwrap();
    let mut x = [1.0_f32, 2.0];
    let e = o.step_flat(&mut x, &[1e20, 1.0], None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::GradientOutOfRange {
                tensor: 0,
                index: 0,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(x, [1.0, 2.0]);
    assert_eq!(o.steps_taken(), 0);
    assert!(AdamW::<f32>::from_json(&o.to_json().unwrap()).is_ok());
    // AdamW f64 given f64::MAX twice wrote NaN parameters.
    let mut o = AdamW::<f64>::new(AdamWConfig::default(), &[1]).unwrap();
    let mut x = [0.0_f64];
    for _ in 0..2 {
        assert!(o.step_flat(&mut x, &[f64::MAX], None).is_err());
    }
    assert_eq!(x, [0.0]);
}

#[test]
fn prodigy_in_f32_stops_with_a_typed_error_before_its_state_overflows() {
    // Regression: after ~100 steps of a constant gradient d·g² overflowed f32 and the state
    // could no longer be saved.
    let mut o = Prodigy::<f32>::new(ProdigyConfig::default(), &[3]).unwrap();
    let mut x = [0.0_f32; 3];
    let mut refused = None;
    for t in 0..400 {
        match o.step_flat(&mut x, &[1.0, -1.0, 0.5], None) {
            Ok(_) => assert!(x.iter().all(|v| v.is_finite())),
            Err(e) => {
                refused = Some((t, e));
                break;
            }
        }
        Prodigy::<f32>::from_json(&o.to_json().unwrap()).expect("restorable");
    }
    let (_, e) = refused.expect("an unbounded linear objective must hit the f32 range");
    assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}");
    Prodigy::<f32>::from_json(&o.to_json().unwrap()).expect("restorable after the refusal");
}

#[test]
fn subnormal_gradients_do_not_give_an_infinite_alias_stepsize() {
    // Regression: two f64 steps with ±5e-324 gave γ = inf.
    let tiny = f64::from_bits(1);
    let mut o = AliasSignSgd::<f64>::new(AliasSignSgdConfig::default(), &[2]).unwrap();
    let mut x = [1.0, -1.0];
    o.step_flat(&mut x, &[tiny, -tiny], None).unwrap();
    let (x1, state) = (x, o.state().clone());
    match o.step_flat(&mut x, &[-tiny, tiny], None) {
        Ok(r) => assert!(r.stepsize.is_finite() && x.iter().all(|v| v.is_finite())),
        Err(e) => {
            assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}");
            assert_eq!((x, o.state()), (x1, &state));
        }
    }
}

#[test]
fn alias_sums_that_overflow_are_refused_not_frozen() {
    // Regression: f64 gradients near 1e308 overflowed ‖g − g_prev‖_1; S became ∞ and ALIAS
    // silently froze with γ = 0.
    let mut o = AliasSignSgd::<f64>::new(AliasSignSgdConfig::default(), &[3]).unwrap();
    let mut x = [0.0; 3];
    let m = f64::MAX;
    o.step_flat(&mut x, &[m, m, m], None).unwrap();
    let (x1, state) = (x, o.state().clone());
    let e = o.step_flat(&mut x, &[-m, -m, -m], None).unwrap_err();
    assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}");
    assert_eq!((x, o.state()), (x1, &state));
}

// ---- 3. Corrupt state values are refused --------------------------------------------------------

fn negative_second_moment_is_refused<O: Checkpointable>(o: O)
where
    O::State: serde::Serialize + serde::de::DeserializeOwned,
{
    let json = json_of(&o);
    let start = json.find("\"v\":[[").expect("a v field") + "\"v\":[[".len();
    let corrupt = format!("{}-1.0{}", &json[..start], &json[start + 3..]);
    let e = O::from_json(&corrupt)
        .err()
        .expect("v = -1 must be refused");
    assert!(matches!(e, Error::IncompatibleState { .. }), "{e}");
}

#[test]
fn negative_second_moments_are_refused() {
    negative_second_moment_is_refused(AdamW::<f32>::new(AdamWConfig::default(), &[2]).unwrap());
    negative_second_moment_is_refused(
        AliasAdam::<f64>::new(AliasAdamConfig::default(), &[2]).unwrap(),
    );
    negative_second_moment_is_refused(Prodigy::<f32>::new(ProdigyConfig::default(), &[2]).unwrap());
    negative_second_moment_is_refused(
        AdamLikeCompat::<f64>::new(AdamLikeCompatConfig::default(), &[2]).unwrap(),
    );
    // The same through set_state.
    let mut o = AdamW::<f64>::new(AdamWConfig::default(), &[2]).unwrap();
    let mut s = o.state().clone();
    s.v[0][1] = -1.0;
    assert!(matches!(
        o.set_state(s),
        Err(Error::IncompatibleState { .. })
    ));
    let mut s = o.state().clone();
    s.m[0][0] = f64::INFINITY;
    assert!(matches!(
        o.set_state(s),
        Err(Error::IncompatibleState { .. })
    ));
    let mut s = o.state().clone();
    s.step = u64::MAX;
    assert!(matches!(
        o.set_state(s),
        Err(Error::IncompatibleState { .. })
    ));
}

#[test]
fn option_f_initial_loss_below_the_bound_is_refused() {
    let mut o = AliasSignSgd::<f64>::new(AliasSignSgdConfig::option_f(0.5), &[2]).unwrap();
    let mut x = [1.0, 1.0];
    o.step_flat(&mut x, &[1.0, 1.0], Some(2.0)).unwrap();
    let mut s = o.state().clone();
    s.scalars.initial_loss = Some(0.1);
    let e = o.set_state(s).unwrap_err();
    assert!(matches!(e, Error::IncompatibleState { .. }), "{e}");
    // And a first loss below the bound is a step error of its own kind, not InvalidParameter.
    let mut o = AliasSignSgd::<f64>::new(AliasSignSgdConfig::option_f(0.5), &[2]).unwrap();
    let e = o.step_flat(&mut x, &[1.0, 1.0], Some(0.25)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LossBelowLowerBound {
                step: 0,
                loss: 0.25,
                f_lower: 0.5
            }
        ),
        "{e}"
    );
    assert_eq!(o.steps_taken(), 0);
}

// ---- 4. Ranks with different layouts -------------------------------------------------------------

#[test]
fn ranks_with_different_layouts_get_a_mismatch_not_a_panic() {
    let layouts: [&[usize]; 2] = [&[5, 7, 3], &[15]];
    let check = |err: Error| {
        assert!(
            matches!(
                err,
                Error::Communication {
                    kind: CommunicationErrorKind::Mismatch { .. },
                    ..
                }
            ),
            "{err}"
        )
    };
    let out = LocalCommunicator::run(2, |comm| {
        let layout = layouts[comm.rank()];
        let mut o =
            DistAliasSignSgd::<f64, _>::new(DistAliasSignSgdConfig::default(), layout, comm)
                .unwrap();
        let mut x: Vec<Vec<f64>> = layout.iter().map(|&n| vec![1.0; n]).collect();
        let g: Vec<Vec<f64>> = layout.iter().map(|&n| vec![0.5; n]).collect();
        let mut p: Vec<&mut [f64]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gs: Vec<&[f64]> = g.iter().map(|v| v.as_slice()).collect();
        let e = o.step(&mut p, &gs, None).unwrap_err();
        (e, x)
    });
    for (e, x) in out {
        check(e);
        assert!(x.iter().flatten().all(|&v| v == 1.0));
    }
    let out = LocalCommunicator::run(2, |comm| {
        let layout = layouts[comm.rank()];
        let cfg = SignSgdConfig {
            lr: 0.1,
            ..Default::default()
        };
        let mut o = DistSignSgd::<f32, _>::new(cfg, layout, comm).unwrap();
        let mut x: Vec<Vec<f32>> = layout.iter().map(|&n| vec![1.0; n]).collect();
        let g: Vec<Vec<f32>> = layout.iter().map(|&n| vec![0.5; n]).collect();
        let mut p: Vec<&mut [f32]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gs: Vec<&[f32]> = g.iter().map(|v| v.as_slice()).collect();
        o.step(&mut p, &gs, None).unwrap_err()
    });
    out.into_iter().for_each(check);
}

#[test]
fn distributed_alias_averages_huge_losses_without_overflow() {
    // Regression: two ranks with losses 1e308 averaged as (sum)/M = inf.
    let out = LocalCommunicator::run(2, |comm| {
        let cfg = DistAliasSignSgdConfig::option_f(0.0);
        let mut o = DistAliasSignSgd::<f64, _>::new(cfg, &[2], comm).unwrap();
        let mut x = [1.0, 1.0];
        o.step_flat(&mut x, &[1.0, -1.0], Some(1e308))
            .map(|r| r.stepsize)
    });
    for r in out {
        let r = r.unwrap();
        assert!(r.is_finite(), "{r}");
    }
}

// ---- 5. Thread count --------------------------------------------------------------------------

#[test]
fn thread_count_survives_a_backend_choice_and_fixes_the_result() {
    // Above the parallel threshold (2^18) ALIAS's sums are split per thread; the thread count is
    // the user's to fix, whichever order the builder calls come in.
    let n = (1 << 21) + 4099;
    let grad = |t: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f64 * 0.618_034 + t as f64).sin() * 1.7) as f32)
            .collect()
    };
    let (g0, g1, g2) = (grad(0), grad(1), grad(2));
    let run = |o: AliasSignSgd<f32>| {
        let mut o = o;
        let mut x = vec![0.25_f32; n];
        o.step_flat(&mut x, &g0, Some(10.0)).unwrap();
        o.step_flat(&mut x, &g1, None).unwrap();
        o.step_flat(&mut x, &g2, None).unwrap().stepsize
    };
    let make = || AliasSignSgd::<f32>::new(AliasSignSgdConfig::option_f(0.0), &[n]).unwrap();
    let mut by_threads = Vec::new();
    for threads in [1, 2] {
        let a = run(make()
            .with_threads(threads)
            .with_backend(Backend::Scalar)
            .unwrap());
        let b = run(make()
            .with_backend(Backend::Scalar)
            .unwrap()
            .with_threads(threads));
        assert_eq!(a.to_bits(), b.to_bits(), "threads = {threads}");
        by_threads.push(a);
    }
    // Different thread counts sum in different orders: equal up to rounding only (measured on
    // the detected backend).
    let detected: Vec<f64> = [1, 2]
        .iter()
        .map(|&threads| run(make().with_threads(threads)))
        .collect();
    let rel = (detected[0] - detected[1]).abs() / detected[0];
    println!(
        "ALIAS γ_2 at n = {n}: scalar backend 1/2 threads {:e}/{:e}; detected backend 1/2 threads {:e}/{:e}, relative difference {rel:e}",
        by_threads[0], by_threads[1], detected[0], detected[1]
    );
    assert!(rel < 1e-12, "{rel}");
}

// ---- 6. Configuration beyond the element type, decay, empty models -------------------------------

#[test]
fn configurations_beyond_the_element_type_are_refused() {
    let e = SignSgd::<f32>::new(
        SignSgdConfig {
            lr: 1e39,
            ..Default::default()
        },
        &[2],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                parameter: "lr",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        SignSgd::<f64>::new(
            SignSgdConfig {
                lr: 1e39,
                ..Default::default()
            },
            &[2]
        )
        .is_ok()
    );
    let e = Prodigy::<f32>::new(
        ProdigyConfig {
            d0: 1e-50,
            ..Default::default()
        },
        &[2],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                parameter: "d0",
                ..
            }
        ),
        "{e}"
    );
    let e = AdamW::<f64>::new(
        AdamWConfig {
            lr: 2.0,
            weight_decay: 0.5,
            ..Default::default()
        },
        &[2],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                parameter: "weight_decay",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn alias_refuses_a_stepsize_whose_decay_would_flip_the_parameters() {
    // L_0 tiny → γ_0 = sqrt(d_0 / L_0) large; with wd = 1, 1 − γ·wd ≤ 0.
    let cfg = AliasSignSgdConfig {
        rule: AliasRule {
            initial_smoothness: Some(1e-12),
            ..Default::default()
        },
        weight_decay: 1.0,
        ..Default::default()
    };
    let mut o = AliasSignSgd::<f64>::new(cfg, &[2]).unwrap();
    let mut x = [1.0, 2.0];
    let e = o.step_flat(&mut x, &[1.0, 1.0], Some(1.0)).unwrap_err();
    assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}");
    assert_eq!((x, o.steps_taken()), ([1.0, 2.0], 0));
}

#[test]
fn empty_models_round_trip_their_checkpoints() {
    // Regression: an ALIAS model with no tensors and momentum (or update_gap > 1) could not
    // restore its own checkpoint, even straight after `new`.
    for cfg in [
        AliasSignSgdConfig {
            momentum: Some(0.9),
            ..Default::default()
        },
        AliasSignSgdConfig {
            rule: AliasRule {
                update_gap: 2,
                ..Default::default()
            },
            ..Default::default()
        },
    ] {
        let o = AliasSignSgd::<f32>::new(cfg, &[]).unwrap();
        AliasSignSgd::<f32>::from_json(&o.to_json().unwrap()).expect("empty model restores");
    }
}

// ---- 7. Arbitrary checkpoints and gradients -----------------------------------------------------

/// `from_json` → steps → `to_json` → `from_json` on arbitrary text and gradients: never a panic,
/// and whatever loads steps to a state its own checkpoint restores.
fn load_step_save_load<F, O>(text: &str, grads: &[f64])
where
    F: Float,
    O: Checkpointable<Element = F>,
    O::State: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Ok(mut o) = O::from_json(text) else {
        return;
    };
    let layout = o.layout().to_vec();
    if layout.iter().sum::<usize>() > 1 << 12 {
        return;
    }
    let mut x: Vec<Vec<F>> = layout.iter().map(|&n| vec![F::from_f64(0.5); n]).collect();
    for t in 0..3 {
        let g: Vec<Vec<F>> = layout
            .iter()
            .scan(t, |k, &n| {
                let v = (0..n)
                    .map(|i| F::from_f64(grads[(*k + i) % grads.len()]))
                    .collect();
                *k += n;
                Some(v)
            })
            .collect();
        let mut p: Vec<&mut [F]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gs: Vec<&[F]> = g.iter().map(|v| v.as_slice()).collect();
        if o.step(&mut p, &gs, Some(1.0)).is_ok() {
            assert!(x.iter().flatten().all(|v| v.is_finite()));
        }
        let back = O::from_json(&o.to_json().unwrap()).expect("own checkpoint restores");
        assert_eq!(format!("{:?}", back.state()), format!("{:?}", o.state()));
    }
}

/// Valid checkpoints of every optimizer of the shared list, as seeds for the mutations.
fn seeds() -> Vec<String> {
    fn add<O: Checkpointable>(o: O, out: &mut Vec<String>) {
        out.push(o.to_json().unwrap());
    }
    let mut out = Vec::new();
    every_method!(f64, &[3, 1], add, &mut out);
    every_method!(f32, &[3, 1], add, &mut out);
    out
}

/// Loads `text` as each type of the shared list (the built optimizer only names the type).
fn every_loader(text: &str, grads: &[f64]) {
    fn load<F, O>(_type: O, text: &str, grads: &[f64])
    where
        F: Float,
        O: Checkpointable<Element = F>,
        O::State: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        load_step_save_load::<F, O>(text, grads);
    }
    every_method!(f32, &[], load, text, grads);
    every_method!(f64, &[], load, text, grads);
}

/// A gradient coordinate anywhere from subnormal to the f64 maximum, either sign.
fn coordinate() -> impl Strategy<Value = f64> {
    prop_oneof![
        -10.0..10.0_f64,
        (-330..309_i32, any::<bool>()).prop_map(|(e, neg)| {
            let v = 10f64.powi(e);
            if neg { -v } else { v }
        }),
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(f32::MAX as f64),
        Just(f64::from_bits(1)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// A valid checkpoint with one number replaced by an arbitrary one (a layout length, a
    /// moment, a counter, a scalar), then steps with arbitrary gradients.
    #[test]
    fn mutated_checkpoints_load_step_and_restore(
        seed in 0usize..7,
        which in 0usize..64,
        replacement in prop_oneof![
            Just("-1".to_string()), Just("1e400".to_string()), Just("18446744073709551615".to_string()),
            Just("1000000000000".to_string()), Just("0".to_string()), Just("-0.0".to_string()),
            Just("1e-320".to_string()), (0u64..100).prop_map(|v| v.to_string()),
        ],
        grads in proptest::collection::vec(coordinate(), 1..8),
    ) {
        let json = &seeds()[seed];
        // Replace the `which`-th number in the text.
        let bytes = json.as_bytes();
        let mut starts = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if (c.is_ascii_digit() || c == b'-') && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
                let s = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || b"-+.".contains(&bytes[i])) {
                    i += 1;
                }
                starts.push((s, i));
            } else {
                i += 1;
            }
        }
        let (s, e) = starts[which % starts.len()];
        let text = format!("{}{}{}", &json[..s], replacement, &json[e..]);
        every_loader(&text, &grads);
    }

    /// Arbitrary gradients through every optimizer from its own fresh checkpoint.
    #[test]
    fn arbitrary_gradients_keep_states_restorable(
        seed in 0usize..7,
        grads in proptest::collection::vec(coordinate(), 1..8),
    ) {
        every_loader(&seeds()[seed], &grads);
    }
}

// ---- Found by the adversarial review of the first fix ---------------------------------------------

#[test]
fn option_f_state_without_its_initial_loss_is_refused() {
    // Was: accepted, then the next step panicked ("set at the first ALIAS step").
    let mut o = AliasSignSgd::<f64>::new(AliasSignSgdConfig::option_f(0.0), &[1]).unwrap();
    let mut x = [1.0];
    o.step_flat(&mut x, &[1.0], Some(1.0)).unwrap();
    let mut s = o.state().clone();
    s.scalars.initial_loss = None;
    assert!(matches!(
        o.set_state(s),
        Err(Error::IncompatibleState { .. })
    ));
    let json = o
        .to_json()
        .unwrap()
        .replace("\"initial_loss\":1.0", "\"initial_loss\":null");
    assert!(json.contains("\"initial_loss\":null"));
    assert!(matches!(
        AliasSignSgd::<f64>::from_json(&json),
        Err(Error::IncompatibleState { .. })
    ));
    let mut a = AliasAdam::<f32>::new(
        AliasAdamConfig {
            rule: AliasRule::option_f(0.0),
            ..Default::default()
        },
        &[1],
    )
    .unwrap();
    let mut y = [1.0_f32];
    a.step_flat(&mut y, &[1.0], Some(1.0)).unwrap();
    let mut s = a.state().clone();
    s.scalars.initial_loss = None;
    assert!(matches!(
        a.set_state(s),
        Err(Error::IncompatibleState { .. })
    ));
}

#[test]
fn prodigy_d_squared_cannot_overflow_f32() {
    // Was: with g = [1e-5, 0] every step returned Ok until d ≈ 1e21, where (1 − β2)·d² became
    // infinite and v, s and x turned inf/NaN.
    let mut o = Prodigy::<f32>::new(ProdigyConfig::default(), &[2]).unwrap();
    let mut x = [0.0_f32; 2];
    let mut refused = false;
    for _ in 0..400 {
        match o.step_flat(&mut x, &[1e-5, 0.0], None) {
            Ok(_) => assert!(x.iter().all(|v| v.is_finite()), "{x:?}"),
            Err(e) => {
                assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}");
                refused = true;
            }
        }
        Prodigy::<f32>::from_json(&o.to_json().unwrap()).expect("restorable");
    }
    assert!(refused, "d grows without bound on a linear objective");
    for d0 in [1e30, 1e200] {
        let e = Prodigy::<f32>::new(
            ProdigyConfig {
                d0,
                ..Default::default()
            },
            &[1],
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidParameter {
                    parameter: "d0",
                    ..
                }
            ),
            "{e}"
        );
    }
    assert!(
        Prodigy::<f64>::new(
            ProdigyConfig {
                d0: 1e200,
                ..Default::default()
            },
            &[1]
        )
        .is_err()
    );
}

#[test]
fn sign_only_alias_norm_overflow_is_refused() {
    // Was: ‖g‖_1 = inf stored in the state; its checkpoint could not be read back.
    let cfg = AliasSignSgdConfig {
        memory: signfree::AliasMemory::SignOnly,
        ..Default::default()
    };
    let mut o = AliasSignSgd::<f64>::new(cfg, &[2]).unwrap();
    let mut x = [0.0; 2];
    let e = o.step_flat(&mut x, &[1e308, 1e308], None).unwrap_err();
    assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}");
    assert_eq!((x, o.steps_taken()), ([0.0; 2], 0));
    AliasSignSgd::<f64>::from_json(&o.to_json().unwrap()).expect("restorable");
}

#[test]
fn adam_eps_too_small_for_the_element_type_is_refused() {
    // Was: eps = 1e-50 rounded to 0 in f32 (x = NaN); eps = 1e-20 with beta2 = 0 let the
    // direction m̂/ε overflow f32 (x = −inf).
    for eps in [1e-50, 1e-20] {
        let e = AdamW::<f32>::new(
            AdamWConfig {
                eps,
                beta2: 0.0,
                ..Default::default()
            },
            &[1],
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidParameter {
                    parameter: "eps",
                    ..
                }
            ),
            "{e}"
        );
    }
    let e = AdamW::<f64>::new(
        AdamWConfig {
            eps: 5e-324,
            ..Default::default()
        },
        &[1],
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                parameter: "eps",
                ..
            }
        ),
        "{e}"
    );
    // The smallest accepted eps keeps the update finite for the largest accepted gradient.
    let mut o = AdamW::<f32>::new(
        AdamWConfig {
            eps: 6e-19,
            beta2: 0.0,
            ..Default::default()
        },
        &[1],
    )
    .unwrap();
    let mut x = [0.0_f32];
    for g in [9e18, 0.0, 0.0] {
        match o.step_flat(&mut x, &[g], None) {
            Ok(_) => assert!(x[0].is_finite(), "{x:?}"),
            Err(e) => assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}"),
        }
    }
}

#[test]
fn adam_like_with_a_huge_restored_d_refuses_instead_of_writing_nan() {
    let mut o = AdamLikeCompat::<f32>::new(AdamLikeCompatConfig::default(), &[1]).unwrap();
    let mut s = o.state().clone();
    s.d = vec![1e30];
    o.set_state(s).unwrap();
    let mut x = [0.0_f32];
    let e = o.step_flat(&mut x, &[0.0], None).unwrap_err();
    assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}");
    assert_eq!(x, [0.0]);
}

#[test]
fn distributed_alias_ranks_agree_on_the_probe_and_on_the_optimizer() {
    // Was: the probe used each rank's own ‖x‖_∞, so ranks could decide differently and then
    // deadlock or mismatch in the next collective.
    let out = LocalCommunicator::run(2, |comm| {
        let cfg = DistAliasSignSgdConfig {
            rule: AliasRule {
                probe: 1.0,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut o = DistAliasSignSgd::<f32, _>::new(cfg, &[1], comm).unwrap();
        let mut x = if o.communicator().rank() == 0 {
            [3e38_f32]
        } else {
            [1.0]
        };
        let first = o.step_flat(&mut x, &[1.0], None).map(|r| r.stepsize);
        let second = o.step_flat(&mut x, &[1.0], None).map(|r| r.stepsize);
        (format!("{first:?}"), format!("{second:?}"))
    });
    assert_eq!(out[0], out[1], "ranks decided differently");
    // Different distributed optimizers on the two ranks: a mismatch on both, not stale reads.
    let out = LocalCommunicator::run(2, |comm| {
        let mut x = [1.0_f64, 2.0];
        if comm.rank() == 0 {
            let cfg = SignSgdConfig {
                lr: 0.1,
                ..Default::default()
            };
            let mut o = DistSignSgd::<f64, _>::new(cfg, &[2], comm).unwrap();
            o.step_flat(&mut x, &[1.0, 1.0], None).map(|_| ())
        } else {
            let mut o =
                DistAliasSignSgd::<f64, _>::new(DistAliasSignSgdConfig::default(), &[2], comm)
                    .unwrap();
            o.step_flat(&mut x, &[1.0, 1.0], None).map(|_| ())
        }
    });
    for r in out {
        assert!(
            matches!(
                r,
                Err(Error::Communication {
                    kind: CommunicationErrorKind::Mismatch { .. },
                    ..
                })
            ),
            "{r:?}"
        );
    }
}

#[test]
fn absurd_thread_counts_are_capped() {
    // Was: with_threads(usize::MAX) split a 2M-element vector into 64-element chunks, one
    // thread each.
    let n = (1 << 21) + 64;
    let mut o = AliasSignSgd::<f32>::new(AliasSignSgdConfig::default(), &[n])
        .unwrap()
        .with_threads(usize::MAX);
    let mut x = vec![0.5_f32; n];
    let g = vec![1.0_f32; n];
    o.step_flat(&mut x, &g, None).unwrap();
    o.step_flat(&mut x, &g, None).unwrap();
    assert!(x.iter().all(|v| v.is_finite()));
}

#[test]
fn research_starts_refuse_extreme_gradients_with_step_errors() {
    use signfree::research::GradientScaledStart;
    // Was: InvalidParameter (initial_smoothness = inf or 0) out of `step`.
    let mut o = GradientScaledStart::<f64>::new(AliasSignSgdConfig::option_f(0.0), &[2]).unwrap();
    let mut x = [0.0, 0.0];
    let e = o.step_flat(&mut x, &[1e308, 1e308], Some(1.0)).unwrap_err();
    assert!(matches!(e, Error::StepOutOfRange { .. }), "{e}");
    assert_eq!((x, o.steps_taken()), ([0.0; 2], 0));
    let mut o = GradientScaledStart::<f64>::new(AliasSignSgdConfig::option_f(0.0), &[1]).unwrap();
    let mut x = [2.0];
    let r = o.step_flat(&mut x, &[f64::from_bits(1)], Some(1.0));
    assert!(
        r.is_ok() || matches!(r, Err(Error::StepOutOfRange { .. })),
        "{r:?}"
    );
    assert!(x[0].is_finite());
}
