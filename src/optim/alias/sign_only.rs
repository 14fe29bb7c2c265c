//! ALIAS Sign-SGD with sign-only memory ([`AliasMemory::SignOnly`]): the previous gradient is
//! kept as 2-bit packed signs and its ℓ1 norm (`docs/ALGORITHMS.md` §5).

use super::*;

impl Core<'_> {
    /// A step with sign-only memory (see [`AliasMemory::SignOnly`]).
    pub(super) fn step_sign_only<F: Float>(
        self,
        mem: &mut AliasSignMemory,
        params: &mut [&mut [F]],
        input: Input<'_, F>,
    ) -> Result<StepReport> {
        let Input {
            grads,
            reference,
            loss,
        } = input;
        let t = *self.step;
        let kernels = self.kernels;
        // Pass 1: ⟨g_t, sign(g_{t−1})⟩ from the bits, ‖g_t‖_1 and finiteness (bits are zero at
        // t = 0, so the same pass gives ‖g_0‖_1).
        let (mut dot, mut l1, mut finite) = (0.0, 0.0, true);
        for ((g, pos), neg) in grads.iter().zip(&mem.pos).zip(&mem.neg) {
            let s = kernels.dot_sign_packed_2bit(g, pos, neg);
            dot += s.dot_sign;
            l1 += s.l1;
            finite &= s.finite;
        }
        if !finite {
            check_finite(&kernels, grads, t)?;
        }
        // ‖g_t‖_1 is kept in the state: it must not overflow (f64 gradients near f64::MAX).
        check_step_value(t, "ALIAS ‖g‖_1", l1, f64::MAX)?;
        check_step_value(t, "ALIAS ⟨g, sign(g_prev)⟩", dot.abs(), f64::MAX)?;
        let sample = (t > 0).then(|| {
            let smoothness_numerator = match reference {
                // Same-sample mode compares with the previous point's gradient directly.
                Some(r) => grads
                    .iter()
                    .zip(r)
                    .map(|(g, h)| kernels.alias_stats(g, h, h).diff_l1)
                    .sum(),
                None => (mem.grad_l1 - dot).max(0.0),
            };
            Sample {
                smoothness_numerator,
                move_inf: self.scalars.prev_move,
                gap_increment: self.scalars.prev_stepsize * dot,
            }
        });
        let decision = self.decide(sample, params, loss)?;
        // Pass 2: the sign step, storing the signs of g_t into the bits as it goes.
        let gamma = decision.gamma;
        for (((x, g), pos), neg) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut mem.pos)
            .zip(&mut mem.neg)
        {
            kernels.sign_step_pack_2bit(x, g, pos, neg, F::from_f64(gamma), F::ONE);
        }
        *self.step = t + 1;
        mem.grad_l1 = l1;
        // ‖x_{t+1} − x_t‖_∞ = γ_t whenever some sign is non-zero (no decay in this mode).
        decision.commit(self.scalars, if l1 > 0.0 { gamma } else { 0.0 });
        Ok(decision.report(&self.config.rule, t, kernels.backend()))
    }
}
