//! Checkpoint loading never panics or aborts, and whatever loads steps with arbitrary gradients
//! to a state that its own checkpoint restores (`from_json` → steps → `to_json` → `from_json`),
//! for every checkpointable optimizer in `f32` and `f64`.
//!
//! Input: the first byte picks the optimizer type from the tests' shared list, the next 64 bytes are eight gradient coordinates
//! (`f64`, little-endian, any bit pattern), the rest is the checkpoint text.
#![no_main]

#[macro_use]
#[path = "../../tests/support/methods.rs"]
mod methods;

use libfuzzer_sys::fuzz_target;
use signfree::{Checkpointable, Float};

fn load_step_save_load<F, O>(text: &str, grads: &[f64])
where
    F: Float,
    O: Checkpointable<Element = F>,
    O::State: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Ok(mut o) = O::from_json(text) else { return };
    let layout = o.layout().to_vec();
    if layout.iter().sum::<usize>() > 1 << 12 {
        return;
    }
    let mut x: Vec<Vec<F>> = layout.iter().map(|&n| vec![F::from_f64(0.5); n]).collect();
    for t in 0..3 {
        let mut k = t;
        let g: Vec<Vec<F>> = layout
            .iter()
            .map(|&n| {
                (0..n)
                    .map(|_| {
                        k += 1;
                        F::from_f64(grads[k % grads.len()])
                    })
                    .collect()
            })
            .collect();
        let mut p: Vec<&mut [F]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
        let gs: Vec<&[F]> = g.iter().map(|v| v.as_slice()).collect();
        if o.step(&mut p, &gs, Some(1.0)).is_ok() {
            assert!(x.iter().flatten().all(|v| v.is_finite()), "non-finite parameter");
        }
        let back = O::from_json(&o.to_json().unwrap()).expect("own checkpoint restores");
        assert_eq!(format!("{:?}", back.state()), format!("{:?}", o.state()));
    }
}

/// Counts the entries of the shared list (the built optimizer only names the type).
fn count<O>(_type: O, n: &mut usize) {
    *n += 1;
}

/// Runs the loader of the `k`-th type of the list.
fn nth<F, O>(_type: O, k: &mut usize, text: &str, grads: &[f64])
where
    F: Float,
    O: Checkpointable<Element = F>,
    O::State: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if *k == 0 {
        load_step_save_load::<F, O>(text, grads);
    }
    *k = k.wrapping_sub(1);
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 65 {
        return;
    }
    let grads: Vec<f64> = data[1..65]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let Ok(text) = std::str::from_utf8(&data[65..]) else { return };
    let mut n = 0;
    every_method!(f32, &[], count, &mut n);
    every_method!(f64, &[], count, &mut n);
    let mut k = usize::from(data[0]) % n;
    every_method!(f32, &[], nth, &mut k, text, &grads);
    every_method!(f64, &[], nth, &mut k, text, &grads);
});
