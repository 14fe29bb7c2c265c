//! One ALIAS Sign-SGD step on candle vars: the signfree adapter's two paths against the same
//! method written with candle tensor ops (`tests/support/candle_ops.rs`). Gradients are
//! precomputed, so only the optimizer step is timed. Two layouts: the tiny LLaMA example's 56
//! tensors (1.22M parameters) and one 16M tensor. Cases:
//! - `signfree_adapter`: f32 vars, the in-place path (SIMD kernels on the vars' storage);
//! - `signfree_generic_f32`: the same f32 vars forced through the generic path (host copies of
//!   the gradients and vars, written back): the generic path's overhead on the CPU;
//! - `signfree_generic_bf16`: bf16 vars (generic path with f32 master copies, gradients converted
//!   from bf16, values rounded back to bf16);
//! - `candle_ops`: f32 vars, ALIAS in candle tensor ops.
//!
//! Run: `cargo bench --features candle --bench candle_step`

#[path = "../tests/support/candle_ops.rs"]
mod candle_ops;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer as _;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signfree::AliasSignSgdConfig;
use signfree::candle::{CandleOptimizer, StepPath};

type Alias = CandleOptimizer<signfree::AliasSignSgd<f32>>;

/// The tiny LLaMA's parameter shapes (dim 128, 6 layers, SwiGLU 352, vocab 65).
fn llama_shapes() -> Vec<Vec<usize>> {
    let mut s = vec![vec![65, 128]];
    for _ in 0..6 {
        s.push(vec![128]);
        s.extend([
            vec![128, 128],
            vec![128, 128],
            vec![128, 128],
            vec![128, 128],
        ]);
        s.push(vec![128]);
        s.extend([vec![128, 352], vec![128, 352], vec![352, 128]]);
    }
    s.push(vec![128]);
    s.push(vec![128, 65]);
    s
}

fn filled(shape: &[usize], seed: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) * 1e-3)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).expect("shape")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("candle_alias_step");
    group.sample_size(20);
    for (name, shapes) in [
        ("llama_1.2M", llama_shapes()),
        ("single_16M", vec![vec![16 << 20]]),
    ] {
        let n: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
        group.throughput(Throughput::Elements(n as u64));
        let make_vars = || -> Vec<Var> {
            shapes
                .iter()
                .enumerate()
                .map(|(k, s)| Var::from_tensor(&filled(s, k)).expect("var"))
                .collect()
        };
        // Two gradient sets, alternated, so that consecutive gradients differ.
        let grads: Vec<Vec<Tensor>> = (0..2)
            .map(|r| {
                shapes
                    .iter()
                    .enumerate()
                    .map(|(k, s)| filled(s, 31 * k + r + 1))
                    .collect()
            })
            .collect();

        for (case, dtype, path) in [
            ("signfree_adapter", DType::F32, StepPath::Auto),
            ("signfree_generic_f32", DType::F32, StepPath::Generic),
            ("signfree_generic_bf16", DType::BF16, StepPath::Auto),
        ] {
            let vars: Vec<Var> = make_vars()
                .iter()
                .map(|v| Var::from_tensor(&v.to_dtype(dtype).expect("dtype")).expect("var"))
                .collect();
            let stores: Vec<GradStore> = grads
                .iter()
                .map(|gs| {
                    let mut store = GradStore::default();
                    for (v, g) in vars.iter().zip(gs) {
                        store.insert(v, g.to_dtype(dtype).expect("dtype"));
                    }
                    store
                })
                .collect();
            let mut opt = Alias::new(vars.clone(), AliasSignSgdConfig::default())
                .expect("config")
                .with_path(path)
                .expect("path");
            let mut t = 0;
            group.bench_function(BenchmarkId::new(case, name), |b| {
                b.iter(|| {
                    t += 1;
                    opt.step_with_loss(&stores[t % 2], Some(1.0)).expect("step")
                })
            });
        }

        let mut reference = candle_ops::OpsAlias::new(make_vars());
        let mut t = 0;
        group.bench_function(BenchmarkId::new("candle_ops", name), |b| {
            b.iter(|| {
                t += 1;
                reference.step(&grads[t % 2], 1.0).expect("step");
                reference.stepsize()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
