#!/usr/bin/env python3
"""Writes docs/mlx-c-coverage.md: every mlx-c function in
mlx-sys/src/bindings.rs, the Rust item of mlx-rs-core that calls it, or why
none does.

    python3 scripts/mlxc_coverage.py            # rewrite the table
    python3 scripts/mlxc_coverage.py --check    # exit 1 if the table is stale
    python3 scripts/mlxc_coverage.py --root DIR --summary   # counts for another checkout

A function counts as wrapped when its name appears in mlx-rs-core's code
(comments excluded); the item shown is the enclosing function, method or
macro-generated op. Functions that no code calls get the reason listed in
NOT_WRAPPED below (or "not wrapped yet" when none is listed).
"""

import argparse
import os
import re
import sys

# Why a function is not called, by exact name or by regex (first match wins).
NOT_WRAPPED = [
    # Quantization is wrapped separately; until it lands here it is open.
    (r"mlx_(quantize|dequantize|quantized_matmul|gather_qmm|qqmm|gather_qqmm|to_fp8|from_fp8)$",
     "not wrapped yet: quantization is being wrapped separately (the nn layers build on it)"),
    # Covered by another mlx-c function.
    (r"mlx_array_data_(bool|complex64|float32|float64|int8|int16|int32|int64|uint16|uint32|uint64)$",
     "covered: `Array::to_vec` reads every dtype through `mlx_array_data_uint8` (raw bytes)"),
    (r"mlx_array_item_\w+$",
     "covered: `Array::item` reads through the same raw-bytes path as `to_vec`"),
    (r"mlx_array_new_(bool|int|float|float32|float64|double|complex|data_managed|data_managed_payload)$",
     "covered: `Array::from_slice` / `Array::scalar` create every dtype through `mlx_array_new_data` (a copy)"),
    (r"mlx_array_set_\w+$",
     "not needed: `Array` values are immutable handles; Rust assignment replaces them"),
    (r"mlx_array_(dim|itemsize)$",
     "covered: `Array::shape` / `Array::dim` and `Dtype::size_of` compute these on the Rust side"),
    (r"mlx_dtype_size$", "covered: `Dtype::size_of` (Rust side)"),
    (r"mlx_(stack|concatenate)$",
     "covered: `ops::stack` / `ops::concatenate` take an axis (the `_axis` forms; axis 0 is the default form)"),
    (r"mlx_gather_single$", "covered: `ops::gather` (the vector form takes one index array too)"),
    (r"mlx_scatter(_add|_prod|_max|_min)?_single$",
     "covered: `ops::scatter*` (the vector forms take one index array too)"),
    (r"mlx_(zeros|ones)_like_dtype$|mlx_full_like$",
     "covered: `ops::zeros` / `ops::ones` / `ops::full` with the other array's shape and dtype"),
    (r"mlx_linspace_endpoint$", "not wrapped yet: `ops::linspace` always includes the end point"),
    (r"mlx_fft_(fft|ifft|rfft|irfft)2?$",
     "covered: `ops::fft` 1-D and 2-D transforms call the n-D forms (`mlx_fft_*fftn`) with one or two axes"),
    (r"mlx_pad_symmetric$", "not wrapped yet: `ops::pad` offers constant and edge modes"),
    (r"mlx_positive$", "not needed: the identity (`a.clone()`)"),
    (r"mlx_copy$", "not needed: arrays are immutable; `clone` shares, ops make new arrays"),
    (r"mlx_number_of_elements$", "covered: `Array::size` (a Rust number; the lazy-array form is not wrapped)"),
    (r"mlx_depends$", "not wrapped yet: explicit graph dependencies (advanced; rarely needed outside MLX itself)"),
    # Handles and containers.
    (r"mlx_vector_(array|int|string|stream|vector_array)_\w+$",
     "internal container: the safe API takes and returns Rust `Vec`s; the vector functions it needs are listed as wrapped"),
    (r"mlx_map_string_to_(array|string)_(get|set)$",
     "internal container: maps are built by insert and read by iterator (`io`)"),
    (r"mlx_string_(new_data|set)$", "internal container: strings come back from MLX and are read once"),
    (r"mlx_closure_(custom|custom_jvp|custom_vmap)_(apply|new|new_func|set)$",
     "not needed: custom-derivative closures are only created with payloads and passed to MLX"),
    (r"mlx_closure_(new_func|new_unary|set)$|mlx_closure_value_and_grad_(new_func|new_func_payload|set)$",
     "not needed: closures are created from Rust payloads (`closure::Closure::new`)"),
    (r"mlx_closure_kwargs_\w+$|mlx_(export_function_kwargs|function_exporter_apply_kwargs|imported_function_apply_kwargs)$",
     "not wrapped yet: exporting Rust functions with keyword arguments (calling imported ones with keywords is wrapped)"),
    (r"mlx_detail_compile$|mlx_detail_compile_erase$",
     "not needed: MLX's internal compile entry points (explicit ids and constants); `transforms::compile` covers compilation"),
    (r"mlx_node_namer_get_name$",
     "not needed: `graph::to_dot` takes the names; MLX's generated names only mean something inside one printout"),
    # Streams and devices.
    (r"mlx_(stream_new_thread_unsafe|stream_thread_local_\w+|stream_from_thread_local|synchronize_thread_local|get_streams|clear_streams|set_default_stream|default_(cpu|gpu)_stream_new|stream_get_index|synchronize_default)$",
     "not wrapped yet: stream management beyond `Stream::new` / `with_stream` follows the threading model (in rework)"),
    (r"mlx_device_(new|set)$", "covered: `Device::new` (by type and index) and Rust assignment"),
    # IO.
    (r"mlx_io_(reader|writer)_\w+$|mlx_(load|save)(_safetensors)?_(reader|writer)$",
     "not wrapped yet: IO through user callbacks (the `io` module reads and writes files by path)"),
    # Backends and distributed.
    (r"mlx_metal_\w+$", "not wrapped yet: Metal capture and metallib path (Apple GPU debugging; untested here)"),
    (r"mlx_distributed_\w+$",
     "not wrapped yet: distributed communication (needs a multi-process launcher and backend)"),
    (r"mlx_device_info_has_key$", "not needed: `DeviceInfo` holds every key MLX reports"),
]

# Items whose names the heuristics below cannot see (generated by macros that
# take the type name, not a function name).
ITEM_OVERRIDES = [
    (r"mlx_fast_metal_kernel", "kernel::MetalKernel"),
    (r"mlx_fast_cuda_kernel", "kernel::CudaKernel"),
]

# Module path of each source file of mlx-rs-core (public items); files of
# private modules give internal items.
PUBLIC_MODULES = {
    "lib.rs": "", "array.rs": "", "device.rs": "", "device_info.rs": "", "dtype.rs": "",
    "error.rs": "", "closure.rs": "closure::", "export.rs": "export::", "graph.rs": "graph::",
    "io.rs": "io::", "kernel.rs": "kernel::", "memory.rs": "memory::",
    "operators.rs": "", "transforms.rs": "transforms::",
    "ops/fast.rs": "ops::fast::", "ops/fft.rs": "ops::fft::", "ops/linalg.rs": "ops::linalg::",
    "ops/random.rs": "ops::random::", "ops/mod.rs": "ops::", "ops/cpu.rs": "ops::cpu::",
}

GROUPS = [
    ("Arrays", r"mlx_array_|mlx_dtype_"),
    ("Containers (vectors, maps, strings)", r"mlx_vector_|mlx_map_|mlx_string_"),
    ("Closures", r"mlx_closure_"),
    ("Compilation and transforms", r"mlx_(compile|detail_|enable_compile|disable_compile|set_compile_mode|vjp|jvp|vmap|value_and_grad|checkpoint|custom_|grad)"),
    ("Export and graphs", r"mlx_(export_|function_exporter_|imported_function_|node_namer_|print_graph)"),
    ("Devices and streams", r"mlx_(device|stream|synchronize|get_default|set_default|default_|get_streams|clear_streams|cuda_|metal_)"),
    ("Memory", r"mlx_(get_|set_|reset_|clear_cache)(active|cache|peak|memory|wired)?"),
    ("IO", r"mlx_(io_|load|save)"),
    ("Fast ops and custom kernels", r"mlx_fast_"),
    ("FFT", r"mlx_fft_"),
    ("Linear algebra", r"mlx_linalg_"),
    ("Random", r"mlx_random_"),
    ("Distributed", r"mlx_distributed_"),
    ("Errors and version", r"mlx_(set_error_handler|version)"),
    ("This project's additions (mlx-sys/shim, built into the mlx-c library)", r"mlx_rs_"),
    ("Ops", r"mlx_"),
]


def binding_functions(root):
    text = open(os.path.join(root, "mlx-sys/src/bindings.rs"), encoding="utf-8").read()
    return sorted(set(re.findall(r"pub fn (mlx_\w+)\s*\(", text)))


def strip_comment(line):
    # Drops `//` comments outside string literals (good enough for this code).
    out, in_str, i = [], False, 0
    while i < len(line):
        c = line[i]
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            in_str = not in_str
        if not in_str and line.startswith("//", i):
            break
        out.append(c)
        i += 1
    return "".join(out)


def scan_core(root, names):
    """Maps each called mlx-c function to the set of Rust items that call it."""
    src = os.path.join(root, "mlx-rs-core/src")
    uses = {}
    name_set = set(names)
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            if rel in PUBLIC_MODULES:
                prefix, public_file = PUBLIC_MODULES[rel], True
            elif rel.startswith("ops/"):
                prefix, public_file = "ops::", True
            else:
                prefix, public_file = rel[:-3] + "::", False
            impl_type, trait, fn_name, fn_public, in_macro = None, None, None, False, False
            text = open(path, encoding="utf-8").read()
            pub_types = set(re.findall(r"^pub (?:struct|enum) (\w+)", text, re.M))
            for raw in text.splitlines():
                line = strip_comment(raw.rstrip("\n"))
                if re.match(r"^\}", line):
                    impl_type, trait, in_macro = None, None, False
                m = re.match(r"^impl(?:<[^>]*>)?\s+(?:([\w:<>']+)\s+for\s+)?(\w+)", line)
                if m:
                    trait, impl_type = m.group(1), m.group(2)
                    if trait:
                        trait = re.sub(r"<.*", "", trait.split("::")[-1])
                if re.match(r"^[a-z_]+!\s*\{", line) and not line.startswith("macro_rules"):
                    in_macro = True
                m = re.match(r"^(\s*)(?:pub(?:\([\w:]+\))?\s+)?(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?fn\s+(?:r#)?(\w+)", line)
                # Functions nested in other functions (local helper types)
                # belong to the enclosing item.
                if m and len(m.group(1)) <= 4:
                    fn_name = m.group(2)
                    fn_public = bool(re.search(r"\bpub\s+fn\b", line)) or (
                        in_macro and rel.startswith("ops/")) or bool(trait)
                for token in re.findall(r"\bmlx_\w+\b", line):
                    if token not in name_set:
                        continue
                    item = None
                    for pat, over in ITEM_OVERRIDES:
                        if re.match(pat, token):
                            item = over
                    if item is None:
                        owner = f"{impl_type}::" if impl_type and fn_name else ""
                        label = f"{prefix}{owner}{fn_name or '(module)'}"
                        if trait and impl_type:
                            label = f"{prefix}{impl_type}` ({trait})"
                            item = f"`{label}" if public_file and impl_type in pub_types else \
                                f"internal ({rel}: `{impl_type}` ({trait}))"
                        elif public_file and fn_public:
                            item = f"`{label}`"
                        else:
                            item = f"internal ({rel}: `{owner}{fn_name or '-'}`)"
                    elif not item.startswith("`"):
                        item = f"`{item}`"
                    uses.setdefault(token, set()).add(item)
    return uses


def reason(name):
    for pat, why in NOT_WRAPPED:
        if re.match(pat, name) and why:
            return why
    return "not wrapped yet"


def group_of(name):
    for title, pat in GROUPS:
        if re.match(pat, name):
            return title
    return "Ops"


def render(names, uses):
    wrapped = [n for n in names if n in uses]
    lines = [
        "# mlx-c coverage",
        "",
        "Every function of mlx-c 0.7.0 (as bound in `mlx-sys/src/bindings.rs`) and the",
        "Rust item of `mlx-rs-core` that calls it, or why none does. Generated by",
        "`python3 scripts/mlxc_coverage.py` (do not edit by hand; `--check` tells",
        "whether it is current). \"internal\" items are crate-private helpers that the",
        "public API goes through.",
        "",
        f"**{len(wrapped)} of {len(names)} functions are called**; {len(names) - len(wrapped)} are not "
        "(each with its reason below).",
        "",
    ]
    by_group = {}
    for n in names:
        by_group.setdefault(group_of(n), []).append(n)
    for title, _ in GROUPS:
        members = by_group.get(title, [])
        if not members:
            continue
        done = sum(1 for n in members if n in uses)
        lines += [f"## {title} ({done} of {len(members)} called)", "",
                  "| mlx-c function | Rust item | |", "| --- | --- | --- |"]
        for n in members:
            if n in uses:
                items = sorted(uses[n], key=lambda s: (s.startswith("internal"), s))
                shown = items[:4] + ([f"and {len(items) - 4} more"] if len(items) > 4 else [])
                lines.append(f"| `{n}` | {', '.join(shown)} | ✓ |")
            else:
                lines.append(f"| `{n}` | — | {reason(n)} |")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    ap.add_argument("--summary", action="store_true", help="print counts only")
    args = ap.parse_args()
    names = binding_functions(args.root)
    uses = scan_core(args.root, names)
    if args.summary:
        print(f"{sum(1 for n in names if n in uses)} of {len(names)} mlx-c functions called")
        return 0
    text = render(names, uses)
    out = os.path.join(args.root, "docs/mlx-c-coverage.md")
    if args.check:
        current = open(out, encoding="utf-8").read() if os.path.exists(out) else ""
        if current != text:
            print(f"{out} is stale: run python3 scripts/mlxc_coverage.py", file=sys.stderr)
            return 1
        return 0
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {out}: {sum(1 for n in names if n in uses)} of {len(names)} called")
    return 0


if __name__ == "__main__":
    sys.exit(main())
