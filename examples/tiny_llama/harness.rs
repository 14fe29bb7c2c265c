//! The comparison harness shared by the neural-network examples (`tiny_llama`, `a9a_mlp`): the
//! method table (tuned grids, untuned methods, research rows, the paper's recipe), the training
//! loop with the common warm-up + cosine multiplier, `curves.csv`, `summary.md` and the figures.
//!
//! A task supplies a fresh model per method (same initial weights every time) through
//! [`Model`]; everything else is here, so both examples run exactly the same methods.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer as _;
use indicatif::{ProgressBar, ProgressStyle};
use signfree::Method;
use signfree::candle::CandleOptimizer;
use signfree::research::{
    DistanceSign, DistanceSignConfig, GradientScaledStart, GradientScaledStartConfig,
};
use signfree::{
    AdamWConfig, AliasAdamConfig, AliasRule, AliasSignSgdConfig, Monitor, ProdigyConfig, Schedule,
    SignSgdConfig, StepReport, Warmup,
};

use super::plot;

/// A model of the task, freshly initialised (the same weights for every method).
pub trait Model {
    /// The trainable tensors: `(body, head)`. The head is the output layer; the paper's recipe
    /// trains it with AdamW, every other method trains `body` and `head` alike.
    fn vars(&self) -> (Vec<Var>, Vec<Var>);
    /// The training loss on the batch of step `step` (the same batches for every method).
    fn train_loss(&self, step: usize) -> candle_core::Result<Tensor>;
    /// Validation loss and, for classifiers, accuracy.
    fn evaluate(&self) -> candle_core::Result<Eval>;
}

/// One evaluation on the held-out data.
#[derive(Clone, Copy)]
pub struct Eval {
    pub loss: f64,
    pub accuracy: Option<f64>,
}

/// What the harness needs to know about a task.
pub struct Task {
    /// The example's name (`cargo run … --example NAME`).
    pub example: &'static str,
    /// Figure and summary title.
    pub title: String,
    /// One sentence on the model, data and budget for `summary.md`.
    pub description: String,
    /// Unit of the loss, for the figure's y label.
    pub loss_label: &'static str,
    /// The learning-rate grids of the tuned baselines.
    pub adamw_grid: [f64; 5],
    pub signum_grid: [f64; 5],
    /// Trainable parameters.
    pub parameters: usize,
}

/// What one step reports to the log: the stepsize and the method's estimators, if any.
#[derive(Clone, Copy, Default)]
pub struct StepLog {
    pub stepsize: f64,
    pub d: Option<f64>,
    pub d_hat: Option<f64>,
    pub smoothness_sum: Option<f64>,
}

impl StepLog {
    fn from_report(r: &StepReport) -> Self {
        let mut log = StepLog {
            stepsize: r.stepsize,
            ..Default::default()
        };
        (log.d, log.d_hat) = (r.estimates.get("d"), r.estimates.get("d_hat"));
        log.smoothness_sum = r.estimates.get("smoothness_sum");
        log
    }
}

/// A method the comparison runs, type-erased over the adapter's inner optimizer.
pub trait Trainer {
    fn set_multiplier(&mut self, m: f64);
    /// Backward + step; returns the step's report.
    fn step(&mut self, loss: &Tensor) -> signfree::Result<StepReport>;
    fn state_bytes(&self) -> f64;
}

impl<O: Method<Element = f32>> Trainer for CandleOptimizer<O> {
    fn set_multiplier(&mut self, m: f64) {
        self.set_learning_rate(m);
    }
    fn step(&mut self, loss: &Tensor) -> signfree::Result<StepReport> {
        let value = f64::from(loss.to_scalar::<f32>()?);
        let grads = loss.backward()?;
        self.step_with_loss(&grads, Some(value))
    }
    fn state_bytes(&self) -> f64 {
        CandleOptimizer::state_bytes(self)
    }
}

/// The paper's LLM recipe: ALIAS on the body with its own warm-up (no outer multiplier), AdamW on
/// the head under the common multiplier. One backward pass, two optimizers.
struct Recipe {
    body: CandleOptimizer<signfree::AliasSignSgd<f32>>,
    head: CandleOptimizer<signfree::AdamW<f32>>,
}

impl Trainer for Recipe {
    fn set_multiplier(&mut self, m: f64) {
        self.head.set_learning_rate(m);
    }
    fn step(&mut self, loss: &Tensor) -> signfree::Result<StepReport> {
        let value = f64::from(loss.to_scalar::<f32>()?);
        let grads: GradStore = loss.backward()?;
        let report = self.body.step_with_loss(&grads, Some(value))?;
        self.head.step_with_loss(&grads, None)?;
        Ok(report)
    }
    fn state_bytes(&self) -> f64 {
        self.body.state_bytes() + self.head.state_bytes()
    }
}

/// What a method's constructor may use besides the model's tensors.
pub struct Context {
    pub steps: usize,
    /// The best Signum learning rate of this run's grid (the paper's recipe reuses it).
    pub tuned_signum_lr: Option<f64>,
}

type Build = Box<dyn Fn(Vec<Var>, Vec<Var>, &Context) -> candle_core::Result<Box<dyn Trainer>>>;

pub struct MethodSpec {
    pub name: String,
    pub family: &'static str,
    /// The tuned learning rate, `None` for the untuned methods.
    pub lr: Option<f64>,
    /// How many runs of tuning the row is charged with (5 for a grid's best, and for the
    /// paper's recipe, which reuses the tuned Signum rate).
    pub tuned_runs: usize,
    /// Anytime row: no multiplier (constant 1), so no warm-up and no horizon.
    pub anytime: bool,
    build: Build,
}

fn boxed<O: Method<Element = f32> + 'static>(config: O::Config) -> Build
where
    O::Config: 'static,
{
    Box::new(move |body, head, _| {
        let vars = body.into_iter().chain(head).collect();
        let opt = CandleOptimizer::<O>::new(vars, config.clone())?;
        Ok(Box::new(opt) as Box<dyn Trainer>)
    })
}

fn spec(name: impl Into<String>, family: &'static str, build: Build) -> MethodSpec {
    MethodSpec {
        name: name.into(),
        family,
        lr: None,
        tuned_runs: 0,
        anytime: false,
        build,
    }
}

/// Every method of the comparison, in the order they run (the Signum grid before the recipe).
pub fn methods(task: &Task, steps: usize) -> Vec<MethodSpec> {
    let mut out = Vec::new();
    for lr in task.adamw_grid {
        let config = AdamWConfig {
            lr,
            beta2: 0.95,
            weight_decay: 0.0,
            ..Default::default()
        };
        out.push(MethodSpec {
            lr: Some(lr),
            tuned_runs: 5,
            ..spec(
                format!("adamw-{lr:.0e}"),
                "AdamW (tuned)",
                boxed::<signfree::AdamW<f32>>(config),
            )
        });
    }
    for lr in task.signum_grid {
        let config = SignSgdConfig {
            lr,
            momentum: Some(0.9),
            ..Default::default()
        };
        out.push(MethodSpec {
            lr: Some(lr),
            tuned_runs: 5,
            ..spec(
                format!("signum-{lr:.0e}"),
                "Signum (tuned)",
                boxed::<signfree::SignSgd<f32>>(config),
            )
        });
    }
    out.push(spec(
        "prodigy",
        "Prodigy",
        boxed::<signfree::Prodigy<f32>>(ProdigyConfig::default()),
    ));
    out.push(spec(
        "alias",
        "ALIAS Sign-SGD",
        boxed::<signfree::AliasSignSgd<f32>>(AliasSignSgdConfig::default()),
    ));
    // The authors' LLM setup (docs/RESEARCH.md): linear warm-up at the tuned Signum rate for 5% of
    // the steps, the stepsize capped at that rate, initial smoothness sum L_∞ = 100, statistics
    // refreshed every 20 steps, weight decay 1e-3, AdamW (same rate) on the output head. Tuned:
    // it reuses the Signum grid's best rate.
    out.push(MethodSpec {
        tuned_runs: 5,
        ..spec(
            "alias-paper-recipe",
            "ALIAS, paper's LLM recipe (tuned)",
            Box::new(|body, head, ctx| {
                let lr = ctx.tuned_signum_lr.ok_or_else(|| {
                    candle_core::Error::Msg(
                        "alias-paper-recipe reuses the tuned Signum rate: run it together with \
                         the signum-* rows or pass --signum-lr"
                            .into(),
                    )
                })?;
                let w = (ctx.steps as u64 / 20).max(1);
                let config = AliasSignSgdConfig {
                    rule: AliasRule {
                        initial_smoothness: Some(100.0),
                        max_stepsize: Some(lr),
                        warmup: Some(Warmup {
                            steps: w,
                            lr,
                            // Linear ramp t/w over the warm-up steps (the cosine part is never
                            // reached: ALIAS takes over at step w).
                            schedule: Schedule::WarmupCosine {
                                warmup_steps: w,
                                total_steps: w + 1,
                            },
                        }),
                        update_gap: 20,
                        ..AliasRule::default()
                    },
                    weight_decay: 1e-3,
                    ..AliasSignSgdConfig::default()
                };
                let head_config = AdamWConfig {
                    lr,
                    beta2: 0.95,
                    weight_decay: 1e-3,
                    ..Default::default()
                };
                Ok(Box::new(Recipe {
                    body: CandleOptimizer::new(body, config)?,
                    head: CandleOptimizer::new(head, head_config)?,
                }) as Box<dyn Trainer>)
            }),
        )
    });
    // Research (issue "Beyond the paper", docs/RESEARCH.md): R3 is the gradient-scaled start
    // with the Polyak bound, Option F with f̃ = 0 (cross-entropy is non-negative), momentum 0.9;
    // R4 adds cosine decay over the known horizon (on top of the common schedule).
    for (name, family, horizon) in [
        ("r3-alias", "R3 ALIAS (research)", None),
        ("r4-alias", "R4 ALIAS (research)", Some(steps as u64)),
    ] {
        out.push(spec(
            name,
            family,
            boxed::<GradientScaledStart<f32>>(GradientScaledStartConfig {
                alias: AliasSignSgdConfig {
                    momentum: Some(0.9),
                    rule: AliasRule {
                        horizon,
                        ..AliasRule::option_f(0.0)
                    },
                    ..Default::default()
                },
                polyak_bound: true,
            }),
        ));
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
            anytime,
            ..spec(
                name,
                family,
                boxed::<DistanceSign<f32>>(DistanceSignConfig::default()),
            )
        });
    }
    // R5d: one distance estimate per tensor (the same defaults otherwise).
    for (name, family, anytime) in [
        ("r5d-per-tensor", "R5d per-tensor d (research)", false),
        (
            "r5d-per-tensor-anytime",
            "R5d anytime: no multiplier (research)",
            true,
        ),
    ] {
        out.push(MethodSpec {
            anytime,
            ..spec(
                name,
                family,
                boxed::<DistanceSign<f32>>(DistanceSignConfig {
                    per_tensor: true,
                    ..Default::default()
                }),
            )
        });
    }
    out.push(spec(
        "r5b-distance-sqrt",
        "R5b: R5 with d/sqrt(t+1) (research)",
        boxed::<DistanceSign<f32>>(DistanceSignConfig {
            inverse_sqrt_decay: true,
            ..Default::default()
        }),
    ));
    out.push(spec(
        "alias-adam",
        "ALIAS-Adam",
        boxed::<signfree::AliasAdam<f32>>(AliasAdamConfig::default()),
    ));
    out
}

pub struct Options {
    pub width: Option<usize>,
    pub layers: Option<usize>,
    pub seed: u64,
    pub quick: bool,
    pub replot: bool,
    pub steps: usize,
    pub out: PathBuf,
    pub only: Option<Vec<String>>,
    pub signum_lr: Option<f64>,
}

/// Parses the options both examples share; `defaults` are `(steps, quick steps, seed)`.
pub fn parse_args(example: &str, defaults: (usize, usize, u64)) -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut steps, mut out, mut only) = (false, None, None, None);
    let (mut replot, mut signum_lr) = (false, None);
    let (mut width, mut layers, mut seed) = (None, None, defaults.2);
    let count = |name: &str, v: String| -> Result<usize, String> {
        v.parse().map_err(|_| format!("{name}: not a count: {v}"))
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => quick = true,
            "--replot" => replot = true,
            "--steps" => steps = Some(count("--steps", value("--steps")?)?),
            "--width" => width = Some(count("--width", value("--width")?)?),
            "--layers" => layers = Some(count("--layers", value("--layers")?)?),
            "--seed" => seed = count("--seed", value("--seed")?)? as u64,
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--only" => only = Some(value("--only")?.split(',').map(String::from).collect()),
            "--signum-lr" => {
                let v = value("--signum-lr")?;
                let lr: f64 = v
                    .parse()
                    .map_err(|_| format!("--signum-lr: not a number: {v}"))?;
                if !(lr.is_finite() && lr > 0.0) {
                    return Err(format!("--signum-lr: must be finite and > 0, got {v}"));
                }
                signum_lr = Some(lr);
            }
            "-h" | "--help" => {
                return Err(format!(
                    "usage: {example} [--quick] [--steps N] [--out DIR] [--only a,b] [--replot] \
                     [--width N] [--layers N] [--seed N] [--signum-lr X]"
                ));
            }
            other => return Err(format!("unknown argument {other}; try --help")),
        }
    }
    let steps = steps.unwrap_or(if quick { defaults.1 } else { defaults.0 });
    if steps < 2 {
        return Err("--steps must be at least 2".into());
    }
    let out = out.unwrap_or_else(|| {
        PathBuf::from(if quick {
            format!("results/{example}_quick")
        } else {
            format!("results/{example}")
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
        signum_lr,
    })
}

struct Run {
    spec_index: usize,
    /// (step, train loss before the step, multiplier, what the step reported)
    train: Vec<(usize, f64, f64, StepLog)>,
    /// (step, evaluation at the point *before* that step; `steps` = final point)
    val: Vec<(usize, Eval)>,
    seconds: f64,
    state_bytes: f64,
    diverged: Option<String>,
    /// The first warning of `signfree::Monitor` (stalled or diverging), if any.
    warning: Option<String>,
}

/// Trains every selected method from a fresh model and writes `curves.csv`, `summary.md` and the
/// figures into `o.out`. `footer` is appended to the summary.
pub fn run_all<'m>(
    o: &Options,
    task: &Task,
    new_model: &dyn Fn() -> candle_core::Result<Box<dyn Model + 'm>>,
    footer: &str,
) -> Result<(), String> {
    let e = |e: candle_core::Error| e.to_string();
    let eval_every = (o.steps / 24).max(1);
    let schedule = Schedule::WarmupCosine {
        warmup_steps: (o.steps as u64 / 20).max(1),
        total_steps: o.steps as u64,
    };
    let specs: Vec<MethodSpec> = methods(task, o.steps)
        .into_iter()
        .filter(|m| o.only.as_ref().is_none_or(|only| only.contains(&m.name)))
        .collect();
    if specs.is_empty() {
        return Err("--only matched no method".into());
    }
    let style = ProgressStyle::with_template(
        "{prefix:>20} [{bar:30}] {pos}/{len} steps {elapsed:>4} eta {eta:>4} {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");

    let mut runs: Vec<Run> = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        let context = Context {
            steps: o.steps,
            tuned_signum_lr: o.signum_lr.or_else(|| {
                best_of_family(&specs, &runs, "Signum (tuned)").and_then(|i| specs[i].lr)
            }),
        };
        let model = new_model().map_err(e)?;
        let (body, head) = model.vars();
        let mut opt = (spec.build)(body, head, &context).map_err(e)?;
        let bar = ProgressBar::new(o.steps as u64)
            .with_style(style.clone())
            .with_prefix(spec.name.clone());
        let mut run = Run {
            spec_index: index,
            train: Vec::with_capacity(o.steps),
            val: Vec::new(),
            seconds: 0.0,
            state_bytes: 0.0,
            diverged: None,
            warning: None,
        };
        let mut monitor = Monitor::default();
        for t in 0..o.steps {
            if t % eval_every == 0 {
                let v = model.evaluate().map_err(e)?;
                run.val.push((t, v));
                bar.set_message(format!("val {:.3}", v.loss));
            }
            let start = Instant::now();
            let loss = model.train_loss(t).map_err(e)?;
            let value = f64::from(loss.to_scalar::<f32>().map_err(e)?);
            let m = if spec.anytime {
                1.0
            } else {
                schedule.factor(t as u64)
            };
            opt.set_multiplier(m);
            match opt.step(&loss) {
                Ok(report) => {
                    if let Some(w) = monitor.observe(&report, value)
                        && run.warning.is_none()
                    {
                        run.warning = Some(w.to_string());
                    }
                    run.train.push((t, value, m, StepLog::from_report(&report)));
                }
                // A NaN/infinite loss or gradient ends this run as diverged; anything else is
                // a bug worth stopping for.
                Err(err) if err.is_divergence() => {
                    run.diverged = Some(format!("step {t}: {err}"));
                    break;
                }
                Err(err) => return Err(format!("{} at step {t}: {err}", spec.name)),
            }
            run.seconds += start.elapsed().as_secs_f64();
            bar.inc(1);
        }
        if run.diverged.is_none() {
            run.val.push((o.steps, model.evaluate().map_err(e)?));
        }
        run.state_bytes = opt.state_bytes();
        let done = match &run.diverged {
            None => format!("val {:.4}", run.val.last().map_or(f64::NAN, |v| v.1.loss)),
            Some(why) => format!("diverged at {why}"),
        };
        if bar.is_hidden() {
            // No terminal (output to a file or pipe): one line per finished run instead.
            eprintln!("{:>20}: {done} ({:.0} s)", spec.name, run.seconds);
        }
        bar.finish_with_message(done);
        runs.push(run);
    }

    std::fs::create_dir_all(&o.out).map_err(|err| format!("{}: {err}", o.out.display()))?;
    write_csv(o, &specs, &runs)?;
    let mut summary = summary(o, task, &specs, &runs);
    summary.push_str(footer);
    println!("\n{summary}");
    let path = o.out.join("summary.md");
    std::fs::write(&path, &summary).map_err(|err| format!("{}: {err}", path.display()))?;
    save_figures(o, task, &specs, &runs)?;
    println!(
        "wrote {}/{{curves.csv,summary.md}} and {{loss,loss_paper_vs_tuned,loss_untuned_vs_tuned,\
         stepsize}}.{{png,svg}}",
        o.out.display()
    );
    Ok(())
}

fn write_csv(o: &Options, specs: &[MethodSpec], runs: &[Run]) -> Result<(), String> {
    let mut csv = String::from(
        "method,step,train_loss,val_loss,multiplier,stepsize,d,d_hat,smoothness_sum,val_accuracy\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6e}"));
    let acc = |v: &Eval| v.accuracy.map_or(String::new(), |a| format!("{a:.6}"));
    for run in runs {
        let name = &specs[run.spec_index].name;
        let mut val = run.val.iter().peekable();
        for &(t, loss, m, log) in &run.train {
            let (v, a) = match val.peek() {
                Some(&&(s, v)) if s == t => {
                    val.next();
                    (format!("{:.6}", v.loss), acc(&v))
                }
                _ => (String::new(), String::new()),
            };
            writeln!(
                csv,
                "{name},{t},{loss:.6},{v},{m:.6},{:.6e},{},{},{},{a}",
                log.stepsize,
                opt(log.d),
                opt(log.d_hat),
                opt(log.smoothness_sum)
            )
            .expect("string");
        }
        for &(s, v) in val {
            writeln!(csv, "{name},{s},,{:.6},,,,,,{}", v.loss, acc(&v)).expect("string");
        }
    }
    let path = o.out.join("curves.csv");
    std::fs::write(&path, csv).map_err(|err| format!("{}: {err}", path.display()))
}

fn final_eval(run: &Run) -> Option<Eval> {
    run.diverged
        .is_none()
        .then(|| run.val.last().map(|v| v.1))
        .flatten()
}

/// The spec index of the run with the lowest final validation loss in `family`.
fn best_of_family(specs: &[MethodSpec], runs: &[Run], family: &str) -> Option<usize> {
    runs.iter()
        .filter(|r| specs[r.spec_index].family == family)
        .filter_map(|r| final_eval(r).map(|v| (v.loss, r.spec_index)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|b| b.1)
}

/// The best run of each tuned grid; every other run.
fn finalists<'a>(specs: &[MethodSpec], runs: &'a [Run]) -> Vec<&'a Run> {
    runs.iter()
        .filter(|run| {
            let spec = &specs[run.spec_index];
            spec.lr.is_none() || best_of_family(specs, runs, spec.family) == Some(run.spec_index)
        })
        .collect()
}

fn summary(o: &Options, task: &Task, specs: &[MethodSpec], runs: &[Run]) -> String {
    let mut s = String::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut command = format!(
        "cargo run --release --features candle --example {}",
        task.example
    );
    if !args.is_empty() {
        write!(command, " -- {}", args.join(" ")).expect("string");
    }
    writeln!(
        s,
        "{}: {} ({} steps, warm-up + cosine multiplier for every method but the anytime rows; \
         `{command}`).\n",
        task.title, task.description, o.steps
    )
    .expect("string");
    let classifier = runs
        .iter()
        .any(|r| r.val.iter().any(|v| v.1.accuracy.is_some()));
    s.push_str("| method | learning rate | tuning runs | final val loss |");
    if classifier {
        s.push_str(" val accuracy |");
    }
    s.push_str(
        " train s | ms/step | state bytes/param | first `Monitor` warning |\n|---|---:|---:|---:|",
    );
    if classifier {
        s.push_str("---:|");
    }
    s.push_str("---:|---:|---:|---|\n");
    let best: Vec<usize> = finalists(specs, runs)
        .iter()
        .map(|r| r.spec_index)
        .collect();
    for run in runs {
        let spec = &specs[run.spec_index];
        let lr = match spec.lr {
            Some(lr) => format!("{lr:.0e}"),
            None if spec.tuned_runs > 0 => "Signum's best".into(),
            None => "untuned".into(),
        };
        let val = match (final_eval(run), &run.diverged) {
            (Some(v), _) if best.contains(&run.spec_index) && spec.lr.is_some() => {
                format!("**{:.4}** (best of grid)", v.loss)
            }
            (Some(v), _) => format!("{:.4}", v.loss),
            (None, Some(why)) => format!("diverged ({})", why.split(':').next().unwrap_or("")),
            (None, None) => "n/a".into(),
        };
        write!(s, "| {} | {lr} | {} | {val} |", spec.name, spec.tuned_runs).expect("string");
        if classifier {
            let a = final_eval(run)
                .and_then(|v| v.accuracy)
                .map_or("n/a".into(), |a| format!("{:.2}%", 100.0 * a));
            write!(s, " {a} |").expect("string");
        }
        let steps = run.train.len().max(1);
        writeln!(
            s,
            " {:.1} | {:.1} | {:.0} | {} |",
            run.seconds,
            1000.0 * run.seconds / steps as f64,
            run.state_bytes / task.parameters as f64,
            run.warning.as_deref().unwrap_or("—"),
        )
        .expect("string");
    }
    s
}

fn label(spec: &MethodSpec) -> String {
    match spec.lr {
        Some(lr) => format!("{} lr {lr:.0e}", spec.family),
        None => spec.family.to_string(),
    }
}

/// Colour and dash of each method (a tuned grid by its family), the same in every figure and as
/// close to `reproduce`'s as the methods allow; no two methods share both, and the methods of
/// each headline figure have distinct colours.
fn style(spec: &MethodSpec) -> plot::Style {
    use plot::Dash::{Dashed, Dotted, Solid};
    use plot::colors::*;
    let (color, dash) = match (spec.family, spec.name.as_str()) {
        ("Signum (tuned)", _) => (BLACK, Solid),
        ("AdamW (tuned)", _) => (BROWN, Solid),
        (_, "prodigy") => (SKY, Dashed),
        (_, "alias") => (BLUE, Solid),
        (_, "alias-paper-recipe") => (VERMILLION, Dashed),
        (_, "alias-adam") => (PURPLE, Dotted),
        (_, "r3-alias") => (OLIVE, Dashed),
        (_, "r4-alias") => (GREEN, Solid),
        (_, "r5-distance") => (PURPLE, Dashed),
        (_, "r5-distance-anytime") => (ORANGE, Dashed),
        (_, "r5d-per-tensor") => (GREEN, Dotted),
        (_, "r5d-per-tensor-anytime") => (SKY, Dotted),
        (_, "r5b-distance-sqrt") => (PURPLE, Solid),
        _ => (GREY, Dotted),
    };
    let s = plot::Style::new(color, dash);
    if spec.family == "Signum (tuned)" {
        s.bold()
    } else {
        s
    }
}

/// Headline figure 1: the paper's methods against the tuned baselines (a family or a name).
const PAPER_VS_TUNED: [&str; 5] = [
    "Signum (tuned)",
    "AdamW (tuned)",
    "alias",
    "alias-paper-recipe",
    "alias-adam",
];

/// Headline figure 2: the best untuned methods against the tuned baselines.
const UNTUNED_VS_TUNED: [&str; 6] = [
    "Signum (tuned)",
    "AdamW (tuned)",
    "prodigy",
    "r5-distance",
    "r5-distance-anytime",
    "r3-alias",
];

/// The finalists in `keys` (families or names, in that order; `None`: every finalist).
fn chosen<'a>(specs: &[MethodSpec], runs: &'a [Run], keys: Option<&[&str]>) -> Vec<&'a Run> {
    let finalists = finalists(specs, runs);
    match keys {
        None => finalists,
        Some(keys) => keys
            .iter()
            .filter_map(|&k| {
                finalists.iter().copied().find(|r| {
                    let spec = &specs[r.spec_index];
                    spec.family == k || spec.name == k
                })
            })
            .collect(),
    }
}

/// Legend text: what the method is, and its name in the summary table.
fn legend(spec: &MethodSpec) -> String {
    format!("{}\n{}", label(spec), spec.name)
}

/// Validation loss and either the smoothed train loss or (`zoom`) the validation loss of the
/// second half of the run, on its own y range, of the chosen finalists.
fn loss_panels(
    specs: &[MethodSpec],
    runs: &[Run],
    keys: Option<&[&str]>,
    zoom: bool,
) -> Vec<plot::Panel> {
    let mut val = Vec::new();
    let mut train = Vec::new();
    let mut late = Vec::new();
    let half = runs.iter().map(|r| r.train.len()).max().unwrap_or(0) / 2;
    for run in chosen(specs, runs, keys) {
        let spec = &specs[run.spec_index];
        late.push(plot::Series::new(
            legend(spec),
            run.val
                .iter()
                .filter(|v| v.0 >= half)
                .map(|&(t, v)| (t as f64, v.loss))
                .collect(),
            style(spec),
        ));
        val.push(plot::Series::new(
            legend(spec),
            run.val.iter().map(|&(t, v)| (t as f64, v.loss)).collect(),
            style(spec),
        ));
        // Train loss, smoothed with a 20-step moving average.
        let losses: Vec<f64> = run.train.iter().map(|r| r.1).collect();
        let w = 20.min(losses.len()).max(1);
        let points = (w..=losses.len())
            .map(|end| {
                let window = &losses[end - w..end];
                ((end - 1) as f64, window.iter().sum::<f64>() / w as f64)
            })
            .collect();
        train.push(plot::Series::new(legend(spec), points, style(spec)));
    }
    vec![
        plot::Panel {
            title: "validation loss".into(),
            series: val,
        },
        if zoom {
            plot::Panel {
                title: format!("validation loss from step {half} (zoomed)"),
                series: late,
            }
        } else {
            plot::Panel {
                title: "train loss (20-step moving average)".into(),
                series: train,
            }
        },
    ]
}

const LOSS_NOTE: &str = "Tuned rows: the best learning rate\n\
of a 5-run grid (the paper's recipe\n\
reuses Signum's). Every method but\n\
the anytime rows runs under the same\n\
warm-up + cosine multiplier.";

/// Writes the loss figures (`loss_paper_vs_tuned`, `loss_untuned_vs_tuned`, and `loss` with
/// every method) and the stepsize figure into `o.out`.
fn save_figures(
    o: &Options,
    task: &Task,
    specs: &[MethodSpec],
    runs: &[Run],
) -> Result<(), String> {
    plot::register_font()?;
    let name = task.title.split(':').next().unwrap_or(&task.title);
    for (file, question, keys, zoom) in [
        (
            "loss_paper_vs_tuned",
            "the paper's ALIAS methods vs tuned Signum and AdamW",
            Some(&PAPER_VS_TUNED[..]),
            false,
        ),
        (
            "loss_untuned_vs_tuned",
            "best untuned methods vs tuned Signum and AdamW",
            Some(&UNTUNED_VS_TUNED[..]),
            true,
        ),
        ("loss", "every method (tuned: best of grid)", None, false),
    ] {
        let title = format!("{name}: {question}");
        let figure = plot::Figure {
            title: &title,
            x_label: "step",
            y_label: task.loss_label,
            y_axis: plot::YAxis::Linear,
            panels: loss_panels(specs, runs, keys, zoom),
            note: LOSS_NOTE,
        };
        plot::save(&figure, &o.out.join(file))?;
    }
    // The applied stepsize γ_t of every run in the full figure (log scale).
    let series = chosen(specs, runs, None)
        .into_iter()
        .map(|run| {
            let spec = &specs[run.spec_index];
            let points = run.train.iter().map(|r| (r.0 as f64, r.3.stepsize));
            plot::Series::new(legend(spec), points.collect(), style(spec))
        })
        .collect();
    let stepsize = plot::Figure {
        title: &format!("{name}: applied stepsize of every method"),
        x_label: "step",
        y_label: "applied stepsize γ_t (log scale)",
        y_axis: plot::YAxis::Log,
        panels: vec![plot::Panel {
            title: "γ_t with the multiplier (Adam-type: lr·d before per-coordinate scaling)".into(),
            series,
        }],
        note: "",
    };
    plot::save(&stepsize, &o.out.join("stepsize"))
}

/// Redraws the figures from a previous run's `curves.csv` (diverged runs end early there).
pub fn replot(o: &Options, task: &Task) -> Result<(), String> {
    let path = o.out.join("curves.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let specs = methods(task, o.steps);
    let mut runs: Vec<Run> = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1) {
        let at = |column: usize| format!("{}:{}:{}", path.display(), line_no + 1, column);
        let f: Vec<&str> = line.split(',').collect();
        if !(6..=10).contains(&f.len()) {
            return Err(format!(
                "{}: expected 6 to 10 fields, found {}",
                at(1),
                f.len()
            ));
        }
        let index = specs
            .iter()
            .position(|m| m.name == f[0])
            .ok_or_else(|| format!("{}: unknown method {}", at(1), f[0]))?;
        if runs.last().is_none_or(|r| r.spec_index != index) {
            runs.push(Run {
                spec_index: index,
                train: Vec::new(),
                val: Vec::new(),
                seconds: 0.0,
                state_bytes: 0.0,
                diverged: None,
                warning: None,
            });
        }
        let run = runs.last_mut().expect("pushed");
        // Column numbers count characters from 1, as editors do.
        let column = |i: usize| 1 + f[..i].iter().map(|s| s.len() + 1).sum::<usize>();
        let num = |i: usize| {
            f[i].parse::<f64>()
                .map_err(|_| format!("{}: not a number: {:?}", at(column(i)), f[i]))
        };
        let opt = |i: usize| match f.get(i) {
            Some(s) if !s.is_empty() => num(i).map(Some),
            _ => Ok(None),
        };
        let step = f[1]
            .parse::<usize>()
            .map_err(|_| format!("{}: not a step: {:?}", at(column(1)), f[1]))?;
        if !f[2].is_empty() {
            let log = StepLog {
                stepsize: num(5)?,
                d: opt(6)?,
                d_hat: opt(7)?,
                smoothness_sum: opt(8)?,
            };
            run.train.push((step, num(2)?, num(4)?, log));
        }
        if !f[3].is_empty() {
            let eval = Eval {
                loss: num(3)?,
                accuracy: opt(9)?,
            };
            run.val.push((step, eval));
        }
    }
    save_figures(o, task, &specs, &runs)?;
    println!(
        "wrote {}/{{loss,loss_paper_vs_tuned,loss_untuned_vs_tuned,stepsize}}.{{png,svg}}",
        o.out.display()
    );
    Ok(())
}
