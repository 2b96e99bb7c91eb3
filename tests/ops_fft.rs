//! `ops::fft` against a naive O(n²) DFT computed in f64.

mod common;

use mlx_rs::ops::fft::{self, FftNorm};
use mlx_rs::{ops, Array, Complex32, Dtype};
use rand::rngs::StdRng;

const RTOL: f64 = 1e-5;

type C = (f64, f64);

/// Naive DFT of `x` (length `len`, truncated or zero-padded to `n`);
/// `sign = -1` forward, `+1` inverse (unscaled).
fn dft(x: &[C], n: usize, sign: f64) -> Vec<C> {
    let mut x = x.to_vec();
    x.resize(n, (0.0, 0.0));
    (0..n)
        .map(|k| {
            x.iter()
                .enumerate()
                .fold((0.0, 0.0), |acc, (j, &(re, im))| {
                    let ang = sign * 2.0 * std::f64::consts::PI * (j * k % n) as f64 / n as f64;
                    let (s, c) = ang.sin_cos();
                    (acc.0 + re * c - im * s, acc.1 + re * s + im * c)
                })
        })
        .collect()
}

fn real(v: &[f32]) -> Vec<C> {
    v.iter().map(|x| (*x as f64, 0.0)).collect()
}

fn complex_input(rng: &mut StdRng, n: usize) -> Vec<Complex32> {
    let re = common::uniform(rng, n, -1.0, 1.0);
    let im = common::uniform(rng, n, -1.0, 1.0);
    re.into_iter()
        .zip(im)
        .map(|(r, i)| Complex32::new(r, i))
        .collect()
}

fn read_c(a: &Array) -> Vec<C> {
    assert_eq!(a.dtype(), Dtype::Complex64);
    a.to_vec::<Complex32>()
        .unwrap()
        .iter()
        .map(|c| (c.re as f64, c.im as f64))
        .collect()
}

/// Sum of magnitudes: the scale that each output's rounding error grows with.
fn l1(x: &[C]) -> f64 {
    x.iter().map(|(r, i)| r.abs() + i.abs()).sum()
}

#[track_caller]
fn assert_close_c(got: &[C], want: &[C], scale: f64) {
    assert_eq!(got.len(), want.len(), "length");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g.0 - w.0).abs().max((g.1 - w.1).abs());
        assert!(
            err <= RTOL * scale,
            "bin {k}: got {g:?}, want {w:?} (scale {scale})"
        );
    }
}

fn scaled(v: &[C], f: f64) -> Vec<C> {
    v.iter().map(|(r, i)| (r * f, i * f)).collect()
}

#[test]
fn fft_of_real_and_complex_input() {
    let mut rng = common::rng();
    for n in [1usize, 7, 12, 16, 33] {
        let x = common::uniform(&mut rng, n, -1.0, 1.0);
        let a = Array::from_slice(&x, &[n as i32]).unwrap();
        let got = read_c(&fft::fft(&a, None, -1, FftNorm::Backward).unwrap());
        assert_close_c(&got, &dft(&real(&x), n, -1.0), l1(&real(&x)));

        let z = complex_input(&mut rng, n);
        let zc: Vec<C> = z.iter().map(|c| (c.re as f64, c.im as f64)).collect();
        let a = Array::from_slice(&z, &[n as i32]).unwrap();
        let got = read_c(&fft::fft(&a, None, 0, FftNorm::Backward).unwrap());
        assert_close_c(&got, &dft(&zc, n, -1.0), l1(&zc));
        let got = read_c(&fft::ifft(&a, None, 0, FftNorm::Backward).unwrap());
        assert_close_c(
            &got,
            &scaled(&dft(&zc, n, 1.0), 1.0 / n as f64),
            l1(&zc) / n as f64,
        );
    }
}

#[test]
fn fft_lengths_pad_and_truncate() {
    let mut rng = common::rng();
    let x = common::uniform(&mut rng, 10, -1.0, 1.0);
    let a = Array::from_slice(&x, &[10]).unwrap();
    for n in [4usize, 10, 17] {
        let out = fft::fft(&a, Some(n as i32), -1, FftNorm::Backward).unwrap();
        assert_eq!(out.shape(), vec![n as i32]);
        let xs = real(&x[..n.min(10)]);
        assert_close_c(&read_c(&out), &dft(&xs, n, -1.0), l1(&xs));
    }
    assert!(fft::fft(&a, Some(0), -1, FftNorm::Backward).is_err());
    assert!(fft::fft(&a, None, 1, FftNorm::Backward).is_err());
    assert!(fft::fft(&a, Some(4), 1, FftNorm::Backward).is_err());
}

#[test]
fn norms_scale_the_pair() {
    let mut rng = common::rng();
    let n = 9;
    let z = complex_input(&mut rng, n);
    let zc: Vec<C> = z.iter().map(|c| (c.re as f64, c.im as f64)).collect();
    let a = Array::from_slice(&z, &[n as i32]).unwrap();
    let fwd = dft(&zc, n, -1.0);
    let inv = dft(&zc, n, 1.0);
    let s = l1(&zc);
    let r = (n as f64).sqrt();
    let got = read_c(&fft::fft(&a, None, -1, FftNorm::Ortho).unwrap());
    assert_close_c(&got, &scaled(&fwd, 1.0 / r), s / r);
    let got = read_c(&fft::fft(&a, None, -1, FftNorm::Forward).unwrap());
    assert_close_c(&got, &scaled(&fwd, 1.0 / n as f64), s / n as f64);
    let got = read_c(&fft::ifft(&a, None, -1, FftNorm::Ortho).unwrap());
    assert_close_c(&got, &scaled(&inv, 1.0 / r), s / r);
    let got = read_c(&fft::ifft(&a, None, -1, FftNorm::Forward).unwrap());
    assert_close_c(&got, &inv, s);
}

#[test]
fn fft_along_axis_zero_of_a_transposed_matrix() {
    let mut rng = common::rng();
    let (r, c) = (5, 6);
    let x = common::uniform(&mut rng, r * c, -1.0, 1.0);
    let t = ops::transpose(&Array::from_slice(&x, &[r as i32, c as i32]).unwrap()).unwrap();
    // t is c × r; transforming its axis 1 transforms the rows of x.
    let got = read_c(&fft::fft(&t, None, 1, FftNorm::Backward).unwrap());
    // Row j of t is column j of x.
    for j in 0..c {
        let col: Vec<C> = (0..r).map(|i| (x[i * c + j] as f64, 0.0)).collect();
        assert_close_c(&got[j * r..(j + 1) * r], &dft(&col, r, -1.0), l1(&col));
    }
    // And axis 0 of t: for each column of t (row of x).
    let got = read_c(&fft::fft(&t, None, 0, FftNorm::Backward).unwrap());
    for i in 0..r {
        let row = real(&x[i * c..(i + 1) * c]);
        let want = dft(&row, c, -1.0);
        let col: Vec<C> = (0..c).map(|k| got[k * r + i]).collect();
        assert_close_c(&col, &want, l1(&row));
    }
}

#[test]
fn rfft_and_irfft() {
    let mut rng = common::rng();
    for n in [8usize, 9, 30] {
        let x = common::uniform(&mut rng, n, -1.0, 1.0);
        let a = Array::from_slice(&x, &[n as i32]).unwrap();
        let spec = fft::rfft(&a, None, -1, FftNorm::Backward).unwrap();
        assert_eq!(spec.shape(), vec![(n / 2 + 1) as i32]);
        let full = dft(&real(&x), n, -1.0);
        assert_close_c(&read_c(&spec), &full[..n / 2 + 1], l1(&real(&x)));

        // Round trip; the default length only fits even n.
        let back = fft::irfft(&spec, Some(n as i32), -1, FftNorm::Backward).unwrap();
        assert_eq!(back.dtype(), Dtype::Float32);
        common::assert_close_f32(
            &back.to_vec::<f32>().unwrap(),
            &common::to_f64(&x),
            RTOL,
            1.0,
        );
        let default = fft::irfft(&spec, None, -1, FftNorm::Backward).unwrap();
        assert_eq!(default.shape(), vec![(2 * (n / 2)) as i32]);
        if n % 2 == 0 {
            common::assert_close_f32(
                &default.to_vec::<f32>().unwrap(),
                &common::to_f64(&x),
                RTOL,
                1.0,
            );
        }
    }
}

/// Naive 2-D DFT of an r×c complex matrix (forward).
fn dft2(x: &[C], r: usize, c: usize) -> Vec<C> {
    let rows: Vec<C> = (0..r)
        .flat_map(|i| dft(&x[i * c..(i + 1) * c], c, -1.0))
        .collect();
    let mut out = vec![(0.0, 0.0); r * c];
    for j in 0..c {
        let col: Vec<C> = (0..r).map(|i| rows[i * c + j]).collect();
        for (i, v) in dft(&col, r, -1.0).into_iter().enumerate() {
            out[i * c + j] = v;
        }
    }
    out
}

#[test]
fn fft2_fftn_and_inverses() {
    let mut rng = common::rng();
    let (b, r, c) = (2usize, 4usize, 6usize);
    let z = complex_input(&mut rng, b * r * c);
    let zc: Vec<C> = z.iter().map(|v| (v.re as f64, v.im as f64)).collect();
    let a = Array::from_slice(&z, &[b as i32, r as i32, c as i32]).unwrap();
    let got = read_c(&fft::fft2(&a, None, [-2, -1], FftNorm::Backward).unwrap());
    for k in 0..b {
        let s = k * r * c..(k + 1) * r * c;
        let want = dft2(&zc[s.clone()], r, c);
        assert_close_c(&got[s.clone()], &want, l1(&zc[s]));
    }
    let round = read_c(
        &fft::ifft2(
            &fft::fft2(&a, None, [-2, -1], FftNorm::Backward).unwrap(),
            None,
            [-2, -1],
            FftNorm::Backward,
        )
        .unwrap(),
    );
    assert_close_c(&round, &zc, 1.0);

    // fftn over all axes = DFT along axis 0 of the per-matrix 2-D transforms.
    let got = read_c(&fft::fftn(&a, None, None, FftNorm::Backward).unwrap());
    let per: Vec<C> = (0..b)
        .flat_map(|k| dft2(&zc[k * r * c..(k + 1) * r * c], r, c))
        .collect();
    for p in 0..r * c {
        let pair: Vec<C> = (0..b).map(|k| per[k * r * c + p]).collect();
        let want = dft(&pair, b, -1.0);
        for k in 0..b {
            let g = got[k * r * c + p];
            assert!(
                (g.0 - want[k].0).abs().max((g.1 - want[k].1).abs()) <= RTOL * l1(&zc),
                "fftn mismatch"
            );
        }
    }
    let round = read_c(
        &fft::ifftn(
            &fft::fftn(&a, None, None, FftNorm::Backward).unwrap(),
            None,
            None,
            FftNorm::Backward,
        )
        .unwrap(),
    );
    assert_close_c(&round, &zc, 1.0);

    // Given lengths pad.
    let padded = fft::fft2(&a, Some([5, 8]), [1, 2], FftNorm::Backward).unwrap();
    assert_eq!(padded.shape(), vec![2, 5, 8]);
    assert!(fft::fftn(&a, Some(&[4]), Some(&[1, 2]), FftNorm::Backward).is_err());
}

#[test]
fn real_2d_and_nd_round_trips() {
    let mut rng = common::rng();
    let (r, c) = (6usize, 8usize);
    let x = common::uniform(&mut rng, r * c, -1.0, 1.0);
    let a = Array::from_slice(&x, &[r as i32, c as i32]).unwrap();
    let spec = fft::rfft2(&a, None, [0, 1], FftNorm::Backward).unwrap();
    assert_eq!(spec.shape(), vec![r as i32, (c / 2 + 1) as i32]);
    let full = dft2(&real(&x), r, c);
    let want: Vec<C> = (0..r)
        .flat_map(|i| full[i * c..i * c + c / 2 + 1].to_vec())
        .collect();
    assert_close_c(&read_c(&spec), &want, l1(&real(&x)));
    let back = fft::irfft2(&spec, None, [0, 1], FftNorm::Backward).unwrap();
    common::assert_close_f32(
        &back.to_vec::<f32>().unwrap(),
        &common::to_f64(&x),
        RTOL,
        1.0,
    );

    let spec = fft::rfftn(&a, None, None, FftNorm::Backward).unwrap();
    let back = fft::irfftn(&spec, Some(&[r as i32, c as i32]), None, FftNorm::Backward).unwrap();
    common::assert_close_f32(
        &back.to_vec::<f32>().unwrap(),
        &common::to_f64(&x),
        RTOL,
        1.0,
    );
}

#[test]
fn shifts_and_frequencies() {
    let n = 7;
    let a = Array::from_slice(&(0..n).collect::<Vec<i32>>(), &[n]).unwrap();
    let shifted = fft::fftshift(&a, None).unwrap().to_vec::<i32>().unwrap();
    assert_eq!(shifted, vec![4, 5, 6, 0, 1, 2, 3]);
    let back = fft::ifftshift(&fft::fftshift(&a, None).unwrap(), None).unwrap();
    assert_eq!(back.to_vec::<i32>().unwrap(), (0..n).collect::<Vec<_>>());
    let m = Array::from_slice(&(0..6).collect::<Vec<i32>>(), &[2, 3]).unwrap();
    let s = fft::fftshift(&m, Some(&[1]))
        .unwrap()
        .to_vec::<i32>()
        .unwrap();
    assert_eq!(s, vec![2, 0, 1, 5, 3, 4]);

    let d = 0.5;
    let f = fft::fftfreq(8, d).unwrap().to_vec::<f32>().unwrap();
    let want: Vec<f64> = [0, 1, 2, 3, -4, -3, -2, -1]
        .iter()
        .map(|k| *k as f64 / (8.0 * d))
        .collect();
    common::assert_close_f32(&f, &want, RTOL, 1.0);
    let f = fft::rfftfreq(8, d).unwrap().to_vec::<f32>().unwrap();
    common::assert_close_f32(
        &f,
        &want[..4]
            .iter()
            .cloned()
            .chain([4.0 / (8.0 * d)])
            .collect::<Vec<_>>(),
        RTOL,
        1.0,
    );
}
