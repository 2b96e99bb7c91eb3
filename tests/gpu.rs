//! GPU behaviour: the default device, f32 matmul parity with and without TF32,
//! per-thread GPU streams. Every test needs a GPU: ignored by an ordinary
//! `cargo test`, run with `--include-ignored` on a GPU host
//! (`scripts/gpu-suite.sh`), where a missing GPU fails them.

mod common;

use mlx_rs::{ops, Array, Device, DeviceType, Dtype, Stream};

/// MLX computes f32 matmuls on CUDA with TF32 unless `MLX_ENABLE_TF32=0`.
fn tf32_enabled() -> bool {
    mlx_rs::cuda_is_available() && std::env::var("MLX_ENABLE_TF32").map_or(true, |v| v != "0")
}

#[test]
#[ignore = "needs a GPU: run with --include-ignored on a GPU host (scripts/gpu-suite.sh)"]
fn gpu_is_the_default_device_where_mlx_has_one() {
    common::gpu();
    assert_eq!(
        Device::default_device().unwrap().device_type(),
        DeviceType::Gpu
    );
}

/// Largest |got - want| relative to the sum of |terms| of each dot product.
fn scaled_matmul_error(m: usize, k: usize, n: usize, dev: &Device) -> f64 {
    let mut rng = common::rng();
    let a = common::uniform(&mut rng, m * k, -1.0, 1.0);
    let b = common::uniform(&mut rng, k * n, -1.0, 1.0);
    let got = ops::matmul_on(
        &Array::from_slice(&a, &[m as i32, k as i32]).unwrap(),
        &Array::from_slice(&b, &[k as i32, n as i32]).unwrap(),
        dev,
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap();
    let want = common::matmul_f64(&common::to_f64(&a), &common::to_f64(&b), m, k, n);
    let abs = |v: &[f32]| v.iter().map(|x| x.abs() as f64).collect::<Vec<_>>();
    let scale = common::matmul_f64(&abs(&a), &abs(&b), m, k, n);
    got.iter()
        .zip(&want)
        .zip(&scale)
        .map(|((g, w), s)| (*g as f64 - w).abs() / s)
        .fold(0.0, f64::max)
}

#[test]
#[ignore = "needs a GPU: run with --include-ignored on a GPU host (scripts/gpu-suite.sh)"]
fn f32_matmul_parity_on_gpu() {
    let gpu = common::gpu();
    let err = scaled_matmul_error(256, 512, 384, &gpu);
    if tf32_enabled() {
        // TF32 keeps 10 mantissa bits (unit roundoff 2^-11 ≈ 4.9e-4) for each
        // operand; measured here about 2e-4 of the |terms| sum.
        println!("f32 matmul with TF32 on: scaled error {err:e}");
        assert!(err <= 2e-3, "TF32 error {err:e}");
    } else {
        println!("f32 matmul with TF32 off: scaled error {err:e}");
        assert!(err <= 1e-5, "f32 error {err:e}");
    }
}

/// MLX 0.32.2 tears down a thread's CUDA stream state when the thread exits,
/// outside any lock; if another thread is capturing GPU work at that moment,
/// MLX aborts the process (seen on an H200). So GPU threads here finish their
/// work and wait for each other before any of them exits.
#[test]
#[ignore = "needs a GPU: run with --include-ignored on a GPU host (scripts/gpu-suite.sh)"]
fn each_thread_gets_its_own_gpu_stream() {
    common::gpu();
    let done = std::sync::Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let done = done.clone();
            std::thread::spawn(move || {
                // Streams are bound to the thread that creates them in MLX.
                let stream = Stream::new(&Device::gpu()).unwrap();
                for i in 0..20 {
                    let v = (t * 100 + i) as f32;
                    let a = Array::from_slice(&[v, 1.0, 2.0, v], &[2, 2]).unwrap();
                    let p = ops::matmul_on(&a, &a, &stream).unwrap();
                    let got = p.to_vec::<f32>().unwrap();
                    let want = [v * v + 2.0, v + v, 2.0 * v + 2.0 * v, 2.0 + v * v];
                    assert_eq!(got, want, "thread {t} iteration {i}");
                }
                stream.synchronize().unwrap();
                done.wait();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
#[ignore = "needs a GPU: run with --include-ignored on a GPU host (scripts/gpu-suite.sh)"]
fn float64_is_refused_on_the_gpu_with_an_error() {
    let gpu = common::gpu();
    let a = Array::from_slice(&[1.0f64, 2.0], &[2]).unwrap();
    let r = ops::add_on(&a, &a, &gpu).and_then(|x| x.to_vec::<f64>());
    match r {
        Ok(v) => assert_eq!(v, [2.0, 4.0]),
        Err(e) => println!("float64 on the GPU: Err({e})"),
    }
    // Either way the process is alive and the CPU still computes it.
    let cpu = ops::add_on(&a, &a, &Device::cpu()).unwrap();
    assert_eq!(cpu.to_vec::<f64>().unwrap(), [2.0, 4.0]);
    assert_eq!(cpu.dtype(), Dtype::Float64);
}
