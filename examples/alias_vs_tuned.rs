//! Untuned ALIAS (Options D and F, default settings) against Sign-SGD with the best constant
//! stepsize from the grid `γ = 2^{-k}`, k = 0..15, picked after the fact (16 runs of T
//! gradients), and SOS (its gradient evaluations are printed).
//!
//! Logistic regression with `μ = 1e-4`, `x_0 = 0`, full gradients, `T` steps (default 1000) on
//! the four bundled paper data sets. Prints `f(x_T) − f*` per method and the ratio
//! untuned/best-tuned.
//!
//! Run: `cargo run --release --example alias_vs_tuned [-- T]`

use signfree::{
    AliasSignSgd, AliasSignSgdConfig, Bundled, Cost, Gradient, LogisticRegression, Optimizer,
    Problem, SignSgd, SignSgdConfig, SosSignSgd, SosSignSgdConfig,
};

fn final_gap(
    p: &LogisticRegression,
    opt: &mut dyn Optimizer<f64>,
    steps: usize,
    f_star: f64,
) -> signfree::Result<f64> {
    let (mut x, mut g) = (vec![0.0; p.dim()], vec![0.0; p.dim()]);
    for _ in 0..steps {
        let loss = p.cost(&x)?;
        p.gradient(&x, &mut g)?;
        opt.step_flat(&mut x, &g, Some(loss))?;
    }
    Ok(p.cost(&x)? - f_star)
}

fn main() -> signfree::Result<()> {
    let steps: usize = std::env::args()
        .nth(1)
        .map_or(1000, |s| s.parse().expect("T"));
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}",
        "dataset",
        "ALIAS D",
        "ALIAS F",
        "SOS",
        "best grid",
        "best γ",
        "D/best",
        "F/best",
        "SOS/best",
        "SOS γ",
        "SOS ∇s"
    );
    for set in Bundled::PAPER {
        let p = LogisticRegression::new(set.load()?, 1e-4)?;
        let f_star = p.reference_optimum()?.f_star;
        let d = p.dim();
        let mut alias_d = AliasSignSgd::<f64>::new(AliasSignSgdConfig::default(), &[d])?;
        let gap_d = final_gap(&p, &mut alias_d, steps, f_star)?;
        let cfg_f = AliasSignSgdConfig::option_f(0.0);
        let mut alias_f = AliasSignSgd::<f64>::new(cfg_f, &[d])?;
        let gap_f = final_gap(&p, &mut alias_f, steps, f_star)?;
        let sos = SosSignSgd::new(SosSignSgdConfig {
            horizon: steps,
            ..Default::default()
        })?
        .search(&p, &vec![0.0; d])?;
        let gap_sos = p.cost(&sos.x)? - f_star;
        let mut best = (f64::INFINITY, 0.0);
        for k in 0..=15 {
            let lr = 2f64.powi(-k);
            let mut opt = SignSgd::<f64>::new(
                SignSgdConfig {
                    lr,
                    ..Default::default()
                },
                &[d],
            )?;
            let gap = final_gap(&p, &mut opt, steps, f_star)?;
            if gap < best.0 {
                best = (gap, lr);
            }
        }
        println!(
            "{:<10} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e} {:>7} {:>7.2} {:>7.2} {:>7.2} {:>9.2e} {:>7}",
            set.file_name(),
            gap_d,
            gap_f,
            gap_sos,
            best.0,
            format!("2^-{}", -best.1.log2() as i32),
            gap_d / best.0,
            gap_f / best.0,
            gap_sos / best.0,
            sos.stepsize,
            sos.gradient_evals,
        );
    }
    Ok(())
}
