#!/usr/bin/env bash
# Builds benches/c/op_overhead against the mlx-c static library and libmlx
# that mlx-sys built for the release profile (run `cargo bench --bench
# threads --no-run` first). Prints the binary's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(dirname "$(ls -t "$root"/target/release/build/mlx-sys-*/out/libmlxc.a | head -1)")"
mlxc_src="$(ls -d ~/.cargo/registry/src/*/mlx-sys-0.7.0/src/mlx-c 2>/dev/null | head -1)"
mlxc_src="${MLX_C_DIR:-$mlxc_src}"
lib="$(readlink -f "$out/mlx-lib")"
bin="$root/target/release/op_overhead"
cc -O2 -o "$bin" "$root/benches/c/op_overhead.c" -I"$mlxc_src" \
  "$out/libmlxc.a" -L"$lib" -lmlx -lstdc++ -lm -Wl,-rpath,"$lib" -Wl,--allow-shlib-undefined
echo "$bin"
