#!/usr/bin/env python3
"""Writes the `.mlxfn` fixtures that tests/export.rs imports.

Run from the repository root with Python MLX 0.32.2:

    python3 -m pip install "mlx[cpu]==0.32.2"   # "mlx==0.32.2" on macOS
    python3 scripts/gen_mlxfn_fixtures.py

The tests check the imported functions against f64 math written in Rust, so
this script records no expected values; it only defines the functions:

- tests/data/py_affine_tanh.mlxfn: f(x[2,3], w[3,4]) ->
  (tanh(x @ w) - x @ w, sum(x, axis=1)), traced for exactly those float32
  shapes. It holds no constants, so the Rust test can export it again
  (MLX cannot re-export the constants of an imported function).
- tests/data/py_gauss_shapeless.mlxfn: g(x) -> exp(-x * x) * 0.5, exported
  shapeless (any shape of rank 1 works); 0.5 is a stored constant.
- tests/data/py_kwargs.mlxfn: h(x[3], *, scale[3], shift[]) -> x * scale + shift,
  with `scale` and `shift` passed by keyword.
"""

import os

import mlx.core as mx

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")


def affine_tanh(x, w):
    xw = x @ w
    return mx.tanh(xw) - xw, mx.sum(x, axis=1)


def gauss(x):
    return mx.exp(-x * x) * 0.5


def with_kwargs(x, scale, shift):
    return x * scale + shift


def main():
    assert mx.__version__ == "0.32.2", f"need MLX 0.32.2, have {mx.__version__}"
    mx.set_default_device(mx.cpu)
    os.makedirs(OUT, exist_ok=True)
    # Example inputs only fix shapes and dtypes; their values are not stored.
    x = mx.zeros((2, 3), dtype=mx.float32)
    w = mx.zeros((3, 4), dtype=mx.float32)
    mx.export_function(os.path.join(OUT, "py_affine_tanh.mlxfn"), affine_tanh, x, w)
    mx.export_function(
        os.path.join(OUT, "py_gauss_shapeless.mlxfn"),
        gauss,
        mx.zeros((5,), dtype=mx.float32),
        shapeless=True,
    )
    mx.export_function(
        os.path.join(OUT, "py_kwargs.mlxfn"),
        with_kwargs,
        mx.zeros((3,), dtype=mx.float32),
        scale=mx.zeros((3,), dtype=mx.float32),
        shift=mx.zeros((), dtype=mx.float32),
    )
    # Check that the files load and compute what they should.
    f = mx.import_function(os.path.join(OUT, "py_affine_tanh.mlxfn"))
    xs = mx.random.normal((2, 3))
    ws = mx.random.normal((3, 4))
    got = f(xs, ws)
    want = affine_tanh(xs, ws)
    assert all(mx.allclose(a, b).item() for a, b in zip(got, want))
    g = mx.import_function(os.path.join(OUT, "py_gauss_shapeless.mlxfn"))
    v = mx.random.normal((7,))
    assert mx.allclose(g(v)[0], gauss(v)).item()
    h = mx.import_function(os.path.join(OUT, "py_kwargs.mlxfn"))
    sc, sh = mx.random.normal((3,)), mx.random.normal(())
    assert mx.allclose(h(v[:3], scale=sc, shift=sh)[0], with_kwargs(v[:3], sc, sh)).item()
    print("wrote", sorted(p for p in os.listdir(OUT) if p.endswith(".mlxfn")))


if __name__ == "__main__":
    main()
