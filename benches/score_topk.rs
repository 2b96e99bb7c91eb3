//! Fused score + top-k (`score_topk`) vs its reference (matmul, argpartition,
//! sort of the k) vs the plain MLX composition `q @ cᵀ` + `argpartition`
//! (unsorted k), vs the same in Python MLX and PyTorch (matmul + `topk` +
//! copy to host), side by side in one run on the default device. The corpus
//! is normalized random embeddings, 384 wide; 1M rows on a GPU, 100k on a CPU.
//!
//! `MLX_RS_BENCH_PYTHON` names the Python with MLX (and PyTorch, if any).
//! `MLX_RS_BENCH_DTYPES` (a comma-separated list of `bf16`, `f32`; default
//! both) picks the corpus dtypes to run, `MLX_RS_BENCH_CASES` (e.g.
//! `1x10,64x10`: queries x k) the cases.

#[path = "harness/mod.rs"]
mod harness;

use mlx_rs::kernels::{self, ScoreTopkCuda};
use mlx_rs::{ops, Array, Device, DeviceType, Dtype, Stream};

const DIM: i32 = 384;

fn dtype_code(d: Dtype) -> i64 {
    if d == Dtype::Bfloat16 {
        1
    } else {
        0
    }
}

fn unit_rows(rows: i32, dtype: Dtype, s: &Stream) -> mlx_rs::Result<Array> {
    let x = ops::random::normal_on(&[rows, DIM], Dtype::Float32, 0.0, 1.0, None, s)?;
    let x = ops::astype_on(&kernels::l2_normalize_on(&x, 1e-12, s)?, dtype, s)?;
    x.eval()?;
    Ok(x)
}

/// `q @ cᵀ`, `argpartition` of the negated scores, the first k (unsorted).
fn matmul_argpartition(q: &Array, c: &Array, k: i32, s: &Stream) -> mlx_rs::Result<()> {
    let scores = ops::matmul_on(q, &ops::transpose_on(c, s)?, s)?;
    let part = ops::argpartition_axis_on(&ops::negative_on(&scores, s)?, k - 1, -1, s)?;
    let b = q.dim(0)?;
    let idx = ops::slice_on(&part, &[0, 0], &[b, k], &[1, 1], s)?;
    let top = ops::take_along_axis_on(&scores, &idx, -1, s)?;
    mlx_rs::eval([&idx, &top])
}

fn main() -> mlx_rs::Result<()> {
    let device = Device::default_device()?;
    let stream = Stream::new(&device)?;
    let gpu = device.device_type() == DeviceType::Gpu;
    let dev_name = if gpu { "gpu" } else { "cpu" };
    let n = if gpu { 1_000_000 } else { 100_000 };
    let wanted = std::env::var("MLX_RS_BENCH_DTYPES").unwrap_or_else(|_| "bf16,f32".into());
    let mut dtypes = Vec::new();
    for name in wanted.split(',').map(str::trim) {
        match name {
            "bf16" => dtypes.push(Dtype::Bfloat16),
            "f32" => dtypes.push(Dtype::Float32),
            other => {
                eprintln!("MLX_RS_BENCH_DTYPES: unknown dtype {other:?} (expected bf16 or f32)");
                std::process::exit(2);
            }
        }
    }
    for dtype in dtypes {
        let corpus = unit_rows(n, dtype, &stream)?;
        // 8 queries: the most the CUDA-core pass 1 takes in one corpus read.
        for (b, k) in [
            (1, 10),
            (2, 10),
            (8, 10),
            (64, 10),
            (1, 100),
            (64, 100),
            (256, 10),
        ] {
            if dtype == Dtype::Float32 && (k == 100 || b == 2 || b == 8 || b == 256) {
                continue;
            }
            if let Ok(only) = std::env::var("MLX_RS_BENCH_CASES") {
                if !only.split(',').any(|c| c.trim() == format!("{b}x{k}")) {
                    continue;
                }
            }
            let q = unit_rows(b, dtype, &stream)?;
            let path = kernels::path_for(&stream, dtype)?;
            let ours = |design| {
                kernels::set_score_topk_cuda(design);
                let t = harness::time(|| {
                    let (s, i) = kernels::score_topk_on(&q, &corpus, k, &stream)?;
                    mlx_rs::eval([&s, &i])
                });
                kernels::set_score_topk_cuda(ScoreTopkCuda::Auto);
                t
            };
            let fused = ours(ScoreTopkCuda::Fused);
            // The select and one-pass designs exist on CUDA only, one-pass
            // for a few queries (2 at 1M rows).
            let cuda = path == kernels::KernelPath::Cuda;
            let select = cuda.then(|| ours(ScoreTopkCuda::Select));
            let one_pass = (cuda && b <= 2).then(|| ours(ScoreTopkCuda::OnePass));
            let reference = harness::time(|| {
                let (s, i) = kernels::score_topk_reference_on(&q, &corpus, k, &stream)?;
                mlx_rs::eval([&s, &i])
            });
            let plain = harness::time(|| matmul_argpartition(&q, &corpus, k, &stream));
            let dims = [n as i64, DIM as i64, b as i64, k as i64, dtype_code(dtype)];
            let mut rows = vec![("mlx-rs fused", fused.map_err(|e| e.to_string()))];
            if let Some(t) = select {
                rows.push(("mlx-rs select", t.map_err(|e| e.to_string())));
            }
            if let Some(t) = one_pass {
                rows.push(("mlx-rs one-pass", t.map_err(|e| e.to_string())));
            }
            rows.extend([
                ("mlx-rs reference op", reference.map_err(|e| e.to_string())),
                ("mlx-rs matmul+argpart", plain.map_err(|e| e.to_string())),
            ]);
            // The Python processes (PyTorch's import alone takes seconds) run
            // for the headline cases only: bf16, top-10.
            if dtype == Dtype::Bfloat16 && k == 10 {
                rows.push((
                    "python-mlx matmul+argp",
                    harness::python_side("python-mlx", "scoretopk", dev_name, &dims),
                ));
                rows.push((
                    "pytorch matmul+topk",
                    harness::python_side("torch", "scoretopk", dev_name, &dims),
                ));
            }
            harness::table(
                &format!(
                    "score_topk {n}x{DIM} {dtype}, {b} quer{} , k={k} on {dev_name} (ours: {path:?})",
                    if b == 1 { "y" } else { "ies" }
                ),
                &rows,
            );
            for (name, r) in &rows {
                if let Ok(s) = r {
                    println!(
                        "  {name:<22} {:>10.0} queries/s at the median",
                        b as f64 / s.median_ms * 1e3
                    );
                }
            }
        }
    }
    Ok(())
}
