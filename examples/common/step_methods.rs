//! The optimizers whose `Optimizer::step` the `step_summary` example and the `step` bench time,
//! with the memory traffic each step's contract needs (included with `#[path]` by both).

use signfree::research::{DistanceSign, DistanceSignConfig};
use signfree::{
    AdamW, AdamWConfig, AliasAdam, AliasAdamConfig, AliasMemory, AliasSignSgd, AliasSignSgdConfig,
    Optimizer, Prodigy, ProdigyConfig, SignSgd, SignSgdConfig,
};

/// One row: the name, the bytes per `f32` element a step must move, and a constructor for
/// one tensor of `n` elements stepped on `threads` threads.
///
/// The bytes count the state read and written once, `x` read and written, and `g` read as
/// often as the method must: twice when the step first checks `g` for NaN/inf (and, in the Adam
/// family, for values whose square would overflow) in a pass of its own — a step either
/// succeeds or changes nothing, so that check must finish before the first write — and twice
/// in ALIAS, whose stepsize depends on statistics of all of `g` (its check rides along with
/// them).
pub struct StepMethod {
    pub name: &'static str,
    pub bytes: f64,
    pub build: fn(usize, usize) -> Box<dyn Optimizer<f32>>,
}

pub fn step_methods() -> Vec<StepMethod> {
    vec![
        StepMethod {
            // check g (4), read x, g (8), write x (4)
            name: "SignSgd",
            bytes: 16.0,
            build: |n, t| {
                Box::new(
                    SignSgd::new(SignSgdConfig::default(), &[n])
                        .unwrap()
                        .with_threads(t),
                )
            },
        },
        StepMethod {
            // check g (4), read x, m, g (12), write x, m (8)
            name: "Signum (momentum 0.9)",
            bytes: 24.0,
            build: |n, t| {
                let c = SignSgdConfig {
                    momentum: Some(0.9),
                    ..Default::default()
                };
                Box::new(SignSgd::new(c, &[n]).unwrap().with_threads(t))
            },
        },
        StepMethod {
            // statistics: read g, g_prev (8); update: read x, g (8), write x, g_prev (8)
            name: "AliasSignSgd",
            bytes: 24.0,
            build: |n, t| {
                Box::new(
                    AliasSignSgd::new(AliasSignSgdConfig::default(), &[n])
                        .unwrap()
                        .with_threads(t),
                )
            },
        },
        StepMethod {
            // statistics: read g and 2 bits (4.25); update: read x, g (8), write x and 2 bits
            // (4.25)
            name: "ALIAS sign-only memory",
            bytes: 16.5,
            build: |n, t| {
                let c = AliasSignSgdConfig {
                    memory: AliasMemory::SignOnly,
                    ..Default::default()
                };
                Box::new(AliasSignSgd::new(c, &[n]).unwrap().with_threads(t))
            },
        },
        StepMethod {
            // statistics: read g, g_prev, m, v (16); update: read x, m, v, g (16), write x, m,
            // v, g_prev (16)
            name: "AliasAdam",
            bytes: 48.0,
            build: |n, t| {
                Box::new(
                    AliasAdam::new(AliasAdamConfig::default(), &[n])
                        .unwrap()
                        .with_threads(t),
                )
            },
        },
        StepMethod {
            // check g (4), read x, m, v, g (16), write x, m, v (12)
            name: "AdamW",
            bytes: 32.0,
            build: |n, t| {
                Box::new(
                    AdamW::new(AdamWConfig::default(), &[n])
                        .unwrap()
                        .with_threads(t),
                )
            },
        },
        StepMethod {
            // check g (4), read x, m, v, s, x0, g (24), write x, m, v, s (16)
            name: "Prodigy",
            bytes: 44.0,
            build: |n, t| {
                Box::new(
                    Prodigy::new(ProdigyConfig::default(), &[n])
                        .unwrap()
                        .with_threads(t),
                )
            },
        },
        StepMethod {
            // check g (4), read x, m, z, g (16), write x, m, z (12)
            name: "R5 DistanceSign (research)",
            bytes: 32.0,
            build: |n, t| {
                Box::new(
                    DistanceSign::new(DistanceSignConfig::default(), &[n])
                        .unwrap()
                        .with_threads(t),
                )
            },
        },
    ]
}

/// Deterministic starting point and centre of the quadratic `½‖x − c‖²` for `n` elements.
pub fn quadratic(n: usize) -> (Vec<f32>, Vec<f32>) {
    let x = (0..n).map(|i| (i % 97) as f32 * 0.01).collect();
    let c = (0..n)
        .map(|i| ((i * 7919) % 13) as f32 - 6.0 + 0.25)
        .collect();
    (x, c)
}

/// The gradient `x − c` of the quadratic, written into `g`. Each timed step gets the gradient
/// at its own `x`: gradients that do not match the moves drive the adaptive stepsizes into
/// subnormal numbers, whose arithmetic is many times slower.
pub fn gradient(x: &[f32], c: &[f32], g: &mut [f32]) {
    for ((gi, xi), ci) in g.iter_mut().zip(x).zip(c) {
        *gi = xi - ci;
    }
}
