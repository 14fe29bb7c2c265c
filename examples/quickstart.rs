//! Sign-SGD in a hand-written training loop on the bundled mushrooms data set.
//!
//! Run: `cargo run --release --example quickstart`

use signfree::{
    Bundled, Cost, Gradient, LogisticRegression, Optimizer, Problem, Schedule, SignSgd,
    SignSgdConfig,
};

fn main() -> Result<(), signfree::Error> {
    let data = Bundled::Mushrooms.load()?;
    println!(
        "mushrooms: {} samples, {} features",
        data.n_samples(),
        data.n_features()
    );
    let problem = LogisticRegression::new(data, 1e-4)?;
    let f_star = problem.reference_optimum()?.f_star;
    println!("f* = {f_star:.12} (Newton)");

    let steps = 1000;
    let config = SignSgdConfig {
        lr: 0.05,
        schedule: Schedule::WarmupCosine {
            warmup_steps: 20,
            total_steps: steps,
        },
        ..Default::default()
    };
    let mut optimizer = SignSgd::<f64>::new(config, &[problem.dim()])?;
    let mut x = vec![0.0; problem.dim()];
    let mut grad = vec![0.0; problem.dim()];
    println!(
        "{:>6} {:>12} {:>12} {:>10}",
        "step", "loss", "f - f*", "stepsize"
    );
    for t in 0..=steps {
        let loss = problem.cost(&x)?;
        if t % 100 == 0 {
            let gamma = optimizer.config().lr * optimizer.config().schedule.factor(t);
            println!(
                "{t:>6} {loss:>12.8} {:>12.4e} {gamma:>10.2e}",
                loss - f_star
            );
        }
        if t == steps {
            break;
        }
        problem.gradient(&x, &mut grad)?;
        optimizer.step_flat(&mut x, &grad, Some(loss))?;
    }
    Ok(())
}
