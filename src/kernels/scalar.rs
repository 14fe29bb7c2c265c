//! Reference kernels: the semantics every backend reproduces.
//!
//! Conventions (`docs/ALGORITHMS.md` §0):
//! - `sign(+0) = sign(-0) = 0`, `sign(v) = ±1` otherwise; `sign(NaN) = 0` (every comparison with
//!   NaN is false). Optimizers reject non-finite gradients before any kernel runs, so the NaN
//!   rule only matters for direct kernel users.
//! - Updates are evaluated exactly as written, left to right, with no fused multiply-add:
//!   `x ← (x·decay) − γ·sign(g)`; since `γ·sign(g)` is exact, the result is one rounding of the
//!   product and one of the difference, which any backend can reproduce bit for bit.
//! - Reductions accumulate in `f64`, in index order.

use crate::float::Float;

/// `sign(v)` with `sign(±0) = 0` and `sign(NaN) = 0`.
///
/// ```
/// use signfree::kernels::sign;
/// assert_eq!(sign(-0.0_f32), 0.0);
/// assert_eq!(sign(3.5_f64), 1.0);
/// assert_eq!(sign(-1e-300_f64), -1.0);
/// ```
#[inline(always)]
pub fn sign<F: Float>(v: F) -> F {
    if v > F::ZERO {
        F::ONE
    } else if v < F::ZERO {
        -F::ONE
    } else {
        F::ZERO
    }
}

/// Index of the first NaN or infinite element, if any.
pub fn first_non_finite<F: Float>(v: &[F]) -> Option<usize> {
    v.iter().position(|e| !e.is_finite())
}

/// Sign step with decoupled decay: `x[i] ← x[i]·decay − γ·sign(g[i])`.
///
/// With `decay = 1` the product is exact, so this is the plain Sign-SGD step.
///
/// # Panics
/// If `x` and `g` differ in length.
pub fn sign_step<F: Float>(x: &mut [F], g: &[F], gamma: F, decay: F) {
    assert_eq!(x.len(), g.len(), "sign_step: length mismatch");
    for (xi, &gi) in x.iter_mut().zip(g) {
        *xi = *xi * decay - gamma * sign(gi);
    }
}

/// `x[i] ← x[i] + s·g[i]` (no fused multiply-add: the product and the sum each round once).
///
/// Not an optimizer step: the streaming loop with the same memory traffic as [`sign_step`]
/// (read `x` and `g`, write `x`), which the benchmarks use as the memory roofline.
///
/// # Panics
/// If `x` and `g` differ in length.
pub fn axpy<F: Float>(x: &mut [F], g: &[F], s: F) {
    assert_eq!(x.len(), g.len(), "axpy: length mismatch");
    for (xi, &gi) in x.iter_mut().zip(g) {
        *xi = *xi + s * gi;
    }
}

/// Momentum sign step (Signum): `m ← β·m + (1−β)·g`, then `x ← x·decay − γ·sign(m)`.
///
/// `one_minus_beta` is passed in so that the caller rounds `1 − β` once.
///
/// # Panics
/// If the three slices differ in length.
pub fn momentum_sign_step<F: Float>(
    x: &mut [F],
    m: &mut [F],
    g: &[F],
    beta: F,
    one_minus_beta: F,
    gamma: F,
    decay: F,
) {
    assert!(
        x.len() == g.len() && m.len() == g.len(),
        "momentum_sign_step: length mismatch"
    );
    for ((xi, mi), &gi) in x.iter_mut().zip(m.iter_mut()).zip(g) {
        *mi = beta * *mi + one_minus_beta * gi;
        *xi = *xi * decay - gamma * sign(*mi);
    }
}

/// `‖v‖_1` accumulated in `f64`.
pub fn l1_norm<F: Float>(v: &[F]) -> f64 {
    v.iter().map(|e| e.to_f64().abs()).sum()
}

/// `‖v‖_∞` in `f64` (0 for an empty slice).
pub fn inf_norm<F: Float>(v: &[F]) -> f64 {
    v.iter().fold(0.0, |acc, e| acc.max(e.to_f64().abs()))
}

/// The ALIAS statistics of one step, accumulated in `f64` (see [`alias_stats`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AliasStats {
    /// `‖g − prev‖_1`.
    pub diff_l1: f64,
    /// `⟨g, sign(dir)⟩`.
    pub dot_sign: f64,
    /// `false` if any element of `g` is NaN or infinite.
    pub finite: bool,
}

/// One pass computing `‖g − prev‖_1`, `⟨g, sign(dir)⟩` and whether `g` is finite.
///
/// `prev` is the previous gradient (or, in same-sample mode, the previous point's gradient on the
/// current batch); `dir` is what the previous direction was the sign of (`g_{t−1}` for ALIAS,
/// the momentum buffer for ALIAS with momentum). The two may be the same slice.
///
/// # Panics
/// If the slices differ in length.
pub fn alias_stats<F: Float>(g: &[F], prev: &[F], dir: &[F]) -> AliasStats {
    assert!(
        g.len() == prev.len() && g.len() == dir.len(),
        "alias_stats: length mismatch"
    );
    let (mut diff_l1, mut dot_sign, mut finite) = (0.0_f64, 0.0_f64, true);
    for ((&gi, &pi), &di) in g.iter().zip(prev).zip(dir) {
        finite &= gi.is_finite();
        diff_l1 += (gi.to_f64() - pi.to_f64()).abs();
        dot_sign += gi.to_f64() * sign(di).to_f64();
    }
    AliasStats {
        diff_l1,
        dot_sign,
        finite,
    }
}

/// Fused ALIAS update: `x ← x·decay − γ·sign(g)`, `store ← g`; returns `max_i |x_new − x_old|`
/// as `f64`, the `‖x_{t+1} − x_t‖_∞` the next step's smoothness sample divides by.
///
/// Each difference is formed in the element type, like the parameters it measures: exact when
/// `x_new` and `x_old` are within a factor of two of each other (Sterbenz), in particular for
/// every coordinate with `|x_old| ≥ 2γ` when `decay = 1`, and otherwise correctly rounded, so
/// within half an ulp of the exact move (the Adam family's kernels measure their moves the same
/// way).
///
/// # Panics
/// If the slices differ in length.
pub fn sign_step_store<F: Float>(x: &mut [F], g: &[F], store: &mut [F], gamma: F, decay: F) -> f64 {
    assert!(
        x.len() == g.len() && store.len() == g.len(),
        "sign_step_store: length mismatch"
    );
    let mut moved = 0.0_f64;
    for ((xi, &gi), si) in x.iter_mut().zip(g).zip(store.iter_mut()) {
        let old = *xi;
        *xi = old * decay - gamma * sign(gi);
        *si = gi;
        moved = moved.max((*xi - old).abs().to_f64());
    }
    moved
}

/// Fused ALIAS update with momentum: `m ← β·m + (1−β)·g`, `x ← x·decay − γ·sign(m)`,
/// `store ← g`; returns `max_i |x_new − x_old|` as `f64`, each difference formed in the element
/// type as in [`sign_step_store`].
///
/// # Panics
/// If the slices differ in length.
#[allow(clippy::too_many_arguments)]
pub fn momentum_sign_step_store<F: Float>(
    x: &mut [F],
    m: &mut [F],
    g: &[F],
    store: &mut [F],
    beta: F,
    one_minus_beta: F,
    gamma: F,
    decay: F,
) -> f64 {
    assert!(
        x.len() == g.len() && m.len() == g.len() && store.len() == g.len(),
        "momentum_sign_step_store: length mismatch"
    );
    let mut moved = 0.0_f64;
    for (((xi, mi), &gi), si) in x.iter_mut().zip(m.iter_mut()).zip(g).zip(store.iter_mut()) {
        let old = *xi;
        *mi = beta * *mi + one_minus_beta * gi;
        *xi = old * decay - gamma * sign(*mi);
        *si = gi;
        moved = moved.max((*xi - old).abs().to_f64());
    }
    moved
}

/// `⟨g, sign⟩` against a packed sign vector, with `‖g‖_1` and finiteness, all from one pass
/// (see [`dot_sign_packed_2bit`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignDot {
    /// `⟨g, s⟩` where `s ∈ {−1, 0, +1}^n` is the unpacked sign vector.
    pub dot_sign: f64,
    /// `‖g‖_1`.
    pub l1: f64,
    /// `false` if any element of `g` is NaN or infinite.
    pub finite: bool,
}

/// How many `u64` words hold one bit for each of `n` coordinates: `⌈n / 64⌉`.
///
/// Coordinate `i` lives in bit `i % 64` (least significant first) of word `i / 64`; the bits of
/// the last word past `n` are zero in everything the pack kernels write and ignored on input.
pub const fn packed_words(n: usize) -> usize {
    n.div_ceil(64)
}

#[inline(always)]
fn bit(words: &[u64], i: usize) -> bool {
    words[i / 64] >> (i % 64) & 1 == 1
}

/// The 2-bit sign code of coordinate `i`, as `+1`, `−1` or `0` (`pos` and `neg` both set reads
/// as `0`: the code is `pos − neg`).
#[inline(always)]
fn sign_code(pos: &[u64], neg: &[u64], i: usize) -> i32 {
    i32::from(bit(pos, i)) - i32::from(bit(neg, i))
}

#[inline(always)]
fn from_code<F: Float>(c: i32) -> F {
    match c {
        1 => F::ONE,
        -1 => -F::ONE,
        _ => F::ZERO,
    }
}

/// Packs `g > 0` into one bit per coordinate.
///
/// **1-bit convention:** the bit is 1 iff `g[i] > 0`; zero (either sign), negative values and NaN
/// all give 0, so `sign = 0` does not survive. Use [`pack_signs_2bit`] when it must.
///
/// # Panics
/// If `out.len() != packed_words(g.len())`.
pub fn pack_signs_1bit<F: Float>(g: &[F], out: &mut [u64]) {
    assert_eq!(
        out.len(),
        packed_words(g.len()),
        "pack_signs_1bit: length mismatch"
    );
    for (w, chunk) in out.iter_mut().zip(g.chunks(64)) {
        *w = chunk
            .iter()
            .enumerate()
            .fold(0, |acc, (j, &v)| acc | (u64::from(v > F::ZERO) << j));
    }
}

/// Unpacks 1-bit signs to `±1`: bit 1 → `+1`, bit 0 → `−1` (the 1-bit code has no zero).
///
/// # Panics
/// If `bits.len() != packed_words(out.len())`.
pub fn unpack_signs_1bit<F: Float>(bits: &[u64], out: &mut [F]) {
    assert_eq!(
        bits.len(),
        packed_words(out.len()),
        "unpack_signs_1bit: length mismatch"
    );
    for (i, o) in out.iter_mut().enumerate() {
        *o = if bit(bits, i) { F::ONE } else { -F::ONE };
    }
}

/// Packs `sign(g)` into two bit planes that keep `0` distinct: `pos` has bit `i` set iff
/// `g[i] > 0`, `neg` iff `g[i] < 0`; `±0` and NaN set neither (`sign(NaN) = 0`).
///
/// # Panics
/// If `pos` or `neg` is not `packed_words(g.len())` long.
pub fn pack_signs_2bit<F: Float>(g: &[F], pos: &mut [u64], neg: &mut [u64]) {
    let words = packed_words(g.len());
    assert!(
        pos.len() == words && neg.len() == words,
        "pack_signs_2bit: length mismatch"
    );
    for ((p, n), chunk) in pos.iter_mut().zip(neg.iter_mut()).zip(g.chunks(64)) {
        let (mut pw, mut nw) = (0_u64, 0_u64);
        for (j, &v) in chunk.iter().enumerate() {
            pw |= u64::from(v > F::ZERO) << j;
            nw |= u64::from(v < F::ZERO) << j;
        }
        (*p, *n) = (pw, nw);
    }
}

/// [`sign_step`] and [`pack_signs_2bit`] of the same `g` in one pass: `x[i] ← x[i]·decay −
/// γ·sign(g[i])`, and the 2-bit code of `sign(g)` into `pos`/`neg` (sign-only-memory ALIAS keeps
/// the signs of the gradient it steps with).
///
/// # Panics
/// If `x` and `g` differ in length, or `pos` or `neg` is not `packed_words(g.len())` long.
pub fn sign_step_pack_2bit<F: Float>(
    x: &mut [F],
    g: &[F],
    pos: &mut [u64],
    neg: &mut [u64],
    gamma: F,
    decay: F,
) {
    sign_step(x, g, gamma, decay);
    pack_signs_2bit(g, pos, neg);
}

/// Unpacks 2-bit signs to `+1`, `−1` or `0` (the value is `pos_bit − neg_bit`).
///
/// # Panics
/// If `pos` or `neg` is not `packed_words(out.len())` long.
pub fn unpack_signs_2bit<F: Float>(pos: &[u64], neg: &[u64], out: &mut [F]) {
    let words = packed_words(out.len());
    assert!(
        pos.len() == words && neg.len() == words,
        "unpack_signs_2bit: length mismatch"
    );
    for (i, o) in out.iter_mut().enumerate() {
        *o = from_code(sign_code(pos, neg, i));
    }
}

/// One pass computing `⟨g, s⟩`, `‖g‖_1` and whether `g` is finite, where `s` is the 2-bit packed
/// sign vector (`pos_bit − neg_bit`): the statistics of the sign-only-memory ALIAS step
/// (`docs/ALGORITHMS.md` §5), which keeps `sign(g_{t−1})` as bits instead of `g_{t−1}`.
///
/// Each term is `g[i]·s[i]` evaluated in `f64` (so `±∞·0` gives NaN, as in [`alias_stats`]).
///
/// # Panics
/// If `pos` or `neg` is not `packed_words(g.len())` long.
pub fn dot_sign_packed_2bit<F: Float>(g: &[F], pos: &[u64], neg: &[u64]) -> SignDot {
    let words = packed_words(g.len());
    assert!(
        pos.len() == words && neg.len() == words,
        "dot_sign_packed_2bit: length mismatch"
    );
    let (mut dot_sign, mut l1, mut finite) = (0.0_f64, 0.0_f64, true);
    for (i, &gi) in g.iter().enumerate() {
        finite &= gi.is_finite();
        dot_sign += gi.to_f64() * f64::from(sign_code(pos, neg, i));
        l1 += gi.to_f64().abs();
    }
    SignDot {
        dot_sign,
        l1,
        finite,
    }
}

/// Majority vote, step 1: `counts[i] += sign(g[i])` (one worker's vote from its gradient).
///
/// Counts wrap on `i32` overflow, which needs more than `2^31 − 1` votes.
///
/// # Panics
/// If the slices differ in length.
pub fn accumulate_signs<F: Float>(g: &[F], counts: &mut [i32]) {
    assert_eq!(g.len(), counts.len(), "accumulate_signs: length mismatch");
    for (c, &v) in counts.iter_mut().zip(g) {
        *c = c.wrapping_add(i32::from(v > F::ZERO) - i32::from(v < F::ZERO));
    }
}

/// Majority vote, step 1 from packed 2-bit signs: `counts[i] += pos_bit − neg_bit`.
///
/// # Panics
/// If `pos` or `neg` is not `packed_words(counts.len())` long.
pub fn accumulate_signs_2bit(pos: &[u64], neg: &[u64], counts: &mut [i32]) {
    let words = packed_words(counts.len());
    assert!(
        pos.len() == words && neg.len() == words,
        "accumulate_signs_2bit: length mismatch"
    );
    for (i, c) in counts.iter_mut().enumerate() {
        *c = c.wrapping_add(sign_code(pos, neg, i));
    }
}

/// Majority vote, step 1 from packed 1-bit signs: `counts[i] += 2·bit − 1` (`±1`, the 1-bit
/// convention of [`unpack_signs_1bit`]).
///
/// # Panics
/// If `bits.len() != packed_words(counts.len())`.
pub fn accumulate_signs_1bit(bits: &[u64], counts: &mut [i32]) {
    assert_eq!(
        bits.len(),
        packed_words(counts.len()),
        "accumulate_signs_1bit: length mismatch"
    );
    for (i, c) in counts.iter_mut().enumerate() {
        *c = c.wrapping_add(if bit(bits, i) { 1 } else { -1 });
    }
}

/// Majority vote, step 2: `out[i] = sign(counts[i])` as `+1`, `−1` or `0` (**a tie gives 0**).
///
/// # Panics
/// If the slices differ in length.
pub fn vote_from_counts<F: Float>(counts: &[i32], out: &mut [F]) {
    assert_eq!(counts.len(), out.len(), "vote_from_counts: length mismatch");
    for (o, &c) in out.iter_mut().zip(counts) {
        *o = from_code(c.signum());
    }
}

/// Majority vote, step 2, packed: the 2-bit code of `sign(counts[i])` (a tie sets neither bit).
///
/// # Panics
/// If `pos` or `neg` is not `packed_words(counts.len())` long.
pub fn vote_from_counts_2bit(counts: &[i32], pos: &mut [u64], neg: &mut [u64]) {
    let words = packed_words(counts.len());
    assert!(
        pos.len() == words && neg.len() == words,
        "vote_from_counts_2bit: length mismatch"
    );
    for ((p, n), chunk) in pos.iter_mut().zip(neg.iter_mut()).zip(counts.chunks(64)) {
        let (mut pw, mut nw) = (0_u64, 0_u64);
        for (j, &c) in chunk.iter().enumerate() {
            pw |= u64::from(c > 0) << j;
            nw |= u64::from(c < 0) << j;
        }
        (*p, *n) = (pw, nw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_of_special_values() {
        assert_eq!(sign(0.0_f32).to_bits(), 0.0_f32.to_bits());
        assert_eq!(sign(-0.0_f32), 0.0);
        assert_eq!(sign(f32::NAN), 0.0);
        assert_eq!(sign(f64::INFINITY), 1.0);
        assert_eq!(sign(f64::NEG_INFINITY), -1.0);
        assert_eq!(sign(f32::from_bits(1)), 1.0); // smallest subnormal
        assert_eq!(sign(-f64::from_bits(1)), -1.0);
    }

    #[test]
    fn sign_step_by_hand() {
        let mut x = [1.0_f64, -2.0, 0.5, 3.0];
        let g = [0.3, -0.0, -7.0, 0.0];
        sign_step(&mut x, &g, 0.25, 1.0);
        assert_eq!(x, [0.75, -2.0, 0.75, 3.0]);
        // With decay 1 − γ·wd = 0.9: x·0.9 − γ·sign(g).
        let mut x = [1.0_f64, -2.0];
        sign_step(&mut x, &[1.0, 1.0], 0.5, 0.9);
        assert_eq!(x, [1.0 * 0.9 - 0.5, -2.0 * 0.9 - 0.5]);
    }

    #[test]
    fn momentum_by_hand() {
        let mut x = [0.0_f32, 0.0];
        let mut m = [1.0_f32, -1.0];
        // β = 0.5: m = 0.5·m + 0.5·g = [0.5 + 0.5·(-3), -0.5 + 0.5·0.5] = [-1, -0.25].
        momentum_sign_step(&mut x, &mut m, &[-3.0, 0.5], 0.5, 0.5, 0.1, 1.0);
        assert_eq!(m, [-1.0, -0.25]);
        assert_eq!(x, [0.1, 0.1]);
    }

    #[test]
    fn alias_kernels_by_hand() {
        let g = [1.0_f64, -2.0, 0.0, 4.0];
        let prev = [0.5_f64, -2.0, 1.0, -1.0];
        // ‖g − prev‖_1 = 0.5 + 0 + 1 + 5; ⟨g, sign(prev)⟩ = 1·1 + (−2)(−1) + 0 + 4·(−1).
        let s = alias_stats(&g, &prev, &prev);
        assert_eq!(
            s,
            AliasStats {
                diff_l1: 6.5,
                dot_sign: -1.0,
                finite: true
            }
        );
        assert!(!alias_stats(&[f64::NAN], &[0.0], &[0.0]).finite);
        assert!(!alias_stats(&[f32::NEG_INFINITY], &[0.0], &[0.0]).finite);

        let mut x = [1.0_f64, 1.0, 1.0, 1.0];
        let mut store = [9.0; 4];
        let moved = sign_step_store(&mut x, &g, &mut store, 0.25, 0.5);
        assert_eq!(x, [0.25, 0.75, 0.5, 0.25]);
        assert_eq!(store, g);
        assert_eq!(moved, 0.75);

        let (mut x, mut m, mut store) = ([0.0_f32; 2], [1.0_f32, 1.0], [0.0_f32; 2]);
        let moved =
            momentum_sign_step_store(&mut x, &mut m, &[-3.0, 0.0], &mut store, 0.5, 0.5, 0.5, 1.0);
        assert_eq!(
            (x, m, store, moved),
            ([0.5, -0.5], [-1.0, 0.5], [-3.0, 0.0], 0.5)
        );
    }

    #[test]
    fn norms() {
        assert_eq!(l1_norm(&[1.0_f32, -2.5, 0.0]), 3.5);
        assert_eq!(inf_norm(&[1.0_f64, -2.5, 0.0]), 2.5);
        assert_eq!(inf_norm::<f64>(&[]), 0.0);
        assert_eq!(
            first_non_finite(&[1.0_f32, f32::INFINITY, f32::NAN]),
            Some(1)
        );
        assert_eq!(first_non_finite(&[1.0_f32]), None);
    }

    #[test]
    fn packing_and_votes_by_hand() {
        let g = [1.0_f32, -0.0, -2.0, 0.0, f32::NAN, 3.0];
        let mut one = [0_u64];
        pack_signs_1bit(&g, &mut one);
        assert_eq!(one, [0b100001]);
        let (mut pos, mut neg) = ([0_u64], [0_u64]);
        pack_signs_2bit(&g, &mut pos, &mut neg);
        assert_eq!((pos, neg), ([0b100001], [0b000100]));
        let mut back = [9.0_f32; 6];
        unpack_signs_2bit(&pos, &neg, &mut back);
        assert_eq!(back, [1.0, 0.0, -1.0, 0.0, 0.0, 1.0]);
        unpack_signs_1bit(&one, &mut back);
        assert_eq!(back, [1.0, -1.0, -1.0, -1.0, -1.0, 1.0]);
        let d = dot_sign_packed_2bit(&[2.0_f64, 5.0, 1.0, 7.0, 0.0, -1.0], &pos, &neg);
        // 2·1 + 5·0 + 1·(−1) + 7·0 + 0·0 + (−1)·1 = 0; ‖g‖_1 = 16.
        assert_eq!((d.dot_sign, d.l1, d.finite), (0.0, 16.0, true));

        // Three voters on four coordinates: a 2–1 win each way, a 1–1 tie, all zero.
        let mut counts = [0_i32; 4];
        accumulate_signs(&[1.0_f32, -1.0, 1.0, 0.0], &mut counts);
        accumulate_signs(&[1.0_f32, -1.0, -1.0, 0.0], &mut counts);
        accumulate_signs(&[-1.0_f32, 1.0, 0.0, -0.0], &mut counts);
        assert_eq!(counts, [1, -1, 0, 0]);
        let mut v = [9.0_f64; 4];
        vote_from_counts(&counts, &mut v);
        assert_eq!(v, [1.0, -1.0, 0.0, 0.0]);
        vote_from_counts_2bit(&counts, &mut pos, &mut neg);
        assert_eq!((pos, neg), ([0b0001], [0b0010]));
        accumulate_signs_2bit(&pos, &neg, &mut counts);
        assert_eq!(counts, [2, -2, 0, 0]);
        accumulate_signs_1bit(&[0b0101], &mut counts);
        assert_eq!(counts, [3, -3, 1, -1]);
    }
}
