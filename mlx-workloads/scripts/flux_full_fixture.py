"""Writes a full-size FLUX.1 parity case (3072 wide, 19 + 38 blocks, 512 text
tokens, 1024 x 1024 image = 4096 image tokens, 11.9 B parameters) built by
mflux 0.24.0, for the GPU test `full_size_matches_mflux` in
`mlx-workloads/tests/flux.rs`:

- `flux_full.weights.safetensors`: random weights (MLX's default init, seed
  0) rounded to bfloat16, under Black Forest Labs' names (23.8 GB);
- `flux_full.io.safetensors`: the inputs, mflux's float32 output computed
  with those same (bf16-representable) weights (`output`), and mflux's
  bfloat16 output (`output_bf16`: weights and activations in bf16).

The float32 output is the reference; mflux's own bfloat16 error against it
is the yardstick the test holds our bfloat16 output to. Run with
`MLX_ENABLE_TF32=0` so the float32 reference is exact float32.

usage: python3 flux_full_fixture.py OUT_DIR
(a GPU with ~80 GB free; mflux as in flux_fixture.py.)
"""
import sys
import time
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_map

import mflux_small as ms

FULL = ms.Size(hidden=3072, heads=24, axes=[16, 56, 56])
TXT, ROWS, COLS, SIGMA = 512, 64, 64, 0.5


def main(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mx.random.seed(0)
    t0 = time.perf_counter()
    model = ms.build(FULL, dtype=mx.float32)
    # Both precisions must compute with the same weights: round them to bf16 once.
    model.update(tree_map(lambda p: p.astype(mx.bfloat16).astype(mx.float32), model.parameters()))
    mx.eval(model.parameters())
    img = mx.random.normal((1, ROWS * COLS, 64))
    txt = mx.random.normal((1, TXT, 4096))
    vec = mx.random.normal((1, 768))
    out = ms.forward(model, img, txt, vec, height=16 * ROWS, width=16 * COLS, sigma=SIGMA)
    mx.eval(out)
    print(f"mflux float32 forward done ({time.perf_counter() - t0:.1f} s since start)", flush=True)

    model.set_dtype(mx.bfloat16)
    mx.eval(model.parameters())
    bf = mx.bfloat16
    out_bf16 = ms.forward(model, img.astype(bf), txt.astype(bf), vec.astype(bf),
                          height=16 * ROWS, width=16 * COLS, sigma=SIGMA)
    mx.eval(out_bf16)

    txt_ids, img_ids = ms.ids(1, TXT, ROWS, COLS)
    io = {
        "img": img, "img_ids": img_ids, "txt": txt, "txt_ids": txt_ids, "y": vec,
        "timesteps": mx.array([SIGMA], dtype=mx.float32),
        "output": out.astype(mx.float32), "output_bf16": out_bf16.astype(mx.float32),
    }
    mx.eval(io)
    mx.save_safetensors(str(out_dir / "flux_full.io.safetensors"), io)
    weights = ms.bfl_weights(model, FULL)
    mx.eval(weights)
    mx.save_safetensors(str(out_dir / "flux_full.weights.safetensors"), weights, metadata={
        "generator": "mlx-workloads/scripts/flux_full_fixture.py (mflux 0.24.0, MLX %s)" % mx.__version__,
        "hidden": str(FULL.hidden), "heads": str(FULL.heads),
        "axes": ",".join(map(str, FULL.axes)), "depth": str(FULL.depth),
        "depth_single": str(FULL.depth_single), "context_in": str(FULL.context_in),
        "vec_in": str(FULL.vec_in), "guidance_embed": "false",
    })
    d = (out_bf16.astype(mx.float32) - out)
    rel = (mx.sqrt((d * d).sum()) / mx.sqrt((out * out).sum())).item()
    print(f"wrote {out_dir}: {len(weights)} tensors, "
          f"{sum(v.nbytes for v in weights.values()) / 1e9:.2f} GB; max |out| "
          f"{mx.abs(out).max().item():.4f}; mflux bf16 vs f32 relative L2 {rel:.3e}; "
          f"{time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
