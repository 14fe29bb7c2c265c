//! x86-64 backends: AVX2 and AVX-512F kernels for `f32` and `f64`.
//!
//! This file is the vocabulary: [`Simd`] (shared with every backend, `simd.rs`, where the update
//! and statistics kernels are written once) and [`SimdBits`] (the bit-packing and vote
//! operations, whose kernels are written once below), each implemented per (instruction set,
//! element type): [`Avx2F32`], [`Avx2F64`], [`Avx512F32`], [`Avx512F64`]. The entry points take
//! a token ([`Avx2`], [`Avx512`]) that only successful run-time detection creates. The bit
//! kernels work on blocks of 64 coordinates (one `u64` word) and hand the last partial word to
//! the scalar reference.

use core::arch::x86_64::*;

use super::scalar::{self, AliasStats, SignDot};
use super::simd::axpy;
use super::simd::{
    Simd, alias_stats, entry, first_non_finite, inf_norm, momentum_sign_step,
    momentum_sign_step_store, shared_entries, sign_step, sign_step_store,
};
use super::{ArchCounts, ArchKernels};

/// Proof that this CPU runs AVX2. Only [`Avx2::detect`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// `Some` iff the CPU reports AVX2 (the result of `cpuid` is cached by `std`).
    pub(crate) fn detect() -> Option<Self> {
        is_x86_feature_detected!("avx2").then_some(Self(()))
    }
}

/// Proof that this CPU runs AVX-512F. Only [`Avx512::detect`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// `Some` iff the CPU reports AVX-512F.
    pub(crate) fn detect() -> Option<Self> {
        is_x86_feature_detected!("avx512f").then_some(Self(()))
    }
}

/// The bit-packing and vote vocabulary on top of [`Simd`] (x86-64 only; the other backends
/// keep the scalar reference for these kernels).
///
/// # Safety
/// As [`Simd`]'s: the CPU must support the implementing type's instruction set, and every
/// pointer argument must be valid for `LANES` elements (`I32_LANES` for the `i32` methods).
trait SimdBits: Simd {
    /// `i32` counts per vector.
    const I32_LANES: usize;

    /// Bit `j` set iff lane `j` is `> 0` (NaN: not set).
    unsafe fn gt_zero(v: Self::V) -> u64;
    /// Bit `j` set iff lane `j` is `< 0` (NaN: not set).
    unsafe fn lt_zero(v: Self::V) -> u64;
    /// Lane `j` is `+1` if bit `j` of `pos` is set, `−1` if bit `j` of `neg` is, `+0` otherwise.
    /// The low `LANES` bits of `pos` and `neg` must be disjoint; higher bits are ignored.
    unsafe fn from_bits(pos: u64, neg: u64) -> Self::V;
    /// `acc + |f64(v)|`.
    unsafe fn acc_add_abs(acc: Self::Acc, v: Self::V) -> Self::Acc;
    /// One block of 64 elements of `dot_sign_packed_2bit`: adds `f64(g_j)·s_j` to `dot` and
    /// `|f64(g_j)|` to `l1` (lane `j % LANES` of each), with `s` the signs in `pos` and `neg`
    /// (disjoint, as for [`from_bits`](Self::from_bits)), and ORs the block's non-finite lanes
    /// into `bad`. Each product is exact (`±f64(g)` or `0·f64(g)`), as in the reference.
    #[inline(always)]
    unsafe fn dot_sign_block(
        (mut dot, mut l1, mut bad): (Self::Acc, Self::Acc, u64),
        block: &[Self::E],
        pos: u64,
        neg: u64,
    ) -> (Self::Acc, Self::Acc, u64) {
        // SAFETY: the trait contract; `block` has 64 elements, a whole number of vectors. `g·s`
        // is exact in the element type, so widening the product gives the reference's term.
        unsafe {
            for (j, c) in block.chunks_exact(Self::LANES).enumerate() {
                let shift = j * Self::LANES;
                let v = Self::load(c.as_ptr());
                bad |= Self::non_finite(v);
                dot = Self::acc_add(
                    dot,
                    Self::mul(v, Self::from_bits(pos >> shift, neg >> shift)),
                );
                l1 = Self::acc_add_abs(l1, v);
            }
        }
        (dot, l1, bad)
    }

    /// `p[j] += pos_j − neg_j` (wrapping) for `j < I32_LANES`; higher bits are ignored.
    unsafe fn counts_add(p: *mut i32, pos: u64, neg: u64);
    /// Bit `j` set iff `p[j] > 0`, for `j < I32_LANES`.
    unsafe fn counts_gt_zero(p: *const i32) -> u64;
    /// Bit `j` set iff `p[j] < 0`, for `j < I32_LANES`.
    unsafe fn counts_lt_zero(p: *const i32) -> u64;
}

/// AVX2, `f32`.
#[derive(Clone, Copy)]
struct Avx2F32;
/// AVX2, `f64`.
#[derive(Clone, Copy)]
struct Avx2F64;
/// AVX-512F, `f32`.
#[derive(Clone, Copy)]
struct Avx512F32;
/// AVX-512F, `f64`.
#[derive(Clone, Copy)]
struct Avx512F64;

// ---------------------------------------------------------------------------------------------
// AVX2

/// `|v|` for four `f64` lanes (clears the sign bit).
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn abs_pd256(v: __m256d) -> __m256d {
    // SAFETY: AVX2 (hence AVX) is available (this function's contract).
    unsafe { _mm256_andnot_pd(_mm256_set1_pd(-0.0), v) }
}

/// The four `f64` factors `pos_j − neg_j` (`j < 4`) for every pair of 4-bit sign codes, indexed
/// by [`sign_index`]: a 2-bit packed sign vector read four lanes at a time without conversions.
static SIGNS_PD: [[f64; 4]; 256] = {
    let mut table = [[0.0; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let mut j = 0;
        while j < 4 {
            let (p, n) = ((i >> j) & 1, (i >> (4 + j)) & 1);
            table[i][j] = if p == n {
                0.0
            } else if p == 1 {
                1.0
            } else {
                -1.0
            };
            j += 1;
        }
        i += 1;
    }
    table
};

/// The [`SIGNS_PD`] row of the low four bits of `pos` and `neg`.
#[inline(always)]
fn sign_index(pos: u64, neg: u64) -> usize {
    ((pos & 0xF) | ((neg & 0xF) << 4)) as usize
}

/// `acc + (lo·SIGNS_PD[row_lo], hi·SIGNS_PD[row_hi])`: eight widened lanes times their ±1/0
/// factors (exact products), added to a pair of `f64` accumulators.
///
/// # Safety
/// The CPU must support AVX2; rows are below 256.
#[inline(always)]
unsafe fn add_signed_pd256(
    acc: (__m256d, __m256d),
    (lo, hi): (__m256d, __m256d),
    row_lo: usize,
    row_hi: usize,
) -> (__m256d, __m256d) {
    // SAFETY: AVX2 available and rows in range (this function's contract).
    unsafe {
        let s_lo = _mm256_loadu_pd(SIGNS_PD[row_lo].as_ptr());
        let s_hi = _mm256_loadu_pd(SIGNS_PD[row_hi].as_ptr());
        (
            _mm256_add_pd(acc.0, _mm256_mul_pd(lo, s_lo)),
            _mm256_add_pd(acc.1, _mm256_mul_pd(hi, s_hi)),
        )
    }
}

/// A lane mask (all ones where bit `j` of `bits` is set) for eight `i32` lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn bits_to_mask_epi32(bits: u64) -> __m256i {
    // SAFETY: AVX2 is available (this function's contract).
    unsafe {
        let lanes = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        _mm256_cmpeq_epi32(
            _mm256_and_si256(_mm256_set1_epi32(bits as i32), lanes),
            lanes,
        )
    }
}

/// A lane mask (all ones where bit `j` of `bits` is set) for four `f64` lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn bits_to_mask_epi64(bits: u64) -> __m256d {
    // SAFETY: AVX2 is available (this function's contract).
    unsafe {
        let lanes = _mm256_setr_epi64x(1, 2, 4, 8);
        _mm256_castsi256_pd(_mm256_cmpeq_epi64(
            _mm256_and_si256(_mm256_set1_epi64x(bits as i64), lanes),
            lanes,
        ))
    }
}

impl Simd for Avx2F32 {
    type E = f32;
    type V = __m256;
    type Acc = (__m256d, __m256d);
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn splat(e: f32) -> __m256 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_set1_ps(e) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: the trait contract (AVX2; `p` valid for 8 reads).
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: the trait contract (AVX2; `p` valid for 8 writes).
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn stream(p: *mut f32, v: __m256) {
        // SAFETY: the trait contract (AVX2; `p` valid for a vector and 32-byte aligned).
        unsafe { _mm256_stream_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sign(v: __m256) -> __m256 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            let z = _mm256_setzero_ps();
            let pos = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(v, z), _mm256_set1_ps(1.0));
            let neg = _mm256_and_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(v, z), _mm256_set1_ps(-1.0));
            _mm256_or_ps(pos, neg)
        }
    }
    #[inline(always)]
    unsafe fn non_finite(v: __m256) -> u64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            let abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0), v);
            // "not less than +∞, or unordered": true exactly for ±∞ and NaN.
            let bad = _mm256_cmp_ps::<_CMP_NLT_UQ>(abs, _mm256_set1_ps(f32::INFINITY));
            _mm256_movemask_ps(bad) as u32 as u64
        }
    }
    #[inline(always)]
    unsafe fn max_abs(acc: __m256, v: __m256) -> __m256 {
        // SAFETY: the trait contract (AVX2 available). `max_ps(a, b)` returns `b` when either
        // operand is NaN, so a NaN `|v|` keeps `acc`.
        unsafe { _mm256_max_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0), v), acc) }
    }
    #[inline(always)]
    unsafe fn hmax(v: __m256) -> f64 {
        let mut lanes = [0.0_f32; 8];
        // SAFETY: the trait contract (AVX2); `lanes` has room for 8 values.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().fold(0.0, |m, &e| m.max(f64::from(e)))
    }

    #[inline(always)]
    unsafe fn acc_zero() -> Self::Acc {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { (_mm256_setzero_pd(), _mm256_setzero_pd()) }
    }
    #[inline(always)]
    unsafe fn acc_add(acc: Self::Acc, v: __m256) -> Self::Acc {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            let (lo, hi) = widen256(v);
            (_mm256_add_pd(acc.0, lo), _mm256_add_pd(acc.1, hi))
        }
    }
    #[inline(always)]
    unsafe fn acc_add_sign_dot(acc: Self::Acc, g: __m256, d: __m256) -> Self::Acc {
        // SAFETY: the trait contract (AVX2 available); table indices are below 256. The ±1/0
        // factors come as `f64` from the signs' bits ([`SIGNS_PD`]) and `f64(g)` is the same
        // widening as in `acc_add_abs_diff` (the compiler shares it): two conversions per
        // vector fewer than widening the `f32` product. `f64(g)·s` is the reference's term.
        unsafe {
            let z = _mm256_setzero_ps();
            let pos = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(d, z)) as u64;
            let neg = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(d, z)) as u64;
            add_signed_pd256(
                acc,
                widen256(g),
                sign_index(pos, neg),
                sign_index(pos >> 4, neg >> 4),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_add_abs_diff(acc: Self::Acc, a: __m256, b: __m256) -> Self::Acc {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            let ((alo, ahi), (blo, bhi)) = (widen256(a), widen256(b));
            (
                _mm256_add_pd(acc.0, abs_pd256(_mm256_sub_pd(alo, blo))),
                _mm256_add_pd(acc.1, abs_pd256(_mm256_sub_pd(ahi, bhi))),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_sum(acc: Self::Acc) -> f64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { sum_pd256(_mm256_add_pd(acc.0, acc.1)) }
    }
    const STREAMS: bool = true;
    #[inline(always)]
    unsafe fn fence() {
        // SAFETY: SSE (and so `sfence`) is part of every x86-64 CPU.
        unsafe { _mm_sfence() }
    }
}

impl SimdBits for Avx2F32 {
    const I32_LANES: usize = 8;

    #[inline(always)]
    unsafe fn gt_zero(v: __m256) -> u64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(v, _mm256_setzero_ps())) as u32 as u64
        }
    }
    #[inline(always)]
    unsafe fn lt_zero(v: __m256) -> u64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(v, _mm256_setzero_ps())) as u32 as u64
        }
    }
    #[inline(always)]
    unsafe fn from_bits(pos: u64, neg: u64) -> __m256 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            let p = _mm256_castsi256_ps(bits_to_mask_epi32(pos));
            let n = _mm256_castsi256_ps(bits_to_mask_epi32(neg));
            _mm256_or_ps(
                _mm256_and_ps(p, _mm256_set1_ps(1.0)),
                _mm256_and_ps(n, _mm256_set1_ps(-1.0)),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_add_abs(acc: Self::Acc, v: __m256) -> Self::Acc {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            let (lo, hi) = widen256(v);
            (
                _mm256_add_pd(acc.0, abs_pd256(lo)),
                _mm256_add_pd(acc.1, abs_pd256(hi)),
            )
        }
    }
    #[inline(always)]
    unsafe fn dot_sign_block(
        (mut dot, mut l1, mut bad): (Self::Acc, Self::Acc, u64),
        block: &[f32],
        pos: u64,
        neg: u64,
    ) -> (Self::Acc, Self::Acc, u64) {
        // The [`SIGNS_PD`] rows of all sixteen 4-lane groups at once: byte k of `even` is
        // group 2k's index (pos nibble 2k | neg nibble 2k << 4), byte k of `odd` group 2k+1's.
        const LOW: u64 = 0x0F0F_0F0F_0F0F_0F0F;
        let even = ((pos & LOW) | ((neg & LOW) << 4)).to_le_bytes();
        let odd = (((pos >> 4) & LOW) | (neg & !LOW)).to_le_bytes();
        // SAFETY: the trait contract (AVX2 available); `block` has 64 elements, so 8 chunks of
        // 8; table indices are bytes, below 256. `v` is widened once for both sums and the
        // ±1/0 factors come as `f64` from the table (the default widens `v·s` and `v`
        // separately: twice the conversions, the bottleneck).
        unsafe {
            for ((c, &e), &o) in block.chunks_exact(8).zip(&even).zip(&odd) {
                let v = _mm256_loadu_ps(c.as_ptr());
                bad |= Self::non_finite(v);
                let (lo, hi) = widen256(v);
                dot = add_signed_pd256(dot, (lo, hi), usize::from(e), usize::from(o));
                l1 = (
                    _mm256_add_pd(l1.0, abs_pd256(lo)),
                    _mm256_add_pd(l1.1, abs_pd256(hi)),
                );
            }
        }
        (dot, l1, bad)
    }
    #[inline(always)]
    unsafe fn counts_add(p: *mut i32, pos: u64, neg: u64) {
        // SAFETY: the trait contract (AVX2; `p` valid for 8 reads and writes). A set mask lane
        // is −1, so `c − pmask + nmask` adds `pos_j − neg_j`.
        unsafe {
            let c = _mm256_loadu_si256(p as *const __m256i);
            let c = _mm256_add_epi32(
                _mm256_sub_epi32(c, bits_to_mask_epi32(pos)),
                bits_to_mask_epi32(neg),
            );
            _mm256_storeu_si256(p as *mut __m256i, c)
        }
    }
    #[inline(always)]
    unsafe fn counts_gt_zero(p: *const i32) -> u64 {
        // SAFETY: the trait contract (AVX2; `p` valid for 8 reads).
        unsafe {
            let c = _mm256_loadu_si256(p as *const __m256i);
            let m = _mm256_cmpgt_epi32(c, _mm256_setzero_si256());
            _mm256_movemask_ps(_mm256_castsi256_ps(m)) as u32 as u64
        }
    }
    #[inline(always)]
    unsafe fn counts_lt_zero(p: *const i32) -> u64 {
        // SAFETY: the trait contract (AVX2; `p` valid for 8 reads).
        unsafe {
            let c = _mm256_loadu_si256(p as *const __m256i);
            let m = _mm256_cmpgt_epi32(_mm256_setzero_si256(), c);
            _mm256_movemask_ps(_mm256_castsi256_ps(m)) as u32 as u64
        }
    }
}

/// The eight `f32` lanes of `v` as two vectors of four `f64` (exact).
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn widen256(v: __m256) -> (__m256d, __m256d) {
    // SAFETY: AVX2 (hence AVX) is available (this function's contract).
    unsafe {
        (
            _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
        )
    }
}

/// `((l0 + l1) + (l2 + l3))`.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn sum_pd256(v: __m256d) -> f64 {
    let mut l = [0.0_f64; 4];
    // SAFETY: AVX2 available (contract); `l` has room for 4 values.
    unsafe { _mm256_storeu_pd(l.as_mut_ptr(), v) };
    (l[0] + l[1]) + (l[2] + l[3])
}

/// The largest of four non-NaN lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn max_pd256(v: __m256d) -> f64 {
    let mut l = [0.0_f64; 4];
    // SAFETY: AVX2 available (contract); `l` has room for 4 values.
    unsafe { _mm256_storeu_pd(l.as_mut_ptr(), v) };
    l.iter().fold(0.0, |m, &e| m.max(e))
}

impl Simd for Avx2F64 {
    type E = f64;
    type V = __m256d;
    type Acc = __m256d;
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn splat(e: f64) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_set1_pd(e) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m256d {
        // SAFETY: the trait contract (AVX2; `p` valid for 4 reads).
        unsafe { _mm256_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: __m256d) {
        // SAFETY: the trait contract (AVX2; `p` valid for 4 writes).
        unsafe { _mm256_storeu_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn stream(p: *mut f64, v: __m256d) {
        // SAFETY: the trait contract (AVX2; `p` valid for a vector and 32-byte aligned).
        unsafe { _mm256_stream_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_add_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_sub_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_mul_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sign(v: __m256d) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            let z = _mm256_setzero_pd();
            let pos = _mm256_and_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(v, z), _mm256_set1_pd(1.0));
            let neg = _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(v, z), _mm256_set1_pd(-1.0));
            _mm256_or_pd(pos, neg)
        }
    }
    #[inline(always)]
    unsafe fn non_finite(v: __m256d) -> u64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            let bad = _mm256_cmp_pd::<_CMP_NLT_UQ>(abs_pd256(v), _mm256_set1_pd(f64::INFINITY));
            _mm256_movemask_pd(bad) as u32 as u64
        }
    }
    #[inline(always)]
    unsafe fn max_abs(acc: __m256d, v: __m256d) -> __m256d {
        // SAFETY: the trait contract (AVX2 available); NaN `|v|` keeps `acc`.
        unsafe { _mm256_max_pd(abs_pd256(v), acc) }
    }
    #[inline(always)]
    unsafe fn hmax(v: __m256d) -> f64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { max_pd256(v) }
    }

    #[inline(always)]
    unsafe fn acc_zero() -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn acc_add(acc: __m256d, v: __m256d) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_add_pd(acc, v) }
    }
    #[inline(always)]
    unsafe fn acc_add_abs_diff(acc: __m256d, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_add_pd(acc, abs_pd256(_mm256_sub_pd(a, b))) }
    }
    #[inline(always)]
    unsafe fn acc_sum(acc: __m256d) -> f64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { sum_pd256(acc) }
    }
    const STREAMS: bool = true;
    #[inline(always)]
    unsafe fn fence() {
        // SAFETY: SSE (and so `sfence`) is part of every x86-64 CPU.
        unsafe { _mm_sfence() }
    }
}

impl SimdBits for Avx2F64 {
    const I32_LANES: usize = 8;

    #[inline(always)]
    unsafe fn gt_zero(v: __m256d) -> u64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(v, _mm256_setzero_pd())) as u32 as u64
        }
    }
    #[inline(always)]
    unsafe fn lt_zero(v: __m256d) -> u64 {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(v, _mm256_setzero_pd())) as u32 as u64
        }
    }
    #[inline(always)]
    unsafe fn from_bits(pos: u64, neg: u64) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe {
            _mm256_or_pd(
                _mm256_and_pd(bits_to_mask_epi64(pos), _mm256_set1_pd(1.0)),
                _mm256_and_pd(bits_to_mask_epi64(neg), _mm256_set1_pd(-1.0)),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_add_abs(acc: __m256d, v: __m256d) -> __m256d {
        // SAFETY: the trait contract (AVX2 available).
        unsafe { _mm256_add_pd(acc, abs_pd256(v)) }
    }
    #[inline(always)]
    unsafe fn counts_add(p: *mut i32, pos: u64, neg: u64) {
        // SAFETY: same contract as `Avx2F32`'s.
        unsafe { Avx2F32::counts_add(p, pos, neg) }
    }
    #[inline(always)]
    unsafe fn counts_gt_zero(p: *const i32) -> u64 {
        // SAFETY: same contract as `Avx2F32`'s.
        unsafe { Avx2F32::counts_gt_zero(p) }
    }
    #[inline(always)]
    unsafe fn counts_lt_zero(p: *const i32) -> u64 {
        // SAFETY: same contract as `Avx2F32`'s.
        unsafe { Avx2F32::counts_lt_zero(p) }
    }
}

// ---------------------------------------------------------------------------------------------
// AVX-512F

impl Simd for Avx512F32 {
    type E = f32;
    type V = __m512;
    type Acc = (__m512d, __m512d);
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn splat(e: f32) -> __m512 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_set1_ps(e) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: the trait contract (AVX-512F; `p` valid for 16 reads).
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: the trait contract (AVX-512F; `p` valid for 16 writes).
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn stream(p: *mut f32, v: __m512) {
        // SAFETY: the trait contract (AVX-512F; `p` valid for a vector and 64-byte aligned).
        unsafe { _mm512_stream_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sign(v: __m512) -> __m512 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            let z = _mm512_setzero_ps();
            let pos = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, z);
            let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, z);
            _mm512_mask_mov_ps(
                _mm512_maskz_mov_ps(pos, _mm512_set1_ps(1.0)),
                neg,
                _mm512_set1_ps(-1.0),
            )
        }
    }
    #[inline(always)]
    unsafe fn non_finite(v: __m512) -> u64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            u64::from(_mm512_cmp_ps_mask::<_CMP_NLT_UQ>(
                _mm512_abs_ps(v),
                _mm512_set1_ps(f32::INFINITY),
            ))
        }
    }
    #[inline(always)]
    unsafe fn max_abs(acc: __m512, v: __m512) -> __m512 {
        // SAFETY: the trait contract (AVX-512F available); NaN `|v|` keeps `acc`.
        unsafe { _mm512_max_ps(_mm512_abs_ps(v), acc) }
    }
    #[inline(always)]
    unsafe fn hmax(v: __m512) -> f64 {
        let mut lanes = [0.0_f32; 16];
        // SAFETY: the trait contract (AVX-512F); `lanes` has room for 16 values.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().fold(0.0, |m, &e| m.max(f64::from(e)))
    }

    #[inline(always)]
    unsafe fn acc_zero() -> Self::Acc {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { (_mm512_setzero_pd(), _mm512_setzero_pd()) }
    }
    #[inline(always)]
    unsafe fn acc_add(acc: Self::Acc, v: __m512) -> Self::Acc {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            let (lo, hi) = widen512(v);
            (_mm512_add_pd(acc.0, lo), _mm512_add_pd(acc.1, hi))
        }
    }
    #[inline(always)]
    unsafe fn acc_add_sign_dot(acc: Self::Acc, g: __m512, d: __m512) -> Self::Acc {
        // SAFETY: the trait contract (AVX-512F available). The ±1/0 factors are built directly
        // as f64 from the comparison masks, and `f64(g)` is the same widening as in
        // `acc_add_abs_diff` (the compiler shares it), which saves two conversions per vector
        // against widening the f32 product; `f64(g)·s` is the reference's product bit for bit.
        unsafe {
            let z = _mm512_setzero_ps();
            let pos = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(d, z);
            let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(d, z);
            let (lo, hi) = widen512(g);
            (
                _mm512_add_pd(
                    acc.0,
                    _mm512_mul_pd(lo, sign_pd512(pos as __mmask8, neg as __mmask8)),
                ),
                _mm512_add_pd(
                    acc.1,
                    _mm512_mul_pd(
                        hi,
                        sign_pd512((pos >> 8) as __mmask8, (neg >> 8) as __mmask8),
                    ),
                ),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_add_abs_diff(acc: Self::Acc, a: __m512, b: __m512) -> Self::Acc {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            let ((alo, ahi), (blo, bhi)) = (widen512(a), widen512(b));
            (
                _mm512_add_pd(acc.0, _mm512_abs_pd(_mm512_sub_pd(alo, blo))),
                _mm512_add_pd(acc.1, _mm512_abs_pd(_mm512_sub_pd(ahi, bhi))),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_sum(acc: Self::Acc) -> f64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { sum_pd512(_mm512_add_pd(acc.0, acc.1)) }
    }
    const STREAMS: bool = true;
    #[inline(always)]
    unsafe fn fence() {
        // SAFETY: SSE (and so `sfence`) is part of every x86-64 CPU.
        unsafe { _mm_sfence() }
    }
}

impl SimdBits for Avx512F32 {
    const I32_LANES: usize = 16;

    #[inline(always)]
    unsafe fn gt_zero(v: __m512) -> u64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { u64::from(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, _mm512_setzero_ps())) }
    }
    #[inline(always)]
    unsafe fn lt_zero(v: __m512) -> u64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { u64::from(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, _mm512_setzero_ps())) }
    }
    #[inline(always)]
    unsafe fn from_bits(pos: u64, neg: u64) -> __m512 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            _mm512_mask_mov_ps(
                _mm512_maskz_mov_ps(pos as __mmask16, _mm512_set1_ps(1.0)),
                neg as __mmask16,
                _mm512_set1_ps(-1.0),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_add_abs(acc: Self::Acc, v: __m512) -> Self::Acc {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            let (lo, hi) = widen512(v);
            (
                _mm512_add_pd(acc.0, _mm512_abs_pd(lo)),
                _mm512_add_pd(acc.1, _mm512_abs_pd(hi)),
            )
        }
    }
    #[inline(always)]
    unsafe fn counts_add(p: *mut i32, pos: u64, neg: u64) {
        // SAFETY: the trait contract (AVX-512F; `p` valid for 16 reads and writes).
        unsafe {
            let one = _mm512_set1_epi32(1);
            let c = _mm512_loadu_si512(p as *const __m512i);
            let c = _mm512_mask_add_epi32(c, pos as __mmask16, c, one);
            let c = _mm512_mask_sub_epi32(c, neg as __mmask16, c, one);
            _mm512_storeu_si512(p as *mut __m512i, c)
        }
    }
    #[inline(always)]
    unsafe fn counts_gt_zero(p: *const i32) -> u64 {
        // SAFETY: the trait contract (AVX-512F; `p` valid for 16 reads).
        unsafe {
            let c = _mm512_loadu_si512(p as *const __m512i);
            u64::from(_mm512_cmpgt_epi32_mask(c, _mm512_setzero_si512()))
        }
    }
    #[inline(always)]
    unsafe fn counts_lt_zero(p: *const i32) -> u64 {
        // SAFETY: the trait contract (AVX-512F; `p` valid for 16 reads).
        unsafe {
            let c = _mm512_loadu_si512(p as *const __m512i);
            u64::from(_mm512_cmplt_epi32_mask(c, _mm512_setzero_si512()))
        }
    }
}

/// The sixteen `f32` lanes of `v` as two vectors of eight `f64` (exact).
///
/// # Safety
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn widen512(v: __m512) -> (__m512d, __m512d) {
    // SAFETY: AVX-512F is available (this function's contract).
    unsafe {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        (
            _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
            _mm512_cvtps_pd(hi),
        )
    }
}

/// `+1` where `pos` is set, `−1` where `neg` is (winning over `pos`), `+0` elsewhere.
///
/// # Safety
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn sign_pd512(pos: __mmask8, neg: __mmask8) -> __m512d {
    // SAFETY: AVX-512F is available (this function's contract).
    unsafe {
        _mm512_mask_mov_pd(
            _mm512_maskz_mov_pd(pos, _mm512_set1_pd(1.0)),
            neg,
            _mm512_set1_pd(-1.0),
        )
    }
}

/// The eight lanes summed pairwise in a fixed order.
///
/// # Safety
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn sum_pd512(v: __m512d) -> f64 {
    let mut l = [0.0_f64; 8];
    // SAFETY: AVX-512F available (contract); `l` has room for 8 values.
    unsafe { _mm512_storeu_pd(l.as_mut_ptr(), v) };
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

/// The largest of eight non-NaN lanes.
///
/// # Safety
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn max_pd512(v: __m512d) -> f64 {
    let mut l = [0.0_f64; 8];
    // SAFETY: AVX-512F available (contract); `l` has room for 8 values.
    unsafe { _mm512_storeu_pd(l.as_mut_ptr(), v) };
    l.iter().fold(0.0, |m, &e| m.max(e))
}

impl Simd for Avx512F64 {
    type E = f64;
    type V = __m512d;
    type Acc = __m512d;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn splat(e: f64) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_set1_pd(e) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m512d {
        // SAFETY: the trait contract (AVX-512F; `p` valid for 8 reads).
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: __m512d) {
        // SAFETY: the trait contract (AVX-512F; `p` valid for 8 writes).
        unsafe { _mm512_storeu_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn stream(p: *mut f64, v: __m512d) {
        // SAFETY: the trait contract (AVX-512F; `p` valid for a vector and 64-byte aligned).
        unsafe { _mm512_stream_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_add_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_sub_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_mul_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sign(v: __m512d) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            let z = _mm512_setzero_pd();
            let pos = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(v, z);
            let neg = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(v, z);
            _mm512_mask_mov_pd(
                _mm512_maskz_mov_pd(pos, _mm512_set1_pd(1.0)),
                neg,
                _mm512_set1_pd(-1.0),
            )
        }
    }
    #[inline(always)]
    unsafe fn non_finite(v: __m512d) -> u64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            u64::from(_mm512_cmp_pd_mask::<_CMP_NLT_UQ>(
                _mm512_abs_pd(v),
                _mm512_set1_pd(f64::INFINITY),
            ))
        }
    }
    #[inline(always)]
    unsafe fn max_abs(acc: __m512d, v: __m512d) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available); NaN `|v|` keeps `acc`.
        unsafe { _mm512_max_pd(_mm512_abs_pd(v), acc) }
    }
    #[inline(always)]
    unsafe fn hmax(v: __m512d) -> f64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { max_pd512(v) }
    }

    #[inline(always)]
    unsafe fn acc_zero() -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn acc_add(acc: __m512d, v: __m512d) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_add_pd(acc, v) }
    }
    #[inline(always)]
    unsafe fn acc_add_abs_diff(acc: __m512d, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_add_pd(acc, _mm512_abs_pd(_mm512_sub_pd(a, b))) }
    }
    #[inline(always)]
    unsafe fn acc_sum(acc: __m512d) -> f64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { sum_pd512(acc) }
    }
    const STREAMS: bool = true;
    #[inline(always)]
    unsafe fn fence() {
        // SAFETY: SSE (and so `sfence`) is part of every x86-64 CPU.
        unsafe { _mm_sfence() }
    }
}

impl SimdBits for Avx512F64 {
    const I32_LANES: usize = 16;

    #[inline(always)]
    unsafe fn gt_zero(v: __m512d) -> u64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { u64::from(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(v, _mm512_setzero_pd())) }
    }
    #[inline(always)]
    unsafe fn lt_zero(v: __m512d) -> u64 {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { u64::from(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(v, _mm512_setzero_pd())) }
    }
    #[inline(always)]
    unsafe fn from_bits(pos: u64, neg: u64) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe {
            _mm512_mask_mov_pd(
                _mm512_maskz_mov_pd(pos as __mmask8, _mm512_set1_pd(1.0)),
                neg as __mmask8,
                _mm512_set1_pd(-1.0),
            )
        }
    }
    #[inline(always)]
    unsafe fn acc_add_abs(acc: __m512d, v: __m512d) -> __m512d {
        // SAFETY: the trait contract (AVX-512F available).
        unsafe { _mm512_add_pd(acc, _mm512_abs_pd(v)) }
    }
    #[inline(always)]
    unsafe fn counts_add(p: *mut i32, pos: u64, neg: u64) {
        // SAFETY: same contract as `Avx512F32`'s.
        unsafe { Avx512F32::counts_add(p, pos, neg) }
    }
    #[inline(always)]
    unsafe fn counts_gt_zero(p: *const i32) -> u64 {
        // SAFETY: same contract as `Avx512F32`'s.
        unsafe { Avx512F32::counts_gt_zero(p) }
    }
    #[inline(always)]
    unsafe fn counts_lt_zero(p: *const i32) -> u64 {
        // SAFETY: same contract as `Avx512F32`'s.
        unsafe { Avx512F32::counts_lt_zero(p) }
    }
}

// ---------------------------------------------------------------------------------------------
// The bit-packing and vote kernels, once for every `SimdBits` (the update and statistics kernels
// are in `simd.rs`, shared with the other backends). Same contract as those.

/// Words (of 64 coordinates) that the block loops handle; the rest goes to the scalar reference.
#[inline(always)]
fn full_words(n: usize) -> usize {
    n / 64
}

/// The 64 `> 0` and `< 0` bits of one block of 64 elements.
///
/// # Safety
/// See the kernel section contract above; `block` has 64 elements.
#[inline(always)]
unsafe fn block_signs<S: SimdBits>(block: &[S::E]) -> (u64, u64) {
    let (mut pos, mut neg) = (0_u64, 0_u64);
    for (j, c) in block.chunks_exact(S::LANES).enumerate() {
        // SAFETY: `c` has `S::LANES` elements; the ISA is the caller's contract.
        let v = unsafe { S::load(c.as_ptr()) };
        // SAFETY: as above.
        let (p, n) = unsafe { (S::gt_zero(v), S::lt_zero(v)) };
        pos |= p << (j * S::LANES);
        neg |= n << (j * S::LANES);
    }
    (pos, neg)
}

/// Writes the `±1/0` values of one 64-element block from its (disjoint) bit planes.
///
/// # Safety
/// See the kernel section contract above; `block` has 64 elements.
#[inline(always)]
unsafe fn block_from_bits<S: SimdBits>(block: &mut [S::E], pos: u64, neg: u64) {
    for (j, c) in block.chunks_exact_mut(S::LANES).enumerate() {
        let shift = j * S::LANES;
        // SAFETY: `c` has `S::LANES` elements; the ISA is the caller's contract.
        unsafe { S::store(c.as_mut_ptr(), S::from_bits(pos >> shift, neg >> shift)) };
    }
}

/// Adds `pos_bit − neg_bit` to one 64-count block.
///
/// # Safety
/// See the kernel section contract above; `block` has 64 counts.
#[inline(always)]
unsafe fn block_counts_add<S: SimdBits>(block: &mut [i32], pos: u64, neg: u64) {
    for (j, c) in block.chunks_exact_mut(S::I32_LANES).enumerate() {
        let shift = j * S::I32_LANES;
        // SAFETY: `c` has `S::I32_LANES` counts; the ISA is the caller's contract.
        unsafe { S::counts_add(c.as_mut_ptr(), pos >> shift, neg >> shift) };
    }
}

/// The `> 0` and `< 0` bits of one block of 64 counts.
///
/// # Safety
/// See the kernel section contract above; `block` has 64 counts.
#[inline(always)]
unsafe fn block_count_signs<S: SimdBits>(block: &[i32]) -> (u64, u64) {
    let (mut pos, mut neg) = (0_u64, 0_u64);
    for (j, c) in block.chunks_exact(S::I32_LANES).enumerate() {
        // SAFETY: `c` has `S::I32_LANES` counts; the ISA is the caller's contract.
        let (p, n) = unsafe { (S::counts_gt_zero(c.as_ptr()), S::counts_lt_zero(c.as_ptr())) };
        pos |= p << (j * S::I32_LANES);
        neg |= n << (j * S::I32_LANES);
    }
    (pos, neg)
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn pack_signs_1bit<S: SimdBits>(g: &[S::E], out: &mut [u64]) {
    let w = full_words(g.len());
    for (o, block) in out[..w].iter_mut().zip(g.chunks_exact(64)) {
        // SAFETY: `block` has 64 elements; the ISA is the caller's contract.
        *o = unsafe { block_signs::<S>(block) }.0;
    }
    scalar::pack_signs_1bit(&g[w * 64..], &mut out[w..]);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn unpack_signs_1bit<S: SimdBits>(bits: &[u64], out: &mut [S::E]) {
    let w = full_words(out.len());
    for (&b, block) in bits[..w].iter().zip(out.chunks_exact_mut(64)) {
        // SAFETY: `block` has 64 elements; the ISA is the caller's contract.
        unsafe { block_from_bits::<S>(block, b, !b) };
    }
    scalar::unpack_signs_1bit(&bits[w..], &mut out[w * 64..]);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn pack_signs_2bit<S: SimdBits>(g: &[S::E], pos: &mut [u64], neg: &mut [u64]) {
    let w = full_words(g.len());
    let words = pos[..w].iter_mut().zip(neg[..w].iter_mut());
    for ((p, n), block) in words.zip(g.chunks_exact(64)) {
        // SAFETY: `block` has 64 elements; the ISA is the caller's contract.
        (*p, *n) = unsafe { block_signs::<S>(block) };
    }
    scalar::pack_signs_2bit(&g[w * 64..], &mut pos[w..], &mut neg[w..]);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn sign_step_pack_2bit<S: SimdBits>(
    x: &mut [S::E],
    g: &[S::E],
    pos: &mut [u64],
    neg: &mut [u64],
    gamma: S::E,
    decay: S::E,
) {
    assert_eq!(x.len(), g.len());
    let w = full_words(g.len());
    let words = pos[..w].iter_mut().zip(neg[..w].iter_mut());
    let blocks = x.chunks_exact_mut(64).zip(g.chunks_exact(64));
    for ((p, n), (xb, gb)) in words.zip(blocks) {
        // SAFETY: both blocks have 64 elements (a whole number of vectors); the ISA is the
        // caller's contract. The block is still in L1 for the step after its signs are read.
        unsafe {
            (*p, *n) = block_signs::<S>(gb);
            sign_step::<S>(xb, gb, gamma, decay);
        }
    }
    let (x, g) = (&mut x[w * 64..], &g[w * 64..]);
    scalar::sign_step_pack_2bit(x, g, &mut pos[w..], &mut neg[w..], gamma, decay);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn unpack_signs_2bit<S: SimdBits>(pos: &[u64], neg: &[u64], out: &mut [S::E]) {
    let w = full_words(out.len());
    let words = pos[..w].iter().zip(&neg[..w]);
    for ((&p, &n), block) in words.zip(out.chunks_exact_mut(64)) {
        // SAFETY: `block` has 64 elements; the ISA is the caller's contract. Both bits set
        // reads as 0, as in the reference (`pos − neg`).
        unsafe { block_from_bits::<S>(block, p & !n, n & !p) };
    }
    scalar::unpack_signs_2bit(&pos[w..], &neg[w..], &mut out[w * 64..]);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn dot_sign_packed_2bit<S: SimdBits>(g: &[S::E], pos: &[u64], neg: &[u64]) -> SignDot {
    let w = full_words(g.len());
    // SAFETY: every chunk has `S::LANES` elements; the ISA is the caller's contract.
    let (dot_sign, l1, bad) = unsafe {
        let mut acc = (S::acc_zero(), S::acc_zero(), 0_u64);
        let words = pos[..w].iter().zip(&neg[..w]);
        for ((&p, &n), block) in words.zip(g.chunks_exact(64)) {
            acc = S::dot_sign_block(acc, block, p & !n, n & !p);
        }
        let (dot, l1, bad) = acc;
        (S::acc_sum(dot), S::acc_sum(l1), bad)
    };
    let tail = scalar::dot_sign_packed_2bit(&g[w * 64..], &pos[w..], &neg[w..]);
    SignDot {
        dot_sign: dot_sign + tail.dot_sign,
        l1: l1 + tail.l1,
        finite: bad == 0 && tail.finite,
    }
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn accumulate_signs<S: SimdBits>(g: &[S::E], counts: &mut [i32]) {
    assert_eq!(g.len(), counts.len());
    let t = g.len() - g.len() % 64;
    let blocks = g[..t]
        .chunks_exact(64)
        .zip(counts[..t].chunks_exact_mut(64));
    for (gb, cb) in blocks {
        // SAFETY: both blocks have 64 entries; the ISA is the caller's contract.
        unsafe {
            let (p, n) = block_signs::<S>(gb);
            block_counts_add::<S>(cb, p, n);
        }
    }
    scalar::accumulate_signs(&g[t..], &mut counts[t..]);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn accumulate_signs_2bit<S: SimdBits>(pos: &[u64], neg: &[u64], counts: &mut [i32]) {
    let w = full_words(counts.len());
    let words = pos[..w].iter().zip(&neg[..w]);
    for ((&p, &n), block) in words.zip(counts.chunks_exact_mut(64)) {
        // SAFETY: `block` has 64 counts; the ISA is the caller's contract.
        unsafe { block_counts_add::<S>(block, p, n) };
    }
    scalar::accumulate_signs_2bit(&pos[w..], &neg[w..], &mut counts[w * 64..]);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn accumulate_signs_1bit<S: SimdBits>(bits: &[u64], counts: &mut [i32]) {
    let w = full_words(counts.len());
    for (&b, block) in bits[..w].iter().zip(counts.chunks_exact_mut(64)) {
        // SAFETY: `block` has 64 counts; the ISA is the caller's contract.
        unsafe { block_counts_add::<S>(block, b, !b) };
    }
    scalar::accumulate_signs_1bit(&bits[w..], &mut counts[w * 64..]);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn vote_from_counts<S: SimdBits>(counts: &[i32], out: &mut [S::E]) {
    assert_eq!(counts.len(), out.len());
    let t = out.len() - out.len() % 64;
    let blocks = counts[..t]
        .chunks_exact(64)
        .zip(out[..t].chunks_exact_mut(64));
    for (cb, ob) in blocks {
        // SAFETY: both blocks have 64 entries; the ISA is the caller's contract.
        unsafe {
            let (p, n) = block_count_signs::<S>(cb);
            block_from_bits::<S>(ob, p, n);
        }
    }
    scalar::vote_from_counts(&counts[t..], &mut out[t..]);
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
unsafe fn vote_from_counts_2bit<S: SimdBits>(counts: &[i32], pos: &mut [u64], neg: &mut [u64]) {
    let w = full_words(counts.len());
    let words = pos[..w].iter_mut().zip(neg[..w].iter_mut());
    for ((p, n), block) in words.zip(counts.chunks_exact(64)) {
        // SAFETY: `block` has 64 counts; the ISA is the caller's contract.
        (*p, *n) = unsafe { block_count_signs::<S>(block) };
    }
    scalar::vote_from_counts_2bit(&counts[w * 64..], &mut pos[w..], &mut neg[w..]);
}

// ---------------------------------------------------------------------------------------------
// Entry points: one `#[target_feature]` instantiation per (token, element type, kernel).

/// Implements [`ArchKernels`] for one token and element type.
macro_rules! arch_kernels {
    ($token:ty, $feature:literal, $S:ty, $e:ty) => {
        impl ArchKernels<$e> for $token {
            shared_entries!($feature, $S, $e);
            entry!($feature, $S, fn pack_signs_1bit(g: &[$e], out: &mut [u64]));
            entry!($feature, $S, fn unpack_signs_1bit(bits: &[u64], out: &mut [$e]));
            entry!($feature, $S, fn pack_signs_2bit(g: &[$e], pos: &mut [u64], neg: &mut [u64]));
            entry!($feature, $S, fn sign_step_pack_2bit(
                x: &mut [$e], g: &[$e], pos: &mut [u64], neg: &mut [u64], gamma: $e, decay: $e
            ));
            entry!($feature, $S, fn unpack_signs_2bit(pos: &[u64], neg: &[u64], out: &mut [$e]));
            entry!($feature, $S, fn dot_sign_packed_2bit(
                g: &[$e], pos: &[u64], neg: &[u64]
            ) -> SignDot);
            entry!($feature, $S, fn accumulate_signs(g: &[$e], counts: &mut [i32]));
            entry!($feature, $S, fn vote_from_counts(counts: &[i32], out: &mut [$e]));
        }
    };
}

/// Implements [`ArchCounts`] for one token.
macro_rules! arch_counts {
    ($token:ty, $feature:literal, $S:ty) => {
        impl ArchCounts for $token {
            entry!($feature, $S, fn accumulate_signs_2bit(
                pos: &[u64], neg: &[u64], counts: &mut [i32]
            ));
            entry!($feature, $S, fn accumulate_signs_1bit(bits: &[u64], counts: &mut [i32]));
            entry!($feature, $S, fn vote_from_counts_2bit(
                counts: &[i32], pos: &mut [u64], neg: &mut [u64]
            ));
        }
    };
}

arch_kernels!(Avx2, "avx2", Avx2F32, f32);
arch_kernels!(Avx2, "avx2", Avx2F64, f64);
arch_counts!(Avx2, "avx2", Avx2F32);
arch_kernels!(Avx512, "avx512f", Avx512F32, f32);
arch_kernels!(Avx512, "avx512f", Avx512F64, f64);
arch_counts!(Avx512, "avx512f", Avx512F32);
