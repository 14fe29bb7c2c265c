//! End-to-end check of `examples/reproduce` in a quick setting: every method runs, and the CSV
//! files, plots and summary it writes exist and parse.

#[path = "../examples/reproduce/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../examples/reproduce/plot.rs"]
mod plot;
#[path = "../examples/reproduce/runner.rs"]
#[allow(dead_code)]
mod runner;

#[test]
fn quick_run_writes_parsable_results() {
    let out = std::env::temp_dir().join(format!("signfree-reproduce-{}", std::process::id()));
    let args = [
        "--steps",
        "30",
        "--datasets",
        "heart_scale",
        "--threads",
        "2",
        "--out",
    ];
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.push(out.display().to_string());
    let options = app::Options::parse(args).unwrap();
    let blocks = app::run(&options).unwrap();
    assert_eq!(blocks.len(), 4, "2 losses × 2 modes × 1 data set");
    for b in &blocks {
        let expected_methods = match b.mode {
            runner::Mode::Full => runner::Method::ALL.len() - 1, // no same-sample variant
            runner::Mode::Stochastic { .. } => runner::Method::ALL.len(),
        };
        assert_eq!(b.runs.len(), expected_methods);
        for r in &b.runs {
            let name = format!(
                "{}_{}_{}_{}.csv",
                b.loss.name(),
                b.mode.name(),
                b.dataset.file_name(),
                r.method.name()
            );
            let csv = std::fs::read_to_string(out.join(&name)).unwrap();
            let mut lines = csv.lines();
            assert_eq!(lines.next(), Some("step,loss,gap,stepsize,grad_evals"));
            let rows: Vec<Vec<f64>> = lines
                .map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap()).collect())
                .collect();
            assert_eq!(rows.len(), r.trace.step.len(), "{name}");
            assert_eq!(rows.last().unwrap()[0], 30.0);
            for row in &rows {
                assert_eq!(row.len(), 5);
                assert!(
                    row[1].is_finite() && row[2] >= -1e-12,
                    "{name}: loss {} gap {}",
                    row[1],
                    row[2]
                );
            }
            // Grid-tuned methods pay 16 runs, the others report their own count.
            if r.method.name().ends_with("-tuned") {
                assert_eq!(r.grad_evals, 16 * 30);
            }
        }
    }
    for loss in ["logreg", "nllsq"] {
        for mode in ["full", "stochastic"] {
            for kind in ["gap_vs_iter", "gap_vs_evals", "stepsize"] {
                let png = std::fs::read(out.join(format!("{loss}_{mode}_{kind}.png"))).unwrap();
                assert_eq!(
                    &png[..8],
                    b"\x89PNG\r\n\x1a\n",
                    "{loss}_{mode}_{kind}.png is a PNG"
                );
                let svg =
                    std::fs::read_to_string(out.join(format!("{loss}_{mode}_{kind}.svg"))).unwrap();
                assert!(
                    svg.starts_with("<svg")
                        && svg.contains("heart_scale")
                        && svg.trim_end().ends_with("</svg>")
                );
            }
        }
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("| logreg | full | heart_scale | alias-d |"));
    std::fs::remove_dir_all(&out).unwrap();
}
