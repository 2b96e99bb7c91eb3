"""Builds mflux 0.24.0's FLUX.1 transformer at any size, and maps its
parameters to Black Forest Labs' checkpoint names.

mflux writes the full model's sizes as literals (3072 features, 24 heads of
128, 4096-d text, 768-d pooled vector, axes 16/56/56). Its modules look up
`nn.Linear` / `nn.LayerNorm` / `nn.RMSNorm` from their module globals at
construction time, so a stand-in `nn` there rescales those literals: every
multiple of 3072 becomes the same multiple of `hidden`, 4096 becomes
`context_in`, 768 becomes `vec_in`, and RMSNorm's 128 becomes the head size.
Heads, head size and rope axes are instance attributes set after
construction. Everything else is mflux's own forward code, with three
changes that make it compute Black Forest Labs' reference math
(src/flux/modules/layers.py), each noted where it is made:

1. `AdaLayerNormZero.__call__` slices its output at the literal 18432 // 6;
   it is replaced by the same slicing at a sixth of the layer's width.
2. mflux's image-stream MLP (`ff`) uses erf GELU (`nn.gelu`); BFL's img_mlp
   and txt_mlp both use GELU with the tanh approximation (`nn.gelu_approx`).
3. mflux's QK RMSNorm uses MLX's default eps 1e-5; BFL's RMSNorm uses 1e-6.

usage: imported by flux_fixture.py and bench_flux_mflux.py.
"""
import types
from dataclasses import dataclass, field

import mlx.core as mx
from mlx import nn as mlx_nn

from mflux.models.common.config.model_config import ModelConfig
from mflux.models.flux.model.flux_transformer import (
    ada_layer_norm_continuous,
    ada_layer_norm_zero,
    ada_layer_norm_zero_single,
    feed_forward,
    guidance_embedder,
    joint_attention,
    joint_transformer_block,
    single_block_attention,
    single_transformer_block,
    text_embedder,
    timestep_embedder,
    transformer,
)

FULL_HIDDEN = 3072


@dataclass
class Size:
    """A FLUX.1 transformer's dimensions (BFL's FluxParams)."""

    hidden: int
    heads: int
    axes: list = field(default_factory=list)
    depth: int = 19
    depth_single: int = 38
    context_in: int = 4096
    vec_in: int = 768
    guidance: bool = False

    @property
    def head_dim(self):
        return self.hidden // self.heads


def _shim(size: Size):
    def dim(n):
        if n == 4096:
            return size.context_in
        if n == 768:
            return size.vec_in
        if n % FULL_HIDDEN == 0:
            return n // FULL_HIDDEN * size.hidden
        return n  # 256 (timestep embedding), 64 (latent channels)

    ns = types.SimpleNamespace(**{k: getattr(mlx_nn, k) for k in dir(mlx_nn) if not k.startswith("__")})
    ns.Linear = lambda i, o, bias=True: mlx_nn.Linear(dim(i), dim(o), bias=bias)
    ns.LayerNorm = lambda dims, eps=1e-5, affine=True: mlx_nn.LayerNorm(dims=dim(dims), eps=eps, affine=affine)
    # Change 3: BFL's RMSNorm eps.
    ns.RMSNorm = lambda dims, eps=1e-6: mlx_nn.RMSNorm(size.head_dim if dims == 128 else dims, eps=1e-6)
    return ns


def _ada_zero_call(self, hidden_states, text_embeddings):
    # Change 1: the same six chunks as mflux, at a sixth of this layer's width.
    e = self.linear(mlx_nn.silu(text_embeddings))
    c = e.shape[-1] // 6
    chunks = [e[:, i * c : (i + 1) * c] for i in range(6)]
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = chunks
    hidden_states = self.norm(hidden_states) * (1 + scale_msa[:, None]) + shift_msa[:, None]
    return hidden_states, gate_msa, shift_mlp, scale_mlp, gate_mlp


def build(size: Size, dtype=mx.float32):
    """mflux's Transformer at `size`, random weights (MLX's default init) in `dtype`."""
    ModelConfig.precision = dtype
    shim = _shim(size)
    modules = [
        ada_layer_norm_continuous, ada_layer_norm_zero, ada_layer_norm_zero_single, feed_forward,
        guidance_embedder, joint_attention, joint_transformer_block, single_block_attention,
        single_transformer_block, text_embedder, timestep_embedder, transformer,
    ]
    saved = [(m, m.nn) for m in modules]
    try:
        for m in modules:
            m.nn = shim
        cfg = ModelConfig.dev() if size.guidance else ModelConfig.schnell()
        model = transformer.Transformer(cfg, num_transformer_blocks=size.depth, num_single_transformer_blocks=size.depth_single)
    finally:
        for m, old in saved:
            m.nn = old
    ada_layer_norm_zero.AdaLayerNormZero.__call__ = _ada_zero_call
    model.pos_embed.axes_dim = list(size.axes)
    model.pos_embed.dim = size.hidden
    for blk in model.transformer_blocks:
        blk.attn.num_heads, blk.attn.head_dimension = size.heads, size.head_dim
        blk.ff.activation_function = mlx_nn.gelu_approx  # change 2
    for blk in model.single_transformer_blocks:
        blk.attn.num_heads, blk.attn.head_dimension = size.heads, size.head_dim
        blk.norm.dim = size.hidden
    model.norm_out.embedding_dim = size.hidden
    # AdaLayerNormContinuous starts its bias at zero (see mflux); draw it like the others.
    lin = model.norm_out.linear
    lin.bias = mx.random.uniform(-0.1, 0.1, (lin.weight.shape[0],))
    if dtype != mx.float32:
        model.set_dtype(dtype)
    mx.eval(model.parameters())
    return model


def run_config(height, width, sigma, guidance):
    """The `config` argument mflux's Transformer.__call__ reads, for one step at `sigma`."""
    return types.SimpleNamespace(
        height=height,
        width=width,
        scheduler=types.SimpleNamespace(sigmas=[sigma]),
        num_train_steps=1000,
        precision=ModelConfig.precision,
        guidance=guidance,
    )


def forward(model, latents, txt, vec, height, width, sigma, guidance=0.0):
    """mflux's forward at step `sigma` (images height x width pixels: a
    (height/16) x (width/16) grid of latent tokens)."""
    return model(t=0, config=run_config(height, width, sigma, guidance), hidden_states=latents,
                 prompt_embeds=txt, pooled_prompt_embeds=vec)


def bfl_weights(model, size: Size):
    """mflux's parameters under BFL's names (flux1-schnell.safetensors / flux1-dev.safetensors)."""
    from mlx.utils import tree_flatten

    p = dict(tree_flatten(model.parameters()))
    out = {}

    def lin(dst, src):
        out[f"{dst}.weight"] = p[f"{src}.weight"]
        out[f"{dst}.bias"] = p[f"{src}.bias"]

    def cat(dst, srcs):
        out[f"{dst}.weight"] = mx.concatenate([p[f"{s}.weight"] for s in srcs], axis=0)
        out[f"{dst}.bias"] = mx.concatenate([p[f"{s}.bias"] for s in srcs], axis=0)

    lin("img_in", "x_embedder")
    lin("txt_in", "context_embedder")
    lin("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1")
    lin("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2")
    lin("vector_in.in_layer", "time_text_embed.text_embedder.linear_1")
    lin("vector_in.out_layer", "time_text_embed.text_embedder.linear_2")
    if size.guidance:
        lin("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1")
        lin("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2")
    for i in range(size.depth):
        s, d = f"transformer_blocks.{i}", f"double_blocks.{i}"
        lin(f"{d}.img_mod.lin", f"{s}.norm1.linear")
        lin(f"{d}.txt_mod.lin", f"{s}.norm1_context.linear")
        cat(f"{d}.img_attn.qkv", [f"{s}.attn.to_q", f"{s}.attn.to_k", f"{s}.attn.to_v"])
        cat(f"{d}.txt_attn.qkv", [f"{s}.attn.add_q_proj", f"{s}.attn.add_k_proj", f"{s}.attn.add_v_proj"])
        out[f"{d}.img_attn.norm.query_norm.scale"] = p[f"{s}.attn.norm_q.weight"]
        out[f"{d}.img_attn.norm.key_norm.scale"] = p[f"{s}.attn.norm_k.weight"]
        out[f"{d}.txt_attn.norm.query_norm.scale"] = p[f"{s}.attn.norm_added_q.weight"]
        out[f"{d}.txt_attn.norm.key_norm.scale"] = p[f"{s}.attn.norm_added_k.weight"]
        lin(f"{d}.img_attn.proj", f"{s}.attn.to_out.0")
        lin(f"{d}.txt_attn.proj", f"{s}.attn.to_add_out")
        lin(f"{d}.img_mlp.0", f"{s}.ff.linear1")
        lin(f"{d}.img_mlp.2", f"{s}.ff.linear2")
        lin(f"{d}.txt_mlp.0", f"{s}.ff_context.linear1")
        lin(f"{d}.txt_mlp.2", f"{s}.ff_context.linear2")
    for i in range(size.depth_single):
        s, d = f"single_transformer_blocks.{i}", f"single_blocks.{i}"
        lin(f"{d}.modulation.lin", f"{s}.norm.linear")
        cat(f"{d}.linear1", [f"{s}.attn.to_q", f"{s}.attn.to_k", f"{s}.attn.to_v", f"{s}.proj_mlp"])
        lin(f"{d}.linear2", f"{s}.proj_out")
        out[f"{d}.norm.query_norm.scale"] = p[f"{s}.attn.norm_q.weight"]
        out[f"{d}.norm.key_norm.scale"] = p[f"{s}.attn.norm_k.weight"]
    # diffusers' AdaLayerNormContinuous emits (scale, shift); BFL's LastLayer (shift, scale).
    w, b = p["norm_out.linear.weight"], p["norm_out.linear.bias"]
    h = size.hidden
    out["final_layer.adaLN_modulation.1.weight"] = mx.concatenate([w[h:], w[:h]], axis=0)
    out["final_layer.adaLN_modulation.1.bias"] = mx.concatenate([b[h:], b[:h]], axis=0)
    lin("final_layer.linear", "proj_out")
    return out


def ids(batch, txt_len, rows, cols):
    """BFL's position ids: text (0, 0, 0), image (0, row, col) row-major."""
    txt_ids = mx.zeros((batch, txt_len, 3))
    r = mx.broadcast_to(mx.arange(rows)[:, None], (rows, cols)).reshape(-1)
    c = mx.broadcast_to(mx.arange(cols)[None, :], (rows, cols)).reshape(-1)
    img = mx.stack([mx.zeros_like(r), r, c], axis=-1).astype(mx.float32)
    return txt_ids, mx.broadcast_to(img[None], (batch, rows * cols, 3))
