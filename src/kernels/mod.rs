//! The passes over parameter-sized vectors that every optimizer is made of.
//!
//! [`scalar`] is the specification: plain loops whose results define what every faster backend
//! must reproduce. Optimizers call the kernels only through [`Kernels`], which holds the backend
//! chosen once (detected at construction or forced) and a thread count, so a faster backend
//! plugs in here without touching any algorithm.
//!
//! # Backends
//!
//! | [`Backend`] | where | what |
//! | --- | --- | --- |
//! | `Scalar` | everywhere | the reference loops in [`scalar`] |
//! | `Avx2` | x86-64 with AVX2 | 256-bit `std::arch` intrinsics |
//! | `Avx512` | x86-64 with AVX-512F | 512-bit intrinsics, mask registers for signs and bits |
//! | `Neon` | aarch64 | 128-bit intrinsics for the update and statistics passes; the bit-packing and vote kernels run the scalar loops there |
//!
//! The choice is made at run time (`is_x86_feature_detected!`), so a default build (no
//! `target-cpu`) runs the fastest code the CPU has. All `unsafe` code lives in the architecture
//! modules; their entry points take a token that only successful detection can create.
//!
//! # What backends guarantee
//!
//! - Element-wise outputs (updated `x`, momentum, stored gradients, signs, packed bits, votes,
//!   `first_non_finite`, `inf_norm` and the `max |x_new − x_old|` of the fused updates) are
//!   **bit-identical** to the scalar reference: every lane evaluates the same IEEE operations in
//!   the same order (no fused multiply-add), and a maximum does not depend on the order.
//! - Sums (`alias_stats`, `dot_sign_packed_2bit`) accumulate in `f64` like the reference, but
//!   in several lanes (and, with threads, in several chunks) combined in a fixed order. Each
//!   term is computed exactly as in the reference; only the summation order differs, so for `n`
//!   terms `t_i` both results lie within `γ_{n−1}·Σ|t_i|` of the exact sum
//!   (`γ_k = k·u/(1 − k·u)`, `u = 2^−53`; Higham, *Accuracy and Stability of Numerical
//!   Algorithms*, §4.2) and therefore within `2·γ_{n−1}·Σ|t_i|` of each other. For a fixed
//!   backend and thread count the result is deterministic.
//!
//! # Threads
//!
//! Vectors of at least [`Kernels::parallel_threshold`] elements are split into one chunk per
//! thread (chunk lengths are multiples of 64, so packed words never straddle chunks) and run on
//! `std::thread::scope` threads; partial sums are combined in chunk order. The default threshold
//! is [`PARALLEL_THRESHOLD`]; the default thread count is the available parallelism. A
//! multi-threaded call spawns threads, which allocates: set `with_threads(1)` where a step must
//! not allocate.

pub mod scalar;

pub(crate) mod fused;
mod parallel;
mod portable;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(unsafe_code)]
mod simd;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_64;

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod aarch64;

pub use scalar::{AliasStats, SignDot, first_non_finite, packed_words, sign};

use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::float::{Float, Slice, SliceMut};

/// Which implementation of the kernels runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Portable loops (the reference semantics).
    Scalar,
    /// x86-64 AVX2 (256-bit vectors).
    Avx2,
    /// x86-64 AVX-512F (512-bit vectors and mask registers).
    Avx512,
    /// aarch64 NEON (128-bit vectors).
    Neon,
}

impl Backend {
    /// Every backend, supported on this CPU or not, slowest first.
    pub const ALL: [Backend; 4] = [
        Backend::Scalar,
        Backend::Avx2,
        Backend::Avx512,
        Backend::Neon,
    ];

    /// The fastest backend this CPU supports (AVX-512, then AVX2, on x86-64; NEON on aarch64).
    ///
    /// The CPU is queried once per process; later calls read the cached answer.
    pub fn detect() -> Self {
        static DETECTED: OnceLock<Backend> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            [Backend::Avx512, Backend::Avx2, Backend::Neon]
                .into_iter()
                .find(|b| b.is_supported())
                .unwrap_or(Backend::Scalar)
        })
    }

    /// Whether this CPU can run the backend.
    pub fn is_supported(self) -> bool {
        Isa::new(self).is_some()
    }

    /// A short lower-case name (`"scalar"`, `"avx2"`, `"avx512"`, `"neon"`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
            Backend::Neon => "neon",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Vectors shorter than this run on one thread whatever the thread count.
///
/// Measured on the 2-core AMD EPYC (Zen 4, AVX-512) development VM with
/// `cargo run --release --example kernel_summary -- --threshold`, which times the f32 sign step
/// (the lightest kernel, so the one that gains least from a second thread) on 1 and 2 threads
/// for n = 64K … 16M. Spawning and joining a scoped thread costs ≈ 55 µs there, so two threads
/// lose below 1M elements (0.5–0.85×), break even around 1.5M and win from 2M on (1.3× at 2M,
/// 1.6× at 3–4M, 1.3–1.5× at 8–16M where both threads share the memory bandwidth). The
/// threshold is therefore 2M elements (8 MiB of `f32`).
pub const PARALLEL_THRESHOLD: usize = 1 << 21;

/// The most threads one kernel call uses, whatever `with_threads` asks for.
pub const MAX_THREADS: usize = 256;

/// The available parallelism, asked once per process (at most [`MAX_THREADS`]).
fn available_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
    })
}

/// The backend together with the proof (a token from run-time detection) that it may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Isa {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2(x86_64::Avx2),
    #[cfg(target_arch = "x86_64")]
    Avx512(x86_64::Avx512),
    #[cfg(target_arch = "aarch64")]
    Neon(aarch64::Neon),
}

impl Isa {
    fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Scalar => Some(Isa::Scalar),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => x86_64::Avx2::detect().map(Isa::Avx2),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => x86_64::Avx512::detect().map(Isa::Avx512),
            #[cfg(target_arch = "aarch64")]
            Backend::Neon => aarch64::Neon::detect().map(Isa::Neon),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    fn backend(self) -> Backend {
        match self {
            Isa::Scalar => Backend::Scalar,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(_) => Backend::Avx2,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512(_) => Backend::Avx512,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon(_) => Backend::Neon,
        }
    }
}

/// The scalar reference as a backend (every [`ArchKernels`] method keeps its default).
#[derive(Debug, Clone, Copy)]
struct ScalarIsa;

/// Every kernel with a float element type `E`, once: `$m!` receives the list. It defines
/// [`ArchKernels`] (each default body is the scalar reference) and its forwarding to the
/// backend an [`Isa`] holds; a new kernel is one line here (plus its scalar specification, its
/// SIMD body and its [`Kernels`] wrapper).
macro_rules! with_float_kernels {
    ($m:ident $(, $extra:ty)?) => {
        $m! {
            $($extra;)?
            fn first_non_finite(v: &[E]) -> Option<usize>;
            fn sign_step(x: &mut [E], g: &[E], gamma: E, decay: E);
            fn axpy(x: &mut [E], g: &[E], s: E);
            fn momentum_sign_step(
                x: &mut [E], m: &mut [E], g: &[E], beta: E, one_minus_beta: E, gamma: E, decay: E
            );
            fn alias_stats(g: &[E], prev: &[E], dir: &[E]) -> AliasStats;
            fn sign_step_store(x: &mut [E], g: &[E], store: &mut [E], gamma: E, decay: E) -> f64;
            fn momentum_sign_step_store(
                x: &mut [E], m: &mut [E], g: &[E], store: &mut [E],
                beta: E, one_minus_beta: E, gamma: E, decay: E
            ) -> f64;
            fn inf_norm(v: &[E]) -> f64;
            fn pack_signs_1bit(g: &[E], out: &mut [u64]);
            fn unpack_signs_1bit(bits: &[u64], out: &mut [E]);
            fn pack_signs_2bit(g: &[E], pos: &mut [u64], neg: &mut [u64]);
            fn unpack_signs_2bit(pos: &[u64], neg: &[u64], out: &mut [E]);
            fn dot_sign_packed_2bit(g: &[E], pos: &[u64], neg: &[u64]) -> SignDot;
            fn accumulate_signs(g: &[E], counts: &mut [i32]);
            fn vote_from_counts(counts: &[i32], out: &mut [E]);
        }
    };
}

/// Defines [`ArchKernels`] from the list.
macro_rules! arch_kernels_trait {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        /// One backend's kernels for element type `E`. The default bodies are the scalar
        /// reference; an architecture module overrides what it accelerates. Callers have
        /// checked lengths.
        pub(crate) trait ArchKernels<E: Float>: Copy + Send + Sync {
            $(
                #[allow(clippy::too_many_arguments)]
                fn $name(self, $($arg: $ty),*) $(-> $ret)? {
                    scalar::$name($($arg),*)
                }
            )*
        }
    };
}
with_float_kernels!(arch_kernels_trait);

/// One backend's kernels on sign counts and packed bits (no float element type).
pub(crate) trait ArchCounts: Copy + Send + Sync {
    fn accumulate_signs_2bit(self, pos: &[u64], neg: &[u64], counts: &mut [i32]) {
        scalar::accumulate_signs_2bit(pos, neg, counts)
    }
    fn accumulate_signs_1bit(self, bits: &[u64], counts: &mut [i32]) {
        scalar::accumulate_signs_1bit(bits, counts)
    }
    fn vote_from_counts_2bit(self, counts: &[i32], pos: &mut [u64], neg: &mut [u64]) {
        scalar::vote_from_counts_2bit(counts, pos, neg)
    }
}

/// The fallback keeps the reference's simple loops and replaces the ALIAS statistics, the sign
/// steps and the fused updates with versions the compiler can vectorise (`portable`: lane-parallel
/// reductions, branch-free `γ·sign(·)`).
impl<E: Float> ArchKernels<E> for ScalarIsa {
    fn sign_step(self, x: &mut [E], g: &[E], gamma: E, decay: E) {
        portable::sign_step(x, g, gamma, decay)
    }
    fn alias_stats(self, g: &[E], prev: &[E], dir: &[E]) -> AliasStats {
        portable::alias_stats(g, prev, dir)
    }
    fn sign_step_store(self, x: &mut [E], g: &[E], store: &mut [E], gamma: E, decay: E) -> f64 {
        portable::sign_step_store(x, g, store, gamma, decay)
    }
    fn momentum_sign_step(
        self,
        x: &mut [E],
        m: &mut [E],
        g: &[E],
        beta: E,
        one_minus_beta: E,
        gamma: E,
        decay: E,
    ) {
        portable::momentum_sign_step(x, m, g, beta, one_minus_beta, gamma, decay)
    }
    fn momentum_sign_step_store(
        self,
        x: &mut [E],
        m: &mut [E],
        g: &[E],
        store: &mut [E],
        beta: E,
        one_minus_beta: E,
        gamma: E,
        decay: E,
    ) -> f64 {
        portable::momentum_sign_step_store(x, m, g, store, beta, one_minus_beta, gamma, decay)
    }
}
impl ArchCounts for ScalarIsa {}

/// Calls `$method` on the backend held by `$isa`.
macro_rules! on_isa {
    ($isa:expr, $method:ident($($arg:expr),*)) => {
        match $isa {
            Isa::Scalar => ScalarIsa.$method($($arg),*),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(t) => t.$method($($arg),*),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512(t) => t.$method($($arg),*),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon(t) => t.$method($($arg),*),
        }
    };
}

/// Implements [`ArchKernels`] for [`Isa`] (forwarding to the backend it holds) for one element
/// type, from the list.
macro_rules! isa_forwards {
    ($e:ty; $(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        const _: () = {
            type E = $e;
            impl ArchKernels<E> for Isa {
                $(
                    #[allow(clippy::too_many_arguments)]
                    fn $name(self, $($arg: $ty),*) $(-> $ret)? {
                        on_isa!(self, $name($($arg),*))
                    }
                )*
            }
        };
    };
}
with_float_kernels!(isa_forwards, f32);
with_float_kernels!(isa_forwards, f64);

impl ArchCounts for Isa {
    fn accumulate_signs_2bit(self, pos: &[u64], neg: &[u64], counts: &mut [i32]) {
        on_isa!(self, accumulate_signs_2bit(pos, neg, counts))
    }
    fn accumulate_signs_1bit(self, bits: &[u64], counts: &mut [i32]) {
        on_isa!(self, accumulate_signs_1bit(bits, counts))
    }
    fn vote_from_counts_2bit(self, counts: &[i32], pos: &mut [u64], neg: &mut [u64]) {
        on_isa!(self, vote_from_counts_2bit(counts, pos, neg))
    }
}

/// Rebinds generic slices and scalars to `f32` or `f64` and runs `$body` with `E` set to it.
///
/// `Float` is sealed to the two types, so exactly one arm matches; scalars go through `f64`,
/// which is exact both ways for an `f32` value.
macro_rules! concrete {
    ($F:ty; slices: [$($s:ident),*]; mut: [$($m:ident),*]; scalars: [$($c:ident),*]; $body:expr) => {{
        if <$F as Float>::BYTES == 4 {
            $(let $s: &[f32] = match <$F as crate::float::sealed::Sealed>::dispatch_view($s) {
                Slice::F32(v) => v,
                Slice::F64(_) => unreachable!("F is f32"),
            };)*
            $(let $m: &mut [f32] = match <$F as crate::float::sealed::Sealed>::dispatch_view_mut($m) {
                SliceMut::F32(v) => v,
                SliceMut::F64(_) => unreachable!("F is f32"),
            };)*
            $(let $c = $c.to_f64() as f32;)*
            $body
        } else {
            $(let $s: &[f64] = match <$F as crate::float::sealed::Sealed>::dispatch_view($s) {
                Slice::F64(v) => v,
                Slice::F32(_) => unreachable!("F is f64"),
            };)*
            $(let $m: &mut [f64] = match <$F as crate::float::sealed::Sealed>::dispatch_view_mut($m) {
                SliceMut::F64(v) => v,
                SliceMut::F32(_) => unreachable!("F is f64"),
            };)*
            $(let $c = $c.to_f64();)*
            $body
        }
    }};
}

/// The kernel entry points, bound to one backend chosen once and a thread count.
///
/// Every method has the semantics of the [`scalar`] function of the same name (see the module
/// docs for what "the same" means for sums) and panics on the same length mismatches.
///
/// ```
/// use signfree::kernels::{Backend, Kernels};
/// let k = Kernels::new(Backend::Scalar)?;
/// let mut x = [1.0_f32, 1.0];
/// k.sign_step(&mut x, &[2.0, -0.0], 0.5, 1.0);
/// assert_eq!(x, [0.5, 1.0]);
///
/// // The detected backend gives bit-identical updates.
/// let mut y = [1.0_f32, 1.0];
/// Kernels::detect().sign_step(&mut y, &[2.0, -0.0], 0.5, 1.0);
/// assert_eq!(x, y);
/// # Ok::<(), signfree::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels {
    isa: Isa,
    threads: usize,
    parallel_threshold: usize,
}

impl Default for Kernels {
    fn default() -> Self {
        Self::detect()
    }
}

impl Kernels {
    /// The fastest backend on this CPU, with the available parallelism as thread count.
    pub fn detect() -> Self {
        Self::new(Backend::detect()).expect("the detected backend is supported")
    }

    /// A specific backend (e.g. [`Backend::Scalar`] for reproducibility across machines), with
    /// the available parallelism as thread count.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if this CPU cannot run it.
    pub fn new(backend: Backend) -> Result<Self> {
        let isa = Isa::new(backend).ok_or_else(|| {
            Error::invalid(
                "Kernels",
                "backend",
                format!("{backend:?}"),
                "a backend this CPU supports",
            )
        })?;
        Ok(Self {
            isa,
            threads: available_threads(),
            parallel_threshold: PARALLEL_THRESHOLD,
        })
    }

    /// The same backend with at most `threads` threads per call (`0` means the available
    /// parallelism; `1` never spawns, so never allocates).
    ///
    /// The count is capped at [`MAX_THREADS`] (not at the machine's cores: a fixed count gives
    /// the same chunking, so the same reductions, on every machine).
    pub fn with_threads(self, threads: usize) -> Self {
        Self {
            threads: if threads == 0 {
                available_threads()
            } else {
                threads.min(MAX_THREADS)
            },
            ..self
        }
    }

    /// The same backend, splitting vectors across threads only from `len` elements on
    /// (default [`PARALLEL_THRESHOLD`]).
    pub fn with_parallel_threshold(self, len: usize) -> Self {
        Self {
            parallel_threshold: len,
            ..self
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.isa.backend()
    }

    /// The most threads one call uses.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The vector length from which calls split across threads.
    pub fn parallel_threshold(&self) -> usize {
        self.parallel_threshold
    }

    /// The chunk length for `n` elements, or `None` to run on the calling thread alone.
    fn split(&self, n: usize) -> Option<usize> {
        (self.threads > 1 && n >= self.parallel_threshold.max(128))
            .then(|| parallel::chunk_len(n, self.threads))
    }

    /// Index of the first NaN or infinite element, if any. See [`scalar::first_non_finite`].
    pub fn first_non_finite<F: Float>(&self, v: &[F]) -> Option<usize> {
        concrete!(F; slices: [v]; mut: []; scalars: []; self.first_non_finite_t(v))
    }

    fn first_non_finite_t<E: Float>(&self, v: &[E]) -> Option<usize>
    where
        Isa: ArchKernels<E>,
    {
        let isa = self.isa;
        let Some(cl) = self.split(v.len()) else {
            return isa.first_non_finite(v);
        };
        let mut found = None;
        parallel::run(
            v.chunks(cl).enumerate(),
            |(k, v)| isa.first_non_finite(v).map(|i| k * cl + i),
            |r| found = found.or(r),
        );
        found
    }

    /// Sign step with decoupled decay: `x ← x·decay − γ·sign(g)`. See [`scalar::sign_step`].
    pub fn sign_step<F: Float>(&self, x: &mut [F], g: &[F], gamma: F, decay: F) {
        assert_eq!(x.len(), g.len(), "sign_step: length mismatch");
        concrete!(F; slices: [g]; mut: [x]; scalars: [gamma, decay];
            self.sign_step_t(x, g, gamma, decay))
    }

    fn sign_step_t<E: Float>(&self, x: &mut [E], g: &[E], gamma: E, decay: E)
    where
        Isa: ArchKernels<E>,
    {
        let isa = self.isa;
        let Some(cl) = self.split(x.len()) else {
            return isa.sign_step(x, g, gamma, decay);
        };
        parallel::run(
            x.chunks_mut(cl).zip(g.chunks(cl)),
            |(x, g)| isa.sign_step(x, g, gamma, decay),
            |()| {},
        );
    }

    /// `x ← x + s·g`, the streaming loop with the sign step's memory traffic: the benchmarks'
    /// roofline. See [`scalar::axpy`].
    pub fn axpy<F: Float>(&self, x: &mut [F], g: &[F], s: F) {
        assert_eq!(x.len(), g.len(), "axpy: length mismatch");
        concrete!(F; slices: [g]; mut: [x]; scalars: [s]; {
            let isa = self.isa;
            match self.split(x.len()) {
                None => isa.axpy(x, g, s),
                Some(cl) => parallel::run(
                    x.chunks_mut(cl).zip(g.chunks(cl)),
                    |(x, g)| isa.axpy(x, g, s),
                    |()| {},
                ),
            }
        })
    }

    /// Momentum sign step: `m ← β·m + (1−β)·g`, `x ← x·decay − γ·sign(m)`.
    /// See [`scalar::momentum_sign_step`].
    #[allow(clippy::too_many_arguments)]
    pub fn momentum_sign_step<F: Float>(
        &self,
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
        concrete!(F; slices: [g]; mut: [x, m]; scalars: [beta, one_minus_beta, gamma, decay];
            self.momentum_sign_step_t(x, m, g, [beta, one_minus_beta, gamma, decay]))
    }

    fn momentum_sign_step_t<E: Float>(&self, x: &mut [E], m: &mut [E], g: &[E], c: [E; 4])
    where
        Isa: ArchKernels<E>,
    {
        let isa = self.isa;
        let [b, omb, gamma, decay] = c;
        let Some(cl) = self.split(x.len()) else {
            return isa.momentum_sign_step(x, m, g, b, omb, gamma, decay);
        };
        parallel::run(
            x.chunks_mut(cl).zip(m.chunks_mut(cl)).zip(g.chunks(cl)),
            |((x, m), g)| isa.momentum_sign_step(x, m, g, b, omb, gamma, decay),
            |()| {},
        );
    }

    /// `‖g − prev‖_1`, `⟨g, sign(dir)⟩` and finiteness of `g` in one pass.
    /// See [`scalar::alias_stats`]; the sums are within the bound in the module docs.
    pub fn alias_stats<F: Float>(&self, g: &[F], prev: &[F], dir: &[F]) -> AliasStats {
        assert!(
            g.len() == prev.len() && g.len() == dir.len(),
            "alias_stats: length mismatch"
        );
        concrete!(F; slices: [g, prev, dir]; mut: []; scalars: [];
            self.alias_stats_t(g, prev, dir))
    }

    fn alias_stats_t<E: Float>(&self, g: &[E], prev: &[E], dir: &[E]) -> AliasStats
    where
        Isa: ArchKernels<E>,
    {
        let isa = self.isa;
        let Some(cl) = self.split(g.len()) else {
            return isa.alias_stats(g, prev, dir);
        };
        let mut total = AliasStats {
            diff_l1: 0.0,
            dot_sign: 0.0,
            finite: true,
        };
        parallel::run(
            g.chunks(cl).zip(prev.chunks(cl)).zip(dir.chunks(cl)),
            |((g, p), d)| isa.alias_stats(g, p, d),
            |s| {
                total.diff_l1 += s.diff_l1;
                total.dot_sign += s.dot_sign;
                total.finite &= s.finite;
            },
        );
        total
    }

    /// Fused ALIAS update `x ← x·decay − γ·sign(g)`, `store ← g`; returns the exact
    /// `max |x_new − x_old|`. See [`scalar::sign_step_store`].
    pub fn sign_step_store<F: Float>(
        &self,
        x: &mut [F],
        g: &[F],
        store: &mut [F],
        gamma: F,
        decay: F,
    ) -> f64 {
        assert!(
            x.len() == g.len() && store.len() == g.len(),
            "sign_step_store: length mismatch"
        );
        concrete!(F; slices: [g]; mut: [x, store]; scalars: [gamma, decay];
            self.sign_step_store_t(x, g, store, gamma, decay))
    }

    fn sign_step_store_t<E: Float>(
        &self,
        x: &mut [E],
        g: &[E],
        store: &mut [E],
        gamma: E,
        decay: E,
    ) -> f64
    where
        Isa: ArchKernels<E>,
    {
        let isa = self.isa;
        let Some(cl) = self.split(x.len()) else {
            return isa.sign_step_store(x, g, store, gamma, decay);
        };
        let mut moved = 0.0_f64;
        parallel::run(
            x.chunks_mut(cl).zip(g.chunks(cl)).zip(store.chunks_mut(cl)),
            |((x, g), s)| isa.sign_step_store(x, g, s, gamma, decay),
            |m| moved = moved.max(m),
        );
        moved
    }

    /// Fused ALIAS update with momentum; returns the exact `max |x_new − x_old|`.
    /// See [`scalar::momentum_sign_step_store`].
    #[allow(clippy::too_many_arguments)]
    pub fn momentum_sign_step_store<F: Float>(
        &self,
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
        concrete!(F; slices: [g]; mut: [x, m, store];
            scalars: [beta, one_minus_beta, gamma, decay];
            self.momentum_sign_step_store_t(x, m, g, store, [beta, one_minus_beta, gamma, decay]))
    }

    fn momentum_sign_step_store_t<E: Float>(
        &self,
        x: &mut [E],
        m: &mut [E],
        g: &[E],
        store: &mut [E],
        c: [E; 4],
    ) -> f64
    where
        Isa: ArchKernels<E>,
    {
        let isa = self.isa;
        let [b, omb, gamma, decay] = c;
        let Some(cl) = self.split(x.len()) else {
            return isa.momentum_sign_step_store(x, m, g, store, b, omb, gamma, decay);
        };
        let mut moved = 0.0_f64;
        parallel::run(
            x.chunks_mut(cl)
                .zip(m.chunks_mut(cl))
                .zip(g.chunks(cl))
                .zip(store.chunks_mut(cl)),
            |(((x, m), g), s)| isa.momentum_sign_step_store(x, m, g, s, b, omb, gamma, decay),
            |r| moved = moved.max(r),
        );
        moved
    }

    /// `‖v‖_∞` in `f64`, exact (NaN elements are skipped, as `f64::max` does).
    /// See [`scalar::inf_norm`].
    pub fn inf_norm<F: Float>(&self, v: &[F]) -> f64 {
        concrete!(F; slices: [v]; mut: []; scalars: []; self.inf_norm_t(v))
    }

    fn inf_norm_t<E: Float>(&self, v: &[E]) -> f64
    where
        Isa: ArchKernels<E>,
    {
        let isa = self.isa;
        let Some(cl) = self.split(v.len()) else {
            return isa.inf_norm(v);
        };
        let mut norm = 0.0_f64;
        parallel::run(v.chunks(cl), |v| isa.inf_norm(v), |r| norm = norm.max(r));
        norm
    }

    /// Packs `g > 0` into one bit per coordinate (zero, negative and NaN give 0: the 1-bit code
    /// cannot keep `sign = 0`). `out` holds [`packed_words`]`(g.len())` words.
    /// See [`scalar::pack_signs_1bit`].
    pub fn pack_signs_1bit<F: Float>(&self, g: &[F], out: &mut [u64]) {
        assert_eq!(
            out.len(),
            packed_words(g.len()),
            "pack_signs_1bit: length mismatch"
        );
        concrete!(F; slices: [g]; mut: []; scalars: []; {
            let isa = self.isa;
            match self.split(g.len()) {
                None => isa.pack_signs_1bit(g, out),
                Some(cl) => parallel::run(
                    g.chunks(cl).zip(out.chunks_mut(cl / 64)),
                    |(g, o)| isa.pack_signs_1bit(g, o),
                    |()| {},
                ),
            }
        })
    }

    /// Unpacks 1-bit signs to `±1` (bit 1 → `+1`, bit 0 → `−1`).
    /// See [`scalar::unpack_signs_1bit`].
    pub fn unpack_signs_1bit<F: Float>(&self, bits: &[u64], out: &mut [F]) {
        assert_eq!(
            bits.len(),
            packed_words(out.len()),
            "unpack_signs_1bit: length mismatch"
        );
        concrete!(F; slices: []; mut: [out]; scalars: []; {
            let isa = self.isa;
            match self.split(out.len()) {
                None => isa.unpack_signs_1bit(bits, out),
                Some(cl) => parallel::run(
                    bits.chunks(cl / 64).zip(out.chunks_mut(cl)),
                    |(b, o)| isa.unpack_signs_1bit(b, o),
                    |()| {},
                ),
            }
        })
    }

    /// Packs `sign(g)` into two bit planes, `pos` (`g > 0`) and `neg` (`g < 0`), so `sign = 0`
    /// (from `±0` or NaN) stays distinct. See [`scalar::pack_signs_2bit`].
    pub fn pack_signs_2bit<F: Float>(&self, g: &[F], pos: &mut [u64], neg: &mut [u64]) {
        let words = packed_words(g.len());
        assert!(
            pos.len() == words && neg.len() == words,
            "pack_signs_2bit: length mismatch"
        );
        concrete!(F; slices: [g]; mut: []; scalars: []; {
            let isa = self.isa;
            match self.split(g.len()) {
                None => isa.pack_signs_2bit(g, pos, neg),
                Some(cl) => parallel::run(
                    g.chunks(cl).zip(pos.chunks_mut(cl / 64)).zip(neg.chunks_mut(cl / 64)),
                    |((g, p), n)| isa.pack_signs_2bit(g, p, n),
                    |()| {},
                ),
            }
        })
    }

    /// Unpacks 2-bit signs to `+1`, `−1` or `0`. See [`scalar::unpack_signs_2bit`].
    pub fn unpack_signs_2bit<F: Float>(&self, pos: &[u64], neg: &[u64], out: &mut [F]) {
        let words = packed_words(out.len());
        assert!(
            pos.len() == words && neg.len() == words,
            "unpack_signs_2bit: length mismatch"
        );
        concrete!(F; slices: []; mut: [out]; scalars: []; {
            let isa = self.isa;
            match self.split(out.len()) {
                None => isa.unpack_signs_2bit(pos, neg, out),
                Some(cl) => parallel::run(
                    pos.chunks(cl / 64).zip(neg.chunks(cl / 64)).zip(out.chunks_mut(cl)),
                    |((p, n), o)| isa.unpack_signs_2bit(p, n, o),
                    |()| {},
                ),
            }
        })
    }

    /// `⟨g, s⟩`, `‖g‖_1` and finiteness of `g` in one pass, where `s` is a 2-bit packed sign
    /// vector: the statistics of sign-only-memory ALIAS. See [`scalar::dot_sign_packed_2bit`];
    /// the sums are within the bound in the module docs.
    pub fn dot_sign_packed_2bit<F: Float>(&self, g: &[F], pos: &[u64], neg: &[u64]) -> SignDot {
        let words = packed_words(g.len());
        assert!(
            pos.len() == words && neg.len() == words,
            "dot_sign_packed_2bit: length mismatch"
        );
        concrete!(F; slices: [g]; mut: []; scalars: []; {
            let isa = self.isa;
            match self.split(g.len()) {
                None => isa.dot_sign_packed_2bit(g, pos, neg),
                Some(cl) => {
                    let mut total = SignDot { dot_sign: 0.0, l1: 0.0, finite: true };
                    parallel::run(
                        g.chunks(cl).zip(pos.chunks(cl / 64)).zip(neg.chunks(cl / 64)),
                        |((g, p), n)| isa.dot_sign_packed_2bit(g, p, n),
                        |s| {
                            total.dot_sign += s.dot_sign;
                            total.l1 += s.l1;
                            total.finite &= s.finite;
                        },
                    );
                    total
                }
            }
        })
    }

    /// Majority vote, step 1: adds one voter's `sign(g)` to `counts`.
    /// See [`scalar::accumulate_signs`].
    ///
    /// A vote over `M` workers: zero an `i32` buffer, add each worker's signs (from its
    /// gradient with this method, or from its packed bits with
    /// [`accumulate_signs_2bit`](Self::accumulate_signs_2bit) /
    /// [`accumulate_signs_1bit`](Self::accumulate_signs_1bit)), then read the winning sign with
    /// [`vote_from_counts`](Self::vote_from_counts) or
    /// [`vote_from_counts_2bit`](Self::vote_from_counts_2bit); a tie gives 0.
    ///
    /// ```
    /// use signfree::kernels::Kernels;
    /// let k = Kernels::detect();
    /// let mut counts = [0_i32; 3];
    /// for g in [[1.0_f32, -2.0, 0.5], [3.0, 4.0, -1.0], [-1.0, -1.0, 0.0]] {
    ///     k.accumulate_signs(&g, &mut counts);
    /// }
    /// let mut vote = [0.0_f32; 3];
    /// k.vote_from_counts(&counts, &mut vote);
    /// assert_eq!(vote, [1.0, -1.0, 0.0]); // 2–1, 1–2, and a 1–1 tie
    /// ```
    pub fn accumulate_signs<F: Float>(&self, g: &[F], counts: &mut [i32]) {
        assert_eq!(g.len(), counts.len(), "accumulate_signs: length mismatch");
        concrete!(F; slices: [g]; mut: []; scalars: []; {
            let isa = self.isa;
            match self.split(g.len()) {
                None => isa.accumulate_signs(g, counts),
                Some(cl) => parallel::run(
                    g.chunks(cl).zip(counts.chunks_mut(cl)),
                    |(g, c)| isa.accumulate_signs(g, c),
                    |()| {},
                ),
            }
        })
    }

    /// Majority vote, step 1 from packed 2-bit signs: `counts[i] += pos_bit − neg_bit`.
    /// See [`scalar::accumulate_signs_2bit`].
    pub fn accumulate_signs_2bit(&self, pos: &[u64], neg: &[u64], counts: &mut [i32]) {
        let words = packed_words(counts.len());
        assert!(
            pos.len() == words && neg.len() == words,
            "accumulate_signs_2bit: length mismatch"
        );
        let isa = self.isa;
        match self.split(counts.len()) {
            None => isa.accumulate_signs_2bit(pos, neg, counts),
            Some(cl) => parallel::run(
                pos.chunks(cl / 64)
                    .zip(neg.chunks(cl / 64))
                    .zip(counts.chunks_mut(cl)),
                |((p, n), c)| isa.accumulate_signs_2bit(p, n, c),
                |()| {},
            ),
        }
    }

    /// Majority vote, step 1 from packed 1-bit signs: `counts[i] += 2·bit − 1`.
    /// See [`scalar::accumulate_signs_1bit`].
    pub fn accumulate_signs_1bit(&self, bits: &[u64], counts: &mut [i32]) {
        assert_eq!(
            bits.len(),
            packed_words(counts.len()),
            "accumulate_signs_1bit: length mismatch"
        );
        let isa = self.isa;
        match self.split(counts.len()) {
            None => isa.accumulate_signs_1bit(bits, counts),
            Some(cl) => parallel::run(
                bits.chunks(cl / 64).zip(counts.chunks_mut(cl)),
                |(b, c)| isa.accumulate_signs_1bit(b, c),
                |()| {},
            ),
        }
    }

    /// Majority vote, step 2: `out[i] = sign(counts[i])` (a tie gives 0).
    /// See [`scalar::vote_from_counts`].
    pub fn vote_from_counts<F: Float>(&self, counts: &[i32], out: &mut [F]) {
        assert_eq!(counts.len(), out.len(), "vote_from_counts: length mismatch");
        concrete!(F; slices: []; mut: [out]; scalars: []; {
            let isa = self.isa;
            match self.split(out.len()) {
                None => isa.vote_from_counts(counts, out),
                Some(cl) => parallel::run(
                    counts.chunks(cl).zip(out.chunks_mut(cl)),
                    |(c, o)| isa.vote_from_counts(c, o),
                    |()| {},
                ),
            }
        })
    }

    /// Majority vote, step 2, packed: the 2-bit code of `sign(counts[i])` (a tie sets neither
    /// bit). See [`scalar::vote_from_counts_2bit`].
    pub fn vote_from_counts_2bit(&self, counts: &[i32], pos: &mut [u64], neg: &mut [u64]) {
        let words = packed_words(counts.len());
        assert!(
            pos.len() == words && neg.len() == words,
            "vote_from_counts_2bit: length mismatch"
        );
        let isa = self.isa;
        match self.split(counts.len()) {
            None => isa.vote_from_counts_2bit(counts, pos, neg),
            Some(cl) => parallel::run(
                counts
                    .chunks(cl)
                    .zip(pos.chunks_mut(cl / 64))
                    .zip(neg.chunks_mut(cl / 64)),
                |((c, p), n)| isa.vote_from_counts_2bit(c, p, n),
                |()| {},
            ),
        }
    }
}
