# One transformer encoder block (fast attention, layer norm, GELU MLP) in
# float32 and bfloat16, with a safetensors round trip of its parameters.
import math

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_unflatten

B, L, D, H, F = 2, 16, 64, 4, 256
mx.random.seed(0)


def linear(i, o):
    return {"weight": mx.random.normal((i, o)) / math.sqrt(i), "bias": mx.zeros((o,))}


def norm():
    return {"weight": mx.ones((D,)), "bias": mx.zeros((D,))}


params = {
    "ln1": norm(),
    "q": linear(D, D),
    "k": linear(D, D),
    "v": linear(D, D),
    "o": linear(D, D),
    "ln2": norm(),
    "fc1": linear(D, F),
    "fc2": linear(F, D),
}


def dense(p, x):
    return x @ p["weight"] + p["bias"]


def block(p, x):
    h = mx.fast.layer_norm(x, p["ln1"]["weight"], p["ln1"]["bias"], 1e-5)
    q, k, v = (dense(p[n], h).reshape(B, L, H, D // H).transpose(0, 2, 1, 3) for n in "qkv")
    a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // H) ** -0.5)
    x = x + dense(p["o"], a.transpose(0, 2, 1, 3).reshape(B, L, D))
    h = mx.fast.layer_norm(x, p["ln2"]["weight"], p["ln2"]["bias"], 1e-5)
    return x + dense(p["fc2"], nn.gelu(dense(p["fc1"], h)))


x = mx.random.normal((B, L, D))
for dtype in (mx.float32, mx.bfloat16):
    p = tree_map(lambda a: a.astype(dtype), params)
    y = block(p, x.astype(dtype))
    mx.save_safetensors(f"/tmp/encoder_{dtype}.safetensors", dict(tree_flatten(p)))
    q = tree_unflatten(list(mx.load(f"/tmp/encoder_{dtype}.safetensors").items()))
    y2 = block(q, x.astype(dtype))
    assert mx.array_equal(y, y2).item()
    ref = block(params, x)
    err = mx.abs(y.astype(mx.float32) - ref).max().item()
    print(f"{dtype}: max |diff| vs float32 {err:.4f}, round trip equal")
