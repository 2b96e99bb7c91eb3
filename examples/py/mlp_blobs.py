# A 2-layer MLP trained with a compiled Adam step on 10 Gaussian blobs in 64-d.
from functools import partial

import mlx.core as mx

mx.random.seed(0)
n, d, k, h, lr = 2000, 64, 10, 128, 1e-2
centers = mx.random.normal((k, d)) * 2
y = mx.random.randint(0, k, (n,))
x = centers[y] + mx.random.normal((n, d))


def init(shape):
    return mx.random.normal(shape) * (2 / shape[0]) ** 0.5


params = {"w1": init((d, h)), "b1": mx.zeros((h,)), "w2": init((h, k)), "b2": mx.zeros((k,))}


def forward(p, x):
    return mx.maximum(x @ p["w1"] + p["b1"], 0) @ p["w2"] + p["b2"]


def loss_fn(p, x, y):
    logits = forward(p, x)
    return mx.mean(mx.logsumexp(logits, axis=-1) - mx.take_along_axis(logits, y[:, None], -1)[:, 0])


zeros = {key: mx.zeros_like(v) for key, v in params.items()}
state = [params, zeros, dict(zeros), mx.array(0.0)]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    p, m, v, t = state
    loss, g = mx.value_and_grad(loss_fn)(p, x, y)
    t = t + 1
    for key in p:
        m[key] = 0.9 * m[key] + 0.1 * g[key]
        v[key] = 0.999 * v[key] + 0.001 * g[key] ** 2
        mhat, vhat = m[key] / (1 - 0.9**t), v[key] / (1 - 0.999**t)
        p[key] = p[key] - lr * mhat / (mx.sqrt(vhat) + 1e-8)
    state[3] = t
    return loss


for i in range(200):
    loss = step(x, y)
    mx.eval(state)
acc = mx.mean(mx.argmax(forward(state[0], x), axis=-1) == y).item()
print(f"loss {loss.item():.4f} accuracy {acc:.3f}")
assert acc > 0.9
