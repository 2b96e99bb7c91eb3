//! Bus bandwidth and latency of `all_sum` over the job's backend, for
//! `benches/py/dist_allreduce.py` to compare against (Python MLX, PyTorch).
//!
//! Run it as a job:
//! `mlx-launch -n 2 -- target/release/examples/distributed_bench` (ring,
//! CPU) or `mlx-launch --backend nccl -n 2 -- ...` (NCCL, GPUs).
//! Options: `--dtype f32|bf16` (default bf16), `--min-mb A --max-mb B`
//! (powers of two, default 1 and 256), `--latency` (adds 4 B .. 64 KiB).
//!
//! Protocol per size: 5 untimed runs, then samples (30, fewer above 64 MB),
//! each preceded by a small all_sum as a barrier; the timed region is
//! `all_sum(x)` plus its evaluation. Rank 0 prints, per size, a line
//! `RESULT mlx-rs <bytes> <median ms> <p95 ms> <bus GB/s>` where bus
//! bandwidth is `bytes / median * 2 (n - 1) / n` (NCCL's definition).

use std::time::Instant;

use mlx_rs::distributed::{self, Backend, Group};
use mlx_rs::{ops, Array, Dtype, Result};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<()> {
    let group = Group::init(Backend::Any)?;
    let dtype = match arg("--dtype").as_deref() {
        Some("f32") => Dtype::Float32,
        _ => Dtype::Bfloat16,
    };
    let min_mb: usize = arg("--min-mb").and_then(|v| v.parse().ok()).unwrap_or(1);
    let max_mb: usize = arg("--max-mb").and_then(|v| v.parse().ok()).unwrap_or(256);
    let mut sizes: Vec<usize> = Vec::new();
    if std::env::args().any(|a| a == "--latency") {
        sizes.extend([4usize, 64, 1024, 16 << 10, 64 << 10]);
    }
    let mut mb = min_mb.max(1);
    while mb <= max_mb {
        sizes.push(mb << 20);
        mb *= 2;
    }
    let n = group.size() as f64;
    if group.rank() == 0 {
        println!(
            "backend {:?}, {} ranks, dtype {dtype}",
            group.backend(),
            group.size()
        );
    }
    let tiny = Array::from_slice(&[1.0f32], &[1])?;
    let barrier = || distributed::all_sum(&tiny, &group).and_then(|a| a.eval());
    for bytes in sizes {
        let elems = (bytes / dtype.size_of()).max(1) as i32;
        // Rank r contributes r + 1 everywhere: the sum is n (n + 1) / 2.
        let x = ops::full(&[elems], &Array::scalar(group.rank() as f32 + 1.0)?, dtype)?;
        x.eval()?;
        let samples = if bytes > 64 << 20 { 10 } else { 30 };
        let mut times = Vec::with_capacity(samples);
        for i in 0..5 + samples {
            barrier()?;
            let t = Instant::now();
            let y = distributed::all_sum(&x, &group)?;
            y.eval()?;
            let dt = t.elapsed().as_secs_f64();
            if i == 0 {
                let want = n * (n + 1.0) / 2.0;
                let got = ops::max(
                    &ops::abs(&ops::subtract(
                        &y.astype(Dtype::Float32)?,
                        &Array::scalar(want as f32)?,
                    )?)?,
                    false,
                )?
                .item::<f32>()?;
                assert!(got == 0.0, "all_sum is off by {got} at {bytes} bytes");
            }
            if i >= 5 {
                times.push(dt);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let p95 = times[((times.len() as f64 * 0.95) as usize).min(times.len() - 1)];
        let real_bytes = elems as f64 * dtype.size_of() as f64;
        let bus = real_bytes / median * 2.0 * (n - 1.0) / n / 1e9;
        if group.rank() == 0 {
            println!(
                "RESULT mlx-rs {} {:.4} {:.4} {:.2}",
                real_bytes as u64,
                median * 1e3,
                p95 * 1e3,
                bus
            );
        }
    }
    Ok(())
}
