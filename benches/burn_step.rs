//! One optimizer step on a burn module (NdArray backend, f32): signfree's adapter running ALIAS
//! Sign-SGD and AdamW against burn's own AdamW (`burn::optim::AdamWConfig`, a per-tensor
//! `ModuleOptimizer`). Gradients are precomputed, so only the step is timed; every step reads
//! the parameters it returns, so lazy work is not left out. Two models: the `burn_mlp`
//! example's MLP (123 → 64 → 64 → 1, 12.2k parameters in 6 tensors) and a wider one
//! (123 → 512 → 512 → 1, 326k parameters).
//!
//! Run: `cargo bench --features burn --bench burn_step`

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signfree::burn::BurnOptimizer;
use signfree::{AdamWConfig as SignfreeAdamWConfig, AliasSignSgdConfig};

#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
}

/// burn's random initialisation is computed lazily, again at each read of the tensor: the
/// parameters are materialised once (a Sign-SGD step with multiplier 0 writes them back
/// unchanged as plain tensors), so that every method steps the same stored values.
fn mlp(width: usize, device: &Device) -> Mlp {
    let dims = [123, width, width, 1];
    let lazy = Mlp {
        layers: dims
            .windows(2)
            .map(|p| LinearConfig::new(p[0], p[1]).init(device))
            .collect(),
    };
    let grads = Grads::new(&lazy, device).params();
    let mut write =
        BurnOptimizer::<signfree::SignSgd<f32>>::new(Default::default()).expect("config");
    let (model, _) = write.try_step(0.0, &lazy, &grads, None).expect("step");
    model
}

/// Gradients of `Σ (model(x))²` for a fixed random batch, kept as (id, rank-2 or rank-1
/// tensor) so that a fresh `GradientsParams` can be built for every step (burn's step consumes
/// it).
struct Grads {
    matrices: Vec<(ParamId, Tensor<2>)>,
    vectors: Vec<(ParamId, Tensor<1>)>,
}

struct Collect<'a> {
    grads: &'a GradientsParams,
    out: Grads,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match D {
            2 => {
                let g = self.grads.get::<2>(param.id).expect("gradient");
                self.out.matrices.push((param.id, g));
            }
            1 => {
                let g = self.grads.get::<1>(param.id).expect("gradient");
                self.out.vectors.push((param.id, g));
            }
            _ => unreachable!("an MLP has matrices and vectors"),
        }
    }
}

impl Grads {
    fn new(model: &Mlp, device: &Device) -> Self {
        let x = Tensor::<2>::random([64, 123], Distribution::Default, device);
        let mut h = x;
        for layer in &model.layers {
            h = layer.forward(h).tanh();
        }
        let grads = GradientsParams::from_grads(h.square().sum().backward(), model);
        let mut c = Collect {
            grads: &grads,
            out: Grads {
                matrices: Vec::new(),
                vectors: Vec::new(),
            },
        };
        model.visit(&mut c);
        c.out
    }

    fn params(&self) -> GradientsParams {
        let mut g = GradientsParams::new();
        for (id, t) in &self.matrices {
            g.register(*id, t.clone().inner());
        }
        for (id, t) in &self.vectors {
            g.register(*id, t.clone().inner());
        }
        g
    }
}

/// Forces the step's work: reads one parameter back to the host.
fn touch(model: &Mlp) -> f32 {
    model.layers[0]
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32")[0]
}

fn bench(c: &mut Criterion) {
    // NdArray: deprecated by burn 0.22 in favour of its Flex backend, still supported.
    #[allow(deprecated)]
    let device = Device::ndarray().autodiff();
    device.seed(7);
    let mut group = c.benchmark_group("burn_step");
    group.sample_size(20);
    for width in [64, 512] {
        let model = mlp(width, &device);
        let n = model.num_params();
        let grads = Grads::new(&model, &device);
        group.throughput(Throughput::Elements(n as u64));
        let name = format!("mlp_{width}_{n}");

        let mut alias = BurnOptimizer::<signfree::AliasSignSgd<f32>>::new(AliasSignSgdConfig {
            // A finite initial smoothness, so the step is ALIAS's regular path from the start.
            rule: signfree::AliasRule {
                initial_smoothness: Some(1.0),
                ..Default::default()
            },
            ..Default::default()
        })
        .expect("config");
        group.bench_function(BenchmarkId::new("signfree_alias", &name), |b| {
            b.iter(|| {
                let g = grads.params();
                let (m, _) = alias.try_step(1.0, &model, &g, None).expect("step");
                touch(&m)
            })
        });

        let mut adamw = BurnOptimizer::<signfree::AdamW<f32>>::new(SignfreeAdamWConfig {
            lr: 1e-3,
            ..Default::default()
        })
        .expect("config");
        group.bench_function(BenchmarkId::new("signfree_adamw", &name), |b| {
            b.iter(|| {
                let g = grads.params();
                let (m, _) = adamw.try_step(1.0, &model, &g, None).expect("step");
                touch(&m)
            })
        });

        let mut native = AdamWConfig::new().init();
        group.bench_function(BenchmarkId::new("burn_adamw", &name), |b| {
            b.iter(|| {
                let g = grads.params();
                let m = native.step(1e-3, model.clone(), g);
                touch(&m)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
