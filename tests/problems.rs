//! Problems: gradients against finite differences, `f*` against an independent Newton solve,
//! minibatch oracles against full ones, and evaluation counting.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use signfree::{
    Bundled, Cost, CostGradient, Counted, Dataset, Gradient, LibsvmOptions, LogisticRegression,
    NonlinearLeastSquares, Problem, Quadratic, Rosenbrock, StochasticGradient, Storage,
};

/// Central differences with step `h`; error O(h²·f''') + O(eps·f/h).
fn check_gradient<P: Cost + Gradient>(p: &P, x: &[f64], h: f64, tol: f64) {
    let mut g = vec![0.0; p.dim()];
    p.gradient(x, &mut g).unwrap();
    let mut xp = x.to_vec();
    for j in 0..x.len() {
        xp[j] = x[j] + h;
        let fp = p.cost(&xp).unwrap();
        xp[j] = x[j] - h;
        let fm = p.cost(&xp).unwrap();
        xp[j] = x[j];
        let fd = (fp - fm) / (2.0 * h);
        assert!(
            (fd - g[j]).abs() <= tol * (1.0 + g[j].abs()),
            "coordinate {j}: analytic {} vs finite difference {fd}",
            g[j]
        );
    }
}

fn heart(storage: Storage) -> Dataset {
    Dataset::from_path(
        Bundled::Heart.path(),
        LibsvmOptions {
            storage,
            ..Default::default()
        },
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn quadratic_gradient(x in prop::collection::vec(-10.0..10.0f64, 5)) {
        let q = Quadratic::new(vec![0.5, 1.0, 2.0, 3.0, 10.0], vec![1.0, -1.0, 0.0, 2.0, 0.5]).unwrap();
        check_gradient(&q, &x, 1e-5, 1e-7);
    }

    #[test]
    fn rosenbrock_gradient(x in prop::collection::vec(-2.0..2.0f64, 6)) {
        check_gradient(&Rosenbrock::new(6).unwrap(), &x, 1e-5, 1e-5);
    }

    #[test]
    fn logistic_gradient(x in prop::collection::vec(-2.0..2.0f64, 13), mu in 0.0..0.1f64) {
        for storage in [Storage::Sparse, Storage::Dense] {
            let p = LogisticRegression::new(heart(storage), mu).unwrap();
            check_gradient(&p, &x, 1e-5, 1e-7);
        }
    }

    #[test]
    fn nllsq_gradient(x in prop::collection::vec(-2.0..2.0f64, 13)) {
        for storage in [Storage::Sparse, Storage::Dense] {
            let p = NonlinearLeastSquares::new(heart(storage));
            check_gradient(&p, &x, 1e-5, 1e-7);
        }
    }

    /// The minibatch oracle over the batch `0..n` is the full oracle.
    #[test]
    fn full_batch_equals_full_gradient(x in prop::collection::vec(-1.0..1.0f64, 13)) {
        let p = LogisticRegression::new(heart(Storage::Sparse), 1e-3).unwrap();
        let all: Vec<usize> = (0..p.n_samples()).collect();
        let (mut g1, mut g2) = (vec![0.0; 13], vec![0.0; 13]);
        p.gradient(&x, &mut g1).unwrap();
        p.batch_gradient(&x, &all, &mut g2).unwrap();
        for (a, b) in g1.iter().zip(&g2) {
            prop_assert!((a - b).abs() <= 1e-15 * (1.0 + a.abs()));
        }
        prop_assert_eq!(p.cost(&x).unwrap(), p.batch_cost(&x, &all).unwrap());
        // The fused oracle is bit-identical to the separate ones.
        let f = p.cost_and_gradient(&x, &mut g2).unwrap();
        prop_assert_eq!(f, p.cost(&x).unwrap());
        prop_assert_eq!(&g1, &g2);
        let q = NonlinearLeastSquares::new(heart(Storage::Dense));
        let f = q.cost_and_gradient(&x, &mut g2).unwrap();
        q.gradient(&x, &mut g1).unwrap();
        prop_assert_eq!(f, q.cost(&x).unwrap());
        prop_assert_eq!(&g1, &g2);
    }
}

/// `f*` from our Newton solver against an independent numpy Newton solve
/// (`tools/reference_values.py`, output `tests/data/logreg_fstar.csv`).
#[test]
fn reference_optimum_matches_numpy() {
    let table = include_str!("data/logreg_fstar.csv");
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let set = Bundled::from_name(cols[0]).unwrap();
        let mu: f64 = cols[1].parse().unwrap();
        let f_star: f64 = cols[2].parse().unwrap();
        let p = LogisticRegression::new(set.load().unwrap(), mu).unwrap();
        let opt = p.reference_optimum().unwrap();
        assert!(
            opt.grad_inf_norm < 1e-12,
            "{set:?}: ‖∇f‖∞ = {}",
            opt.grad_inf_norm
        );
        assert!(
            (opt.f_star - f_star).abs() <= 1e-13 * f_star,
            "{set:?}: ours {} vs numpy {f_star}",
            opt.f_star
        );
        // f(0) = log 2 up to the rounding of n summands (n·eps·log 2 ≤ 4e-12 for n = 49749).
        assert!((p.cost(&vec![0.0; p.dim()]).unwrap() - std::f64::consts::LN_2).abs() < 1e-11);
    }
}

#[test]
fn minibatches_are_unbiased_and_counted() {
    let p = Counted::new(LogisticRegression::new(heart(Storage::Sparse), 0.0).unwrap());
    let x = vec![0.1; 13];
    let mut full = vec![0.0; 13];
    p.gradient(&x, &mut full).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let (mut g, mut mean, mut batch) = (vec![0.0; 13], vec![0.0; 13], Vec::new());
    let draws = 4000;
    for _ in 0..draws {
        p.stochastic_gradient(&x, &mut rng, 16, &mut batch, &mut g)
            .unwrap();
        assert_eq!(batch.len(), 16);
        for (m, gi) in mean.iter_mut().zip(&g) {
            *m += gi / draws as f64;
        }
    }
    let c = p.counts();
    assert_eq!(
        (c.gradients, c.batch_gradients, c.samples),
        (1, draws, 16 * draws)
    );
    // The mean of 4000 batches of 16 has standard error ≈ σ/253; σ ≤ max |a_ij| = 1 here.
    for (m, f) in mean.iter().zip(&full) {
        assert!((m - f).abs() < 0.02, "mean {m} vs full {f}");
    }
    let err = p
        .stochastic_gradient(&x, &mut rng, 0, &mut batch, &mut g)
        .unwrap_err();
    assert!(matches!(
        err,
        signfree::Error::InvalidParameter {
            parameter: "batch_size",
            ..
        }
    ));
    let err = p.batch_gradient(&x, &[270], &mut g).unwrap_err();
    assert!(matches!(
        err,
        signfree::Error::DimensionMismatch { got: 270, .. }
    ));
}

#[test]
fn wrong_lengths_are_errors_not_panics() {
    let p = LogisticRegression::new(heart(Storage::Sparse), 0.0).unwrap();
    let mut g = vec![0.0; 12];
    assert!(matches!(
        p.gradient(&[0.0; 13], &mut g),
        Err(signfree::Error::DimensionMismatch {
            expected: 13,
            got: 12,
            ..
        })
    ));
    assert!(p.cost(&[0.0; 3]).is_err());
}
