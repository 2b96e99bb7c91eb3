#!/usr/bin/env bash
# Bounded fuzzing of the file loaders: `fuzz/run.sh SECONDS` splits SECONDS
# over the targets (safetensors, gguf, npy), each starting from its committed
# seed corpus under fuzz/corpus/<target>/. Needs a nightly toolchain and
# cargo-fuzz (installed here if missing). Crashes, and inputs that take over
# 30 s (a hang), land in fuzz/artifacts/<target>/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")"
total=${1:-60}
targets=(safetensors gguf npy)
per=$(( total / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

# MLX is not instrumented; the Rust side is safe code, so no sanitizer.
cargo +nightly fuzz build --sanitizer none --release
for t in "${targets[@]}"; do
  # Work on a copy so the committed seed corpus only holds the seeds.
  work=$(mktemp -d)
  cp corpus/"$t"/* "$work"/
  echo "=== fuzzing $t for ${per}s"
  # libFuzzer reports every new input; keep that in a log, print its end.
  log=$(mktemp)
  if ! cargo +nightly fuzz run --sanitizer none --release "$t" "$work" -- \
    -max_total_time="$per" -max_len=65536 -rss_limit_mb=4096 -timeout=30 \
    -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t crashed; the input is in fuzz/artifacts/$t/"
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units)' "$log" || tail -n 3 "$log"
  rm -rf "$work" "$log"
done
echo "fuzz: ${#targets[@]} targets, ${per}s each, no crash"
