//! A second network and data set for the tuning-free comparison: a ReLU MLP classifier on a9a
//! (UCI Adult, 123 binary features), trained on the 32 561-row training split and evaluated on
//! the published 16 281-row test split (`data/a9a.t`, checksum in `data/SHA256SUMS`). Same
//! methods, grids, multiplier and outputs as `tiny_llama` (the shared `harness.rs`).
//!
//! ```text
//! cargo run --release --features candle --example a9a_mlp            # ≈ 2 min on 2 cores (mostly evaluation)
//! cargo run --release --features candle --example a9a_mlp -- --quick # seconds
//! ```
//! Options as `tiny_llama`: `--steps N` (default 300 of batch 128: 1.2 epochs, a budget at which both tuned grids have their best point inside the grid; at 1000 steps the net overfits and the smallest rates win), `--out DIR`
//! (default `results/a9a_mlp[_quick]`), `--only a,b`, `--replot`, `--width N` (hidden width,
//! default 256; 64 with `--quick`), `--layers N` (hidden layers, default 2), `--seed N`, `--signum-lr X`.
//!
//! Loss: binary cross-entropy of the logit (nats per example); the summary also gives the test
//! accuracy.

#[path = "../tiny_llama/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../reproduce/plot.rs"]
mod plot;

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

use harness::{Eval, Model, Task};

const SEED: u64 = 20_250_603;
const BATCH: usize = 128;

#[path = "../common/a9a.rs"]
mod a9a;
use a9a::{Split, load};

/// `input → width (ReLU) → … → width (ReLU) → 1` logit; He-normal weights, zero biases.
struct Mlp {
    layers: Vec<(Var, Var)>,
}

impl Mlp {
    fn new(input: usize, width: usize, hidden: usize, seed: u64) -> candle_core::Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut dims = vec![input];
        dims.extend(std::iter::repeat_n(width, hidden));
        dims.push(1);
        let mut layers = Vec::with_capacity(dims.len() - 1);
        for pair in dims.windows(2) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let normal = Normal::new(0.0f32, (2.0 / fan_in as f32).sqrt()).expect("valid sd");
            let w: Vec<f32> = (0..fan_in * fan_out)
                .map(|_| normal.sample(&mut rng))
                .collect();
            let w = Var::from_tensor(&Tensor::from_vec(w, (fan_in, fan_out), &Device::Cpu)?)?;
            let b = Var::zeros(fan_out, DType::F32, &Device::Cpu)?;
            layers.push((w, b));
        }
        Ok(Self { layers })
    }

    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for (k, (w, b)) in self.layers.iter().enumerate() {
            h = h.matmul(w)?.broadcast_add(b)?;
            if k + 1 < self.layers.len() {
                h = h.relu()?;
            }
        }
        h.squeeze(1)
    }

    /// Mean binary cross-entropy of the logits `z` against `y ∈ {0,1}`:
    /// `softplus(z) − y z`, with `softplus(z) = max(z, 0) + ln(1 + e^{−|z|})` (no overflow).
    fn loss(&self, x: &Tensor, y: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let z = self.logits(x)?;
        let softplus = (z.relu()? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        let loss = (softplus - (y * &z)?)?.mean_all()?;
        Ok((loss, z))
    }
}

struct MlpRun<'a> {
    mlp: Mlp,
    train: &'a Split,
    batches: &'a [Vec<u32>],
    test_x: &'a Tensor,
    test_y: &'a Tensor,
}

impl Model for MlpRun<'_> {
    fn vars(&self) -> (Vec<Var>, Vec<Var>) {
        let mut body: Vec<Var> = self
            .mlp
            .layers
            .iter()
            .flat_map(|(w, b)| [w.clone(), b.clone()])
            .collect();
        let head = body.split_off(body.len() - 2);
        (body, head)
    }
    fn train_loss(&self, step: usize) -> candle_core::Result<Tensor> {
        let rows = &self.batches[step];
        let cols = self.train.x.len() / self.train.rows;
        let mut x = Vec::with_capacity(rows.len() * cols);
        for &r in rows {
            let r = r as usize;
            x.extend_from_slice(&self.train.x[r * cols..(r + 1) * cols]);
        }
        let y: Vec<f32> = rows.iter().map(|&r| self.train.y[r as usize]).collect();
        let x = Tensor::from_vec(x, (rows.len(), cols), &Device::Cpu)?;
        let y = Tensor::from_vec(y, rows.len(), &Device::Cpu)?;
        Ok(self.mlp.loss(&x, &y)?.0)
    }
    fn evaluate(&self) -> candle_core::Result<Eval> {
        let (loss, z) = self.mlp.loss(self.test_x, self.test_y)?;
        let predicted = z.ge(0f32)?.to_dtype(DType::F32)?;
        let correct = predicted.eq(self.test_y)?.to_dtype(DType::F32)?.sum_all()?;
        Ok(Eval {
            loss: f64::from(loss.to_scalar::<f32>()?),
            accuracy: Some(f64::from(correct.to_scalar::<f32>()?) / self.test_y.dim(0)? as f64),
        })
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("a9a_mlp: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let o = harness::parse_args("a9a_mlp", (300, 50, SEED))?;
    let e = |e: candle_core::Error| e.to_string();
    let width = o.width.unwrap_or(if o.quick { 64 } else { 256 });
    let hidden = o.layers.unwrap_or(2);
    if width == 0 || hidden == 0 {
        return Err("--width and --layers must be at least 1".into());
    }
    let parameters = 123 * width + width + (hidden - 1) * (width * width + width) + width + 1;
    let task = Task {
        example: "a9a_mlp",
        title: "MLP on a9a (UCI Adult): untuned vs best-of-grid tuned".into(),
        description: format!(
            "{parameters} parameters (123 → {hidden} × {width} ReLU → 1), batch {BATCH}, \
             32561 training rows, test loss on the 16281-row test split, seed {}",
            o.seed
        ),
        loss_label: "binary cross-entropy (nats/example)",
        adamw_grid: [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
        signum_grid: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        parameters,
    };
    if o.replot {
        return harness::replot(&o, &task);
    }
    let train = load("a9a")?;
    let test = load("a9a.t")?;
    let base_rate = test.y.iter().sum::<f32>() / test.rows as f32;
    let majority = base_rate.max(1.0 - base_rate);
    // The best constant predictor's test loss: the entropy of the training base rate.
    let p = train.y.iter().sum::<f32>() as f64 / train.rows as f64;
    let constant = -(test
        .y
        .iter()
        .map(|&y| if y > 0.5 { p.ln() } else { (1.0 - p).ln() }))
    .sum::<f64>()
        / test.rows as f64;
    let footer = format!(
        "\nFor reference: the best constant predictor has test loss {constant:.4}; always \
         predicting the majority class gives accuracy {:.2}%.\n",
        100.0 * majority
    );
    println!(
        "a9a MLP: {parameters} parameters; train {} / test {} rows; {} steps of batch {BATCH}",
        train.rows, test.rows, o.steps
    );
    // The same batches for every method.
    let mut rng = StdRng::seed_from_u64(o.seed ^ 0x9e37_79b9);
    let batches: Vec<Vec<u32>> = (0..o.steps)
        .map(|_| {
            (0..BATCH)
                .map(|_| rng.random_range(0..train.rows as u32))
                .collect()
        })
        .collect();
    let test_x = Tensor::from_vec(test.x.clone(), (test.rows, 123), &Device::Cpu).map_err(e)?;
    let test_y = Tensor::from_vec(test.y.clone(), test.rows, &Device::Cpu).map_err(e)?;
    let new_model = || -> candle_core::Result<Box<dyn Model + '_>> {
        Ok(Box::new(MlpRun {
            mlp: Mlp::new(123, width, hidden, o.seed)?,
            train: &train,
            batches: &batches,
            test_x: &test_x,
            test_y: &test_y,
        }))
    };
    harness::run_all(&o, &task, &new_model, &footer)
}
