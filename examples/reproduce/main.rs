//! The paper's convex experiments on the bundled LIBSVM data: logistic regression and non-linear
//! least squares, full-batch and minibatch (128), every method of the crate against grid-tuned
//! Sign-SGD and AdamW. Writes CSV files, PNG/SVG plots and `summary.md` into `results/`.
//!
//! Run: `cargo run --release --example reproduce` (`-- --help` for the options, `-- --quick`
//! for a smoke test).

mod app;
mod plot;
mod runner;

fn main() {
    let options = match app::Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    if let Err(e) = app::run(&options) {
        eprintln!("reproduce failed: {e}");
        std::process::exit(1);
    }
}
