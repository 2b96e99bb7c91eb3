//! The FLUX.1 transformer (Black Forest Labs' `flux` reference,
//! `src/flux/model.py` and `modules/layers.py`) on mlx-nn, with
//! checkpoint-compatible parameter names, and the schnell / dev sampling
//! schedule ([`sampling`]).
//!
//! - [`FluxConfig`]: BFL's `FluxParams` ([`FluxConfig::schnell`],
//!   [`FluxConfig::dev`], and [`FluxConfig::small`] for CPU tests).
//! - [`Flux`]: the model. [`Flux::synthetic`] draws seeded weights;
//!   [`Flux::load`] reads a BFL-format checkpoint (`flux1-schnell.safetensors`)
//!   strictly and lazily. [`Flux::forward`] is BFL's `Flux.forward`; the
//!   stages ([`Flux::embed`], [`Flux::double_block`], [`Flux::single_block`],
//!   [`Flux::final_layer`]) are public so a profiler can time each.
//!   [`Flux::set_compiled`] runs each block as one compiled function, so
//!   that MLX fuses the element-wise work between its matmuls.
//! - [`timestep_embedding`] and [`rope_tables`] / [`apply_rope`]: BFL's
//!   sinusoidal timestep embedding and 3-axis rotary embedding.
//! - [`vae`]: the autoencoder's decoder (latents to pixels, `ae.safetensors`)
//!   and a PNG writer.
//!
//! ```
//! use mlx_rs_core::Dtype;
//! use mlx_workloads::flux::{Flux, FluxConfig, Inputs};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let config = FluxConfig::small();
//! let model = Flux::synthetic(config.clone(), Dtype::Float32, 0)?;
//! // One image of 4 x 4 latent tokens, 8 text tokens.
//! let inputs = Inputs::synthetic(&config, 1, 8, 4, 4, 0.5, 1)?;
//! let out = model.forward(&inputs)?;
//! assert_eq!(out.shape(), [1, 16, 64]);
//! # Ok(()) }
//! ```
//!
//! Text encoders (T5-XXL for `txt`, CLIP-L for `y`) are not part of this
//! module: the transformer takes their outputs as inputs.

pub mod sampling;
pub mod vae;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use mlx_nn::{Activation, Entry, EntryMut, Linear, LoadOptions, Members, Module, Param};
use mlx_rs_core::ops::fast::{self, AttentionMask};
use mlx_rs_core::tree::{self, join_path, Compiled, Tree};
use mlx_rs_core::{ops, Array, Device, DeviceType, Dtype, Result, Stream};

use crate::harness::StageOutput;
use crate::invalid;

/// The FLUX.1 transformer's dimensions: BFL's `FluxParams`.
#[derive(Clone, Debug, PartialEq)]
pub struct FluxConfig {
    /// Latent channels in (64: 16 VAE channels × a 2 × 2 patch).
    pub in_channels: i32,
    /// Channels out (64).
    pub out_channels: i32,
    /// Width of the pooled text vector `y` (CLIP-L: 768).
    pub vec_in_dim: i32,
    /// Width of the text tokens `txt` (T5-XXL: 4096).
    pub context_in_dim: i32,
    /// Model width (3072).
    pub hidden_size: i32,
    /// MLP width over model width (4.0).
    pub mlp_ratio: f32,
    /// Attention heads (24).
    pub num_heads: i32,
    /// Double-stream blocks (19).
    pub depth: usize,
    /// Single-stream blocks (38).
    pub depth_single_blocks: usize,
    /// Rotary dimensions per position axis; they sum to the head size
    /// (`[16, 56, 56]`).
    pub axes_dim: Vec<i32>,
    /// Rotary base (10000).
    pub theta: f32,
    /// Whether the qkv projections have biases (true for FLUX.1).
    pub qkv_bias: bool,
    /// Whether the model has `guidance_in` (dev: true, schnell: false).
    pub guidance_embed: bool,
}

impl FluxConfig {
    /// FLUX.1 schnell: 12 B parameters, no guidance embedding.
    pub fn schnell() -> FluxConfig {
        FluxConfig {
            in_channels: 64,
            out_channels: 64,
            vec_in_dim: 768,
            context_in_dim: 4096,
            hidden_size: 3072,
            mlp_ratio: 4.0,
            num_heads: 24,
            depth: 19,
            depth_single_blocks: 38,
            axes_dim: vec![16, 56, 56],
            theta: 10_000.0,
            qkv_bias: true,
            guidance_embed: false,
        }
    }

    /// FLUX.1 dev: schnell's dimensions plus `guidance_in`.
    pub fn dev() -> FluxConfig {
        FluxConfig {
            guidance_embed: true,
            ..FluxConfig::schnell()
        }
    }

    /// The same architecture at tiny width and depth (128 wide, 2 heads of
    /// 64 with axes `[8, 28, 28]`, 2 double and 4 single blocks) that runs in
    /// well under a second on a CPU; text and vector inputs keep their real
    /// widths (4096, 768).
    pub fn small() -> FluxConfig {
        FluxConfig {
            hidden_size: 128,
            num_heads: 2,
            depth: 2,
            depth_single_blocks: 4,
            axes_dim: vec![8, 28, 28],
            ..FluxConfig::schnell()
        }
    }

    /// Head size, `hidden_size / num_heads`.
    pub fn head_dim(&self) -> i32 {
        self.hidden_size / self.num_heads.max(1)
    }

    /// MLP width, `int(hidden_size * mlp_ratio)` as BFL computes it.
    pub fn mlp_hidden(&self) -> i32 {
        (self.hidden_size as f32 * self.mlp_ratio) as i32
    }

    /// `Err` unless the dimensions fit together (BFL's checks, plus positive
    /// sizes and even rotary axes).
    #[track_caller]
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("vec_in_dim", self.vec_in_dim),
            ("context_in_dim", self.context_in_dim),
            ("hidden_size", self.hidden_size),
            ("num_heads", self.num_heads),
            ("mlp width", self.mlp_hidden()),
        ];
        for (name, v) in sizes {
            if v <= 0 {
                return Err(invalid(format!(
                    "FluxConfig: {name} must be positive, got {v}"
                )));
            }
        }
        if self.hidden_size % self.num_heads != 0 {
            return Err(invalid(format!(
                "FluxConfig: hidden size {} must be divisible by num_heads {}",
                self.hidden_size, self.num_heads
            )));
        }
        let sum: i32 = self.axes_dim.iter().sum();
        if sum != self.head_dim() || self.axes_dim.iter().any(|d| *d <= 0 || d % 2 != 0) {
            return Err(invalid(format!(
                "FluxConfig: axes_dim {:?} must be positive, even, and sum to the head size {}",
                self.axes_dim,
                self.head_dim()
            )));
        }
        Ok(())
    }

    /// Number of parameters of a model with this configuration.
    pub fn num_parameters(&self) -> u64 {
        let (h, m) = (self.hidden_size as u64, self.mlp_hidden() as u64);
        let lin = |i: u64, o: u64| i * o + o;
        let d = self.head_dim() as u64;
        let mlp_embedder = |i: u64| lin(i, h) + lin(h, h);
        let double =
            2 * (lin(h, 6 * h) + lin(h, 3 * h) + 2 * d + lin(h, h) + lin(h, m) + lin(m, h));
        let single = lin(h, 3 * h + m) + lin(h + m, h) + 2 * d + lin(h, 3 * h);
        lin(self.in_channels as u64, h)
            + mlp_embedder(256)
            + mlp_embedder(self.vec_in_dim as u64)
            + if self.guidance_embed {
                mlp_embedder(256)
            } else {
                0
            }
            + lin(self.context_in_dim as u64, h)
            + self.depth as u64 * double
            + self.depth_single_blocks as u64 * single
            + lin(h, 2 * h)
            + lin(h, self.out_channels as u64)
    }
}

/// The inputs of one forward pass, as BFL's `Flux.forward` takes them.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Packed latents `[B, N, in_channels]`.
    pub img: Array,
    /// Image position ids `[B, N, 3]`: `(0, row, col)`.
    pub img_ids: Array,
    /// Text tokens `[B, L, context_in_dim]`.
    pub txt: Array,
    /// Text position ids `[B, L, 3]` (zeros).
    pub txt_ids: Array,
    /// Timesteps `[B]` in `[0, 1]` (1 = pure noise).
    pub timesteps: Array,
    /// Pooled text vector `[B, vec_in_dim]`.
    pub y: Array,
    /// Guidance strengths `[B]`; required by dev, ignored by schnell.
    pub guidance: Option<Array>,
}

impl Inputs {
    /// Seeded random inputs: `batch` images of `rows × cols` latent tokens,
    /// `txt_len` text tokens (normal), all at timestep `t`, guidance 3.5 where
    /// the configuration has guidance.
    pub fn synthetic(
        config: &FluxConfig,
        batch: i32,
        txt_len: i32,
        rows: i32,
        cols: i32,
        t: f32,
        seed: u64,
    ) -> Result<Inputs> {
        let k = |i: u64| ops::random::key(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i);
        let n = rows * cols;
        let img = ops::random::normal(
            &[batch, n, config.in_channels],
            Dtype::Float32,
            0.0,
            1.0,
            Some(&k(1)?),
        )?;
        let txt = ops::random::normal(
            &[batch, txt_len, config.context_in_dim],
            Dtype::Float32,
            0.0,
            1.0,
            Some(&k(2)?),
        )?;
        let y = ops::random::normal(
            &[batch, config.vec_in_dim],
            Dtype::Float32,
            0.0,
            1.0,
            Some(&k(3)?),
        )?;
        let timesteps = ops::full(&[batch], &Array::scalar(t)?, Dtype::Float32)?;
        let guidance = if config.guidance_embed {
            Some(ops::full(
                &[batch],
                &Array::scalar(3.5f32)?,
                Dtype::Float32,
            )?)
        } else {
            None
        };
        Ok(Inputs {
            img,
            img_ids: image_ids(batch, rows, cols)?,
            txt,
            txt_ids: ops::zeros(&[batch, txt_len, 3], Dtype::Float32)?,
            timesteps,
            y,
            guidance,
        })
    }
}

/// BFL's image position ids for a `rows × cols` latent grid: `[batch, rows·cols, 3]`
/// float32 holding `(0, row, col)` in row-major order.
pub fn image_ids(batch: i32, rows: i32, cols: i32) -> Result<Array> {
    let mut v = Vec::with_capacity((rows * cols * 3) as usize);
    for r in 0..rows {
        for c in 0..cols {
            v.extend_from_slice(&[0.0f32, r as f32, c as f32]);
        }
    }
    let one = Array::from_slice(&v, &[1, rows * cols, 3])?;
    ops::broadcast_to(&one, &[batch, rows * cols, 3])
}

/// BFL's `timestep_embedding(t, dim)` with `max_period` 10000 and time factor
/// 1000: for `t` `[B]`, `[B, dim]` float32 holding
/// `[cos(1000·t·fᵢ), sin(1000·t·fᵢ)]`, `fᵢ = exp(-ln(10000)·i/half)`,
/// `i < half = dim/2` (a zero column is appended for odd `dim`).
///
/// ```
/// use mlx_rs_core::Array;
/// use mlx_workloads::flux::timestep_embedding;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let e = timestep_embedding(&Array::from_slice(&[0.0f32], &[1])?, 8)?;
/// assert_eq!(e.to_vec::<f32>()?, [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn timestep_embedding(t: &Array, dim: i32) -> Result<Array> {
    if t.ndim() != 1 || dim < 2 {
        return Err(invalid(format!(
            "timestep_embedding: t must be [B] and dim >= 2, got t {:?}, dim {dim}",
            t.shape()
        )));
    }
    let half = dim / 2;
    let i = ops::arange(0.0, half as f64, 1.0, Dtype::Float32)?;
    let freqs = ops::exp(&(&i * (-(10_000f32.ln()) / half as f32))?)?;
    let t = (&t.astype(Dtype::Float32)? * 1000.0f32)?;
    let args = (&ops::expand_dims(&t, 1)? * &ops::expand_dims(&freqs, 0)?)?;
    let mut emb = ops::concatenate(&[ops::cos(&args)?, ops::sin(&args)?], -1)?;
    if dim % 2 == 1 {
        let zero = ops::zeros(&[t.shape()[0], 1], Dtype::Float32)?;
        emb = ops::concatenate(&[emb, zero], -1)?;
    }
    Ok(emb)
}

/// The rotary tables of BFL's `EmbedND` for position ids `[B, L, n_axes]`:
/// `(cos, sin)`, each `[B, 1, L, Σ axes_dim / 2]` float32. Pair `j` of axis
/// `a` turns by `ids[.., a] · θ^(-2j / axes_dim[a])`; the axes' pairs follow
/// one another.
#[track_caller]
pub fn rope_tables(ids: &Array, axes_dim: &[i32], theta: f32) -> Result<(Array, Array)> {
    let s = ids.shape();
    if s.len() != 3 || s[2] as usize != axes_dim.len() {
        return Err(invalid(format!(
            "rope_tables: ids shape {s:?} must be [B, L, {}]",
            axes_dim.len()
        )));
    }
    let ids = ids.astype(Dtype::Float32)?;
    let mut angles = Vec::with_capacity(axes_dim.len());
    for (a, &d) in axes_dim.iter().enumerate() {
        let scale = (&ops::arange(0.0, d as f64, 2.0, Dtype::Float32)? / d as f32)?;
        let omega = ops::reciprocal(&ops::power(&Array::scalar(theta)?, &scale)?)?;
        let pos = ops::slice(
            &ids,
            &[0, 0, a as i32],
            &[s[0], s[1], a as i32 + 1],
            &[1, 1, 1],
        )?;
        angles.push((&pos * &omega)?);
    }
    let angles = ops::expand_dims(&ops::concatenate(&angles, -1)?, 1)?;
    Ok((ops::cos(&angles)?, ops::sin(&angles)?))
}

/// BFL's `apply_rope` on one of `q` / `k` (`[B, H, L, D]`): adjacent pairs
/// `(x[2j], x[2j+1])` become `(cos·x₀ − sin·x₁, sin·x₀ + cos·x₁)`, computed
/// in float32 and returned in `x`'s dtype.
pub fn apply_rope(x: &Array, cos: &Array, sin: &Array) -> Result<Array> {
    let s = x.shape();
    let pair_shape = [s[0], s[1], s[2], s[3] / 2, 2];
    // `x·cos + swap(x)·[-sin, sin]` over the pairs, with `swap` a reversed
    // view: one element-wise expression (one fused kernel when compiled)
    // instead of two halves stacked back together. The same products and
    // sums as the rotation, so the same values.
    let pairs = ops::reshape(x, &pair_shape)?;
    // Position 1 then 0 of each pair (a stop of -3 runs through position 0).
    let swapped = ops::slice(
        &pairs,
        &[0, 0, 0, 0, -1],
        &[s[0], s[1], s[2], s[3] / 2, -3],
        &[1, 1, 1, 1, -1],
    )?;
    let cos = ops::expand_dims(cos, -1)?;
    let sin = ops::stack(&[ops::negative(sin)?, sin.clone()], -1)?;
    let f32 = |a: &Array| a.astype(Dtype::Float32);
    let out = (&(&f32(&pairs)? * &cos)? + &(&f32(&swapped)? * &sin)?)?;
    ops::reshape(&out.astype(x.dtype())?, &s)
}

/// `(1 + scale) · LayerNorm(x) + shift`, BFL's modulated norm (no affine,
/// eps 1e-6).
fn modulate(x: &Array, shift: &Array, scale: &Array) -> Result<Array> {
    let n = fast::layer_norm(x, None, None, 1e-6)?;
    &(&n * &(scale + 1.0f32)?)? + shift
}

/// `[B, L, n·H·D]` → `n` arrays `[B, H, L, D]`.
fn heads(x: &Array, n: i32, num_heads: i32) -> Result<Vec<Array>> {
    let s = x.shape();
    let split = ops::reshape(x, &[s[0], s[1], n, num_heads, -1])?;
    let t = ops::transpose_axes(&split, &[2, 0, 3, 1, 4])?;
    ops::split(&t, n, 0)?
        .iter()
        .map(|a| ops::squeeze_axes(a, &[0]))
        .collect()
}

/// `m` `[B, n·H]` as `n` equal chunks `[B, 1, H]` (BFL's
/// `lin(..)[:, None, :].chunk(n, dim=-1)`).
fn chunks(m: &Array, n: i32) -> Result<Vec<Array>> {
    ops::split(&ops::expand_dims(m, 1)?, n, -1)
}

/// One stream's residual updates in a double block: attention output, then
/// the modulated MLP, each gated (`m` = shift1, scale1, gate1, shift2,
/// scale2, gate2).
fn stream_update(
    x: &Array,
    attn: &Array,
    m: &[Array],
    at: &Attention,
    up: &Linear,
    down: &Linear,
) -> Result<Array> {
    let x = (x + &(&m[2] * &at.proj.forward(attn)?)?)?;
    let h = down.forward(&up.forward(&modulate(&x, &m[3], &m[4])?)?)?;
    &x + &(&m[5] * &h)?
}

/// Rotary embedding, fused attention, heads merged: `[B, L, H·D]`.
fn attention(q: &Array, k: &Array, v: &Array, c: &Conditioning) -> Result<Array> {
    let q = apply_rope(q, &c.cos, &c.sin)?;
    let k = apply_rope(k, &c.cos, &c.sin)?;
    let scale = 1.0 / (q.shape()[3] as f32).sqrt();
    // MLX 0.32 has no fused attention on the CPU; its fallback's
    // half-precision matmuls are much slower there than float32 ones
    // (BLAS), so on the CPU half-precision attention runs in float32
    // (measured: bfloat16 small preset 133 -> 62 ms, BENCHMARKS.md).
    let half_on_cpu =
        q.dtype() != Dtype::Float32 && Device::default_device()?.device_type() == DeviceType::Cpu;
    let o = if half_on_cpu {
        let f32 = |a: &Array| a.astype(Dtype::Float32);
        let o = fast::scaled_dot_product_attention(
            &f32(&q)?,
            &f32(&k)?,
            &f32(v)?,
            scale,
            AttentionMask::None,
        )?;
        o.astype(q.dtype())?
    } else {
        fast::scaled_dot_product_attention(&q, &k, v, scale, AttentionMask::None)?
    };
    let s = o.shape();
    ops::reshape(
        &ops::transpose_axes(&o, &[0, 2, 1, 3])?,
        &[s[0], s[2], s[1] * s[3]],
    )
}

/// A double-stream block: the updated `(img, txt)` streams.
fn double_block(
    b: &DoubleBlock,
    nh: i32,
    img: &Array,
    txt: &Array,
    c: &Conditioning,
) -> Result<(Array, Array)> {
    let im = chunks(&b.img_mod.forward(&c.vec_act)?, 6)?;
    let tm = chunks(&b.txt_mod.forward(&c.vec_act)?, 6)?;
    let (iq, ik, iv) = b.img_attn.qkv(&modulate(img, &im[0], &im[1])?, nh)?;
    let (tq, tk, tv) = b.txt_attn.qkv(&modulate(txt, &tm[0], &tm[1])?, nh)?;
    let q = ops::concatenate(&[tq, iq], 2)?;
    let k = ops::concatenate(&[tk, ik], 2)?;
    let v = ops::concatenate(&[tv, iv], 2)?;
    let attn = attention(&q, &k, &v, c)?;
    let parts = ops::split_at(&attn, &[c.txt_len], 1)?;
    let (txt_attn, img_attn) = (&parts[0], &parts[1]);
    Ok((
        stream_update(img, img_attn, &im, &b.img_attn, &b.img_mlp0, &b.img_mlp2)?,
        stream_update(txt, txt_attn, &tm, &b.txt_attn, &b.txt_mlp0, &b.txt_mlp2)?,
    ))
}

/// A single-stream block over the joint sequence `x` `[B, L + N, H]`.
fn single_block(b: &SingleBlock, nh: i32, x: &Array, c: &Conditioning) -> Result<Array> {
    let h = x.shape()[2];
    let m = chunks(&b.modulation.forward(&c.vec_act)?, 3)?;
    let lin1 = b.linear1.forward(&modulate(x, &m[0], &m[1])?)?;
    let parts = ops::split_at(&lin1, &[3 * h], -1)?;
    let mut qkv = heads(&parts[0], 3, nh)?;
    let v = qkv.pop().expect("three heads");
    let k = fast::rms_norm(&qkv[1], Some(b.key_scale.value()), 1e-6)?;
    let q = fast::rms_norm(&qkv[0], Some(b.query_scale.value()), 1e-6)?;
    let attn = attention(&q, &k, &v, c)?;
    let mlp = mlx_nn::gelu_tanh(&parts[1])?;
    let out = b.linear2.forward(&ops::concatenate(&[attn, mlp], 2)?)?;
    x + &(&m[2] * &out)?
}

/// Per-forward conditioning every block reads: `silu(vec)` and the rotary
/// tables.
#[derive(Clone, Debug)]
pub struct Conditioning {
    /// `silu(vec)` `[B, H]`, the input of every modulation layer.
    pub vec_act: Array,
    /// Rotary cosines `[B, 1, L_txt + N, D/2]` float32.
    pub cos: Array,
    /// Rotary sines, same shape.
    pub sin: Array,
    /// Text tokens `L_txt` (the joint sequence starts with them).
    pub txt_len: i32,
}

/// The two token streams of the double-stream blocks.
#[derive(Clone, Debug)]
pub struct Streams {
    /// Image tokens `[B, N, H]`.
    pub img: Array,
    /// Text tokens `[B, L, H]`.
    pub txt: Array,
}

impl StageOutput for Streams {
    fn arrays(&self) -> Vec<&Array> {
        vec![&self.img, &self.txt]
    }
}

impl StageOutput for (Streams, Conditioning) {
    fn arrays(&self) -> Vec<&Array> {
        vec![
            &self.0.img,
            &self.0.txt,
            &self.1.vec_act,
            &self.1.cos,
            &self.1.sin,
        ]
    }
}

/// `MLPEmbedder`: `out_layer(silu(in_layer(x)))`.
#[derive(Clone, Debug)]
struct MlpEmbedder {
    in_layer: Linear,
    out_layer: Linear,
}

impl MlpEmbedder {
    fn forward(&self, x: &Array) -> Result<Array> {
        self.out_layer.forward(&self.in_layer.forward(x)?)
    }
}

/// `SelfAttention`'s parameters: fused qkv, QK RMSNorm scales, output proj.
#[derive(Clone, Debug)]
struct Attention {
    qkv: Linear,
    query_scale: Param,
    key_scale: Param,
    proj: Linear,
}

impl Attention {
    /// q, k, v `[B, H, L, D]` of `x_mod`, q and k RMS-normalized (eps 1e-6).
    fn qkv(&self, x_mod: &Array, num_heads: i32) -> Result<(Array, Array, Array)> {
        let mut h = heads(&self.qkv.forward(x_mod)?, 3, num_heads)?;
        let v = h.pop().expect("three heads");
        let k = fast::rms_norm(&h[1], Some(self.key_scale.value()), 1e-6)?;
        let q = fast::rms_norm(&h[0], Some(self.query_scale.value()), 1e-6)?;
        Ok((q, k, v))
    }
}

/// `DoubleStreamBlock`: one stream per modality, joint attention.
#[derive(Clone, Debug)]
struct DoubleBlock {
    img_mod: Linear,
    img_attn: Attention,
    img_mlp0: Linear,
    img_mlp2: Linear,
    txt_mod: Linear,
    txt_attn: Attention,
    txt_mlp0: Linear,
    txt_mlp2: Linear,
}

/// `SingleStreamBlock`: fused qkv + MLP in, fused proj + MLP out.
#[derive(Clone, Debug)]
struct SingleBlock {
    linear1: Linear,
    linear2: Linear,
    query_scale: Param,
    key_scale: Param,
    modulation: Linear,
}

/// A `Param` as a tree leaf.
fn visit_param(p: &Param, prefix: &str, name: &str, f: &mut dyn FnMut(&str, &Array)) {
    f(&join_path(prefix, name), p.value())
}

fn visit_param_mut(p: &mut Param, prefix: &str, name: &str, f: &mut dyn FnMut(&str, &mut Array)) {
    f(&join_path(prefix, name), p.value_mut())
}

// The blocks as trees of their weights, so that a block's weights can be the
// inputs of one compiled function that serves every block of its kind.
impl Tree for Attention {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        self.qkv.visit(&join_path(prefix, "qkv"), f);
        visit_param(&self.query_scale, prefix, "query_scale", f);
        visit_param(&self.key_scale, prefix, "key_scale", f);
        self.proj.visit(&join_path(prefix, "proj"), f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        self.qkv.visit_mut(&join_path(prefix, "qkv"), f);
        visit_param_mut(&mut self.query_scale, prefix, "query_scale", f);
        visit_param_mut(&mut self.key_scale, prefix, "key_scale", f);
        self.proj.visit_mut(&join_path(prefix, "proj"), f);
    }
}

mlx_rs_core::impl_tree!(DoubleBlock {
    img_mod,
    img_attn,
    img_mlp0,
    img_mlp2,
    txt_mod,
    txt_attn,
    txt_mlp0,
    txt_mlp2
});

impl Tree for SingleBlock {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Array)) {
        self.linear1.visit(&join_path(prefix, "linear1"), f);
        self.linear2.visit(&join_path(prefix, "linear2"), f);
        visit_param(&self.query_scale, prefix, "query_scale", f);
        visit_param(&self.key_scale, prefix, "key_scale", f);
        self.modulation.visit(&join_path(prefix, "modulation"), f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Array)) {
        self.linear1.visit_mut(&join_path(prefix, "linear1"), f);
        self.linear2.visit_mut(&join_path(prefix, "linear2"), f);
        visit_param_mut(&mut self.query_scale, prefix, "query_scale", f);
        visit_param_mut(&mut self.key_scale, prefix, "key_scale", f);
        self.modulation
            .visit_mut(&join_path(prefix, "modulation"), f);
    }
}

/// A double block compiled: `(block weights, (img, txt, vec_act, cos, sin))`
/// to `(img, txt)`.
type DoubleFn = Compiled<(), (DoubleBlock, [Array; 5]), (Array, Array)>;
/// A single block compiled: `(block weights, (x, vec_act, cos, sin))` to `x`.
type SingleFn = Compiled<(), (SingleBlock, [Array; 4]), Array>;

/// One compiled pair per configuration and stream.
type BlockCache = RefCell<Vec<(FluxConfig, Stream, Rc<DoubleFn>, Rc<SingleFn>)>>;

thread_local! {
    // Compiled functions are neither Send nor Sync (MLX's compile cache is
    // per thread), so each thread builds its own. They capture only the
    // configuration and the blocks' structure (weights are inputs), so every
    // model of one configuration shares them, and one trace per input shape
    // serves all 19 double / 38 single blocks.
    static BLOCKS: BlockCache = const { RefCell::new(Vec::new()) };
}

/// Whether a [`Flux`] left at its default ([`Flux::set_compiled`] never
/// called) runs its blocks compiled on a stream of `device`: on a GPU yes
/// (H200, full preset, bfloat16: 165 ms compiled against 225 ms op by op),
/// on the CPU no (small preset: float32 about even, bfloat16 about 20 %
/// slower compiled, because MLX's generated CPU kernels compute bfloat16
/// element by element). Both measured in `BENCHMARKS.md`.
///
/// ```
/// use mlx_rs_core::DeviceType;
/// assert!(mlx_workloads::flux::compiled_by_default(DeviceType::Gpu));
/// assert!(!mlx_workloads::flux::compiled_by_default(DeviceType::Cpu));
/// ```
pub fn compiled_by_default(device: DeviceType) -> bool {
    device == DeviceType::Gpu
}

/// The FLUX.1 transformer. Its parameters carry BFL's checkpoint names
/// (`double_blocks.0.img_attn.qkv.weight`, `single_blocks.3.linear1.bias`,
/// `final_layer.adaLN_modulation.1.weight`, ...), so [`Flux::load`] reads
/// `flux1-schnell.safetensors` / `flux1-dev.safetensors` directly.
#[derive(Clone, Debug)]
pub struct Flux {
    config: FluxConfig,
    dtype: Dtype,
    img_in: Linear,
    time_in: MlpEmbedder,
    vector_in: MlpEmbedder,
    guidance_in: Option<MlpEmbedder>,
    txt_in: Linear,
    double_blocks: Vec<DoubleBlock>,
    single_blocks: Vec<SingleBlock>,
    final_mod: Linear,
    final_linear: Linear,
    /// `None`: [`compiled_by_default`] for the stream each forward runs on.
    compiled: Option<bool>,
}

/// Draws parameters: each from a key of (seed, name), so a parameter's
/// values do not depend on the others.
struct Init {
    seed: u64,
    dtype: Dtype,
}

impl Init {
    fn key(&self, name: &str) -> Result<Array> {
        // FNV-1a of the name, mixed with the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        ops::random::key(h)
    }

    /// Weights and biases from `U(-1/√in, 1/√in)` (PyTorch's and MLX's
    /// default), which keeps every layer's output at the scale of its input.
    fn linear(&self, name: &str, i: i32, o: i32, bias: bool) -> Result<Linear> {
        let k = 1.0 / (i as f32).sqrt();
        let w = ops::random::uniform(
            -k,
            k,
            &[o, i],
            self.dtype,
            Some(&self.key(&format!("{name}.weight"))?),
        )?;
        let b = if bias {
            Some(ops::random::uniform(
                -k,
                k,
                &[o],
                self.dtype,
                Some(&self.key(&format!("{name}.bias"))?),
            )?)
        } else {
            None
        };
        Linear::from_weights(w, b)
    }

    /// RMSNorm scales around 1 (`U(0.5, 1.5)`).
    fn scale(&self, name: &str, d: i32) -> Result<Param> {
        Ok(Param::new(ops::random::uniform(
            0.5,
            1.5,
            &[d],
            self.dtype,
            Some(&self.key(name)?),
        )?))
    }

    fn embedder(&self, name: &str, i: i32, h: i32) -> Result<MlpEmbedder> {
        Ok(MlpEmbedder {
            in_layer: self
                .linear(&format!("{name}.in_layer"), i, h, true)?
                .with_activation(Activation::Silu),
            out_layer: self.linear(&format!("{name}.out_layer"), h, h, true)?,
        })
    }

    fn attention(&self, name: &str, c: &FluxConfig) -> Result<Attention> {
        let (h, d) = (c.hidden_size, c.head_dim());
        Ok(Attention {
            qkv: self.linear(&format!("{name}.qkv"), h, 3 * h, c.qkv_bias)?,
            query_scale: self.scale(&format!("{name}.norm.query_norm.scale"), d)?,
            key_scale: self.scale(&format!("{name}.norm.key_norm.scale"), d)?,
            proj: self.linear(&format!("{name}.proj"), h, h, true)?,
        })
    }
}

impl Flux {
    /// A model with seeded synthetic weights in `dtype` (lazy: nothing is
    /// computed until the weights are first evaluated). The same seed gives
    /// the same weights.
    #[track_caller]
    pub fn synthetic(config: FluxConfig, dtype: Dtype, seed: u64) -> Result<Flux> {
        config.validate()?;
        if !matches!(dtype, Dtype::Float32 | Dtype::Bfloat16 | Dtype::Float16) {
            return Err(invalid(format!(
                "Flux: dtype must be float32, bfloat16 or float16, got {dtype:?}"
            )));
        }
        let init = Init { seed, dtype };
        let c = &config;
        let (h, m) = (c.hidden_size, c.mlp_hidden());
        let double_blocks = (0..c.depth)
            .map(|i| {
                let p = format!("double_blocks.{i}");
                let mlp = |s: &str| -> Result<(Linear, Linear)> {
                    Ok((
                        init.linear(&format!("{p}.{s}_mlp.0"), h, m, true)?
                            .with_activation(Activation::GeluTanh),
                        init.linear(&format!("{p}.{s}_mlp.2"), m, h, true)?,
                    ))
                };
                let (img_mlp0, img_mlp2) = mlp("img")?;
                let (txt_mlp0, txt_mlp2) = mlp("txt")?;
                Ok(DoubleBlock {
                    img_mod: init.linear(&format!("{p}.img_mod.lin"), h, 6 * h, true)?,
                    img_attn: init.attention(&format!("{p}.img_attn"), c)?,
                    img_mlp0,
                    img_mlp2,
                    txt_mod: init.linear(&format!("{p}.txt_mod.lin"), h, 6 * h, true)?,
                    txt_attn: init.attention(&format!("{p}.txt_attn"), c)?,
                    txt_mlp0,
                    txt_mlp2,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let single_blocks = (0..c.depth_single_blocks)
            .map(|i| {
                let p = format!("single_blocks.{i}");
                Ok(SingleBlock {
                    linear1: init.linear(&format!("{p}.linear1"), h, 3 * h + m, true)?,
                    linear2: init.linear(&format!("{p}.linear2"), h + m, h, true)?,
                    query_scale: init.scale(&format!("{p}.norm.query_norm.scale"), c.head_dim())?,
                    key_scale: init.scale(&format!("{p}.norm.key_norm.scale"), c.head_dim())?,
                    modulation: init.linear(&format!("{p}.modulation.lin"), h, 3 * h, true)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Flux {
            img_in: init.linear("img_in", c.in_channels, h, true)?,
            time_in: init.embedder("time_in", 256, h)?,
            vector_in: init.embedder("vector_in", c.vec_in_dim, h)?,
            guidance_in: if c.guidance_embed {
                Some(init.embedder("guidance_in", 256, h)?)
            } else {
                None
            },
            txt_in: init.linear("txt_in", c.context_in_dim, h, true)?,
            double_blocks,
            single_blocks,
            final_mod: init.linear("final_layer.adaLN_modulation.1", h, 2 * h, true)?,
            final_linear: init.linear("final_layer.linear", h, c.out_channels, true)?,
            config,
            dtype,
            compiled: None,
        })
    }

    /// A model of `config` whose weights come from the BFL-format
    /// safetensors checkpoint at `path`, converted to `dtype`.
    ///
    /// Strict: a tensor the model needs that the file lacks, a tensor the
    /// model does not have, or a shape that differs is an `Err` listing every
    /// such problem (checked from the file's header before any data is
    /// read). Lazy: each tensor is read and converted when first evaluated.
    #[track_caller]
    pub fn load(config: FluxConfig, path: impl AsRef<Path>, dtype: Dtype) -> Result<Flux> {
        // The synthetic arrays are never evaluated: loading replaces them.
        let mut model = Flux::synthetic(config, dtype, 0)?;
        mlx_nn::load_safetensors_with(
            &mut model,
            path,
            LoadOptions {
                strict: true,
                convert_dtype: true,
            },
        )?;
        Ok(model)
    }

    /// The configuration.
    pub fn config(&self) -> &FluxConfig {
        &self.config
    }

    /// The compute dtype (of the weights; inputs are converted to it).
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The same model running its blocks compiled (`true`) or op by op
    /// (`false`); see [`Flux::set_compiled`].
    pub fn with_compiled(mut self, compiled: bool) -> Flux {
        self.compiled = Some(compiled);
        self
    }

    /// Runs each block as one compiled function (`true`) or op by op
    /// (`false`). Compiled, MLX fuses the element-wise chains between the
    /// GEMMs and attention (LayerNorm + modulation, gated residuals, RoPE,
    /// GELU, dtype conversions) into fewer kernels. One compiled function
    /// takes a block's weights as inputs, so it serves every block of its
    /// kind: the first forward of a new input shape traces and compiles each
    /// kind once (see `docs/workloads.md` for its cost). Both give the same
    /// results up to float rounding. Until this is called the choice follows
    /// the device each forward runs on ([`compiled_by_default`]).
    ///
    /// ```
    /// use mlx_rs_core::Dtype;
    /// use mlx_workloads::flux::{Flux, FluxConfig, Inputs};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let config = FluxConfig::small();
    /// let mut model = Flux::synthetic(config.clone(), Dtype::Float32, 0)?;
    /// let inputs = Inputs::synthetic(&config, 1, 8, 4, 4, 0.5, 1)?;
    /// model.set_compiled(true);
    /// let fused = model.forward(&inputs)?;
    /// model.set_compiled(false);
    /// let plain = model.forward(&inputs)?;
    /// let diff = mlx_rs_core::ops::max(&mlx_rs_core::ops::abs(&(&fused - &plain)?)?, false)?;
    /// assert!(diff.item::<f32>()? < 1e-4);
    /// # Ok(()) }
    /// ```
    pub fn set_compiled(&mut self, compiled: bool) {
        self.compiled = Some(compiled);
    }

    /// Whether the blocks run compiled on the current thread's stream
    /// ([`Flux::set_compiled`], else [`compiled_by_default`] for its device).
    pub fn is_compiled(&self) -> bool {
        self.compiled.unwrap_or_else(|| {
            Stream::current()
                .and_then(|s| s.device())
                .is_ok_and(|d| compiled_by_default(d.device_type()))
        })
    }

    /// Evaluates every parameter (materializes synthetic or lazily loaded
    /// weights), e.g. before timing.
    pub fn eval_parameters(&self) -> Result<()> {
        mlx_rs_core::eval(self.parameters().values())
    }

    #[track_caller]
    fn check_inputs(&self, x: &Inputs) -> Result<()> {
        let c = &self.config;
        let (img, txt) = (x.img.shape(), x.txt.shape());
        let mut problems = Vec::new();
        if img.len() != 3 || img[2] != c.in_channels {
            problems.push(format!("img {img:?} must be [B, N, {}]", c.in_channels));
        }
        if txt.len() != 3 || txt[2] != c.context_in_dim {
            problems.push(format!("txt {txt:?} must be [B, L, {}]", c.context_in_dim));
        }
        if problems.is_empty() {
            let (b, n, l) = (img[0], img[1], txt[1]);
            let want: [(&str, &Array, Vec<i32>); 4] = [
                ("img_ids", &x.img_ids, vec![b, n, 3]),
                ("txt_ids", &x.txt_ids, vec![b, l, 3]),
                ("timesteps", &x.timesteps, vec![b]),
                ("y", &x.y, vec![b, c.vec_in_dim]),
            ];
            if txt[0] != b {
                problems.push(format!("txt batch {} differs from img batch {b}", txt[0]));
            }
            for (name, a, shape) in want {
                if a.shape() != shape {
                    problems.push(format!("{name} {:?} must be {shape:?}", a.shape()));
                }
            }
            match (&x.guidance, c.guidance_embed) {
                (None, true) => {
                    problems.push("guidance [B] is required by this model (guidance_embed)".into())
                }
                (Some(g), true) if g.shape() != [b] => {
                    problems.push(format!("guidance {:?} must be [{b}]", g.shape()))
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(invalid(format!("Flux inputs: {}", problems.join("; "))))
        }
    }

    /// Stage 1: the input projections (`img_in`, `txt_in`), the conditioning
    /// vector `time_in(timestep_embedding(t)) [+ guidance_in(..)] +
    /// vector_in(y)` and the rotary tables of `concat(txt_ids, img_ids)`.
    #[track_caller]
    pub fn embed(&self, x: &Inputs) -> Result<(Streams, Conditioning)> {
        self.check_inputs(x)?;
        let dt = self.dtype;
        let img = self.img_in.forward(&x.img.astype(dt)?)?;
        let mut vec = self
            .time_in
            .forward(&timestep_embedding(&x.timesteps, 256)?.astype(dt)?)?;
        if let (Some(g_in), Some(g)) = (&self.guidance_in, &x.guidance) {
            vec = (&vec + &g_in.forward(&timestep_embedding(g, 256)?.astype(dt)?)?)?;
        }
        vec = (&vec + &self.vector_in.forward(&x.y.astype(dt)?)?)?;
        let txt = self.txt_in.forward(&x.txt.astype(dt)?)?;
        let ids = ops::concatenate(&[&x.txt_ids, &x.img_ids], 1)?;
        let (cos, sin) = rope_tables(&ids, &self.config.axes_dim, self.config.theta)?;
        Ok((
            Streams { img, txt },
            Conditioning {
                vec_act: mlx_nn::silu(&vec)?,
                cos,
                sin,
                txt_len: x.txt.shape()[1],
            },
        ))
    }

    /// Double-stream block `i` (0-based, `< depth`).
    #[track_caller]
    pub fn double_block(&self, i: usize, s: &Streams, c: &Conditioning) -> Result<Streams> {
        let b = self.double_blocks.get(i).ok_or_else(|| {
            invalid(format!(
                "double_block {i}: the model has {}",
                self.double_blocks.len()
            ))
        })?;
        let (img, txt) = if self.is_compiled() {
            let f = self.compiled_blocks()?.0;
            f.call(&(
                b.clone(),
                [
                    s.img.clone(),
                    s.txt.clone(),
                    c.vec_act.clone(),
                    c.cos.clone(),
                    c.sin.clone(),
                ],
            ))?
        } else {
            double_block(b, self.config.num_heads, &s.img, &s.txt, c)?
        };
        Ok(Streams { img, txt })
    }

    /// The compiled block functions of this model's configuration on the
    /// current stream (built on first use, per thread).
    fn compiled_blocks(&self) -> Result<(Rc<DoubleFn>, Rc<SingleFn>)> {
        let stream = Stream::current()?;
        let hit = BLOCKS.with(|c| {
            c.borrow()
                .iter()
                .find(|(k, s, _, _)| *k == self.config && *s == stream)
                .map(|(_, _, d, s)| (Rc::clone(d), Rc::clone(s)))
        });
        if let Some(fns) = hit {
            return Ok(fns);
        }
        // The closures capture no weights: `tree::compile` hands them each
        // block rebuilt around its traced weights.
        let nh = self.config.num_heads;
        let double: DoubleFn = tree::compile(move |(b, a): &(DoubleBlock, [Array; 5])| {
            let c = Conditioning {
                vec_act: a[2].clone(),
                cos: a[3].clone(),
                sin: a[4].clone(),
                txt_len: a[1].shape()[1],
            };
            double_block(b, nh, &a[0], &a[1], &c)
        })?;
        let single: SingleFn = tree::compile(move |(b, a): &(SingleBlock, [Array; 4])| {
            let c = Conditioning {
                vec_act: a[1].clone(),
                cos: a[2].clone(),
                sin: a[3].clone(),
                txt_len: 0,
            };
            single_block(b, nh, &a[0], &c)
        })?;
        let fns = (Rc::new(double), Rc::new(single));
        BLOCKS.with(|c| {
            c.borrow_mut().push((
                self.config.clone(),
                stream,
                Rc::clone(&fns.0),
                Rc::clone(&fns.1),
            ))
        });
        Ok(fns)
    }

    /// Between the block kinds: the joint sequence `concat(txt, img)`.
    pub fn join(&self, s: &Streams) -> Result<Array> {
        ops::concatenate(&[&s.txt, &s.img], 1)
    }

    /// Single-stream block `i` (0-based, `< depth_single_blocks`) over the
    /// joint sequence `[B, L + N, H]`.
    #[track_caller]
    pub fn single_block(&self, i: usize, x: &Array, c: &Conditioning) -> Result<Array> {
        let b = self.single_blocks.get(i).ok_or_else(|| {
            invalid(format!(
                "single_block {i}: the model has {}",
                self.single_blocks.len()
            ))
        })?;
        if self.is_compiled() {
            let f = self.compiled_blocks()?.1;
            f.call(&(
                b.clone(),
                [x.clone(), c.vec_act.clone(), c.cos.clone(), c.sin.clone()],
            ))
        } else {
            single_block(b, self.config.num_heads, x, c)
        }
    }

    /// The final layer on the image part of the joint sequence:
    /// `linear((1 + scale)·LayerNorm(img) + shift)`, `(shift, scale)` from
    /// `adaLN_modulation`. Returns `[B, N, out_channels]`.
    pub fn final_layer(&self, x: &Array, c: &Conditioning) -> Result<Array> {
        let s = x.shape();
        let img = ops::slice(x, &[0, c.txt_len, 0], &[s[0], s[1], s[2]], &[1, 1, 1])?;
        let m = chunks(&self.final_mod.forward(&c.vec_act)?, 2)?;
        self.final_linear.forward(&modulate(&img, &m[0], &m[1])?)
    }

    /// BFL's `Flux.forward`: the velocity prediction `[B, N, out_channels]`
    /// for `inputs` (lazy; evaluate the result).
    #[track_caller]
    pub fn forward(&self, inputs: &Inputs) -> Result<Array> {
        let (mut s, c) = self.embed(inputs)?;
        for i in 0..self.double_blocks.len() {
            s = self.double_block(i, &s, &c)?;
        }
        let mut x = self.join(&s)?;
        for i in 0..self.single_blocks.len() {
            x = self.single_block(i, &x, &c)?;
        }
        self.final_layer(&x, &c)
    }
}

fn push_linear<'a>(v: &mut Vec<(String, Entry<'a>)>, name: String, l: &'a Linear) {
    v.push((name, Entry::Module(l)));
}

fn push_linear_mut<'a>(v: &mut Vec<(String, EntryMut<'a>)>, name: String, l: &'a mut Linear) {
    v.push((name, EntryMut::Module(l)));
}

impl Module for Flux {
    /// Not the model's entry point: FLUX takes several inputs, see
    /// [`Flux::forward`] (inherent). This returns an `Err` saying so.
    fn forward(&self, _x: &Array) -> Result<Array> {
        Err(invalid(
            "Flux takes several inputs: call Flux::forward(&Inputs), not Module::forward".into(),
        ))
    }
}

/// The parameter tree under BFL's names: entries are dotted paths (the
/// module tree of `model.py` flattened to its leaves' parents).
impl Members for Flux {
    fn entries(&self) -> Vec<(String, Entry<'_>)> {
        let mut v = Vec::new();
        push_linear(&mut v, "img_in".into(), &self.img_in);
        for (name, e) in [("time_in", &self.time_in), ("vector_in", &self.vector_in)]
            .into_iter()
            .chain(self.guidance_in.as_ref().map(|g| ("guidance_in", g)))
        {
            push_linear(&mut v, format!("{name}.in_layer"), &e.in_layer);
            push_linear(&mut v, format!("{name}.out_layer"), &e.out_layer);
        }
        push_linear(&mut v, "txt_in".into(), &self.txt_in);
        for (i, b) in self.double_blocks.iter().enumerate() {
            let p = format!("double_blocks.{i}");
            for (s, m, a, up, down) in [
                ("img", &b.img_mod, &b.img_attn, &b.img_mlp0, &b.img_mlp2),
                ("txt", &b.txt_mod, &b.txt_attn, &b.txt_mlp0, &b.txt_mlp2),
            ] {
                push_linear(&mut v, format!("{p}.{s}_mod.lin"), m);
                push_linear(&mut v, format!("{p}.{s}_attn.qkv"), &a.qkv);
                v.push((
                    format!("{p}.{s}_attn.norm.query_norm.scale"),
                    Entry::Param(&a.query_scale),
                ));
                v.push((
                    format!("{p}.{s}_attn.norm.key_norm.scale"),
                    Entry::Param(&a.key_scale),
                ));
                push_linear(&mut v, format!("{p}.{s}_attn.proj"), &a.proj);
                push_linear(&mut v, format!("{p}.{s}_mlp.0"), up);
                push_linear(&mut v, format!("{p}.{s}_mlp.2"), down);
            }
        }
        for (i, b) in self.single_blocks.iter().enumerate() {
            let p = format!("single_blocks.{i}");
            push_linear(&mut v, format!("{p}.linear1"), &b.linear1);
            push_linear(&mut v, format!("{p}.linear2"), &b.linear2);
            v.push((
                format!("{p}.norm.query_norm.scale"),
                Entry::Param(&b.query_scale),
            ));
            v.push((
                format!("{p}.norm.key_norm.scale"),
                Entry::Param(&b.key_scale),
            ));
            push_linear(&mut v, format!("{p}.modulation.lin"), &b.modulation);
        }
        push_linear(
            &mut v,
            "final_layer.adaLN_modulation.1".into(),
            &self.final_mod,
        );
        push_linear(&mut v, "final_layer.linear".into(), &self.final_linear);
        v
    }

    fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)> {
        let mut v = Vec::new();
        push_linear_mut(&mut v, "img_in".into(), &mut self.img_in);
        for (name, e) in [
            ("time_in", &mut self.time_in),
            ("vector_in", &mut self.vector_in),
        ]
        .into_iter()
        .chain(self.guidance_in.as_mut().map(|g| ("guidance_in", g)))
        {
            push_linear_mut(&mut v, format!("{name}.in_layer"), &mut e.in_layer);
            push_linear_mut(&mut v, format!("{name}.out_layer"), &mut e.out_layer);
        }
        push_linear_mut(&mut v, "txt_in".into(), &mut self.txt_in);
        for (i, b) in self.double_blocks.iter_mut().enumerate() {
            let p = format!("double_blocks.{i}");
            for (s, m, a, up, down) in [
                (
                    "img",
                    &mut b.img_mod,
                    &mut b.img_attn,
                    &mut b.img_mlp0,
                    &mut b.img_mlp2,
                ),
                (
                    "txt",
                    &mut b.txt_mod,
                    &mut b.txt_attn,
                    &mut b.txt_mlp0,
                    &mut b.txt_mlp2,
                ),
            ] {
                push_linear_mut(&mut v, format!("{p}.{s}_mod.lin"), m);
                push_linear_mut(&mut v, format!("{p}.{s}_attn.qkv"), &mut a.qkv);
                v.push((
                    format!("{p}.{s}_attn.norm.query_norm.scale"),
                    EntryMut::Param(&mut a.query_scale),
                ));
                v.push((
                    format!("{p}.{s}_attn.norm.key_norm.scale"),
                    EntryMut::Param(&mut a.key_scale),
                ));
                push_linear_mut(&mut v, format!("{p}.{s}_attn.proj"), &mut a.proj);
                push_linear_mut(&mut v, format!("{p}.{s}_mlp.0"), up);
                push_linear_mut(&mut v, format!("{p}.{s}_mlp.2"), down);
            }
        }
        for (i, b) in self.single_blocks.iter_mut().enumerate() {
            let p = format!("single_blocks.{i}");
            push_linear_mut(&mut v, format!("{p}.linear1"), &mut b.linear1);
            push_linear_mut(&mut v, format!("{p}.linear2"), &mut b.linear2);
            v.push((
                format!("{p}.norm.query_norm.scale"),
                EntryMut::Param(&mut b.query_scale),
            ));
            v.push((
                format!("{p}.norm.key_norm.scale"),
                EntryMut::Param(&mut b.key_scale),
            ));
            push_linear_mut(&mut v, format!("{p}.modulation.lin"), &mut b.modulation);
        }
        push_linear_mut(
            &mut v,
            "final_layer.adaLN_modulation.1".into(),
            &mut self.final_mod,
        );
        push_linear_mut(&mut v, "final_layer.linear".into(), &mut self.final_linear);
        v
    }
}

mlx_nn::impl_tree_for_members!(Flux);
