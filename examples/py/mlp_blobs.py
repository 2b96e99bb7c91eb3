# A 2-layer MLP trained with a compiled Adam step on 10 Gaussian blobs in 64-d.
# Idiomatic Python MLX: mlx.nn layers and loss, mlx.optimizers.Adam, and
# mx.compile over the model's and the optimizer's state. The Rust version is
# examples/mlp_blobs.rs; scripts/count_lines.py compares their lengths.
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
n, d, k, h = 2000, 64, 10, 128
centers = mx.random.normal((k, d)) * 2
y = mx.random.randint(0, k, (n,))
x = centers[y] + mx.random.normal((n, d))
model = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, k))
# bias_correction=True is the default of the Rust Adam: the same algorithm.
optimizer = optim.Adam(learning_rate=1e-2, bias_correction=True)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    return loss


for _ in range(200):
    loss = step(x, y)
    mx.eval(state)
acc = mx.mean(mx.argmax(model(x), axis=-1) == y).item()
print(f"loss {loss.item():.4f} accuracy {acc:.3f}")
assert acc > 0.9, f"accuracy {acc} <= 0.9"
