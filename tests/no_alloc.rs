//! `step` allocates nothing: buffers are made when the optimizer is built.
//! A counting global allocator sees every allocation in this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use signfree::{
    AdamLikeCompat, AdamLikeConfig, AdamW, AdamWConfig, AliasAdam, AliasAdamConfig, AliasConfig,
    AliasSignSgd, Optimizer, Prodigy, ProdigyConfig, SignSgd, SignSgdConfig,
};

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
    let mut optimizers: Vec<Box<dyn Optimizer<f32>>> = vec![
        Box::new(SignSgd::new(SignSgdConfig::default(), &[1000, 10]).unwrap()),
        Box::new(
            SignSgd::new(
                SignSgdConfig {
                    momentum: Some(0.9),
                    ..Default::default()
                },
                &[1000, 10],
            )
            .unwrap(),
        ),
        Box::new(AliasSignSgd::new(AliasConfig::default(), &[1000, 10]).unwrap()),
        Box::new(
            AliasSignSgd::new(
                AliasConfig {
                    momentum: Some(0.9),
                    weight_decay: 0.1,
                    ..Default::default()
                },
                &[1000, 10],
            )
            .unwrap(),
        ),
        Box::new(
            AliasSignSgd::new(
                AliasConfig {
                    sign_only_memory: true,
                    ..Default::default()
                },
                &[1000, 10],
            )
            .unwrap(),
        ),
        Box::new(AliasAdam::new(AliasAdamConfig::default(), &[1000, 10]).unwrap()),
        Box::new(AdamW::new(AdamWConfig::default(), &[1000, 10]).unwrap()),
        Box::new(Prodigy::new(ProdigyConfig::default(), &[1000, 10]).unwrap()),
        Box::new(AdamLikeCompat::new(AdamLikeConfig::default(), &[1000, 10]).unwrap()),
    ];
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
