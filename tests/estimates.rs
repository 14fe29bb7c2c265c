//! `StepReport::estimates`: what each method's documentation says it reports is there.

#[macro_use]
#[path = "support/methods.rs"]
mod methods;

use signfree::{Estimate, Method};

/// Every method of the shared list reports the estimates its documentation names, all finite,
/// after a few steps on a quadratic.
#[test]
fn every_method_reports_its_documented_estimates() {
    fn visit<O: Method<Element = f64>>(mut o: O) {
        let expected: &[&str] = match O::NAME {
            "SignSgd" | "AdamW" => &["schedule_factor"],
            "Prodigy" | "AdamLikeCompat" => &["d", "d_hat"],
            "DistanceSign" => &["d", "d_hat", "numerator", "denominator"],
            "AliasSignSgd" | "AliasAdam" | "GradientScaledStart" => &["smoothness_sum"],
            other => panic!("{other}: add its documented estimates here"),
        };
        let layout = o.layout().to_vec();
        let mut x: Vec<Vec<f64>> = layout.iter().map(|&n| vec![1.5; n]).collect();
        for t in 0..4 {
            let g: Vec<Vec<f64>> = x
                .iter()
                .map(|v| v.iter().map(|xi| xi - 0.25 * t as f64).collect())
                .collect();
            let mut p: Vec<&mut [f64]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
            let gs: Vec<&[f64]> = g.iter().map(|v| v.as_slice()).collect();
            let r = o.step(&mut p, &gs, Some(2.0)).unwrap();
            for name in expected {
                let v = r.estimates.get(name);
                assert!(v.is_some_and(f64::is_finite), "{}: {name} = {v:?}", O::NAME);
            }
            if expected.contains(&"smoothness_sum") {
                assert!(signfree::AliasPhase::of(&r).is_some(), "{}: phase", O::NAME);
            }
            assert!(
                r.estimates.iter().all(|(_, e)| match e {
                    Estimate::Number(v) => v.is_finite(),
                    Estimate::Label(_) => true,
                }),
                "{}: {:?}",
                O::NAME,
                r.estimates
            );
        }
    }
    every_method!(f64, &[3, 2], visit);
}
