//! Tiny LLaMA pre-training on tiny Shakespeare (character level), on the CPU with candle:
//! untuned ALIAS, ALIAS-Adam and Prodigy against AdamW and Signum each tuned over a 5-point
//! learning-rate grid. Same initial weights, same batches, same step budget and the same
//! warm-up + cosine multiplier for every method.
//!
//! ```text
//! cargo run --release --features candle --example tiny_llama            # ≈ 21 min on 2 cores
//! cargo run --release --features candle --example tiny_llama -- --quick # ≈ 25 s smoke run
//! ```
//! Options: `--steps N`, `--out DIR` (default `results/tiny_llama[_quick]`), `--only a,b`
//! (method names as in the table), `--replot` (redraw the figures from `DIR/curves.csv`),
//! `--width N --layers N` (model size; the SwiGLU width follows as 2.75 × width), `--seed N`
//! (initial weights and batches), `--signum-lr X` (the paper's-recipe row's rate when the Signum
//! grid is not in the same run).
//!
//! The methods, the loop and the outputs are the shared harness (`harness.rs`, also used by the
//! `a9a_mlp` example).
//!
//! Writes `curves.csv` (method, step, train loss, validation loss when evaluated, multiplier,
//! stepsize, and the method's estimators when it has them: `d`/`d_hat` for Prodigy and R5,
//! `smoothness_sum` for ALIAS), `summary.md` (the final table), `loss.png`/`loss.svg` and
//! `stepsize.png`/`stepsize.svg` (the applied `γ_t` per method, log scale).

mod harness;
mod model;
// The reproduction's figure module; this example draws only linear and log axes.
#[allow(dead_code)]
#[path = "../reproduce/plot.rs"]
mod plot;

use candle_core::{Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use harness::{Eval, Model, Task};
use model::{Config, Llama};

const SEED: u64 = 20_250_603;

/// The character-level corpus: vocabulary and the 90/10 train/validation split.
struct Corpus {
    vocab: Vec<char>,
    train: Vec<u32>,
    val: Vec<u32>,
}

fn load_corpus() -> Result<Corpus, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tinyshakespeare.txt");
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut vocab: Vec<char> = text.chars().collect();
    vocab.sort_unstable();
    vocab.dedup();
    let ids: Vec<u32> = text
        .chars()
        .map(|c| vocab.binary_search(&c).expect("in vocabulary") as u32)
        .collect();
    let cut = ids.len() * 9 / 10;
    Ok(Corpus {
        vocab,
        train: ids[..cut].to_vec(),
        val: ids[cut..].to_vec(),
    })
}

/// `(inputs, targets)` of shape `(offsets.len(), context)`.
fn batch(data: &[u32], offsets: &[usize], context: usize) -> candle_core::Result<(Tensor, Tensor)> {
    let mut x = Vec::with_capacity(offsets.len() * context);
    let mut y = Vec::with_capacity(offsets.len() * context);
    for &o in offsets {
        x.extend_from_slice(&data[o..o + context]);
        y.extend_from_slice(&data[o + 1..o + context + 1]);
    }
    let shape = (offsets.len(), context);
    Ok((
        Tensor::from_vec(x, shape, &Device::Cpu)?,
        Tensor::from_vec(y, shape, &Device::Cpu)?,
    ))
}

/// The LLaMA with its batches: the same offsets for every method.
struct LlamaRun<'a> {
    model: Llama,
    corpus: &'a Corpus,
    context: usize,
    train_offsets: &'a [Vec<usize>],
    val: &'a [(Tensor, Tensor)],
}

impl Model for LlamaRun<'_> {
    fn vars(&self) -> (Vec<Var>, Vec<Var>) {
        let mut body = self.model.vars();
        // `Llama::vars` lists the untied output head last.
        let head = body.pop().into_iter().collect();
        (body, head)
    }
    fn train_loss(&self, step: usize) -> candle_core::Result<Tensor> {
        let (x, y) = batch(&self.corpus.train, &self.train_offsets[step], self.context)?;
        self.model.loss(&x, &y)
    }
    fn evaluate(&self) -> candle_core::Result<Eval> {
        let mut total = 0.0;
        for (x, y) in self.val {
            total += f64::from(self.model.loss(x, y)?.to_scalar::<f32>()?);
        }
        Ok(Eval {
            loss: total / self.val.len() as f64,
            accuracy: None,
        })
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("tiny_llama: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let o = harness::parse_args("tiny_llama", (400, 30, SEED))?;
    let e = |e: candle_core::Error| e.to_string();
    let corpus = load_corpus()?;
    let dim = o.width.unwrap_or(if o.quick { 64 } else { 128 });
    let config = Config {
        vocab: corpus.vocab.len(),
        dim,
        layers: o.layers.unwrap_or(if o.quick { 4 } else { 6 }),
        heads: 4,
        hidden: dim * 11 / 4,
        context: 64,
    };
    let seed = o.seed;
    let batch_size = if o.quick { 8 } else { 16 };
    let n_params: usize = Llama::new(config, seed, &Device::Cpu)
        .map_err(e)?
        .vars()
        .iter()
        .map(|v| v.elem_count())
        .sum();
    let task = Task {
        example: "tiny_llama",
        title: "Tiny LLaMA on tiny Shakespeare: untuned vs best-of-grid tuned".into(),
        description: format!(
            "{n_params} parameters (dim {}, {} layers, SwiGLU {}), batch {batch_size} × {} \
             characters, seed {seed}",
            config.dim, config.layers, config.hidden, config.context
        ),
        loss_label: "cross-entropy (nats/char)",
        adamw_grid: [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
        signum_grid: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        parameters: n_params,
    };
    if o.replot {
        return harness::replot(&o, &task);
    }
    let baselines = reference_losses(&corpus);
    println!("{baselines}");
    println!(
        "tiny LLaMA: {} parameters (dim {}, {} layers, {} heads, SwiGLU {}), vocab {}, context {}, \
         batch {batch_size}, {} steps; train {} / validation {} characters",
        n_params,
        config.dim,
        config.layers,
        config.heads,
        config.hidden,
        config.vocab,
        config.context,
        o.steps,
        corpus.train.len(),
        corpus.val.len()
    );

    let (train_offsets, val) =
        batches(&corpus, config, o.steps, o.quick, batch_size, seed).map_err(e)?;
    let new_model = || -> candle_core::Result<Box<dyn Model + '_>> {
        Ok(Box::new(LlamaRun {
            model: Llama::new(config, seed, &Device::Cpu)?,
            corpus: &corpus,
            context: config.context,
            train_offsets: &train_offsets,
            val: &val,
        }))
    };
    harness::run_all(
        &o,
        &task,
        &new_model,
        &format!("\nFor reference: {baselines} (nats/char).\n"),
    )
}

/// The validation cross-entropy of a uniform guess and of a unigram model (add-one training
/// frequencies), as a sentence.
fn reference_losses(corpus: &Corpus) -> String {
    let mut counts = vec![1.0f64; corpus.vocab.len()];
    for &c in &corpus.train {
        counts[c as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let unigram = -corpus
        .val
        .iter()
        .map(|&c| (counts[c as usize] / total).ln())
        .sum::<f64>()
        / corpus.val.len() as f64;
    format!(
        "validation cross-entropy of a uniform guess {:.3}, of the unigram model {unigram:.3}",
        (corpus.vocab.len() as f64).ln()
    )
}

/// A batch of inputs and targets.
type Batch = (Tensor, Tensor);

/// The same batches for every method: each step's training offsets, and the validation batches
/// (evenly spaced over the validation text).
fn batches(
    corpus: &Corpus,
    config: Config,
    steps: usize,
    quick: bool,
    batch_size: usize,
    seed: u64,
) -> candle_core::Result<(Vec<Vec<usize>>, Vec<Batch>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let limit = corpus.train.len() - config.context - 1;
    let train_offsets: Vec<Vec<usize>> = (0..steps)
        .map(|_| {
            (0..batch_size)
                .map(|_| rng.random_range(0..limit))
                .collect()
        })
        .collect();
    let val_batches = if quick { 2 } else { 8 };
    let val_limit = corpus.val.len() - config.context - 1;
    let val = (0..val_batches)
        .map(|b| {
            let offsets: Vec<usize> = (0..batch_size)
                .map(|i| (b * batch_size + i) * val_limit / (val_batches * batch_size))
                .collect();
            batch(&corpus.val, &offsets, config.context)
        })
        .collect::<candle_core::Result<_>>()?;
    Ok((train_offsets, val))
}
