//! A small LLaMA-style decoder in candle: token embedding, `layers` pre-norm blocks (RMSNorm,
//! causal multi-head attention with rotary position embeddings, SwiGLU feed-forward), a final
//! RMSNorm and an untied output projection. Every op used has a backward pass in candle
//! (the fused `rope`/`rms_norm`/`softmax_last_dim` kernels do not, so their composed forms are
//! used). Weights are drawn from our own seeded RNG, so a run is reproducible.

use candle_core::{D, DType, Device, Result, Tensor, Var};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

/// Model sizes.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub vocab: usize,
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    /// SwiGLU hidden width.
    pub hidden: usize,
    /// Tokens per sequence.
    pub context: usize,
}

struct Block {
    attn_norm: Var,
    wq: Var,
    wk: Var,
    wv: Var,
    wo: Var,
    mlp_norm: Var,
    w1: Var,
    w3: Var,
    w2: Var,
}

pub struct Llama {
    config: Config,
    embed: Var,
    blocks: Vec<Block>,
    norm: Var,
    head: Var,
    cos: Tensor,
    sin: Tensor,
    mask: Tensor,
}

const EPS: f32 = 1e-5;

impl Llama {
    /// Weights `N(0, 0.02²)`, the residual output projections scaled by `1/sqrt(2·layers)`
    /// (GPT-2's rule), norm gains 1.
    pub fn new(config: Config, seed: u64, dev: &Device) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 0.02).expect("valid normal");
        let mut weight = |rows: usize, cols: usize, scale: f32| -> Result<Var> {
            let v: Vec<f32> = (0..rows * cols)
                .map(|_| scale * normal.sample(&mut rng))
                .collect();
            Var::from_vec(v, (rows, cols), dev)
        };
        let (d, h) = (config.dim, config.hidden);
        let residual = 1.0 / (2.0 * config.layers as f32).sqrt();
        let embed = weight(config.vocab, d, 1.0)?;
        let mut blocks = Vec::with_capacity(config.layers);
        for _ in 0..config.layers {
            blocks.push(Block {
                attn_norm: Var::ones(d, DType::F32, dev)?,
                wq: weight(d, d, 1.0)?,
                wk: weight(d, d, 1.0)?,
                wv: weight(d, d, 1.0)?,
                wo: weight(d, d, residual)?,
                mlp_norm: Var::ones(d, DType::F32, dev)?,
                w1: weight(d, h, 1.0)?,
                w3: weight(d, h, 1.0)?,
                w2: weight(h, d, residual)?,
            });
        }
        let head = weight(d, config.vocab, 1.0)?;
        let norm = Var::ones(d, DType::F32, dev)?;
        // Rotary tables: θ_i = 10000^{−2i/hd}, angle = position · θ_i.
        let hd = d / config.heads;
        let mut angles = Vec::with_capacity(config.context * hd / 2);
        for p in 0..config.context {
            for i in 0..hd / 2 {
                angles.push(p as f32 / 10000f32.powf(2.0 * i as f32 / hd as f32));
            }
        }
        let angles = Tensor::from_vec(angles, (config.context, hd / 2), dev)?;
        let t = config.context;
        let mask: Vec<f32> = (0..t * t)
            .map(|k| {
                if k % t > k / t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        Ok(Self {
            config,
            embed,
            blocks,
            norm,
            head,
            cos: angles.cos()?,
            sin: angles.sin()?,
            mask: Tensor::from_vec(mask, (t, t), dev)?,
        })
    }

    /// All trainable tensors, in a fixed order.
    pub fn vars(&self) -> Vec<Var> {
        let mut v = vec![self.embed.clone()];
        for b in &self.blocks {
            v.extend(
                [
                    &b.attn_norm,
                    &b.wq,
                    &b.wk,
                    &b.wv,
                    &b.wo,
                    &b.mlp_norm,
                    &b.w1,
                    &b.w3,
                    &b.w2,
                ]
                .map(Var::clone),
            );
        }
        v.push(self.norm.clone());
        v.push(self.head.clone());
        v
    }

    /// Logits `(batch·context, vocab)` for token ids `(batch, context)`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let c = self.config;
        let (d, heads) = (c.dim, c.heads);
        let hd = d / heads;
        let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?; // (b·t, d)
        let split = |y: Tensor| -> Result<Tensor> {
            y.reshape((b, t, heads, hd))?.transpose(1, 2)?.contiguous()
        };
        let mask = self.mask.narrow(0, 0, t)?.narrow(1, 0, t)?;
        for blk in &self.blocks {
            let a = rms(&x, &blk.attn_norm)?;
            let q = candle_nn::rotary_emb::rope_slow(
                &split(a.matmul(&blk.wq)?)?,
                &self.cos,
                &self.sin,
            )?;
            let k = candle_nn::rotary_emb::rope_slow(
                &split(a.matmul(&blk.wk)?)?,
                &self.cos,
                &self.sin,
            )?;
            let v = split(a.matmul(&blk.wv)?)?;
            let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b * t, d))?;
            x = (x + y.matmul(&blk.wo)?)?;
            let m = rms(&x, &blk.mlp_norm)?;
            let gate = m.matmul(&blk.w1)?.silu()?;
            let up = m.matmul(&blk.w3)?;
            x = (x + (gate * up)?.matmul(&blk.w2)?)?;
        }
        rms(&x, &self.norm)?.matmul(&self.head)
    }

    /// Mean next-token cross-entropy of `(inputs, targets)`, both `(batch, context)` u32.
    pub fn loss(&self, inputs: &Tensor, targets: &Tensor) -> Result<Tensor> {
        candle_nn::loss::cross_entropy(&self.forward(inputs)?, &targets.flatten_all()?)
    }
}

/// RMSNorm over the last dimension with gain `w`.
fn rms(x: &Tensor, w: &Var) -> Result<Tensor> {
    candle_nn::ops::rms_norm_slow(x, w, EPS)
}
