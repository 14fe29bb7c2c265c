//! ALIAS Sign-SGD (Option D, probe start, the paper's defaults) written with candle tensor ops
//! only, straight from `docs/ALGORITHMS.md` §2. It shares no code with `signfree::candle`: the tests use
//! it as an independent reference for the adapter, and the `candle_step` bench as the "pure
//! candle" speed baseline.

use candle_core::{DType, Result, Tensor, Var};

/// The candle-ops ALIAS Option D optimizer. State: `g_{t−1}` and `x_{t−1}` per var, and the
/// scalars `S`, `d̃`, `d`, `γ_{t−1}`.
pub struct OpsAlias {
    vars: Vec<Var>,
    prev_grad: Vec<Tensor>,
    prev_x: Vec<Tensor>,
    smoothness_sum: f64,
    gap_sum: f64,
    gap: f64,
    gamma: f64,
    step: u64,
}

fn scalar(t: Tensor) -> Result<f64> {
    t.to_dtype(DType::F64)?.to_scalar::<f64>()
}

impl OpsAlias {
    pub fn new(vars: Vec<Var>) -> Self {
        Self {
            vars,
            prev_grad: Vec::new(),
            prev_x: Vec::new(),
            smoothness_sum: 0.0,
            gap_sum: 0.0,
            gap: 0.0,
            gamma: 0.0,
            step: 0,
        }
    }

    /// The stepsize of the last step.
    pub fn stepsize(&self) -> f64 {
        self.gamma
    }

    /// One step with the gradients `grads[k]` of `vars[k]` and the loss at the current point.
    pub fn step(&mut self, grads: &[Tensor], loss: f64) -> Result<()> {
        if self.step == 0 {
            // d_0 = 1e-6 f(x_0) (1e-6 if f(x_0) ≤ 0); probe γ_0 = 1e-6 max(1, ‖x_0‖_∞).
            self.gap = if loss > 0.0 { 1e-6 * loss } else { 1e-6 };
            let mut x_inf: f64 = 0.0;
            for v in &self.vars {
                x_inf = x_inf.max(scalar(v.abs()?.flatten_all()?.max(0)?)?);
            }
            self.gamma = 1e-6 * x_inf.max(1.0);
        } else {
            let (mut diff, mut moved, mut dot) = (0.0f64, 0.0f64, 0.0f64);
            for ((v, g), (pg, px)) in self
                .vars
                .iter()
                .zip(grads)
                .zip(self.prev_grad.iter().zip(&self.prev_x))
            {
                let g64 = g.to_dtype(DType::F64)?;
                diff += scalar(g64.sub(&pg.to_dtype(DType::F64)?)?.abs()?.sum_all()?)?;
                let dx = v
                    .to_dtype(DType::F64)?
                    .sub(&px.to_dtype(DType::F64)?)?
                    .abs()?;
                moved = moved.max(scalar(dx.flatten_all()?.max(0)?)?);
                dot += scalar(g64.mul(&pg.sign()?.to_dtype(DType::F64)?)?.sum_all()?)?;
            }
            if moved > 0.0 {
                self.smoothness_sum += diff / moved;
            }
            self.gap_sum += self.gamma * dot;
            self.gap = self.gap.max(self.gap_sum);
            if self.smoothness_sum > 0.0 {
                self.gamma = (self.gap / self.smoothness_sum).sqrt();
            }
        }
        let gamma = self.gamma as f32 as f64;
        self.prev_x = self.vars.iter().map(|v| v.copy()).collect::<Result<_>>()?;
        self.prev_grad = grads.iter().map(|g| g.copy()).collect::<Result<_>>()?;
        for (v, g) in self.vars.iter().zip(grads) {
            v.set(&v.sub(&g.sign()?.affine(gamma, 0.0)?)?)?;
        }
        self.step += 1;
        Ok(())
    }
}
