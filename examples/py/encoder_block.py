# One transformer encoder block (fast attention, layer norm, GELU MLP) in
# float32 and bfloat16, with a safetensors round trip of its parameters.
# Idiomatic Python MLX: an nn.Module of mlx.nn layers (nn.MultiHeadAttention
# runs mx.fast.scaled_dot_product_attention, nn.LayerNorm mx.fast.layer_norm).
# The Rust version is examples/encoder_block.rs; scripts/count_lines.py
# compares their lengths.
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads, bias=True)
        self.ln2 = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, 4 * dims)
        self.fc2 = nn.Linear(4 * dims, dims)

    def __call__(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h)
        return x + self.fc2(nn.gelu(self.fc1(self.ln2(x))))


mx.random.seed(0)
block = Block(64, 4)
x = mx.random.normal((2, 16, 64))
reference = block(x)
for dtype, tol in ((mx.float32, 1e-5), (mx.bfloat16, 0.1)):
    block.set_dtype(dtype)
    y = block(x.astype(dtype))
    path = os.path.join(tempfile.gettempdir(), f"encoder_{dtype}.safetensors")
    block.save_weights(path)
    loaded = Block(64, 4)
    loaded.load_weights(path)
    assert mx.array_equal(y, loaded(x.astype(dtype))).item()
    err = mx.abs(y - reference).max().item()
    print(f"{dtype}: max |diff| vs float32 {err:.4f}, round trip equal")
    assert err < tol, err
