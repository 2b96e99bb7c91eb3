"""Writes the FLUX VAE decoder fixture the Rust test `tests/flux_vae.rs`
checks: a tiny decoder of Black Forest Labs' autoencoder
(src/flux/modules/autoencoder.py: Decoder, ResnetBlock, AttnBlock,
Upsample; AutoEncoder.decode's `z / scale_factor + shift_factor`), computed
here by an independent NumPy float64 implementation of that math.

Sizes: ch 32, ch_mult [2, 1] (so the last level's first ResnetBlock has a
`nin_shortcut`), 1 ResnetBlock per level (+1 in the decoder), z 16
channels, latents 1 x 16 x 4 x 5 -> image 1 x 3 x 8 x 10. Weights in
PyTorch's layout (conv [out, in, kh, kw]) under ae.safetensors' names,
stored as float16 (the reference uses those rounded values), plus two
`encoder.*` tensors a decoder must ignore.

Files: `flux_vae_tiny.weights.safetensors` (metadata holds the sizes) and
`flux_vae_tiny.io.safetensors` (`z`: raw latents, `image`: decoder output,
float32).

usage: python3 flux_vae_fixture.py OUT_DIR   (numpy, safetensors)
"""
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

CH, CH_MULT, NUM_RES, Z, OUT = 32, [2, 1], 1, 16, 3
SCALE, SHIFT = 0.3611, 0.1159
rng = np.random.default_rng(21)
W = {}


def param(name, shape, scale, mean=0.0):
    a = (mean + rng.standard_normal(shape) * scale).astype(np.float16)
    W[name] = a
    return a.astype(np.float64)


def conv_p(name, cin, cout, k):
    w = param(f"{name}.weight", (cout, cin, k, k), 1.0 / np.sqrt(cin * k * k))
    b = param(f"{name}.bias", (cout,), 0.1)
    return w, b


def norm_p(name, c):
    g = param(f"{name}.weight", (c,), 0.2, mean=1.0)
    b = param(f"{name}.bias", (c,), 0.2)
    return g, b


def conv(x, wb):  # x [B, C, H, W], 'same' padding, stride 1
    w, b = wb
    k = w.shape[-1]
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    H, Wd = x.shape[2], x.shape[3]
    out = np.zeros((x.shape[0], w.shape[0], H, Wd))
    for i in range(k):
        for j in range(k):
            out += np.einsum("bchw,oc->bohw", xp[:, :, i:i + H, j:j + Wd], w[:, :, i, j])
    return out + b[None, :, None, None]


def group_norm(x, gb, groups=32, eps=1e-6):
    g, b = gb
    B, C, H, Wd = x.shape
    xr = x.reshape(B, groups, C // groups, H, Wd)
    mean = xr.mean(axis=(2, 3, 4), keepdims=True)
    var = xr.var(axis=(2, 3, 4), keepdims=True)
    xr = (xr - mean) / np.sqrt(var + eps)
    return xr.reshape(B, C, H, Wd) * g[None, :, None, None] + b[None, :, None, None]


def swish(x):
    return x / (1.0 + np.exp(-x))


def resnet(name, cin, cout):
    n1, c1 = norm_p(f"{name}.norm1", cin), conv_p(f"{name}.conv1", cin, cout, 3)
    n2, c2 = norm_p(f"{name}.norm2", cout), conv_p(f"{name}.conv2", cout, cout, 3)
    nin = conv_p(f"{name}.nin_shortcut", cin, cout, 1) if cin != cout else None

    def f(x):
        h = conv(swish(group_norm(x, n1)), c1)
        h = conv(swish(group_norm(h, n2)), c2)
        return (conv(x, nin) if nin is not None else x) + h
    return f


def attn(name, c):
    n = norm_p(f"{name}.norm", c)
    q, k, v, proj = (conv_p(f"{name}.{s}", c, c, 1) for s in ["q", "k", "v", "proj_out"])

    def f(x):
        h = group_norm(x, n)
        B, C, H, Wd = x.shape
        qq, kk, vv = (conv(h, p).reshape(B, C, H * Wd).transpose(0, 2, 1) for p in (q, k, v))
        s = qq @ kk.transpose(0, 2, 1) / np.sqrt(C)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = (s @ vv).transpose(0, 2, 1).reshape(B, C, H, Wd)
        return x + conv(o, proj)
    return f


def decoder():
    n = len(CH_MULT)
    block_in = CH * CH_MULT[-1]
    conv_in = conv_p("decoder.conv_in", Z, block_in, 3)
    mid1 = resnet("decoder.mid.block_1", block_in, block_in)
    mid_attn = attn("decoder.mid.attn_1", block_in)
    mid2 = resnet("decoder.mid.block_2", block_in, block_in)
    levels = {}
    for i in reversed(range(n)):
        out = CH * CH_MULT[i]
        blocks = []
        for j in range(NUM_RES + 1):
            blocks.append(resnet(f"decoder.up.{i}.block.{j}", block_in, out))
            block_in = out
        up = conv_p(f"decoder.up.{i}.upsample.conv", block_in, block_in, 3) if i != 0 else None
        levels[i] = (blocks, up)
    norm_out = norm_p("decoder.norm_out", block_in)
    conv_out = conv_p("decoder.conv_out", block_in, OUT, 3)

    def f(z):
        h = conv(z, conv_in)
        h = mid2(mid_attn(mid1(h)))
        for i in reversed(range(n)):
            blocks, up = levels[i]
            for b in blocks:
                h = b(h)
            if up is not None:
                h = conv(h.repeat(2, axis=2).repeat(2, axis=3), up)
        return conv(swish(group_norm(h, norm_out)), conv_out)
    return f


def main(out_dir):
    out_dir = Path(out_dir)
    dec = decoder()
    # Tensors of the encoder half of ae.safetensors, which a decoder ignores.
    W["encoder.conv_in.weight"] = rng.standard_normal((CH, 3, 3, 3)).astype(np.float16)
    W["encoder.conv_in.bias"] = rng.standard_normal((CH,)).astype(np.float16)
    z = rng.standard_normal((1, Z, 4, 5)).astype(np.float32)
    image = dec(z.astype(np.float64) / SCALE + SHIFT)
    meta = {"ch": str(CH), "ch_mult": ",".join(map(str, CH_MULT)), "num_res_blocks": str(NUM_RES),
            "z_channels": str(Z), "out_ch": str(OUT),
            "generator": "mlx-workloads/scripts/flux_vae_fixture.py (NumPy float64)"}
    save_file(W, str(out_dir / "flux_vae_tiny.weights.safetensors"), metadata=meta)
    save_file({"z": z, "image": image.astype(np.float32)}, str(out_dir / "flux_vae_tiny.io.safetensors"))
    print(f"{len(W)} tensors, image {image.shape}, max |image| {np.abs(image).max():.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
