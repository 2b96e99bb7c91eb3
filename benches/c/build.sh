#!/usr/bin/env bash
# Builds benches/c/op_overhead against the mlx-c shared library and libmlx
# that mlx-sys built for the release profile (run `cargo bench --bench
# threads --no-run` first; their paths come from mlx-sys's build output).
# Prints the binary's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
output="$(ls -t "$root"/target/release/build/mlx-sys-*/output | head -1)"
mlxc="$(sed -n 's/^cargo:mlxc=//p' "$output")"
lib="$(sed -n 's/^cargo:lib=//p' "$output")"
mlxc_src="${MLX_C_DIR:-$(ls -d ~/.cargo/registry/src/*/mlx-sys-0.7.0/src/mlx-c 2>/dev/null | head -1)}"
if [ -z "$mlxc" ] || [ -z "$lib" ] || [ ! -f "$mlxc_src/mlx/c/mlx.h" ]; then
  echo "build.sh: mlx-sys build output or mlx-c headers not found (set MLX_C_DIR)" >&2
  exit 2
fi
bin="$root/target/release/op_overhead"
cc -O2 -o "$bin" "$root/benches/c/op_overhead.c" -I"$mlxc_src" "$mlxc" \
  -L"$lib" -lmlx -lstdc++ -lm -Wl,-rpath,"$(dirname "$mlxc")" -Wl,-rpath,"$lib" \
  -Wl,--allow-shlib-undefined
echo "$bin"
