//! `Optimizer::set_lr_multiplier`: an outer factor on every method's stepsize, from the slice API.
//!
//! Checked against an independent construction: a run with multiplier `m` must equal, bit for
//! bit, a run whose *configuration* has its stepsize fields multiplied by `m` (for ALIAS the
//! formula's `lr` and the warm-up `lr`; the cap `γ_max` is not scaled). Plus hand-computed
//! Sign-SGD steps under a changing multiplier, validation, and atomic failure.

use signfree::research::{DistanceSign, DistanceSignConfig};
use signfree::{
    AdamLikeCompat, AdamLikeCompatConfig, AdamW, AdamWConfig, AliasAdam, AliasAdamConfig,
    AliasRule, AliasSignSgd, AliasSignSgdConfig, Error, Method, Optimizer, Prodigy, ProdigyConfig,
    Schedule, SignSgd, SignSgdConfig, Stateful, Warmup,
};

/// Gradient of `½‖x − c‖²` plus a fixed perturbation, so that signs change along the run.
fn grad(x: &[f64], t: usize) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &xi)| xi - (i as f64 - 1.5) + 0.1 * ((t * 7 + i * 3) % 5) as f64 - 0.2)
        .collect()
}

/// Runs `steps` steps of `opt` from the same start and returns the iterates' bits.
fn run<O: Method<Element = f64>>(opt: &mut O, steps: usize) -> Vec<Vec<u64>> {
    let mut x = vec![3.0, -2.0, 0.5, 1.25];
    let mut out = Vec::new();
    for t in 0..steps {
        let g = grad(&x, t);
        let loss = 0.5 * x.iter().map(|v| v * v).sum::<f64>() + 1.0;
        opt.step_flat(&mut x, &g, Some(loss)).unwrap();
        out.push(x.iter().map(|v| v.to_bits()).collect());
    }
    out
}

/// `base` with multiplier `m` against `scaled` (the same configuration with its stepsizes times
/// `m`) and multiplier 1.
fn same_as_scaled_config<O: Method<Element = f64>>(base: O::Config, scaled: O::Config, m: f64) {
    let mut a = O::build(base, &[4]).unwrap();
    a.set_lr_multiplier(m).unwrap();
    assert_eq!(a.lr_multiplier(), m);
    let mut b = O::build(scaled, &[4]).unwrap();
    let (ra, rb) = (run(&mut a, 25), run(&mut b, 25));
    assert_eq!(ra, rb, "{}: multiplier {m}", O::NAME);
    // It moved, and differently from the unscaled run.
    assert_ne!(ra.first(), ra.last());
}

#[test]
fn multiplier_equals_scaled_configuration() {
    for m in [0.25, 3.0] {
        let sign = SignSgdConfig {
            lr: 0.05,
            schedule: Schedule::Cosine { total_steps: 30 },
            momentum: Some(0.9),
            weight_decay: 0.1,
        };
        same_as_scaled_config::<SignSgd<f64>>(
            sign.clone(),
            SignSgdConfig {
                lr: 0.05 * m,
                ..sign
            },
            m,
        );
        let adamw = AdamWConfig {
            lr: 0.02,
            weight_decay: 0.1,
            ..Default::default()
        };
        same_as_scaled_config::<AdamW<f64>>(
            adamw.clone(),
            AdamWConfig {
                lr: 0.02 * m,
                ..adamw
            },
            m,
        );
        same_as_scaled_config::<Prodigy<f64>>(
            ProdigyConfig::default(),
            ProdigyConfig {
                lr_multiplier: m,
                ..Default::default()
            },
            m,
        );
        same_as_scaled_config::<AdamLikeCompat<f64>>(
            AdamLikeCompatConfig {
                lr: 0.01,
                ..Default::default()
            },
            AdamLikeCompatConfig {
                lr: 0.01 * m,
                ..Default::default()
            },
            m,
        );
        same_as_scaled_config::<DistanceSign<f64>>(
            DistanceSignConfig::default(),
            DistanceSignConfig {
                lr_multiplier: m,
                ..Default::default()
            },
            m,
        );
        // ALIAS: the formula's lr and the warm-up lr scale, the cap does not.
        let rule = AliasRule {
            warmup: Some(Warmup {
                steps: 3,
                lr: 0.01,
                schedule: Schedule::Constant,
            }),
            max_stepsize: Some(0.3),
            ..AliasRule::default()
        };
        let scaled_rule = AliasRule {
            lr_multiplier: m,
            warmup: Some(Warmup {
                steps: 3,
                lr: 0.01 * m,
                schedule: Schedule::Constant,
            }),
            ..rule.clone()
        };
        same_as_scaled_config::<AliasSignSgd<f64>>(
            AliasSignSgdConfig {
                rule: rule.clone(),
                momentum: Some(0.5),
                ..Default::default()
            },
            AliasSignSgdConfig {
                rule: scaled_rule.clone(),
                momentum: Some(0.5),
                ..Default::default()
            },
            m,
        );
        same_as_scaled_config::<AliasAdam<f64>>(
            AliasAdamConfig {
                rule: rule.clone(),
                ..Default::default()
            },
            AliasAdamConfig {
                rule: scaled_rule,
                ..Default::default()
            },
            m,
        );
    }
}

/// Sign-SGD, lr 0.1, multipliers 0.5 then 2 then 0: x moves by 0.05, then 0.2, then not at all.
#[test]
fn changing_multiplier_by_hand() {
    let mut o = SignSgd::<f64>::new(
        SignSgdConfig {
            lr: 0.1,
            ..Default::default()
        },
        &[2],
    )
    .unwrap();
    let mut x = [1.0, -1.0];
    o.set_lr_multiplier(0.5).unwrap();
    let r = o.step_flat(&mut x, &[3.0, -0.5], None).unwrap();
    assert_eq!((r.stepsize, x), (0.05, [0.95, -0.95]));
    o.set_lr_multiplier(2.0).unwrap();
    let r = o.step_flat(&mut x, &[-1.0, 1.0], None).unwrap();
    assert_eq!(r.stepsize, 0.2);
    assert_eq!(x, [0.95 + 0.2, -0.95 - 0.2]);
    o.set_lr_multiplier(0.0).unwrap();
    let before = x;
    o.step_flat(&mut x, &[1.0, 1.0], None).unwrap();
    assert_eq!(x, before);
}

/// Invalid multipliers are refused and change nothing; a multiplier that pushes the stepsize
/// out of range (or the decay factor `1 − γ·λ` to ≤ 0) makes the step fail atomically.
#[test]
fn validation_and_atomic_failure() {
    let mut o = AliasSignSgd::<f32>::new(AliasSignSgdConfig::default(), &[2]).unwrap();
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = o.set_lr_multiplier(bad).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    parameter: "lr_multiplier",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(o.lr_multiplier(), 1.0);
    }

    let mut s = SignSgd::<f32>::new(
        SignSgdConfig {
            lr: 0.1,
            weight_decay: 5.0,
            ..Default::default()
        },
        &[2],
    )
    .unwrap();
    let mut x = [1.0_f32, 2.0];
    s.step_flat(&mut x, &[1.0, 1.0], None).unwrap();
    let (state, x_before) = (s.state().clone(), x);
    // γ·λ = 0.1·2·5 = 1: the decay factor would be 0.
    s.set_lr_multiplier(2.0).unwrap();
    let err = s.step_flat(&mut x, &[1.0, 1.0], None).unwrap_err();
    assert!(matches!(err, Error::StepOutOfRange { .. }), "{err}");
    // γ beyond what f32 holds.
    s.set_lr_multiplier(1e300).unwrap();
    assert!(s.step_flat(&mut x, &[1.0, 1.0], None).is_err());
    assert_eq!((s.state(), x), (&state, x_before));
    s.set_lr_multiplier(1.0).unwrap();
    s.step_flat(&mut x, &[1.0, 1.0], None).unwrap();

    let mut a = AdamW::<f32>::new(AdamWConfig::default(), &[2]).unwrap();
    a.set_lr_multiplier(1e300).unwrap();
    let mut y = [1.0_f32, 2.0];
    assert!(a.step_flat(&mut y, &[1.0, 1.0], None).is_err());
    assert_eq!((a.steps_taken(), y), (0, [1.0, 2.0]));
}
