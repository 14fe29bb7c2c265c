//! Checkpoint and resume: for every optimizer, N steps, save, restore into a fresh optimizer, M
//! more steps — bit-identical to N + M uninterrupted steps. Malformed or mismatched checkpoints
//! are typed errors, never panics.
#![cfg(feature = "serde")]

#[macro_use]
#[path = "support/methods.rs"]
mod methods;

use proptest::prelude::*;
use signfree::{
    AdamW, AliasSignSgd, AliasSignSgdConfig, CheckpointError, Checkpointable, Error, Float,
    Optimizer, Prodigy,
};

/// A deterministic gradient of a separable quadratic with some coordinates exactly zero.
fn grad<F: Float>(x: &[F], t: usize) -> Vec<F> {
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            if (i + t).is_multiple_of(7) {
                F::ZERO
            } else {
                *v - F::from_f64(((i * 31 + t) % 11) as f64 * 0.1)
            }
        })
        .collect()
}

fn bits<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}

/// Runs `n` steps on `a`, checkpoints to JSON, restores into `b`, and runs `m` more steps on
/// both the original and the restored optimizer; asserts identical parameters and states.
fn check_resume<F, O>(mut a: O, n: usize, m: usize)
where
    F: Float,
    O: Checkpointable<Element = F>,
    O::State: std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let split = [5usize, 3];
    let mut x: Vec<F> = (0..8).map(|i| F::from_f64(i as f64 * 0.37 - 1.0)).collect();
    let step = |o: &mut O, x: &mut Vec<F>, t: usize| {
        let g = grad(x, t);
        let loss = Some(1.0 + x.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>());
        let (x0, x1) = x.split_at_mut(split[0]);
        o.step(&mut [x0, x1], &[&g[..split[0]], &g[split[0]..]], loss)
            .unwrap();
    };
    for t in 0..n {
        step(&mut a, &mut x, t);
    }
    let json = a.to_json().unwrap();
    let mut b = O::from_json(&json).unwrap();
    assert_eq!(bits(a.state()), bits(b.state()), "restored state differs");
    let mut y = x.clone();
    for t in n..n + m {
        step(&mut a, &mut x, t);
        step(&mut b, &mut y, t);
    }
    assert_eq!(bits(&x), bits(&y), "{}", a.name());
    assert_eq!(bits(a.state()), bits(b.state()), "{}", a.name());
}

/// Every optimizer of the shared list, in `f32` and `f64`, resumed after 0, 1 and 7 steps.
#[test]
fn every_method_resumes_bit_for_bit() {
    fn visit<F, O>(o: O)
    where
        F: Float,
        O: Checkpointable<Element = F> + Clone,
        O::State: std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        for (n, m) in [(0, 5), (1, 4), (7, 9)] {
            check_resume(o.clone(), n, m);
        }
    }
    every_method!(f32, &[5, 3], visit);
    every_method!(f64, &[5, 3], visit);
}

#[test]
fn mismatched_checkpoints_are_typed_errors() {
    let a = AliasSignSgd::<f32>::new(AliasSignSgdConfig::default(), &[3]).unwrap();
    let json = a.to_json().unwrap();
    // Another element type.
    let e = AliasSignSgd::<f64>::from_json(&json).unwrap_err();
    assert!(
        matches!(e, Error::Checkpoint(CheckpointError::Dtype { .. })),
        "{e}"
    );
    // Another optimizer.
    let e = AdamW::<f32>::from_json(&json).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Checkpoint(CheckpointError::Optimizer { .. } | CheckpointError::Syntax { .. })
        ),
        "{e}"
    );
    // Another version, including the previous format (1, before ALIAS's memory kinds).
    let current = format!("\"version\":{}", signfree::CHECKPOINT_VERSION);
    assert!(json.contains(&current), "{json}");
    for found in [1, 99] {
        let other = json.replace(&current, &format!("\"version\":{found}"));
        let e = AliasSignSgd::<f32>::from_json(&other).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Checkpoint(CheckpointError::Version { found: f, supported: 2 }) if f == found
            ),
            "{e}"
        );
    }
    // A state of the other memory kind than the configuration's.
    let signs = AliasSignSgdConfig {
        memory: signfree::AliasMemory::SignOnly,
        ..Default::default()
    };
    let e = AliasSignSgd::<f32>::from_json(
        &json.replace("\"memory\":\"Full\"", "\"memory\":\"SignOnly\""),
    )
    .unwrap_err();
    assert!(matches!(e, Error::IncompatibleState { .. }), "{e}");
    let mut b = AliasSignSgd::<f32>::new(signs, &[3]).unwrap();
    let e =
        signfree::Stateful::set_state(&mut b, signfree::Stateful::state(&a).clone()).unwrap_err();
    assert!(matches!(e, Error::IncompatibleState { .. }), "{e}");
    // A layout that does not fit the state's buffers.
    let e = AliasSignSgd::<f32>::from_json(&json.replace("\"layout\":[3]", "\"layout\":[4]"))
        .unwrap_err();
    assert!(matches!(e, Error::IncompatibleState { .. }), "{e}");
    // Truncated text.
    let e = AliasSignSgd::<f32>::from_json(&json[..json.len() / 2]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Checkpoint(CheckpointError::Syntax { line: 1, .. })
        ),
        "{e}"
    );
    // An invalid configuration inside a well-formed checkpoint is caught by validation.
    let e = AliasSignSgd::<f32>::from_json(&json.replace("\"probe\":1e-6", "\"probe\":-1.0"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                parameter: "probe",
                ..
            }
        ),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary text never panics the loader.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = AliasSignSgd::<f32>::from_json(&text);
        let _ = Prodigy::<f64>::from_json(&text);
    }

    /// Single-byte corruptions of a valid checkpoint either load (and then step without panic)
    /// or fail with a typed error.
    #[test]
    fn corrupted_checkpoints_never_panic(pos in 0usize..10_000, byte in any::<u8>()) {
        let mut a = AliasSignSgd::<f64>::new(AliasSignSgdConfig { momentum: Some(0.5), ..Default::default() }, &[4]).unwrap();
        let mut x = [1.0, -1.0, 0.5, 2.0];
        a.step_flat(&mut x, &[0.1, 0.2, -0.3, 0.0], Some(1.0)).unwrap();
        let mut bytes = a.to_json().unwrap().into_bytes();
        let i = pos % bytes.len();
        bytes[i] = byte;
        if let Ok(text) = String::from_utf8(bytes)
            && let Ok(mut b) = AliasSignSgd::<f64>::from_json(&text)
        {
            let _ = b.step_flat(&mut x, &[0.1, 0.2, -0.3, 0.0], Some(1.0));
        }
    }
}

/// Checkpoints written before the rename of the outer factors `lr` → `lr_multiplier` still load.
#[test]
fn checkpoints_with_the_old_lr_field_name_load() {
    let mut config = AliasSignSgdConfig::default();
    config.rule.lr_multiplier = 0.5;
    let a = AliasSignSgd::<f64>::new(config, &[2]).unwrap();
    let json = a.to_json().unwrap();
    assert!(json.contains("\"lr_multiplier\":0.5"), "{json}");
    let old = json.replace("\"lr_multiplier\":0.5", "\"lr\":0.5");
    let b = AliasSignSgd::<f64>::from_json(&old).unwrap();
    assert_eq!(b.config().rule.lr_multiplier, 0.5);
    let p = signfree::Prodigy::<f32>::new(
        signfree::ProdigyConfig {
            lr_multiplier: 2.0,
            ..Default::default()
        },
        &[1],
    )
    .unwrap();
    let old = p.to_json().unwrap().replace("\"lr_multiplier\"", "\"lr\"");
    assert_eq!(
        Prodigy::<f32>::from_json(&old)
            .unwrap()
            .config()
            .lr_multiplier,
        2.0
    );
}
