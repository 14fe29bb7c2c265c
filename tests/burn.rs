//! The burn adapter (feature `burn`, NdArray backend, f32): every method takes exactly the slice
//! optimizer's steps under a changing learning rate, saves and restores through burn's optimizer
//! record bit for bit, refuses bad input without changing anything, and trains a small MLP.
#![cfg(feature = "burn")]

#[macro_use]
#[path = "support/methods.rs"]
mod methods;

use burn::module::{Module, Param};
use burn::optim::{GradientsParams, OptimizerRecord};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use signfree::burn::BurnOptimizer;
use signfree::{AliasAdamConfig, AliasSignSgdConfig, Error, Method, SignSgdConfig, TensorProblem};

/// The NdArray backend (deprecated by burn 0.22 in favour of its Flex backend, still supported).
#[allow(deprecated)]
fn device() -> Device {
    Device::ndarray().autodiff()
}

/// Two parameters: a 7×5 matrix and a 13-vector.
#[derive(Module, Debug)]
struct Two {
    a: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
}

fn random(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

fn two(seed: u64) -> Two {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = device();
    Two {
        a: Param::from_tensor(Tensor::from_data(
            TensorData::new(random(&mut rng, 35, 1.0), [7, 5]),
            &d,
        )),
        b: Param::from_tensor(Tensor::from_data(
            TensorData::new(random(&mut rng, 13, 1.0), [13]),
            &d,
        )),
    }
}

/// A smooth non-quadratic loss with fixed random data, `Σ_k ‖tanh(c_k ⊙ w_k) − t_k‖² +
/// 0.1‖w_k‖⁴`, so that gradients change from step to step.
fn loss(m: &Two, seed: u64) -> Tensor<1> {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = device();
    let mut data = |n: usize| -> (Vec<f32>, Vec<f32>) {
        let c = (0..n).map(|_| rng.random_range(0.5f32..3.0)).collect();
        let t = (0..n).map(|_| rng.random_range(-0.9f32..0.9)).collect();
        (c, t)
    };
    let (c, t) = data(35);
    let a = m.a.val();
    let c = Tensor::<2>::from_data(TensorData::new(c, [7, 5]), &d);
    let t = Tensor::<2>::from_data(TensorData::new(t, [7, 5]), &d);
    let term_a = (a.clone() * c).tanh().sub(t).square().sum() + a.square().sum().square() * 0.1;
    let (c, t) = data(13);
    let b = m.b.val();
    let c = Tensor::<1>::from_data(TensorData::new(c, [13]), &d);
    let t = Tensor::<1>::from_data(TensorData::new(t, [13]), &d);
    let term_b = (b.clone() * c).tanh().sub(t).square().sum() + b.square().sum().square() * 0.1;
    term_a + term_b
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn values(m: &Two) -> Vec<Vec<f32>> {
    vec![host(m.a.val()), host(m.b.val())]
}

fn scalar(t: &Tensor<1>) -> f64 {
    host(t.clone())[0] as f64
}

fn record_bytes(r: OptimizerRecord) -> Vec<u8> {
    r.into_bytes().unwrap().to_vec()
}

/// Runs 12 adapter steps with learning rates cycling through `1, 0.5, 0, 2`, and the same steps
/// of the slice optimizer on host copies of the numbers (gradients from the adapter's run); the
/// reports and every parameter agree bit for bit.
fn same_as_slice_optimizer<O: Method<Element = f32>>(config: O::Config) {
    let mut model = two(1);
    let mut adapter = BurnOptimizer::<O>::new(config.clone()).unwrap();
    let mut slice_opt = O::build(config, &[35, 13]).unwrap();
    let mut x = values(&model);
    let lr = [1.0, 0.5, 0.0, 2.0];
    for t in 0..12 {
        let l = loss(&model, 7);
        let value = scalar(&l);
        let grads = GradientsParams::from_grads(l.backward(), &model);
        let g = [
            host(grads.get::<2>(model.a.id).unwrap()),
            host(grads.get::<1>(model.b.id).unwrap()),
        ];
        let m = lr[t % lr.len()];
        let (next, report) = adapter.try_step(m, &model, &grads, Some(value)).unwrap();
        model = next;
        slice_opt.set_lr_multiplier(m).unwrap();
        let mut xs: Vec<&mut [f32]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gs: Vec<&[f32]> = g.iter().map(|v| v.as_slice()).collect();
        let expected = slice_opt.step(&mut xs, &gs, Some(value)).unwrap();
        assert_eq!(report, expected, "{} step {t}", O::NAME);
        for (a, b) in values(&model).iter().flatten().zip(x.iter().flatten()) {
            assert_eq!(a.to_bits(), b.to_bits(), "{} step {t}: {a} vs {b}", O::NAME);
        }
    }
    assert_eq!(
        adapter.trained_params(),
        Some(&[model.a.id, model.b.id][..])
    );
    assert_eq!(adapter.inner().unwrap().layout(), &[35, 13]);
}

#[test]
fn adapter_steps_equal_slice_steps_for_every_method() {
    fn visit<O: Method<Element = f32>>(o: O) {
        same_as_slice_optimizer::<O>(o.config().clone());
    }
    every_method!(f32, &[], visit);
}

/// Save after 5 steps through burn's record (and its bytes); the original continues 5 steps, and
/// a fresh optimizer loaded from the record continues 5 steps on a copy of the saved model: the
/// parameters and the final records are identical, bit for bit.
#[test]
fn record_round_trip_continues_bit_for_bit() {
    fn visit<O: Method<Element = f32>>(o: O)
    where
        O::Config: serde::Serialize + serde::de::DeserializeOwned,
        O::State: serde::Serialize + serde::de::DeserializeOwned,
    {
        let config = o.config().clone();
        let mut model = two(5);
        let mut opt = BurnOptimizer::<O>::new(config.clone()).unwrap();
        let step = |opt: &mut BurnOptimizer<O>, model: &Two, t: usize| {
            let l = loss(model, 11);
            let value = scalar(&l);
            let grads = GradientsParams::from_grads(l.backward(), model);
            let lr = 1.0 / (1.0 + t as f64);
            opt.try_step(lr, model, &grads, Some(value)).unwrap().0
        };
        for t in 0..5 {
            model = step(&mut opt, &model, t);
        }
        let bytes = opt.to_record().unwrap().into_bytes().unwrap();
        let saved_bytes = bytes.to_vec();
        let mut copy = model.clone();
        let mut restored = BurnOptimizer::<O>::new(config).unwrap();
        restored
            .load_record(OptimizerRecord::from_bytes(bytes).unwrap())
            .unwrap();
        assert_eq!(record_bytes(restored.to_record().unwrap()), saved_bytes);
        for t in 5..10 {
            model = step(&mut opt, &model, t);
            copy = step(&mut restored, &copy, t);
        }
        let (a, b) = (values(&model), values(&copy));
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert_eq!(x.to_bits(), y.to_bits(), "{}", O::NAME);
        }
        assert_eq!(
            record_bytes(opt.to_record().unwrap()),
            record_bytes(restored.to_record().unwrap()),
            "{}",
            O::NAME
        );
    }
    every_method!(f32, &[], visit);
}

/// A record saved before the first step restores an optimizer that has not fixed its trained set;
/// a record of another method is refused and changes nothing.
#[test]
fn records_of_fresh_and_other_optimizers() {
    let fresh = BurnOptimizer::<signfree::AliasSignSgd<f32>>::new(AliasSignSgdConfig::default())
        .unwrap()
        .to_record()
        .unwrap();
    let mut model = two(3);
    let mut opt =
        BurnOptimizer::<signfree::AliasSignSgd<f32>>::new(AliasSignSgdConfig::default()).unwrap();
    let grads = GradientsParams::from_grads(loss(&model, 1).backward(), &model);
    model = opt.try_step(1.0, &model, &grads, None).unwrap().0;
    assert!(opt.trained_params().is_some());
    opt.load_record(fresh).unwrap();
    assert!(opt.trained_params().is_none() && opt.state_bytes() == 0.0);

    let grads = GradientsParams::from_grads(loss(&model, 1).backward(), &model);
    opt.try_step(1.0, &model, &grads, None).unwrap();
    let before = record_bytes(opt.to_record().unwrap());
    let mut other =
        BurnOptimizer::<signfree::AliasAdam<f32>>::new(AliasAdamConfig::default()).unwrap();
    let grads = GradientsParams::from_grads(loss(&model, 1).backward(), &model);
    other.try_step(1.0, &model, &grads, None).unwrap();
    let err = opt.load_record(other.to_record().unwrap()).unwrap_err();
    assert!(matches!(err, Error::Checkpoint(_)), "{err}");
    assert_eq!(record_bytes(opt.to_record().unwrap()), before);
    // Not a signfree record at all: burn's own (empty) AdamW record.
    let burn_record = burn::optim::AdamWConfig::new().init().to_record();
    let err = opt.load_record(burn_record).unwrap_err();
    assert!(matches!(err, Error::Checkpoint(_)), "{err}");
    assert_eq!(record_bytes(opt.to_record().unwrap()), before);
}

/// The multiplier scales Sign-SGD's step exactly: `x − (lr·m)·sign(g)`, through burn's call
/// shape `step(lr, module, grads)`.
#[test]
fn learning_rate_is_an_outer_multiplier() {
    #[derive(Module, Debug)]
    struct W {
        w: Param<Tensor<1>>,
    }
    let d = device();
    let model = W {
        w: Param::from_tensor(Tensor::from_data([1.0f32, -2.0, 0.5], &d)),
    };
    let config = SignSgdConfig {
        lr: 0.25,
        ..Default::default()
    };
    let mut opt = BurnOptimizer::<signfree::SignSgd<f32>>::new(config).unwrap();
    // loss = Σ c_i w_i with c = (3, −1, 0): gradient c, sign (1, −1, 0).
    let c = Tensor::<1>::from_data([3.0f32, -1.0, 0.0], &d);
    let grads = GradientsParams::from_grads((model.w.val() * c).sum().backward(), &model);
    let model = opt.step(0.5, model, grads);
    assert_eq!(host(model.w.val()), vec![1.0 - 0.125, -2.0 + 0.125, 0.5]);
    // The new parameter still tracks gradients.
    assert!(model.w.val().is_require_grad());
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let mut model = two(6);
    let mut opt =
        BurnOptimizer::<signfree::AliasSignSgd<f32>>::new(AliasSignSgdConfig::default()).unwrap();
    for _ in 0..3 {
        let grads = GradientsParams::from_grads(loss(&model, 13).backward(), &model);
        model = opt.try_step(1.0, &model, &grads, None).unwrap().0;
    }
    let before = values(&model);
    let state = record_bytes(opt.to_record().unwrap());
    let unchanged = |opt: &BurnOptimizer<signfree::AliasSignSgd<f32>>, model: &Two| {
        assert_eq!(values(model), before);
        assert_eq!(record_bytes(opt.to_record().unwrap()), state);
    };

    // A NaN gradient coordinate in the second parameter.
    let mut grads = GradientsParams::from_grads(loss(&model, 13).backward(), &model);
    let mut g = host(grads.get::<1>(model.b.id).unwrap());
    g[4] = f32::NAN;
    grads.register(
        model.b.id,
        Tensor::<1>::from_data(TensorData::new(g, [13]), &device()),
    );
    let err = opt.try_step(1.0, &model, &grads, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFiniteGradient {
                tensor: 1,
                index: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_divergence());
    unchanged(&opt, &model);

    // A non-finite loss; a negative learning rate.
    let grads = GradientsParams::from_grads(loss(&model, 13).backward(), &model);
    let err = opt
        .try_step(1.0, &model, &grads, Some(f64::INFINITY))
        .unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { .. }), "{err}");
    let err = opt.try_step(-1.0, &model, &grads, None).unwrap_err();
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
    unchanged(&opt, &model);

    // A trained parameter without a gradient.
    let only_a = GradientsParams::from_grads(model.a.val().square().sum().backward(), &model);
    let err = opt.try_step(1.0, &model, &only_a, None).unwrap_err();
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
    unchanged(&opt, &model);

    // A gradient of the wrong shape.
    let mut grads = GradientsParams::from_grads(loss(&model, 13).backward(), &model);
    grads.register(model.b.id, Tensor::<1>::zeros([12], &device()));
    let err = opt.try_step(1.0, &model, &grads, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tensor {
                var: 1,
                problem: TensorProblem::GradientMismatch { .. }
            }
        ),
        "{err}"
    );
    unchanged(&opt, &model);

    // The panicking call shape panics with the typed error's message, changing nothing.
    let mut grads = GradientsParams::from_grads(loss(&model, 13).backward(), &model);
    grads.register(
        model.a.id,
        Tensor::<2>::full([7, 5], f32::INFINITY, &device()),
    );
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        opt.step(1.0, model.clone(), grads)
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("non-finite gradient"), "{message}");
    unchanged(&opt, &model);

    // Invalid hyper-parameters fail in `new`; a parameter of another dtype fails the step.
    let err = BurnOptimizer::<signfree::AliasSignSgd<f32>>::new(AliasSignSgdConfig {
        weight_decay: -1.0,
        ..Default::default()
    })
    .unwrap_err();
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
    #[derive(Module, Debug)]
    struct W {
        w: Param<Tensor<1>>,
    }
    let d = device();
    let w64 = W {
        w: Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![1.0f64, 2.0, 3.0], [3]),
            (&d, DType::F64),
        )),
    };
    let grads = GradientsParams::from_grads(w64.w.val().square().sum().backward(), &w64);
    let mut opt =
        BurnOptimizer::<signfree::AliasSignSgd<f32>>::new(AliasSignSgdConfig::default()).unwrap();
    let err = opt.try_step(1.0, &w64, &grads, None).unwrap_err();
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
    assert!(opt.trained_params().is_none());
    // The f64 method trains it.
    let mut opt64 =
        BurnOptimizer::<signfree::AliasSignSgd<f64>>::new(AliasSignSgdConfig::default()).unwrap();
    let (stepped, _) = opt64.try_step(1.0, &w64, &grads, None).unwrap();
    let w: Vec<f64> = stepped.w.val().into_data().try_to_vec().unwrap();
    assert!(w.iter().zip([1.0, 2.0, 3.0]).all(|(a, b)| *a < b), "{w:?}");
}

/// A parameter without a gradient at the first step (frozen) is never trained or touched.
#[test]
fn frozen_parameters_are_skipped() {
    let model = two(8);
    let model = Two {
        a: model.a,
        b: model.b.set_require_grad(false),
    };
    let b_before = host(model.b.val());
    let mut opt =
        BurnOptimizer::<signfree::AliasAdam<f32>>::new(AliasAdamConfig::default()).unwrap();
    let mut m = model;
    for _ in 0..3 {
        let grads = GradientsParams::from_grads(loss(&m, 2).backward(), &m);
        m = opt.try_step(1.0, &m, &grads, None).unwrap().0;
    }
    assert_eq!(host(m.b.val()), b_before);
    assert_eq!(opt.trained_params(), Some(&[m.a.id][..]));
    // ALIAS-Adam keeps g_{t−1}, m and v: three f32 per trained parameter.
    assert_eq!(opt.state_bytes(), 35.0 * 12.0);
}

/// A 2-32-1 tanh MLP fits `y = sin(2 x₀) + x₁²` on 256 points with untuned ALIAS and
/// ALIAS-Adam: each explains ≥ 98% of the target's variance.
#[test]
fn mlp_regression_converges() {
    #[derive(Module, Debug)]
    struct Mlp {
        w1: Param<Tensor<2>>,
        b1: Param<Tensor<1>>,
        w2: Param<Tensor<2>>,
        b2: Param<Tensor<1>>,
    }
    impl Mlp {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            let h = (x.matmul(self.w1.val()) + self.b1.val().unsqueeze()).tanh();
            h.matmul(self.w2.val()) + self.b2.val().unsqueeze()
        }
    }
    let d = device();
    let mut rng = StdRng::seed_from_u64(3);
    let n = 256;
    let xs = random(&mut rng, 2 * n, 1.0);
    let ys: Vec<f32> = xs
        .chunks(2)
        .map(|p| (2.0 * p[0]).sin() + p[1] * p[1])
        .collect();
    let mean = ys.iter().sum::<f32>() / n as f32;
    let variance = ys.iter().map(|y| (y - mean) * (y - mean)).sum::<f32>() / n as f32;
    let x = Tensor::<2>::from_data(TensorData::new(xs, [n, 2]), &d);
    let y = Tensor::<2>::from_data(TensorData::new(ys, [n, 1]), &d);
    let init = || {
        let mut rng = StdRng::seed_from_u64(4);
        let p2 = |v: Vec<f32>, s: [usize; 2]| {
            Param::from_tensor(Tensor::<2>::from_data(TensorData::new(v, s), &d))
        };
        let p1 = |v: Vec<f32>| {
            let k = v.len();
            Param::from_tensor(Tensor::<1>::from_data(TensorData::new(v, [k]), &d))
        };
        Mlp {
            w1: p2(random(&mut rng, 64, 1.0), [2, 32]),
            b1: p1(vec![0.0; 32]),
            w2: p2(random(&mut rng, 32, 0.3), [32, 1]),
            b2: p1(vec![0.0]),
        }
    };
    let mse = |m: &Mlp| (m.forward(x.clone()) - y.clone()).square().mean();
    fn train<O: Method<Element = f32>>(
        mut m: Mlp,
        config: O::Config,
        mse: &dyn Fn(&Mlp) -> Tensor<1>,
    ) -> f32 {
        let mut opt = BurnOptimizer::<O>::new(config).unwrap();
        for _ in 0..1500 {
            let l = mse(&m);
            let value = scalar(&l);
            let grads = GradientsParams::from_grads(l.backward(), &m);
            m = opt.try_step(1.0, &m, &grads, Some(value)).unwrap().0;
        }
        scalar(&mse(&m)) as f32
    }
    let alias = train::<signfree::AliasSignSgd<f32>>(init(), AliasSignSgdConfig::default(), &mse);
    let adam = train::<signfree::AliasAdam<f32>>(init(), AliasAdamConfig::default(), &mse);
    assert!(alias < 0.02 * variance, "ALIAS {alias} vs var {variance}");
    assert!(
        adam < 0.02 * variance,
        "ALIAS-Adam {adam} vs var {variance}"
    );
}
