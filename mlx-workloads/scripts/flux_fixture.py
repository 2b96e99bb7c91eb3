"""Writes the FLUX.1 transformer fixtures the Rust test
`mlx-workloads/tests/flux.rs` checks: a tiny FLUX.1 transformer built by
mflux 0.24.0 (see mflux_small.py for how it is sized and the three changes
that make it compute BFL's math), random weights saved under Black Forest
Labs' checkpoint names, random inputs, and mflux's float32 output.

Two cases: `schnell` (no guidance embedder, 2 double + 2 single blocks)
and `dev` (guidance_in, 1 + 1 blocks). Each writes two files:
`flux_NAME_tiny.weights.safetensors`, a checkpoint holding exactly the
model's tensors under BFL's names (its metadata holds the sizes), and
`flux_NAME_tiny.io.safetensors` with `img`, `img_ids`, `txt`, `txt_ids`,
`y`, `timesteps`, (`guidance`) and mflux's `output`.

usage: python3 flux_fixture.py OUT_DIR
(`pip install mlx==0.32.2 numpy pillow` and `pip install --no-deps mflux==0.24.0`.)
"""
import sys
from pathlib import Path

import mlx.core as mx

import mflux_small as ms

CASES = {
    # Text length 5, a 3 x 4 latent grid (48 x 64 pixels): rows and columns
    # differ so a swapped rope axis shows.
    "schnell": dict(size=ms.Size(hidden=48, heads=2, axes=[4, 10, 10], depth=2, depth_single=2,
                                 context_in=32, vec_in=24, guidance=False),
                    seed=11, txt_len=5, rows=3, cols=4, sigma=0.7),
    "dev": dict(size=ms.Size(hidden=48, heads=2, axes=[8, 8, 8], depth=1, depth_single=1,
                             context_in=32, vec_in=24, guidance=True),
                seed=12, txt_len=3, rows=2, cols=5, sigma=0.35, guidance=3.5),
}


def main(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, case in CASES.items():
        size = case["size"]
        mx.random.seed(case["seed"])
        model = ms.build(size)
        rows, cols, L = case["rows"], case["cols"], case["txt_len"]
        img = mx.random.normal((1, rows * cols, 64))
        txt = mx.random.normal((1, L, size.context_in))
        vec = mx.random.normal((1, size.vec_in))
        guidance = case.get("guidance", 0.0)
        out = ms.forward(model, img, txt, vec, height=16 * rows, width=16 * cols,
                         sigma=case["sigma"], guidance=guidance)
        txt_ids, img_ids = ms.ids(1, L, rows, cols)
        weights = ms.bfl_weights(model, size)
        io = {
            "img": img,
            "img_ids": img_ids,
            "txt": txt,
            "txt_ids": txt_ids,
            "y": vec,
            "timesteps": mx.array([case["sigma"]], dtype=mx.float32),
            "output": out.astype(mx.float32),
        }
        if size.guidance:
            io["guidance"] = mx.array([guidance], dtype=mx.float32)
        mx.eval(weights, io)
        path = out_dir / f"flux_{name}_tiny.weights.safetensors"
        mx.save_safetensors(str(out_dir / f"flux_{name}_tiny.io.safetensors"), io)
        mx.save_safetensors(str(path), weights, metadata={
            "generator": "mlx-workloads/scripts/flux_fixture.py (mflux 0.24.0, MLX %s)" % mx.__version__,
            "hidden": str(size.hidden), "heads": str(size.heads),
            "axes": ",".join(map(str, size.axes)), "depth": str(size.depth),
            "depth_single": str(size.depth_single), "context_in": str(size.context_in),
            "vec_in": str(size.vec_in), "guidance_embed": str(size.guidance).lower(),
        })
        print(f"{path}: {len(weights)} tensors, max |out| {mx.abs(out).max().item():.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
