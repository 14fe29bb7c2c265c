//! The candle adapter (feature `candle`): it takes exactly the slice optimizer's steps, agrees
//! with an independent candle-ops ALIAS, trains a small MLP, saves and restores bit for bit, and
//! refuses bad input without changing anything.
#![cfg(feature = "candle")]

#[path = "support/candle_ops.rs"]
mod candle_ops;
#[macro_use]
#[path = "support/methods.rs"]
mod methods;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer as _;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use signfree::Method;
use signfree::candle::CandleOptimizer;
use signfree::{
    AdamWConfig, AliasAdamConfig, AliasSignSgdConfig, Error, Optimizer, ProdigyConfig, Schedule,
    SignSgdConfig, TensorProblem,
};

const DEV: Device = Device::Cpu;

/// Two tensors (a 7×5 matrix and a 13-vector) with random values.
fn random_vars(seed: u64) -> Vec<Var> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = |n: usize| {
        (0..n)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect::<Vec<_>>()
    };
    vec![
        Var::from_vec(v(35), (7, 5), &DEV).unwrap(),
        Var::from_vec(v(13), 13, &DEV).unwrap(),
    ]
}

/// A smooth non-quadratic loss of both vars with fixed random data: `Σ_k ‖tanh(c_k ⊙ w_k) − t_k‖²
/// + 0.1‖w_k‖⁴`-like terms, so that gradients change from step to step.
fn loss(vars: &[Var], seed: u64) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut total = Tensor::zeros((), DType::F32, &DEV).unwrap();
    for v in vars {
        let n = v.elem_count();
        let c: Vec<f32> = (0..n).map(|_| rng.random_range(0.5f32..3.0)).collect();
        let t: Vec<f32> = (0..n).map(|_| rng.random_range(-0.9f32..0.9)).collect();
        let c = Tensor::from_vec(c, v.shape(), &DEV).unwrap();
        let t = Tensor::from_vec(t, v.shape(), &DEV).unwrap();
        let fit = v.mul(&c).unwrap().tanh().unwrap().sub(&t).unwrap();
        let sq = v.sqr().unwrap().sum_all().unwrap();
        let term =
            (fit.sqr().unwrap().sum_all().unwrap() + (sq.sqr().unwrap() * 0.1).unwrap()).unwrap();
        total = (total + term).unwrap();
    }
    total
}

fn values(vars: &[Var]) -> Vec<Vec<f32>> {
    vars.iter()
        .map(|v| v.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

/// Runs `steps` adapter steps and the same steps of the slice optimizer on copies of the numbers
/// (gradients taken from the adapter's run), and checks every parameter bit for bit.
fn same_as_slice_optimizer<O: Method<Element = f32>>(config: O::Config, steps: usize, lr: &[f64]) {
    let vars = random_vars(1);
    let mut adapter = CandleOptimizer::<O>::new(vars.clone(), config.clone()).unwrap();
    let layout: Vec<usize> = vars.iter().map(|v| v.elem_count()).collect();
    let mut slice_opt = O::build(config.clone(), &layout).unwrap();
    let mut x = values(&vars);
    for t in 0..steps {
        let l = loss(&vars, 7);
        let value = l.to_scalar::<f32>().unwrap() as f64;
        let grads = l.backward().unwrap();
        let g: Vec<Vec<f32>> = vars
            .iter()
            .map(|v| {
                grads
                    .get(v)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap()
            })
            .collect();
        let m = lr[t % lr.len()];
        adapter.set_learning_rate(m);
        let report = adapter.step_with_loss(&grads, Some(value)).unwrap();
        slice_opt.set_lr_multiplier(m).unwrap();
        let mut xs: Vec<&mut [f32]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gs: Vec<&[f32]> = g.iter().map(|v| v.as_slice()).collect();
        let expected = slice_opt.step(&mut xs, &gs, Some(value)).unwrap();
        assert_eq!(report, expected, "step {t}");
        let got = values(&vars);
        for (a, b) in got.iter().flatten().zip(x.iter().flatten()) {
            assert_eq!(a.to_bits(), b.to_bits(), "step {t}: {a} vs {b}");
        }
    }
    assert!(adapter.last_report().unwrap().stepsize > 0.0);
}

#[test]
fn adapter_steps_equal_slice_steps_for_every_method() {
    let lr = [1.0, 0.5, 0.0, 2.0];
    same_as_slice_optimizer::<signfree::AliasSignSgd<f32>>(AliasSignSgdConfig::default(), 12, &lr);
    same_as_slice_optimizer::<signfree::AliasSignSgd<f32>>(
        AliasSignSgdConfig::option_f(0.0),
        12,
        &lr,
    );
    let sign_only = AliasSignSgdConfig {
        memory: signfree::AliasMemory::SignOnly,
        ..Default::default()
    };
    same_as_slice_optimizer::<signfree::AliasSignSgd<f32>>(sign_only, 12, &lr);
    same_as_slice_optimizer::<signfree::AliasAdam<f32>>(AliasAdamConfig::default(), 12, &lr);
    let signum = SignSgdConfig {
        lr: 0.01,
        momentum: Some(0.9),
        weight_decay: 0.1,
        schedule: Schedule::Constant,
    };
    same_as_slice_optimizer::<signfree::SignSgd<f32>>(signum, 12, &lr);
    same_as_slice_optimizer::<signfree::Prodigy<f32>>(ProdigyConfig::default(), 12, &lr);
    let adamw = AdamWConfig {
        lr: 0.01,
        ..Default::default()
    };
    same_as_slice_optimizer::<signfree::AdamW<f32>>(adamw, 12, &lr);
    // Research R4 through the adapter, starting from a zero multiplier (a warm-up from 0).
    let r4 = signfree::research::GradientScaledStartConfig {
        alias: AliasSignSgdConfig {
            momentum: Some(0.9),
            rule: signfree::AliasRule {
                horizon: Some(12),
                ..signfree::AliasRule::option_f(0.0)
            },
            ..Default::default()
        },
        polyak_bound: true,
    };
    same_as_slice_optimizer::<signfree::research::GradientScaledStart<f32>>(
        r4,
        12,
        &[0.0, 0.5, 1.0, 2.0],
    );
}

/// The adapter's ALIAS against ALIAS written with candle ops from the spec (independent code):
/// the stepsizes agree to 1e-9 relative (the f64 sums differ only in order) and the parameters
/// to one f32 ulp-scale tolerance.
#[test]
fn adapter_alias_matches_candle_ops_reference() {
    let vars = random_vars(2);
    let ref_vars: Vec<Var> = vars
        .iter()
        .map(|v| Var::from_tensor(&v.as_tensor().copy().unwrap()).unwrap())
        .collect();
    let mut adapter = CandleOptimizer::<signfree::AliasSignSgd<f32>>::new(
        vars.clone(),
        AliasSignSgdConfig::default(),
    )
    .unwrap();
    let mut reference = candle_ops::OpsAlias::new(ref_vars.clone());
    for t in 0..40 {
        let l = loss(&vars, 9);
        adapter.backward_step(&l).unwrap();
        let lr = loss(&ref_vars, 9);
        let value = lr.to_scalar::<f32>().unwrap() as f64;
        let grads = lr.backward().unwrap();
        let g: Vec<Tensor> = ref_vars
            .iter()
            .map(|v| grads.get(v).unwrap().clone())
            .collect();
        reference.step(&g, value).unwrap();
        let (a, b) = (
            adapter.last_report().unwrap().stepsize,
            reference.stepsize(),
        );
        assert!((a - b).abs() <= 1e-9 * b, "step {t}: γ {a} vs {b}");
        for (x, y) in values(&vars)
            .iter()
            .flatten()
            .zip(values(&ref_vars).iter().flatten())
        {
            assert!((x - y).abs() <= 1e-5, "step {t}: {x} vs {y}");
        }
    }
    // It made real progress on the loss.
    let (l0, l1) = (
        loss(&random_vars(2), 9).to_scalar::<f32>().unwrap(),
        loss(&vars, 9).to_scalar::<f32>().unwrap(),
    );
    assert!(l1 < 0.5 * l0, "loss {l0} -> {l1}");
}

/// A 2-32-1 tanh MLP fits `y = sin(2 x₀) + x₁²` on 256 points with untuned ALIAS and ALIAS-Adam.
#[test]
fn mlp_regression_converges() {
    let mut rng = StdRng::seed_from_u64(3);
    let n = 256;
    let xs: Vec<f32> = (0..2 * n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let ys: Vec<f32> = xs
        .chunks(2)
        .map(|p| (2.0 * p[0]).sin() + p[1] * p[1])
        .collect();
    let x = Tensor::from_vec(xs, (n, 2), &DEV).unwrap();
    let y = Tensor::from_vec(ys, (n, 1), &DEV).unwrap();
    let mse = |vars: &[Var]| {
        let h = x
            .matmul(&vars[0])
            .unwrap()
            .broadcast_add(&vars[1])
            .unwrap()
            .tanh()
            .unwrap();
        let out = h.matmul(&vars[2]).unwrap().broadcast_add(&vars[3]).unwrap();
        out.sub(&y).unwrap().sqr().unwrap().mean_all().unwrap()
    };
    let init = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut r = |k: usize, s: f32| (0..k).map(|_| rng.random_range(-s..s)).collect::<Vec<_>>();
        vec![
            Var::from_vec(r(64, 1.0), (2, 32), &DEV).unwrap(),
            Var::from_vec(vec![0.0f32; 32], 32, &DEV).unwrap(),
            Var::from_vec(r(32, 0.3), (32, 1), &DEV).unwrap(),
            Var::from_vec(vec![0.0f32; 1], 1, &DEV).unwrap(),
        ]
    };
    let variance = {
        let m = y.mean_all().unwrap();
        y.broadcast_sub(&m)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let vars = init(4);
    let mut alias = CandleOptimizer::<signfree::AliasSignSgd<f32>>::new(
        vars.clone(),
        AliasSignSgdConfig::default(),
    )
    .unwrap();
    for _ in 0..1500 {
        alias.backward_step(&mse(&vars)).unwrap();
    }
    let alias_mse = mse(&vars).to_scalar::<f32>().unwrap();
    let vars = init(4);
    let mut adam =
        CandleOptimizer::<signfree::AliasAdam<f32>>::new(vars.clone(), AliasAdamConfig::default())
            .unwrap();
    for _ in 0..1500 {
        adam.backward_step(&mse(&vars)).unwrap();
    }
    let adam_mse = mse(&vars).to_scalar::<f32>().unwrap();
    // The target's variance is what predicting the mean scores; both must explain ≥ 98% of it.
    assert!(
        alias_mse < 0.02 * variance,
        "ALIAS {alias_mse} vs var {variance}"
    );
    assert!(
        adam_mse < 0.02 * variance,
        "ALIAS-Adam {adam_mse} vs var {variance}"
    );
}

/// Save after 5 steps, continue 5 more; a fresh optimizer restored from the save on copies of the
/// saved vars takes the same 5 steps bit for bit (also through JSON with the `serde` feature).
#[cfg(feature = "serde")]
#[test]
fn save_and_restore_continue_identically() {
    fn check<O: Method<Element = f32> + signfree::Stateful>(config: O::Config)
    where
        O::State: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let vars = random_vars(5);
        let mut opt = CandleOptimizer::<O>::new(vars.clone(), config.clone()).unwrap();
        for t in 0..5 {
            opt.set_learning_rate(1.0 / (1.0 + t as f64));
            opt.backward_step(&loss(&vars, 11)).unwrap();
        }
        let saved = opt.save();
        let json = serde_json::to_string(&saved).unwrap();
        let copies: Vec<Var> = vars
            .iter()
            .map(|v| Var::from_tensor(&v.as_tensor().copy().unwrap()).unwrap())
            .collect();
        for _ in 0..5 {
            opt.backward_step(&loss(&vars, 11)).unwrap();
        }
        let mut restored = CandleOptimizer::<O>::new(copies.clone(), config).unwrap();
        restored
            .restore(serde_json::from_str(&json).unwrap())
            .unwrap();
        assert_eq!(restored.save(), saved);
        for _ in 0..5 {
            restored.backward_step(&loss(&copies, 11)).unwrap();
        }
        assert_eq!(values(&vars), values(&copies));
        assert_eq!(opt.save(), restored.save());
    }
    fn visit<O: Method<Element = f32> + signfree::Stateful>(o: O)
    where
        O::State: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        check::<O>(o.config().clone());
    }
    every_method!(f32, &[], visit);
}

/// The multiplier scales Sign-SGD's step exactly: `x − (lr·m)·sign(g)`.
#[test]
fn learning_rate_is_an_outer_multiplier() {
    let w = Var::from_vec(vec![1.0f32, -2.0, 0.5], 3, &DEV).unwrap();
    let config = SignSgdConfig {
        lr: 0.25,
        ..Default::default()
    };
    let mut opt = CandleOptimizer::<signfree::SignSgd<f32>>::new(vec![w.clone()], config).unwrap();
    assert_eq!(opt.learning_rate(), 1.0);
    opt.set_learning_rate(0.5);
    // loss = Σ c_i w_i with c = (3, −1, 0): gradient c, sign (1, −1, 0).
    let c = Tensor::new(&[3.0f32, -1.0, 0.0], &DEV).unwrap();
    opt.backward_step(&w.mul(&c).unwrap().sum_all().unwrap())
        .unwrap();
    assert_eq!(
        w.to_vec1::<f32>().unwrap(),
        vec![1.0 - 0.125, -2.0 + 0.125, 0.5]
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let vars = random_vars(6);
    let mut opt = CandleOptimizer::<signfree::AliasSignSgd<f32>>::new(
        vars.clone(),
        AliasSignSgdConfig::default(),
    )
    .unwrap();
    for _ in 0..3 {
        opt.backward_step(&loss(&vars, 13)).unwrap();
    }
    let (before, state) = (values(&vars), opt.save());

    // A NaN gradient coordinate.
    let nan = (vars[1].as_tensor() * f64::NAN).unwrap().sum_all().unwrap();
    let poisoned = (loss(&vars, 13) + nan).unwrap();
    let grads = poisoned.backward().unwrap();
    let err = opt.step_with_loss(&grads, None).unwrap_err();
    assert!(
        matches!(err, Error::NonFiniteGradient { tensor: 1, .. }),
        "{err}"
    );
    assert!(err.is_divergence());
    assert_eq!((values(&vars), opt.save()), (before.clone(), state.clone()));

    // A non-finite loss.
    let grads = loss(&vars, 13).backward().unwrap();
    let err = opt.step_with_loss(&grads, Some(f64::INFINITY)).unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { .. }), "{err}");

    // A negative multiplier.
    opt.set_learning_rate(-1.0);
    let err = opt.step_with_loss(&grads, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidParameter {
                parameter: "learning_rate",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_divergence());
    opt.set_learning_rate(1.0);

    // A trained var without a gradient.
    let only_first = vars[0]
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let err = opt.step_with_loss(&only_first, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tensor {
                var: 1,
                problem: TensorProblem::MissingGradient
            }
        ),
        "{err}"
    );
    assert_eq!((values(&vars), opt.save()), (before, state));

    // Invalid hyper-parameters fail in `new`; so does a float var of the wrong dtype.
    let bad = AliasSignSgdConfig {
        weight_decay: -1.0,
        ..Default::default()
    };
    let err =
        CandleOptimizer::<signfree::AliasSignSgd<f32>>::try_new(vars.clone(), bad).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidParameter {
                parameter: "weight_decay",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        CandleOptimizer::<signfree::AliasSignSgd<f32>>::new(
            vars.clone(),
            AliasSignSgdConfig {
                weight_decay: -1.0,
                ..Default::default()
            }
        )
        .is_err()
    );
    let w64 = Var::zeros(3, DType::F64, &DEV).unwrap();
    let err = CandleOptimizer::<signfree::AliasSignSgd<f32>>::try_new(
        vec![w64],
        AliasSignSgdConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tensor {
                var: 0,
                problem: TensorProblem::Dtype {
                    found: "f64",
                    expected: "f32"
                }
            }
        ),
        "{err}"
    );
}

/// Integer vars are dropped; a var that has no gradient at the first step is never trained.
#[test]
fn integer_and_gradient_free_vars_are_skipped() {
    let ids = Var::zeros(4, DType::U32, &DEV).unwrap();
    let used = Var::from_vec(vec![0.5f32, -0.5], 2, &DEV).unwrap();
    let unused = Var::from_vec(vec![7.0f32, 8.0], 2, &DEV).unwrap();
    let mut opt = CandleOptimizer::<signfree::AliasAdam<f32>>::new(
        vec![ids, used.clone(), unused.clone()],
        AliasAdamConfig::default(),
    )
    .unwrap();
    assert_eq!(opt.vars().len(), 2);
    for _ in 0..3 {
        opt.backward_step(&used.sqr().unwrap().sum_all().unwrap())
            .unwrap();
    }
    assert_eq!(unused.to_vec1::<f32>().unwrap(), vec![7.0, 8.0]);
    assert_ne!(used.to_vec1::<f32>().unwrap(), vec![0.5, -0.5]);
    assert_eq!(opt.inner().map(|o| o.layout().to_vec()), Some(vec![2]));
    // State: ALIAS-Adam keeps g_{t−1}, m and v (three f32 per parameter).
    assert_eq!(opt.state_bytes(), 2.0 * 12.0);
    // Before any step nothing is trained and no state exists.
    let fresh = CandleOptimizer::<signfree::AliasSignSgd<f32>>::new(
        vec![used],
        AliasSignSgdConfig::default(),
    )
    .unwrap();
    assert!(fresh.inner().is_none() && fresh.state_bytes() == 0.0);
}

/// A gradient that is a trained var's own storage is refused with an error (the step
/// write-locks every var's storage while it reads the gradients: it would deadlock).
#[test]
fn gradient_sharing_a_var_storage_is_refused_not_deadlocked() {
    let w = Var::from_vec(vec![1.0f32, -2.0], 2, &DEV).unwrap();
    let mut opt =
        CandleOptimizer::<signfree::SignSgd<f32>>::new(vec![w.clone()], SignSgdConfig::default())
            .unwrap();
    let mut grads = candle_core::backprop::GradStore::default();
    grads.insert(&w, w.as_tensor().clone());
    let err = opt.step_with_loss(&grads, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tensor {
                var: 0,
                problem: TensorProblem::GradientAliasesVar
            }
        ),
        "{err}"
    );
    assert_eq!(w.to_vec1::<f32>().unwrap(), vec![1.0, -2.0]);
}
