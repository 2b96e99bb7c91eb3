//! `+ - * /` and unary `-` on arrays: every owned/borrowed combination,
//! `Result<Array>` chaining, weak scalars on either side, broadcasting and
//! errors, against f64 element-wise references.

mod common;

use mlx_rs::{bf16, f16, ops, Array, Dtype, Result};

const RTOL: f64 = 1e-6;

fn vals(a: Result<Array>) -> Vec<f32> {
    a.unwrap().to_vec::<f32>().unwrap()
}

fn zip(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| f(*x as f64, *y as f64))
        .collect()
}

#[test]
fn all_operand_combinations() {
    let mut rng = common::rng();
    let x = common::uniform(&mut rng, 12, -2.0, 2.0);
    // Divisors away from zero.
    let y: Vec<f32> = common::uniform(&mut rng, 12, 0.5, 2.0)
        .into_iter()
        .zip(x.iter())
        .map(|(v, s)| if *s < 0.0 { -v } else { v })
        .collect();
    let a = Array::from_slice(&x, &[3, 4]).unwrap();
    let b = Array::from_slice(&y, &[3, 4]).unwrap();

    let add = zip(&x, &y, |p, q| p + q);
    let sub = zip(&x, &y, |p, q| p - q);
    let mul = zip(&x, &y, |p, q| p * q);
    let div = zip(&x, &y, |p, q| p / q);
    let check = |got: Result<Array>, want: &[f64]| {
        common::assert_close_f32(&vals(got), want, RTOL, 0.0);
    };

    check(&a + &b, &add);
    check(a.clone() + b.clone(), &add);
    check(a.clone() + &b, &add);
    check(&a + b.clone(), &add);
    check(Ok(a.clone()) + &b, &add);
    check(Ok(a.clone()) + b.clone(), &add);
    check(&a + Ok(b.clone()), &add);
    check(a.clone() + Ok(b.clone()), &add);

    check(&a - &b, &sub);
    check(a.clone() - b.clone(), &sub);
    check(&b - &a, &sub.iter().map(|v| -v).collect::<Vec<_>>());
    check(&a * &b, &mul);
    check(a.clone() * &b, &mul);
    check(&a / &b, &div);
    check(a.clone() / b.clone(), &div);

    check(-&a, &x.iter().map(|v| -(*v as f64)).collect::<Vec<_>>());
    check(
        -a.clone(),
        &x.iter().map(|v| -(*v as f64)).collect::<Vec<_>>(),
    );
}

#[test]
fn chained_expressions() {
    let mut rng = common::rng();
    let x = common::uniform(&mut rng, 8, -1.0, 1.0);
    let y = common::uniform(&mut rng, 8, -1.0, 1.0);
    let z = common::uniform(&mut rng, 8, 1.0, 2.0);
    let (a, b, c) = (
        Array::from_slice(&x, &[8]).unwrap(),
        Array::from_slice(&y, &[8]).unwrap(),
        Array::from_slice(&z, &[8]).unwrap(),
    );
    let got = vals(((&a * 2.0f32 - &b) / &c).unwrap() + 1.0f32);
    let want: Vec<f64> = (0..8)
        .map(|i| (2.0 * x[i] as f64 - y[i] as f64) / z[i] as f64 + 1.0)
        .collect();
    common::assert_close_f32(&got, &want, RTOL, 1.0);
    let got = vals(&a * (&b + &c));
    let want: Vec<f64> = (0..8)
        .map(|i| x[i] as f64 * (y[i] as f64 + z[i] as f64))
        .collect();
    common::assert_close_f32(&got, &want, RTOL, 1.0);
}

#[test]
fn scalars_on_either_side() {
    let mut rng = common::rng();
    let x = common::uniform(&mut rng, 6, 0.5, 3.0);
    let a = Array::from_slice(&x, &[2, 3]).unwrap();
    let s = 1.75f32;
    let map = |f: &dyn Fn(f64) -> f64| x.iter().map(|v| f(*v as f64)).collect::<Vec<_>>();
    let sd = s as f64;
    let check = |got: Result<Array>, want: Vec<f64>| {
        let got = got.unwrap();
        assert_eq!(got.dtype(), Dtype::Float32);
        common::assert_close_f32(&got.to_vec::<f32>().unwrap(), &want, RTOL, 0.0);
    };
    check(&a + s, map(&|v| v + sd));
    check(s + &a, map(&|v| sd + v));
    check(&a - s, map(&|v| v - sd));
    check(s - &a, map(&|v| sd - v));
    check(&a * s, map(&|v| v * sd));
    check(s * a.clone(), map(&|v| sd * v));
    check(a.clone() / s, map(&|v| v / sd));
    check(s / &a, map(&|v| sd / v));
    // f64 and integer scalars take the array's float32 dtype.
    check(&a * 0.5f64, map(&|v| v * 0.5));
    check(3i32 - &a, map(&|v| 3.0 - v));
    check(&a / 2i64, map(&|v| v / 2.0));
    check(&a + 1u8, map(&|v| v + 1.0));
}

#[test]
fn scalars_are_weak() {
    let mut rng = common::rng();
    let x = common::uniform(&mut rng, 4, -4.0, 4.0);
    let xb: Vec<bf16> = x.iter().map(|v| bf16::from_f32(*v)).collect();
    let b = Array::from_slice(&xb, &[4]).unwrap();
    let got = (&b * 0.5f32).unwrap();
    assert_eq!(got.dtype(), Dtype::Bfloat16);
    let got: Vec<f32> = got
        .to_vec::<bf16>()
        .unwrap()
        .iter()
        .map(|v| v.to_f32())
        .collect();
    let want: Vec<f64> = xb.iter().map(|v| v.to_f64() * 0.5).collect();
    common::assert_close_f32(&got, &want, 1e-2, 0.0);

    let xh: Vec<f16> = x.iter().map(|v| f16::from_f32(*v)).collect();
    let h = Array::from_slice(&xh, &[4]).unwrap();
    assert_eq!((2.0 - &h).unwrap().dtype(), Dtype::Float16);
    assert_eq!((&h + f16::from_f32(1.0)).unwrap().dtype(), Dtype::Float16);

    let u = Array::from_slice(&[1u8, 2, 250], &[3]).unwrap();
    let got = (&u + 10i32).unwrap();
    assert_eq!(got.dtype(), Dtype::Uint8);
    assert_eq!(got.to_vec::<u8>().unwrap(), vec![11, 12, 4]); // wraps like u8

    let i = Array::from_slice(&[1i32, -2, 3], &[3]).unwrap();
    let got = (&i * 2.5f32).unwrap();
    assert_eq!(got.dtype(), Dtype::Float32);
    assert_eq!(got.to_vec::<f32>().unwrap(), vec![2.5, -5.0, 7.5]);
    let got = (&i - 1i64).unwrap();
    assert_eq!(got.dtype(), Dtype::Int32);
    assert_eq!(got.to_vec::<i32>().unwrap(), vec![0, -3, 2]);
    // True division of integers gives floats.
    let got = (&i / 2i32).unwrap();
    assert_eq!(got.dtype(), Dtype::Float32);
    assert_eq!(got.to_vec::<f32>().unwrap(), vec![0.5, -1.0, 1.5]);

    let flags = Array::from_slice(&[true, false], &[2]).unwrap();
    let got = (&flags + 1i32).unwrap();
    assert_eq!(got.dtype(), Dtype::Int32);
    assert_eq!(got.to_vec::<i32>().unwrap(), vec![2, 1]);
}

#[test]
fn broadcasting_and_non_contiguous_operands() {
    let mut rng = common::rng();
    let x = common::uniform(&mut rng, 12, -1.0, 1.0);
    let y = common::uniform(&mut rng, 4, -1.0, 1.0);
    let m = Array::from_slice(&x, &[3, 4]).unwrap();
    let row = Array::from_slice(&y, &[4]).unwrap();
    let got = vals(&m - &row);
    let want: Vec<f64> = (0..12).map(|i| x[i] as f64 - y[i % 4] as f64).collect();
    common::assert_close_f32(&got, &want, RTOL, 0.0);

    // Transposed (4×3 view) times a column.
    let t = ops::transpose(&m).unwrap();
    let col = Array::from_slice(&y, &[4, 1]).unwrap();
    let got = vals(&t * &col);
    let want: Vec<f64> = (0..4)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .map(|(i, j)| x[j * 4 + i] as f64 * y[i] as f64)
        .collect();
    common::assert_close_f32(&got, &want, RTOL, 0.0);
}

#[test]
fn errors_are_returned_and_propagate() {
    let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let b = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[4]).unwrap();
    assert!((&a + &b).is_err());
    assert!((&a * b.clone()).is_err());
    // An Err on either side passes through.
    let chained = (&a + &b) * &a;
    assert!(chained.is_err());
    assert!((&a - (&a / &b)).is_err());
}
