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
//! (initial weights and batches).
//!
//! Writes `curves.csv` (method, step, train loss, validation loss when evaluated, multiplier,
//! stepsize, and the method's estimators when it has them: `d`/`d_hat` for Prodigy and R5,
//! `smoothness_sum` for ALIAS), `summary.md` (the final table), `loss.png`/`loss.svg` and
//! `stepsize.png`/`stepsize.svg` (the applied `γ_t` per method, log scale).

mod model;
// The reproduction's figure module; this example draws only linear axes.
#[allow(dead_code)]
#[path = "../reproduce/plot.rs"]
mod plot;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer as _;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use signfree::candle::{CandleOptimizer, Method};
use signfree::research::{
    DistanceSign, DistanceSignConfig, GradientScaledStart, GradientScaledStartConfig,
};
use signfree::{
    AdamWConfig, AliasAdamConfig, AliasConfig, Estimators, ProdigyConfig, Schedule, SignSgdConfig,
    StepReport,
};

use model::{Config, Llama};

const SEED: u64 = 20_250_603;

/// What one step reports to the log: the stepsize and the method's estimators, if any.
#[derive(Clone, Copy, Default)]
struct StepLog {
    stepsize: f64,
    d: Option<f64>,
    d_hat: Option<f64>,
    smoothness_sum: Option<f64>,
}

impl StepLog {
    fn from_report(r: &StepReport) -> Self {
        let mut log = StepLog {
            stepsize: r.stepsize,
            ..Default::default()
        };
        match r.estimators {
            Estimators::Prodigy { d, d_hat } | Estimators::Distance { d, d_hat, .. } => {
                (log.d, log.d_hat) = (Some(d), Some(d_hat));
            }
            Estimators::Alias { smoothness_sum, .. } => log.smoothness_sum = Some(smoothness_sum),
            _ => {}
        }
        log
    }
}

/// A method the comparison runs, type-erased over the adapter's inner optimizer.
trait Trainer {
    fn set_multiplier(&mut self, m: f64);
    /// Backward + step; returns the applied stepsize and the estimators.
    fn step(&mut self, loss: &Tensor) -> candle_core::Result<StepLog>;
    fn state_bytes(&self) -> f64;
}

impl<O: Method<f32>> Trainer for CandleOptimizer<f32, O> {
    fn set_multiplier(&mut self, m: f64) {
        self.set_learning_rate(m);
    }
    fn step(&mut self, loss: &Tensor) -> candle_core::Result<StepLog> {
        self.backward_step(loss)?;
        Ok(self
            .last_report()
            .map(StepLog::from_report)
            .unwrap_or_default())
    }
    fn state_bytes(&self) -> f64 {
        CandleOptimizer::state_bytes(self)
    }
}

type Build = Box<dyn Fn(Vec<Var>) -> candle_core::Result<Box<dyn Trainer>>>;

struct MethodSpec {
    name: String,
    family: &'static str,
    /// The tuned learning rate, `None` for the untuned methods.
    lr: Option<f64>,
    /// Anytime row: no multiplier (constant 1), so no warm-up and no horizon.
    anytime: bool,
    build: Build,
}

fn boxed<O: Method<f32> + 'static>(config: O::Config) -> Build
where
    O::Config: 'static,
{
    Box::new(move |vars| {
        let opt = CandleOptimizer::<f32, O>::new(vars, config.clone())?;
        Ok(Box::new(opt) as Box<dyn Trainer>)
    })
}

fn methods(steps: usize) -> Vec<MethodSpec> {
    let mut out = Vec::new();
    for lr in [3e-4, 1e-3, 3e-3, 1e-2, 3e-2] {
        let config = AdamWConfig {
            lr,
            beta2: 0.95,
            weight_decay: 0.0,
            ..Default::default()
        };
        out.push(MethodSpec {
            name: format!("adamw-{lr:.0e}"),
            family: "AdamW (tuned)",
            lr: Some(lr),
            anytime: false,
            build: boxed::<signfree::AdamW<f32>>(config),
        });
    }
    for lr in [1e-4, 3e-4, 1e-3, 3e-3, 1e-2] {
        let config = SignSgdConfig {
            lr,
            momentum: Some(0.9),
            ..Default::default()
        };
        out.push(MethodSpec {
            name: format!("signum-{lr:.0e}"),
            family: "Signum (tuned)",
            lr: Some(lr),
            anytime: false,
            build: boxed::<signfree::SignSgd<f32>>(config),
        });
    }
    out.push(MethodSpec {
        name: "prodigy".into(),
        family: "Prodigy",
        lr: None,
        anytime: false,
        build: boxed::<signfree::Prodigy<f32>>(ProdigyConfig::default()),
    });
    out.push(MethodSpec {
        name: "alias".into(),
        family: "ALIAS Sign-SGD",
        lr: None,
        anytime: false,
        build: boxed::<signfree::AliasSignSgd<f32>>(AliasConfig::default()),
    });
    // Research (issue "Beyond the paper", docs/RESEARCH.md): R3 is the gradient-scaled start
    // with the Polyak bound, Option F with f̃ = 0 (cross-entropy is non-negative), momentum 0.9;
    // R4 adds cosine decay over the known horizon (on top of the common schedule).
    for (name, family, horizon) in [
        ("r3-alias", "R3 ALIAS (research)", None),
        ("r4-alias", "R4 ALIAS (research)", Some(steps as u64)),
    ] {
        out.push(MethodSpec {
            name: name.into(),
            family,
            lr: None,
            anytime: false,
            build: boxed::<GradientScaledStart<f32>>(GradientScaledStartConfig {
                alias: AliasConfig {
                    momentum: Some(0.9),
                    ..AliasConfig::option_f(0.0)
                },
                polyak_bound: true,
                horizon,
            }),
        });
    }
    // R5 (issue 15, docs/RESEARCH.md): sign momentum scaled by an ℓ∞ distance estimate, no
    // learning rate; once under the common multiplier, once as an anytime row without one.
    for (name, family, anytime) in [
        ("r5-distance", "R5 distance-scaled sign (research)", false),
        (
            "r5-distance-anytime",
            "R5 anytime: no multiplier (research)",
            true,
        ),
    ] {
        out.push(MethodSpec {
            name: name.into(),
            family,
            lr: None,
            anytime,
            build: boxed::<DistanceSign<f32>>(DistanceSignConfig::default()),
        });
    }
    out.push(MethodSpec {
        name: "r5b-distance-sqrt".into(),
        family: "R5b: R5 with d/sqrt(t+1) (research)",
        lr: None,
        anytime: false,
        build: boxed::<DistanceSign<f32>>(DistanceSignConfig {
            inverse_sqrt_decay: true,
            ..Default::default()
        }),
    });
    out.push(MethodSpec {
        name: "alias-adam".into(),
        family: "ALIAS-Adam",
        lr: None,
        anytime: false,
        build: boxed::<signfree::AliasAdam<f32>>(AliasAdamConfig::default()),
    });
    out
}

struct Options {
    width: Option<usize>,
    layers: Option<usize>,
    seed: u64,
    quick: bool,
    replot: bool,
    steps: usize,
    out: PathBuf,
    only: Option<Vec<String>>,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut steps, mut out, mut only) = (false, None, None, None);
    let mut replot = false;
    let (mut width, mut layers, mut seed) = (None, None, SEED);
    let count = |name: &str, v: String| -> Result<usize, String> {
        v.parse().map_err(|_| format!("{name}: not a count: {v}"))
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => quick = true,
            "--replot" => replot = true,
            "--steps" => {
                let v = value("--steps")?;
                steps = Some(
                    v.parse()
                        .map_err(|_| format!("--steps: not a count: {v}"))?,
                );
            }
            "--width" => width = Some(count("--width", value("--width")?)?),
            "--layers" => layers = Some(count("--layers", value("--layers")?)?),
            "--seed" => seed = count("--seed", value("--seed")?)? as u64,
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--only" => only = Some(value("--only")?.split(',').map(String::from).collect()),
            "-h" | "--help" => {
                return Err(
                    "usage: tiny_llama [--quick] [--steps N] [--out DIR] [--only a,b] [--replot] \
                     [--width N] [--layers N] [--seed N]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other}; try --help")),
        }
    }
    let steps = steps.unwrap_or(if quick { 30 } else { 400 });
    if steps < 2 {
        return Err("--steps must be at least 2".into());
    }
    let out = out.unwrap_or_else(|| {
        PathBuf::from(if quick {
            "results/tiny_llama_quick"
        } else {
            "results/tiny_llama"
        })
    });
    Ok(Options {
        width,
        layers,
        seed,
        quick,
        replot,
        steps,
        out,
        only,
    })
}

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

struct Run {
    spec_index: usize,
    /// (step, train loss before the step, multiplier, what the step reported)
    train: Vec<(usize, f64, f64, StepLog)>,
    /// (step, validation loss at the point *before* that step; `steps` = final point)
    val: Vec<(usize, f64)>,
    seconds: f64,
    state_bytes: f64,
    diverged: Option<String>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("tiny_llama: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let o = parse_args()?;
    if o.replot {
        return replot(&o);
    }
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
    // Reference points: a uniform guess, and a unigram model (add-one training frequencies).
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
    let baselines = format!(
        "validation cross-entropy of a uniform guess {:.3}, of the unigram model {unigram:.3}",
        (corpus.vocab.len() as f64).ln()
    );
    println!("{baselines}");
    let eval_every = (o.steps / 24).max(1);
    let e = |e: candle_core::Error| e.to_string();
    let n_params: usize = Llama::new(config, seed, &Device::Cpu)
        .map_err(e)?
        .vars()
        .iter()
        .map(|v| v.elem_count())
        .sum();
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

    // The same batches for every method.
    let mut rng = StdRng::seed_from_u64(seed);
    let limit = corpus.train.len() - config.context - 1;
    let schedule_batches: Vec<Vec<usize>> = (0..o.steps)
        .map(|_| {
            (0..batch_size)
                .map(|_| rng.random_range(0..limit))
                .collect()
        })
        .collect();
    let val_batches = if o.quick { 2 } else { 8 };
    let val_limit = corpus.val.len() - config.context - 1;
    let val_offsets: Vec<Vec<usize>> = (0..val_batches)
        .map(|b| {
            (0..batch_size)
                .map(|i| (b * batch_size + i) * val_limit / (val_batches * batch_size))
                .collect()
        })
        .collect();
    let val_data: Vec<(Tensor, Tensor)> = val_offsets
        .iter()
        .map(|offs| batch(&corpus.val, offs, config.context))
        .collect::<candle_core::Result<_>>()
        .map_err(e)?;
    let schedule = Schedule::WarmupCosine {
        warmup_steps: (o.steps as u64 / 20).max(1),
        total_steps: o.steps as u64,
    };

    let specs: Vec<MethodSpec> = methods(o.steps)
        .into_iter()
        .filter(|m| o.only.as_ref().is_none_or(|only| only.contains(&m.name)))
        .collect();
    if specs.is_empty() {
        return Err("--only matched no method".into());
    }
    let style = ProgressStyle::with_template(
        "{prefix:>14} [{bar:30}] {pos}/{len} steps {elapsed:>4} eta {eta:>4} {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");

    let mut runs = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        let model = Llama::new(config, seed, &Device::Cpu).map_err(e)?;
        let mut opt = (spec.build)(model.vars()).map_err(e)?;
        let bar = ProgressBar::new(o.steps as u64)
            .with_style(style.clone())
            .with_prefix(spec.name.clone());
        let evaluate = |model: &Llama| -> candle_core::Result<f64> {
            let mut total = 0.0;
            for (x, y) in &val_data {
                total += model.loss(x, y)?.to_scalar::<f32>()? as f64;
            }
            Ok(total / val_data.len() as f64)
        };
        let mut run = Run {
            spec_index: index,
            train: Vec::with_capacity(o.steps),
            val: Vec::new(),
            seconds: 0.0,
            state_bytes: 0.0,
            diverged: None,
        };
        for (t, offsets) in schedule_batches.iter().enumerate() {
            if t % eval_every == 0 {
                let v = evaluate(&model).map_err(e)?;
                run.val.push((t, v));
                bar.set_message(format!("val {v:.3}"));
            }
            let start = Instant::now();
            let (x, y) = batch(&corpus.train, offsets, config.context).map_err(e)?;
            let loss = model.loss(&x, &y).map_err(e)?;
            let value = loss.to_scalar::<f32>().map_err(e)? as f64;
            let m = if spec.anytime {
                1.0
            } else {
                schedule.factor(t as u64)
            };
            opt.set_multiplier(m);
            match opt.step(&loss) {
                Ok(log) => run.train.push((t, value, m, log)),
                // A NaN/infinite loss or gradient ends this run as diverged; anything else is
                // a bug worth stopping for.
                Err(err) if err.to_string().contains("non-finite") => {
                    run.diverged = Some(format!("step {t}: {err}"));
                    break;
                }
                Err(err) => return Err(format!("{} at step {t}: {err}", spec.name)),
            }
            run.seconds += start.elapsed().as_secs_f64();
            bar.inc(1);
        }
        if run.diverged.is_none() {
            run.val.push((o.steps, evaluate(&model).map_err(e)?));
        }
        run.state_bytes = opt.state_bytes();
        let done = match &run.diverged {
            None => format!("val {:.4}", run.val.last().map_or(f64::NAN, |v| v.1)),
            Some(why) => format!("diverged at {why}"),
        };
        if bar.is_hidden() {
            // No terminal (output to a file or pipe): one line per finished run instead.
            eprintln!("{:>14}: {done} ({:.0} s)", spec.name, run.seconds);
        }
        bar.finish_with_message(done);
        runs.push(run);
    }

    std::fs::create_dir_all(&o.out).map_err(|err| format!("{}: {err}", o.out.display()))?;
    write_csv(&o, &specs, &runs)?;
    let mut summary = summary(&o, &specs, &runs, n_params, batch_size, config.context);
    writeln!(summary, "\nFor reference: {baselines} (nats/char).").expect("string");
    println!("\n{summary}");
    let path = o.out.join("summary.md");
    std::fs::write(&path, &summary).map_err(|err| format!("{}: {err}", path.display()))?;
    plot::register_font()?;
    plot::save(&figure_series(&specs, &runs), &o.out.join("loss"))?;
    plot::save(&stepsize_figure(&specs, &runs), &o.out.join("stepsize"))?;
    println!(
        "wrote {}/{{curves.csv,summary.md,loss.png,loss.svg,stepsize.png,stepsize.svg}}",
        o.out.display()
    );
    Ok(())
}

fn write_csv(o: &Options, specs: &[MethodSpec], runs: &[Run]) -> Result<(), String> {
    let mut csv = String::from(
        "method,step,train_loss,val_loss,multiplier,stepsize,d,d_hat,smoothness_sum\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6e}"));
    for run in runs {
        let name = &specs[run.spec_index].name;
        let mut val = run.val.iter().peekable();
        for &(t, loss, m, log) in &run.train {
            let v = match val.peek() {
                Some(&&(s, v)) if s == t => {
                    val.next();
                    format!("{v:.6}")
                }
                _ => String::new(),
            };
            writeln!(
                csv,
                "{name},{t},{loss:.6},{v},{m:.6},{:.6e},{},{},{}",
                log.stepsize,
                opt(log.d),
                opt(log.d_hat),
                opt(log.smoothness_sum)
            )
            .expect("string");
        }
        for &(s, v) in val {
            writeln!(csv, "{name},{s},,{v:.6},,,,,").expect("string");
        }
    }
    let path = o.out.join("curves.csv");
    std::fs::write(&path, csv).map_err(|err| format!("{}: {err}", path.display()))
}

fn final_val(run: &Run) -> Option<f64> {
    run.diverged
        .is_none()
        .then(|| run.val.last().map(|v| v.1))
        .flatten()
}

/// The run with the lowest final validation loss in each tuned family; the untuned runs.
fn finalists<'a>(specs: &[MethodSpec], runs: &'a [Run]) -> Vec<&'a Run> {
    let mut out: Vec<&Run> = Vec::new();
    for run in runs {
        let family = specs[run.spec_index].family;
        if specs[run.spec_index].lr.is_none() {
            out.push(run);
            continue;
        }
        let best = runs
            .iter()
            .filter(|r| specs[r.spec_index].family == family)
            .filter_map(|r| final_val(r).map(|v| (v, r.spec_index)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if best.map(|b| b.1) == Some(run.spec_index) {
            out.push(run);
        }
    }
    out
}

fn summary(
    o: &Options,
    specs: &[MethodSpec],
    runs: &[Run],
    n_params: usize,
    batch_size: usize,
    context: usize,
) -> String {
    let mut s = String::new();
    let command = format!(
        "cargo run --release --features candle --example tiny_llama -- {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    writeln!(
        s,
        "Tiny LLaMA on tiny Shakespeare: {n_params} parameters, {} steps of batch {batch_size} × \
         {context} characters, warm-up + cosine multiplier for every method (`{command}`).\n",
        o.steps
    )
    .expect("string");
    s.push_str("| method | learning rate | final val loss | train s | ms/step | state bytes/param | state MB |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let best: Vec<usize> = finalists(specs, runs)
        .iter()
        .map(|r| r.spec_index)
        .collect();
    for run in runs {
        let spec = &specs[run.spec_index];
        let lr = spec
            .lr
            .map_or("untuned".to_string(), |lr| format!("{lr:.0e}"));
        let val = match (final_val(run), &run.diverged) {
            (Some(v), _) if best.contains(&run.spec_index) && spec.lr.is_some() => {
                format!("**{v:.4}** (best of grid)")
            }
            (Some(v), _) => format!("{v:.4}"),
            (None, Some(why)) => format!("diverged ({})", why.split(':').next().unwrap_or("")),
            (None, None) => "n/a".into(),
        };
        let steps = run.train.len().max(1);
        writeln!(
            s,
            "| {} | {lr} | {val} | {:.1} | {:.0} | {:.0} | {:.2} |",
            spec.name,
            run.seconds,
            1000.0 * run.seconds / steps as f64,
            run.state_bytes / n_params as f64,
            run.state_bytes / 1e6
        )
        .expect("string");
    }
    s
}

fn figure_series(specs: &[MethodSpec], runs: &[Run]) -> plot::Figure<'static> {
    let mut val = Vec::new();
    let mut train = Vec::new();
    for run in finalists(specs, runs) {
        let spec = &specs[run.spec_index];
        let label = match spec.lr {
            Some(lr) => format!("{} lr {lr:.0e}", spec.family),
            None => spec.family.to_string(),
        };
        val.push(plot::Series {
            label: label.clone(),
            points: run.val.iter().map(|&(t, v)| (t as f64, v)).collect(),
        });
        // Train loss, smoothed with a 20-step moving average.
        let losses: Vec<f64> = run.train.iter().map(|r| r.1).collect();
        let w = 20.min(losses.len()).max(1);
        let points = (w..=losses.len())
            .map(|end| {
                let window = &losses[end - w..end];
                ((end - 1) as f64, window.iter().sum::<f64>() / w as f64)
            })
            .collect();
        train.push(plot::Series { label, points });
    }
    plot::Figure {
        title: "Tiny LLaMA on tiny Shakespeare: untuned vs best-of-grid tuned",
        x_label: "step",
        y_label: "cross-entropy (nats/char)",
        y_axis: plot::YAxis::Linear,
        panels: vec![
            plot::Panel {
                title: "validation loss".into(),
                series: val,
            },
            plot::Panel {
                title: "train loss (20-step moving average)".into(),
                series: train,
            },
        ],
    }
}

/// The applied stepsize `γ_t` of every run in the figure (log scale).
fn stepsize_figure(specs: &[MethodSpec], runs: &[Run]) -> plot::Figure<'static> {
    let series = finalists(specs, runs)
        .iter()
        .map(|run| {
            let spec = &specs[run.spec_index];
            plot::Series {
                label: match spec.lr {
                    Some(lr) => format!("{} lr {lr:.0e}", spec.family),
                    None => spec.family.to_string(),
                },
                points: run
                    .train
                    .iter()
                    .map(|r| (r.0 as f64, r.3.stepsize))
                    .collect(),
            }
        })
        .collect();
    plot::Figure {
        title: "Tiny LLaMA: applied stepsize γ_t (multiplier included)",
        x_label: "step",
        y_label: "γ_t (log scale)",
        y_axis: plot::YAxis::Log,
        panels: vec![plot::Panel {
            title:
                "stepsize per step; Adam-type methods: their lr·d before the per-coordinate scaling"
                    .into(),
            series,
        }],
    }
}

/// Redraws the figure from a previous run's `curves.csv` (diverged runs end early there).
fn replot(o: &Options) -> Result<(), String> {
    let path = o.out.join("curves.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let specs = methods(o.steps);
    let mut runs: Vec<Run> = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1) {
        let bad = || format!("{}:{}: malformed row", path.display(), line_no + 1);
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 && f.len() != 9 {
            return Err(bad());
        }
        let index = specs.iter().position(|m| m.name == f[0]).ok_or_else(|| {
            format!(
                "{}:{}: unknown method {}",
                path.display(),
                line_no + 1,
                f[0]
            )
        })?;
        if runs.last().is_none_or(|r| r.spec_index != index) {
            runs.push(Run {
                spec_index: index,
                train: Vec::new(),
                val: Vec::new(),
                seconds: 0.0,
                state_bytes: 0.0,
                diverged: None,
            });
        }
        let run = runs.last_mut().expect("pushed");
        let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
        let step: usize = f[1].parse().map_err(|_| bad())?;
        if !f[2].is_empty() {
            let opt = |i: usize| match f.get(i) {
                Some(s) if !s.is_empty() => num(s).map(Some),
                _ => Ok(None),
            };
            let log = StepLog {
                stepsize: num(f[5])?,
                d: opt(6)?,
                d_hat: opt(7)?,
                smoothness_sum: opt(8)?,
            };
            run.train.push((step, num(f[2])?, num(f[4])?, log));
        }
        if !f[3].is_empty() {
            run.val.push((step, num(f[3])?));
        }
    }
    plot::register_font()?;
    plot::save(&figure_series(&specs, &runs), &o.out.join("loss"))?;
    plot::save(&stepsize_figure(&specs, &runs), &o.out.join("stepsize"))?;
    println!("wrote {}/{{loss,stepsize}}.{{png,svg}}", o.out.display());
    Ok(())
}
