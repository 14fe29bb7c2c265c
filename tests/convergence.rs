//! One table: every optimizer on every test problem, default settings where the method has them.
//!
//! Criterion: after `T` full-gradient steps from the problem's start point,
//! `f(x_T) − f* ≤ tol · (f(x_0) − f*)`. Sign-SGD and Signum get a `1/sqrt(t+1)` schedule with
//! the problem's listed base stepsize (they need one), and so does AdamW; the ALIAS variants
//! and Prodigy get none. `AdamLikeCompat` (the reference code's rule, a compatibility mode) is
//! not in the table: its per-tensor `d` grows without bound here (NaN loss by step 6 on the
//! quadratic at lr = 0.1), as the reference code's rule does.

use signfree::{
    AdamW, AdamWConfig, AliasAdam, AliasAdamConfig, AliasRule, AliasSignSgd, AliasSignSgdConfig,
    AliasStepsize, Bundled, Cost, Gradient, LogisticRegression, Optimizer, Problem, Prodigy,
    ProdigyConfig, Quadratic, Rosenbrock, Schedule, SignSgd, SignSgdConfig,
};

/// Writes the gradient at `x` into `g` and returns `f(x)`.
type Oracle = Box<dyn Fn(&[f64], &mut [f64]) -> f64>;

struct Case {
    name: &'static str,
    problem: Oracle,
    dim: usize,
    x0: Vec<f64>,
    f_star: f64,
    sign_sgd_lr: f64,
    steps: usize,
    tol: f64,
}

fn cases() -> Vec<Case> {
    let quad = Quadratic::new(
        (0..20).map(|i| 10f64.powf(i as f64 / 19.0 * 3.0)).collect(), // κ = 1000
        (0..20).map(|i| (i as f64).cos()).collect(),
    )
    .unwrap();
    let logreg = LogisticRegression::new(Bundled::Australian.load().unwrap(), 1e-3).unwrap();
    let logreg_star = logreg.reference_optimum().unwrap().f_star;
    let rosen = Rosenbrock::new(4).unwrap();
    let eval = |p: Oracle| p;
    vec![
        Case {
            name: "quadratic κ=1000",
            dim: 20,
            x0: vec![0.0; 20],
            f_star: 0.0,
            problem: eval(Box::new(move |x, g| {
                quad.gradient(x, g).unwrap();
                quad.cost(x).unwrap()
            })),
            sign_sgd_lr: 0.1,
            steps: 2000,
            tol: 1e-3,
        },
        Case {
            name: "logistic australian μ=1e-3",
            dim: logreg.dim(),
            x0: vec![0.0; logreg.dim()],
            f_star: logreg_star,
            problem: eval(Box::new(move |x, g| {
                logreg.gradient(x, g).unwrap();
                logreg.cost(x).unwrap()
            })),
            sign_sgd_lr: 0.1,
            steps: 2000,
            tol: 1e-2,
        },
        Case {
            name: "rosenbrock d=4",
            dim: 4,
            x0: vec![-1.2, 1.0, -1.2, 1.0],
            f_star: 0.0,
            problem: eval(Box::new(move |x, g| {
                rosen.gradient(x, g).unwrap();
                rosen.cost(x).unwrap()
            })),
            sign_sgd_lr: 0.05,
            steps: 5000,
            tol: 2e-2,
        },
    ]
}

fn optimizers(case: &Case) -> Vec<Box<dyn Optimizer<f64>>> {
    let d = case.dim;
    let sched = |momentum| SignSgdConfig {
        lr: case.sign_sgd_lr,
        schedule: Schedule::InverseSqrt,
        momentum,
        ..Default::default()
    };
    let option_f = AliasStepsize::LowerBound {
        f_lower: case.f_star.min(0.0),
    };
    vec![
        Box::new(SignSgd::new(sched(None), &[d]).unwrap()),
        Box::new(SignSgd::new(sched(Some(0.9)), &[d]).unwrap()),
        Box::new(AliasSignSgd::new(AliasSignSgdConfig::default(), &[d]).unwrap()),
        Box::new(
            AliasSignSgd::new(
                AliasSignSgdConfig {
                    rule: AliasRule {
                        stepsize: option_f,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                &[d],
            )
            .unwrap(),
        ),
        Box::new(
            AliasSignSgd::new(
                AliasSignSgdConfig {
                    momentum: Some(0.9),
                    ..Default::default()
                },
                &[d],
            )
            .unwrap(),
        ),
        Box::new(
            AliasSignSgd::new(
                AliasSignSgdConfig {
                    memory: signfree::AliasMemory::SignOnly,
                    ..Default::default()
                },
                &[d],
            )
            .unwrap(),
        ),
        Box::new(AliasAdam::new(AliasAdamConfig::default(), &[d]).unwrap()),
        Box::new(Prodigy::new(ProdigyConfig::default(), &[d]).unwrap()),
        Box::new(
            AdamW::new(
                AdamWConfig {
                    lr: case.sign_sgd_lr,
                    schedule: Schedule::InverseSqrt,
                    weight_decay: 0.0,
                    ..Default::default()
                },
                &[d],
            )
            .unwrap(),
        ),
    ]
}

#[test]
fn every_optimizer_on_every_problem() {
    let mut failures = Vec::new();
    for case in cases() {
        for mut opt in optimizers(&case) {
            let (mut x, mut g) = (case.x0.clone(), vec![0.0; case.dim]);
            let f0 = (case.problem)(&x, &mut g);
            let mut f = f0;
            for _ in 0..case.steps {
                opt.step_flat(&mut x, &g, Some(f)).unwrap();
                f = (case.problem)(&x, &mut g);
            }
            let ratio = (f - case.f_star) / (f0 - case.f_star);
            println!("{:<28} {:<20} {ratio:.3e}", case.name, opt.name());
            if ratio.is_nan() || ratio > case.tol {
                failures.push(format!(
                    "{} / {}: {ratio:.3e} > {:.0e}",
                    case.name,
                    opt.name(),
                    case.tol
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
