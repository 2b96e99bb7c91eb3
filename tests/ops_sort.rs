//! Sorting, partitioning, top-k and cumulative ops against plain-Rust
//! references.

#![allow(clippy::type_complexity)] // tables of (name, op, reference) cases

mod common;

use mlx_rs::{ops, Array, Device};
use rand::rngs::StdRng;
use rand::Rng;

/// Row-major offsets of every lane of `shape` along `axis`, in order.
fn lanes(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
    let strides: Vec<usize> = (0..shape.len())
        .map(|i| shape[i + 1..].iter().product())
        .collect();
    let total: usize = shape.iter().product();
    let mut out = Vec::new();
    for start in 0..total {
        // A lane starts where the axis coordinate is 0.
        if (start / strides[axis]) % shape[axis] == 0 {
            out.push(
                (0..shape[axis])
                    .map(|k| start + k * strides[axis])
                    .collect(),
            );
        }
    }
    out
}

/// A random `[d0, d1, d2]` array and its transpose (non-contiguous) with the
/// transpose's row-major data.
/// With `signed`, each magnitude in `[lo, hi)` gets a random sign.
fn transposed_input(
    rng: &mut StdRng,
    lo: f32,
    hi: f32,
    signed: bool,
) -> (Array, Vec<usize>, Vec<f32>) {
    let shape: Vec<usize> = (0..3).map(|_| rng.gen_range(2..=7)).collect();
    let n: usize = shape.iter().product();
    let mut data = common::uniform(rng, n, lo, hi);
    if signed {
        for v in &mut data {
            if rng.gen_bool(0.5) {
                *v = -*v;
            }
        }
    }
    let dims: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
    let t = ops::transpose(&Array::from_slice(&data, &dims).unwrap()).unwrap();
    let tshape: Vec<usize> = shape.iter().rev().copied().collect();
    let (d0, d1, d2) = (shape[0], shape[1], shape[2]);
    let mut tdata = Vec::with_capacity(n);
    for k in 0..d2 {
        for j in 0..d1 {
            for i in 0..d0 {
                tdata.push(data[(i * d1 + j) * d2 + k]);
            }
        }
    }
    (t, tshape, tdata)
}

fn resolve(axis: i32, ndim: usize) -> usize {
    if axis < 0 {
        (axis + ndim as i32) as usize
    } else {
        axis as usize
    }
}

fn f32s(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

fn u32s(a: &Array) -> Vec<u32> {
    a.to_vec::<u32>().unwrap()
}

#[test]
fn sort_and_argsort_match_reference() {
    let mut rng = common::rng();
    let (t, shape, data) = transposed_input(&mut rng, -100.0, 100.0, false);

    let mut want = data.clone();
    want.sort_by(|a, b| a.total_cmp(b));
    assert_eq!(f32s(&ops::sort_flat(&t).unwrap()), want);
    let idx = u32s(&ops::argsort_flat(&t).unwrap());
    let by_idx: Vec<f32> = idx.iter().map(|&i| data[i as usize]).collect();
    assert_eq!(by_idx, want);

    for axis in [0, 1, 2, -1, -2, -3] {
        let ax = resolve(axis, 3);
        let sorted = f32s(&ops::sort_axis(&t, axis).unwrap());
        let arg = ops::argsort_axis(&t, axis).unwrap();
        assert_eq!(arg.shape(), t.shape());
        let arg = u32s(&arg);
        for lane in lanes(&shape, ax) {
            let mut w: Vec<f32> = lane.iter().map(|&o| data[o]).collect();
            let mut order: Vec<usize> = (0..w.len()).collect();
            order.sort_by(|&a, &b| w[a].total_cmp(&w[b]));
            w.sort_by(|a, b| a.total_cmp(b));
            let got: Vec<f32> = lane.iter().map(|&o| sorted[o]).collect();
            assert_eq!(got, w, "axis {axis}");
            let got_idx: Vec<usize> = lane.iter().map(|&o| arg[o] as usize).collect();
            assert_eq!(got_idx, order, "axis {axis}");
        }
    }
    let on = ops::sort_axis_on(&t, -1, &Device::cpu()).unwrap();
    assert_eq!(f32s(&on), f32s(&ops::sort_axis(&t, 2).unwrap()));
}

#[test]
fn sort_integers_with_ties() {
    let mut rng = common::rng();
    let data: Vec<i32> = (0..40).map(|_| rng.gen_range(-5..5)).collect();
    let a = Array::from_slice(&data, &[5, 8]).unwrap();
    let sorted = ops::sort_axis(&a, 1).unwrap().to_vec::<i32>().unwrap();
    let arg = u32s(&ops::argsort_axis(&a, 1).unwrap());
    for r in 0..5 {
        let row = &data[r * 8..r * 8 + 8];
        let mut w = row.to_vec();
        w.sort();
        assert_eq!(&sorted[r * 8..r * 8 + 8], &w[..]);
        // The indices are a permutation that sorts the row.
        let idx: Vec<usize> = arg[r * 8..r * 8 + 8].iter().map(|&i| i as usize).collect();
        let mut seen = idx.clone();
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        let by_idx: Vec<i32> = idx.iter().map(|&i| row[i]).collect();
        assert_eq!(by_idx, w);
    }
}

/// Checks that `got` (a lane) is a partition of `lane` around `kth`.
#[track_caller]
fn assert_partitioned(got: &[f32], lane: &[f32], kth: usize) {
    let mut sorted = lane.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    assert_eq!(got[kth], sorted[kth], "pivot");
    assert!(got[..kth].iter().all(|&v| v <= got[kth]), "{got:?}");
    assert!(got[kth + 1..].iter().all(|&v| v >= got[kth]), "{got:?}");
    let mut g = got.to_vec();
    g.sort_by(|a, b| a.total_cmp(b));
    assert_eq!(g, sorted, "not a permutation");
}

#[test]
fn partition_and_argpartition() {
    let mut rng = common::rng();
    let (t, shape, data) = transposed_input(&mut rng, -100.0, 100.0, false);
    let n = data.len();

    for kth in [0, n as i32 / 2, -1, -(n as i32)] {
        let k = resolve(kth, n);
        assert_partitioned(&f32s(&ops::partition_flat(&t, kth).unwrap()), &data, k);
        let idx = u32s(&ops::argpartition_flat(&t, kth).unwrap());
        let got: Vec<f32> = idx.iter().map(|&i| data[i as usize]).collect();
        assert_partitioned(&got, &data, k);
    }

    for axis in [0, 2, -2] {
        let ax = resolve(axis, 3);
        let len = shape[ax];
        let kth = rng.gen_range(-(len as i32)..len as i32);
        let k = resolve(kth, len);
        let part = f32s(&ops::partition_axis(&t, kth, axis).unwrap());
        let arg = u32s(&ops::argpartition_axis(&t, kth, axis).unwrap());
        for lane in lanes(&shape, ax) {
            let vals: Vec<f32> = lane.iter().map(|&o| data[o]).collect();
            let got: Vec<f32> = lane.iter().map(|&o| part[o]).collect();
            assert_partitioned(&got, &vals, k);
            let got: Vec<f32> = lane.iter().map(|&o| vals[arg[o] as usize]).collect();
            assert_partitioned(&got, &vals, k);
        }
    }
    let got = f32s(&ops::partition_flat_on(&t, 0, &Device::cpu()).unwrap());
    assert_partitioned(&got, &data, 0);
}

#[test]
fn topk_matches_reference() {
    let mut rng = common::rng();
    let (t, shape, data) = transposed_input(&mut rng, -100.0, 100.0, false);

    let k = 3;
    let mut got = f32s(&ops::topk_flat(&t, k).unwrap());
    got.sort_by(|a, b| a.total_cmp(b));
    let mut want = data.clone();
    want.sort_by(|a, b| a.total_cmp(b));
    assert_eq!(got, want[data.len() - k as usize..]);

    for axis in [1, -1, 0] {
        let ax = resolve(axis, 3);
        let k = rng.gen_range(1..=shape[ax]);
        let out = ops::topk_axis(&t, k as i32, axis).unwrap();
        let mut oshape = shape.clone();
        oshape[ax] = k;
        assert_eq!(
            out.shape(),
            oshape.iter().map(|&d| d as i32).collect::<Vec<_>>()
        );
        let out = f32s(&out);
        for (lane, olane) in lanes(&shape, ax).iter().zip(lanes(&oshape, ax)) {
            let mut w: Vec<f32> = lane.iter().map(|&o| data[o]).collect();
            w.sort_by(|a, b| a.total_cmp(b));
            let mut g: Vec<f32> = olane.iter().map(|&o| out[o]).collect();
            g.sort_by(|a, b| a.total_cmp(b));
            assert_eq!(g, w[w.len() - k..], "axis {axis}");
        }
    }
}

/// Reference scan of one lane in f64.
fn scan(
    vals: &[f64],
    reverse: bool,
    inclusive: bool,
    init: f64,
    f: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let n = vals.len();
    let mut out = vec![0.0; n];
    let order: Vec<usize> = if reverse {
        (0..n).rev().collect()
    } else {
        (0..n).collect()
    };
    let mut acc = init;
    for &i in &order {
        if inclusive {
            acc = f(acc, vals[i]);
            out[i] = acc;
        } else {
            out[i] = acc;
            acc = f(acc, vals[i]);
        }
    }
    out
}

type Scan = fn(&Array, i32, bool, bool) -> mlx_rs::Result<Array>;
type FlatScan = fn(&Array, bool, bool) -> mlx_rs::Result<Array>;

#[test]
fn cumulative_ops_match_reference() {
    let mut rng = common::rng();
    // Magnitudes near 1 keep running products well scaled.
    let (x, shape, data) = transposed_input(&mut rng, 0.5, 1.5, true);
    let data64 = common::to_f64(&data);

    let cases: [(&str, Scan, FlatScan, f64, fn(f64, f64) -> f64); 4] = [
        ("cumsum", ops::cumsum_axis, ops::cumsum, 0.0, |a, b| a + b),
        ("cumprod", ops::cumprod_axis, ops::cumprod, 1.0, |a, b| {
            a * b
        }),
        (
            "cummax",
            ops::cummax_axis,
            ops::cummax,
            f64::NEG_INFINITY,
            f64::max,
        ),
        (
            "cummin",
            ops::cummin_axis,
            ops::cummin,
            f64::INFINITY,
            f64::min,
        ),
    ];
    for (name, axis_op, flat_op, init, f) in cases {
        for reverse in [false, true] {
            for inclusive in [true, false] {
                // Sums are compared against the running sum of magnitudes.
                let tol_ref = |lane: &[f64]| -> Vec<f64> {
                    if name == "cumsum" {
                        let abs: Vec<f64> = lane.iter().map(|v| v.abs()).collect();
                        scan(&abs, reverse, inclusive, 0.0, |a, b| a + b)
                    } else {
                        vec![1.0; lane.len()]
                    }
                };
                let got = f32s(&flat_op(&x, reverse, inclusive).unwrap());
                let want = scan(&data64, reverse, inclusive, init, f);
                check_scan(&got, &want, &tol_ref(&data64), name);

                for axis in [0, 1, 2, -1, -3] {
                    let ax = resolve(axis, 3);
                    let got = f32s(&axis_op(&x, axis, reverse, inclusive).unwrap());
                    for lane in lanes(&shape, ax) {
                        let vals: Vec<f64> = lane.iter().map(|&o| data64[o]).collect();
                        let want = scan(&vals, reverse, inclusive, init, f);
                        let g: Vec<f32> = lane.iter().map(|&o| got[o]).collect();
                        check_scan(&g, &want, &tol_ref(&vals), name);
                    }
                }
            }
        }
    }
    // The default device (a GPU, where there is one) may sum in another
    // order: equal to rounding.
    let got = f32s(&ops::cumsum_axis_on(&x, 0, false, true, &Device::cpu()).unwrap());
    let default = f32s(&ops::cumsum_axis(&x, 0, false, true).unwrap());
    for (a, b) in got.iter().zip(&default) {
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
    }
}

#[track_caller]
fn check_scan(got: &[f32], want: &[f64], scale: &[f64], name: &str) {
    assert_eq!(got.len(), want.len());
    for i in 0..got.len() {
        let (g, w) = (got[i] as f64, want[i]);
        if w.is_infinite() {
            // The identity of an exclusive max/min.
            assert_eq!(g, w, "{name} element {i}");
            continue;
        }
        let tol = 1e-5 * scale[i].max(w.abs()).max(1e-30);
        assert!(
            (g - w).abs() <= tol,
            "{name} element {i}: got {g}, want {w}"
        );
    }
}

#[test]
fn bad_arguments_are_errors() {
    let a = Array::from_slice(&[3.0f32, 1.0, 2.0, 5.0, 4.0, 0.5], &[2, 3]).unwrap();
    assert!(ops::sort_axis(&a, 2).is_err());
    assert!(ops::argsort_axis(&a, -3).is_err());
    assert!(ops::partition(&a, 6).is_err());
    assert!(ops::partition_axis(&a, 3, 1).is_err());
    assert!(ops::argpartition_axis(&a, 0, 2).is_err());
    assert!(ops::argpartition(&a, -7).is_err());
    assert!(ops::topk(&a, 7).is_err());
    assert!(ops::topk_axis(&a, 3, 0).is_err());
    assert!(ops::topk_axis(&a, 1, 2).is_err());
    assert!(ops::cumsum_axis(&a, 2, false, true).is_err());
    assert!(ops::cumprod_axis(&a, -3, false, true).is_err());
    assert!(ops::cummax_axis(&a, 5, true, true).is_err());
    assert!(ops::cummin_axis(&a, -5, true, false).is_err());
}
