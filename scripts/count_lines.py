#!/usr/bin/env python3
"""Compares the length of each Rust example with its Python MLX version.

A line counts when it is neither blank nor a whole-line comment (`#` in
Python; `//`, `//!`, `///` in Rust), the same rule on both sides.

    python3 scripts/count_lines.py            # prints the table
    python3 scripts/count_lines.py --max 1.3  # exits 1 if a ratio is above 1.3
"""
import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAIRS = ["mlp_blobs", "encoder_block"]


def count(path: pathlib.Path) -> int:
    marker = "#" if path.suffix == ".py" else "//"
    lines = (line.strip() for line in path.read_text().splitlines())
    return sum(1 for line in lines if line and not line.startswith(marker))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=float, help="fail if a Rust/Python ratio exceeds this")
    args = parser.parse_args()
    worst = 0.0
    print(f"{'example':<16}{'rust':>6}{'python':>8}{'ratio':>8}")
    for name in PAIRS:
        rust = count(ROOT / "examples" / f"{name}.rs")
        py = count(ROOT / "examples" / "py" / f"{name}.py")
        worst = max(worst, rust / py)
        print(f"{name:<16}{rust:>6}{py:>8}{rust / py:>8.2f}")
    if args.max is not None and worst > args.max:
        print(f"ratio {worst:.2f} is above {args.max}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
