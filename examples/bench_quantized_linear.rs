//! 4-bit (and 8-bit) quantized Linear against a bfloat16 Linear at a decode
//! shape (`x` 1×4096, `w` 14336×4096 by default), on the default device,
//! side by side in one process: each iteration evaluates the output inside the
//! timed region; median and p95 after a warm-up. `benches/quantized_linear.py`
//! times Python MLX on the same shapes.
//!
//! ```text
//! cargo run --release --example bench_quantized_linear -- [--m 1] [--k 4096] [--n 14336] [--iters 200]
//! ```

use std::time::Instant;

use mlx_rs::nn::{Linear, Module};
use mlx_rs::{ops, Dtype};

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let med = v[v.len() / 2];
    let p95 = v[((v.len() - 1) as f64 * 0.95).round() as usize];
    (med, p95)
}

fn run() -> mlx_rs::Result<()> {
    let mut dims = [1i32, 4096, 14336];
    let mut iters = 200usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse::<i64>().ok());
        match (a.as_str(), v) {
            ("--m", Some(v)) => dims[0] = v as i32,
            ("--k", Some(v)) => dims[1] = v as i32,
            ("--n", Some(v)) => dims[2] = v as i32,
            ("--iters", Some(v)) => iters = v.max(1) as usize,
            _ => {
                eprintln!("usage: bench_quantized_linear [--m M] [--k K] [--n N] [--iters I]");
                std::process::exit(2);
            }
        }
    }
    let [m, k, n] = dims;
    let device = mlx_rs::Device::default_device()?;
    println!("device: {device:?}; x {m}x{k}, w {n}x{k}; {iters} iterations after 20 warm-up");
    let w =
        ops::random::normal(&[n, k], Dtype::Float32, 0.0, 0.02, None)?.astype(Dtype::Bfloat16)?;
    let x =
        ops::random::normal(&[m, k], Dtype::Float32, 0.0, 1.0, None)?.astype(Dtype::Bfloat16)?;
    let dense = Linear::from_weights(w.clone(), None)?;
    let mut q4 = dense.clone();
    q4.quantize(64, 4)?;
    let mut q8 = dense.clone();
    q8.quantize(64, 8)?;
    mlx_rs::eval([&w, &x, q4.weight(), q8.weight()])?;
    let layers = [
        ("bf16 Linear", &dense),
        ("4-bit QuantizedLinear (g64)", &q4),
        ("8-bit QuantizedLinear (g64)", &q8),
    ];
    let mut medians = Vec::new();
    for (name, layer) in layers {
        for _ in 0..20 {
            layer.forward(&x)?.eval()?;
        }
        let mut t = Vec::with_capacity(iters);
        for _ in 0..iters {
            let s = Instant::now();
            layer.forward(&x)?.eval()?;
            t.push(s.elapsed().as_secs_f64() * 1e6);
        }
        let (med, p95) = stats(t);
        let bytes: usize = layer.parameters().values().map(|a| a.nbytes()).sum();
        println!("{name:30} median {med:9.1} us  p95 {p95:9.1} us  weights {:.1} MB  ({:.0} GB/s at the median)", bytes as f64 / 1e6, bytes as f64 / med / 1e3);
        medians.push(med);
    }
    println!(
        "speed-up of 4-bit over bf16: {:.2}x; 8-bit: {:.2}x",
        medians[0] / medians[1],
        medians[0] / medians[2]
    );
    // The 4-bit output agrees with the bf16 layer within quantization error.
    let (a, b) = (
        dense.forward(&x)?.astype(Dtype::Float32)?,
        q4.forward(&x)?.astype(Dtype::Float32)?,
    );
    let rel = ops::sqrt(&ops::sum(&ops::square(&(&a - &b)?)?, false)?)?.item::<f32>()?
        / ops::sqrt(&ops::sum(&ops::square(&a)?, false)?)?.item::<f32>()?;
    println!("relative L2 difference 4-bit vs bf16 output: {rel:.4}");
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench_quantized_linear: {e}");
        std::process::exit(2);
    }
}
