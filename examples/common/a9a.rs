//! The bundled a9a files as dense `f32` matrices, for the MLP examples (`a9a_mlp` with candle,
//! `burn_mlp` with burn).

use signfree::{Dataset, LibsvmOptions, Storage};

/// Features as a dense `(rows, 123)` f32 matrix and labels in `{0, 1}`.
pub struct Split {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub rows: usize,
}

pub fn load(file: &str) -> Result<Split, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(file);
    let options = LibsvmOptions {
        // The test split never uses feature 123: give the width instead of inferring it.
        n_features: Some(123),
        storage: Storage::Sparse,
    };
    let data = Dataset::from_path(&path, options).map_err(|e| e.to_string())?;
    let (rows, cols) = (data.n_samples(), data.n_features());
    let mut x = vec![0.0f32; rows * cols];
    for i in 0..rows {
        data.features()
            .for_each_in_row(i, |j, v| x[i * cols + j] = v as f32);
    }
    let y = data
        .labels()
        .iter()
        .map(|&l| if l > 0.0 { 1.0 } else { 0.0 })
        .collect();
    Ok(Split { x, y, rows })
}
