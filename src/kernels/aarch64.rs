//! aarch64 backend: NEON kernels for `f32` and `f64`.
//!
//! Same layout as the x86-64 module, kept deliberately small: a [`Simd`] vocabulary implemented
//! for [`NeonF32`] and [`NeonF64`], the update and statistics kernels written once over it, and
//! safe entry points on the [`Neon`] detection token. The bit-packing and vote kernels keep the
//! scalar reference (the [`ArchKernels`] defaults) on this architecture.
//!
//! NEON arithmetic on aarch64 is IEEE-754 with subnormals (Linux leaves `FPCR.FZ` clear), and
//! LLVM does not fuse separate multiply and subtract intrinsics, so the updates match the
//! reference bit for bit. Maxima use `FMAXNM`, which, like `f64::max`, ignores a NaN operand.

use core::arch::aarch64::*;

use super::scalar::{self, AliasStats};
use super::{ArchCounts, ArchKernels};

/// Proof that this CPU runs NEON. Only [`Neon::detect`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Neon(());

impl Neon {
    /// `Some` iff the CPU reports NEON (every aarch64 Linux CPU does).
    pub(crate) fn detect() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Self(()))
    }
}

/// Vector operations for one element type.
///
/// # Safety
/// Every method requires NEON, and every pointer argument must be valid for reading (or, for
/// stores, writing) `LANES` elements.
trait Simd: Copy {
    type E: crate::float::Float;
    type V: Copy;
    /// `f64` accumulators for `LANES` lanes.
    type Acc: Copy;
    const LANES: usize;

    unsafe fn splat(e: Self::E) -> Self::V;
    unsafe fn load(p: *const Self::E) -> Self::V;
    unsafe fn store(p: *mut Self::E, v: Self::V);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `±1`, and `+0` for `±0` and NaN.
    unsafe fn sign(v: Self::V) -> Self::V;
    /// Whether any lane is NaN or infinite.
    unsafe fn any_non_finite(v: Self::V) -> bool;
    /// `max(|v|, acc)`, ignoring a NaN `|v|`.
    unsafe fn max_abs(acc: Self::V, v: Self::V) -> Self::V;
    /// The largest lane in `f64` (lanes are never NaN).
    unsafe fn hmax(v: Self::V) -> f64;
    unsafe fn acc_zero() -> Self::Acc;
    /// `acc + f64(v)`.
    unsafe fn acc_add(acc: Self::Acc, v: Self::V) -> Self::Acc;
    /// `acc + |f64(a) − f64(b)|`.
    unsafe fn acc_add_abs_diff(acc: Self::Acc, a: Self::V, b: Self::V) -> Self::Acc;
    /// `max(|f64(a) − f64(b)|, acc)`, ignoring NaN differences.
    unsafe fn acc_max_abs_diff(acc: Self::Acc, a: Self::V, b: Self::V) -> Self::Acc;
    /// The sum of the lanes in a fixed order.
    unsafe fn acc_sum(acc: Self::Acc) -> f64;
    /// The largest lane.
    unsafe fn acc_max(acc: Self::Acc) -> f64;
}

/// NEON, `f32`.
#[derive(Clone, Copy)]
struct NeonF32;
/// NEON, `f64`.
#[derive(Clone, Copy)]
struct NeonF64;

/// The four `f32` lanes as two vectors of two `f64` (exact).
///
/// # Safety
/// Requires NEON.
#[inline(always)]
unsafe fn widen(v: float32x4_t) -> (float64x2_t, float64x2_t) {
    // SAFETY: NEON is available (contract).
    unsafe { (vcvt_f64_f32(vget_low_f32(v)), vcvt_high_f64_f32(v)) }
}

/// `|a − b|` for two `f64` lanes.
///
/// # Safety
/// Requires NEON.
#[inline(always)]
unsafe fn abs_diff64(a: float64x2_t, b: float64x2_t) -> float64x2_t {
    // SAFETY: NEON is available (contract). `vabsq(vsubq)` rounds the difference once, as the
    // reference does (`vabdq` would too, but this spells out the reference's two steps).
    unsafe { vabsq_f64(vsubq_f64(a, b)) }
}

/// `l0 + l1`.
///
/// # Safety
/// Requires NEON.
#[inline(always)]
unsafe fn sum64(v: float64x2_t) -> f64 {
    // SAFETY: NEON is available (contract).
    unsafe { vgetq_lane_f64::<0>(v) + vgetq_lane_f64::<1>(v) }
}

impl Simd for NeonF32 {
    type E = f32;
    type V = float32x4_t;
    type Acc = (float64x2_t, float64x2_t);
    const LANES: usize = 4;

    #[inline(always)]
    unsafe fn splat(e: f32) -> float32x4_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vdupq_n_f32(e) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        // SAFETY: the trait contract (NEON; `p` valid for 4 reads).
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: float32x4_t) {
        // SAFETY: the trait contract (NEON; `p` valid for 4 writes).
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn sign(v: float32x4_t) -> float32x4_t {
        // SAFETY: the trait contract (NEON).
        unsafe {
            let z = vdupq_n_f32(0.0);
            let one = vreinterpretq_u32_f32(vdupq_n_f32(1.0));
            let minus_one = vreinterpretq_u32_f32(vdupq_n_f32(-1.0));
            let pos = vandq_u32(vcgtq_f32(v, z), one);
            let neg = vandq_u32(vcltq_f32(v, z), minus_one);
            vreinterpretq_f32_u32(vorrq_u32(pos, neg))
        }
    }
    #[inline(always)]
    unsafe fn any_non_finite(v: float32x4_t) -> bool {
        // SAFETY: the trait contract (NEON). `|v| < ∞` is false exactly for ±∞ and NaN.
        unsafe { vmaxvq_u32(vmvnq_u32(vcaltq_f32(v, vdupq_n_f32(f32::INFINITY)))) != 0 }
    }
    #[inline(always)]
    unsafe fn max_abs(acc: float32x4_t, v: float32x4_t) -> float32x4_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vmaxnmq_f32(vabsq_f32(v), acc) }
    }
    #[inline(always)]
    unsafe fn hmax(v: float32x4_t) -> f64 {
        // SAFETY: the trait contract (NEON).
        unsafe { f64::from(vmaxnmvq_f32(v)) }
    }
    #[inline(always)]
    unsafe fn acc_zero() -> Self::Acc {
        // SAFETY: the trait contract (NEON).
        unsafe { (vdupq_n_f64(0.0), vdupq_n_f64(0.0)) }
    }
    #[inline(always)]
    unsafe fn acc_add(acc: Self::Acc, v: float32x4_t) -> Self::Acc {
        // SAFETY: the trait contract (NEON).
        unsafe {
            let (lo, hi) = widen(v);
            (vaddq_f64(acc.0, lo), vaddq_f64(acc.1, hi))
        }
    }
    #[inline(always)]
    unsafe fn acc_add_abs_diff(acc: Self::Acc, a: float32x4_t, b: float32x4_t) -> Self::Acc {
        // SAFETY: the trait contract (NEON).
        unsafe {
            let ((alo, ahi), (blo, bhi)) = (widen(a), widen(b));
            (
                vaddq_f64(acc.0, abs_diff64(alo, blo)),
                vaddq_f64(acc.1, abs_diff64(ahi, bhi)),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_max_abs_diff(acc: Self::Acc, a: float32x4_t, b: float32x4_t) -> Self::Acc {
        // SAFETY: the trait contract (NEON).
        unsafe {
            let ((alo, ahi), (blo, bhi)) = (widen(a), widen(b));
            (
                vmaxnmq_f64(abs_diff64(alo, blo), acc.0),
                vmaxnmq_f64(abs_diff64(ahi, bhi), acc.1),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_sum(acc: Self::Acc) -> f64 {
        // SAFETY: the trait contract (NEON).
        unsafe { sum64(vaddq_f64(acc.0, acc.1)) }
    }
    #[inline(always)]
    unsafe fn acc_max(acc: Self::Acc) -> f64 {
        // SAFETY: the trait contract (NEON).
        unsafe { vmaxnmvq_f64(vmaxnmq_f64(acc.0, acc.1)) }
    }
}

impl Simd for NeonF64 {
    type E = f64;
    type V = float64x2_t;
    type Acc = float64x2_t;
    const LANES: usize = 2;

    #[inline(always)]
    unsafe fn splat(e: f64) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vdupq_n_f64(e) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> float64x2_t {
        // SAFETY: the trait contract (NEON; `p` valid for 2 reads).
        unsafe { vld1q_f64(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: float64x2_t) {
        // SAFETY: the trait contract (NEON; `p` valid for 2 writes).
        unsafe { vst1q_f64(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: float64x2_t, b: float64x2_t) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vaddq_f64(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: float64x2_t, b: float64x2_t) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vsubq_f64(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: float64x2_t, b: float64x2_t) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vmulq_f64(a, b) }
    }
    #[inline(always)]
    unsafe fn sign(v: float64x2_t) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe {
            let z = vdupq_n_f64(0.0);
            let one = vreinterpretq_u64_f64(vdupq_n_f64(1.0));
            let minus_one = vreinterpretq_u64_f64(vdupq_n_f64(-1.0));
            let pos = vandq_u64(vcgtq_f64(v, z), one);
            let neg = vandq_u64(vcltq_f64(v, z), minus_one);
            vreinterpretq_f64_u64(vorrq_u64(pos, neg))
        }
    }
    #[inline(always)]
    unsafe fn any_non_finite(v: float64x2_t) -> bool {
        // SAFETY: the trait contract (NEON). `|v| < ∞` is false exactly for ±∞ and NaN.
        unsafe {
            let finite = vreinterpretq_u32_u64(vcaltq_f64(v, vdupq_n_f64(f64::INFINITY)));
            vmaxvq_u32(vmvnq_u32(finite)) != 0
        }
    }
    #[inline(always)]
    unsafe fn max_abs(acc: float64x2_t, v: float64x2_t) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vmaxnmq_f64(vabsq_f64(v), acc) }
    }
    #[inline(always)]
    unsafe fn hmax(v: float64x2_t) -> f64 {
        // SAFETY: the trait contract (NEON).
        unsafe { vmaxnmvq_f64(v) }
    }
    #[inline(always)]
    unsafe fn acc_zero() -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vdupq_n_f64(0.0) }
    }
    #[inline(always)]
    unsafe fn acc_add(acc: float64x2_t, v: float64x2_t) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vaddq_f64(acc, v) }
    }
    #[inline(always)]
    unsafe fn acc_add_abs_diff(acc: float64x2_t, a: float64x2_t, b: float64x2_t) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vaddq_f64(acc, abs_diff64(a, b)) }
    }
    #[inline(always)]
    unsafe fn acc_max_abs_diff(acc: float64x2_t, a: float64x2_t, b: float64x2_t) -> float64x2_t {
        // SAFETY: the trait contract (NEON).
        unsafe { vmaxnmq_f64(abs_diff64(a, b), acc) }
    }
    #[inline(always)]
    unsafe fn acc_sum(acc: float64x2_t) -> f64 {
        // SAFETY: the trait contract (NEON).
        unsafe { sum64(acc) }
    }
    #[inline(always)]
    unsafe fn acc_max(acc: float64x2_t) -> f64 {
        // SAFETY: the trait contract (NEON).
        unsafe { vmaxnmvq_f64(acc) }
    }
}

// The kernels, once for both element types; each mirrors its scalar reference. Shared contract:
//
// # Safety
// The CPU must support NEON. (Slices are accessed only through `chunks_exact` chunks of
// `S::LANES` elements, so every pointer handed to `S` is in bounds.)

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn first_non_finite<S: Simd>(v: &[S::E]) -> Option<usize> {
    let chunks = v.chunks_exact(S::LANES);
    let tail = v.len() - chunks.remainder().len();
    for (k, c) in chunks.enumerate() {
        // SAFETY: `c` has `S::LANES` elements; NEON is the caller's contract.
        if unsafe { S::any_non_finite(S::load(c.as_ptr())) } {
            return scalar::first_non_finite(c).map(|i| k * S::LANES + i);
        }
    }
    scalar::first_non_finite(&v[tail..]).map(|i| tail + i)
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn sign_step<S: Simd>(x: &mut [S::E], g: &[S::E], gamma: S::E, decay: S::E) {
    assert_eq!(x.len(), g.len());
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: every chunk has `S::LANES` elements; NEON is the caller's contract.
    unsafe {
        let (gam, dec) = (S::splat(gamma), S::splat(decay));
        for (xc, gc) in xv.chunks_exact_mut(S::LANES).zip(gv.chunks_exact(S::LANES)) {
            let s = S::sign(S::load(gc.as_ptr()));
            let old = S::load(xc.as_ptr());
            S::store(xc.as_mut_ptr(), S::sub(S::mul(old, dec), S::mul(gam, s)));
        }
    }
    scalar::sign_step(xt, gt, gamma, decay);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn axpy<S: Simd>(x: &mut [S::E], g: &[S::E], s: S::E) {
    assert_eq!(x.len(), g.len());
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: every chunk has `S::LANES` elements; NEON is the caller's contract.
    unsafe {
        let sv = S::splat(s);
        for (xc, gc) in xv.chunks_exact_mut(S::LANES).zip(gv.chunks_exact(S::LANES)) {
            let old = S::load(xc.as_ptr());
            S::store(
                xc.as_mut_ptr(),
                S::add(old, S::mul(sv, S::load(gc.as_ptr()))),
            );
        }
    }
    scalar::axpy(xt, gt, s);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn momentum_sign_step<S: Simd>(
    x: &mut [S::E],
    m: &mut [S::E],
    g: &[S::E],
    beta: S::E,
    omb: S::E,
    gamma: S::E,
    decay: S::E,
) {
    assert!(x.len() == g.len() && m.len() == g.len());
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (mv, mt) = m.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: every chunk has `S::LANES` elements; NEON is the caller's contract.
    unsafe {
        let (b, o, gam, dec) = (
            S::splat(beta),
            S::splat(omb),
            S::splat(gamma),
            S::splat(decay),
        );
        let chunks = xv
            .chunks_exact_mut(S::LANES)
            .zip(mv.chunks_exact_mut(S::LANES))
            .zip(gv.chunks_exact(S::LANES));
        for ((xc, mc), gc) in chunks {
            let mn = S::add(
                S::mul(b, S::load(mc.as_ptr())),
                S::mul(o, S::load(gc.as_ptr())),
            );
            S::store(mc.as_mut_ptr(), mn);
            let old = S::load(xc.as_ptr());
            S::store(
                xc.as_mut_ptr(),
                S::sub(S::mul(old, dec), S::mul(gam, S::sign(mn))),
            );
        }
    }
    scalar::momentum_sign_step(xt, mt, gt, beta, omb, gamma, decay);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn alias_stats<S: Simd>(g: &[S::E], prev: &[S::E], dir: &[S::E]) -> AliasStats {
    assert!(g.len() == prev.len() && g.len() == dir.len());
    let t = g.len() - g.len() % S::LANES;
    // SAFETY: every chunk has `S::LANES` elements; NEON is the caller's contract.
    let (diff_l1, dot_sign, bad) = unsafe {
        let (mut l1, mut dot, mut bad) = (S::acc_zero(), S::acc_zero(), false);
        let chunks = g[..t]
            .chunks_exact(S::LANES)
            .zip(prev[..t].chunks_exact(S::LANES))
            .zip(dir[..t].chunks_exact(S::LANES));
        for ((gc, pc), dc) in chunks {
            let gv = S::load(gc.as_ptr());
            bad |= S::any_non_finite(gv);
            l1 = S::acc_add_abs_diff(l1, gv, S::load(pc.as_ptr()));
            // g·sign(d) is exact in the element type, so widening after it is the reference's
            // `f64(g)·f64(sign(d))`.
            dot = S::acc_add(dot, S::mul(gv, S::sign(S::load(dc.as_ptr()))));
        }
        (S::acc_sum(l1), S::acc_sum(dot), bad)
    };
    let tail = scalar::alias_stats(&g[t..], &prev[t..], &dir[t..]);
    AliasStats {
        diff_l1: diff_l1 + tail.diff_l1,
        dot_sign: dot_sign + tail.dot_sign,
        finite: !bad && tail.finite,
    }
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn sign_step_store<S: Simd>(
    x: &mut [S::E],
    g: &[S::E],
    store: &mut [S::E],
    gamma: S::E,
    decay: S::E,
) -> f64 {
    assert!(x.len() == g.len() && store.len() == g.len());
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (sv, st) = store.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: every chunk has `S::LANES` elements; NEON is the caller's contract.
    let moved = unsafe {
        let (gam, dec) = (S::splat(gamma), S::splat(decay));
        let mut moved = S::acc_zero();
        let chunks = xv
            .chunks_exact_mut(S::LANES)
            .zip(gv.chunks_exact(S::LANES))
            .zip(sv.chunks_exact_mut(S::LANES));
        for ((xc, gc), sc) in chunks {
            let gl = S::load(gc.as_ptr());
            let old = S::load(xc.as_ptr());
            let new = S::sub(S::mul(old, dec), S::mul(gam, S::sign(gl)));
            S::store(xc.as_mut_ptr(), new);
            S::store(sc.as_mut_ptr(), gl);
            moved = S::acc_max_abs_diff(moved, new, old);
        }
        S::acc_max(moved)
    };
    moved.max(scalar::sign_step_store(xt, gt, st, gamma, decay))
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn momentum_sign_step_store<S: Simd>(
    x: &mut [S::E],
    m: &mut [S::E],
    g: &[S::E],
    store: &mut [S::E],
    beta: S::E,
    omb: S::E,
    gamma: S::E,
    decay: S::E,
) -> f64 {
    assert!(x.len() == g.len() && m.len() == g.len() && store.len() == g.len());
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (mv, mt) = m.split_at_mut(t);
    let (sv, st) = store.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: every chunk has `S::LANES` elements; NEON is the caller's contract.
    let moved = unsafe {
        let (b, o, gam, dec) = (
            S::splat(beta),
            S::splat(omb),
            S::splat(gamma),
            S::splat(decay),
        );
        let mut moved = S::acc_zero();
        let chunks = xv
            .chunks_exact_mut(S::LANES)
            .zip(mv.chunks_exact_mut(S::LANES))
            .zip(gv.chunks_exact(S::LANES))
            .zip(sv.chunks_exact_mut(S::LANES));
        for (((xc, mc), gc), sc) in chunks {
            let gl = S::load(gc.as_ptr());
            let mn = S::add(S::mul(b, S::load(mc.as_ptr())), S::mul(o, gl));
            S::store(mc.as_mut_ptr(), mn);
            let old = S::load(xc.as_ptr());
            let new = S::sub(S::mul(old, dec), S::mul(gam, S::sign(mn)));
            S::store(xc.as_mut_ptr(), new);
            S::store(sc.as_mut_ptr(), gl);
            moved = S::acc_max_abs_diff(moved, new, old);
        }
        S::acc_max(moved)
    };
    moved.max(scalar::momentum_sign_step_store(
        xt, mt, gt, st, beta, omb, gamma, decay,
    ))
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn inf_norm<S: Simd>(v: &[S::E]) -> f64 {
    let chunks = v.chunks_exact(S::LANES);
    let tail = chunks.remainder();
    // SAFETY: every chunk has `S::LANES` elements; NEON is the caller's contract.
    let norm = unsafe {
        let mut acc = S::splat(<S::E as crate::float::Float>::ZERO);
        for c in chunks {
            acc = S::max_abs(acc, S::load(c.as_ptr()));
        }
        S::hmax(acc)
    };
    norm.max(scalar::inf_norm(tail))
}

/// Defines a safe method on the [`Neon`] token that runs `$name::<$S>` compiled with NEON.
macro_rules! entry {
    ($S:ty, fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        #[allow(clippy::too_many_arguments)]
        fn $name(self, $($arg: $ty),*) $(-> $ret)? {
            /// # Safety
            /// The CPU must support NEON.
            #[target_feature(enable = "neon")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn imp($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: `imp` runs only where NEON is available (its contract), which is the
                // kernel's whole contract.
                unsafe { $name::<$S>($($arg),*) }
            }
            // SAFETY: `self` is a token that exists only after run-time detection found NEON.
            unsafe { imp($($arg),*) }
        }
    };
}

macro_rules! neon_kernels {
    ($S:ty, $e:ty) => {
        impl ArchKernels<$e> for Neon {
            entry!($S, fn first_non_finite(v: &[$e]) -> Option<usize>);
            entry!($S, fn sign_step(x: &mut [$e], g: &[$e], gamma: $e, decay: $e));
            entry!($S, fn axpy(x: &mut [$e], g: &[$e], s: $e));
            entry!($S, fn momentum_sign_step(
                x: &mut [$e], m: &mut [$e], g: &[$e], beta: $e, omb: $e, gamma: $e, decay: $e
            ));
            entry!($S, fn alias_stats(g: &[$e], prev: &[$e], dir: &[$e]) -> AliasStats);
            entry!($S, fn sign_step_store(
                x: &mut [$e], g: &[$e], store: &mut [$e], gamma: $e, decay: $e
            ) -> f64);
            entry!($S, fn momentum_sign_step_store(
                x: &mut [$e], m: &mut [$e], g: &[$e], store: &mut [$e],
                beta: $e, omb: $e, gamma: $e, decay: $e
            ) -> f64);
            entry!($S, fn inf_norm(v: &[$e]) -> f64);
        }
    };
}

neon_kernels!(NeonF32, f32);
neon_kernels!(NeonF64, f64);
impl ArchCounts for Neon {}
