//! Checkpoint loading never panics or aborts, and whatever loads steps with arbitrary gradients
//! to a state that its own checkpoint restores (`from_json` → steps → `to_json` → `from_json`),
//! for every checkpointable optimizer in `f32` and `f64`.
//!
//! Input: the first byte picks the optimizer, the next 64 bytes are eight gradient coordinates
//! (`f64`, little-endian, any bit pattern), the rest is the checkpoint text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signfree::{
    AdamLikeCompat, AdamW, AliasAdam, AliasSignSgd, Checkpointable, Float, Optimizer, Prodigy,
    SignSgd,
};

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

fuzz_target!(|data: &[u8]| {
    if data.len() < 65 {
        return;
    }
    let grads: Vec<f64> = data[1..65]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let Ok(text) = std::str::from_utf8(&data[65..]) else { return };
    match data[0] % 12 {
        0 => load_step_save_load::<f32, SignSgd<f32>>(text, &grads),
        1 => load_step_save_load::<f64, SignSgd<f64>>(text, &grads),
        2 => load_step_save_load::<f32, AliasSignSgd<f32>>(text, &grads),
        3 => load_step_save_load::<f64, AliasSignSgd<f64>>(text, &grads),
        4 => load_step_save_load::<f32, AliasAdam<f32>>(text, &grads),
        5 => load_step_save_load::<f64, AliasAdam<f64>>(text, &grads),
        6 => load_step_save_load::<f32, AdamW<f32>>(text, &grads),
        7 => load_step_save_load::<f64, AdamW<f64>>(text, &grads),
        8 => load_step_save_load::<f32, Prodigy<f32>>(text, &grads),
        9 => load_step_save_load::<f64, Prodigy<f64>>(text, &grads),
        10 => load_step_save_load::<f32, AdamLikeCompat<f32>>(text, &grads),
        _ => load_step_save_load::<f64, AdamLikeCompat<f64>>(text, &grads),
    }
});
