//! Splitting one kernel call across scoped threads, deterministically.
//!
//! A vector of `n` elements is cut into chunks of [`chunk_len`] elements (the last one shorter),
//! one per thread. The first chunk runs on the calling thread, the others on
//! `std::thread::scope` threads, and the results are handed back **in chunk order**, so a
//! reduction combined left to right is the same for a fixed thread count, whatever the
//! scheduling.

/// The chunk length that splits `n` elements into at most `threads` chunks: a multiple of 64
/// (so a chunk's packed sign bits are whole `u64` words) and never 0.
pub(crate) fn chunk_len(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.max(1)).next_multiple_of(64).max(64)
}

/// Runs `work` on every item (the first on this thread, the rest on scoped threads) and passes
/// the results to `combine` in item order. A panic in any chunk is resumed on this thread.
pub(crate) fn run<T, R>(
    items: impl Iterator<Item = T>,
    work: impl Fn(T) -> R + Sync,
    mut combine: impl FnMut(R),
) where
    T: Send,
    R: Send,
{
    let work = &work;
    std::thread::scope(|scope| {
        let mut items = items;
        let first = items.next();
        let handles: Vec<_> = items.map(|t| scope.spawn(move || work(t))).collect();
        if let Some(t) = first {
            combine(work(t));
        }
        for handle in handles {
            match handle.join() {
                Ok(r) => combine(r),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
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
        let mut seen = Vec::new();
        run(0..7_usize, |i| i * 10, |r| seen.push(r));
        assert_eq!(seen, [0, 10, 20, 30, 40, 50, 60]);
    }
}
