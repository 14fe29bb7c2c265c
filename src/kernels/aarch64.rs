//! aarch64 backend: NEON kernels for `f32` and `f64`.
//!
//! Only the vocabulary: the shared [`Simd`] (`simd.rs`, where the update and statistics kernels
//! are written once for every backend) implemented for [`NeonF32`] and [`NeonF64`], and safe
//! entry points on the [`Neon`] detection token. The bit-packing and vote kernels keep the
//! scalar reference (the [`ArchKernels`] defaults) on this architecture.
//!
//! NEON arithmetic on aarch64 is IEEE-754 with subnormals (Linux leaves `FPCR.FZ` clear), and
//! LLVM does not fuse separate multiply and subtract intrinsics, so the updates match the
//! reference bit for bit. Maxima use `FMAXNM`, which, like `f64::max`, ignores a NaN operand.

use core::arch::aarch64::*;

use super::scalar::AliasStats;
use super::simd::{
    Simd, alias_stats, axpy, entry, first_non_finite, inf_norm, momentum_sign_step,
    momentum_sign_step_store, shared_entries, sign_step, sign_step_store,
};
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
    unsafe fn non_finite(v: float32x4_t) -> u64 {
        // SAFETY: the trait contract (NEON). `|v| < ∞` is false exactly for ±∞ and NaN; the
        // all-ones lanes of its complement, masked with 1, 2, 4, 8 and summed, give the bits.
        unsafe {
            const BITS: [u32; 4] = [1, 2, 4, 8];
            let bad = vmvnq_u32(vcaltq_f32(v, vdupq_n_f32(f32::INFINITY)));
            u64::from(vaddvq_u32(vandq_u32(bad, vld1q_u32(BITS.as_ptr()))))
        }
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
    unsafe fn acc_sum(acc: Self::Acc) -> f64 {
        // SAFETY: the trait contract (NEON).
        unsafe { sum64(vaddq_f64(acc.0, acc.1)) }
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
    unsafe fn non_finite(v: float64x2_t) -> u64 {
        // SAFETY: the trait contract (NEON). `|v| < ∞` is false exactly for ±∞ and NaN; the
        // all-ones lanes of its complement, masked with 1, 2 and summed, give the bits.
        unsafe {
            const BITS: [u64; 2] = [1, 2];
            let bad = veorq_u64(
                vcaltq_f64(v, vdupq_n_f64(f64::INFINITY)),
                vdupq_n_u64(u64::MAX),
            );
            vaddvq_u64(vandq_u64(bad, vld1q_u64(BITS.as_ptr())))
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
    unsafe fn acc_sum(acc: float64x2_t) -> f64 {
        // SAFETY: the trait contract (NEON).
        unsafe { sum64(acc) }
    }
}

macro_rules! neon_kernels {
    ($S:ty, $e:ty) => {
        impl ArchKernels<$e> for Neon {
            shared_entries!("neon", $S, $e);
        }
    };
}

neon_kernels!(NeonF32, f32);
neon_kernels!(NeonF64, f64);
impl ArchCounts for Neon {}
