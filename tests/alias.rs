//! ALIAS Sign-SGD on real data: an independently computed trajectory, convergence on every
//! bundled logistic problem, failure atomicity, multi-tensor equivalence, stochastic use.

use rand::SeedableRng;
use rand::rngs::StdRng;
use signfree::{
    AliasRule, AliasSignSgd, AliasSignSgdConfig, Bundled, Cost, Error, Gradient,
    LogisticRegression, Optimizer, Problem, Stateful, StochasticGradient,
};

fn option_f() -> AliasSignSgdConfig {
    AliasSignSgdConfig::option_f(0.0)
}

/// 200 steps of Option F (`L_0 = 1`, `f̃ = 0`) on mushrooms (`μ = 0`, `w_0 = 0`, f64) against
/// `tests/data/alias_mushrooms_option_f.csv`, written by `tools/reference_values.py` (numpy,
/// dense matrices, its own parser; it measures `‖w_t − w_{t−1}‖_∞` from stored iterates).
#[test]
fn mushrooms_option_f_trajectory_matches_numpy() {
    let rows: Vec<Vec<f64>> = include_str!("data/alias_mushrooms_option_f.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 200);
    let p = LogisticRegression::new(Bundled::Mushrooms.load().unwrap(), 0.0).unwrap();
    let rule = AliasRule {
        initial_smoothness: Some(1.0),
        ..AliasRule::option_f(0.0)
    };
    let cfg = AliasSignSgdConfig {
        rule,
        ..Default::default()
    };
    let mut opt = AliasSignSgd::<f64>::new(cfg, &[p.dim()]).unwrap();
    let (mut x, mut g) = (vec![0.0; p.dim()], vec![0.0; p.dim()]);
    for row in &rows {
        let (t, gamma, s, f) = (row[0], row[1], row[2], row[4]);
        let loss = p.cost(&x).unwrap();
        assert!((loss - f).abs() <= 1e-10 * f, "t = {t}: f = {loss} vs {f}");
        p.gradient(&x, &mut g).unwrap();
        let report = opt.step_flat(&mut x, &g, Some(loss)).unwrap();
        let smoothness_sum = report.estimates.get("smoothness_sum").unwrap();
        assert!(
            (report.stepsize - gamma).abs() <= 1e-9 * gamma,
            "t = {t}: γ {} vs {gamma}",
            report.stepsize
        );
        assert!(
            (smoothness_sum - s).abs() <= 1e-9 * s,
            "t = {t}: S {smoothness_sum} vs {s}"
        );
    }
}

fn run(p: &LogisticRegression, cfg: AliasSignSgdConfig, steps: usize) -> (Vec<f64>, f64) {
    let mut opt = AliasSignSgd::<f64>::new(cfg, &[p.dim()]).unwrap();
    let (mut x, mut g) = (vec![0.0; p.dim()], vec![0.0; p.dim()]);
    for _ in 0..steps {
        let loss = p.cost(&x).unwrap();
        p.gradient(&x, &mut g).unwrap();
        opt.step_flat(&mut x, &g, Some(loss)).unwrap();
    }
    let f = p.cost(&x).unwrap();
    (x, f)
}

/// Default settings, T = 1000, μ = 1e-4: `f(x_T) − f* ≤ 2e-2 (f(x_0) − f*)` on every bundled set.
#[test]
fn converges_on_every_bundled_logistic_problem() {
    for set in Bundled::ALL {
        let p = LogisticRegression::new(set.load().unwrap(), 1e-4).unwrap();
        let f_star = p.reference_optimum().unwrap().f_star;
        let gap0 = p.cost(&vec![0.0; p.dim()]).unwrap() - f_star;
        for cfg in [AliasSignSgdConfig::default(), option_f()] {
            let (_, f) = run(&p, cfg.clone(), 1000);
            let (_, f_mid) = run(&p, cfg.clone(), 100);
            assert!(
                f - f_star < f_mid - f_star,
                "{set:?} {:?}: no progress from 100 to 1000",
                cfg.rule.stepsize
            );
            assert!(
                f - f_star <= 2e-2 * gap0,
                "{set:?} {:?}: gap {} vs start {gap0}",
                cfg.rule.stepsize,
                f - f_star
            );
        }
    }
}

fn bits<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}") // Debug prints -0.0 and every f64 digit, so equal strings mean equal bits
}

#[test]
fn non_finite_input_changes_nothing() {
    for cfg in [
        AliasSignSgdConfig::default(),
        AliasSignSgdConfig {
            momentum: Some(0.9),
            ..option_f()
        },
    ] {
        let mut opt = AliasSignSgd::<f32>::new(cfg, &[3, 2]).unwrap();
        let (mut a, mut b) = ([1.0_f32, -2.0, 0.5], [3.0_f32, 0.25]);
        for k in 0..3 {
            let ga = [a[0] - 0.1 * k as f32, a[1], 0.3];
            let gb = [b[0], -b[1]];
            opt.step(&mut [&mut a, &mut b], &[&ga, &gb], Some(1.0))
                .unwrap();
        }
        let before = (bits(&a), bits(&b), bits(opt.state()));
        let bad_grads: [([f32; 3], [f32; 2]); 3] = [
            ([1.0, 1.0, 1.0], [f32::NAN, 1.0]),
            ([1.0, f32::INFINITY, 1.0], [1.0, 1.0]),
            ([1.0, 1.0, 1.0], [1.0, f32::NEG_INFINITY]),
        ];
        for (ga, gb) in bad_grads {
            let e = opt
                .step(&mut [&mut a, &mut b], &[&ga, &gb], Some(1.0))
                .unwrap_err();
            assert!(
                matches!(e, Error::NonFiniteGradient { step: 3, .. }),
                "{e:?}"
            );
            assert_eq!(before, (bits(&a), bits(&b), bits(opt.state())));
        }
        let e = opt
            .step(
                &mut [&mut a, &mut b],
                &[&[1.0; 3], &[1.0; 2]],
                Some(f64::NAN),
            )
            .unwrap_err();
        assert!(matches!(e, Error::NonFiniteLoss { step: 3, .. }));
        let e = opt
            .step(&mut [&mut a, &mut b], &[&[1.0; 3], &[1.0; 3]], None)
            .unwrap_err();
        assert!(matches!(
            e,
            Error::DimensionMismatch {
                expected: 2,
                got: 3,
                ..
            }
        ));
        let e = opt.step(&mut [&mut a], &[&[1.0; 3]], None).unwrap_err();
        assert!(matches!(
            e,
            Error::DimensionMismatch {
                expected: 2,
                got: 1,
                ..
            }
        ));
        assert_eq!(before, (bits(&a), bits(&b), bits(opt.state())));
    }
}

/// The same vector as one tensor or as several: the same stepsizes and iterates up to the
/// summation order of the f64 reductions (per-tensor partial sums), i.e. ~1e-15 relative per
/// step; over 300 steps with no sign decided by rounding we allow 1e-10.
#[test]
fn splitting_into_tensors_gives_the_same_trajectory() {
    let p = LogisticRegression::new(Bundled::Heart.load().unwrap(), 1e-4).unwrap();
    let d = p.dim();
    for cfg in [AliasSignSgdConfig::default(), option_f()] {
        let mut runs = Vec::new();
        for split in [vec![d], vec![5, 8], vec![1, 0, 11, 1]] {
            let mut opt = AliasSignSgd::<f64>::new(cfg.clone(), &split).unwrap();
            let (mut x, mut g) = (vec![0.0; d], vec![0.0; d]);
            let mut gammas = Vec::new();
            for _ in 0..300 {
                let loss = p.cost(&x).unwrap();
                p.gradient(&x, &mut g).unwrap();
                let mut params: Vec<&mut [f64]> = Vec::new();
                let mut grads: Vec<&[f64]> = Vec::new();
                let (mut xr, mut gr) = (x.as_mut_slice(), g.as_slice());
                for &n in &split {
                    let (xh, xt) = xr.split_at_mut(n);
                    let (gh, gt) = gr.split_at(n);
                    params.push(xh);
                    grads.push(gh);
                    (xr, gr) = (xt, gt);
                }
                gammas.push(opt.step(&mut params, &grads, Some(loss)).unwrap().stepsize);
            }
            runs.push((x, gammas));
        }
        for other in &runs[1..] {
            for (a, b) in runs[0].1.iter().zip(&other.1) {
                assert!((a - b).abs() <= 1e-10 * a, "γ {a} vs {b}");
            }
            for (a, b) in runs[0].0.iter().zip(&other.0) {
                assert!((a - b).abs() <= 1e-10 * (1.0 + a.abs()), "x {a} vs {b}");
            }
        }
    }
}

/// Minibatch ALIAS (batch 128, 1000 steps) on a9a: consecutive-batch samples with `L_0 = 1`,
/// and same-sample mode with default settings, both end within 6% of the starting gap.
///
/// (Consecutive-batch samples *with the probe start* are not in this list: the first sample
/// divides minibatch noise by the probe's 1e-6 move, S jumps to ~1e7 and Option D stalls. This
/// is documented on `AliasSignSgd`; measured values are in the issue notes.)
#[test]
fn stochastic_and_same_sample_modes_make_progress() {
    let p = LogisticRegression::new(Bundled::A9a.load().unwrap(), 1e-4).unwrap();
    let f_star = p.reference_optimum().unwrap().f_star;
    let d = p.dim();
    let gap0 = p.cost(&vec![0.0; d]).unwrap() - f_star;
    let consecutive = AliasSignSgdConfig {
        rule: AliasRule {
            initial_smoothness: Some(1.0),
            ..Default::default()
        },
        ..Default::default()
    };
    for (same_sample, cfg) in [(false, consecutive), (true, AliasSignSgdConfig::default())] {
        let mut opt = AliasSignSgd::<f64>::new(cfg, &[d]).unwrap();
        let mut rng = StdRng::seed_from_u64(42);
        let (mut x, mut x_prev) = (vec![0.0; d], vec![0.0; d]);
        let (mut g, mut h, mut batch) = (vec![0.0; d], vec![0.0; d], Vec::new());
        for t in 0..1000 {
            p.stochastic_gradient(&x, &mut rng, 128, &mut batch, &mut g)
                .unwrap();
            let loss = p.batch_cost(&x, &batch).unwrap();
            if same_sample {
                p.batch_gradient(&x_prev, &batch, &mut h).unwrap();
                x_prev.copy_from_slice(&x);
                opt.step_same_sample(&mut [&mut x], &[&g], &[&h], Some(loss))
                    .unwrap();
            } else {
                opt.step_flat(&mut x, &g, Some(loss)).unwrap();
            }
            assert_eq!(opt.steps_taken(), t + 1);
        }
        let gap = p.cost(&x).unwrap() - f_star;
        assert!(
            gap < 0.06 * gap0,
            "same_sample = {same_sample}: gap {gap} vs start {gap0}"
        );
    }
}
