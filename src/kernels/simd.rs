//! The SIMD kernels written once, generically over a small per-ISA vocabulary ([`Simd`]), in
//! the layout of pulp/faer:
//! - a backend implements [`Simd`] for each element type (`x86_64.rs`: AVX2 and AVX-512F;
//!   `aarch64.rs`: NEON) and nothing else to run the update and statistics kernels;
//! - each kernel here is an `#[inline(always)]` body that mirrors the scalar reference lane by
//!   lane;
//! - a backend's entry points ([`entry!`]) instantiate a body inside a `#[target_feature]`
//!   function, so the intrinsics inline into code compiled for that instruction set, and are
//!   safe because they take a token that only run-time detection creates.
//!
//! Element-wise kernels handle the last `n mod LANES` elements with the scalar reference. Sums
//! keep `f64` accumulators per lane and add the lanes in a fixed order at the end.

use super::scalar::{self, AliasStats};

/// Vector operations for one instruction set and element type: the whole vocabulary a backend
/// implements to run the kernels below.
///
/// Every method is `unsafe` with one shared contract:
///
/// # Safety
/// The CPU must support the implementing type's instruction set (e.g. AVX2 for `Avx2*`, NEON
/// for `Neon*`), and every pointer argument must be valid for reading (or, for stores, writing)
/// `LANES` elements. No alignment is required except for [`Simd::stream`].
pub(super) trait Simd: Copy {
    /// The element type.
    type E: crate::float::Float;
    /// A vector of `LANES` elements.
    type V: Copy;
    /// `f64` accumulators for `LANES` lanes (one or two vectors).
    type Acc: Copy;
    /// Elements per vector.
    const LANES: usize;

    unsafe fn splat(e: Self::E) -> Self::V;
    unsafe fn load(p: *const Self::E) -> Self::V;
    unsafe fn store(p: *mut Self::E, v: Self::V);
    /// Whether [`Simd::stream`] is a real non-temporal store (then the fused updates stream
    /// large stored gradients); `false` by default.
    const STREAMS: bool = false;
    /// A non-temporal store (bypasses the caches, no read-for-ownership). `p` must also be
    /// aligned to the vector size; call [`Simd::fence`] after the last one. Default: a store.
    #[inline(always)]
    unsafe fn stream(p: *mut Self::E, v: Self::V) {
        // SAFETY: the trait contract.
        unsafe { Self::store(p, v) }
    }
    /// Orders earlier non-temporal stores before later stores (`sfence`). Default: nothing.
    #[inline(always)]
    unsafe fn fence() {}
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `sign` as in the reference: `±1`, and `+0` for `±0` and NaN.
    unsafe fn sign(v: Self::V) -> Self::V;
    /// Bit `j` set iff lane `j` is NaN or infinite.
    unsafe fn non_finite(v: Self::V) -> u64;
    /// `max(|v|, acc)` lane-wise, keeping `acc` where `|v|` is NaN (as `f64::max` does).
    unsafe fn max_abs(acc: Self::V, v: Self::V) -> Self::V;
    /// The largest lane, in `f64` (lanes must not be NaN).
    unsafe fn hmax(v: Self::V) -> f64;

    unsafe fn acc_zero() -> Self::Acc;
    /// `acc + f64(v)`.
    unsafe fn acc_add(acc: Self::Acc, v: Self::V) -> Self::Acc;
    /// `acc + f64(g)·f64(sign(d))`, each product evaluated exactly as the reference does (so
    /// `±∞·0` is NaN). The default multiplies in the element type, which is exact for a factor
    /// `±1`/`0`, and widens the product.
    #[inline(always)]
    unsafe fn acc_add_sign_dot(acc: Self::Acc, g: Self::V, d: Self::V) -> Self::Acc {
        // SAFETY: the trait contract.
        unsafe { Self::acc_add(acc, Self::mul(g, Self::sign(d))) }
    }
    /// `acc + |f64(a) − f64(b)|`.
    unsafe fn acc_add_abs_diff(acc: Self::Acc, a: Self::V, b: Self::V) -> Self::Acc;
    /// The sum of the lanes, in a fixed order.
    unsafe fn acc_sum(acc: Self::Acc) -> f64;
}

// ---------------------------------------------------------------------------------------------
// The kernels, once for every `Simd`. Each mirrors its scalar reference lane by lane; see the
// reference for the semantics. All share one contract:
//
// # Safety
// The CPU must support `S`'s instruction set. (Slices are accessed only through
// `chunks_exact` chunks of `S::LANES` elements, so every pointer handed to `S` is in bounds.)

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
pub(super) unsafe fn first_non_finite<S: Simd>(v: &[S::E]) -> Option<usize> {
    let chunks = v.chunks_exact(S::LANES);
    let tail = v.len() - chunks.remainder().len();
    for (k, c) in chunks.enumerate() {
        // SAFETY: `c` has `S::LANES` elements; the ISA is the caller's contract.
        let bad = unsafe { S::non_finite(S::load(c.as_ptr())) };
        if bad != 0 {
            return Some(k * S::LANES + bad.trailing_zeros() as usize);
        }
    }
    scalar::first_non_finite(&v[tail..]).map(|i| tail + i)
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
pub(super) unsafe fn sign_step<S: Simd>(x: &mut [S::E], g: &[S::E], gamma: S::E, decay: S::E) {
    assert_eq!(x.len(), g.len());
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: every chunk has `S::LANES` elements; the ISA is the caller's contract.
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
pub(super) unsafe fn axpy<S: Simd>(x: &mut [S::E], g: &[S::E], s: S::E) {
    assert_eq!(x.len(), g.len());
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: every chunk has `S::LANES` elements; the ISA is the caller's contract.
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
pub(super) unsafe fn momentum_sign_step<S: Simd>(
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
    // SAFETY: every chunk has `S::LANES` elements; the ISA is the caller's contract.
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
pub(super) unsafe fn alias_stats<S: Simd>(g: &[S::E], prev: &[S::E], dir: &[S::E]) -> AliasStats {
    assert!(g.len() == prev.len() && g.len() == dir.len());
    let t = g.len() - g.len() % S::LANES;
    // SAFETY: every chunk has `S::LANES` elements; the ISA is the caller's contract.
    let (diff_l1, dot_sign, bad) = unsafe {
        let (mut l1, mut dot, mut bad) = (S::acc_zero(), S::acc_zero(), 0_u64);
        let chunks = g[..t]
            .chunks_exact(S::LANES)
            .zip(prev[..t].chunks_exact(S::LANES))
            .zip(dir[..t].chunks_exact(S::LANES));
        for ((gc, pc), dc) in chunks {
            let gv = S::load(gc.as_ptr());
            bad |= S::non_finite(gv);
            l1 = S::acc_add_abs_diff(l1, gv, S::load(pc.as_ptr()));
            dot = S::acc_add_sign_dot(dot, gv, S::load(dc.as_ptr()));
        }
        (S::acc_sum(l1), S::acc_sum(dot), bad)
    };
    let tail = scalar::alias_stats(&g[t..], &prev[t..], &dir[t..]);
    AliasStats {
        diff_l1: diff_l1 + tail.diff_l1,
        dot_sign: dot_sign + tail.dot_sign,
        finite: bad == 0 && tail.finite,
    }
}

/// From this many bytes per vector on, the fused updates write `store` with non-temporal
/// stores: a previous-gradient buffer that large is not read again before it would have left
/// the caches, and streaming saves the read-for-ownership of every line written (4 of the
/// 20 bytes per `f32` element that `sign_step_store` really moves). Below it, plain stores
/// leave `store` in cache for the next step's statistics pass.
const STREAM_BYTES: usize = 16 << 20;

/// How many leading elements to handle before `store` is aligned for streaming, or `None` to
/// use plain stores (small vector, or a pointer that no element count can align).
#[inline(always)]
fn stream_head<S: Simd>(store: &[S::E], lanes: usize) -> Option<usize> {
    let bytes = std::mem::size_of_val(store);
    let head = store
        .as_ptr()
        .align_offset(lanes * std::mem::size_of::<S::E>());
    (S::STREAMS && bytes >= STREAM_BYTES && head <= store.len()).then_some(head)
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
pub(super) unsafe fn sign_step_store<S: Simd>(
    x: &mut [S::E],
    g: &[S::E],
    store: &mut [S::E],
    gamma: S::E,
    decay: S::E,
) -> f64 {
    assert!(x.len() == g.len() && store.len() == g.len());
    let stream = stream_head::<S>(store, S::LANES);
    let head = stream.unwrap_or(0);
    let (xh, x) = x.split_at_mut(head);
    let (sh, store) = store.split_at_mut(head);
    let (gh, g) = g.split_at(head);
    let moved_head = scalar::sign_step_store(xh, gh, sh, gamma, decay);
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (sv, st) = store.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: every chunk has `S::LANES` elements; the ISA is the caller's contract. With
    // `stream`, `sv` starts at a vector-aligned address (`stream_head`) and every chunk is a
    // whole number of vectors further on, so each streamed address is aligned; the fence
    // follows the last streamed store.
    let moved = unsafe {
        let (gam, dec) = (S::splat(gamma), S::splat(decay));
        let mut moved = S::splat(<S::E as crate::float::Float>::ZERO);
        let chunks = xv
            .chunks_exact_mut(S::LANES)
            .zip(gv.chunks_exact(S::LANES))
            .zip(sv.chunks_exact_mut(S::LANES));
        for ((xc, gc), sc) in chunks {
            let gl = S::load(gc.as_ptr());
            let old = S::load(xc.as_ptr());
            let new = S::sub(S::mul(old, dec), S::mul(gam, S::sign(gl)));
            S::store(xc.as_mut_ptr(), new);
            if stream.is_some() {
                S::stream(sc.as_mut_ptr(), gl);
            } else {
                S::store(sc.as_mut_ptr(), gl);
            }
            moved = S::max_abs(moved, S::sub(new, old));
        }
        if stream.is_some() {
            S::fence();
        }
        S::hmax(moved)
    };
    moved_head
        .max(moved)
        .max(scalar::sign_step_store(xt, gt, st, gamma, decay))
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn momentum_sign_step_store<S: Simd>(
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
    let stream = stream_head::<S>(store, S::LANES);
    let head = stream.unwrap_or(0);
    let (xh, x) = x.split_at_mut(head);
    let (mh, m) = m.split_at_mut(head);
    let (sh, store) = store.split_at_mut(head);
    let (gh, g) = g.split_at(head);
    let moved_head = scalar::momentum_sign_step_store(xh, mh, gh, sh, beta, omb, gamma, decay);
    let t = x.len() - x.len() % S::LANES;
    let (xv, xt) = x.split_at_mut(t);
    let (mv, mt) = m.split_at_mut(t);
    let (sv, st) = store.split_at_mut(t);
    let (gv, gt) = g.split_at(t);
    // SAFETY: as in `sign_step_store`.
    let moved = unsafe {
        let (b, o, gam, dec) = (
            S::splat(beta),
            S::splat(omb),
            S::splat(gamma),
            S::splat(decay),
        );
        let mut moved = S::splat(<S::E as crate::float::Float>::ZERO);
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
            if stream.is_some() {
                S::stream(sc.as_mut_ptr(), gl);
            } else {
                S::store(sc.as_mut_ptr(), gl);
            }
            moved = S::max_abs(moved, S::sub(new, old));
        }
        if stream.is_some() {
            S::fence();
        }
        S::hmax(moved)
    };
    moved_head.max(moved).max(scalar::momentum_sign_step_store(
        xt, mt, gt, st, beta, omb, gamma, decay,
    ))
}

/// # Safety
/// See the kernel section contract above.
#[inline(always)]
pub(super) unsafe fn inf_norm<S: Simd>(v: &[S::E]) -> f64 {
    let chunks = v.chunks_exact(S::LANES);
    let tail = chunks.remainder();
    // SAFETY: every chunk has `S::LANES` elements; the ISA is the caller's contract.
    let norm = unsafe {
        let mut acc = S::splat(<S::E as crate::float::Float>::ZERO);
        for c in chunks {
            acc = S::max_abs(acc, S::load(c.as_ptr()));
        }
        S::hmax(acc)
    };
    norm.max(scalar::inf_norm(tail))
}

// ---------------------------------------------------------------------------------------------
// Entry points: one `#[target_feature]` instantiation per (token, element type, kernel).

/// Defines a safe method on a detection token that runs `$name::<$S>` (a kernel body in scope)
/// compiled with the target feature `$feature` enabled.
macro_rules! entry {
    ($feature:literal, $S:ty, fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        #[allow(clippy::too_many_arguments)]
        fn $name(self, $($arg: $ty),*) $(-> $ret)? {
            /// # Safety
            /// The CPU must support the enabled target feature.
            #[target_feature(enable = $feature)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn imp($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: `imp` runs only where the feature is available (its contract), which
                // is the kernel's whole contract.
                unsafe { $name::<$S>($($arg),*) }
            }
            // SAFETY: `self` is a token that exists only after run-time detection found the
            // feature on this CPU.
            unsafe { imp($($arg),*) }
        }
    };
}
pub(super) use entry;

/// The entries of the kernels above, for one token and element type (inside an
/// `impl ArchKernels<$e> for $token` block).
macro_rules! shared_entries {
    ($feature:literal, $S:ty, $e:ty) => {
        entry!($feature, $S, fn first_non_finite(v: &[$e]) -> Option<usize>);
        entry!($feature, $S, fn sign_step(x: &mut [$e], g: &[$e], gamma: $e, decay: $e));
        entry!($feature, $S, fn axpy(x: &mut [$e], g: &[$e], s: $e));
        entry!($feature, $S, fn momentum_sign_step(
            x: &mut [$e], m: &mut [$e], g: &[$e], beta: $e, omb: $e, gamma: $e, decay: $e
        ));
        entry!($feature, $S, fn alias_stats(g: &[$e], prev: &[$e], dir: &[$e]) -> AliasStats);
        entry!($feature, $S, fn sign_step_store(
            x: &mut [$e], g: &[$e], store: &mut [$e], gamma: $e, decay: $e
        ) -> f64);
        entry!($feature, $S, fn momentum_sign_step_store(
            x: &mut [$e], m: &mut [$e], g: &[$e], store: &mut [$e],
            beta: $e, omb: $e, gamma: $e, decay: $e
        ) -> f64);
        entry!($feature, $S, fn inf_norm(v: &[$e]) -> f64);
    };
}
pub(super) use shared_entries;
