//! 4-bit (and 8-bit) quantized Linear against a bfloat16 Linear at a decode
//! shape (`x` 1×4096, `w` 14336×4096 by default), on the default device,
//! side by side in one process; median and p95 after a warm-up, evaluation
//! inside the timed region. `benches/quantized_linear.py` times Python MLX on
//! the same shapes and in the same two modes.
//!
//! - Single layer (always): one layer's `forward` + `eval` per sample. This
//!   measures MLX's per-evaluation floor as much as the layer, and a packed
//!   4-bit weight (33 MB) stays in the H200's 50 MB L2 between samples.
//! - `--layers L` (L > 0, even): a decode step's MLP chain in ONE evaluation:
//!   L distinct layers alternating up (`w` N×K) and down (`w` K×N), the
//!   output of each feeding the next, `x → up → down → up → …` (no
//!   activation; weights scaled by 1/√fan-in keep values O(1)). Every layer
//!   has its own weight, so the weights (L × 117 MB in bf16) stream from HBM.
//!   Reported per layer: the sample's time / L.
//!
//! Quantized rows run `QuantizedLinear::forward` (`kernels::quantized_matmul`)
//! with `kernels::set_quantized_matmul_cuda` set to `Fused` (this crate's
//! scalar kernel), `TensorCore` (its tensor-core kernel) or `Mlx` (core's
//! `quantized_matmul`, MLX's kernel; the default). On other devices the mode
//! changes nothing.
//!
//! ```text
//! cargo run --release --example bench_quantized_linear -- [--m 1] [--k 4096] [--n 14336] [--iters 200] [--layers 32]
//! ```

use std::time::Instant;

use mlx_rs::kernels::QuantizedCuda;
use mlx_rs::nn::{Linear, Module};
use mlx_rs::{kernels, ops, Array, Dtype};

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let med = v[v.len() / 2];
    let p95 = v[((v.len() - 1) as f64 * 0.95).round() as usize];
    (med, p95)
}

/// Median and p95 in microseconds of `f` (which evaluates its own result),
/// after 20 warm-up runs.
fn time(iters: usize, mut f: impl FnMut() -> mlx_rs::Result<()>) -> mlx_rs::Result<(f64, f64)> {
    for _ in 0..20 {
        f()?;
    }
    let mut t = Vec::with_capacity(iters);
    for _ in 0..iters {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e6);
    }
    Ok(stats(t))
}

/// The rows: name, bits (0: bf16), what runs (`Mlx` with 0 bits: the bf16
/// Linear).
const VARIANTS: [(&str, i32, QuantizedCuda); 6] = [
    ("bf16 Linear", 0, QuantizedCuda::Mlx),
    ("4-bit (g64), fused kernel", 4, QuantizedCuda::Fused),
    (
        "4-bit (g64), tensor-core kernel",
        4,
        QuantizedCuda::TensorCore,
    ),
    ("4-bit (g64), MLX kernel", 4, QuantizedCuda::Mlx),
    ("8-bit (g64), fused kernel", 8, QuantizedCuda::Fused),
    ("8-bit (g64), MLX kernel", 8, QuantizedCuda::Mlx),
];

/// Prints each quantized row's speed-up over the bf16 row (the first).
fn print_speedups(medians: &[f64]) {
    let parts: Vec<String> = VARIANTS
        .iter()
        .zip(medians)
        .skip(1)
        .map(|((name, _, _), m)| format!("{name} {:.2}x", medians[0] / m))
        .collect();
    println!("speed-up over bf16: {}", parts.join("; "));
}

fn layer(w: &Array, bits: i32) -> mlx_rs::Result<Linear> {
    let mut l = Linear::from_weights(w.clone(), None)?;
    if bits > 0 {
        l.quantize(64, bits)?;
    }
    Ok(l)
}

fn bytes(l: &Linear) -> usize {
    l.parameters().values().map(|a| a.nbytes()).sum()
}

fn print_row(name: &str, (med, p95): (f64, f64), per: f64, bytes: usize) {
    println!(
        "{name:32} median {:9.1} us  p95 {:9.1} us  weights {:7.1} MB  ({:6.0} GB/s at the median)",
        med / per,
        p95 / per,
        bytes as f64 / 1e6,
        bytes as f64 / (med / per) / 1e3
    );
}

fn run() -> mlx_rs::Result<()> {
    let mut dims = [1i32, 4096, 14336];
    let mut iters = 200usize;
    let mut layers = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse::<i64>().ok());
        match (a.as_str(), v) {
            ("--m", Some(v)) if v > 0 => dims[0] = v as i32,
            ("--k", Some(v)) if v > 0 => dims[1] = v as i32,
            ("--n", Some(v)) if v > 0 => dims[2] = v as i32,
            ("--iters", Some(v)) => iters = v.max(1) as usize,
            ("--layers", Some(v)) if v >= 0 && v % 2 == 0 => layers = v as usize,
            _ => {
                eprintln!(
                    "usage: bench_quantized_linear [--m M] [--k K] [--n N] [--iters I] [--layers L (even)]"
                );
                std::process::exit(2);
            }
        }
    }
    let [m, k, n] = dims;
    let device = mlx_rs::Device::default_device()?;
    println!("device: {device:?}; x {m}x{k}, w {n}x{k}; {iters} iterations after 20 warm-up");
    let normal = |shape: &[i32], std: f32| {
        ops::random::normal(shape, Dtype::Float32, 0.0, std, None)?.astype(Dtype::Bfloat16)
    };
    let x = normal(&[m, k], 1.0)?;

    println!("-- single layer: one forward + eval per sample");
    let w = normal(&[n, k], 0.02)?;
    let mut medians = Vec::new();
    for (name, bits, kernel) in VARIANTS {
        let l = layer(&w, bits)?;
        mlx_rs::eval(l.parameters().values())?;
        kernels::set_quantized_matmul_cuda(kernel);
        let t = time(iters, || l.forward(&x)?.eval())?;
        kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx);
        print_row(name, t, 1.0, bytes(&l));
        medians.push(t.0);
    }
    print_speedups(&medians);
    // The 4-bit output agrees with the bf16 layer within quantization error.
    let (dense, q4) = (layer(&w, 0)?, layer(&w, 4)?);
    let (a, b) = (
        dense.forward(&x)?.astype(Dtype::Float32)?,
        q4.forward(&x)?.astype(Dtype::Float32)?,
    );
    let rel = ops::sqrt(&ops::sum(&ops::square(&(&a - &b)?)?, false)?)?.item::<f32>()?
        / ops::sqrt(&ops::sum(&ops::square(&a)?, false)?)?.item::<f32>()?;
    println!("relative L2 difference 4-bit vs bf16 output: {rel:.4}");
    drop((w, dense, q4));

    if layers > 0 {
        println!(
            "-- {layers} distinct layers (alternating {n}x{k} and {k}x{n}) chained in one eval; per layer"
        );
        let weights = (0..layers)
            .map(|i| {
                let (rows, cols) = if i % 2 == 0 { (n, k) } else { (k, n) };
                normal(&[rows, cols], 1.0 / (cols as f32).sqrt())
            })
            .collect::<mlx_rs::Result<Vec<_>>>()?;
        let mut medians = Vec::new();
        let mut outputs = Vec::new();
        for (name, bits, kernel) in VARIANTS {
            let chain = weights
                .iter()
                .map(|w| layer(w, bits))
                .collect::<mlx_rs::Result<Vec<_>>>()?;
            for l in &chain {
                mlx_rs::eval(l.parameters().values())?;
            }
            let forward = || -> mlx_rs::Result<Array> {
                let mut h = x.clone();
                for l in &chain {
                    h = l.forward(&h)?;
                }
                Ok(h)
            };
            kernels::set_quantized_matmul_cuda(kernel);
            let t = time(iters, || forward()?.eval())?;
            outputs.push(forward()?.astype(Dtype::Float32)?);
            kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx);
            let total: usize = chain.iter().map(bytes).sum();
            print_row(name, t, layers as f64, total / layers);
            medians.push(t.0);
        }
        print_speedups(&medians);
        // The fused kernels compute the same chain as MLX's (outputs 3 and 5).
        for (i, mlx, what) in [
            (1usize, 3usize, "4-bit fused"),
            (2, 3, "4-bit tensor-core"),
            (4, 5, "8-bit fused"),
        ] {
            let (a, b) = (&outputs[i], &outputs[mlx]);
            let rel = ops::sqrt(&ops::sum(&ops::square(&(a - b)?)?, false)?)?.item::<f32>()?
                / ops::sqrt(&ops::sum(&ops::square(b)?, false)?)?.item::<f32>()?;
            println!(
                "relative L2 difference of the chain's output, {what} vs MLX kernel: {rel:.2e}"
            );
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench_quantized_linear: {e}");
        std::process::exit(2);
    }
}
