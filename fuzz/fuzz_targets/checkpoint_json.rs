//! Checkpoint loading never panics, and whatever loads can step without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signfree::{AliasSignSgd, Checkpointable, Optimizer, Prodigy};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(mut o) = AliasSignSgd::<f64>::from_json(text) {
        let layout = o.layout().to_vec();
        if layout.iter().sum::<usize>() < 1 << 16 {
            let mut x: Vec<Vec<f64>> = layout.iter().map(|&n| vec![0.5; n]).collect();
            let g: Vec<Vec<f64>> = layout.iter().map(|&n| vec![1.0; n]).collect();
            let mut p: Vec<&mut [f64]> = x.iter_mut().map(|v| v.as_mut_slice()).collect();
            let gs: Vec<&[f64]> = g.iter().map(|v| v.as_slice()).collect();
            let _ = o.step(&mut p, &gs, Some(1.0));
        }
    }
    let _ = Prodigy::<f32>::from_json(text);
});
