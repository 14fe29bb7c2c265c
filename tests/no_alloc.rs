//! `step` allocates nothing: buffers are made when the optimizer is built.
//! A counting global allocator sees every allocation in this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

#[macro_use]
#[path = "support/methods.rs"]
mod methods;

use signfree::Optimizer;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn steps_do_not_allocate() {
    let (mut a, mut b) = (vec![0.5_f32; 1000], vec![-0.5_f32; 10]);
    let (ga, gb) = (vec![0.25_f32; 1000], vec![-1.0_f32; 10]);
    fn push<O: Optimizer<f32> + 'static>(o: O, out: &mut Vec<Box<dyn Optimizer<f32>>>) {
        out.push(Box::new(o));
    }
    let mut optimizers = Vec::new();
    every_method!(f32, &[1000, 10], push, &mut optimizers);
    for opt in &mut optimizers {
        let n = allocations_during(|| {
            for _ in 0..5 {
                opt.step(&mut [&mut a, &mut b], &[&ga, &gb], Some(1.0))
                    .unwrap();
            }
        });
        assert_eq!(n, 0, "{} allocated {n} times in 5 steps", opt.name());
    }
}
