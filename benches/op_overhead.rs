//! What one op costs outside its kernel: tiny shapes (the kernels take a few
//! microseconds), timed as graph building (the op calls) and evaluation
//! (`eval` until the result is ready) separately, for one op per evaluation
//! and for a chain of 32 ops in one evaluation. Built-in MLX ops next to this
//! crate's custom-kernel ops (a plain custom kernel, and custom kernels inside
//! a custom function with a VJP), on the default device. The ops that wrap
//! their kernel in a custom function only inside functions MLX transforms
//! (`closure::in_mlx_function`) are timed twice: built as usual, and built
//! inside one MLX function (the whole chain in one `Closure` call), which
//! is where the wrapper is used.
//!
//! Medians and p95 in µs over 200 samples after 20 warm-ups. On CUDA, run it
//! once more with `MLX_USE_CUDA_GRAPHS=0` to see what MLX's graph capture
//! adds.

use std::rc::Rc;
use std::time::Instant;

use mlx_rs::closure::Closure;
use mlx_rs::kernels::{self, Activation, QuantizedCuda};
use mlx_rs::ops::{self, QuantizationMode};
use mlx_rs::{Array, Device, DeviceType, Dtype};

const WARMUP: usize = 20;
const SAMPLES: usize = 200;
const CHAIN: usize = 32;

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64) as usize).min(v.len() - 1)]
}

/// Times `op` applied `n` times in a chain, then one evaluation; µs per op.
/// With `inside`, the chain is built inside one MLX function call.
fn measure(x: &Array, n: usize, op: &Op, inside: bool) -> mlx_rs::Result<[f64; 4]> {
    let mut build = Vec::with_capacity(SAMPLES);
    let mut eval = Vec::with_capacity(SAMPLES);
    let chain = {
        let op = op.clone();
        move |x: &Array| -> mlx_rs::Result<Array> {
            let mut y = x.clone();
            for _ in 0..n {
                y = op(&y)?;
            }
            Ok(y)
        }
    };
    let chain = Rc::new(chain);
    let in_function = if inside {
        let chain = chain.clone();
        Some(Closure::new(move |a: &[Array]| Ok(vec![chain(&a[0])?]))?)
    } else {
        None
    };
    for i in 0..WARMUP + SAMPLES {
        let t0 = Instant::now();
        let y = match &in_function {
            Some(f) => f.call(std::slice::from_ref(x))?.remove(0),
            None => chain(x)?,
        };
        let t1 = Instant::now();
        y.eval()?;
        let t2 = Instant::now();
        if i >= WARMUP {
            build.push((t1 - t0).as_secs_f64() * 1e6 / n as f64);
            eval.push((t2 - t1).as_secs_f64() * 1e6 / n as f64);
        }
    }
    let mut total: Vec<f64> = build.iter().zip(&eval).map(|(a, b)| a + b).collect();
    Ok([
        quantile(&mut build, 0.5),
        quantile(&mut eval, 0.5),
        quantile(&mut total.clone(), 0.5),
        quantile(&mut total, 0.95),
    ])
}

type Op = Rc<dyn Fn(&Array) -> mlx_rs::Result<Array>>;
/// A case: its name, what to switch before it (a kernel choice), the op, and
/// whether the op wraps its kernel in a custom function inside MLX functions
/// (then it is timed there too).
type Case = (&'static str, Option<fn()>, Op, bool);

fn main() -> mlx_rs::Result<()> {
    let device = Device::default_device()?;
    let gpu = device.device_type() == DeviceType::Gpu;
    let dtype = if gpu { Dtype::Bfloat16 } else { Dtype::Float32 };
    let d = 512;
    let x = ops::random::normal(&[1, d], Dtype::Float32, 0.0, 1.0, None)?.astype(dtype)?;
    let w = ops::random::normal(&[d, d], Dtype::Float32, 0.0, 0.04, None)?.astype(dtype)?;
    let b = ops::zeros(&[d], dtype)?;
    let q = ops::quantize(&w, 64, 4, QuantizationMode::Affine)?;
    let (wq, sq, bq) = (
        q.weight.clone(),
        q.scales.clone(),
        q.biases.clone().unwrap(),
    );
    mlx_rs::eval([&x, &w, &b, &wq, &sq, &bq])?;
    let wt = ops::transpose(&w)?;

    let cases: Vec<Case> = vec![
        (
            "x * 0.5 (built-in element-wise)",
            None,
            {
                let half = Array::scalar(0.5f32)?.astype(dtype)?;
                Rc::new(move |y: &Array| ops::multiply(y, &half))
            },
            false,
        ),
        (
            "x @ w^T (built-in matmul)",
            None,
            {
                let wt = wt.clone();
                Rc::new(move |y: &Array| ops::matmul(y, &wt))
            },
            false,
        ),
        (
            "quantized_matmul (MLX kernel)",
            Some(|| kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx)),
            {
                let (wq, sq, bq) = (wq.clone(), sq.clone(), bq.clone());
                Rc::new(move |y: &Array| kernels::quantized_matmul(y, &wq, &sq, &bq, 64, 4))
            },
            false,
        ),
        (
            "swiglu(x, x) (custom kernel)",
            None,
            Rc::new(|y: &Array| kernels::swiglu(y, y)),
            false,
        ),
        (
            "fused_linear, default path",
            Some(|| kernels::set_fused_linear_cuda(false)),
            {
                let (w, b) = (w.clone(), b.clone());
                Rc::new(move |y: &Array| {
                    kernels::fused_linear(y, &w, Some(&b), Activation::GeluTanh)
                })
            },
            // On the CPU the default path is the CPU primitive, which is wrapped.
            !gpu,
        ),
        (
            "fused_linear, CUDA kernel",
            Some(|| kernels::set_fused_linear_cuda(true)),
            {
                let (w, b) = (w.clone(), b.clone());
                Rc::new(move |y: &Array| {
                    kernels::fused_linear(y, &w, Some(&b), Activation::GeluTanh)
                })
            },
            gpu,
        ),
        (
            "quantized_matmul (ours)",
            Some(|| kernels::set_quantized_matmul_cuda(QuantizedCuda::Fused)),
            {
                let (wq, sq, bq) = (wq.clone(), sq.clone(), bq.clone());
                Rc::new(move |y: &Array| kernels::quantized_matmul(y, &wq, &sq, &bq, 64, 4))
            },
            gpu,
        ),
    ];
    println!(
        "op overhead on {} ({dtype}, x 1x{d}, w {d}x{d}); MLX_USE_CUDA_GRAPHS={}",
        if gpu { "gpu" } else { "cpu" },
        std::env::var("MLX_USE_CUDA_GRAPHS").unwrap_or_else(|_| "unset".into())
    );
    println!(
        "| op | per eval: build | eval | total (p95) | chain of {CHAIN}, per op: build | eval | total (p95) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, setup, op, wrapped_inside) in &cases {
        if let Some(setup) = setup {
            setup();
        }
        let places: &[(bool, &str)] = if *wrapped_inside {
            &[(false, ""), (true, ", inside a function (custom fn)")]
        } else {
            &[(false, "")]
        };
        for &(inside, place) in places {
            let one = measure(&x, 1, op, inside);
            let chain = measure(&x, CHAIN, op, inside);
            match (one, chain) {
                (Ok(a), Ok(c)) => println!(
                    "| {name}{place} | {:.1} | {:.1} | {:.1} ({:.1}) | {:.1} | {:.1} | {:.1} ({:.1}) |",
                    a[0], a[1], a[2], a[3], c[0], c[1], c[2], c[3]
                ),
                (Err(e), _) | (_, Err(e)) => println!("| {name}{place} | error: {e} |"),
            }
        }
    }
    kernels::set_fused_linear_cuda(false);
    kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx);
    if gpu {
        working_sizes()?;
    }
    Ok(())
}

/// One op per evaluation at the sizes of the GPU benchmarks: where the time
/// goes beyond the kernel (compare `eval` with the kernel's own duration
/// from Nsight Compute).
fn working_sizes() -> mlx_rs::Result<()> {
    use mlx_rs::kernels::ScoreTopkCuda;
    let bf = Dtype::Bfloat16;
    let normal = |shape: &[i32], std: f32| -> mlx_rs::Result<Array> {
        let a = ops::random::normal(shape, Dtype::Float32, 0.0, std, None)?.astype(bf)?;
        a.eval()?;
        Ok(a)
    };
    let (x16, w, b) = (
        normal(&[16, 3072], 1.0)?,
        normal(&[12288, 3072], 0.02)?,
        normal(&[12288], 0.02)?,
    );
    let wt = ops::transpose(&w)?;
    let q = kernels::l2_normalize(&normal(&[1, 384], 1.0)?, 1e-12)?.astype(bf)?;
    let corpus = kernels::l2_normalize(&normal(&[1_000_000, 384], 1.0)?, 1e-12)?.astype(bf)?;
    let (xd, wd) = (normal(&[1, 4096], 1.0)?, normal(&[14336, 4096], 0.02)?);
    let qd = ops::quantize(&wd, 64, 4, QuantizationMode::Affine)?;
    let (wq, sq, bq) = (
        qd.weight.clone(),
        qd.scales.clone(),
        qd.biases.clone().unwrap(),
    );
    let wdt = ops::transpose(&wd)?;
    mlx_rs::eval([&q, &corpus, &wq, &sq, &bq])?;
    type WorkingCase<'a> = (
        &'a str,
        Box<dyn Fn() + 'a>,
        &'a dyn Fn() -> mlx_rs::Result<Vec<Array>>,
    );
    // Each op once; the cases differ in the kernel switched on before it.
    let matmul16 = || Ok(vec![ops::matmul(&x16, &wt)?]);
    let linear = || {
        Ok(vec![kernels::fused_linear(
            &x16,
            &w,
            Some(&b),
            Activation::GeluTanh,
        )?])
    };
    let topk = || {
        let (s, i) = kernels::score_topk(&q, &corpus, 10)?;
        Ok(vec![s, i])
    };
    let matmul_decode = || Ok(vec![ops::matmul(&xd, &wdt)?]);
    let quantized = || Ok(vec![kernels::quantized_matmul(&xd, &wq, &sq, &bq, 64, 4)?]);
    let none = || Box::new(|| {}) as Box<dyn Fn()>;
    let cases: Vec<WorkingCase> = vec![
        (
            "x 16x3072 @ w^T 12288x3072 (built-in matmul)",
            none(),
            &matmul16,
        ),
        (
            "fused_linear GELU-tanh, default path",
            Box::new(|| kernels::set_fused_linear_cuda(false)),
            &linear,
        ),
        (
            "fused_linear GELU-tanh, CUDA kernel",
            Box::new(|| kernels::set_fused_linear_cuda(true)),
            &linear,
        ),
        (
            "score_topk 1 x 1M x 384, k=10, select",
            Box::new(|| kernels::set_score_topk_cuda(ScoreTopkCuda::Select)),
            &topk,
        ),
        (
            "score_topk 1 x 1M x 384, k=10, fused",
            Box::new(|| kernels::set_score_topk_cuda(ScoreTopkCuda::Fused)),
            &topk,
        ),
        (
            "x 1x4096 @ w^T 14336x4096 bf16 (built-in matmul)",
            none(),
            &matmul_decode,
        ),
        (
            "quantized_matmul 4-bit, MLX kernel",
            Box::new(|| kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx)),
            &quantized,
        ),
        (
            "quantized_matmul 4-bit, ours",
            Box::new(|| kernels::set_quantized_matmul_cuda(QuantizedCuda::Fused)),
            &quantized,
        ),
    ];
    println!("\nAt working sizes, one op per evaluation (bfloat16), µs: median (p95)");
    println!("| op | build | eval | total |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, setup, op) in &cases {
        setup();
        let mut build = Vec::new();
        let mut eval = Vec::new();
        let mut total = Vec::new();
        for i in 0..WARMUP + SAMPLES / 2 {
            let t0 = Instant::now();
            let out = op()?;
            let t1 = Instant::now();
            mlx_rs::eval(out.iter())?;
            let t2 = Instant::now();
            if i >= WARMUP {
                build.push((t1 - t0).as_secs_f64() * 1e6);
                eval.push((t2 - t1).as_secs_f64() * 1e6);
                total.push((t2 - t0).as_secs_f64() * 1e6);
            }
        }
        let f = |v: &mut Vec<f64>| format!("{:.1} ({:.1})", quantile(v, 0.5), quantile(v, 0.95));
        println!(
            "| {name} | {} | {} | {} |",
            f(&mut build),
            f(&mut eval),
            f(&mut total)
        );
    }
    kernels::set_fused_linear_cuda(false);
    kernels::set_quantized_matmul_cuda(QuantizedCuda::Mlx);
    kernels::set_score_topk_cuda(ScoreTopkCuda::Auto);
    Ok(())
}
