//! The less common ops (gathered / segmented / block-masked matrix products,
//! einsum, Kronecker, diagonals, windows, rolls, strided views, unstacking,
//! grids, medians, searchsorted, differences, dynamic slices, masked
//! scatter, ...) against f64 references computed here.

mod common;

use mlx_rs::ops::{self, MeshIndexing, Side};
use mlx_rs::{Array, Device, Dtype};
use rand::rngs::StdRng;
use rand::Rng;

fn arr(data: &[f32], shape: &[usize]) -> Array {
    let shape: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
    Array::from_slice(data, &shape).unwrap()
}

fn ints(data: &[i32], shape: &[usize]) -> Array {
    let shape: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
    Array::from_slice(data, &shape).unwrap()
}

fn read(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

fn read_i(a: &Array) -> Vec<i32> {
    a.to_vec::<i32>().unwrap()
}

fn rand_vec(rng: &mut StdRng, n: usize) -> Vec<f32> {
    common::uniform(rng, n, -1.0, 1.0)
}

/// Sum of `|x|` over a dot product, the scale its rounding error follows.
fn close(got: &[f32], want: &[f64], scale: f64) {
    common::assert_close_f32(got, want, 1e-5, scale);
}

// ---------------------------------------------------------------------------
// Products.

#[test]
fn gather_mm_picks_matrices_and_clamps_indices() {
    let mut rng = common::rng();
    let (m, k, n) = (2usize, 4usize, 5usize);
    let a = rand_vec(&mut rng, 3 * m * k); // 3 matrices
    let b = rand_vec(&mut rng, 2 * k * n); // 2 matrices
    let lhs = [0i32, 2, 1, 2];
    let rhs = [1i32, 0, 1, 1];
    let got = ops::gather_mm(
        &arr(&a, &[3, m, k]),
        &arr(&b, &[2, k, n]),
        Some(&ints(&lhs, &[4])),
        Some(&ints(&rhs, &[4])),
        false,
    )
    .unwrap();
    assert_eq!(got.shape(), [4, m as i32, n as i32]);
    let a64 = common::to_f64(&a);
    let b64 = common::to_f64(&b);
    let product = |i: usize, j: usize| {
        common::matmul_f64(
            &a64[i * m * k..(i + 1) * m * k],
            &b64[j * k * n..(j + 1) * k * n],
            m,
            k,
            n,
        )
    };
    let want: Vec<f64> = lhs
        .iter()
        .zip(&rhs)
        .flat_map(|(&i, &j)| product(i as usize, j as usize))
        .collect();
    close(&read(&got), &want, k as f64);

    // Out-of-range indices are clamped (negative ones count from the end).
    let clamped = ops::gather_mm(
        &arr(&a, &[3, m, k]),
        &arr(&b, &[2, k, n]),
        Some(&ints(&[7, -1], &[2])),
        Some(&ints(&[-5, 9], &[2])),
        false,
    )
    .unwrap();
    let want: Vec<f64> = [product(2, 0), product(2, 1)].concat();
    close(&read(&clamped), &want, k as f64);

    // Only rhs indices, sorted (`a` is one matrix, used for every pick).
    let x = rand_vec(&mut rng, m * k);
    let picks = [0i32, 0, 1];
    let got = ops::gather_mm_on(
        &arr(&x, &[m, k]),
        &arr(&b, &[2, k, n]),
        None,
        Some(&ints(&picks, &[3])),
        true,
        &Device::cpu(),
    )
    .unwrap();
    assert_eq!(got.shape(), [3, m as i32, n as i32]);
    let x64 = common::to_f64(&x);
    let want: Vec<f64> = picks
        .iter()
        .flat_map(|&j| {
            let j = j as usize;
            common::matmul_f64(&x64, &b64[j * k * n..(j + 1) * k * n], m, k, n)
        })
        .collect();
    close(&read(&got), &want, k as f64);

    // Float indices and a batch-less `b` with indices are errors.
    let bad = ops::gather_mm(
        &arr(&a, &[3, m, k]),
        &arr(&b, &[2, k, n]),
        Some(&arr(&[0.0], &[1])),
        None,
        false,
    );
    assert!(bad.is_err());
    assert!(ops::gather_mm(
        &arr(&a, &[3, m, k]),
        &arr(&b[..k], &[k]),
        None,
        Some(&ints(&[0], &[1])),
        false
    )
    .is_err());
}

#[test]
fn segmented_mm_sums_over_segments_with_clamped_bounds() {
    let mut rng = common::rng();
    let (m, k, n) = (3usize, 6usize, 2usize);
    let a = rand_vec(&mut rng, m * k);
    let b = rand_vec(&mut rng, k * n);
    let segment = |lo: usize, hi: usize| -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (lo..hi)
                    .map(|p| f64::from(a[i * k + p]) * f64::from(b[p * n + j]))
                    .sum();
            }
        }
        out
    };
    // In range, out of range (clamped into 0..=k), and reversed (empty).
    let segs = [0, 2, 2, 6, 1, 4, -3, 2, 4, 100, 5, 1];
    let got =
        ops::segmented_mm(&arr(&a, &[m, k]), &arr(&b, &[k, n]), &ints(&segs, &[6, 2])).unwrap();
    assert_eq!(got.shape(), [6, m as i32, n as i32]);
    let want: Vec<f64> = [
        segment(0, 2),
        segment(2, 6),
        segment(1, 4),
        segment(0, 2),
        segment(4, 6),
        vec![0.0; m * n],
    ]
    .concat();
    close(&read(&got), &want, k as f64);

    // uint8 segments work too; float segments and a wrong last axis do not.
    let small = Array::from_slice(&[0u8, 6], &[1, 2]).unwrap();
    let got = ops::segmented_mm(&arr(&a, &[m, k]), &arr(&b, &[k, n]), &small).unwrap();
    close(&read(&got), &segment(0, 6), k as f64);
    assert!(ops::segmented_mm(
        &arr(&a, &[m, k]),
        &arr(&b, &[k, n]),
        &arr(&[0.0, 1.0], &[1, 2])
    )
    .is_err());
    assert!(ops::segmented_mm(
        &arr(&a, &[m, k]),
        &arr(&b, &[k, n]),
        &ints(&[0, 1, 2], &[1, 3])
    )
    .is_err());
}

#[test]
fn block_masked_mm_skips_and_zeroes_blocks() {
    let mut rng = common::rng();
    let (m, k, n, bs) = (64usize, 96usize, 64usize, 32usize);
    let a = rand_vec(&mut rng, m * k);
    let b = rand_vec(&mut rng, k * n);
    let (mb, kb, nb) = (m / bs, k / bs, n / bs);
    let coin = |rng: &mut StdRng, len: usize| -> Vec<bool> {
        loop {
            let v: Vec<bool> = (0..len).map(|_| rng.gen_bool(0.6)).collect();
            if v.iter().any(|&x| x) && v.iter().any(|&x| !x) {
                return v;
            }
        }
    };
    let mask_out = coin(&mut rng, mb * nb);
    let mask_lhs = coin(&mut rng, mb * kb);
    let mask_rhs = coin(&mut rng, kb * nb);
    let barr =
        |v: &[bool], r: usize, c: usize| Array::from_slice(v, &[r as i32, c as i32]).unwrap();
    let got = ops::block_masked_mm(
        &arr(&a, &[m, k]),
        &arr(&b, &[k, n]),
        bs as i32,
        Some(&barr(&mask_out, mb, nb)),
        Some(&barr(&mask_lhs, mb, kb)),
        Some(&barr(&mask_rhs, kb, nb)),
    )
    .unwrap();
    let mut want = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            if !mask_out[(i / bs) * nb + j / bs] {
                continue;
            }
            want[i * n + j] = (0..k)
                .filter(|&p| mask_lhs[(i / bs) * kb + p / bs] && mask_rhs[(p / bs) * nb + j / bs])
                .map(|p| f64::from(a[i * k + p]) * f64::from(b[p * n + j]))
                .sum();
        }
    }
    common::assert_close_f32(&read(&got), &want, 1e-4, k as f64 / 4.0);

    // No masks: a plain product.
    let plain = ops::block_masked_mm(
        &arr(&a, &[m, k]),
        &arr(&b, &[k, n]),
        bs as i32,
        None,
        None,
        None,
    )
    .unwrap();
    let want = common::matmul_f64(&common::to_f64(&a), &common::to_f64(&b), m, k, n);
    common::assert_close_f32(&read(&plain), &want, 1e-4, k as f64 / 4.0);

    // Integer inputs and mis-shaped masks are errors.
    let ones_i = Array::from_slice(&vec![1i32; 64 * 64], &[64, 64]).unwrap();
    assert!(ops::block_masked_mm(&ones_i, &ones_i, 32, None, None, None).is_err());
    let wrong = Array::from_slice(&[true, false, true], &[1, 3]).unwrap();
    assert!(ops::block_masked_mm(
        &arr(&a, &[m, k]),
        &arr(&b, &[k, n]),
        32,
        Some(&wrong),
        None,
        None
    )
    .is_err());
}

#[test]
fn einsum_matches_explicit_sums() {
    let mut rng = common::rng();
    let (bt, i, j, k) = (2usize, 3usize, 4usize, 5usize);
    let x = rand_vec(&mut rng, bt * i * j);
    let y = rand_vec(&mut rng, bt * j * k);
    let got = ops::einsum(
        "bij,bjk->bik",
        &[arr(&x, &[bt, i, j]), arr(&y, &[bt, j, k])],
    )
    .unwrap();
    let x64 = common::to_f64(&x);
    let y64 = common::to_f64(&y);
    let want: Vec<f64> = (0..bt)
        .flat_map(|b| {
            common::matmul_f64(
                &x64[b * i * j..(b + 1) * i * j],
                &y64[b * j * k..(b + 1) * j * k],
                i,
                j,
                k,
            )
        })
        .collect();
    close(&read(&got), &want, j as f64);

    // Transpose-and-contract: "ij,kj->ik" is x @ zᵀ.
    let z = rand_vec(&mut rng, k * j);
    let got = ops::einsum("ij,kj->ik", &[arr(&x[..i * j], &[i, j]), arr(&z, &[k, j])]).unwrap();
    let want: Vec<f64> = (0..i)
        .flat_map(|r| {
            let (x, z) = (&x, &z);
            (0..k).map(move |c| {
                (0..j)
                    .map(|p| f64::from(x[r * j + p]) * f64::from(z[c * j + p]))
                    .sum()
            })
        })
        .collect();
    close(&read(&got), &want, j as f64);

    // Diagonal, trace and full sum of a square matrix.
    let sq = rand_vec(&mut rng, 16);
    let s = arr(&sq, &[4, 4]);
    let diag: Vec<f64> = (0..4).map(|d| f64::from(sq[d * 5])).collect();
    close(
        &read(&ops::einsum("ii->i", std::slice::from_ref(&s)).unwrap()),
        &diag,
        1.0,
    );
    close(
        &read(&ops::einsum("ii", std::slice::from_ref(&s)).unwrap()),
        &[diag.iter().sum()],
        4.0,
    );
    close(
        &read(&ops::einsum("ij->", std::slice::from_ref(&s)).unwrap()),
        &[common::to_f64(&sq).iter().sum()],
        16.0,
    );

    // Mismatched operands and malformed subscripts are errors.
    assert!(ops::einsum(
        "ij,jk->ik",
        &[arr(&[1.0; 6], &[2, 3]), arr(&[1.0; 20], &[4, 5])]
    )
    .is_err());
    assert!(ops::einsum("ij->ik", std::slice::from_ref(&s)).is_err());
    assert!(ops::einsum("i\0j", &[s]).is_err());
}

#[test]
fn kron_inner_and_vecdot() {
    let mut rng = common::rng();
    let a = rand_vec(&mut rng, 6);
    let b = rand_vec(&mut rng, 4);
    // kron([2,3], [2,2]) has shape [4,6]: out[i*2+p][j*2+q] = a[i][j] b[p][q].
    let got = ops::kron(&arr(&a, &[2, 3]), &arr(&b, &[2, 2])).unwrap();
    assert_eq!(got.shape(), [4, 6]);
    let mut want = vec![0.0f64; 24];
    for i in 0..2 {
        for j in 0..3 {
            for p in 0..2 {
                for q in 0..2 {
                    want[(i * 2 + p) * 6 + j * 2 + q] =
                        f64::from(a[i * 3 + j]) * f64::from(b[p * 2 + q]);
                }
            }
        }
    }
    close(&read(&got), &want, 1.0);
    assert!(ops::kron(&arr(&[], &[0, 2]), &arr(&b, &[2, 2])).is_err());

    // inner([2,3], [4,3]) -> [2,4]
    let c = rand_vec(&mut rng, 12);
    let got = ops::inner(&arr(&a, &[2, 3]), &arr(&c, &[4, 3])).unwrap();
    assert_eq!(got.shape(), [2, 4]);
    let want: Vec<f64> = (0..2)
        .flat_map(|r| {
            let (a, c) = (&a, &c);
            (0..4).map(move |s| {
                (0..3)
                    .map(|p| f64::from(a[r * 3 + p]) * f64::from(c[s * 3 + p]))
                    .sum()
            })
        })
        .collect();
    close(&read(&got), &want, 3.0);
    assert!(ops::inner(&arr(&a, &[2, 3]), &arr(&b, &[2, 2])).is_err());

    // vecdot along axis 0 of [2,3] x [2,3] -> [3]
    let d = rand_vec(&mut rng, 6);
    let got = ops::vecdot(&arr(&a, &[2, 3]), &arr(&d, &[2, 3]), 0).unwrap();
    let want: Vec<f64> = (0..3)
        .map(|j| {
            (0..2)
                .map(|i| f64::from(a[i * 3 + j]) * f64::from(d[i * 3 + j]))
                .sum()
        })
        .collect();
    close(&read(&got), &want, 2.0);
}

// ---------------------------------------------------------------------------
// Windows and diagonals.

#[test]
fn window_functions_match_their_formulas() {
    use std::f64::consts::PI;
    type Window = fn(i32) -> mlx_rs::Result<Array>;
    type Formula = fn(f64, f64) -> f64;
    let cases: [(&str, Window, Formula); 4] = [
        ("hanning", ops::hanning, |n, d| {
            0.5 - 0.5 * (2.0 * PI * n / d).cos()
        }),
        ("hamming", ops::hamming, |n, d| {
            0.54 - 0.46 * (2.0 * PI * n / d).cos()
        }),
        ("blackman", ops::blackman, |n, d| {
            0.42 - 0.5 * (2.0 * PI * n / d).cos() + 0.08 * (4.0 * PI * n / d).cos()
        }),
        ("bartlett", ops::bartlett, |n, d| {
            1.0 - (2.0 * n / d - 1.0).abs()
        }),
    ];
    for (name, window, formula) in cases {
        for m in [2usize, 5, 16, 51] {
            let got = read(&window(m as i32).unwrap());
            let want: Vec<f64> = (0..m).map(|i| formula(i as f64, (m - 1) as f64)).collect();
            // Values near 0 are differences of O(1) terms: absolute tolerance.
            common::assert_close_f32(&got, &want, 1e-6, 1.0);
            assert_eq!(got.len(), m, "{name}");
        }
        assert_eq!(read(&window(1).unwrap()), [1.0], "{name}");
        assert_eq!(window(0).unwrap().size(), 0, "{name}");
        assert_eq!(window(-3).unwrap().size(), 0, "{name}");
    }
    assert_eq!(
        ops::hanning_on(4, &Device::cpu()).unwrap().dtype(),
        Dtype::Float32
    );
}

#[test]
fn diag_diagonal_and_trace() {
    let mut rng = common::rng();
    let v = rand_vec(&mut rng, 3);
    for k in [-2i32, 0, 1] {
        let got = ops::diag(&arr(&v, &[3]), k).unwrap();
        let size = 3 + k.unsigned_abs() as usize;
        assert_eq!(got.shape(), [size as i32, size as i32]);
        let mut want = vec![0.0f64; size * size];
        for (i, x) in v.iter().enumerate() {
            let (r, c) = if k >= 0 {
                (i, i + k as usize)
            } else {
                (i + (-k) as usize, i)
            };
            want[r * size + c] = f64::from(*x);
        }
        close(&read(&got), &want, 1.0);
    }
    let m = rand_vec(&mut rng, 12); // [3, 4]
    let at = |r: usize, c: usize| f64::from(m[r * 4 + c]);
    close(
        &read(&ops::diag(&arr(&m, &[3, 4]), 1).unwrap()),
        &[at(0, 1), at(1, 2), at(2, 3)],
        1.0,
    );
    close(
        &read(&ops::diag(&arr(&m, &[3, 4]), -2).unwrap()),
        &[at(2, 0)],
        1.0,
    );
    assert!(ops::diag(&arr(&[1.0; 8], &[2, 2, 2]), 0).is_err());

    // diagonal over axes (1, 0) of [3,4]: same as (0, 1) with rows/cols swapped.
    let got = ops::diagonal(&arr(&m, &[3, 4]), -1, 1, 0).unwrap();
    close(&read(&got), &[at(0, 1), at(1, 2), at(2, 3)], 1.0);

    // trace and trace_axes (batched, offset, dtype).
    close(
        &read(&ops::trace(&arr(&m, &[3, 4])).unwrap()),
        &[at(0, 0) + at(1, 1) + at(2, 2)],
        3.0,
    );
    let t = rand_vec(&mut rng, 2 * 3 * 3); // [3, 2, 3] viewed with axes 0 and 2
    let got = ops::trace_axes(&arr(&t, &[3, 2, 3]), 1, 0, 2, Dtype::Float32).unwrap();
    assert_eq!(got.shape(), [2]);
    let want: Vec<f64> = (0..2)
        .map(|b| (0..2).map(|i| f64::from(t[i * 6 + b * 3 + i + 1])).sum())
        .collect();
    close(&read(&got), &want, 2.0);
    let int_trace =
        ops::trace_axes(&ints(&[1, 2, 3, 4], &[2, 2]), 0, 0, 1, Dtype::Float32).unwrap();
    assert_eq!(int_trace.dtype(), Dtype::Float32);
    assert_eq!(int_trace.item::<f32>().unwrap(), 5.0);
    assert!(ops::trace_axes(&arr(&m, &[3, 4]), 0, 0, 5, Dtype::Float32).is_err());
}

// ---------------------------------------------------------------------------
// Rearranging.

#[test]
fn roll_and_flip_move_elements() {
    let data: Vec<i32> = (0..12).collect();
    let a = ints(&data, &[3, 4]);
    for shift in [-13i32, -1, 0, 5, 25] {
        let got = read_i(&ops::roll(&a, shift).unwrap());
        let want: Vec<i32> = (0..12)
            .map(|i| data[(i - shift).rem_euclid(12) as usize])
            .collect();
        assert_eq!(got, want, "shift {shift}");
    }
    let got = read_i(&ops::roll_axis(&a, 1, 0).unwrap());
    let want: Vec<i32> = (0..12)
        .map(|i| data[((i / 4 + 2) % 3 * 4 + i % 4) as usize])
        .collect();
    assert_eq!(got, want);
    let got = read_i(&ops::roll_axes(&a, &[1, -1], &[0, 1]).unwrap());
    let want: Vec<i32> = (0..12)
        .map(|i| {
            let (r, c) = (i / 4, i % 4);
            data[(((r + 2) % 3) * 4 + (c + 1) % 4) as usize]
        })
        .collect();
    assert_eq!(got, want);
    assert!(ops::roll_axes(&a, &[1], &[0, 1]).is_err());
    assert!(ops::roll_axis(&a, 1, 2).is_err());

    let rev: Vec<i32> = data.iter().rev().copied().collect();
    assert_eq!(read_i(&ops::flip(&a).unwrap()), rev);
    let got = read_i(&ops::flip_axis(&a, 1).unwrap());
    let want: Vec<i32> = (0..12)
        .map(|i| data[(i / 4 * 4 + 3 - i % 4) as usize])
        .collect();
    assert_eq!(got, want);
    assert_eq!(read_i(&ops::flip_axes(&a, &[0, 1]).unwrap()), rev);
}

#[test]
fn as_strided_views_and_rejects_reads_outside() {
    let data: Vec<i32> = (0..10).collect();
    let a = ints(&data, &[10]);
    // Overlapping windows of 4 with step 2.
    let got = read_i(&ops::as_strided(&a, &[4, 4], &[2, 1], 0).unwrap());
    let want: Vec<i32> = (0..4)
        .flat_map(|w| (0..4).map(move |j| 2 * w + j))
        .collect();
    assert_eq!(got, want);
    // Negative stride from an offset: reversed.
    let got = read_i(&ops::as_strided(&a, &[5], &[-2], 9).unwrap());
    assert_eq!(got, [9, 7, 5, 3, 1]);
    // Broadcast with stride 0.
    assert_eq!(
        read_i(&ops::as_strided(&a, &[2, 3], &[0, 1], 4).unwrap()),
        [4, 5, 6, 4, 5, 6]
    );
    // A transposed input is read in its logical (row-major) order.
    let t = ops::transpose(&ints(&[0, 1, 2, 3, 4, 5], &[2, 3])).unwrap();
    assert_eq!(
        read_i(&ops::as_strided(&t, &[6], &[1], 0).unwrap()),
        [0, 3, 1, 4, 2, 5]
    );
    // Empty views need no elements.
    assert_eq!(
        ops::as_strided(&a, &[0, 3], &[100, 100], 50)
            .unwrap()
            .size(),
        0
    );
    // Outside the array: errors, never reads.
    assert!(ops::as_strided(&a, &[3], &[5], 0).is_err());
    assert!(ops::as_strided(&a, &[2], &[-1], 0).is_err());
    assert!(ops::as_strided(&a, &[1], &[1], 10).is_err());
    assert!(ops::as_strided(&a, &[2, 2], &[1], 0).is_err());
    assert!(ops::as_strided(&a, &[-1], &[1], 0).is_err());
}

#[test]
fn view_reinterprets_bytes() {
    let mut rng = common::rng();
    let v = rand_vec(&mut rng, 6);
    let bits = ops::view(&arr(&v, &[2, 3]), Dtype::Uint32).unwrap();
    assert_eq!(bits.shape(), [2, 3]);
    let want: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
    assert_eq!(bits.to_vec::<u32>().unwrap(), want);
    let bytes = ops::view(&arr(&v, &[2, 3]), Dtype::Uint8).unwrap();
    assert_eq!(bytes.shape(), [2, 12]);
    let want: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(bytes.to_vec::<u8>().unwrap(), want);
    // 3 float32 (12 bytes) per row do not make whole float64s... 12 is not a multiple of 8.
    assert!(ops::view(&arr(&v, &[2, 3]), Dtype::Float64).is_err());
}

#[test]
fn unstack_meshgrid_and_rank_helpers() {
    let data: Vec<i32> = (0..24).collect();
    let a = ints(&data, &[2, 3, 4]);
    let parts = ops::unstack(&a).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(read_i(&parts[1]), &data[12..]);
    let cols = ops::unstack_axis(&a, -1).unwrap();
    assert_eq!(cols.len(), 4);
    assert_eq!(cols[2].shape(), [2, 3]);
    let want: Vec<i32> = (0..6).map(|i| i * 4 + 2).collect();
    assert_eq!(read_i(&cols[2]), want);
    assert!(ops::unstack_axis(&a, 3).is_err());

    let x = ints(&[1, 2, 3], &[3]);
    let y = ints(&[10, 20], &[2]);
    let xy = ops::meshgrid(&[x.clone(), y.clone()], false, MeshIndexing::Xy).unwrap();
    assert_eq!(xy[0].shape(), [2, 3]);
    assert_eq!(read_i(&xy[0]), [1, 2, 3, 1, 2, 3]);
    assert_eq!(read_i(&xy[1]), [10, 10, 10, 20, 20, 20]);
    let ij = ops::meshgrid(&[x.clone(), y.clone()], false, MeshIndexing::Ij).unwrap();
    assert_eq!(ij[0].shape(), [3, 2]);
    assert_eq!(read_i(&ij[0]), [1, 1, 2, 2, 3, 3]);
    assert_eq!(read_i(&ij[1]), [10, 20, 10, 20, 10, 20]);
    let sparse = ops::meshgrid(&[x, y], true, MeshIndexing::Ij).unwrap();
    assert_eq!(sparse[0].shape(), [3, 1]);
    assert_eq!(sparse[1].shape(), [1, 2]);

    assert_eq!(
        ops::unflatten(&a, 2, &[2, -1]).unwrap().shape(),
        [2, 3, 2, 2]
    );
    assert!(ops::unflatten(&a, 2, &[3, -1]).is_err());
    assert_eq!(
        ops::squeeze_axis(&ints(&[1, 2], &[1, 2]), 0)
            .unwrap()
            .shape(),
        [2]
    );
    assert!(ops::squeeze_axis(&ints(&[1, 2], &[1, 2]), 1).is_err());
    let s = Array::scalar(4i32).unwrap();
    assert_eq!(ops::atleast_1d(&s).unwrap().shape(), [1]);
    assert_eq!(ops::atleast_2d(&s).unwrap().shape(), [1, 1]);
    assert_eq!(
        ops::atleast_3d(&ints(&[1, 2], &[2])).unwrap().shape(),
        [1, 2, 1]
    );
    assert_eq!(ops::atleast_2d(&a).unwrap().shape(), [2, 3, 4]);
}

// ---------------------------------------------------------------------------
// Statistics, searching, differences, special values.

fn median_f64(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn median_over_everything_and_axes() {
    let mut rng = common::rng();
    for n in [1usize, 2, 7, 10] {
        let v = rand_vec(&mut rng, n);
        let got = ops::median(&arr(&v, &[n]), false).unwrap();
        close(&read(&got), &[median_f64(&mut common::to_f64(&v))], 1.0);
    }
    let (r, c) = (4usize, 5usize);
    let v = rand_vec(&mut rng, r * c);
    let rows: Vec<f64> = (0..r)
        .map(|i| median_f64(&mut common::to_f64(&v[i * c..(i + 1) * c])))
        .collect();
    close(
        &read(&ops::median_axis(&arr(&v, &[r, c]), 1, false).unwrap()),
        &rows,
        1.0,
    );
    let cols: Vec<f64> = (0..c)
        .map(|j| median_f64(&mut (0..r).map(|i| f64::from(v[i * c + j])).collect::<Vec<_>>()))
        .collect();
    let kept = ops::median_axis(&arr(&v, &[r, c]), 0, true).unwrap();
    assert_eq!(kept.shape(), [1, c as i32]);
    close(&read(&kept), &cols, 1.0);
    let all = ops::median_axes(&arr(&v, &[r, c]), &[0, 1], false).unwrap();
    close(&read(&all), &[median_f64(&mut common::to_f64(&v))], 1.0);
    // Integers give float32; an empty array is an error.
    let m = ops::median(&ints(&[1, 2, 3, 4], &[4]), false).unwrap();
    assert_eq!((m.dtype(), m.item::<f32>().unwrap()), (Dtype::Float32, 2.5));
    assert!(ops::median(&arr(&[], &[0]), false).is_err());
}

#[test]
fn searchsorted_matches_a_binary_search() {
    let mut rng = common::rng();
    // A sorted sequence with repeats.
    let mut seq: Vec<f32> = (0..20)
        .map(|_| (rng.gen_range(0..8) as f32) * 0.5)
        .collect();
    seq.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let values: Vec<f32> = (0..15)
        .map(|_| (rng.gen_range(-2..20) as f32) * 0.25)
        .collect();
    let left: Vec<u32> = values
        .iter()
        .map(|v| seq.partition_point(|x| x < v) as u32)
        .collect();
    let right: Vec<u32> = values
        .iter()
        .map(|v| seq.partition_point(|x| x <= v) as u32)
        .collect();
    let s = arr(&seq, &[20]);
    let v = arr(&values, &[3, 5]);
    let got = ops::searchsorted(&s, &v, Side::Left).unwrap();
    assert_eq!(got.shape(), [3, 5]);
    assert_eq!(got.to_vec::<u32>().unwrap(), left);
    assert_eq!(
        ops::searchsorted(&s, &v, Side::Right)
            .unwrap()
            .to_vec::<u32>()
            .unwrap(),
        right
    );
    // An empty sequence puts everything at 0.
    let none = ops::searchsorted(&arr(&[], &[0]), &arr(&[1.0, 2.0], &[2]), Side::Left).unwrap();
    assert_eq!(none.to_vec::<u32>().unwrap(), [0, 0]);
}

#[test]
fn diff_takes_repeated_differences() {
    let mut rng = common::rng();
    let v = rand_vec(&mut rng, 12);
    let v64 = common::to_f64(&v);
    let d1: Vec<f64> = v64.windows(2).map(|w| w[1] - w[0]).collect();
    let d2: Vec<f64> = d1.windows(2).map(|w| w[1] - w[0]).collect();
    close(&read(&ops::diff(&arr(&v, &[12]), 1, 0).unwrap()), &d1, 2.0);
    close(&read(&ops::diff(&arr(&v, &[12]), 2, -1).unwrap()), &d2, 4.0);
    assert_eq!(read(&ops::diff(&arr(&v, &[12]), 0, 0).unwrap()), v);
    assert_eq!(ops::diff(&arr(&v, &[12]), 20, 0).unwrap().size(), 0);
    // Along axis 0 of [3, 4].
    let rows: Vec<f64> = (0..8).map(|i| v64[i + 4] - v64[i]).collect();
    close(
        &read(&ops::diff(&arr(&v, &[3, 4]), 1, 0).unwrap()),
        &rows,
        2.0,
    );
    assert!(ops::diff(&arr(&v, &[12]), -1, 0).is_err());
    assert!(ops::diff(&arr(&v, &[12]), 1, 1).is_err());
}

#[test]
fn special_values_and_elementwise_extras() {
    let a = arr(
        &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1.75, 2.5],
        &[5],
    );
    assert_eq!(
        read(&ops::nan_to_num(&a, 0.0, None, None).unwrap()),
        [0.0, f32::MAX, f32::MIN, -1.75, 2.5]
    );
    assert_eq!(
        read(&ops::nan_to_num(&a, -7.0, Some(1.0), Some(-2.0)).unwrap()),
        [-7.0, 1.0, -2.0, -1.75, 2.5]
    );
    let h = ops::nan_to_num(&ops::astype(&a, Dtype::Float16).unwrap(), 0.0, None, None).unwrap();
    assert_eq!(
        h.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap()[1],
        65504.0
    );
    assert_eq!(
        read_i(&ops::nan_to_num(&ints(&[1, 2], &[2]), 0.0, None, None).unwrap()),
        [1, 2]
    );

    assert_eq!(
        ops::isposinf(&a).unwrap().to_vec::<bool>().unwrap(),
        [false, true, false, false, false]
    );
    assert_eq!(
        ops::isneginf(&a).unwrap().to_vec::<bool>().unwrap(),
        [false, false, true, false, false]
    );
    assert_eq!(
        read(&ops::trunc(&arr(&[-1.75, 2.5, -0.5], &[3])).unwrap()),
        [-1.0, 2.0, -0.0]
    );
    let t = Array::from_slice(&[true, true, false, false], &[4]).unwrap();
    let u = Array::from_slice(&[true, false, true, false], &[4]).unwrap();
    assert_eq!(
        ops::logical_xor(&t, &u).unwrap().to_vec::<bool>().unwrap(),
        [false, true, true, false]
    );
    assert_eq!(
        read_i(&ops::bitwise_invert(&ints(&[0, 5, -1], &[3])).unwrap()),
        [-1, -6, 0]
    );

    let z = Array::from_slice(
        &[
            mlx_rs::Complex32::new(1.0, 2.0),
            mlx_rs::Complex32::new(-3.0, 0.5),
        ],
        &[2],
    )
    .unwrap();
    assert_eq!(read(&ops::real(&z).unwrap()), [1.0, -3.0]);
    assert_eq!(read(&ops::imag(&z).unwrap()), [2.0, 0.5]);
    let conj = ops::conjugate(&z)
        .unwrap()
        .to_vec::<mlx_rs::Complex32>()
        .unwrap();
    assert_eq!(
        conj,
        [
            mlx_rs::Complex32::new(1.0, -2.0),
            mlx_rs::Complex32::new(-3.0, -0.5)
        ]
    );

    // divmod: Python semantics, and integer division by zero does not trap.
    let x = ints(&[7, -7, 7, -7, 5], &[5]);
    let y = ints(&[2, 2, -2, -2, 0], &[5]);
    let qr = ops::divmod(&x, &y).unwrap();
    assert_eq!(read_i(&qr[0]), [3, -4, -4, 3, 0]);
    assert_eq!(read_i(&qr[1]), [1, 1, -1, -1, 0]);
    let qr = ops::divmod(&arr(&[7.5, -7.5], &[2]), &arr(&[2.0, 2.0], &[2])).unwrap();
    assert_eq!(
        (read(&qr[0]), read(&qr[1])),
        (vec![3.0, -4.0], vec![1.5, 0.5])
    );
}

#[test]
fn counting_and_log_cumulative_sums() {
    let mut rng = common::rng();
    let v: Vec<i32> = (0..12).map(|_| rng.gen_range(-1..2)).collect();
    let a = ints(&v, &[3, 4]);
    let nz = v.iter().filter(|&&x| x != 0).count() as i32;
    assert_eq!(
        ops::count_nonzero(&a, false)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        [nz]
    );
    let per_row: Vec<i32> = (0..3)
        .map(|r| v[r * 4..r * 4 + 4].iter().filter(|&&x| x != 0).count() as i32)
        .collect();
    assert_eq!(
        ops::count_nonzero_axis(&a, 1, false)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        per_row
    );
    assert_eq!(
        ops::count_nonzero_axes(&a, &[0, 1], false)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        [nz]
    );

    let x = common::uniform(&mut rng, 8, -3.0, 3.0);
    let want: Vec<f64> = (0..8)
        .map(|i| {
            x[..=i]
                .iter()
                .map(|&v| f64::from(v).exp())
                .sum::<f64>()
                .ln()
        })
        .collect();
    close(
        &read(&ops::logcumsumexp(&arr(&x, &[8]), false, true).unwrap()),
        &want,
        1.0,
    );
    let by_axis = ops::logcumsumexp_axis(&arr(&x, &[2, 4]), 1, true, true).unwrap();
    for r in 0..2 {
        let row = &x[r * 4..r * 4 + 4];
        for j in 0..4 {
            let want: f64 = row[j..]
                .iter()
                .map(|&v| f64::from(v).exp())
                .sum::<f64>()
                .ln();
            let got = f64::from(read(&by_axis)[r * 4 + j]);
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }
    assert_eq!(
        ops::logcumsumexp(&arr(&[], &[0]), false, true)
            .unwrap()
            .size(),
        0
    );
}

// ---------------------------------------------------------------------------
// Updates.

#[test]
fn slice_update_variants_combine() {
    let mut rng = common::rng();
    let src = rand_vec(&mut rng, 12);
    let upd = rand_vec(&mut rng, 4);
    // Rows 0 and 2 (stride 2), columns 1..3 of a [3, 4] array.
    let positions = [(0usize, 1usize), (0, 2), (2, 1), (2, 2)];
    type Combine = fn(f64, f64) -> f64;
    type Op = fn(&Array, &Array, &[i32], &[i32], &[i32]) -> mlx_rs::Result<Array>;
    let cases: [(&str, Op, Combine); 4] = [
        ("add", ops::slice_update_add, |a, b| a + b),
        ("prod", ops::slice_update_prod, |a, b| a * b),
        ("max", ops::slice_update_max, f64::max),
        ("min", ops::slice_update_min, f64::min),
    ];
    for (name, op, combine) in cases {
        let got = op(
            &arr(&src, &[3, 4]),
            &arr(&upd, &[2, 2]),
            &[0, 1],
            &[3, 3],
            &[2, 1],
        )
        .unwrap();
        let mut want = common::to_f64(&src);
        for (u, &(r, c)) in upd.iter().zip(&positions) {
            want[r * 4 + c] = combine(want[r * 4 + c], f64::from(*u));
        }
        close(&read(&got), &want, 1.0);
        assert!(
            op(&arr(&src, &[3, 4]), &arr(&upd, &[2, 2]), &[0], &[3], &[1]).is_err(),
            "{name}"
        );
        assert!(
            op(
                &arr(&src, &[3, 4]),
                &arr(&upd, &[2, 2]),
                &[0, 0],
                &[3, 3],
                &[0, 1]
            )
            .is_err(),
            "{name}"
        );
    }
}

#[test]
fn dynamic_slices_clamp_their_starts() {
    let data: Vec<i32> = (0..20).collect();
    let a = ints(&data, &[4, 5]);
    let block = |r0: i32, c0: i32| -> Vec<i32> {
        (0..2)
            .flat_map(|r| (0..3).map(move |c| (r0 + r) * 5 + c0 + c))
            .collect()
    };
    let at = |v: &[i32]| ints(v, &[v.len()]);
    assert_eq!(
        read_i(&ops::slice_dynamic(&a, &at(&[1, 2]), &[0, 1], &[2, 3]).unwrap()),
        block(1, 2)
    );
    // Only axis 1 moves; axis 0 starts at 0.
    assert_eq!(
        read_i(&ops::slice_dynamic(&a, &at(&[1]), &[-1], &[2, 3]).unwrap()),
        block(0, 1)
    );
    // Past the end: clamped so the block fits; negative: from the end.
    assert_eq!(
        read_i(&ops::slice_dynamic(&a, &at(&[100, 100]), &[0, 1], &[2, 3]).unwrap()),
        block(2, 2)
    );
    assert_eq!(
        read_i(&ops::slice_dynamic(&a, &at(&[-2, -4]), &[0, 1], &[2, 3]).unwrap()),
        block(2, 1)
    );
    assert_eq!(
        read_i(&ops::slice_dynamic(&a, &at(&[-50, 0]), &[0, 1], &[2, 3]).unwrap()),
        block(0, 0)
    );
    // int64 and uint8 starts.
    let wide = Array::from_slice(&[1i64, 1], &[2]).unwrap();
    assert_eq!(
        read_i(&ops::slice_dynamic(&a, &wide, &[0, 1], &[2, 3]).unwrap()),
        block(1, 1)
    );
    let narrow = Array::from_slice(&[2u8, 0], &[2]).unwrap();
    assert_eq!(
        read_i(&ops::slice_dynamic(&a, &narrow, &[0, 1], &[2, 3]).unwrap()),
        block(2, 0)
    );
    // Bad calls.
    assert!(ops::slice_dynamic(&a, &at(&[0, 0]), &[0, 1], &[5, 3]).is_err());
    assert!(ops::slice_dynamic(&a, &at(&[0, 0]), &[0, 1], &[2]).is_err());
    assert!(ops::slice_dynamic(&a, &at(&[0]), &[0, 1], &[2, 3]).is_err());
    assert!(ops::slice_dynamic(&a, &at(&[0, 0]), &[0, 2], &[2, 3]).is_err());
    assert!(ops::slice_dynamic(&a, &arr(&[0.0, 0.0], &[2]), &[0, 1], &[2, 3]).is_err());

    let upd = ints(&[-1, -2, -3, -4, -5, -6], &[2, 3]);
    let written = |r0: i32, c0: i32| -> Vec<i32> {
        let mut out = data.clone();
        for r in 0..2 {
            for c in 0..3 {
                out[((r0 + r) * 5 + c0 + c) as usize] = -(r * 3 + c + 1);
            }
        }
        out
    };
    assert_eq!(
        read_i(&ops::slice_update_dynamic(&a, &upd, &at(&[1, 1]), &[0, 1]).unwrap()),
        written(1, 1)
    );
    assert_eq!(
        read_i(&ops::slice_update_dynamic(&a, &upd, &at(&[9, -1]), &[0, 1]).unwrap()),
        written(2, 2)
    );
    assert_eq!(
        read_i(&ops::slice_update_dynamic(&a, &upd, &at(&[-9]), &[0]).unwrap()),
        written(0, 0)
    );
    assert!(ops::slice_update_dynamic(&a, &ints(&[1, 2, 3], &[3]), &at(&[0]), &[0]).is_err());
    assert!(ops::slice_update_dynamic(&a, &ints(&[0; 12], &[2, 6]), &at(&[0]), &[0]).is_err());
}

#[test]
fn masked_scatter_fills_in_order() {
    let mut rng = common::rng();
    let base = rand_vec(&mut rng, 12);
    let mask: Vec<bool> = (0..12).map(|_| rng.gen_bool(0.5)).collect();
    let count = mask.iter().filter(|&&m| m).count();
    let src = rand_vec(&mut rng, 12);
    let got = ops::masked_scatter(
        &arr(&base, &[3, 4]),
        &Array::from_slice(&mask, &[3, 4]).unwrap(),
        &arr(&src, &[12]),
    )
    .unwrap();
    let mut next = src.iter();
    let want: Vec<f64> = base
        .iter()
        .zip(&mask)
        .map(|(&b, &m)| f64::from(if m { *next.next().unwrap() } else { b }))
        .collect();
    close(&read(&got), &want, 1.0);
    assert!(count <= 12);
    // A mask over the leading axis selects whole rows, filled by rows of `src`.
    let row_mask = Array::from_slice(&[true, false, true], &[3]).unwrap();
    let got =
        ops::masked_scatter(&arr(&base, &[3, 4]), &row_mask, &arr(&src[..8], &[2, 4])).unwrap();
    let mut want = common::to_f64(&base);
    for (row, from) in [(0usize, 0usize), (2, 1)] {
        for c in 0..4 {
            want[row * 4 + c] = f64::from(src[from * 4 + c]);
        }
    }
    close(&read(&got), &want, 1.0);
    // Too few source elements: on the CPU an error when evaluated; on a GPU
    // (where MLX does not check) the missing elements are 0, never a read
    // past the end.
    let all = Array::from_slice(&[true; 12], &[3, 4]).unwrap();
    let short = ops::masked_scatter(&arr(&base, &[3, 4]), &all, &arr(&src[..5], &[5]));
    if mlx_rs::Device::default_device().unwrap().device_type() == mlx_rs::DeviceType::Gpu {
        let mut want: Vec<f64> = src[..5].iter().map(|&v| f64::from(v)).collect();
        want.resize(12, 0.0);
        close(&read(&short.unwrap()), &want, 1.0);
    } else {
        assert!(short.and_then(|r| r.to_vec::<f32>()).is_err());
    }
    // A mask that is not a leading part of the shape.
    let trailing = Array::from_slice(&[true, false, false, true], &[4]).unwrap();
    assert!(ops::masked_scatter(&arr(&base, &[3, 4]), &trailing, &arr(&src, &[12])).is_err());
}

// ---------------------------------------------------------------------------
// Transposed convolutions and the Hadamard transform.

/// f64 transposed convolution over `dims` spatial axes (channels last,
/// groups = 1): input position `i` adds `w[o, k, c] * x[i, c]` to output
/// position `i * stride + k * dilation - padding` on every axis.
#[allow(clippy::too_many_arguments)]
fn conv_transpose_ref(
    x: &[f32],
    xs: &[usize], // [N, spatial.., C_in]
    w: &[f32],
    ws: &[usize], // [C_out, kernel.., C_in]
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
    output_padding: &[usize],
) -> (Vec<f64>, Vec<usize>) {
    let dims = xs.len() - 2;
    let (n, ci, co) = (xs[0], xs[dims + 1], ws[0]);
    let out_sp: Vec<usize> = (0..dims)
        .map(|a| {
            (xs[a + 1] - 1) * stride[a] + dilation[a] * (ws[a + 1] - 1) + output_padding[a] + 1
                - 2 * padding[a]
        })
        .collect();
    let mut out_shape = vec![n];
    out_shape.extend(&out_sp);
    out_shape.push(co);
    let mut out = vec![0.0f64; out_shape.iter().product()];
    let ostr = common::strides(&out_shape);
    let xstr = common::strides(xs);
    let wstr = common::strides(ws);
    for b in 0..n {
        for pos in common::multi_indices(&xs[1..=dims]) {
            for k in common::multi_indices(&ws[1..=dims]) {
                let mut t = Vec::with_capacity(dims);
                for a in 0..dims {
                    let v = (pos[a] * stride[a] + k[a] * dilation[a]) as i64 - padding[a] as i64;
                    if v < 0 || v >= out_sp[a] as i64 {
                        break;
                    }
                    t.push(v as usize);
                }
                if t.len() < dims {
                    continue;
                }
                for o in 0..co {
                    let mut acc = 0.0;
                    for c in 0..ci {
                        let xi = b * xstr[0]
                            + (0..dims).map(|a| pos[a] * xstr[a + 1]).sum::<usize>()
                            + c;
                        let wi =
                            o * wstr[0] + (0..dims).map(|a| k[a] * wstr[a + 1]).sum::<usize>() + c;
                        acc += f64::from(x[xi]) * f64::from(w[wi]);
                    }
                    let oi = b * ostr[0] + (0..dims).map(|a| t[a] * ostr[a + 1]).sum::<usize>() + o;
                    out[oi] += acc;
                }
            }
        }
    }
    (out, out_shape)
}

#[test]
fn transposed_convolutions_match_scatter_sums() {
    let mut rng = common::rng();
    // 1-D: stride 2, padding 1, dilation 2, output padding 1.
    let (xs, ws) = ([2usize, 5, 3], [4usize, 3, 3]);
    let x = rand_vec(&mut rng, xs.iter().product());
    let w = rand_vec(&mut rng, ws.iter().product());
    let got = ops::conv_transpose1d(&arr(&x, &xs), &arr(&w, &ws), 2, 1, 2, 1, 1).unwrap();
    let (want, shape) = conv_transpose_ref(&x, &xs, &w, &ws, &[2], &[1], &[2], &[1]);
    assert_eq!(
        got.shape(),
        shape.iter().map(|&d| d as i32).collect::<Vec<_>>()
    );
    close(&read(&got), &want, 3.0);
    // 2-D with different settings per axis.
    let (xs, ws) = ([1usize, 3, 4, 2], [3usize, 2, 3, 2]);
    let x = rand_vec(&mut rng, xs.iter().product());
    let w = rand_vec(&mut rng, ws.iter().product());
    let got = ops::conv_transpose2d(
        &arr(&x, &xs),
        &arr(&w, &ws),
        [2, 1],
        [0, 1],
        [1, 1],
        [1, 0],
        1,
    )
    .unwrap();
    let (want, shape) = conv_transpose_ref(&x, &xs, &w, &ws, &[2, 1], &[0, 1], &[1, 1], &[1, 0]);
    assert_eq!(
        got.shape(),
        shape.iter().map(|&d| d as i32).collect::<Vec<_>>()
    );
    close(&read(&got), &want, 4.0);
    // 3-D, plain.
    let (xs, ws) = ([1usize, 2, 3, 2, 2], [2usize, 2, 2, 2, 2]);
    let x = rand_vec(&mut rng, xs.iter().product());
    let w = rand_vec(&mut rng, ws.iter().product());
    let got = ops::conv_transpose3d_on(
        &arr(&x, &xs),
        &arr(&w, &ws),
        [1, 2, 1],
        [0, 0, 1],
        [1, 1, 1],
        [0, 0, 0],
        1,
        &Device::cpu(),
    )
    .unwrap();
    let (want, shape) = conv_transpose_ref(
        &x,
        &xs,
        &w,
        &ws,
        &[1, 2, 1],
        &[0, 0, 1],
        &[1, 1, 1],
        &[0, 0, 0],
    );
    assert_eq!(
        got.shape(),
        shape.iter().map(|&d| d as i32).collect::<Vec<_>>()
    );
    close(&read(&got), &want, 4.0);
    // Channel mismatch.
    assert!(ops::conv_transpose1d(
        &arr(&x[..10], &[1, 5, 2]),
        &arr(&w[..12], &[2, 2, 3]),
        1,
        0,
        1,
        0,
        1
    )
    .is_err());
}

#[test]
fn transposed_convolution_with_padding_beyond_the_input() {
    // Stride 1, dilation 2, padding larger than the input: MLX 0.32.2's CPU
    // kernel wrote past its output buffer here (heap corruption).
    let mut rng = common::rng();
    let (xs, ws) = ([1usize, 1, 2, 2], [2usize, 5, 5, 2]);
    for _ in 0..20 {
        let x = rand_vec(&mut rng, xs.iter().product());
        let w = rand_vec(&mut rng, ws.iter().product());
        let got = ops::conv_transpose2d(
            &arr(&x, &xs),
            &arr(&w, &ws),
            [1, 1],
            [2, 2],
            [2, 2],
            [0, 0],
            1,
        )
        .unwrap();
        let (want, shape) =
            conv_transpose_ref(&x, &xs, &w, &ws, &[1, 1], &[2, 2], &[2, 2], &[0, 0]);
        assert_eq!(
            got.shape(),
            shape.iter().map(|&d| d as i32).collect::<Vec<_>>()
        );
        close(&read(&got), &want, 4.0);
    }
}

#[test]
fn hadamard_transform_is_the_sylvester_matrix_product() {
    let mut rng = common::rng();
    for n in [2usize, 8, 64] {
        let x = rand_vec(&mut rng, 3 * n);
        // Sylvester's construction: H[i][j] = (-1)^popcount(i & j).
        let h = |i: usize, j: usize| {
            if (i & j).count_ones() % 2 == 0 {
                1.0
            } else {
                -1.0
            }
        };
        for scale in [None, Some(0.5f32)] {
            let got = ops::hadamard_transform(&arr(&x, &[3, n]), scale).unwrap();
            let s = scale.map_or(1.0 / (n as f64).sqrt(), f64::from);
            let want: Vec<f64> = (0..3)
                .flat_map(|r| {
                    let x = &x;
                    (0..n).map(move |i| {
                        s * (0..n)
                            .map(|j| h(i, j) * f64::from(x[r * n + j]))
                            .sum::<f64>()
                    })
                })
                .collect();
            close(&read(&got), &want, (n as f64).sqrt());
        }
    }
    // Sizes MLX has no Hadamard matrix for fail (when evaluated).
    let bad = ops::hadamard_transform(&arr(&[1.0; 6], &[6]), None);
    assert!(bad.and_then(|r| r.to_vec::<f32>()).is_err());
}

#[test]
fn bad_inputs_are_errors_not_crashes() {
    let m = arr(&[1.0; 64 * 64], &[64, 64]);
    let v = arr(&[1.0, 2.0, 3.0], &[3]);
    let s = Array::scalar(2.0f32).unwrap();
    let err = |what: &str, r: mlx_rs::Result<Array>| {
        let r = r.and_then(|a| a.eval().map(|_| a));
        assert!(r.is_err(), "{what}: expected an error");
    };
    let mask = Array::from_slice(&[true; 4], &[2, 2]).unwrap();
    for bs in [0, 7, -32, 16] {
        err(
            "block size",
            ops::block_masked_mm(&m, &m, bs, Some(&mask), None, None),
        );
    }
    err("einsum empty", ops::einsum("", std::slice::from_ref(&v)));
    err("einsum no operands", ops::einsum("i->i", &[]));
    err(
        "einsum non-letter",
        ops::einsum("é->", std::slice::from_ref(&v)),
    );
    err("view scalar", ops::view(&s, Dtype::Float64));
    err("diag scalar", ops::diag(&s, 0));
    err("diag huge k", ops::diag(&v, i32::MAX));
    err("diag huge negative k", ops::diag(&v, i32::MIN));
    err("diagonal same axes", ops::diagonal(&m, 0, 1, 1));
    err("trace 1-D", ops::trace(&v));
    err("searchsorted 2-D", ops::searchsorted(&m, &v, Side::Left));
    err(
        "median duplicate axes",
        ops::median_axes(&m, &[0, 0], false),
    );
    err("unstack scalar", ops::unstack(&s).map(|_| s.clone()));
    err("vecdot axis", ops::vecdot(&v, &v, 3));
    err(
        "as_strided beyond memory",
        ops::as_strided(&v, &[i32::MAX, i32::MAX], &[0, 0], 0),
    );
    err(
        "segmented_mm K mismatch",
        ops::segmented_mm(
            &arr(&[1.0; 6], &[2, 3]),
            &arr(&[1.0; 8], &[4, 2]),
            &ints(&[0, 1], &[1, 2]),
        ),
    );
    err(
        "segmented_mm batched",
        ops::segmented_mm(
            &arr(&[1.0; 12], &[2, 2, 3]),
            &arr(&[1.0; 6], &[3, 2]),
            &ints(&[0, 1], &[1, 2]),
        ),
    );
    err(
        "nan_to_num complex",
        ops::nan_to_num(
            &Array::from_slice(&[mlx_rs::Complex32::new(f32::NAN, 1.0)], &[1]).unwrap(),
            0.0,
            None,
            None,
        ),
    );
    err("masked_scatter float mask", ops::masked_scatter(&v, &v, &v));
    let (x, w) = (arr(&[1.0; 4], &[1, 2, 2]), arr(&[1.0; 4], &[1, 2, 2]));
    err(
        "conv_transpose groups 0",
        ops::conv_transpose1d(&x, &w, 1, 0, 1, 0, 0),
    );
    err(
        "conv_transpose stride 0",
        ops::conv_transpose1d(&x, &w, 0, 0, 1, 0, 1),
    );
    err(
        "conv_transpose dilation 0",
        ops::conv_transpose1d(&x, &w, 1, 0, 0, 0, 1),
    );
    err(
        "conv_transpose negative padding",
        ops::conv_transpose1d(&x, &w, 1, -5, 1, 0, 1),
    );
    err(
        "conv_transpose2d groups 0",
        ops::conv_transpose2d(
            &arr(&[1.0; 4], &[1, 2, 1, 2]),
            &arr(&[1.0; 4], &[1, 2, 1, 2]),
            [1, 1],
            [0, 0],
            [1, 1],
            [0, 0],
            0,
        ),
    );
    err("conv1d groups 0", ops::conv1d(&x, &w, 1, 0, 1, 0));
    err(
        "conv2d groups 0",
        ops::conv2d(
            &arr(&[1.0; 4], &[1, 2, 1, 2]),
            &arr(&[1.0; 4], &[1, 2, 1, 2]),
            [1, 1],
            [0, 0],
            [1, 1],
            0,
        ),
    );
    err(
        "conv_general groups 0",
        ops::conv_general(&x, &w, &[1], &[0], &[0], &[1], &[1], 0, false),
    );
    err("unflatten 0 and -1", ops::unflatten(&v, 0, &[0, -1]));
    err("unflatten two -1", ops::unflatten(&v, 0, &[-1, -1]));
    // A huge difference order is as cheap as one past the axis length.
    assert_eq!(ops::diff(&v, i32::MAX, 0).unwrap().size(), 0);
    assert_eq!(read(&ops::roll(&v, i32::MIN).unwrap()).len(), 3);
}
