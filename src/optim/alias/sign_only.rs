//! ALIAS Sign-SGD with sign-only memory ([`AliasSignSgdConfig::sign_only_memory`]): the
//! previous gradient is kept as 2-bit packed signs and its ℓ1 norm (`docs/ALGORITHMS.md` §2).

use super::*;

impl<F: Float> AliasSignSgd<F> {
    /// A step with sign-only memory (see [`AliasSignSgdConfig::sign_only_memory`]); shapes and loss
    /// are already checked.
    pub(super) fn step_sign_only(
        &mut self,
        params: &mut [&mut [F]],
        grads: &[&[F]],
        reference: Option<&[&[F]]>,
        loss: Option<f64>,
    ) -> Result<StepReport> {
        let t = self.state.step;
        let st = &self.state;
        let kernels = self.kernels;
        // Pass 1: ⟨g_t, sign(g_{t−1})⟩ from the bits, ‖g_t‖_1 and finiteness (bits are zero at
        // t = 0, so the same pass gives ‖g_0‖_1).
        let (mut dot, mut l1, mut finite) = (0.0, 0.0, true);
        for ((g, pos), neg) in grads.iter().zip(&st.prev_pos).zip(&st.prev_neg) {
            let s = kernels.dot_sign_packed_2bit(g, pos, neg);
            dot += s.dot_sign;
            l1 += s.l1;
            finite &= s.finite;
        }
        if !finite {
            check_finite(&self.kernels, grads, t)?;
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
                None => (st.prev_grad_l1 - dot).max(0.0),
            };
            Sample {
                smoothness_numerator,
                move_inf: st.scalars.prev_move,
                gap_increment: st.scalars.prev_stepsize * dot,
            }
        });
        let multiplier = self.lr_multiplier.get();
        let decision = self.config.rule.decide(
            OWNER,
            t,
            &st.scalars,
            sample,
            loss,
            multiplier,
            F::MAX / 2.0,
            || {
                params
                    .iter()
                    .map(|p| kernels.inf_norm(p))
                    .fold(0.0, f64::max)
            },
        )?;
        // Pass 2: the sign step, then the signs of g_t into the bits.
        let gamma = decision.gamma;
        let st = &mut self.state;
        for (((x, g), pos), neg) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut st.prev_pos)
            .zip(&mut st.prev_neg)
        {
            kernels.sign_step(x, g, F::from_f64(gamma), F::ONE);
            kernels.pack_signs_2bit(g, pos, neg);
        }
        st.step = t + 1;
        st.prev_grad_l1 = l1;
        // ‖x_{t+1} − x_t‖_∞ = γ_t whenever some sign is non-zero (no decay in this mode).
        decision.commit(&mut st.scalars, if l1 > 0.0 { gamma } else { 0.0 });
        Ok(decision.report(&self.config.rule, t, kernels.backend()))
    }
}
