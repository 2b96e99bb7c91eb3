//! The build works end to end: the pinned MLX runs, ops evaluate to known
//! values, and the (OpenBLAS-backed on Linux) matmul matches an f64 reference.

mod common;

use mlx_rs::{ops, Array, Dtype};

#[test]
fn runs_the_pinned_mlx() {
    assert_eq!(mlx_rs::version().unwrap(), "0.32.2");
    assert_eq!(mlx_rs::sys::MLX_VERSION, "0.32.2");
}

#[test]
fn an_op_evaluates_to_known_values() {
    let a = Array::from_slice(&[1.5f32, -2.0, 3.25, 4.0], &[2, 2]).unwrap();
    let b = Array::from_slice(&[0.5f32, 0.25, -1.0, 2.0], &[2, 2]).unwrap();
    let sum = ops::add(&a, &b).unwrap();
    assert_eq!(sum.shape(), vec![2, 2]);
    assert_eq!(sum.dtype(), Dtype::Float32);
    assert_eq!(sum.to_vec::<f32>().unwrap(), vec![2.0, -1.75, 2.25, 6.0]);
}

#[test]
fn matmul_matches_an_f64_reference() {
    let (m, k, n) = (96, 200, 72);
    let mut rng = common::rng();
    let a = common::uniform(&mut rng, m * k, -1.0, 1.0);
    let b = common::uniform(&mut rng, k * n, -1.0, 1.0);
    let got = ops::matmul(
        &Array::from_slice(&a, &[m as i32, k as i32]).unwrap(),
        &Array::from_slice(&b, &[k as i32, n as i32]).unwrap(),
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap();
    let want = common::matmul_f64(&common::to_f64(&a), &common::to_f64(&b), m, k, n);
    // Each entry sums 200 products of magnitude < 1: compare against the sum of
    // magnitudes, the scale that f32 rounding error grows with.
    let abs_scale = common::matmul_f64(
        &a.iter().map(|x| x.abs() as f64).collect::<Vec<_>>(),
        &b.iter().map(|x| x.abs() as f64).collect::<Vec<_>>(),
        m,
        k,
        n,
    );
    for ((g, w), s) in got.iter().zip(&want).zip(&abs_scale) {
        let err = (*g as f64 - w).abs() / s;
        assert!(err <= 1e-5, "got {g}, want {w} (relative error {err:e})");
    }
}
