//! Bad input never corrupts: for every optimizer, a NaN or ±inf planted at a random position of
//! a random tensor, a non-finite loss, or a wrong tensor count or length is a typed error, and
//! the parameters and the optimizer state stay bit-identical. Zero-length tensors are fine.

#[macro_use]
#[path = "support/methods.rs"]
mod methods;

use proptest::prelude::*;
use signfree::{Error, Optimizer, Stateful};

/// An optimizer whose state can be printed (Debug shows every bit of every float).
trait Subject: Optimizer<f32> {
    fn state_text(&self) -> String;
}

impl<T: Optimizer<f32> + Stateful> Subject for T
where
    T::State: std::fmt::Debug,
{
    fn state_text(&self) -> String {
        format!("{:?}", self.state())
    }
}

const LAYOUT: [usize; 3] = [4, 0, 5];

fn subjects() -> Vec<Box<dyn Subject>> {
    fn push<O: Subject + 'static>(o: O, out: &mut Vec<Box<dyn Subject>>) {
        out.push(Box::new(o));
    }
    let mut out = Vec::new();
    every_method!(f32, &LAYOUT, push, &mut out);
    out
}

fn grads(t: usize) -> Vec<Vec<f32>> {
    LAYOUT
        .iter()
        .enumerate()
        .map(|(k, &n)| (0..n).map(|i| ((i + 3 * k + t) % 5) as f32 - 2.0).collect())
        .collect()
}

fn run_step(
    o: &mut dyn Subject,
    x: &mut [Vec<f32>],
    g: &[Vec<f32>],
    loss: Option<f64>,
) -> signfree::Result<()> {
    let mut params: Vec<&mut [f32]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
    let grads: Vec<&[f32]> = g.iter().map(|v| v.as_slice()).collect();
    o.step(&mut params, &grads, loss).map(|_| ())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn corrupt_gradients_change_nothing(
        warm in 0usize..4,
        which in 0usize..9,
        kind in 0usize..3,
    ) {
        let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][kind];
        for mut o in subjects() {
            let mut x: Vec<Vec<f32>> = LAYOUT.iter().map(|&n| vec![0.5; n]).collect();
            for t in 0..warm {
                run_step(o.as_mut(), &mut x, &grads(t), Some(1.0)).unwrap();
            }
            let before = (format!("{x:?}"), o.state_text());
            // Plant the bad value in tensor 0 or 2 (tensor 1 is empty).
            let mut g = grads(warm);
            let (tensor, index) = if which < 4 { (0, which) } else { (2, which - 4) };
            g[tensor][index] = bad;
            let e = run_step(o.as_mut(), &mut x, &g, Some(1.0)).unwrap_err();
            prop_assert!(
                matches!(e, Error::NonFiniteGradient { tensor: t, index: i, .. } if t == tensor && i == index),
                "{}: {e:?}", o.name()
            );
            prop_assert_eq!(&before, &(format!("{x:?}"), o.state_text()), "{}", o.name());
            // A non-finite loss, a wrong count, a wrong length: also refused without change.
            let g = grads(warm);
            for loss in [f64::NAN, f64::INFINITY] {
                let e = run_step(o.as_mut(), &mut x, &g, Some(loss)).unwrap_err();
                prop_assert!(matches!(e, Error::NonFiniteLoss { .. }), "{}: {e:?}", o.name());
            }
            let e = run_step(o.as_mut(), &mut x, &g[..2], None).unwrap_err();
            prop_assert!(matches!(e, Error::DimensionMismatch { .. }), "{}", o.name());
            let mut short = g.clone();
            short[2].pop();
            let e = run_step(o.as_mut(), &mut x, &short, None).unwrap_err();
            prop_assert!(matches!(e, Error::DimensionMismatch { expected: 5, got: 4, .. }), "{}", o.name());
            prop_assert_eq!(&before, &(format!("{x:?}"), o.state_text()), "{}", o.name());
            // And the optimizer still works afterwards.
            run_step(o.as_mut(), &mut x, &g, Some(1.0)).unwrap();
        }
    }
}
