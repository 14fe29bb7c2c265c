//! Command line, scheduling, tables and files of the reproduction run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use signfree::{Bundled, LogisticRegression};

use crate::plot::{self, Dash, Figure, Panel, Series, Style, YAxis};
use crate::runner::{Loss, Method, Mode, RunResult, make_problem, run_method};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub steps: usize,
    pub datasets: Vec<Bundled>,
    pub methods: Vec<Method>,
    pub losses: Vec<Loss>,
    pub modes: Vec<Mode>,
    pub out: PathBuf,
    pub threads: usize,
}

pub const USAGE: &str = "\
usage: reproduce [--quick] [--steps T] [--datasets a,b] [--methods m,n] [--losses logreg,nllsq]
                 [--modes full,stochastic] [--out DIR] [--threads N]
  --quick      T = 100 on mushrooms only (a smoke test in seconds)
  datasets     mushrooms a9a w8a phishing heart_scale australian_scale breast-cancer_scale german.numer_scale
  methods      sign-sgd-tuned sign-sgd-tuned-cosine sos alias-d alias-f alias-momentum alias-d-same-sample
               alias-sign-only alias-adam
               prodigy adamw-tuned; research: r1-alias-d r1-alias-f r1-alias-momentum
               r1-alias-f-momentum r3-alias-f-momentum r4-alias-f-momentum-cosine
               r5-distance-sign r5b-distance-sign-sqrt r5c-distance-sign-cosine";

impl Options {
    /// Parses the command line (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut o = Options {
            steps: 1000,
            datasets: Bundled::PAPER.to_vec(),
            methods: Method::ALL.to_vec(),
            losses: vec![Loss::Logistic, Loss::Nllsq],
            modes: vec![
                Mode::Full,
                Mode::Stochastic {
                    batch: 128,
                    seed: 2026,
                },
            ],
            out: PathBuf::from("results"),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
            };
            match a.as_str() {
                "--quick" => {
                    o.steps = 100;
                    o.datasets = vec![Bundled::Mushrooms];
                }
                "--steps" => o.steps = value()?.parse().map_err(|e| format!("--steps: {e}"))?,
                "--threads" => {
                    o.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?
                }
                "--out" => o.out = PathBuf::from(value()?),
                "--datasets" => {
                    o.datasets = value()?
                        .split(',')
                        .map(|s| {
                            Bundled::from_name(s).ok_or(format!("unknown data set {s}\n{USAGE}"))
                        })
                        .collect::<Result<_, _>>()?
                }
                "--methods" => {
                    o.methods = value()?
                        .split(',')
                        .map(|s| Method::from_name(s).ok_or(format!("unknown method {s}\n{USAGE}")))
                        .collect::<Result<_, _>>()?
                }
                "--losses" => {
                    o.losses = value()?
                        .split(',')
                        .map(|s| match s {
                            "logreg" => Ok(Loss::Logistic),
                            "nllsq" => Ok(Loss::Nllsq),
                            _ => Err(format!("unknown loss {s}\n{USAGE}")),
                        })
                        .collect::<Result<_, _>>()?
                }
                "--modes" => {
                    o.modes = value()?
                        .split(',')
                        .map(|s| match s {
                            "full" => Ok(Mode::Full),
                            "stochastic" => Ok(Mode::Stochastic {
                                batch: 128,
                                seed: 2026,
                            }),
                            _ => Err(format!("unknown mode {s}\n{USAGE}")),
                        })
                        .collect::<Result<_, _>>()?
                }
                "-h" | "--help" => return Err(USAGE.to_string()),
                other => return Err(format!("unknown argument {other}\n{USAGE}")),
            }
        }
        if o.steps < 2 || o.threads == 0 {
            return Err(format!("--steps must be >= 2 and --threads >= 1\n{USAGE}"));
        }
        Ok(o)
    }
}

/// All runs of one (loss, mode, data set).
pub struct Block {
    pub loss: Loss,
    pub mode: Mode,
    pub dataset: Bundled,
    /// `f*`: Newton for logistic regression; the best value reached by any run for NLLSQ.
    pub f_star: f64,
    pub runs: Vec<RunResult>,
}

/// Runs everything, writes `out/`, prints the table; returns the blocks.
pub fn run(o: &Options) -> Result<Vec<Block>, String> {
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    plot::register_font()?;
    let started = Instant::now();
    let mut jobs = Vec::new();
    for &loss in &o.losses {
        for &mode in &o.modes {
            for &dataset in &o.datasets {
                jobs.push((loss, mode, dataset));
            }
        }
    }
    let bars = MultiProgress::new();
    let total = bars.add(ProgressBar::new((jobs.len() * o.methods.len()) as u64));
    total.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} runs {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let done: Mutex<Vec<(usize, Block)>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..o.threads {
            scope.spawn(|| {
                loop {
                    let Some((index, (loss, mode, dataset))) = queue.lock().expect("queue").pop()
                    else {
                        break;
                    };
                    match run_block(o, loss, mode, dataset, &total) {
                        Ok(block) => done.lock().expect("results").push((index, block)),
                        Err(e) => {
                            *failure.lock().expect("failure") = Some(e);
                            break;
                        }
                    }
                }
            });
        }
    });
    total.finish_and_clear();
    if let Some(e) = failure.into_inner().expect("failure") {
        return Err(e);
    }
    let mut blocks = done.into_inner().expect("results");
    blocks.sort_by_key(|(i, _)| *i);
    let blocks: Vec<Block> = blocks.into_iter().map(|(_, b)| b).collect();
    for b in &blocks {
        write_csvs(&o.out, b)?;
    }
    write_plots(&o.out, &blocks)?;
    let table = table(&blocks);
    let pivot = pivot(&blocks);
    print!("{table}\n{pivot}");
    std::fs::write(o.out.join("summary.md"), format!("{table}\n{pivot}"))
        .map_err(|e| e.to_string())?;
    println!(
        "wall time {:.1} s; CSV files and plots in {}",
        started.elapsed().as_secs_f64(),
        o.out.display()
    );
    Ok(blocks)
}

fn run_block(
    o: &Options,
    loss: Loss,
    mode: Mode,
    dataset: Bundled,
    bar: &ProgressBar,
) -> Result<Block, String> {
    let ctx = |e: signfree::Error| {
        format!(
            "{} {} {}: {e}",
            loss.name(),
            mode.name(),
            dataset.file_name()
        )
    };
    let problem = make_problem(dataset, loss).map_err(ctx)?;
    let record_every = match mode {
        Mode::Full => 1,
        Mode::Stochastic { .. } => (o.steps / 200).max(1),
    };
    let mut runs = Vec::new();
    for &method in &o.methods {
        if method == Method::AliasDSameSample && mode == Mode::Full {
            bar.inc(1); // identical to alias-d with full gradients
            continue;
        }
        bar.set_message(format!(
            "{} {} {} {}",
            loss.name(),
            mode.name(),
            dataset.file_name(),
            method.name()
        ));
        runs.push(run_method(problem.as_ref(), method, mode, o.steps, record_every).map_err(ctx)?);
        bar.inc(1);
    }
    let f_star = match loss {
        Loss::Logistic => {
            let p = LogisticRegression::new(dataset.load().map_err(ctx)?, 1e-4).map_err(ctx)?;
            p.reference_optimum().map_err(ctx)?.f_star
        }
        Loss::Nllsq => runs
            .iter()
            .flat_map(|r| r.trace.loss.iter().copied())
            .fold(f64::INFINITY, f64::min),
    };
    Ok(Block {
        loss,
        mode,
        dataset,
        f_star,
        runs,
    })
}

fn stem(b: &Block) -> String {
    format!(
        "{}_{}_{}",
        b.loss.name(),
        b.mode.name(),
        b.dataset.file_name()
    )
}

fn write_csvs(out: &Path, b: &Block) -> Result<(), String> {
    for r in &b.runs {
        let mut csv = String::from("step,loss,gap,stepsize,grad_evals\n");
        for i in 0..r.trace.step.len() {
            let t = r.trace.step[i];
            let _ = writeln!(
                csv,
                "{t},{:e},{:e},{:e},{}",
                r.trace.loss[i],
                r.trace.loss[i] - b.f_star,
                r.trace.stepsize[i],
                r.evals_at(t)
            );
        }
        let path = out.join(format!("{}_{}.csv", stem(b), r.method.name()));
        std::fs::write(&path, csv).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Colour and dash of each method, the same in every figure; no two methods share both, and the
/// methods of each headline figure have distinct colours.
fn style(m: Method) -> Style {
    use plot::colors::*;
    let (color, dash) = match m {
        Method::SignSgdTuned => (BLACK, Dash::Solid),
        Method::SignSgdTunedCosine => (GREY, Dash::Dashed),
        Method::AdamWTuned => (BROWN, Dash::Solid),
        Method::Prodigy => (SKY, Dash::Dashed),
        Method::Sos => (BROWN, Dash::Dotted),
        Method::AliasD => (BLUE, Dash::Solid),
        Method::AliasF => (VERMILLION, Dash::Dashed),
        Method::AliasMomentum => (ORANGE, Dash::Solid),
        Method::AliasDSameSample => (SKY, Dash::Dotted),
        Method::AliasSignOnly => (BLUE, Dash::Dotted),
        Method::AliasAdam => (PURPLE, Dash::Dotted),
        Method::AliasDGradStart => (BLUE, Dash::Dashed),
        Method::AliasFGradStart => (VERMILLION, Dash::Dotted),
        Method::AliasMomentumGradStart => (ORANGE, Dash::Dashed),
        Method::AliasFMomentumGradStart => (OLIVE, Dash::Dotted),
        Method::AliasFMomentumPolyak => (OLIVE, Dash::Dashed),
        Method::AliasFMomentumPolyakCosine => (GREEN, Dash::Solid),
        Method::DistanceSign => (PURPLE, Dash::Dashed),
        Method::DistanceSignSqrt => (PURPLE, Dash::Solid),
        Method::DistanceSignCosine => (GREEN, Dash::Dotted),
    };
    let s = Style::new(color, dash);
    if m == Method::SignSgdTuned {
        s.bold()
    } else {
        s
    }
}

/// The legend text of a method in the headline figures: what it is, and on a second line its
/// name in the tables (the full-set figures use the names alone).
fn description(m: Method) -> String {
    let text = match m {
        Method::SignSgdTuned => "Sign-SGD, tuned γ",
        Method::SignSgdTunedCosine => "Sign-SGD + cosine, tuned γ",
        Method::AdamWTuned => "AdamW, tuned lr",
        Method::Prodigy => "Prodigy",
        Method::Sos => "SOS (γ by bisection)",
        Method::AliasD => "ALIAS, Option D",
        Method::AliasF => "ALIAS, Option F",
        Method::AliasMomentum => "ALIAS + momentum",
        Method::AliasDSameSample => "ALIAS D, same-sample",
        Method::AliasAdam => "ALIAS-Adam",
        Method::AliasFMomentumPolyak => "R3 (research)",
        Method::AliasFMomentumPolyakCosine => "R4 = R3 + cosine (research)",
        other => return other.name().to_string(),
    };
    format!("{text}\n{}", m.name())
}

/// Headline figure 1: the paper's untuned methods against the tuned baseline.
const PAPER_VS_TUNED: [Method; 7] = [
    Method::SignSgdTuned,
    Method::Sos,
    Method::AliasD,
    Method::AliasF,
    Method::AliasMomentum,
    Method::AliasDSameSample,
    Method::AliasAdam,
];

/// Headline figure 2: the best untuned methods against the best tuned ones.
const UNTUNED_VS_TUNED: [Method; 6] = [
    Method::SignSgdTuned,
    Method::SignSgdTunedCosine,
    Method::AdamWTuned,
    Method::Prodigy,
    Method::AliasFMomentumPolyak,
    Method::AliasFMomentumPolyakCosine,
];

const BEST_SO_FAR_NOTE: &str = "Lines: best f(x) − f* so far (running\n\
minimum), so oscillation does not hide\n\
other curves. Faint band: the raw trace\n\
of a run that oscillates (values at each\n\
step; the tables report the last one).";

fn write_plots(out: &Path, blocks: &[Block]) -> Result<(), String> {
    let mut groups: Vec<(Loss, Mode)> = Vec::new();
    for b in blocks {
        if !groups.contains(&(b.loss, b.mode)) {
            groups.push((b.loss, b.mode));
        }
    }
    for (loss, mode) in groups {
        let blocks: Vec<&Block> = blocks
            .iter()
            .filter(|b| b.loss == loss && b.mode == mode)
            .collect();
        let name = format!("{}_{}", loss.name(), mode.name());
        let f_star_note = match loss {
            Loss::Logistic => "f* from Newton",
            Loss::Nllsq => "f* = best value reached by any run",
        };
        let what = format!(
            "{} ({})",
            match loss {
                Loss::Logistic => "logistic regression",
                Loss::Nllsq => "NLLSQ",
            },
            match mode {
                Mode::Full => "full batch",
                Mode::Stochastic { .. } => "minibatch 128",
            }
        );
        // One panel per data set with the runs of `methods` (in that order; `None`: all runs),
        // each as `series(run, points)`.
        let panels = |methods: Option<&[Method]>,
                      x: &dyn Fn(&RunResult, usize) -> f64,
                      y: &dyn Fn(&Block, &RunResult, usize) -> f64,
                      series: &dyn Fn(&RunResult, plot::Points) -> Series| {
            blocks
                .iter()
                .map(|b| {
                    let runs: Vec<&RunResult> = match methods {
                        None => b.runs.iter().collect(),
                        Some(ms) => ms
                            .iter()
                            .filter_map(|&m| b.runs.iter().find(|r| r.method == m))
                            .collect(),
                    };
                    Panel {
                        title: b.dataset.file_name().to_string(),
                        series: runs
                            .into_iter()
                            .map(|r| {
                                let points = (0..r.trace.step.len())
                                    .map(|i| (x(r, i), y(b, r, i)))
                                    .collect();
                                series(r, points)
                            })
                            .collect(),
                    }
                })
                .collect::<Vec<_>>()
        };
        let gap = |b: &Block, r: &RunResult, i: usize| (r.trace.loss[i] - b.f_star).max(1e-16);
        let iteration = |r: &RunResult, i: usize| r.trace.step[i] as f64;
        let described =
            |r: &RunResult, p| Series::best_so_far(description(r.method), p, style(r.method));
        let named = |r: &RunResult, p| Series::best_so_far(r.method.name(), p, style(r.method));
        let note = format!("{f_star_note}.\n{BEST_SO_FAR_NOTE}");
        plot::save(
            &Figure {
                title: &format!("{what}: do the paper's untuned methods match tuned Sign-SGD?"),
                x_label: "iteration",
                y_label: "f(x) - f*  (best so far)",
                y_axis: YAxis::Log,
                panels: panels(Some(&PAPER_VS_TUNED), &iteration, &gap, &described),
                note: &note,
            },
            &out.join(format!("{name}_paper_vs_tuned")),
        )?;
        plot::save(
            &Figure {
                title: &format!("{what}: best untuned methods vs the tuned baselines"),
                x_label: "iteration",
                y_label: "f(x) - f*  (best so far)",
                y_axis: YAxis::Log,
                panels: panels(Some(&UNTUNED_VS_TUNED), &iteration, &gap, &described),
                note: &note,
            },
            &out.join(format!("{name}_untuned_vs_tuned")),
        )?;
        plot::save(
            &Figure {
                title: &format!("{what}: every method"),
                x_label: "iteration",
                y_label: "f(x) - f*  (best so far)",
                y_axis: YAxis::Log,
                panels: panels(None, &iteration, &gap, &named),
                note: &note,
            },
            &out.join(format!("{name}_gap_vs_iter")),
        )?;
        plot::save(
            &Figure {
                title: &format!("{what}: cost with the tuning runs' gradients counted"),
                x_label: "gradient evaluations (tuning included)",
                y_label: "f(x) - f*  (best so far)",
                y_axis: YAxis::Log,
                panels: panels(
                    Some(&UNTUNED_VS_TUNED),
                    &|r, i| (r.tuning_evals + r.trace.step[i] as u64) as f64,
                    &gap,
                    &described,
                ),
                note: &format!(
                    "A tuned run starts at the gradients\n\
                     its grid spent. {note}"
                ),
            },
            &out.join(format!("{name}_gap_vs_evals")),
        )?;
        plot::save(
            &Figure {
                title: &format!("{what}: stepsize of every method"),
                x_label: "iteration",
                y_label: "stepsize",
                y_axis: YAxis::Log,
                panels: panels(None, &iteration, &|_, r, i| r.trace.stepsize[i], &|r, p| {
                    Series::new(r.method.name(), p, style(r.method))
                }),
                note: "Raw values at each step.",
            },
            &out.join(format!("{name}_stepsize")),
        )?;
    }
    Ok(())
}

/// Per (loss, mode): methods × data sets, `f(x_T) − f*` and in brackets its ratio to tuned
/// Sign-SGD (below 1 means better than the tuned baseline).
pub fn pivot(blocks: &[Block]) -> String {
    let mut s = String::new();
    let mut groups: Vec<(Loss, Mode)> = Vec::new();
    for b in blocks {
        if !groups.contains(&(b.loss, b.mode)) {
            groups.push((b.loss, b.mode));
        }
    }
    for (loss, mode) in groups {
        let bs: Vec<&Block> = blocks
            .iter()
            .filter(|b| b.loss == loss && b.mode == mode)
            .collect();
        let what = match loss {
            Loss::Logistic => "f(x_T) − f* (ratio to tuned Sign-SGD)",
            Loss::Nllsq => "f(x_T) − f*, f* = the best value any run reached",
        };
        let _ = writeln!(s, "\n**{} ({})**: {what}\n", loss.name(), mode.name());
        let _ = write!(s, "| method |");
        for b in &bs {
            let _ = write!(s, " {} |", b.dataset.file_name());
        }
        let _ = write!(s, "\n|---|{}\n", "---:|".repeat(bs.len()));
        for method in Method::ALL {
            if !bs.iter().any(|b| b.runs.iter().any(|r| r.method == method)) {
                continue;
            }
            let _ = write!(s, "| {} |", method.name());
            for b in &bs {
                let gap = |m: Method| {
                    b.runs
                        .iter()
                        .find(|r| r.method == m)
                        .map(|r| r.final_loss() - b.f_star)
                };
                match (gap(method), gap(Method::SignSgdTuned)) {
                    // For NLLSQ f* is the best run's value, so a ratio to one run means little.
                    (Some(g), Some(base)) if base > 0.0 && loss == Loss::Logistic => {
                        let _ = write!(s, " {g:.2e} ({:.2}) |", g / base);
                    }
                    (Some(g), _) => {
                        let _ = write!(s, " {g:.2e} |");
                    }
                    (None, _) => {
                        let _ = write!(s, " – |");
                    }
                }
            }
            s.push('\n');
        }
    }
    s
}

/// The results as a Markdown table.
pub fn table(blocks: &[Block]) -> String {
    let mut s = String::from(
        "| loss | mode | dataset | method | f(x_T) − f* | best ‖∇f‖₁ | grad evals | wall (s) | tuned γ |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|\n",
    );
    for b in blocks {
        for r in &b.runs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.3e} | {:.3e} | {} | {:.2} | {} |",
                b.loss.name(),
                b.mode.name(),
                b.dataset.file_name(),
                r.method.name(),
                r.final_loss() - b.f_star,
                r.best_grad_l1(),
                r.grad_evals,
                r.wall.as_secs_f64(),
                r.chosen_lr
                    .map_or(String::from("–"), |g| format!("{g:.3e}")),
            );
        }
    }
    s
}
