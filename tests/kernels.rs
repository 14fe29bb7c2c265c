//! Every kernel backend against the scalar reference (`signfree::kernels::scalar`).
//!
//! - All lengths `0..=193` (= 3·64 + 1: three whole packed words plus one, which also covers
//!   `3·LANES + 1` for every backend, LANES ≤ 16) and every start offset `0..16` inside a
//!   buffer, so unaligned heads and every tail length run.
//! - Special values: ±0, subnormals, ±∞, NaN, huge and tiny values.
//! - Property tests on arbitrary bit patterns (`any::<f32>()` includes NaN, ∞ and subnormals).
//! - Multi-threaded calls against single-threaded ones.
//!
//! Element-wise outputs must be bit-identical (NaN compares equal to NaN: the payload is not
//! part of the specification). Sums are checked against the bound of `close_sum` below.
//!
//! A backend this CPU cannot run is skipped *visibly*: `SKIPPED: AVX-512 not available` is
//! printed (run with `--nocapture` to see it), `backend_report` prints the counts, and
//! `SIGNFREE_REQUIRE_BACKENDS=avx2,avx512` turns a skip into a failure (for CI machines known
//! to have them).

use proptest::prelude::*;
use signfree::Float;
use signfree::kernels::{Backend, Kernels, packed_words, scalar};

// ---------------------------------------------------------------------------------------------
// Backends

/// The backends that belong to this architecture (the others are not "missing", just foreign).
fn native_backends() -> Vec<Backend> {
    if cfg!(target_arch = "x86_64") {
        vec![Backend::Avx2, Backend::Avx512]
    } else if cfg!(target_arch = "aarch64") {
        vec![Backend::Neon]
    } else {
        vec![]
    }
}

fn display(b: Backend) -> &'static str {
    match b {
        Backend::Avx2 => "AVX2",
        Backend::Avx512 => "AVX-512",
        Backend::Neon => "NEON",
        _ => "scalar",
    }
}

/// Scalar plus every supported native backend, single-threaded; prints a SKIPPED line for each
/// native backend this CPU lacks.
fn backends() -> Vec<Kernels> {
    let mut out = vec![Kernels::new(Backend::Scalar).unwrap().with_threads(1)];
    for b in native_backends() {
        if b.is_supported() {
            out.push(Kernels::new(b).unwrap().with_threads(1));
        } else {
            println!("SKIPPED: {} not available", display(b));
        }
    }
    out
}

#[test]
fn backend_report() {
    let (ran, skipped): (Vec<Backend>, Vec<Backend>) = native_backends()
        .into_iter()
        .partition(|b| b.is_supported());
    for b in &skipped {
        println!("SKIPPED: {} not available", display(*b));
    }
    println!(
        "backends: scalar + {} ran ({:?}), {} skipped ({:?}); detected: {}",
        ran.len(),
        ran,
        skipped.len(),
        skipped,
        Backend::detect()
    );
    if let Ok(required) = std::env::var("SIGNFREE_REQUIRE_BACKENDS") {
        for name in required.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let b = Backend::ALL
                .into_iter()
                .find(|b| b.name() == name)
                .unwrap_or_else(|| panic!("unknown backend {name:?} in SIGNFREE_REQUIRE_BACKENDS"));
            assert!(b.is_supported(), "required backend {name} is not available");
        }
    }
    assert!(Backend::detect().is_supported());
    assert_eq!(Kernels::detect().backend(), Backend::detect());
    for b in Backend::ALL {
        assert_eq!(Kernels::new(b).is_ok(), b.is_supported(), "{b}");
    }
}

// ---------------------------------------------------------------------------------------------
// Element helpers

trait TestFloat: Float {
    fn bits(self) -> u64;
    fn is_nan(self) -> bool;
    /// A value from the random stream: mostly ordinary magnitudes, sometimes tiny or zero.
    fn random(r: &mut Rng) -> Self;
    /// ±0, subnormals, ±∞, NaN, extremes.
    fn specials() -> Vec<Self>;
}

impl TestFloat for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn random(r: &mut Rng) -> Self {
        match r.next() % 16 {
            0 => 0.0,
            1 => -0.0,
            2 => f32::from_bits(r.next() as u32 & 0x807f_ffff), // subnormal (or ±0)
            _ => (r.unit() * 2.0 - 1.0) as f32 * 10f32.powi((r.next() % 13) as i32 - 6),
        }
    }
    fn specials() -> Vec<Self> {
        vec![
            0.0,
            -0.0,
            f32::from_bits(1),
            -f32::from_bits(1),
            f32::MIN_POSITIVE / 3.0,
            1.0,
            -1.0,
            0.37,
            -2.5e-20,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]
    }
}

impl TestFloat for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn random(r: &mut Rng) -> Self {
        match r.next() % 16 {
            0 => 0.0,
            1 => -0.0,
            2 => f64::from_bits(r.next() & 0x800f_ffff_ffff_ffff),
            _ => (r.unit() * 2.0 - 1.0) * 10f64.powi((r.next() % 41) as i32 - 20),
        }
    }
    fn specials() -> Vec<Self> {
        // No ±f64::MAX: sums of huge terms of both signs can overflow in one order and not in
        // another, which is outside the stated bound (it assumes no overflow).
        vec![
            0.0,
            -0.0,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::MIN_POSITIVE / 3.0,
            1.0,
            -1.0,
            0.37,
            -2.5e-200,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]
    }
}

/// xorshift64*: a small deterministic stream for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Bit-identical, except that any NaN equals any NaN.
fn same<F: TestFloat>(a: &[F], b: &[F]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.bits() == y.bits() || (x.is_nan() && y.is_nan()))
}

fn same_f64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Whether two `f64` sums of the same `n` terms `t_i`, added in different orders, agree.
///
/// The bound: every term is computed identically by both (same IEEE operations); only the
/// order of the `n − 1` additions differs. For any order, recursive summation satisfies
/// `|ŝ − s| ≤ γ_{n−1}·Σ|t_i|` with `γ_k = k·u/(1 − k·u)`, `u = 2^−53` (Higham, *Accuracy and
/// Stability of Numerical Algorithms*, 2nd ed., §4.2), so two orders differ by at most
/// `2·γ_{n−1}·Σ|t_i|`. `abs_sum` is an upper bound on `Σ|t_i|` (computed in f64, hence the
/// 1% slack). Non-finite results must match exactly (∞ and NaN propagate the same way in any
/// order as long as nothing overflows, which the test data avoid).
fn close_sum(a: f64, b: f64, n: usize, abs_sum: f64) -> bool {
    if !a.is_finite() || !b.is_finite() {
        return same_f64(a, b);
    }
    let k = n.saturating_sub(1) as f64 * (f64::EPSILON / 2.0);
    let gamma = k / (1.0 - k);
    (a - b).abs() <= 2.0 * gamma * abs_sum * 1.01
}

fn random_words(r: &mut Rng, n: usize) -> Vec<u64> {
    (0..packed_words(n)).map(|_| r.next()).collect()
}

// ---------------------------------------------------------------------------------------------
// One comparison of every kernel on one input

/// Runs every kernel through `k` and through the scalar reference on the same sub-slices
/// `[off, off + n)` of the buffers and compares.
fn check_all<F: TestFloat>(k: &Kernels, gb: &[F], xb: &[F], pb: &[F], off: usize, n: usize) {
    let ctx = format!("backend {} n {n} off {off}", k.backend());
    let r = off..off + n;
    let (g, prev) = (&gb[r.clone()], &pb[r.clone()]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (n as u64) << 8 ^ off as u64);
    let (gamma, decay) = (F::from_f64(0.37), F::from_f64(0.9));
    let (beta, omb) = (F::from_f64(0.9), F::from_f64(1.0 - 0.9));

    // first_non_finite, inf_norm (exact).
    assert_eq!(
        k.first_non_finite(g),
        scalar::first_non_finite(g),
        "first_non_finite {ctx}"
    );
    assert!(
        same_f64(k.inf_norm(g), scalar::inf_norm(g)),
        "inf_norm {ctx}"
    );

    // Updates (bit-identical), with and without decay.
    for decay in [F::ONE, decay] {
        let (mut xa, mut xb2) = (xb.to_vec(), xb.to_vec());
        scalar::sign_step(&mut xa[r.clone()], g, gamma, decay);
        k.sign_step(&mut xb2[r.clone()], g, gamma, decay);
        assert!(same(&xa, &xb2), "sign_step {ctx}");

        let (mut xa, mut xb2) = (xb.to_vec(), xb.to_vec());
        scalar::axpy(&mut xa[r.clone()], g, decay);
        k.axpy(&mut xb2[r.clone()], g, decay);
        assert!(same(&xa, &xb2), "axpy {ctx}");

        let (mut xa, mut xb2) = (xb.to_vec(), xb.to_vec());
        let (mut ma, mut mb) = (pb.to_vec(), pb.to_vec());
        scalar::momentum_sign_step(
            &mut xa[r.clone()],
            &mut ma[r.clone()],
            g,
            beta,
            omb,
            gamma,
            decay,
        );
        k.momentum_sign_step(
            &mut xb2[r.clone()],
            &mut mb[r.clone()],
            g,
            beta,
            omb,
            gamma,
            decay,
        );
        assert!(
            same(&xa, &xb2) && same(&ma, &mb),
            "momentum_sign_step {ctx}"
        );

        let (mut xa, mut xb2) = (xb.to_vec(), xb.to_vec());
        let (mut sa, mut sb) = (vec![F::ONE; n], vec![F::ONE; n]);
        let moved_a = scalar::sign_step_store(&mut xa[r.clone()], g, &mut sa, gamma, decay);
        let moved_b = k.sign_step_store(&mut xb2[r.clone()], g, &mut sb, gamma, decay);
        assert!(same(&xa, &xb2) && same(&sa, &sb), "sign_step_store {ctx}");
        assert!(same_f64(moved_a, moved_b), "sign_step_store moved {ctx}");

        let (mut xa, mut xb2) = (xb.to_vec(), xb.to_vec());
        let (mut ma, mut mb) = (pb.to_vec(), pb.to_vec());
        let (mut sa, mut sb) = (vec![F::ONE; n], vec![F::ONE; n]);
        let moved_a = scalar::momentum_sign_step_store(
            &mut xa[r.clone()],
            &mut ma[r.clone()],
            g,
            &mut sa,
            beta,
            omb,
            gamma,
            decay,
        );
        let moved_b = k.momentum_sign_step_store(
            &mut xb2[r.clone()],
            &mut mb[r.clone()],
            g,
            &mut sb,
            beta,
            omb,
            gamma,
            decay,
        );
        assert!(
            same(&xa, &xb2) && same(&ma, &mb) && same(&sa, &sb),
            "momentum_sign_step_store {ctx}"
        );
        assert!(
            same_f64(moved_a, moved_b),
            "momentum_sign_step_store moved {ctx}"
        );
    }

    // ALIAS statistics: exact finiteness, sums within the bound of `close_sum`. Σ|t_i| is
    // ‖g − prev‖_1 for the first sum (its terms are non-negative) and at most ‖g‖_1 for the
    // second (each term is ±g_i or 0).
    for dir in [prev, g] {
        let (a, b) = (
            scalar::alias_stats(g, prev, dir),
            k.alias_stats(g, prev, dir),
        );
        assert_eq!(a.finite, b.finite, "alias_stats finite {ctx}");
        assert!(
            close_sum(a.diff_l1, b.diff_l1, n, a.diff_l1),
            "alias_stats diff_l1 {} vs {} {ctx}",
            a.diff_l1,
            b.diff_l1
        );
        assert!(
            close_sum(a.dot_sign, b.dot_sign, n, scalar::l1_norm(g)),
            "alias_stats dot_sign {} vs {} {ctx}",
            a.dot_sign,
            b.dot_sign
        );
    }

    // Packing (bit-identical words, zero padding).
    let w = packed_words(n);
    let (mut oa, mut ob) = (vec![7_u64; w], vec![9_u64; w]);
    scalar::pack_signs_1bit(g, &mut oa);
    k.pack_signs_1bit(g, &mut ob);
    assert_eq!(oa, ob, "pack_signs_1bit {ctx}");
    let (mut pa, mut na, mut pb2, mut nb) = (vec![7; w], vec![7; w], vec![9; w], vec![9; w]);
    scalar::pack_signs_2bit(g, &mut pa, &mut na);
    k.pack_signs_2bit(g, &mut pb2, &mut nb);
    assert_eq!((&pa, &na), (&pb2, &nb), "pack_signs_2bit {ctx}");

    // The fused step and packing: the same x as sign_step, the same words as pack_signs_2bit.
    for decay in [F::ONE, decay] {
        let (mut xa, mut xb2) = (xb.to_vec(), xb.to_vec());
        scalar::sign_step(&mut xa[r.clone()], g, gamma, decay);
        let (mut pf, mut nf) = (vec![5; w], vec![5; w]);
        k.sign_step_pack_2bit(&mut xb2[r.clone()], g, &mut pf, &mut nf, gamma, decay);
        assert!(same(&xa, &xb2), "sign_step_pack_2bit x {ctx}");
        assert_eq!((&pa, &na), (&pf, &nf), "sign_step_pack_2bit bits {ctx}");
    }

    // Unpacking from packed signs and from random words (both bits set, garbage past n).
    let (rp, rn) = (random_words(&mut rng, n), random_words(&mut rng, n));
    for (p, q) in [(&pa, &na), (&rp, &rn)] {
        let (mut ua, mut ub) = (xb.to_vec(), xb.to_vec());
        scalar::unpack_signs_2bit(p, q, &mut ua[r.clone()]);
        k.unpack_signs_2bit(p, q, &mut ub[r.clone()]);
        assert!(same(&ua, &ub), "unpack_signs_2bit {ctx}");
        let (mut ua, mut ub) = (xb.to_vec(), xb.to_vec());
        scalar::unpack_signs_1bit(p, &mut ua[r.clone()]);
        k.unpack_signs_1bit(p, &mut ub[r.clone()]);
        assert!(same(&ua, &ub), "unpack_signs_1bit {ctx}");

        // ⟨g, s⟩ from bits: Σ|t_i| ≤ ‖g‖_1 for both sums.
        let (a, b) = (
            scalar::dot_sign_packed_2bit(g, p, q),
            k.dot_sign_packed_2bit(g, p, q),
        );
        let l1 = scalar::l1_norm(g);
        assert_eq!(a.finite, b.finite, "dot_sign_packed_2bit finite {ctx}");
        assert!(
            close_sum(a.dot_sign, b.dot_sign, n, l1) && close_sum(a.l1, b.l1, n, l1),
            "dot_sign_packed_2bit {a:?} vs {b:?} {ctx}"
        );

        // Votes: counts from random small values (ties included), then from bits.
        let counts0: Vec<i32> = (0..n).map(|_| (rng.next() % 5) as i32 - 2).collect();
        let (mut ca, mut cb) = (counts0.clone(), counts0.clone());
        scalar::accumulate_signs_2bit(p, q, &mut ca);
        k.accumulate_signs_2bit(p, q, &mut cb);
        assert_eq!(ca, cb, "accumulate_signs_2bit {ctx}");
        scalar::accumulate_signs_1bit(p, &mut ca);
        k.accumulate_signs_1bit(p, &mut cb);
        assert_eq!(ca, cb, "accumulate_signs_1bit {ctx}");
        scalar::accumulate_signs(g, &mut ca);
        k.accumulate_signs(g, &mut cb);
        assert_eq!(ca, cb, "accumulate_signs {ctx}");
        for counts in [&counts0, &ca] {
            let (mut va, mut vb) = (vec![F::ONE; n], vec![F::ONE; n]);
            scalar::vote_from_counts(counts, &mut va);
            k.vote_from_counts(counts, &mut vb);
            assert!(same(&va, &vb), "vote_from_counts {ctx}");
            let (mut pa2, mut na2, mut pb3, mut nb3) =
                (vec![7; w], vec![7; w], vec![9; w], vec![9; w]);
            scalar::vote_from_counts_2bit(counts, &mut pa2, &mut na2);
            k.vote_from_counts_2bit(counts, &mut pb3, &mut nb3);
            assert_eq!((pa2, na2), (pb3, nb3), "vote_from_counts_2bit {ctx}");
        }
    }
}

const MAX_LEN: usize = 3 * 64 + 1;
const OFFSETS: usize = 16;

fn buffers<F: TestFloat>(seed: u64, len: usize, pool: Option<&[F]>) -> [Vec<F>; 3] {
    let mut r = Rng(seed);
    let draw = |r: &mut Rng| match pool {
        Some(p) => p[(r.next() % p.len() as u64) as usize],
        None => F::random(r),
    };
    let g: Vec<F> = (0..len).map(|_| draw(&mut r)).collect();
    let x: Vec<F> = (0..len).map(|_| draw(&mut r)).collect();
    // `prev` close to `g` in places, so differences cancel sometimes.
    let p: Vec<F> = g
        .iter()
        .map(|&v| {
            if r.next().is_multiple_of(3) {
                v
            } else {
                draw(&mut r)
            }
        })
        .collect();
    [g, x, p]
}

fn all_lengths_and_offsets<F: TestFloat>(pool: Option<&[F]>) {
    let ks = backends();
    let [g, x, p] = buffers::<F>(42, MAX_LEN + OFFSETS, pool);
    for k in &ks {
        for n in 0..=MAX_LEN {
            for off in 0..OFFSETS {
                check_all(k, &g, &x, &p, off, n);
            }
        }
    }
}

#[test]
fn f32_every_length_and_offset() {
    all_lengths_and_offsets::<f32>(None);
}

#[test]
fn f64_every_length_and_offset() {
    all_lengths_and_offsets::<f64>(None);
}

#[test]
fn f32_special_values() {
    // Finite specials only first (no NaN/∞ anywhere), then with NaN and ±∞ mixed in.
    let all = f32::specials();
    let finite: Vec<f32> = all.iter().copied().filter(|v| v.is_finite()).collect();
    all_lengths_and_offsets::<f32>(Some(&finite));
    all_lengths_and_offsets::<f32>(Some(&all));
}

#[test]
fn f64_special_values() {
    let all = f64::specials();
    let finite: Vec<f64> = all.iter().copied().filter(|v| v.is_finite()).collect();
    all_lengths_and_offsets::<f64>(Some(&finite));
    all_lengths_and_offsets::<f64>(Some(&all));
}

/// The scalar fallback sweeps its ALIAS statistics in blocks of 1024 elements (8 lanes each):
/// every backend at lengths around one, two and several blocks, at a few offsets, with random
/// values, finite specials, and NaN/∞ mixed in.
fn block_lengths<F: TestFloat>(pool: Option<&[F]>) {
    let ks = backends();
    let [g, x, p] = buffers::<F>(7, 5000 + OFFSETS, pool);
    for k in &ks {
        for n in [1023, 1024, 1025, 2047, 2048, 2049, 3 * 1024 + 9, 5000] {
            for off in [0, 1, 7] {
                check_all(k, &g, &x, &p, off, n);
            }
        }
    }
}

#[test]
fn f32_block_lengths() {
    let all = f32::specials();
    let finite: Vec<f32> = all.iter().copied().filter(|v| v.is_finite()).collect();
    block_lengths::<f32>(None);
    block_lengths::<f32>(Some(&finite));
    block_lengths::<f32>(Some(&all));
}

#[test]
fn f64_block_lengths() {
    let all = f64::specials();
    let finite: Vec<f64> = all.iter().copied().filter(|v| v.is_finite()).collect();
    block_lengths::<f64>(None);
    block_lengths::<f64>(Some(&finite));
    block_lengths::<f64>(Some(&all));
}

#[test]
fn first_non_finite_at_every_position() {
    for k in backends() {
        for n in 1..=MAX_LEN {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, n / 2, n - 1] {
                    let mut v = vec![1.5_f32; n];
                    v[at] = bad;
                    if at + 1 < n {
                        v[n - 1] = f32::NAN; // a later one must not win
                    }
                    assert_eq!(k.first_non_finite(&v), Some(at), "{} n {n}", k.backend());
                    let w: Vec<f64> = v.iter().map(|&e| f64::from(e)).collect();
                    assert_eq!(k.first_non_finite(&w), Some(at), "{} n {n}", k.backend());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Threads

/// Splitting across threads: element-wise results bit-identical to one thread, sums within
/// the bound of `close_sum` (the chunked sum is just another summation order), and the same
/// bits on every run with the same thread count (partials are combined in chunk order).
fn threads_match<F: TestFloat>() {
    for backend in [Backend::Scalar, Backend::detect()] {
        let one = Kernels::new(backend).unwrap().with_threads(1);
        for threads in [2, 3, 4] {
            let many = one.with_threads(threads).with_parallel_threshold(0);
            for n in [128, 1000, 4099, 70_001] {
                let [g, x, p] = buffers::<F>(n as u64, n + 3, None);
                check_all(&many, &g, &x, &p, 3, n);
                // Cross-check the two kernels directly (not only through the reference).
                let (g, prev) = (&g[3..], &p[3..]);
                let (a, b) = (
                    one.alias_stats(g, prev, prev),
                    many.alias_stats(g, prev, prev),
                );
                assert!(close_sum(a.diff_l1, b.diff_l1, n, a.diff_l1));
                assert!(close_sum(a.dot_sign, b.dot_sign, n, scalar::l1_norm(g)));
                let again = many.alias_stats(g, prev, prev);
                assert_eq!(b, again, "deterministic for a fixed thread count");
                let mut xm = x.clone();
                let mut xo = x.clone();
                let mut s = vec![F::ZERO; n];
                let mm = many.sign_step_store(&mut xm[3..], g, &mut s, F::ONE, F::ONE);
                let mo = one.sign_step_store(&mut xo[3..], g, &mut s, F::ONE, F::ONE);
                assert!(same(&xm, &xo) && same_f64(mm, mo));
            }
        }
    }
}

#[test]
fn f32_threads_match_one_thread() {
    threads_match::<f32>();
}

#[test]
fn f64_threads_match_one_thread() {
    threads_match::<f64>();
}

#[test]
fn fused_updates_measure_the_move_in_the_element_type() {
    // x_old = 3·2^-26, γ = 1: x_new = fl32(3·2^-26 − 1) = −(1 − 2^-24). The exact move
    // 1 − 2^-26 is not an f32; formed in f32 it rounds to 1.0 (half an ulp below 1 is 2^-25,
    // so 1.0 is within half an ulp of the exact move), and that is what every backend returns,
    // with and without momentum.
    // The coordinate sits at index 17 of 40, inside the vector loops of every backend.
    let old = 3.0 * 2f32.powi(-26);
    let (mut x0, mut g) = (vec![0.5_f32; 40], vec![0.0_f32; 40]);
    (x0[17], g[17]) = (old, 1.0);
    let mut want = x0.clone();
    want[17] = -(1.0 - 2f32.powi(-24));
    for k in backends() {
        let (mut x, mut store) = (x0.clone(), vec![0.0_f32; 40]);
        let moved = k.sign_step_store(&mut x, &g, &mut store, 1.0, 1.0);
        assert_eq!((&x, moved), (&want, 1.0), "{:?}", k.backend());
        let (mut x, mut m) = (x0.clone(), vec![0.0_f32; 40]);
        let moved = k.momentum_sign_step_store(&mut x, &mut m, &g, &mut store, 0.5, 0.5, 1.0, 1.0);
        assert_eq!((&x, moved), (&want, 1.0), "{:?}", k.backend());
    }
}

#[test]
fn threaded_calls_inside_a_small_rayon_pool_finish_and_agree() {
    // Three chunks on a pool of one thread (the caller's own pool): the worker runs its chunk,
    // then the queued ones, and the sums are those of three chunks anywhere else.
    let n = 3000;
    let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    let prev: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
    let k = Kernels::detect().with_threads(3).with_parallel_threshold(0);
    let outside = k.alias_stats(&g, &prev, &prev);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let inside = pool.install(|| k.alias_stats(&g, &prev, &prev));
    assert_eq!(inside, outside);
}

#[test]
fn thread_settings() {
    let k = Kernels::detect();
    assert!(k.threads() >= 1);
    assert_eq!(k.with_threads(3).threads(), 3);
    assert_eq!(k.with_threads(0).threads(), k.threads());
    assert_eq!(
        k.with_parallel_threshold(10).parallel_threshold(),
        10,
        "threshold setter"
    );
    assert_eq!(
        k.parallel_threshold(),
        signfree::kernels::PARALLEL_THRESHOLD
    );
}

#[test]
#[should_panic(expected = "sign_step: length mismatch")]
fn length_mismatch_panics() {
    Kernels::detect().sign_step(&mut [0.0_f32; 3], &[1.0; 4], 1.0, 1.0);
}

// ---------------------------------------------------------------------------------------------
// Property tests: arbitrary bit patterns, lengths and offsets, every backend.

fn f64_no_huge() -> impl Strategy<Value = f64> {
    // Arbitrary f64 bit patterns, but with huge finite magnitudes scaled down so that no sum of
    // ≤ 300 terms overflows (the bound assumes no overflow); NaN, ±∞, subnormals stay.
    any::<f64>().prop_map(|v| {
        if v.is_finite() && v.abs() > 1e300 {
            v * 1e-10
        } else {
            v
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_f32_backends_match_scalar(
        g in prop::collection::vec(any::<f32>(), 0..300),
        seed in any::<u64>(),
        off in 0_usize..OFFSETS,
    ) {
        let n = g.len().saturating_sub(off);
        let mut r = Rng(seed | 1);
        let x: Vec<f32> = (0..g.len()).map(|_| f32::random(&mut r)).collect();
        let p: Vec<f32> = g.iter().map(|&v| if r.next().is_multiple_of(2) { v } else { f32::random(&mut r) }).collect();
        for k in backends() {
            check_all(&k, &g, &x, &p, off.min(g.len()), n);
        }
    }

    #[test]
    fn prop_f64_backends_match_scalar(
        g in prop::collection::vec(f64_no_huge(), 0..300),
        seed in any::<u64>(),
        off in 0_usize..OFFSETS,
    ) {
        let n = g.len().saturating_sub(off);
        let mut r = Rng(seed | 1);
        let x: Vec<f64> = (0..g.len()).map(|_| f64::random(&mut r)).collect();
        let p: Vec<f64> = g.iter().map(|&v| if r.next().is_multiple_of(2) { v } else { f64::random(&mut r) }).collect();
        for k in backends() {
            check_all(&k, &g, &x, &p, off.min(g.len()), n);
        }
    }
}
