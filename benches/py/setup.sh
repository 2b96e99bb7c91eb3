#!/usr/bin/env bash
# Creates the Python environment the benchmarks compare against: NumPy and
# Python MLX at the pinned version, in target/bench-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv target/bench-venv
target/bench-venv/bin/python -m pip install -q --disable-pip-version-check \
  numpy "mlx==0.32.2" "mlx-cpu==0.32.2"
echo "use: MLX_RS_BENCH_PYTHON=$PWD/target/bench-venv/bin/python cargo bench"
