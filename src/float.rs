//! The floating-point element types optimizers work on: `f32` and `f64`.

use std::fmt::{Debug, Display};
use std::ops::{Add, Mul, Neg, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
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
    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// `true` unless NaN or infinite.
    fn is_finite(self) -> bool;
    /// Absolute value.
    fn abs(self) -> Self;
    /// The slice as its concrete type, so generic kernels reach the `f32`/`f64` SIMD code.
    #[doc(hidden)]
    fn dispatch_view(v: &[Self]) -> Slice<'_>;
    /// The mutable slice as its concrete type (see [`Float::dispatch_view`]).
    #[doc(hidden)]
    fn dispatch_view_mut(v: &mut [Self]) -> SliceMut<'_>;
}

/// A borrowed slice of one of the two element types (an implementation detail of the kernels).
#[doc(hidden)]
#[derive(Debug)]
pub enum Slice<'a> {
    /// `f32` elements.
    F32(&'a [f32]),
    /// `f64` elements.
    F64(&'a [f64]),
}

/// A mutably borrowed slice of one of the two element types (see [`Slice`]).
#[doc(hidden)]
#[derive(Debug)]
pub enum SliceMut<'a> {
    /// `f32` elements.
    F32(&'a mut [f32]),
    /// `f64` elements.
    F64(&'a mut [f64]),
}

macro_rules! impl_float {
    ($t:ty, $variant:ident) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const BYTES: usize = std::mem::size_of::<$t>();
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
            fn dispatch_view(v: &[Self]) -> Slice<'_> {
                Slice::$variant(v)
            }
            #[inline(always)]
            fn dispatch_view_mut(v: &mut [Self]) -> SliceMut<'_> {
                SliceMut::$variant(v)
            }
        }
    };
}

impl_float!(f32, F32);
impl_float!(f64, F64);
