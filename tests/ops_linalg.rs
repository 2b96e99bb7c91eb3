//! `ops::linalg` against f64 references computed here: Gaussian elimination
//! for inverses, solves and determinants, a Cholesky in f64, Jacobi
//! eigenvalues for spectral norms, and reconstruction (`A = QR`, `U S Vᵀ`,
//! `L Lᵀ`, `V diag(w) Vᵀ`, `P L U`) for the factorizations.

mod common;

use mlx_rs::ops::linalg::{self, NormOrd};
use mlx_rs::{ops, Array, Device, Dtype};
use rand::rngs::StdRng;

const RTOL: f64 = 1e-5;

fn arr(data: &[f32], shape: &[usize]) -> Array {
    let shape: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
    Array::from_slice(data, &shape).unwrap()
}

fn read(a: &Array) -> Vec<f64> {
    common::to_f64(&a.to_vec::<f32>().unwrap())
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Asserts `|got - want| <= RTOL * max|want|` element-wise: for matrix results
/// the rounding error scales with the largest entry, not each entry.
#[track_caller]
fn assert_close_scaled(got: &[f64], want: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len());
    let scale = max_abs(want).max(1e-30);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * scale,
            "element {i}: got {g}, want {w} (scale {scale})"
        );
    }
}

/// An `n × n` matrix with entries in `[-1, 1)` plus `n·I`: diagonally dominant,
/// so its condition number is small (< 3).
fn well_conditioned(rng: &mut StdRng, n: usize) -> Vec<f32> {
    let mut a = common::uniform(rng, n * n, -1.0, 1.0);
    for i in 0..n {
        a[i * n + i] += n as f32;
    }
    a
}

/// A symmetric positive-definite matrix `B Bᵀ + n·I`.
fn spd(rng: &mut StdRng, n: usize) -> Vec<f32> {
    let b = common::to_f64(&common::uniform(rng, n * n, -1.0, 1.0));
    let bt = transpose(&b, n, n);
    let mut a = common::matmul_f64(&b, &bt, n, n, n);
    for i in 0..n {
        a[i * n + i] += n as f64;
    }
    a.iter().map(|x| *x as f32).collect()
}

fn transpose(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    let mut t = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            t[j * m + i] = a[i * n + j];
        }
    }
    t
}

fn identity(n: usize) -> Vec<f64> {
    let mut e = vec![0.0; n * n];
    for i in 0..n {
        e[i * n + i] = 1.0;
    }
    e
}

/// Solves `A X = B` (`A` n×n, `B` n×k) by Gaussian elimination with partial
/// pivoting; also returns `det(A)`.
fn gauss_solve(a: &[f64], b: &[f64], n: usize, k: usize) -> (Vec<f64>, f64) {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    let mut det = 1.0;
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap();
        if piv != col {
            det = -det;
            for j in 0..n {
                a.swap(col * n + j, piv * n + j);
            }
            for j in 0..k {
                b.swap(col * k + j, piv * k + j);
            }
        }
        let p = a[col * n + col];
        det *= p;
        for r in col + 1..n {
            let f = a[r * n + col] / p;
            for j in col..n {
                a[r * n + j] -= f * a[col * n + j];
            }
            for j in 0..k {
                b[r * k + j] -= f * b[col * k + j];
            }
        }
    }
    for col in (0..n).rev() {
        for j in 0..k {
            let mut s = b[col * k + j];
            for c in col + 1..n {
                s -= a[col * n + c] * b[c * k + j];
            }
            b[col * k + j] = s / a[col * n + col];
        }
    }
    (b, det)
}

fn cholesky_f64(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for p in 0..j {
                s -= l[i * n + p] * l[j * n + p];
            }
            l[i * n + j] = if i == j { s.sqrt() } else { s / l[j * n + j] };
        }
    }
    l
}

/// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations, ascending.
fn sym_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    let mut a = a.to_vec();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-26 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut w: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    w.sort_by(f64::total_cmp);
    w
}

/// Singular values (descending) of an m×n matrix, from the eigenvalues of AᵀA.
fn singular_values(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    let ata = common::matmul_f64(&transpose(a, m, n), a, n, m, n);
    let mut s: Vec<f64> = sym_eigenvalues(&ata, n)
        .into_iter()
        .map(|x| x.max(0.0).sqrt())
        .collect();
    s.reverse();
    s.truncate(m.min(n));
    s
}

#[test]
fn inv_matches_gaussian_elimination() {
    let mut rng = common::rng();
    for n in [1, 2, 5, 16] {
        let a = well_conditioned(&mut rng, n);
        let got = read(&linalg::inv(&arr(&a, &[n, n])).unwrap());
        let (want, _) = gauss_solve(&common::to_f64(&a), &identity(n), n, n);
        assert_close_scaled(&got, &want, RTOL);
    }
}

#[test]
fn inv_batched_and_transposed() {
    let mut rng = common::rng();
    let n = 6;
    let mats: Vec<Vec<f32>> = (0..3).map(|_| well_conditioned(&mut rng, n)).collect();
    let flat: Vec<f32> = mats.concat();
    let batch = arr(&flat, &[3, n, n]);
    let got = read(&linalg::inv(&batch).unwrap());
    // Transposed (non-contiguous) input: inv(Aᵀ) = inv(A)ᵀ.
    let t = ops::swapaxes(&batch, -1, -2).unwrap();
    let got_t = read(&linalg::inv_on(&t, &Device::cpu()).unwrap());
    for (b, m) in mats.iter().enumerate() {
        let (want, _) = gauss_solve(&common::to_f64(m), &identity(n), n, n);
        assert_close_scaled(&got[b * n * n..(b + 1) * n * n], &want, RTOL);
        assert_close_scaled(
            &got_t[b * n * n..(b + 1) * n * n],
            &transpose(&want, n, n),
            RTOL,
        );
    }
}

#[test]
fn inv_in_float64() {
    let mut rng = common::rng();
    let n = 7;
    let a = common::to_f64(&well_conditioned(&mut rng, n));
    let got = linalg::inv(&Array::from_slice(&a, &[n as i32, n as i32]).unwrap())
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    let (want, _) = gauss_solve(&a, &identity(n), n, n);
    assert_close_scaled(&got, &want, 1e-12);
}

#[test]
fn inv_rejects_bad_shapes() {
    let mut rng = common::rng();
    let v = common::uniform(&mut rng, 6, -1.0, 1.0);
    assert!(linalg::inv(&arr(&v, &[2, 3])).is_err());
    assert!(linalg::inv(&arr(&v, &[6])).is_err());
    let ints = Array::from_slice(&[1i32, 0, 0, 1], &[2, 2]).unwrap();
    assert!(linalg::inv(&ints).is_err());
}

#[test]
fn plain_form_runs_on_a_cpu_default_and_on_explicit_cpu() {
    let mut rng = common::rng();
    let a = arr(&well_conditioned(&mut rng, 4), &[4, 4]);
    let plain = read(&linalg::inv(&a).unwrap());
    let scoped = mlx_rs::with_device(&Device::cpu(), || linalg::inv(&a))
        .unwrap()
        .unwrap();
    let on = read(&linalg::inv_on(&a, &Device::cpu()).unwrap());
    assert_eq!(plain, read(&scoped));
    assert_eq!(plain, on);
}

#[test]
fn solve_matches_gaussian_elimination() {
    let mut rng = common::rng();
    let n = 9;
    let a = well_conditioned(&mut rng, n);
    let a64 = common::to_f64(&a);
    // Matrix right-hand side.
    let k = 3;
    let b = common::uniform(&mut rng, n * k, -1.0, 1.0);
    let got = read(&linalg::solve(&arr(&a, &[n, n]), &arr(&b, &[n, k])).unwrap());
    let (want, _) = gauss_solve(&a64, &common::to_f64(&b), n, k);
    assert_close_scaled(&got, &want, RTOL);
    // Vector right-hand side.
    let bv = common::uniform(&mut rng, n, -1.0, 1.0);
    let got = read(&linalg::solve(&arr(&a, &[n, n]), &arr(&bv, &[n])).unwrap());
    assert_eq!(got.len(), n);
    let (want, _) = gauss_solve(&a64, &common::to_f64(&bv), n, 1);
    assert_close_scaled(&got, &want, RTOL);
    // Mismatched sizes.
    assert!(linalg::solve(&arr(&a, &[n, n]), &arr(&bv[..n - 1], &[n - 1])).is_err());
}

#[test]
fn solve_triangular_and_tri_inv() {
    let mut rng = common::rng();
    let n = 6;
    let a = common::to_f64(&well_conditioned(&mut rng, n));
    let lower: Vec<f64> = (0..n * n)
        .map(|i| if i % n <= i / n { a[i] } else { 0.0 })
        .collect();
    let lower32: Vec<f32> = lower.iter().map(|x| *x as f32).collect();
    let b = common::uniform(&mut rng, n, -1.0, 1.0);
    let got =
        read(&linalg::solve_triangular(&arr(&lower32, &[n, n]), &arr(&b, &[n]), false).unwrap());
    let (want, _) = gauss_solve(&lower, &common::to_f64(&b), n, 1);
    assert_close_scaled(&got, &want, RTOL);

    let got = read(&linalg::tri_inv(&arr(&lower32, &[n, n]), false).unwrap());
    let (want, _) = gauss_solve(&lower, &identity(n), n, n);
    assert_close_scaled(&got, &want, RTOL);
    // upper = true on the transpose gives the transposed inverse.
    let upper = ops::transpose(&arr(&lower32, &[n, n])).unwrap();
    let got = read(&linalg::tri_inv(&upper, true).unwrap());
    assert_close_scaled(&got, &transpose(&want, n, n), RTOL);
}

#[test]
fn det_and_slogdet_match_elimination() {
    let mut rng = common::rng();
    let n = 5;
    let mut a = common::uniform(&mut rng, n * n, -1.0, 1.0);
    for i in 0..n {
        a[i * n + i] += 1.5;
    }
    let (_, want) = gauss_solve(&common::to_f64(&a), &identity(n), n, n);
    let got = read(&linalg::det(&arr(&a, &[n, n])).unwrap())[0];
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{got} vs {want}"
    );
    let (sign, logabs) = linalg::slogdet(&arr(&a, &[n, n])).unwrap();
    assert_eq!(read(&sign)[0], want.signum());
    let la = read(&logabs)[0];
    assert!((la - want.abs().ln()).abs() <= 1e-5 * want.abs().ln().abs().max(1.0));
}

#[test]
fn qr_reconstructs_with_orthonormal_q() {
    let mut rng = common::rng();
    for (m, n) in [(5, 5), (7, 4), (3, 6)] {
        let a = common::uniform(&mut rng, m * n, -1.0, 1.0);
        let (q, r) = linalg::qr(&arr(&a, &[m, n])).unwrap();
        let k = m.min(n);
        assert_eq!(q.shape(), vec![m as i32, k as i32]);
        assert_eq!(r.shape(), vec![k as i32, n as i32]);
        let (q, r) = (read(&q), read(&r));
        for i in 0..k {
            for j in 0..i.min(n) {
                assert!(r[i * n + j].abs() <= 1e-6, "R not upper triangular");
            }
        }
        let qr = common::matmul_f64(&q, &r, m, k, n);
        assert_close_scaled(&qr, &common::to_f64(&a), RTOL);
        let qtq = common::matmul_f64(&transpose(&q, m, k), &q, k, m, k);
        assert_close_scaled(&qtq, &identity(k), RTOL);
    }
}

#[test]
fn qr_of_a_transposed_batch() {
    let mut rng = common::rng();
    let (b, n) = (2, 4);
    let a = common::uniform(&mut rng, b * n * n, -1.0, 1.0);
    let t = ops::swapaxes(&arr(&a, &[b, n, n]), 1, 2).unwrap();
    let (q, r) = linalg::qr(&t).unwrap();
    let (q, r) = (read(&q), read(&r));
    for i in 0..b {
        let s = i * n * n..(i + 1) * n * n;
        let want = transpose(&common::to_f64(&a[s.clone()]), n, n);
        let qr = common::matmul_f64(&q[s.clone()], &r[s], n, n, n);
        assert_close_scaled(&qr, &want, RTOL);
    }
}

#[test]
fn svd_reconstructs() {
    let mut rng = common::rng();
    for (m, n) in [(4, 4), (6, 3), (3, 5)] {
        let a = common::uniform(&mut rng, m * n, -1.0, 1.0);
        let (u, s, vt) = linalg::svd(&arr(&a, &[m, n])).unwrap();
        let k = m.min(n);
        assert_eq!(u.shape(), vec![m as i32, m as i32]);
        assert_eq!(s.shape(), vec![k as i32]);
        assert_eq!(vt.shape(), vec![n as i32, n as i32]);
        let (u, s, vt) = (read(&u), read(&s), read(&vt));
        assert!(s.windows(2).all(|w| w[0] >= w[1]) && s[k - 1] >= 0.0);
        // U[:, :k] diag(S) Vᵀ[:k, :]
        let mut us = vec![0.0; m * k];
        for i in 0..m {
            for j in 0..k {
                us[i * k + j] = u[i * m + j] * s[j];
            }
        }
        let rec = common::matmul_f64(&us, &vt[..k * n], m, k, n);
        assert_close_scaled(&rec, &common::to_f64(&a), RTOL);
        let utu = common::matmul_f64(&transpose(&u, m, m), &u, m, m, m);
        assert_close_scaled(&utu, &identity(m), RTOL);
        let vvt = common::matmul_f64(&vt, &transpose(&vt, n, n), n, n, n);
        assert_close_scaled(&vvt, &identity(n), RTOL);
        // Singular values against Jacobi eigenvalues of AᵀA.
        let want = singular_values(&common::to_f64(&a), m, n);
        assert_close_scaled(&s, &want, RTOL);
        let only = read(&linalg::svdvals(&arr(&a, &[m, n])).unwrap());
        assert_close_scaled(&only, &want, RTOL);
    }
}

#[test]
fn cholesky_matches_f64_and_rejects_bad_shapes() {
    let mut rng = common::rng();
    let n = 8;
    let a = spd(&mut rng, n);
    let want = cholesky_f64(&common::to_f64(&a), n);
    let l = read(&linalg::cholesky(&arr(&a, &[n, n]), false).unwrap());
    assert_close_scaled(&l, &want, RTOL);
    let llt = common::matmul_f64(&l, &transpose(&l, n, n), n, n, n);
    assert_close_scaled(&llt, &common::to_f64(&a), RTOL);
    let u = read(&linalg::cholesky(&arr(&a, &[n, n]), true).unwrap());
    assert_close_scaled(&u, &transpose(&want, n, n), RTOL);
    // (L Lᵀ)⁻¹ from the factor.
    let ainv = read(
        &linalg::cholesky_inv(
            &arr(&l.iter().map(|x| *x as f32).collect::<Vec<_>>(), &[n, n]),
            false,
        )
        .unwrap(),
    );
    let (want_inv, _) = gauss_solve(&common::to_f64(&a), &identity(n), n, n);
    assert_close_scaled(&ainv, &want_inv, 1e-4);

    assert!(linalg::cholesky(&arr(&a[..n * (n - 1)], &[n - 1, n]), false).is_err());
    assert!(linalg::cholesky(&arr(&a[..n], &[n]), false).is_err());
}

#[test]
fn eigh_reconstructs_with_ascending_values() {
    let mut rng = common::rng();
    let n = 6;
    let a = spd(&mut rng, n);
    let a64 = common::to_f64(&a);
    for upper in [false, true] {
        let (w, v) = linalg::eigh(&arr(&a, &[n, n]), upper).unwrap();
        let (w, v) = (read(&w), read(&v));
        assert_close_scaled(&w, &sym_eigenvalues(&a64, n), RTOL);
        let mut vw = v.clone();
        for i in 0..n {
            for j in 0..n {
                vw[i * n + j] *= w[j];
            }
        }
        let rec = common::matmul_f64(&vw, &transpose(&v, n, n), n, n, n);
        assert_close_scaled(&rec, &a64, RTOL);
    }
    let only = read(&linalg::eigvalsh(&arr(&a, &[n, n]), false).unwrap());
    assert_close_scaled(&only, &sym_eigenvalues(&a64, n), RTOL);
}

#[test]
fn lu_and_pinv_reconstruct() {
    let mut rng = common::rng();
    let n = 5;
    let a = common::uniform(&mut rng, n * n, -1.0, 1.0);
    let parts = linalg::lu(&arr(&a, &[n, n])).unwrap();
    assert_eq!(parts.len(), 3);
    let p = parts[0].to_vec::<u32>().unwrap();
    let (l, u) = (read(&parts[1]), read(&parts[2]));
    let lu = common::matmul_f64(&l, &u, n, n, n);
    let mut sorted = p.clone();
    sorted.sort();
    assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>());
    // Row i of A is row p[i] of L U.
    let plu: Vec<f64> = (0..n * n)
        .map(|i| lu[p[i / n] as usize * n + i % n])
        .collect();
    assert_close_scaled(&plu, &common::to_f64(&a), RTOL);
    for i in 0..n {
        assert_eq!(l[i * n + i], 1.0);
        for j in i + 1..n {
            assert_eq!(l[i * n + j], 0.0);
            assert_eq!(u[j * n + i], 0.0);
        }
    }

    let (m, k) = (6, 3);
    let b = common::uniform(&mut rng, m * k, -1.0, 1.0);
    let pinv = read(&linalg::pinv(&arr(&b, &[m, k])).unwrap());
    let b64 = common::to_f64(&b);
    let bpb = common::matmul_f64(&common::matmul_f64(&b64, &pinv, m, k, m), &b64, m, m, k);
    assert_close_scaled(&bpb, &b64, 1e-4);
}

#[test]
fn vector_norms() {
    let mut rng = common::rng();
    let n = 50;
    let x = common::uniform(&mut rng, n, -2.0, 2.0);
    let x64 = common::to_f64(&x);
    let a = arr(&x, &[n]);
    let p_norm = |p: f64| {
        x64.iter()
            .map(|v| v.abs().powf(p))
            .sum::<f64>()
            .powf(1.0 / p)
    };
    let cases: Vec<(Option<NormOrd>, f64)> = vec![
        (None, p_norm(2.0)),
        (Some(NormOrd::P(2.0)), p_norm(2.0)),
        (Some(NormOrd::P(1.0)), p_norm(1.0)),
        (Some(NormOrd::P(3.0)), p_norm(3.0)),
        (Some(NormOrd::P(f64::INFINITY)), max_abs(&x64)),
        (
            Some(NormOrd::P(f64::NEG_INFINITY)),
            x64.iter().fold(f64::MAX, |m, v| m.min(v.abs())),
        ),
        (
            Some(NormOrd::P(0.0)),
            x64.iter().filter(|v| **v != 0.0).count() as f64,
        ),
    ];
    for (ord, want) in cases {
        let got = read(&linalg::norm(&a, ord, None, false).unwrap());
        common::assert_close_f32(&[got[0] as f32], &[want], RTOL, 0.0);
    }
}

#[test]
fn norms_along_axes_of_a_transposed_array() {
    let mut rng = common::rng();
    let (r, c) = (4, 7);
    let x = common::uniform(&mut rng, r * c, -1.0, 1.0);
    let t = ops::transpose(&arr(&x, &[r, c])).unwrap(); // c × r, non-contiguous
                                                        // L1 norm of each row of t = each column of x.
    let got = linalg::norm(&t, Some(NormOrd::P(1.0)), Some(&[1]), true).unwrap();
    assert_eq!(got.shape(), vec![c as i32, 1]);
    let want: Vec<f64> = (0..c)
        .map(|j| (0..r).map(|i| (x[i * c + j] as f64).abs()).sum())
        .collect();
    common::assert_close_f32(&got.to_vec::<f32>().unwrap(), &want, RTOL, 0.0);
    // No ord, no axes: the 2-norm of everything, on a 3-D array.
    let cube = ops::reshape(&arr(&x, &[r, c]), &[2, 2, c as i32]).unwrap();
    let got = read(&linalg::norm(&cube, None, None, false).unwrap());
    let want = common::to_f64(&x).iter().map(|v| v * v).sum::<f64>().sqrt();
    common::assert_close_f32(&[got[0] as f32], &[want], RTOL, 0.0);
    // Too many axes.
    assert!(linalg::norm(&cube, Some(NormOrd::P(2.0)), Some(&[0, 1, 2]), false).is_err());
    assert!(linalg::norm(&cube, Some(NormOrd::Fro), Some(&[0]), false).is_err());
}

#[test]
fn matrix_norms() {
    let mut rng = common::rng();
    let (m, n) = (5, 4);
    let x = common::uniform(&mut rng, m * n, -1.0, 1.0);
    let x64 = common::to_f64(&x);
    let a = arr(&x, &[m, n]);
    let col_sums: Vec<f64> = (0..n)
        .map(|j| (0..m).map(|i| x64[i * n + j].abs()).sum())
        .collect();
    let row_sums: Vec<f64> = (0..m)
        .map(|i| (0..n).map(|j| x64[i * n + j].abs()).sum())
        .collect();
    let max = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
    let min = |v: &[f64]| v.iter().cloned().fold(f64::MAX, f64::min);
    let sv = singular_values(&x64, m, n);
    let cases = [
        (NormOrd::Fro, x64.iter().map(|v| v * v).sum::<f64>().sqrt()),
        (NormOrd::P(1.0), max(&col_sums)),
        (NormOrd::P(-1.0), min(&col_sums)),
        (NormOrd::P(f64::INFINITY), max(&row_sums)),
        (NormOrd::P(f64::NEG_INFINITY), min(&row_sums)),
        (NormOrd::P(2.0), sv[0]),
        (NormOrd::P(-2.0), *sv.last().unwrap()),
        (NormOrd::Nuc, sv.iter().sum()),
    ];
    for (ord, want) in cases {
        let got = linalg::norm_on(&a, Some(ord), Some(&[0, 1]), false, &Device::cpu())
            .unwrap_or_else(|e| panic!("{ord:?}: {e}"));
        let got = read(&got)[0];
        common::assert_close_f32(&[got as f32], &[want], RTOL, 0.0);
    }
}

#[test]
fn cross_product() {
    let mut rng = common::rng();
    let a = common::uniform(&mut rng, 6, -1.0, 1.0);
    let b = common::uniform(&mut rng, 3, -1.0, 1.0);
    // [2, 3] × [3] broadcast.
    let got = read(&linalg::cross(&arr(&a, &[2, 3]), &arr(&b, &[3]), -1).unwrap());
    for r in 0..2 {
        let x = &common::to_f64(&a[r * 3..r * 3 + 3]);
        let y = &common::to_f64(&b);
        let want = [
            x[1] * y[2] - x[2] * y[1],
            x[2] * y[0] - x[0] * y[2],
            x[0] * y[1] - x[1] * y[0],
        ];
        common::assert_close_f32(
            &got[r * 3..r * 3 + 3]
                .iter()
                .map(|v| *v as f32)
                .collect::<Vec<_>>(),
            &want,
            RTOL,
            1.0,
        );
    }
    assert!(linalg::cross(&arr(&a[..4], &[4]), &arr(&a[..4], &[4]), 0).is_err());
}

#[test]
fn results_have_float32_dtype() {
    let mut rng = common::rng();
    let a = arr(&well_conditioned(&mut rng, 3), &[3, 3]);
    assert_eq!(linalg::inv(&a).unwrap().dtype(), Dtype::Float32);
    assert_eq!(linalg::qr(&a).unwrap().0.dtype(), Dtype::Float32);
}
