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
use signfree::candle::{CandleOptimizer, StepPath};
use signfree::{
    AdamWConfig, AliasAdamConfig, AliasSignSgdConfig, Error, Optimizer, ProdigyConfig, Schedule,
    SignSgdConfig, TensorProblem,
};

const DEV: Device = Device::Cpu;

/// Two tensors (a 7×5 matrix and a 13-vector) with random values.
fn random_vars(seed: u64) -> Vec<Var> {
    random_vars_as(seed, &[DType::F32, DType::F32])
}

/// [`random_vars`] with the given dtypes (the f32 values rounded to each).
fn random_vars_as(seed: u64, dtypes: &[DType; 2]) -> Vec<Var> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = |n: usize| {
        (0..n)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect::<Vec<_>>()
    };
    let var = |values: Vec<f32>, shape: &[usize], dtype: DType| {
        let t = Tensor::from_vec(values, shape, &DEV).unwrap();
        Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()
    };
    vec![var(v(35), &[7, 5], dtypes[0]), var(v(13), &[13], dtypes[1])]
}

/// A smooth non-quadratic loss of both vars with fixed random data, terms like
/// `‖tanh(c_k ⊙ w_k) − t_k‖² + 0.1‖w_k‖⁴` summed over k, so that gradients change from step to
/// step. Each var's term is computed in its dtype, the total in f32.
fn loss(vars: &[Var], seed: u64) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut total = Tensor::zeros((), DType::F32, &DEV).unwrap();
    for v in vars {
        let n = v.elem_count();
        let c: Vec<f32> = (0..n).map(|_| rng.random_range(0.5f32..3.0)).collect();
        let t: Vec<f32> = (0..n).map(|_| rng.random_range(-0.9f32..0.9)).collect();
        let as_var = |x: Vec<f32>| {
            Tensor::from_vec(x, v.shape(), &DEV)
                .unwrap()
                .to_dtype(v.dtype())
                .unwrap()
        };
        let (c, t) = (as_var(c), as_var(t));
        let fit = v.mul(&c).unwrap().tanh().unwrap().sub(&t).unwrap();
        let sq = v.sqr().unwrap().sum_all().unwrap();
        let term =
            (fit.sqr().unwrap().sum_all().unwrap() + (sq.sqr().unwrap() * 0.1).unwrap()).unwrap();
        total = (total + term.to_dtype(DType::F32).unwrap()).unwrap();
    }
    total
}

/// Each var's values, converted to f32 (exactly, for f32, bf16 and f16 vars).
fn values(vars: &[Var]) -> Vec<Vec<f32>> {
    vars.iter().map(|v| to_f32(v.as_tensor())).collect()
}

fn to_f32(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// `x` rounded to `dtype` by candle (round to nearest even), back in f32.
fn rounded(x: &[f32], dtype: DType) -> Vec<f32> {
    to_f32(
        &Tensor::from_slice(x, x.len(), &DEV)
            .unwrap()
            .to_dtype(dtype)
            .unwrap(),
    )
}

fn assert_bits(got: &[f32], expected: &[f32], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(expected).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{what} [{i}]: {a} vs {b}");
    }
}

/// Runs `steps` adapter steps and the same steps of the slice optimizer on copies of the numbers
/// (gradients taken from the adapter's run), and checks every parameter bit for bit.
fn same_as_slice_optimizer<O: Method<Element = f32>>(config: O::Config, steps: usize, lr: &[f64]) {
    same_as_slice_optimizer_on::<O>(config, steps, lr, [DType::F32; 2], StepPath::Auto);
}

/// [`same_as_slice_optimizer`] on vars of the given dtypes through the given path. The slice
/// optimizer starts from the vars' values (exact in f32) and takes the adapter's gradients
/// converted to f32 (exact too), so the generic path must match it **bit for bit**: an f32 var
/// holds the slice optimizer's values, a narrower var's master copy holds them and the var their
/// rounding to its dtype.
fn same_as_slice_optimizer_on<O: Method<Element = f32>>(
    config: O::Config,
    steps: usize,
    lr: &[f64],
    dtypes: [DType; 2],
    path: StepPath,
) {
    let vars = random_vars_as(1, &dtypes);
    let mut adapter = CandleOptimizer::<O>::new(vars.clone(), config.clone())
        .unwrap()
        .with_path(path)
        .unwrap();
    for (k, &dtype) in dtypes.iter().enumerate() {
        let generic = path == StepPath::Generic || dtype != DType::F32;
        assert_eq!(
            adapter.var_path(k),
            Some(if generic {
                StepPath::Generic
            } else {
                StepPath::InPlace
            }),
            "{}: var {k}",
            O::NAME
        );
    }
    let layout: Vec<usize> = vars.iter().map(|v| v.elem_count()).collect();
    let mut slice_opt = O::build(config.clone(), &layout).unwrap();
    let mut x = values(&vars);
    for t in 0..steps {
        let l = loss(&vars, 7);
        let value = l.to_scalar::<f32>().unwrap() as f64;
        let grads = l.backward().unwrap();
        let g: Vec<Vec<f32>> = vars.iter().map(|v| to_f32(grads.get(v).unwrap())).collect();
        let m = lr[t % lr.len()];
        adapter.set_learning_rate(m);
        let report = adapter.step_with_loss(&grads, Some(value)).unwrap();
        slice_opt.set_lr_multiplier(m).unwrap();
        let mut xs: Vec<&mut [f32]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gs: Vec<&[f32]> = g.iter().map(|v| v.as_slice()).collect();
        let expected = slice_opt.step(&mut xs, &gs, Some(value)).unwrap();
        assert_eq!(report, expected, "{} step {t}", O::NAME);
        let got = values(&vars);
        for (k, &dtype) in dtypes.iter().enumerate() {
            let what = format!("{} step {t} var {k} ({dtype:?})", O::NAME);
            if dtype == DType::F32 {
                assert!(adapter.master(k).is_none(), "{what}");
                assert_bits(&got[k], &x[k], &what);
            } else {
                assert_bits(adapter.master(k).unwrap(), &x[k], &format!("{what} master"));
                assert_bits(&got[k], &rounded(&x[k], dtype), &what);
            }
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
        // Saves from before the generic path have no `masters` field; they still load.
        assert!(saved.masters.is_empty() && json.contains(r#","masters":[]"#));
        let old: signfree::candle::CandleState<O::State> =
            serde_json::from_str(&json.replace(r#","masters":[]"#, "")).unwrap();
        assert_eq!(old, saved);
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
                    expected: "f32, bf16 or f16"
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

/// The lr multipliers the generic-path comparisons cycle through (including a zero step).
const MULTIPLIERS: [f64; 4] = [1.0, 0.5, 0.0, 2.0];

/// Every method of the shared list, forced through the generic path on CPU f32 vars, takes the
/// slice optimizer's steps bit for bit (tolerance 0 for every method: the path runs the same
/// optimizer on an exact f32 copy of the vars and gradients).
#[test]
fn generic_path_f32_equals_slice_optimizer_for_every_method() {
    fn visit<O: Method<Element = f32>>(o: O) {
        same_as_slice_optimizer_on::<O>(
            o.config().clone(),
            12,
            &MULTIPLIERS,
            [DType::F32; 2],
            StepPath::Generic,
        );
    }
    every_method!(f32, &[], visit);
}

/// bf16 and f16 vars take the generic path by themselves; for every method the f32 master equals
/// the slice optimizer started from the rounded initial values with the adapter's gradients in
/// f32, bit for bit (tolerance 0 for every method), and each var holds its master's rounding.
/// The last case mixes an in-place f32 var and a generic bf16 var in one global step.
#[test]
fn half_precision_vars_master_equals_slice_optimizer_for_every_method() {
    fn visit<O: Method<Element = f32>>(o: O) {
        for dtypes in [[DType::BF16; 2], [DType::F16; 2], [DType::F32, DType::BF16]] {
            same_as_slice_optimizer_on::<O>(
                o.config().clone(),
                12,
                &MULTIPLIERS,
                dtypes,
                StepPath::Auto,
            );
        }
    }
    every_method!(f32, &[], visit);
}

/// Sign steps of 1e-4 are below half a bf16 ulp at 1.0 (2⁻⁸): the var alone would never move.
/// The f32 master accumulates them, and the var follows once the sum shows in bf16.
#[test]
fn small_steps_accumulate_in_the_master_copy() {
    let w = Var::ones(4, DType::BF16, &DEV).unwrap();
    let config = SignSgdConfig {
        lr: 1e-4,
        ..Default::default()
    };
    let mut opt = CandleOptimizer::<signfree::SignSgd<f32>>::new(vec![w.clone()], config).unwrap();
    let c = Tensor::new(&[1.0f32, -1.0, 1.0, -1.0], &DEV)
        .unwrap()
        .to_dtype(DType::BF16)
        .unwrap();
    let mut x = [1.0f32; 4];
    for t in 0..100 {
        opt.backward_step(&w.mul(&c).unwrap().sum_all().unwrap())
            .unwrap();
        for (xi, ci) in x.iter_mut().zip([1.0f32, -1.0, 1.0, -1.0]) {
            *xi -= 1e-4 * ci;
        }
        assert_bits(opt.master(0).unwrap(), &x, &format!("step {t}"));
        if t == 0 {
            // One step: the master moved, the bf16 var did not.
            assert_eq!(values(std::slice::from_ref(&w))[0], vec![1.0; 4]);
        }
    }
    // 100 steps: 1 ∓ 0.01 in f32, rounded to the nearest bf16 (spacing 2⁻⁸ below 1, 2⁻⁷ above).
    assert!(
        (x[0] - 0.99).abs() < 1e-5 && (x[1] - 1.01).abs() < 1e-5,
        "{x:?}"
    );
    assert_eq!(
        values(&[w])[0],
        vec![0.98828125, 1.0078125, 0.98828125, 1.0078125]
    );
    assert_eq!(opt.master_bytes(), 4 * 4 + 4 * 2);
}

/// A 2-32-1 tanh MLP entirely in bf16 (vars, data and forward pass) trains with untuned
/// ALIAS-Adam and R5 (`research::DistanceSign`) through the generic path.
#[test]
fn bf16_mlp_trains() {
    let mut rng = StdRng::seed_from_u64(3);
    let n = 256;
    let xs: Vec<f32> = (0..2 * n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let ys: Vec<f32> = xs
        .chunks(2)
        .map(|p| (2.0 * p[0]).sin() + p[1] * p[1])
        .collect();
    let bf16 = |t: Tensor| t.to_dtype(DType::BF16).unwrap();
    let x = bf16(Tensor::from_vec(xs, (n, 2), &DEV).unwrap());
    let y = bf16(Tensor::from_vec(ys, (n, 1), &DEV).unwrap());
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
    let value = |t: Tensor| t.to_dtype(DType::F32).unwrap().to_scalar::<f32>().unwrap();
    let init = || {
        let mut rng = StdRng::seed_from_u64(4);
        let mut r = |k: usize, s: f32| (0..k).map(|_| rng.random_range(-s..s)).collect::<Vec<_>>();
        let var = |v: Vec<f32>, shape: &[usize]| {
            Var::from_tensor(&bf16(Tensor::from_vec(v, shape, &DEV).unwrap())).unwrap()
        };
        vec![
            var(r(64, 1.0), &[2, 32]),
            var(vec![0.0; 32], &[32]),
            var(r(32, 0.3), &[32, 1]),
            var(vec![0.0; 1], &[1]),
        ]
    };
    fn train<O: Method<Element = f32>>(
        config: O::Config,
        vars: &[Var],
        mse: &dyn Fn(&[Var]) -> Tensor,
        steps: usize,
    ) {
        let mut opt = CandleOptimizer::<O>::new(vars.to_vec(), config).unwrap();
        for _ in 0..steps {
            opt.backward_step(&mse(vars)).unwrap();
        }
        assert!((0..4).all(|k| opt.var_path(k) == Some(StepPath::Generic)));
        assert!(opt.master(0).is_some());
    }
    let initial = value(mse(&init()));
    let vars = init();
    train::<signfree::AliasAdam<f32>>(AliasAdamConfig::default(), &vars, &mse, 300);
    let adam = value(mse(&vars));
    let vars = init();
    train::<signfree::research::DistanceSign<f32>>(Default::default(), &vars, &mse, 300);
    let r5 = value(mse(&vars));
    // Measured: 0.582 -> 0.0601 (ALIAS-Adam) and 0.0221 (R5).
    assert!(adam < 0.15 * initial, "ALIAS-Adam: {initial} -> {adam}");
    assert!(r5 < 0.08 * initial, "R5: {initial} -> {r5}");
}

/// On the generic path a NaN gradient, a missing gradient or a wrong-dtype gradient is a typed
/// error that changes neither the vars, nor the master copies, nor the optimizer state.
#[test]
fn generic_path_refuses_bad_input_and_changes_nothing() {
    for dtypes in [[DType::BF16; 2], [DType::F32; 2]] {
        let vars = random_vars_as(6, &dtypes);
        let mut opt = CandleOptimizer::<signfree::AliasSignSgd<f32>>::new(
            vars.clone(),
            AliasSignSgdConfig::default(),
        )
        .unwrap()
        .with_path(StepPath::Generic)
        .unwrap();
        for _ in 0..3 {
            opt.backward_step(&loss(&vars, 13)).unwrap();
        }
        let (before, state) = (values(&vars), opt.save());
        assert_eq!(
            state.masters.len(),
            if dtypes[0] == DType::F32 { 0 } else { 2 }
        );

        let nan = (vars[1].as_tensor() * f64::NAN)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let grads = (loss(&vars, 13) + nan).unwrap().backward().unwrap();
        let err = opt.step_with_loss(&grads, None).unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteGradient { tensor: 1, .. }),
            "{err}"
        );
        assert!(err.is_divergence());
        assert_eq!((values(&vars), opt.save()), (before.clone(), state.clone()));

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
        let mut wrong = loss(&vars, 13).backward().unwrap();
        let g = wrong.get(&vars[0]).unwrap().to_dtype(DType::F64).unwrap();
        wrong.insert(&vars[0], g);
        let err = opt.step_with_loss(&wrong, None).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Tensor {
                    var: 0,
                    problem: TensorProblem::GradientMismatch { .. }
                }
            ),
            "{err}"
        );
        assert_eq!((values(&vars), opt.save()), (before, state));
    }
}

/// Save after 5 generic steps on bf16 vars, continue 5; a fresh optimizer restored from the save
/// (through JSON) on copies of the saved vars takes the same 5 steps bit for bit, masters
/// included.
#[cfg(feature = "serde")]
#[test]
fn generic_save_and_restore_continue_identically_for_every_method() {
    fn visit<O: Method<Element = f32>>(o: O)
    where
        O::State: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let config = o.config().clone();
        let vars = random_vars_as(5, &[DType::BF16, DType::F16]);
        let mut opt = CandleOptimizer::<O>::new(vars.clone(), config.clone()).unwrap();
        for t in 0..5 {
            opt.set_learning_rate(1.0 / (1.0 + t as f64));
            opt.backward_step(&loss(&vars, 11)).unwrap();
        }
        let saved = opt.save();
        assert_eq!(
            saved.masters.iter().map(|m| m.0).collect::<Vec<_>>(),
            vec![0, 1],
            "{}",
            O::NAME
        );
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
        assert_eq!(restored.save(), saved, "{}", O::NAME);
        for _ in 0..5 {
            restored.backward_step(&loss(&copies, 11)).unwrap();
        }
        assert_eq!(values(&vars), values(&copies), "{}", O::NAME);
        assert_eq!(opt.save(), restored.save(), "{}", O::NAME);
    }
    every_method!(f32, &[], visit);
}

/// A var set outside the optimizer no longer holds its master's rounding: the next step restarts
/// that var's master from the new value (the other var keeps its master), exactly as the slice
/// optimizer does when its parameters are overwritten.
#[test]
fn var_changed_outside_restarts_its_master() {
    let vars = random_vars_as(8, &[DType::BF16; 2]);
    let config = AliasSignSgdConfig::default();
    let mut opt =
        CandleOptimizer::<signfree::AliasSignSgd<f32>>::new(vars.clone(), config.clone()).unwrap();
    let mut slice_opt = signfree::AliasSignSgd::<f32>::new(config, &[35, 13]).unwrap();
    let mut x = values(&vars);
    for t in 0..8 {
        if t == 4 {
            let new = Tensor::full(0.25f32, (7, 5), &DEV)
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap();
            vars[0].set(&new).unwrap();
            x[0] = vec![0.25; 35];
        }
        let l = loss(&vars, 3);
        let value = l.to_scalar::<f32>().unwrap() as f64;
        let grads = l.backward().unwrap();
        let g: Vec<Vec<f32>> = vars.iter().map(|v| to_f32(grads.get(v).unwrap())).collect();
        opt.step_with_loss(&grads, Some(value)).unwrap();
        let mut xs: Vec<&mut [f32]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gs: Vec<&[f32]> = g.iter().map(|v| v.as_slice()).collect();
        slice_opt.step(&mut xs, &gs, Some(value)).unwrap();
        for (k, xk) in x.iter().enumerate() {
            assert_bits(opt.master(k).unwrap(), xk, &format!("step {t} var {k}"));
        }
    }
}

/// Which vars take which path, and what each path refuses.
#[test]
fn paths_are_chosen_per_var_and_checked() {
    type Alias = CandleOptimizer<signfree::AliasSignSgd<f32>>;
    let f32_var = Var::zeros(3, DType::F32, &DEV).unwrap();
    let bf16_var = Var::zeros(3, DType::BF16, &DEV).unwrap();
    let f64_var = Var::zeros(3, DType::F64, &DEV).unwrap();
    let ids = Var::zeros(3, DType::U32, &DEV).unwrap();
    let vars = vec![ids, f32_var.clone(), bf16_var.clone()];
    let opt = Alias::new(vars.clone(), AliasSignSgdConfig::default()).unwrap();
    assert_eq!(opt.path(), StepPath::Auto);
    assert_eq!(
        (opt.var_path(0), opt.var_path(1), opt.var_path(2)),
        (Some(StepPath::InPlace), Some(StepPath::Generic), None)
    );
    let opt = opt.with_path(StepPath::Generic).unwrap();
    assert_eq!(opt.var_path(0), Some(StepPath::Generic));
    // Forcing the in-place path refuses the bf16 var (index 1 among the kept vars).
    let err = opt.with_path(StepPath::InPlace).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tensor {
                var: 1,
                problem: TensorProblem::Dtype {
                    found: "bf16",
                    expected: "f32"
                }
            }
        ),
        "{err}"
    );
    // An f64 var is wider than an f32 method computes in: refused on every path.
    assert!(Alias::new(vec![f64_var.clone()], AliasSignSgdConfig::default()).is_err());
    let err = Alias::try_new(
        vec![f32_var.clone(), f64_var.clone()],
        AliasSignSgdConfig::default(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(
            err,
            Error::Tensor {
                var: 1,
                problem: TensorProblem::Dtype { found: "f64", .. }
            }
        ),
        "{err}"
    );
    // An f64 method takes the f32 and bf16 vars on the generic path with f64 masters, and the
    // f64 var in place; one step matches the slice optimizer in f64.
    let w = [f64_var.clone(), f32_var.clone(), bf16_var.clone()];
    let mut opt = CandleOptimizer::<signfree::SignSgd<f64>>::new(
        w.to_vec(),
        SignSgdConfig {
            lr: 1e-3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        (0..3).map(|k| opt.var_path(k).unwrap()).collect::<Vec<_>>(),
        [StepPath::InPlace, StepPath::Generic, StepPath::Generic]
    );
    let c = Tensor::new(&[1.0f32, -1.0, 0.0], &DEV).unwrap();
    let l = w
        .iter()
        .map(|v| {
            v.mul(&c.to_dtype(v.dtype()).unwrap())
                .unwrap()
                .sum_all()
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
        })
        .reduce(|a, b| (a + b).unwrap())
        .unwrap();
    opt.backward_step(&l).unwrap();
    assert_eq!(f64_var.to_vec1::<f64>().unwrap(), vec![-1e-3, 1e-3, 0.0]);
    assert_eq!(opt.master(1).unwrap(), &[-1e-3, 1e-3, 0.0]);
    assert_eq!(opt.master(2).unwrap(), &[-1e-3, 1e-3, 0.0]);
    assert_eq!(
        values(&[f32_var])[0],
        vec![-1e-3f64 as f32, 1e-3f64 as f32, 0.0]
    );
}

/// `restore` checks the trained indices (increasing) and the master copies (length, finite)
/// and changes nothing on error.
#[test]
fn restore_refuses_inconsistent_generic_state() {
    let vars = random_vars_as(9, &[DType::BF16; 2]);
    let mut opt = CandleOptimizer::<signfree::AliasSignSgd<f32>>::new(
        vars.clone(),
        AliasSignSgdConfig::default(),
    )
    .unwrap();
    for _ in 0..2 {
        opt.backward_step(&loss(&vars, 1)).unwrap();
    }
    let good = opt.save();
    let mut bad = good.clone();
    bad.masters[1].1.pop();
    assert!(matches!(
        opt.restore(bad).unwrap_err(),
        Error::IncompatibleState { .. }
    ));
    let mut bad = good.clone();
    bad.masters[0].1[3] = f32::NAN;
    assert!(matches!(
        opt.restore(bad).unwrap_err(),
        Error::IncompatibleState { .. }
    ));
    let mut bad = good.clone();
    bad.masters.swap(0, 1);
    assert!(opt.restore(bad).is_err());
    assert_eq!(opt.save(), good);
}

/// A run may move between paths: a state saved from bf16 vars (generic, with masters) restores
/// onto f32 vars (in place; the masters are not needed and dropped), and one saved in place
/// restores onto bf16 vars (their masters start from the vars' values); both keep stepping.
#[test]
fn state_moves_between_paths() {
    type Alias = CandleOptimizer<signfree::AliasAdam<f32>>;
    let bf16_vars = random_vars_as(12, &[DType::BF16; 2]);
    let mut generic = Alias::new(bf16_vars.clone(), AliasAdamConfig::default()).unwrap();
    for _ in 0..3 {
        generic.backward_step(&loss(&bf16_vars, 5)).unwrap();
    }
    let saved = generic.save();
    assert_eq!(saved.masters.len(), 2);
    // f32 vars holding the bf16 run's values.
    let f32_vars: Vec<Var> = bf16_vars
        .iter()
        .map(|v| Var::from_tensor(&v.to_dtype(DType::F32).unwrap()).unwrap())
        .collect();
    let mut in_place = Alias::new(f32_vars.clone(), AliasAdamConfig::default()).unwrap();
    in_place.restore(saved.clone()).unwrap();
    assert!(in_place.save().masters.is_empty());
    assert_eq!(in_place.save().trained, saved.trained);
    in_place.backward_step(&loss(&f32_vars, 5)).unwrap();
    assert_eq!(in_place.inner().unwrap().steps_taken(), 4);

    // Back: the in-place state onto fresh bf16 copies of the f32 values.
    let saved = in_place.save();
    let bf16_again: Vec<Var> = f32_vars
        .iter()
        .map(|v| Var::from_tensor(&v.to_dtype(DType::BF16).unwrap()).unwrap())
        .collect();
    let mut generic = Alias::new(bf16_again.clone(), AliasAdamConfig::default()).unwrap();
    generic.restore(saved).unwrap();
    assert!(generic.master(0).is_none());
    generic.backward_step(&loss(&bf16_again, 5)).unwrap();
    assert_eq!(generic.inner().unwrap().steps_taken(), 5);
    assert_eq!(generic.save().masters.len(), 2);
}

/// An f16 gradient beyond f16's range is infinite: a typed divergence error, nothing changed
/// (the generic path does not rescale; loss scaling is the caller's).
#[test]
fn f16_gradient_overflow_is_a_typed_error() {
    let w = Var::from_tensor(
        &Tensor::new(&[0.5f32, -0.25], &DEV)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap(),
    )
    .unwrap();
    let mut opt =
        CandleOptimizer::<signfree::SignSgd<f32>>::new(vec![w.clone()], SignSgdConfig::default())
            .unwrap();
    let err = opt
        .step_with_loss(
            &(w.as_tensor() * 1e5)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap(),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::NonFiniteGradient { tensor: 0, .. }),
        "{err}"
    );
    assert!(err.is_divergence());
    assert_eq!(values(&[w])[0], vec![0.5, -0.25]);
    assert!(opt.master(0).is_none() && opt.inner().is_none());
}
