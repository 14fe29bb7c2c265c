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
//! thread (chunk lengths are multiples of 64, so packed words never straddle chunks). The first
//! chunk runs on the calling thread, the others on the persistent threads of
//! [rayon](https://docs.rs/rayon)'s pool: the global pool (one thread per core; size it with
//! `RAYON_NUM_THREADS` or `rayon::ThreadPoolBuilder::build_global`), or the pool the caller is
//! running in (`ThreadPool::install`). Partial sums are combined in chunk order, so results
//! depend on the chunk count ([`Kernels::with_threads`], default the available parallelism),
//! never on the pool's size or scheduling. The default threshold is [`PARALLEL_THRESHOLD`].
//! Handing a chunk to the pool allocates one small job: set `with_threads(1)` where a step
//! must not allocate at all.

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
/// Measured on the 2-vCPU AMD EPYC (Zen 3, AVX2) development VM with
/// `cargo run --release --example kernel_summary -- --threshold`, which times the f32 sign step
/// (the lightest kernel, so the one that gains least from a second thread) on 1 and 2 threads
/// for n = 64K … 16M. With chunks handed to rayon's persistent threads (no spawn per call), two
/// threads lose at 64K (0.78×) and win from 256K on (1.4× at 256K, 1.6–2.0× at 512K–2M, 1.5× at
/// 16M where both threads share the memory bandwidth). The threshold is therefore 256K elements
/// (1 MiB of `f32`). (With a scoped thread spawned per call, ≈ 55 µs, it was 2M.)
pub const PARALLEL_THRESHOLD: usize = 1 << 18;

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

/// Every kernel, once: `$m!` receives the list. Float kernels (element type `E`) define
/// [`ArchKernels`], count kernels (no float type) [`ArchCounts`]; from the same list come each
/// trait's default bodies (the [`scalar`] reference), its forwarding for [`Isa`] and the public
/// [`Kernels`] methods with their thread split. A new kernel is its scalar specification, its SIMD
/// body and one entry here.
///
/// Arguments: slices of `E` or `i32` are per element, `u64` slices hold packed signs (64 elements
/// per word), scalars are passed to every chunk. A kernel's `f64` result is a maximum; see
/// [`parallel::Reduce`] for how chunk results combine.
macro_rules! with_kernels {
    ($m:ident $(, $extra:ty)?) => {
        $m! {
            $($extra;)?
            float:
            /// Index of the first NaN or infinite element, if any. See [`scalar::first_non_finite`].
            fn first_non_finite(v: &[E]) -> Option<usize>;
            /// Sign step with decoupled decay: `x ← x·decay − γ·sign(g)`. See [`scalar::sign_step`].
            fn sign_step(x: &mut [E], g: &[E], gamma: E, decay: E);
            /// `x ← x + s·g`, the streaming loop with the sign step's memory traffic: the
            /// benchmarks' roofline. See [`scalar::axpy`].
            fn axpy(x: &mut [E], g: &[E], s: E);
            /// Momentum sign step: `m ← β·m + (1−β)·g`, `x ← x·decay − γ·sign(m)`.
            /// See [`scalar::momentum_sign_step`].
            fn momentum_sign_step(
                x: &mut [E], m: &mut [E], g: &[E], beta: E, one_minus_beta: E, gamma: E, decay: E
            );
            /// `‖g − prev‖_1`, `⟨g, sign(dir)⟩` and finiteness of `g` in one pass.
            /// See [`scalar::alias_stats`]; the sums are within the bound in the module docs.
            fn alias_stats(g: &[E], prev: &[E], dir: &[E]) -> AliasStats;
            /// Fused ALIAS update `x ← x·decay − γ·sign(g)`, `store ← g`; returns
            /// `max |x_new − x_old|`, each difference formed in `E`.
            /// See [`scalar::sign_step_store`].
            fn sign_step_store(x: &mut [E], g: &[E], store: &mut [E], gamma: E, decay: E) -> f64;
            /// Fused ALIAS update with momentum; returns `max |x_new − x_old|`, each difference
            /// formed in `E`.
            /// See [`scalar::momentum_sign_step_store`].
            fn momentum_sign_step_store(
                x: &mut [E], m: &mut [E], g: &[E], store: &mut [E],
                beta: E, one_minus_beta: E, gamma: E, decay: E
            ) -> f64;
            /// `‖v‖_∞` in `f64`, exact (NaN elements are skipped, as `f64::max` does).
            /// See [`scalar::inf_norm`].
            fn inf_norm(v: &[E]) -> f64;
            /// Packs `g > 0` into one bit per coordinate (zero, negative and NaN give 0: the 1-bit
            /// code cannot keep `sign = 0`). `out` holds [`packed_words`]`(g.len())` words.
            /// See [`scalar::pack_signs_1bit`].
            fn pack_signs_1bit(g: &[E], out: &mut [u64]);
            /// Unpacks 1-bit signs to `±1` (bit 1 → `+1`, bit 0 → `−1`).
            /// See [`scalar::unpack_signs_1bit`].
            fn unpack_signs_1bit(bits: &[u64], out: &mut [E]);
            /// Packs `sign(g)` into two bit planes, `pos` (`g > 0`) and `neg` (`g < 0`), so
            /// `sign = 0` (from `±0` or NaN) stays distinct. See [`scalar::pack_signs_2bit`].
            fn pack_signs_2bit(g: &[E], pos: &mut [u64], neg: &mut [u64]);
            /// The sign step and the 2-bit packing of the same `g` in one pass (sign-only-memory
            /// ALIAS): [`sign_step`](Self::sign_step) then
            /// [`pack_signs_2bit`](Self::pack_signs_2bit), reading `g` once.
            /// See [`scalar::sign_step_pack_2bit`].
            fn sign_step_pack_2bit(
                x: &mut [E], g: &[E], pos: &mut [u64], neg: &mut [u64], gamma: E, decay: E
            );
            /// Unpacks 2-bit signs to `+1`, `−1` or `0`. See [`scalar::unpack_signs_2bit`].
            fn unpack_signs_2bit(pos: &[u64], neg: &[u64], out: &mut [E]);
            /// `⟨g, s⟩`, `‖g‖_1` and finiteness of `g` in one pass, where `s` is a 2-bit packed
            /// sign vector: the statistics of sign-only-memory ALIAS.
            /// See [`scalar::dot_sign_packed_2bit`]; the sums are within the bound in the module
            /// docs.
            fn dot_sign_packed_2bit(g: &[E], pos: &[u64], neg: &[u64]) -> SignDot;
            /// Majority vote, step 1: adds one voter's `sign(g)` to `counts`.
            /// See [`scalar::accumulate_signs`].
            ///
            /// A vote over `M` workers: zero an `i32` buffer, add each worker's signs (from its
            /// gradient with this method, or from its packed bits with
            /// [`accumulate_signs_2bit`](Self::accumulate_signs_2bit) /
            /// [`accumulate_signs_1bit`](Self::accumulate_signs_1bit)), then read the winning
            /// sign with [`vote_from_counts`](Self::vote_from_counts) or
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
            fn accumulate_signs(g: &[E], counts: &mut [i32]);
            /// Majority vote, step 2: `out[i] = sign(counts[i])` (a tie gives 0).
            /// See [`scalar::vote_from_counts`].
            fn vote_from_counts(counts: &[i32], out: &mut [E]);
            counts:
            /// Majority vote, step 1 from packed 2-bit signs: `counts[i] += pos_bit − neg_bit`.
            /// See [`scalar::accumulate_signs_2bit`].
            fn accumulate_signs_2bit(pos: &[u64], neg: &[u64], counts: &mut [i32]);
            /// Majority vote, step 1 from packed 1-bit signs: `counts[i] += 2·bit − 1`.
            /// See [`scalar::accumulate_signs_1bit`].
            fn accumulate_signs_1bit(bits: &[u64], counts: &mut [i32]);
            /// Majority vote, step 2, packed: the 2-bit code of `sign(counts[i])` (a tie sets
            /// neither bit). See [`scalar::vote_from_counts_2bit`].
            fn vote_from_counts_2bit(counts: &[i32], pos: &mut [u64], neg: &mut [u64]);
        }
    };
}

/// Defines [`ArchKernels`] and [`ArchCounts`] from the list.
macro_rules! arch_traits {
    (
        float: $($(#[$fdoc:meta])* fn $f:ident($($fa:ident: $ft:ty),* $(,)?) $(-> $fr:ty)?;)*
        counts: $($(#[$cdoc:meta])* fn $c:ident($($ca:ident: $ct:ty),* $(,)?) $(-> $cr:ty)?;)*
    ) => {
        /// One backend's kernels for element type `E`. The default bodies are the scalar
        /// reference; an architecture module overrides what it accelerates. Callers have
        /// checked lengths.
        pub(crate) trait ArchKernels<E: Float>: Copy + Send + Sync {
            $(
                #[allow(clippy::too_many_arguments)]
                fn $f(self, $($fa: $ft),*) $(-> $fr)? {
                    scalar::$f($($fa),*)
                }
            )*
        }

        /// One backend's kernels on sign counts and packed bits (no float element type).
        pub(crate) trait ArchCounts: Copy + Send + Sync {
            $(
                fn $c(self, $($ca: $ct),*) $(-> $cr)? {
                    scalar::$c($($ca),*)
                }
            )*
        }
    };
}
with_kernels!(arch_traits);

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

/// Implements [`ArchKernels`] (for one element type) and [`ArchCounts`] for [`Isa`], forwarding
/// to the backend it holds, from the list.
macro_rules! isa_forwards {
    (
        $e:ty;
        float: $($(#[$fdoc:meta])* fn $f:ident($($fa:ident: $ft:ty),* $(,)?) $(-> $fr:ty)?;)*
        counts: $($(#[$cdoc:meta])* fn $c:ident($($ca:ident: $ct:ty),* $(,)?) $(-> $cr:ty)?;)*
    ) => {
        const _: () = {
            type E = $e;
            impl ArchKernels<E> for Isa {
                $(
                    #[allow(clippy::too_many_arguments)]
                    fn $f(self, $($fa: $ft),*) $(-> $fr)? {
                        on_isa!(self, $f($($fa),*))
                    }
                )*
            }
        };
    };
    (
        float: $($(#[$fdoc:meta])* fn $f:ident($($fa:ident: $ft:ty),* $(,)?) $(-> $fr:ty)?;)*
        counts: $($(#[$cdoc:meta])* fn $c:ident($($ca:ident: $ct:ty),* $(,)?) $(-> $cr:ty)?;)*
    ) => {
        impl ArchCounts for Isa {
            $(
                fn $c(self, $($ca: $ct),*) $(-> $cr)? {
                    on_isa!(self, $c($($ca),*))
                }
            )*
        }
    };
}
with_kernels!(isa_forwards, f32);
with_kernels!(isa_forwards, f64);
with_kernels!(isa_forwards);

/// A kernel argument as its `f32` or `f64` type: slices and scalars of a generic [`Float`] `E`
/// become the concrete type (`Float` is sealed to the two, so exactly one conversion is ever
/// taken; scalars go through `f64`, which is exact both ways for an `f32` value); other
/// arguments pass unchanged.
trait Concrete<T> {
    type Out;
    fn concrete(self) -> Self::Out;
}

macro_rules! concrete_impls {
    ($t:ty, $variant:ident) => {
        impl<'a, E: Float> Concrete<$t> for &'a [E] {
            type Out = &'a [$t];
            fn concrete(self) -> &'a [$t] {
                match <E as crate::float::sealed::Sealed>::dispatch_view(self) {
                    Slice::$variant(v) => v,
                    _ => unreachable!("the element type is {}", stringify!($t)),
                }
            }
        }
        impl<'a, E: Float> Concrete<$t> for &'a mut [E] {
            type Out = &'a mut [$t];
            fn concrete(self) -> &'a mut [$t] {
                match <E as crate::float::sealed::Sealed>::dispatch_view_mut(self) {
                    SliceMut::$variant(v) => v,
                    _ => unreachable!("the element type is {}", stringify!($t)),
                }
            }
        }
        impl<E: Float> Concrete<$t> for E {
            type Out = $t;
            fn concrete(self) -> $t {
                self.to_f64() as $t
            }
        }
        impl<'a> Concrete<$t> for &'a [u64] {
            type Out = &'a [u64];
            fn concrete(self) -> &'a [u64] {
                self
            }
        }
        impl<'a> Concrete<$t> for &'a mut [u64] {
            type Out = &'a mut [u64];
            fn concrete(self) -> &'a mut [u64] {
                self
            }
        }
        impl<'a> Concrete<$t> for &'a [i32] {
            type Out = &'a [i32];
            fn concrete(self) -> &'a [i32] {
                self
            }
        }
        impl<'a> Concrete<$t> for &'a mut [i32] {
            type Out = &'a mut [i32];
            fn concrete(self) -> &'a mut [i32] {
                self
            }
        }
    };
}
concrete_impls!(f32, F32);
concrete_impls!(f64, F64);

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
    /// parallelism; `1` runs on the calling thread alone, so never allocates).
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

    /// Runs `kernel` on `args` (a kernel's argument tuple), split by element ranges over the
    /// threads, and combines the chunks' results in order.
    ///
    /// # Panics
    /// If an argument does not fit the length of the first per-element slice.
    fn run<A: parallel::Part, R: parallel::Reduce>(
        &self,
        name: &str,
        args: A,
        kernel: impl Fn(A) -> R + Sync,
    ) -> R {
        let n = args.elems().unwrap_or(0);
        assert!(args.fits(n), "{name}: length mismatch");
        let Some(cl) = self.split(n) else {
            return kernel(args);
        };
        let mut total: Option<R> = None;
        parallel::run(
            parallel::Chunks::new(args, n, cl),
            |(offset, args)| (offset, kernel(args)),
            |(offset, r)| {
                total = Some(match total.take() {
                    None => r,
                    Some(t) => t.then(r, offset),
                })
            },
        );
        total.expect("at least one chunk")
    }
}

/// The public [`Kernels`] methods from the list: each converts its arguments to the concrete
/// element type and hands the backend's kernel to [`Kernels::run`].
macro_rules! kernel_methods {
    (
        float: $($(#[$fdoc:meta])* fn $f:ident($($fa:ident: $ft:ty),* $(,)?) $(-> $fr:ty)?;)*
        counts: $($(#[$cdoc:meta])* fn $c:ident($($ca:ident: $ct:ty),* $(,)?) $(-> $cr:ty)?;)*
    ) => {
        impl Kernels {
            $(
                $(#[$fdoc])*
                #[allow(clippy::too_many_arguments)]
                pub fn $f<E: Float>(&self, $($fa: $ft),*) $(-> $fr)? {
                    let isa = self.isa;
                    if E::BYTES == 4 {
                        $(let $fa = Concrete::<f32>::concrete($fa);)*
                        self.run(stringify!($f), ($($fa,)*), |($($fa,)*)| {
                            ArchKernels::<f32>::$f(isa, $($fa),*)
                        })
                    } else {
                        $(let $fa = Concrete::<f64>::concrete($fa);)*
                        self.run(stringify!($f), ($($fa,)*), |($($fa,)*)| {
                            ArchKernels::<f64>::$f(isa, $($fa),*)
                        })
                    }
                }
            )*
            $(
                $(#[$cdoc])*
                pub fn $c(&self, $($ca: $ct),*) $(-> $cr)? {
                    let isa = self.isa;
                    self.run(stringify!($c), ($($ca,)*), |($($ca,)*)| isa.$c($($ca),*))
                }
            )*
        }
    };
}
with_kernels!(kernel_methods);
