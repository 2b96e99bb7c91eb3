//! Parity of the element-wise, reduction, matrix-product, shape and creation
//! ops against f64 references computed here, plus dtype round trips.

#![allow(clippy::type_complexity)] // tables of (name, op, reference) cases

mod common;

use common::{assert_close_f32, broadcast_binary, erf_f64, reduce_axes, to_f64, uniform};
use mlx_rs::{bf16, f16, ops, Array, Complex32, Dtype, Error};

fn arr(data: &[f32], shape: &[i32]) -> Array {
    Array::from_slice(data, shape).unwrap()
}

fn f32s(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

type UnaryOp = fn(&Array) -> mlx_rs::Result<Array>;

#[test]
fn unary_math_matches_f64() {
    let mut rng = common::rng();
    let cases: &[(&str, UnaryOp, fn(f64) -> f64, f32, f32)] = &[
        ("negative", ops::negative, |x| -x, -5.0, 5.0),
        ("neg", ops::neg, |x| -x, -5.0, 5.0),
        ("abs", ops::abs, f64::abs, -5.0, 5.0),
        (
            "sign",
            ops::sign,
            |x| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            },
            -5.0,
            5.0,
        ),
        ("sqrt", ops::sqrt, f64::sqrt, 0.01, 50.0),
        ("rsqrt", ops::rsqrt, |x| 1.0 / x.sqrt(), 0.01, 50.0),
        ("square", ops::square, |x| x * x, -5.0, 5.0),
        ("reciprocal", ops::reciprocal, |x| 1.0 / x, 0.1, 5.0),
        ("exp", ops::exp, f64::exp, -10.0, 10.0),
        ("expm1", ops::expm1, f64::exp_m1, -1.0, 1.0),
        ("log", ops::log, f64::ln, 0.01, 100.0),
        ("log1p", ops::log1p, f64::ln_1p, -0.5, 10.0),
        ("log2", ops::log2, f64::log2, 0.01, 100.0),
        ("log10", ops::log10, f64::log10, 0.01, 100.0),
        ("sin", ops::sin, f64::sin, -6.0, 6.0),
        ("cos", ops::cos, f64::cos, -6.0, 6.0),
        ("tan", ops::tan, f64::tan, -1.2, 1.2),
        ("arcsin", ops::arcsin, f64::asin, -0.99, 0.99),
        ("arccos", ops::arccos, f64::acos, -0.99, 0.99),
        ("arctan", ops::arctan, f64::atan, -10.0, 10.0),
        ("sinh", ops::sinh, f64::sinh, -5.0, 5.0),
        ("cosh", ops::cosh, f64::cosh, -5.0, 5.0),
        ("tanh", ops::tanh, f64::tanh, -5.0, 5.0),
        ("arcsinh", ops::arcsinh, f64::asinh, -10.0, 10.0),
        ("arccosh", ops::arccosh, f64::acosh, 1.01, 10.0),
        ("arctanh", ops::arctanh, f64::atanh, -0.95, 0.95),
        ("erf", ops::erf, erf_f64, -3.0, 3.0),
        (
            "sigmoid",
            ops::sigmoid,
            |x| 1.0 / (1.0 + (-x).exp()),
            -10.0,
            10.0,
        ),
        ("floor", ops::floor, f64::floor, -10.0, 10.0),
        ("ceil", ops::ceil, f64::ceil, -10.0, 10.0),
        ("degrees", ops::degrees, f64::to_degrees, -6.0, 6.0),
        ("radians", ops::radians, f64::to_radians, -360.0, 360.0),
    ];
    for (name, op, reference, lo, hi) in cases {
        let x = uniform(&mut rng, 6 * 7, *lo, *hi);
        // A transposed view: the op must read strided input correctly.
        let xt = ops::transpose(&arr(&x, &[6, 7])).unwrap();
        let got = f32s(&op(&xt).unwrap());
        let mut want = Vec::new();
        for j in 0..7 {
            for i in 0..6 {
                want.push(reference(x[i * 7 + j] as f64));
            }
        }
        println!("{name}");
        // f32 transcendentals are accurate to a few ulp of the result, but near
        // a zero crossing (sin x at x ≈ π) only to a few ulp of 1 after range
        // reduction: relative tolerance, with the scale floored at 0.1.
        assert_close_f32(&got, &want, 1e-5, 0.1);
    }
}

#[test]
fn erfinv_inverts_erf() {
    let mut rng = common::rng();
    let y = uniform(&mut rng, 64, -0.95, 0.95);
    let got = f32s(&ops::erfinv(&arr(&y, &[64])).unwrap());
    let back: Vec<f64> = got.iter().map(|x| erf_f64(*x as f64)).collect();
    assert_close_f32(&y, &back, 1e-5, 1e-2);
}

type BinaryOp = fn(&Array, &Array) -> mlx_rs::Result<Array>;

#[test]
fn binary_arithmetic_broadcasts_like_numpy() {
    let mut rng = common::rng();
    let cases: &[(&str, BinaryOp, fn(f64, f64) -> f64)] = &[
        ("add", ops::add, |a, b| a + b),
        ("subtract", ops::subtract, |a, b| a - b),
        ("multiply", ops::multiply, |a, b| a * b),
        ("divide", ops::divide, |a, b| a / b),
        ("maximum", |a, b| ops::maximum(a, b), f64::max),
        ("minimum", |a, b| ops::minimum(a, b), f64::min),
        ("power", |a, b| ops::power(a, b), f64::powf),
        ("logaddexp", ops::logaddexp, |a, b| (a.exp() + b.exp()).ln()),
        ("arctan2", ops::arctan2, f64::atan2),
        ("floor_divide", ops::floor_divide, |a, b| (a / b).floor()),
        ("remainder", ops::remainder, |a, b| a - b * (a / b).floor()),
    ];
    let (sa, sb) = ([3usize, 1, 5], [4usize, 5]);
    for (name, op, reference) in cases {
        // Positive bases keep `power` real; magnitudes keep remainders exact.
        let a = uniform(&mut rng, 15, 0.5, 4.0);
        let b = uniform(&mut rng, 20, 0.25, 3.0);
        let got = op(&arr(&a, &[3, 1, 5]), &arr(&b, &[4, 5])).unwrap();
        assert_eq!(got.shape(), vec![3, 4, 5], "{name}");
        let (want, _) = broadcast_binary(&to_f64(&a), &sa, &to_f64(&b), &sb, reference);
        println!("{name}");
        assert_close_f32(&f32s(&got), &want, 1e-5, 1e-3);
    }
}

#[test]
fn comparisons_and_logic_give_bools() {
    let mut rng = common::rng();
    let a: Vec<f32> = uniform(&mut rng, 24, -3.0, 3.0)
        .iter()
        .map(|x| x.round())
        .collect();
    let b: Vec<f32> = uniform(&mut rng, 6, -3.0, 3.0)
        .iter()
        .map(|x| x.round())
        .collect();
    let (xa, xb) = (arr(&a, &[4, 6]), arr(&b, &[6]));
    let cases: &[(BinaryOp, fn(f32, f32) -> bool)] = &[
        (ops::equal, |x, y| x == y),
        (ops::not_equal, |x, y| x != y),
        (ops::less, |x, y| x < y),
        (ops::less_equal, |x, y| x <= y),
        (ops::greater, |x, y| x > y),
        (ops::greater_equal, |x, y| x >= y),
    ];
    for (op, reference) in cases {
        let got = op(&xa, &xb).unwrap();
        assert_eq!(got.dtype(), Dtype::Bool);
        let want: Vec<bool> = (0..24).map(|i| reference(a[i], b[i % 6])).collect();
        assert_eq!(got.to_vec::<bool>().unwrap(), want);
    }
    let p = ops::greater(&xa, &Array::scalar(0.0f32).unwrap()).unwrap();
    let q = ops::less(&xa, &Array::scalar(2.0f32).unwrap()).unwrap();
    let and: Vec<bool> = a.iter().map(|x| *x > 0.0 && *x < 2.0).collect();
    let or: Vec<bool> = a.iter().map(|x| *x > 0.0 || *x < 2.0).collect();
    assert_eq!(
        ops::logical_and(&p, &q).unwrap().to_vec::<bool>().unwrap(),
        and
    );
    assert_eq!(
        ops::logical_or(&p, &q).unwrap().to_vec::<bool>().unwrap(),
        or
    );
    let not: Vec<bool> = a.iter().map(|x| *x <= 0.0).collect();
    assert_eq!(ops::logical_not(&p).unwrap().to_vec::<bool>().unwrap(), not);

    let x = Array::from_slice(&[0b1100i32, 0b1010, -7], &[3]).unwrap();
    let y = Array::from_slice(&[0b1010i32, 0b0110, 3], &[3]).unwrap();
    assert_eq!(
        ops::bitwise_and(&x, &y).unwrap().to_vec::<i32>().unwrap(),
        [0b1000, 0b0010, -7 & 3]
    );
    assert_eq!(
        ops::bitwise_or(&x, &y).unwrap().to_vec::<i32>().unwrap(),
        [0b1110, 0b1110, -7 | 3]
    );
    assert_eq!(
        ops::bitwise_xor(&x, &y).unwrap().to_vec::<i32>().unwrap(),
        [0b0110, 0b1100, -7 ^ 3]
    );
    let sh = Array::from_slice(&[1i32, 2, 3], &[3]).unwrap();
    assert_eq!(
        ops::left_shift(&x, &sh).unwrap().to_vec::<i32>().unwrap(),
        [0b11000, 0b101000, -56]
    );
    assert_eq!(
        ops::right_shift(&x, &sh).unwrap().to_vec::<i32>().unwrap(),
        [0b110, 0b10, -1]
    );
}

#[test]
fn where_clip_round_and_closeness() {
    let mut rng = common::rng();
    let x = uniform(&mut rng, 12, -5.0, 5.0);
    let y = uniform(&mut rng, 12, -5.0, 5.0);
    let (ax, ay) = (arr(&x, &[3, 4]), arr(&y, &[3, 4]));
    let cond = ops::greater(&ax, &ay).unwrap();
    let got = f32s(&ops::r#where(&cond, &ax, &ay).unwrap());
    let want: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a.max(*b) as f64).collect();
    assert_close_f32(&got, &want, 0.0, 1.0);

    let lo = Array::scalar(-1.5f32).unwrap();
    let hi = Array::scalar(2.25f32).unwrap();
    let got = f32s(&ops::clip(&ax, Some(&lo), Some(&hi)).unwrap());
    let want: Vec<f64> = x.iter().map(|v| v.clamp(-1.5, 2.25) as f64).collect();
    assert_close_f32(&got, &want, 0.0, 1.0);

    let got = f32s(&ops::round(&ax, 2).unwrap());
    let want: Vec<f64> = x
        .iter()
        .map(|v| ((*v as f64) * 100.0).round_ties_even() / 100.0)
        .collect();
    assert_close_f32(&got, &want, 1e-6, 1.0);
    let got = f32s(&ops::round(&ax, 0).unwrap());
    let want: Vec<f64> = x.iter().map(|v| (*v as f64).round_ties_even()).collect();
    assert_close_f32(&got, &want, 0.0, 1.0);

    let near: Vec<f32> = x.iter().map(|v| v * (1.0 + 1e-7)).collect();
    let an = arr(&near, &[3, 4]);
    assert!(ops::allclose(&ax, &an, 1e-5, 1e-8, false)
        .unwrap()
        .item::<bool>()
        .unwrap());
    assert!(!ops::allclose(&ax, &ay, 1e-5, 1e-8, false)
        .unwrap()
        .item::<bool>()
        .unwrap());
    let close = ops::isclose(&ax, &ay, 1e-5, 1e-8, false)
        .unwrap()
        .to_vec::<bool>()
        .unwrap();
    let want: Vec<bool> = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - b).abs() <= 1e-8 + 1e-5 * b.abs())
        .collect();
    assert_eq!(close, want);
    assert!(ops::array_equal(&ax, &ax.clone(), false)
        .unwrap()
        .item::<bool>()
        .unwrap());

    let special = arr(&[f32::NAN, f32::INFINITY, -1.0, f32::NEG_INFINITY], &[4]);
    assert_eq!(
        ops::isnan(&special).unwrap().to_vec::<bool>().unwrap(),
        [true, false, false, false]
    );
    assert_eq!(
        ops::isinf(&special).unwrap().to_vec::<bool>().unwrap(),
        [false, true, false, true]
    );
    assert_eq!(
        ops::isfinite(&special).unwrap().to_vec::<bool>().unwrap(),
        [false, false, true, false]
    );
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn var(v: &[f64], ddof: usize) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - ddof) as f64
}

#[test]
fn reductions_over_axes_match_f64() {
    let mut rng = common::rng();
    let shape = [3usize, 4, 5];
    let x = uniform(&mut rng, 60, -2.0, 2.0);
    let a = arr(&x, &[3, 4, 5]);
    let xf = to_f64(&x);
    type Reduce = fn(&Array, &[i32], bool) -> mlx_rs::Result<Array>;
    let cases: &[(&str, Reduce, fn(&[f64]) -> f64)] = &[
        ("sum", ops::sum_axes, |v| v.iter().sum()),
        ("prod", ops::prod_axes, |v| v.iter().product()),
        ("max", ops::max_axes, |v| {
            v.iter().cloned().fold(f64::MIN, f64::max)
        }),
        ("min", ops::min_axes, |v| {
            v.iter().cloned().fold(f64::MAX, f64::min)
        }),
        ("mean", ops::mean_axes, mean),
        ("logsumexp", ops::logsumexp_axes, |v| {
            v.iter().map(|x| x.exp()).sum::<f64>().ln()
        }),
    ];
    for (name, op, reference) in cases {
        for (axes, keep) in [(vec![1usize], false), (vec![0, 2], true), (vec![2], true)] {
            let ax: Vec<i32> = axes.iter().map(|&a| a as i32).collect();
            let got = op(&a, &ax, keep).unwrap();
            let want = reduce_axes(&xf, &shape, &axes, reference);
            let want_shape: Vec<i32> = (0..3)
                .filter_map(|i| match (axes.contains(&i), keep) {
                    (true, true) => Some(1),
                    (true, false) => None,
                    _ => Some(shape[i] as i32),
                })
                .collect();
            assert_eq!(got.shape(), want_shape, "{name} {axes:?}");
            println!("{name} {axes:?}");
            assert_close_f32(&f32s(&got), &want, 1e-5, 1.0);
        }
    }
    // Negative axis, whole-array forms, variance and standard deviation.
    let got = f32s(&ops::sum_axis(&a, -1, false).unwrap());
    assert_close_f32(
        &got,
        &reduce_axes(&xf, &shape, &[2], |v| v.iter().sum()),
        1e-5,
        1.0,
    );
    assert_close_f32(
        &f32s(&ops::sum(&a, false).unwrap()),
        &[xf.iter().sum()],
        1e-5,
        10.0,
    );
    assert_close_f32(
        &f32s(&ops::mean(&a, false).unwrap()),
        &[mean(&xf)],
        1e-5,
        1.0,
    );
    for ddof in [0usize, 1] {
        let got = f32s(&ops::var_axes(&a, &[0, 1], false, ddof as i32).unwrap());
        assert_close_f32(
            &got,
            &reduce_axes(&xf, &shape, &[0, 1], |v| var(v, ddof)),
            1e-5,
            1.0,
        );
        let got = f32s(&ops::std_axis(&a, 2, false, ddof as i32).unwrap());
        assert_close_f32(
            &got,
            &reduce_axes(&xf, &shape, &[2], |v| var(v, ddof).sqrt()),
            1e-5,
            1.0,
        );
    }
    let got = f32s(&ops::var(&a, false, 0).unwrap());
    assert_close_f32(&got, &[var(&xf, 0)], 1e-5, 1.0);
    let got = f32s(&ops::std(&a, false, 1).unwrap());
    assert_close_f32(&got, &[var(&xf, 1).sqrt()], 1e-5, 1.0);
    let got = f32s(&ops::logsumexp(&a, false).unwrap());
    assert_close_f32(
        &got,
        &[xf.iter().map(|x| x.exp()).sum::<f64>().ln()],
        1e-5,
        1.0,
    );
}

#[test]
fn argmax_argmin_all_any() {
    let mut rng = common::rng();
    let x = uniform(&mut rng, 20, -2.0, 2.0);
    let a = arr(&x, &[4, 5]);
    let arg = |row: &[f32], better: fn(f32, f32) -> bool| {
        (0..row.len()).fold(
            0,
            |best, i| if better(row[i], row[best]) { i } else { best },
        ) as u32
    };
    let want_max: Vec<u32> = x.chunks(5).map(|r| arg(r, |a, b| a > b)).collect();
    let want_min: Vec<u32> = x.chunks(5).map(|r| arg(r, |a, b| a < b)).collect();
    assert_eq!(
        ops::argmax_axis(&a, 1, false)
            .unwrap()
            .to_vec::<u32>()
            .unwrap(),
        want_max
    );
    assert_eq!(
        ops::argmin_axis(&a, -1, false)
            .unwrap()
            .to_vec::<u32>()
            .unwrap(),
        want_min
    );
    let flat_max = arg(&x, |a, b| a > b);
    assert_eq!(
        ops::argmax(&a, false).unwrap().item::<u32>().unwrap(),
        flat_max
    );
    assert_eq!(
        ops::argmin(&a, false).unwrap().item::<u32>().unwrap(),
        arg(&x, |a, b| a < b)
    );

    let pos = ops::greater(&a, &Array::scalar(-1.5f32).unwrap()).unwrap();
    let want_all: Vec<bool> = x.chunks(5).map(|r| r.iter().all(|v| *v > -1.5)).collect();
    let want_any: Vec<bool> = x.chunks(5).map(|r| r.iter().any(|v| *v > 1.5)).collect();
    assert_eq!(
        ops::all_axis(&pos, 1, false)
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        want_all
    );
    let big = ops::greater(&a, &Array::scalar(1.5f32).unwrap()).unwrap();
    assert_eq!(
        ops::any_axes(&big, &[1], false)
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        want_any
    );
    assert_eq!(
        ops::all(&pos, false).unwrap().item::<bool>().unwrap(),
        x.iter().all(|v| *v > -1.5)
    );
    assert_eq!(
        ops::any(&big, false).unwrap().item::<bool>().unwrap(),
        x.iter().any(|v| *v > 1.5)
    );
}

#[test]
fn softmax_matches_f64() {
    let mut rng = common::rng();
    let x = uniform(&mut rng, 4 * 9, -8.0, 8.0);
    let a = arr(&x, &[4, 9]);
    let soft = |row: &[f32]| -> Vec<f64> {
        let m = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let e: Vec<f64> = row.iter().map(|v| (*v as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    };
    let want: Vec<f64> = x.chunks(9).flat_map(soft).collect();
    for precise in [false, true] {
        let got = f32s(&ops::softmax_axis(&a, -1, precise).unwrap());
        assert_close_f32(&got, &want, 1e-5, 1e-3);
        let got = f32s(&ops::softmax_axes(&a, &[1], precise).unwrap());
        assert_close_f32(&got, &want, 1e-5, 1e-3);
    }
    let got = f32s(&ops::softmax(&a, false).unwrap());
    assert_close_f32(&got, &soft(&x), 1e-5, 1e-3);
}

/// f32 products accumulate rounding in proportion to the sum of |terms|.
fn assert_product_close(got: &[f32], want: &[f64], abs_scale: &[f64]) {
    for (i, ((g, w), s)) in got.iter().zip(want).zip(abs_scale).enumerate() {
        let err = (*g as f64 - w).abs() / s.max(1e-30);
        assert!(
            err <= 1e-5,
            "element {i}: got {g}, want {w}, scaled error {err:e}"
        );
    }
}

#[test]
fn matmul_addmm_outer_tensordot() {
    let mut rng = common::rng();
    // Batched matmul with a broadcast batch: [2,1,3,4] @ [5,4,6] -> [2,5,3,6].
    let a = uniform(&mut rng, 2 * 3 * 4, -1.0, 1.0);
    let b = uniform(&mut rng, 5 * 4 * 6, -1.0, 1.0);
    let got = ops::matmul(&arr(&a, &[2, 1, 3, 4]), &arr(&b, &[5, 4, 6])).unwrap();
    assert_eq!(got.shape(), vec![2, 5, 3, 6]);
    let (mut want, mut scale) = (Vec::new(), Vec::new());
    for i in 0..2 {
        for j in 0..5 {
            let am = to_f64(&a[i * 12..(i + 1) * 12]);
            let bm = to_f64(&b[j * 24..(j + 1) * 24]);
            want.extend(common::matmul_f64(&am, &bm, 3, 4, 6));
            let aa: Vec<f64> = am.iter().map(|v| v.abs()).collect();
            let ba: Vec<f64> = bm.iter().map(|v| v.abs()).collect();
            scale.extend(common::matmul_f64(&aa, &ba, 3, 4, 6));
        }
    }
    assert_product_close(&f32s(&got), &want, &scale);

    // A transposed (non-contiguous) operand.
    let bt = ops::transpose(&arr(&b[..24], &[6, 4])).unwrap();
    let got = ops::matmul(&arr(&a[..12], &[3, 4]), &bt).unwrap();
    let mut b_t = vec![0.0; 24];
    for r in 0..6 {
        for c in 0..4 {
            b_t[c * 6 + r] = b[r * 4 + c] as f64;
        }
    }
    let want = common::matmul_f64(&to_f64(&a[..12]), &b_t, 3, 4, 6);
    let scale: Vec<f64> = want.iter().map(|_| 4.0).collect();
    assert_product_close(&f32s(&got), &want, &scale);

    // addmm: alpha * a @ b + beta * c.
    let c = uniform(&mut rng, 18, -1.0, 1.0);
    let got = ops::addmm(
        &arr(&c, &[3, 6]),
        &arr(&a[..12], &[3, 4]),
        &arr(&b[..24], &[4, 6]),
        0.5,
        -2.0,
    )
    .unwrap();
    let ab = common::matmul_f64(&to_f64(&a[..12]), &to_f64(&b[..24]), 3, 4, 6);
    let want: Vec<f64> = ab
        .iter()
        .zip(&c)
        .map(|(p, c)| 0.5 * p - 2.0 * *c as f64)
        .collect();
    let scale: Vec<f64> = want.iter().map(|_| 4.0).collect();
    assert_product_close(&f32s(&got), &want, &scale);

    // Empty operands (on CUDA, MLX's own addmm divides by zero here): no rows
    // give no rows; an empty inner dimension gives beta * c.
    let bias = arr(&c[..6], &[6]);
    let got = ops::addmm(
        &bias,
        &ops::zeros(&[0, 4], Dtype::Float32).unwrap(),
        &arr(&b[..24], &[4, 6]),
        1.0,
        1.0,
    )
    .unwrap();
    assert_eq!(got.shape(), [0, 6]);
    assert!(f32s(&got).is_empty());
    let got = ops::addmm(
        &arr(&c, &[3, 6]),
        &ops::zeros(&[3, 0], Dtype::Float32).unwrap(),
        &ops::zeros(&[0, 6], Dtype::Float32).unwrap(),
        0.5,
        -2.0,
    )
    .unwrap();
    assert_eq!(got.dtype(), Dtype::Float32);
    let want: Vec<f32> = c.iter().map(|v| -2.0 * v).collect();
    assert_eq!(f32s(&got), want);

    // outer and tensordot.
    let u = uniform(&mut rng, 3, -2.0, 2.0);
    let v = uniform(&mut rng, 4, -2.0, 2.0);
    let got = f32s(&ops::outer(&arr(&u, &[3]), &arr(&v, &[4])).unwrap());
    let want: Vec<f64> = u
        .iter()
        .flat_map(|x| v.iter().map(move |y| (*x as f64) * (*y as f64)))
        .collect();
    assert_close_f32(&got, &want, 1e-6, 1.0);
    let got = ops::tensordot(&arr(&a, &[2, 3, 4]), &arr(&b[..24], &[4, 6]), 1).unwrap();
    assert_eq!(got.shape(), vec![2, 3, 6]);
    let want = common::matmul_f64(&to_f64(&a), &to_f64(&b[..24]), 6, 4, 6);
    let scale: Vec<f64> = want.iter().map(|_| 4.0).collect();
    assert_product_close(&f32s(&got), &want, &scale);
    let got = ops::tensordot_axes(
        &arr(&a[..12], &[3, 4]),
        &arr(&a[..12], &[3, 4]),
        &[0, 1],
        &[0, 1],
    )
    .unwrap();
    let want: f64 = a[..12].iter().map(|x| (*x as f64).powi(2)).sum();
    assert_close_f32(&f32s(&got), &[want], 1e-5, 1.0);
}

#[test]
fn shape_ops_move_elements_like_numpy() {
    let x: Vec<f32> = (0..24).map(|i| i as f32 + 0.5).collect();
    let a = arr(&x, &[2, 3, 4]);
    assert_eq!(ops::reshape(&a, &[4, -1]).unwrap().shape(), vec![4, 6]);
    assert_eq!(f32s(&ops::reshape(&a, &[6, 4]).unwrap()), x);
    assert_eq!(ops::flatten(&a, 1, 2).unwrap().shape(), vec![2, 12]);

    let t = ops::transpose_axes(&a, &[2, 0, 1]).unwrap();
    assert_eq!(t.shape(), vec![4, 2, 3]);
    let mut want = Vec::new();
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                want.push(x[i * 12 + j * 4 + k]);
            }
        }
    }
    assert_eq!(f32s(&t), want);
    assert_eq!(f32s(&ops::moveaxis(&a, 2, 0).unwrap()), want);
    let s = ops::swapaxes(&a, 0, 2).unwrap();
    assert_eq!(s.shape(), vec![4, 3, 2]);
    assert_eq!(f32s(&s)[1], x[12]);
    assert_eq!(
        f32s(&ops::transpose(&a).unwrap()),
        f32s(&ops::transpose_axes(&a, &[2, 1, 0]).unwrap())
    );

    let e = ops::expand_dims(&a, 1).unwrap();
    assert_eq!(e.shape(), vec![2, 1, 3, 4]);
    assert_eq!(
        ops::expand_dims_axes(&a, &[0, -1]).unwrap().shape(),
        vec![1, 2, 3, 4, 1]
    );
    assert_eq!(ops::squeeze(&e).unwrap().shape(), vec![2, 3, 4]);
    assert_eq!(ops::squeeze_axes(&e, &[1]).unwrap().shape(), vec![2, 3, 4]);

    let row = arr(&[1.0, 2.0, 3.0], &[3]);
    let b = ops::broadcast_to(&row, &[2, 3]).unwrap();
    assert_eq!(f32s(&b), [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    let both = ops::broadcast_arrays(&[row.clone(), arr(&[7.0, 8.0], &[2, 1])]).unwrap();
    assert_eq!(both[1].shape(), vec![2, 3]);
    assert_eq!(f32s(&both[1]), [7.0, 7.0, 7.0, 8.0, 8.0, 8.0]);

    let c = ops::concatenate(&[a.clone(), a.clone()], 1).unwrap();
    assert_eq!(c.shape(), vec![2, 6, 4]);
    assert_eq!(f32s(&c)[12..24], x[..12]);
    let st = ops::stack(&[row.clone(), row.clone()], 1).unwrap();
    assert_eq!(f32s(&st), [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);

    let parts = ops::split(&a, 2, 2).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(f32s(&parts[1])[..2], [x[2], x[3]]);
    let parts = ops::split_at(&a, &[1, 3], 2).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.shape()[2]).collect::<Vec<_>>(),
        [1, 2, 1]
    );

    assert_eq!(
        f32s(&ops::tile(&row, &[2]).unwrap()),
        [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    );
    assert_eq!(
        f32s(&ops::repeat(&row, 2).unwrap()),
        [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    );
    let m = arr(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    assert_eq!(
        f32s(&ops::repeat_axis(&m, 2, 0).unwrap()),
        [1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]
    );

    let fill = Array::scalar(9.0f32).unwrap();
    let p = ops::pad(&m, &[0, 1], &[1, 0], &[0, 2], &fill, ops::PadMode::Constant).unwrap();
    assert_eq!(p.shape(), vec![3, 4]);
    assert_eq!(
        f32s(&p),
        [9.0, 9.0, 9.0, 9.0, 1.0, 2.0, 9.0, 9.0, 3.0, 4.0, 9.0, 9.0]
    );
    let p = ops::pad(&m, &[0, 1], &[0, 1], &[0, 1], &fill, ops::PadMode::Edge).unwrap();
    assert_eq!(f32s(&p), [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
    assert_eq!(
        f32s(&ops::contiguous(&ops::transpose(&m).unwrap()).unwrap()),
        [1.0, 3.0, 2.0, 4.0]
    );
}

#[test]
fn constructors_produce_known_arrays() {
    assert_eq!(
        ops::zeros(&[2, 3], Dtype::Float32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        [0.0; 6]
    );
    assert_eq!(
        ops::ones(&[2], Dtype::Int32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        [1, 1]
    );
    let f = ops::full(&[2, 2], &Array::scalar(2.5f32).unwrap(), Dtype::Float32).unwrap();
    assert_eq!(f.to_vec::<f32>().unwrap(), [2.5; 4]);
    let src = arr(&[3.0, 4.0], &[2]);
    assert_eq!(f32s(&ops::zeros_like(&src).unwrap()), [0.0, 0.0]);
    assert_eq!(f32s(&ops::ones_like(&src).unwrap()), [1.0, 1.0]);
    assert_eq!(
        ops::arange(1.0, 2.0, 0.25, Dtype::Float32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        [1.0, 1.25, 1.5, 1.75]
    );
    assert_eq!(
        ops::arange(5.0, 0.0, -2.0, Dtype::Int32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        [5, 3, 1]
    );
    let l = ops::linspace(-1.0, 1.0, 5, Dtype::Float32).unwrap();
    assert_eq!(l.to_vec::<f32>().unwrap(), [-1.0, -0.5, 0.0, 0.5, 1.0]);
    assert_eq!(
        ops::eye(2, 3, 1, Dtype::Float32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    );
    assert_eq!(
        ops::identity(2, Dtype::Int32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        [1, 0, 0, 1]
    );
    assert_eq!(
        ops::tri(2, 3, 0, Dtype::Float32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    );
    let m = arr(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[3, 3]);
    assert_eq!(
        f32s(&ops::tril(&m, 0).unwrap()),
        [1.0, 0.0, 0.0, 4.0, 5.0, 0.0, 7.0, 8.0, 9.0]
    );
    assert_eq!(
        f32s(&ops::triu(&m, 1).unwrap()),
        [0.0, 2.0, 3.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0]
    );
}

fn round_trip<T: mlx_rs::Element + PartialEq + std::fmt::Debug>(values: &[T]) {
    let a = Array::from_slice(values, &[values.len() as i32]).unwrap();
    assert_eq!(a.dtype(), T::DTYPE);
    assert_eq!(a.size(), values.len());
    assert_eq!(a.nbytes(), values.len() * T::DTYPE.size_of());
    assert_eq!(a.to_vec::<T>().unwrap(), values, "{}", T::DTYPE);
    assert_eq!(a.item::<T>().is_err(), values.len() != 1);
    assert_eq!(
        Array::scalar(values[0]).unwrap().item::<T>().unwrap(),
        values[0]
    );
}

#[test]
fn every_dtype_round_trips() {
    round_trip(&[true, false, true]);
    round_trip(&[0u8, 7, 255]);
    round_trip(&[1u16, 65535, 300]);
    round_trip(&[5u32, u32::MAX, 12]);
    round_trip(&[9u64, u64::MAX, 1 << 40]);
    round_trip(&[-128i8, 0, 127]);
    round_trip(&[-300i16, 2, i16::MAX]);
    round_trip(&[i32::MIN, -1, 77]);
    round_trip(&[i64::MIN, 3, 1 << 50]);
    round_trip(&[f16::from_f32(1.5), f16::from_f32(-0.25), f16::MAX]);
    round_trip(&[
        bf16::from_f32(3.0),
        bf16::from_f32(-1e30),
        bf16::from_f32(0.125),
    ]);
    round_trip(&[1.5f32, -2.0e-20, f32::MAX]);
    round_trip(&[std::f64::consts::PI, -1e300, 2.5]);
    round_trip(&[Complex32::new(1.0, -2.0), Complex32::new(0.5, 3.0)]);
    assert_eq!(Dtype::ALL.len(), 14);
}

#[test]
fn conversions_and_half_precision_arithmetic() {
    let mut rng = common::rng();
    let x = uniform(&mut rng, 50, -100.0, 100.0);
    let a = arr(&x, &[50]);
    for dtype in [Dtype::Bfloat16, Dtype::Float16] {
        let h = a.astype(dtype).unwrap();
        assert_eq!(h.dtype(), dtype);
        let doubled = ops::add(&h, &h).unwrap().astype(Dtype::Float32).unwrap();
        let want: Vec<f64> = x.iter().map(|v| 2.0 * *v as f64).collect();
        assert_close_f32(&f32s(&doubled), &want, 1e-2, 1.0);
    }
    let i = a.astype(Dtype::Int32).unwrap().to_vec::<i32>().unwrap();
    assert_eq!(i, x.iter().map(|v| v.trunc() as i32).collect::<Vec<_>>());
    // float64 exists only on MLX's CPU.
    let d = ops::astype_on(&a, Dtype::Float64, &mlx_rs::Device::cpu())
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    assert_eq!(d, to_f64(&x));
}

#[test]
fn misuse_returns_errors_with_mlx_messages() {
    let a = arr(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    // Bad shapes.
    let e = ops::matmul(&a, &a).unwrap_err();
    assert!(matches!(e, Error::Mlx { .. }), "{e:?}");
    assert!(e.message().contains("matmul"), "{e}");
    assert!(
        e.location().unwrap().file().ends_with("ops_basic.rs"),
        "{e}"
    );
    assert!(ops::add(&a, &arr(&[1.0, 2.0], &[2])).is_err());
    assert!(ops::reshape(&a, &[4, 2]).is_err());
    assert!(ops::broadcast_to(&a, &[3, 3]).is_err());
    assert!(ops::concatenate(&[a.clone(), arr(&[1.0], &[1])], 0).is_err());
    assert!(ops::split(&a, 4, 1).is_err());
    // Bad axes.
    assert!(ops::sum_axis(&a, 2, false).is_err());
    assert!(ops::sum_axes(&a, &[-3], false).is_err());
    assert!(ops::transpose_axes(&a, &[0, 0]).is_err());
    assert!(ops::squeeze_axes(&a, &[0]).is_err());
    assert!(ops::softmax_axis(&a, 5, false).is_err());
    // Data that does not fill the shape, negative dimensions.
    assert!(matches!(
        Array::from_slice(&[1.0f32, 2.0], &[3]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(Array::from_slice(&[1.0f32], &[-1]).is_err());
    assert!(a.dim(2).is_err());
    // Reading with the wrong element type is refused, not reinterpreted.
    let b = a.astype(Dtype::Bfloat16).unwrap();
    match b.to_vec::<f32>() {
        Err(Error::DtypeMismatch {
            expected, found, ..
        }) => {
            assert_eq!((expected, found), (Dtype::Float32, Dtype::Bfloat16));
        }
        other => panic!("expected a dtype mismatch, got {other:?}"),
    }
    assert!(a.item::<f32>().is_err(), "item() on six elements");
}

#[test]
fn display_uses_mlx_formatting() {
    let a = Array::from_slice(&[1i32, 2, 3, 4], &[2, 2]).unwrap();
    assert_eq!(
        a.to_string(),
        "array([[1, 2],\n       [3, 4]], dtype=int32)"
    );
    let dbg = format!("{a:?}");
    assert!(dbg.starts_with("Array(shape=[2, 2], dtype=int32)"), "{dbg}");
}

#[test]
fn ops_run_on_a_chosen_stream_or_device() {
    let cpu = mlx_rs::Device::cpu();
    let s = mlx_rs::Stream::new(&cpu).unwrap();
    let x = arr(&[1.0, 4.0, 9.0], &[3]);
    assert_eq!(f32s(&ops::sqrt_on(&x, &s).unwrap()), [1.0, 2.0, 3.0]);
    assert_eq!(f32s(&ops::sqrt_on(&x, &cpu).unwrap()), [1.0, 2.0, 3.0]);
    let y = mlx_rs::with_stream(&s, || ops::square(&x)).unwrap();
    assert_eq!(f32s(&y), [1.0, 16.0, 81.0]);
    assert_eq!(s.device().unwrap().device_type(), mlx_rs::DeviceType::Cpu);
    s.synchronize().unwrap();
    mlx_rs::synchronize().unwrap();
}

#[test]
fn eval_and_async_eval_many() {
    let x = arr(&[1.0, 2.0], &[2]);
    let a = ops::exp(&x).unwrap();
    let b = ops::log(&x).unwrap();
    mlx_rs::async_eval([&a, &b]).unwrap();
    mlx_rs::eval([&a, &b]).unwrap();
    assert_close_f32(&f32s(&b), &[0.0, 2f64.ln()], 1e-6, 1.0);
    assert_close_f32(&f32s(&a), &[1f64.exp(), 2f64.exp()], 1e-6, 1.0);
}
