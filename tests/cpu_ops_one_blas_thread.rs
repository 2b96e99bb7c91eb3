//! `ops::cpu::linear` with OpenBLAS on one thread: then, on x86-64 with
//! AVX2, 5 to 16 rows take the AVX2 few-rows kernel instead of BLAS (with
//! more BLAS threads they take BLAS, as in `tests/cpu_ops.rs`). The variable
//! must be set before MLX (and with it OpenBLAS) loads, so this file holds
//! one test.

mod common;

use mlx_rs::ops::cpu::{self, Epilogue};
use mlx_rs::{Array, Device, Dtype, Stream};

#[test]
fn few_rows_kernel_matches_f64() {
    // SAFETY-free in edition 2021; no other thread of this binary runs yet.
    std::env::set_var("OPENBLAS_NUM_THREADS", "1");
    let s = Stream::new(&Device::cpu()).unwrap();
    let mut rng = common::rng();
    // Blocks of three rows with one or two left; four weight rows at a time
    // with up to three left; K with and without a tail past the last 8.
    for (m, k, n) in [
        (5usize, 37usize, 23usize),
        (7, 40, 6),
        (13, 384, 65),
        (16, 9, 4),
    ] {
        let xv = common::uniform(&mut rng, m * k, -1.0, 1.0);
        let wv = common::uniform(&mut rng, n * k, -1.0, 1.0);
        let bv = common::uniform(&mut rng, n, -1.0, 1.0);
        let x = Array::from_slice(&xv, &[m as i32, k as i32]).unwrap();
        let w = Array::from_slice(&wv, &[n as i32, k as i32]).unwrap();
        let b = Array::from_slice(&bv, &[n as i32]).unwrap();
        let y = cpu::linear_on(&x, &w, Some(&b), Epilogue::Identity, &s).unwrap();
        assert_eq!(y.dtype(), Dtype::Float32);
        let mut wt = vec![0.0f64; k * n];
        for j in 0..n {
            for p in 0..k {
                wt[p * n + j] = wv[j * k + p] as f64;
            }
        }
        let mut want = common::matmul_f64(&common::to_f64(&xv), &wt, m, k, n);
        for (i, v) in want.iter_mut().enumerate() {
            *v += bv[i % n] as f64;
        }
        common::assert_close_f32(&y.to_vec::<f32>().unwrap(), &want, 1e-5, 1.0);
    }
}
