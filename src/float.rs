//! The floating-point element types optimizers work on: `f32` and `f64`.

use std::fmt::{Debug, Display};
use std::ops::{Add, Mul, Neg, Sub};

/// The kernels' element-level hooks. A supertrait of [`Float`] in a private module: users cannot
/// name or implement it (which seals `Float` to `f32` and `f64`), and its items stay out of the
/// public API.
pub(crate) mod sealed {
    use super::{Slice, SliceMut};

    pub trait Sealed: Sized {
        /// The unsigned integer of the same width (kernels compare non-negative values as
        /// integers: their order is the floats' order, and integer maxima vectorise).
        type Bits: Copy + Ord + Default + Send + Sync + std::fmt::Debug;
        /// The bits of `|self|` (ordered like the magnitudes; NaN above `+∞`).
        fn magnitude_bits(self) -> Self::Bits;
        /// The value whose bits are `b` (inverse of `magnitude_bits` for non-negative values).
        fn from_magnitude_bits(b: Self::Bits) -> Self;
        /// `self · sign(d)` without branches: `±self`, or `self · 0` when `d` is `±0` or NaN
        /// (the portable kernels' form of `kernels::sign`; equal to the product up to the sign
        /// bit of a NaN).
        fn mul_sign_of(self, d: Self) -> Self;
        /// The slice as its concrete type, so generic kernels reach the `f32`/`f64` SIMD code.
        fn dispatch_view(v: &[Self]) -> Slice<'_>;
        /// The mutable slice as its concrete type (see `dispatch_view`).
        fn dispatch_view_mut(v: &mut [Self]) -> SliceMut<'_>;
    }
}

/// A parameter element type: implemented for `f32` and `f64` only.
///
/// Reductions (norms, inner products, running sums) are always accumulated in `f64`, whatever
/// the element type; these conversions are the only bridge.
pub trait Float:
    Copy
    + Default
    + Debug
    + Display
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + sealed::Sealed
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Size in bytes.
    const BYTES: usize;
    /// The largest finite value, as `f64` (`f32::MAX` or `f64::MAX`).
    const MAX: f64;
    /// The smallest positive normal value, as `f64`.
    const MIN_POSITIVE: f64;
    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// `true` unless NaN or infinite.
    fn is_finite(self) -> bool;
    /// Absolute value.
    fn abs(self) -> Self;
    /// The correctly rounded square root (NaN for negative input). Equal, bit for bit, to
    /// `from_f64(self.to_f64().sqrt())`: rounding to `f64` first and then to `f32` is harmless
    /// for the square root, since `f64`'s 53 bits exceed `2·24 + 2`.
    fn sqrt(self) -> Self;
    /// The correctly rounded quotient `self / d`; equal, bit for bit, to
    /// `from_f64(self.to_f64() / d.to_f64())` (the same double-rounding argument).
    fn div(self, d: Self) -> Self;
    /// `max_i |v_i|` as `f64`: `+∞` if the largest magnitude is infinite, NaN if some element is
    /// NaN, 0 for an empty slice. One branch-free pass (the magnitudes are compared as integers,
    /// whose order matches the floats' for non-negative values and puts NaN above `+∞`), so the
    /// compiler vectorises it; every `step` runs it over the gradient.
    fn max_abs(v: &[Self]) -> f64;
}

/// A borrowed slice of one of the two element types (an implementation detail of the kernels).
#[derive(Debug)]
pub enum Slice<'a> {
    /// `f32` elements.
    F32(&'a [f32]),
    /// `f64` elements.
    F64(&'a [f64]),
}

/// A mutably borrowed slice of one of the two element types (see [`Slice`]).
#[derive(Debug)]
pub enum SliceMut<'a> {
    /// `f32` elements.
    F32(&'a mut [f32]),
    /// `f64` elements.
    F64(&'a mut [f64]),
}

macro_rules! impl_float {
    ($t:ty, $bits:ty, $variant:ident) => {
        impl sealed::Sealed for $t {
            type Bits = $bits;
            #[inline(always)]
            fn magnitude_bits(self) -> $bits {
                self.to_bits() & !(1 << (<$bits>::BITS - 1))
            }
            #[inline(always)]
            fn from_magnitude_bits(b: $bits) -> Self {
                <$t>::from_bits(b)
            }
            #[inline(always)]
            fn mul_sign_of(self, d: Self) -> Self {
                const SIGN: $bits = 1 << (<$bits>::BITS - 1);
                // All ones when `d` is neither ±0 nor NaN.
                // Not `d != 0.0`: that is true for NaN, whose sign is 0.
                #[allow(clippy::double_comparisons)]
                let keep = <$bits>::from(d > 0.0 || d < 0.0).wrapping_neg();
                let flipped = self.to_bits() ^ (d.to_bits() & SIGN);
                // Kept: `self` with its sign flipped by `d`'s; else `self · 0` (a signed zero,
                // or NaN for a non-finite `self`, as the product with `sign(d) = 0` gives).
                <$t>::from_bits((flipped & keep) | ((self * 0.0).to_bits() & !keep))
            }
            #[inline(always)]
            fn dispatch_view(v: &[Self]) -> Slice<'_> {
                Slice::$variant(v)
            }
            #[inline(always)]
            fn dispatch_view_mut(v: &mut [Self]) -> SliceMut<'_> {
                SliceMut::$variant(v)
            }
        }

        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const BYTES: usize = std::mem::size_of::<$t>();
            const MAX: f64 = <$t>::MAX as f64;
            const MIN_POSITIVE: f64 = <$t>::MIN_POSITIVE as f64;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn div(self, d: Self) -> Self {
                self / d
            }
            #[inline(always)]
            fn max_abs(v: &[Self]) -> f64 {
                // One integer maximum over the magnitudes' bits: associative, so the compiler
                // vectorises it (and interleaves several accumulators) by itself.
                const MAGNITUDE: $bits = !(1 << (<$bits>::BITS - 1));
                let largest = v.iter().fold(0, |m, x| m.max(x.to_bits() & MAGNITUDE));
                <$t>::from_bits(largest) as f64
            }
        }
    };
}

impl_float!(f32, u32, F32);
impl_float!(f64, u64, F64);

#[cfg(test)]
mod tests {
    use super::Float;

    /// Native `f32` square root and division equal the `f64` detour bit for bit (the kernels of
    /// the Adam family switched from the detour to the native operations).
    #[test]
    fn native_sqrt_and_div_equal_the_f64_detour() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            f32::from_bits((state >> 32) as u32)
        };
        let specials = [
            0.0,
            -0.0,
            1.0,
            f32::MIN_POSITIVE,
            1e-45,
            f32::MAX,
            f32::INFINITY,
        ];
        for i in 0..2_000_000 {
            let (a, b) = if i < specials.len() * specials.len() {
                (specials[i / specials.len()], specials[i % specials.len()])
            } else {
                (next(), next())
            };
            let detour_sqrt = f32::from_f64(a.abs().to_f64().sqrt());
            assert_eq!(
                Float::sqrt(a.abs()).to_bits(),
                detour_sqrt.to_bits(),
                "sqrt {a:e}"
            );
            let (native, detour) = (Float::div(a, b), f32::from_f64(a.to_f64() / b.to_f64()));
            assert!(
                native.to_bits() == detour.to_bits() || (native.is_nan() && detour.is_nan()),
                "{a:e} / {b:e}"
            );
        }
    }
}
