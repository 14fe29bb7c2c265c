//! Sign-SGD against an independently computed trajectory, in f64 and f32, one tensor or many.

use signfree::{
    Bundled, Cost, Gradient, LogisticRegression, Optimizer, Problem, Quadratic, Schedule, SignSgd,
    SignSgdConfig,
};

/// 50 steps of constant-step Sign-SGD (γ = 0.01) on mushrooms with μ = 1e-4 from w = 0, against
/// the values written by `tools/reference_values.py` (numpy, dense float64) into
/// `tests/data/sign_sgd_mushrooms_constant.csv`.
#[test]
fn mushrooms_trajectory_matches_numpy() {
    let expected: Vec<f64> = include_str!("data/sign_sgd_mushrooms_constant.csv")
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(expected.len(), 51);
    let p = LogisticRegression::new(Bundled::Mushrooms.load().unwrap(), 1e-4).unwrap();
    let cfg = SignSgdConfig {
        lr: 0.01,
        ..Default::default()
    };
    let mut opt = SignSgd::<f64>::new(cfg, &[p.dim()]).unwrap();
    let mut x = vec![0.0; p.dim()];
    let mut g = vec![0.0; p.dim()];
    for (t, &f_ref) in expected.iter().enumerate() {
        let f = p.cost(&x).unwrap();
        // Same signs every step (checked in the script: the smallest |g_j| ≠ 0 is 3.9e-7), so the
        // iterates agree to rounding and f to ~1e-15 relative.
        assert!(
            (f - f_ref).abs() <= 1e-13 * f_ref,
            "t = {t}: {f} vs {f_ref}"
        );
        p.gradient(&x, &mut g).unwrap();
        opt.step_flat(&mut x, &g, Some(f)).unwrap();
    }
}

fn run_quadratic<F: signfree::Float>(split: &[usize], steps: usize) -> Vec<f64> {
    let d: usize = split.iter().sum();
    let center: Vec<f64> = (0..d).map(|i| (i as f64 * 0.7).sin()).collect();
    let q = Quadratic::new((0..d).map(|i| 1.0 + i as f64).collect(), center).unwrap();
    let cfg = SignSgdConfig {
        lr: 0.3,
        schedule: Schedule::InverseSqrt,
        ..Default::default()
    };
    let mut opt = SignSgd::<F>::new(cfg, split).unwrap();
    let mut x = vec![F::ZERO; d];
    let (mut x64, mut g64) = (vec![0.0; d], vec![0.0; d]);
    let mut g = vec![F::ZERO; d];
    for _ in 0..steps {
        x64.iter_mut().zip(&x).for_each(|(a, b)| *a = b.to_f64());
        q.gradient(&x64, &mut g64).unwrap();
        g.iter_mut()
            .zip(&g64)
            .for_each(|(a, b)| *a = F::from_f64(*b));
        let mut parts: Vec<&mut [F]> = Vec::new();
        let mut rest = x.as_mut_slice();
        for &n in split {
            let (head, tail) = rest.split_at_mut(n);
            parts.push(head);
            rest = tail;
        }
        let mut grads: Vec<&[F]> = Vec::new();
        let mut offset = 0;
        for &n in split {
            grads.push(&g[offset..offset + n]);
            offset += n;
        }
        opt.step(&mut parts, &grads, None).unwrap();
    }
    x.iter().map(|v| v.to_f64()).collect()
}

#[test]
fn converges_on_a_quadratic_in_f32_and_f64() {
    for x in [
        run_quadratic::<f64>(&[6], 3000),
        run_quadratic::<f32>(&[6], 3000),
    ] {
        for (i, xi) in x.iter().enumerate() {
            // After 3000 steps of γ_t = 0.3/sqrt(t+1) the iterate oscillates within ~2γ_T ≈ 0.011.
            assert!((xi - (i as f64 * 0.7).sin()).abs() < 0.012, "x[{i}] = {xi}");
        }
    }
}

#[test]
fn splitting_into_tensors_does_not_change_the_trajectory() {
    let whole = run_quadratic::<f64>(&[7], 200);
    assert_eq!(whole, run_quadratic::<f64>(&[3, 4], 200));
    assert_eq!(whole, run_quadratic::<f64>(&[1, 0, 5, 1], 200));
}
