//! Helpers shared by the parity tests: fresh random inputs and f64 comparisons.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A generator seeded from the OS: every run draws new inputs. The seed is
/// printed so a failure can be replayed with `MLX_RS_TEST_SEED`.
pub fn rng() -> StdRng {
    let seed = std::env::var("MLX_RS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("seed: {seed}");
    StdRng::seed_from_u64(seed)
}

/// `n` uniform values in `[lo, hi)`, guaranteed not all zero.
pub fn uniform(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    loop {
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(lo..hi)).collect();
        if v.iter().any(|x| *x != 0.0) || n == 0 {
            return v;
        }
    }
}

/// Asserts `|got - want| <= rtol * max(|want|, scale_floor)` element-wise.
#[track_caller]
pub fn assert_close_f32(got: &[f32], want: &[f64], rtol: f64, scale_floor: f64) {
    assert_eq!(got.len(), want.len(), "length differs");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = *g as f64;
        if w.is_nan() {
            assert!(g.is_nan(), "element {i}: got {g}, want NaN");
            continue;
        }
        if w.is_infinite() {
            assert_eq!(g, *w, "element {i}");
            continue;
        }
        let tol = rtol * w.abs().max(scale_floor);
        assert!(
            (g - w).abs() <= tol,
            "element {i}: got {g}, want {w} (|diff| {:e} > tol {tol:e})",
            (g - w).abs()
        );
    }
}

/// Row-major f64 matrix product of `a` (m×k) and `b` (k×n).
pub fn matmul_f64(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for p in 0..k {
            let x = a[i * k + p];
            for j in 0..n {
                c[i * n + j] += x * b[p * n + j];
            }
        }
    }
    c
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}
