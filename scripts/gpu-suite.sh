#!/usr/bin/env bash
# The test suite on a GPU host, from test binaries built on any machine.
#
#   scripts/gpu-suite.sh stage DIR   # where the sources are: build the test
#                                    # binaries and copy them, mlx-c and the
#                                    # test data into DIR
#   scripts/gpu-suite.sh run DIR     # on the GPU host: run every binary in DIR,
#                                    # GPU tests included, and print a table
#
# `stage` builds with --release unless GPU_SUITE_CARGO_ARGS says otherwise.
# `run` needs the GPU host's CUDA MLX 0.32.2 on the loader path, e.g.
# `LD_LIBRARY_PATH=<site-packages>/mlx/lib` or `MLX_DIR=<site-packages>/mlx`
# (docs/gpu.md). Logs go to DIR/logs (or $GPU_SUITE_LOGS). Exit code: 0 when
# nothing failed.
set -euo pipefail

usage() { sed -n '2,14p' "$0" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd="$1"
dir="$2"

stage() {
  local root
  root="$(cd "$(dirname "$0")/.." && pwd)"
  mkdir -p "$dir"
  # cargo's JSON messages name each test executable and mlx-sys's build
  # output (the path of the mlx-c library the binaries load).
  # shellcheck disable=SC2086 # GPU_SUITE_CARGO_ARGS is a list of arguments
  (cd "$root" && cargo test ${GPU_SUITE_CARGO_ARGS---release} --workspace --no-run \
    --message-format=json) \
    | python3 -c '
import json, shutil, sys, os
dest = sys.argv[1]
mlxc = None
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and "example" in msg["target"]["kind"]:
        # tests/examples.rs starts the built examples ($MLX_RS_EXAMPLES_DIR).
        os.makedirs(os.path.join(dest, "examples"), exist_ok=True)
        shutil.copy2(msg["executable"], os.path.join(dest, "examples", msg["target"]["name"]))
        print("staged example", msg["target"]["name"])
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg.get("profile", {}).get("test"):
        exe = msg["executable"]
        # Integration tests by their file name, unit tests as <crate>-lib.
        target = msg["target"]
        name = target["name"] if "test" in target["kind"] else target["name"] + "-lib"
        shutil.copy2(exe, os.path.join(dest, name))
        print("staged", name)
    if msg.get("reason") == "build-script-executed":
        for key, value in msg.get("env", []):
            if key == "MLX_SYS_MLXC_PATH":
                mlxc = value
if not mlxc:
    sys.exit("cargo did not report mlx-sys build output (MLX_SYS_MLXC_PATH)")
shutil.copy2(mlxc, dest)
print("staged", os.path.basename(mlxc))
' "$dir"
  rm -rf "$dir/data"
  cp -r "$root/tests/data" "$dir/data"
  echo "staged into $dir; on the GPU host: scripts/gpu-suite.sh run $dir"
}

# Prints "passed failed ignored skipped" for one log: libtest's counts, with
# tests that printed a `skipped:` line moved from passed to skipped, tests
# this script left out (a `not run:` line) counted as skipped, plus the
# counts of binaries with their own runner (tests/common/harness.rs), which
# already keep skips apart.
counts() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
passed = failed = ignored = 0
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", text):
    passed += int(m[1]); failed += int(m[2]); ignored += int(m[3])
skipped = len(re.findall(r"^skipped: ", text, re.M))
not_run = len(re.findall(r"^not run: ", text, re.M))
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) skipped; (\d+) failed", text):
    passed += int(m[1]) + int(m[2]); failed += int(m[3]); skipped += int(m[2])
ran = bool(re.search(r"test result: ", text))
print(passed - skipped, failed if ran else max(failed, 1), ignored, skipped + not_run)
PY
}

run() {
  local logs="${GPU_SUITE_LOGS:-$dir/logs}"
  mkdir -p "$logs"
  export MLX_RS_TEST_DATA="$dir/data"
  export MLX_RS_EXAMPLES_DIR="$dir/examples"
  local rows=() total_p=0 total_f=0 total_i=0 total_s=0 status=0
  # One pass with exact f32 (TF32 off), then the GPU binary with MLX's
  # default TF32, whose error bound the test checks separately.
  local bins=()
  for bin in "$dir"/*; do
    [ -f "$bin" ] && [ -x "$bin" ] && [[ "$bin" != *.so* && "$bin" != *.dylib ]] && bins+=("$bin")
  done
  [ ${#bins[@]} -gt 0 ] || { echo "no test binaries in $dir" >&2; exit 2; }
  local passes=()
  for bin in "${bins[@]}"; do passes+=("tf32-off|$bin"); done
  for bin in "${bins[@]}"; do
    [ "$(basename "$bin")" = gpu ] && passes+=("tf32-on|$bin")
  done
  for entry in "${passes[@]}"; do
    local mode="${entry%%|*}" bin="${entry#*|}" name log
    name="$(basename "$bin")"
    log="$logs/$name.$mode.log"
    local tf32=0
    [ "$mode" = "tf32-on" ] && tf32=1
    # One test thread: MLX 0.32.2 aborts when a thread that used CUDA exits
    # while another records GPU work (docs/gpu.md). Few property cases: each
    # new shape compiles GPU kernels.
    # Tests that need a case file named by a variable: left out, and counted
    # as skipped, when the variable is not set.
    local leave_out=()
    if [ "$name" = flux ] && [ -z "${MLX_RS_FLUX_FULL_DIR:-}" ]; then
      leave_out=(--skip full_size_matches_mflux_on_gpu)
    fi
    set +e
    {
      [ ${#leave_out[@]} -eq 0 ] ||
        echo "not run: full_size_matches_mflux_on_gpu (MLX_RS_FLUX_FULL_DIR is not set)"
      MLX_ENABLE_TF32=$tf32 MLX_RS_PROPTEST_CASES="${MLX_RS_PROPTEST_CASES:-150}" \
        "$bin" --include-ignored --test-threads=1 --nocapture ${leave_out[@]+"${leave_out[@]}"}
    } >"$log" 2>&1
    local code=$?
    set -e
    read -r p f i s < <(counts "$log")
    if [ "$code" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed or aborted
    [ "$f" -gt 0 ] && status=1
    rows+=("$(printf '%-34s %-8s %6d %6d %6d %6d  %s' "$name" "$mode" "$p" "$s" "$i" "$f" \
      "$([ "$f" -gt 0 ] && echo "FAIL (exit $code, $log)" || echo ok)")")
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_i=$((total_i + i)); total_s=$((total_s + s))
  done
  printf '%-34s %-8s %6s %6s %6s %6s\n' binary tf32 pass skip ignore fail
  printf '%s\n' "${rows[@]}"
  printf '%-34s %-8s %6d %6d %6d %6d\n' total "" "$total_p" "$total_s" "$total_i" "$total_f"
  exit "$status"
}

case "$cmd" in
  stage) stage ;;
  run) run ;;
  *) usage ;;
esac
