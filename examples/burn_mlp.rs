//! A burn model trained by signfree's adapter: a ReLU MLP (123 → 64 → 64 → 1, burn's `Linear`
//! layers, NdArray backend) classifying UCI Adult (`data/a9a`, 32 561 rows, read by the crate's
//! LIBSVM loader) and evaluated on the published test split (`data/a9a.t`, 16 281 rows).
//!
//! The same initial weights and the same minibatches (128 rows) for every run:
//! - `BurnOptimizer<AliasSignSgd>`, paper-exact ALIAS, no learning rate;
//! - `BurnOptimizer<GradientScaledStart>`, the crate's research variant R3 of ALIAS (Option F,
//!   momentum, a first step bounded by the gradient scale; `docs/RESEARCH.md`), no learning rate;
//! - burn's own AdamW (`burn::optim::AdamWConfig`, its defaults), tuned over a small grid of
//!   learning rates, the best by final test loss.
//!
//! ```text
//! cargo run --release --features burn --example burn_mlp            # ≈ 5 s on 2 cores
//! cargo run --release --features burn --example burn_mlp -- --quick # a few seconds
//! ```
//! `--steps N` (default 300), `--seed N`.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use signfree::burn::BurnOptimizer;
use signfree::research::{GradientScaledStart, GradientScaledStartConfig};
use signfree::{AliasRule, AliasSignSgd, AliasSignSgdConfig};

const BATCH: usize = 128;
const FEATURES: usize = 123;

#[path = "common/a9a.rs"]
mod a9a;
use a9a::{Split, load};

#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        let dims = [FEATURES, 64, 64, 1];
        Self {
            layers: dims
                .windows(2)
                .map(|p| LinearConfig::new(p[0], p[1]).init(device))
                .collect(),
        }
    }

    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (k, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if k < last {
                h = relu(h);
            }
        }
        h
    }

    /// Mean binary cross-entropy of the logits `z` against `y ∈ {0,1}`: `softplus(z) − y z`,
    /// with `softplus(z) = max(z, 0) + ln(1 + e^{−|z|})`; also returns the logits.
    fn loss(&self, x: Tensor<2>, y: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        let z = self.logits(x);
        let softplus = relu(z.clone()) + (z.clone().abs().neg().exp() + 1.0).log();
        ((softplus - y * z.clone()).mean(), z)
    }
}

struct Data {
    device: Device,
    train: Split,
    batches: Vec<Vec<usize>>,
    test_x: Tensor<2>,
    test_y: Tensor<2>,
}

impl Data {
    fn batch(&self, step: usize) -> (Tensor<2>, Tensor<2>) {
        let rows = &self.batches[step];
        let mut x = Vec::with_capacity(rows.len() * FEATURES);
        for &r in rows {
            x.extend_from_slice(&self.train.x[r * FEATURES..(r + 1) * FEATURES]);
        }
        let y: Vec<f32> = rows.iter().map(|&r| self.train.y[r]).collect();
        (
            Tensor::from_data(TensorData::new(x, [rows.len(), FEATURES]), &self.device),
            Tensor::from_data(TensorData::new(y, [rows.len(), 1]), &self.device),
        )
    }

    /// Test loss and accuracy.
    fn evaluate(&self, model: &Mlp) -> (f64, f64) {
        let (loss, z) = model.loss(self.test_x.clone(), self.test_y.clone());
        let z: Vec<f32> = z.into_data().try_to_vec().expect("f32 logits");
        let y: Vec<f32> = self.test_y.to_data().try_to_vec().expect("f32 labels");
        let correct = z
            .iter()
            .zip(&y)
            .filter(|(z, y)| (**z >= 0.0) == (**y > 0.5))
            .count();
        let loss: Vec<f32> = loss.into_data().try_to_vec().expect("f32 loss");
        (f64::from(loss[0]), correct as f64 / y.len() as f64)
    }
}

/// Trains a copy of `init` with a signfree method through the burn adapter.
fn train_signfree<O: signfree::Method<Element = f32>>(
    data: &Data,
    init: &Mlp,
    config: O::Config,
) -> Result<(f64, f64), signfree::Error> {
    let mut model = init.clone();
    let mut opt = BurnOptimizer::<O>::new(config)?;
    for step in 0..data.batches.len() {
        let (x, y) = data.batch(step);
        let (loss, _) = model.loss(x, y);
        let value: Vec<f32> = loss.to_data().try_to_vec().expect("f32 loss");
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = opt
            .try_step(1.0, &model, &grads, Some(f64::from(value[0])))?
            .0;
    }
    Ok(data.evaluate(&model))
}

/// Trains a copy of `init` with burn's own AdamW at learning rate `lr`.
fn train_burn_adamw(data: &Data, init: &Mlp, lr: f64) -> (f64, f64) {
    let mut model = init.clone();
    let mut opt = AdamWConfig::new().init();
    for step in 0..data.batches.len() {
        let (x, y) = data.batch(step);
        let (loss, _) = model.loss(x, y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = opt.step(lr, model, grads);
    }
    data.evaluate(&model)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("burn_mlp: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut steps = 300;
    let mut seed = 20_250_603u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match a.as_str() {
            "--quick" => steps = 30,
            "--steps" => steps = value("--steps")? as usize,
            "--seed" => seed = value("--seed")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    // NdArray: deprecated by burn 0.22 in favour of its Flex backend, still supported.
    #[allow(deprecated)]
    let device = Device::ndarray().autodiff();
    device.seed(seed);
    let train = load("a9a")?;
    let test = load("a9a.t")?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9);
    let batches: Vec<Vec<usize>> = (0..steps)
        .map(|_| {
            (0..BATCH)
                .map(|_| rng.random_range(0..train.rows))
                .collect()
        })
        .collect();
    let data = Data {
        test_x: Tensor::from_data(
            TensorData::new(test.x.clone(), [test.rows, FEATURES]),
            &device,
        ),
        test_y: Tensor::from_data(TensorData::new(test.y.clone(), [test.rows, 1]), &device),
        device: device.clone(),
        train,
        batches,
    };
    let init = Mlp::new(&device);
    let parameters = init.num_params();
    println!(
        "MLP 123 → 64 → 64 → 1 ({parameters} parameters) on a9a: {} training rows, {steps} steps \
         of batch {BATCH}, test split of {} rows, seed {seed}",
        data.train.rows, test.rows
    );
    let (before, acc0) = data.evaluate(&init);
    println!("{:<52} {:>9} {:>9}", "method", "test loss", "accuracy");
    println!(
        "{:<52} {before:>9.4} {:>8.2}%",
        "initial weights",
        100.0 * acc0
    );
    let e = |e: signfree::Error| e.to_string();
    let (l, a) = train_signfree::<AliasSignSgd<f32>>(&data, &init, AliasSignSgdConfig::default())
        .map_err(e)?;
    println!(
        "{:<52} {l:>9.4} {:>8.2}%",
        "ALIAS Sign-SGD (paper-exact, no learning rate)",
        100.0 * a
    );
    let r3 = GradientScaledStartConfig {
        alias: AliasSignSgdConfig {
            momentum: Some(0.9),
            rule: AliasRule::option_f(0.0),
            ..Default::default()
        },
        polyak_bound: true,
    };
    let (l, a) = train_signfree::<GradientScaledStart<f32>>(&data, &init, r3).map_err(e)?;
    println!(
        "{:<52} {l:>9.4} {:>8.2}%",
        "R3 ALIAS (research, no learning rate)",
        100.0 * a
    );
    let mut best: Option<(f64, f64, f64)> = None;
    for lr in [3e-4, 1e-3, 3e-3, 1e-2, 3e-2] {
        let (l, a) = train_burn_adamw(&data, &init, lr);
        println!(
            "{:<52} {l:>9.4} {:>8.2}%",
            format!("burn AdamW, lr {lr:e}"),
            100.0 * a
        );
        if best.is_none_or(|b| l < b.1) {
            best = Some((lr, l, a));
        }
    }
    if let Some((lr, l, a)) = best {
        println!(
            "{:<52} {l:>9.4} {:>8.2}%",
            format!("burn AdamW tuned (best of 5: lr {lr:e})"),
            100.0 * a
        );
    }
    Ok(())
}
