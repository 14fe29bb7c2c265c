//! Sign-only-memory ALIAS (`docs/ALGORITHMS.md` §5): its smoothness sample lies in `[0, r_{t−1}]` on
//! convex problems, and it reproduces full-memory ALIAS's gap term.

use ndarray::Array2;
use proptest::prelude::*;
use signfree::{
    AliasRule, AliasSignSgd, AliasSignSgdConfig, Backend, Dataset, Features, Gradient,
    LogisticRegression, Optimizer,
};

fn fields(r: &signfree::StepReport) -> (Option<f64>, Option<f64>) {
    assert!(signfree::AliasPhase::of(r).is_some(), "not an ALIAS report");
    (
        r.estimates.get("last_smoothness"),
        r.estimates.get("gap_sum"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On random logistic problems, from the same state, the sign-only sample r̂ and the
    /// full-memory sample r of the same step satisfy 0 ≤ r̂ ≤ r, and the gap terms are equal.
    #[test]
    fn sign_only_sample_is_a_lower_bound(
        entries in prop::collection::vec(-2.0..2.0f64, 40 * 5),
        labels in prop::collection::vec(any::<bool>(), 40),
        x0 in prop::collection::vec(-1.0..1.0f64, 5),
        mu in 0.0..0.1f64,
        l0 in 0.1..10.0f64,
    ) {
        let a = Array2::from_shape_vec((40, 5), entries).unwrap();
        let y = labels.iter().map(|&b| if b { 1.0 } else { -1.0 }).collect();
        let p = LogisticRegression::new(Dataset::new(Features::Dense(a), y).unwrap(), mu).unwrap();
        let rule = AliasRule { initial_smoothness: Some(l0), ..Default::default() };
        let full = AliasSignSgdConfig { rule: rule.clone(), ..Default::default() };
        let signs = AliasSignSgdConfig { rule, memory: signfree::AliasMemory::SignOnly, ..Default::default() };
        let mut a = AliasSignSgd::<f64>::new(full, &[5]).unwrap().with_backend(Backend::Scalar).unwrap();
        let mut b = AliasSignSgd::<f64>::new(signs, &[5]).unwrap().with_backend(Backend::Scalar).unwrap();
        let (mut xa, mut xb, mut g) = (x0.clone(), x0.clone(), vec![0.0; 5]);
        for t in 0..4 {
            // Both take the step from the same point (xa), so the samples are comparable.
            xb.copy_from_slice(&xa);
            p.gradient(&xa, &mut g).unwrap();
            let ra = a.step_flat(&mut xa, &g, Some(1.0)).unwrap();
            let rb = b.step_flat(&mut xb, &g, Some(1.0)).unwrap();
            if t == 0 {
                prop_assert_eq!(ra.stepsize, rb.stepsize);
                prop_assert_eq!(&xa, &xb);
            }
            let ((r, gap_a), (r_hat, gap_b)) = (fields(&ra), fields(&rb));
            if t == 1 {
                // Same inputs (g_0, g_1, γ_0): the same gap increment, bit for bit.
                prop_assert_eq!(gap_a, gap_b);
            }
            if let (Some(r), Some(r_hat)) = (r, r_hat) {
                // Both divide by ‖x_t − x_{t−1}‖_∞ (measured vs γ_{t−1}: equal to rounding).
                prop_assert!(r_hat >= 0.0);
                prop_assert!(r_hat <= r * (1.0 + 1e-9) + 1e-12, "r̂ {} > r {}", r_hat, r);
            }
        }
    }
}

#[test]
fn sign_only_state_is_two_bits_and_refuses_incompatible_options() {
    let cfg = AliasSignSgdConfig {
        memory: signfree::AliasMemory::SignOnly,
        ..Default::default()
    };
    let o = AliasSignSgd::<f32>::new(cfg.clone(), &[100, 3]).unwrap();
    assert_eq!(o.state_bytes_per_parameter(), 0.25);
    for (bad, name) in [
        (
            AliasSignSgdConfig {
                weight_decay: 0.1,
                ..cfg.clone()
            },
            "weight_decay",
        ),
        (
            AliasSignSgdConfig {
                momentum: Some(0.9),
                ..cfg.clone()
            },
            "momentum",
        ),
        (
            AliasSignSgdConfig {
                rule: AliasRule {
                    update_gap: 2,
                    ..Default::default()
                },
                ..cfg.clone()
            },
            "update_gap",
        ),
    ] {
        match AliasSignSgd::<f32>::new(bad, &[3]) {
            Err(signfree::Error::InvalidParameter { parameter, .. }) => assert_eq!(parameter, name),
            other => panic!("expected InvalidParameter({name}), got {other:?}"),
        }
    }
}
