//! Splitting one kernel call across threads, deterministically.
//!
//! A vector of `n` elements is cut into chunks of [`chunk_len`] elements (the last one shorter),
//! one per thread. The first chunk runs on the calling thread, the others on the persistent
//! threads of rayon's current pool (its global pool unless the caller runs inside
//! `ThreadPool::install`), and the results are handed back **in chunk order**, so a reduction
//! combined left to right is the same for a fixed chunk count, whatever the pool size and the
//! scheduling.

/// Chunk results kept on the stack; calls cut into more chunks keep them in a `Vec`.
const STACK_SLOTS: usize = 8;

/// The chunk length that splits `n` elements into at most `threads` chunks: a multiple of 64
/// (so a chunk's packed sign bits are whole `u64` words) and never 0.
pub(crate) fn chunk_len(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.max(1)).next_multiple_of(64).max(64)
}

/// Runs `work` on every item (the first on this thread, the rest as jobs on rayon's pool) and
/// passes the results to `combine` in item order. A panic in any chunk is resumed on this thread
/// once every chunk has finished.
///
/// # Panics
/// If `items` does not report its exact length (`size_hint`).
pub(crate) fn run<T, R>(
    items: impl Iterator<Item = T>,
    work: impl Fn(T) -> R + Sync,
    mut combine: impl FnMut(R),
) where
    T: Send,
    R: Send,
{
    let (count, upper) = items.size_hint();
    assert_eq!(
        Some(count),
        upper,
        "parallel::run needs an exact item count"
    );
    let mut stack: [Option<R>; STACK_SLOTS] = [const { None }; STACK_SLOTS];
    let mut heap: Vec<Option<R>>;
    let slots: &mut [Option<R>] = if count <= STACK_SLOTS {
        &mut stack[..count]
    } else {
        heap = (0..count).map(|_| None).collect();
        &mut heap
    };
    let work = &work;
    rayon::in_place_scope(|scope| {
        let mut jobs = slots.iter_mut().zip(items);
        let first = jobs.next();
        for (slot, item) in jobs {
            scope.spawn(move |_| *slot = Some(work(item)));
        }
        if let Some((slot, item)) = first {
            *slot = Some(work(item));
        }
    });
    for slot in slots {
        combine(slot.take().expect("every chunk ran"));
    }
}

/// A kernel argument, cut along with the vector it belongs to: a slice of elements (`f32`, `f64`,
/// `i32` counts), a slice of packed sign words (64 elements per `u64`), a scalar (copied into
/// every chunk), or a tuple of those (a kernel's whole argument list).
pub(crate) trait Part: Sized + Send {
    /// The length in elements, for a per-element slice (the first one of a tuple).
    fn elems(&self) -> Option<usize> {
        None
    }
    /// Whether the argument fits a vector of `n` elements.
    fn fits(&self, _n: usize) -> bool {
        true
    }
    /// The first `at` elements and the rest (`at` a multiple of 64, or the whole length).
    fn split_at_elem(self, at: usize) -> (Self, Self);
}

/// Element types of per-element slices.
pub(crate) trait PerElement: Send + Sync {}
impl PerElement for f32 {}
impl PerElement for f64 {}
impl PerElement for i32 {}

impl<T: PerElement> Part for &[T] {
    fn elems(&self) -> Option<usize> {
        Some(self.len())
    }
    fn fits(&self, n: usize) -> bool {
        self.len() == n
    }
    fn split_at_elem(self, at: usize) -> (Self, Self) {
        self.split_at(at)
    }
}

impl<T: PerElement> Part for &mut [T] {
    fn elems(&self) -> Option<usize> {
        Some(self.len())
    }
    fn fits(&self, n: usize) -> bool {
        self.len() == n
    }
    fn split_at_elem(self, at: usize) -> (Self, Self) {
        self.split_at_mut(at)
    }
}

impl Part for &[u64] {
    fn fits(&self, n: usize) -> bool {
        self.len() == super::packed_words(n)
    }
    fn split_at_elem(self, at: usize) -> (Self, Self) {
        self.split_at(at.div_ceil(64))
    }
}

impl Part for &mut [u64] {
    fn fits(&self, n: usize) -> bool {
        self.len() == super::packed_words(n)
    }
    fn split_at_elem(self, at: usize) -> (Self, Self) {
        self.split_at_mut(at.div_ceil(64))
    }
}

macro_rules! scalar_parts {
    ($($t:ty),*) => {$(
        impl Part for $t {
            fn split_at_elem(self, _at: usize) -> (Self, Self) {
                (self, self)
            }
        }
    )*};
}
scalar_parts!(f32, f64);

macro_rules! tuple_parts {
    ($($a:ident),+) => {
        #[allow(non_snake_case)]
        impl<$($a: Part),+> Part for ($($a,)+) {
            fn elems(&self) -> Option<usize> {
                let ($($a,)+) = self;
                None$(.or($a.elems()))+
            }
            fn fits(&self, n: usize) -> bool {
                let ($($a,)+) = self;
                true $(&& $a.fits(n))+
            }
            fn split_at_elem(self, at: usize) -> (Self, Self) {
                let ($($a,)+) = self;
                $(let $a = $a.split_at_elem(at);)+
                (($($a.0,)+), ($($a.1,)+))
            }
        }
    };
}
tuple_parts!(A);
tuple_parts!(A, B);
tuple_parts!(A, B, C);
tuple_parts!(A, B, C, D);
tuple_parts!(A, B, C, D, E);
tuple_parts!(A, B, C, D, E, F);
tuple_parts!(A, B, C, D, E, F, G);
tuple_parts!(A, B, C, D, E, F, G, H);

/// `(offset, part)` for consecutive chunks of `cl` elements out of `n`.
pub(crate) struct Chunks<P> {
    rest: Option<P>,
    offset: usize,
    n: usize,
    cl: usize,
}

impl<P: Part> Chunks<P> {
    pub(crate) fn new(parts: P, n: usize, cl: usize) -> Self {
        Self {
            rest: Some(parts),
            offset: 0,
            n,
            cl,
        }
    }
}

impl<P: Part> Iterator for Chunks<P> {
    type Item = (usize, P);
    fn next(&mut self) -> Option<(usize, P)> {
        let left = self.n - self.offset;
        let rest = self.rest.take()?;
        let offset = self.offset;
        if left <= self.cl {
            self.offset = self.n;
            return Some((offset, rest));
        }
        let (head, tail) = rest.split_at_elem(self.cl);
        self.rest = Some(tail);
        self.offset += self.cl;
        Some((offset, head))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.rest.is_some() {
            (self.n - self.offset).div_ceil(self.cl).max(1)
        } else {
            0
        };
        (left, Some(left))
    }
}

/// How a kernel's results over consecutive chunks combine, left to right: nothing for updates,
/// the maximum for `f64` results (every `f64` a kernel returns is a maximum: a norm or a move),
/// sums for the statistics, the first index for searches.
pub(crate) trait Reduce: Send {
    /// `self` (the chunks so far) followed by `next`, the result of the chunk starting at
    /// element `offset`.
    fn then(self, next: Self, offset: usize) -> Self;
}

impl Reduce for () {
    fn then(self, _next: (), _offset: usize) {}
}

impl Reduce for f64 {
    fn then(self, next: f64, _offset: usize) -> f64 {
        self.max(next)
    }
}

impl Reduce for Option<usize> {
    fn then(self, next: Option<usize>, offset: usize) -> Option<usize> {
        self.or(next.map(|i| offset + i))
    }
}

impl Reduce for super::AliasStats {
    fn then(self, next: Self, _offset: usize) -> Self {
        Self {
            diff_l1: self.diff_l1 + next.diff_l1,
            dot_sign: self.dot_sign + next.dot_sign,
            finite: self.finite && next.finite,
        }
    }
}

impl Reduce for super::SignDot {
    fn then(self, next: Self, _offset: usize) -> Self {
        Self {
            dot_sign: self.dot_sign + next.dot_sign,
            l1: self.l1 + next.l1,
            finite: self.finite && next.finite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_word_aligned_and_cover_everything() {
        for n in [0, 1, 63, 64, 65, 1000, 1 << 20, (1 << 20) + 7] {
            for threads in 1..=5 {
                let cl = chunk_len(n, threads);
                assert_eq!(cl % 64, 0);
                assert!(n.div_ceil(cl) <= threads.max(1), "n={n} threads={threads}");
            }
        }
    }

    #[test]
    fn results_come_back_in_order() {
        // Fewer and more chunks than the results kept on the stack.
        for count in [0, 1, 2, STACK_SLOTS, STACK_SLOTS + 1, 40] {
            let mut seen = Vec::new();
            run(0..count, |i| i * 10, |r| seen.push(r));
            assert_eq!(seen, (0..count).map(|i| i * 10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_panicking_chunk_panics_the_caller() {
        let outcome = std::panic::catch_unwind(|| {
            run(0..4_usize, |i| assert_ne!(i, 2, "chunk 2 fails"), |()| {});
        });
        assert!(outcome.is_err());
    }

    #[test]
    fn chunks_cut_every_argument_at_the_same_elements() {
        let (g, mut words, mut x) = ([1.0_f32; 200], [0_u64; 4], [0.0_f64; 200]);
        let args = (&g[..], &mut words[..], &mut x[..], 0.5_f32);
        assert_eq!(args.elems(), Some(200));
        assert!(args.fits(200) && !args.fits(201));
        let chunks = Chunks::new(args, 200, 64);
        assert_eq!(chunks.size_hint(), (4, Some(4)));
        let cut: Vec<_> = chunks
            .map(|(offset, (g, w, x, s))| (offset, g.len(), w.len(), x.len(), s))
            .collect();
        assert_eq!(
            cut,
            [
                (0, 64, 1, 64, 0.5),
                (64, 64, 1, 64, 0.5),
                (128, 64, 1, 64, 0.5),
                (192, 8, 1, 8, 0.5)
            ]
        );
    }

    #[test]
    fn chunk_results_combine_in_order() {
        assert_eq!(None.then(Some(3), 64).then(Some(1), 128), Some(67));
        assert_eq!(Some(5).then(Some(3), 64), Some(5));
        assert_eq!(1.0_f64.then(3.0, 64).then(2.0, 128), 3.0);
    }
}
