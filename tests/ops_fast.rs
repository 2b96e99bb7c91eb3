//! `ops::fast` against explicit f64 references: RMS and layer norm, the rotary
//! embedding formula, softmax attention and cross-entropy.

mod common;

use mlx_rs::ops::fast::{self, AttentionMask};
use mlx_rs::{bf16, ops, Array, Dtype};
use rand::Rng;

const RTOL: f64 = 1e-5;

fn arr(data: &[f32], shape: &[usize]) -> Array {
    let shape: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
    Array::from_slice(data, &shape).unwrap()
}

fn rms_ref(x: &[f64], w: Option<&[f64]>, d: usize, eps: f64) -> Vec<f64> {
    x.chunks(d)
        .flat_map(|row| {
            let ms = row.iter().map(|v| v * v).sum::<f64>() / d as f64;
            let r = 1.0 / (ms + eps).sqrt();
            row.iter()
                .enumerate()
                .map(move |(i, v)| v * r * w.map_or(1.0, |w| w[i]))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn layer_ref(x: &[f64], w: Option<&[f64]>, b: Option<&[f64]>, d: usize, eps: f64) -> Vec<f64> {
    x.chunks(d)
        .flat_map(|row| {
            let mean = row.iter().sum::<f64>() / d as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
            let r = 1.0 / (var + eps).sqrt();
            row.iter()
                .enumerate()
                .map(move |(i, v)| {
                    (v - mean) * r * w.map_or(1.0, |w| w[i]) + b.map_or(0.0, |b| b[i])
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn rms_norm_with_and_without_weight() {
    let mut rng = common::rng();
    let (rows, d) = (6, 40);
    let x = common::uniform(&mut rng, rows * d, -2.0, 2.0);
    let w = common::uniform(&mut rng, d, 0.5, 1.5);
    let eps = 1e-5f32;
    let (x64, w64) = (common::to_f64(&x), common::to_f64(&w));
    let xa = arr(&x, &[2, 3, d]);
    let got = fast::rms_norm(&xa, Some(&arr(&w, &[d])), eps).unwrap();
    assert_eq!(got.shape(), vec![2, 3, d as i32]);
    let want = rms_ref(&x64, Some(&w64), d, eps as f64);
    common::assert_close_f32(&got.to_vec::<f32>().unwrap(), &want, RTOL, 1.0);
    let got = fast::rms_norm(&xa, None, eps).unwrap();
    let want = rms_ref(&x64, None, d, eps as f64);
    common::assert_close_f32(&got.to_vec::<f32>().unwrap(), &want, RTOL, 1.0);

    // Transposed input: normalizes the rows of the transpose.
    let t = ops::transpose(&arr(&x, &[d, rows])).unwrap(); // rows × d view
    let got = fast::rms_norm(&t, None, eps)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let tx: Vec<f64> = (0..rows)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .map(|(i, j)| x64[j * rows + i])
        .collect();
    common::assert_close_f32(&got, &rms_ref(&tx, None, d, eps as f64), RTOL, 1.0);

    // bf16 input.
    let xb: Vec<bf16> = x.iter().map(|v| bf16::from_f32(*v)).collect();
    let xb64: Vec<f64> = xb.iter().map(|v| v.to_f64()).collect();
    let got = fast::rms_norm(
        &Array::from_slice(&xb, &[rows as i32, d as i32]).unwrap(),
        None,
        eps,
    )
    .unwrap();
    assert_eq!(got.dtype(), Dtype::Bfloat16);
    let got: Vec<f32> = got
        .to_vec::<bf16>()
        .unwrap()
        .iter()
        .map(|v| v.to_f32())
        .collect();
    common::assert_close_f32(&got, &rms_ref(&xb64, None, d, eps as f64), 1e-2, 1.0);

    // A weight of the wrong length.
    assert!(fast::rms_norm(&xa, Some(&arr(&w[..d - 1], &[d - 1])), eps).is_err());
}

#[test]
fn layer_norm_with_optional_affine() {
    let mut rng = common::rng();
    let (rows, d) = (5, 24);
    let x = common::uniform(&mut rng, rows * d, -3.0, 1.0);
    let w = common::uniform(&mut rng, d, 0.5, 1.5);
    let b = common::uniform(&mut rng, d, -1.0, 1.0);
    let eps = 1e-5f32;
    let (x64, w64, b64) = (common::to_f64(&x), common::to_f64(&w), common::to_f64(&b));
    let xa = arr(&x, &[rows, d]);
    let (wa, ba) = (arr(&w, &[d]), arr(&b, &[d]));
    for (wo, bo) in [(true, true), (true, false), (false, true), (false, false)] {
        let got = fast::layer_norm(&xa, wo.then_some(&wa), bo.then_some(&ba), eps).unwrap();
        let want = layer_ref(
            &x64,
            wo.then_some(&w64[..]),
            bo.then_some(&b64[..]),
            d,
            eps as f64,
        );
        common::assert_close_f32(&got.to_vec::<f32>().unwrap(), &want, RTOL, 1.0);
    }
    assert!(fast::layer_norm(&xa, None, Some(&arr(&b[..3], &[3])), eps).is_err());
}

/// Rotary embedding reference for x `[n, l, d]` (positions along axis 1).
#[allow(clippy::too_many_arguments)]
fn rope_ref(
    x: &[f64],
    n: usize,
    l: usize,
    d: usize,
    dims: usize,
    traditional: bool,
    theta: &[f64],
    scale: f64,
    offset: usize,
) -> Vec<f64> {
    let mut out = x.to_vec();
    let half = dims / 2;
    for b in 0..n {
        for p in 0..l {
            let row = (b * l + p) * d;
            let pos = (offset + p) as f64 * scale;
            for (i, th) in theta.iter().enumerate().take(half) {
                let (ia, ib) = if traditional {
                    (2 * i, 2 * i + 1)
                } else {
                    (i, i + half)
                };
                let (a, c) = (x[row + ia], x[row + ib]);
                let (s, co) = (pos * th).sin_cos();
                out[row + ia] = a * co - c * s;
                out[row + ib] = a * s + c * co;
            }
        }
    }
    out
}

#[test]
fn rope_matches_the_formula() {
    let mut rng = common::rng();
    let (n, l, d) = (3, 7, 16);
    let x = common::uniform(&mut rng, n * l * d, -1.0, 1.0);
    let x64 = common::to_f64(&x);
    let xa = arr(&x, &[1, n, l, d]);
    for (dims, traditional) in [(16, false), (16, true), (8, false), (8, true)] {
        let base = 10000.0f32;
        let scale = rng.gen_range(0.5f32..1.5);
        let offset = rng.gen_range(0..20);
        let theta: Vec<f64> = (0..dims / 2)
            .map(|i| (base as f64).powf(-2.0 * i as f64 / dims as f64))
            .collect();
        let got = fast::rope(
            &xa,
            dims as i32,
            traditional,
            Some(base),
            scale,
            offset,
            None,
        )
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
        let want = rope_ref(
            &x64,
            n,
            l,
            d,
            dims,
            traditional,
            &theta,
            scale as f64,
            offset as usize,
        );
        // Compare on the scale of the inputs (|x| < 1): outputs near zero
        // carry the rounding error of their larger inputs.
        common::assert_close_f32(&got, &want, RTOL, 1.0);
    }
}

#[test]
fn rope_with_frequencies_and_dynamic_offset() {
    let mut rng = common::rng();
    let (n, l, d) = (2, 5, 8);
    let x = common::uniform(&mut rng, n * l * d, -1.0, 1.0);
    let x64 = common::to_f64(&x);
    let xa = arr(&x, &[n, l, d]);
    let freqs = common::uniform(&mut rng, d / 2, 1.0, 50.0);
    let theta: Vec<f64> = freqs.iter().map(|f| 1.0 / *f as f64).collect();
    let got = fast::rope(
        &xa,
        d as i32,
        false,
        None,
        1.0,
        3,
        Some(&arr(&freqs, &[d / 2])),
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap();
    let want = rope_ref(&x64, n, l, d, d, false, &theta, 1.0, 3);
    common::assert_close_f32(&got, &want, RTOL, 1.0);

    let offset = Array::scalar(4i32).unwrap();
    let got = fast::rope_dynamic(&xa, d as i32, true, Some(500.0), 1.0, &offset, None)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let theta: Vec<f64> = (0..d / 2)
        .map(|i| 500f64.powf(-2.0 * i as f64 / d as f64))
        .collect();
    let want = rope_ref(&x64, n, l, d, d, true, &theta, 1.0, 4);
    common::assert_close_f32(&got, &want, RTOL, 1.0);

    // Neither (or both) of base and freqs.
    assert!(fast::rope(&xa, d as i32, false, None, 1.0, 0, None).is_err());
}

/// Softmax attention in f64. `mask(h, i, j)` gives `None` to drop a key or an
/// additive bias.
#[allow(clippy::too_many_arguments)]
fn attention_ref(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    (b, hq, hkv, lq, lkv, d, dv): (usize, usize, usize, usize, usize, usize, usize),
    scale: f64,
    mask: &dyn Fn(usize, usize, usize, usize) -> Option<f64>,
) -> Vec<f64> {
    let mut out = vec![0.0; b * hq * lq * dv];
    let group = hq / hkv;
    for bi in 0..b {
        for h in 0..hq {
            let kh = h / group;
            for i in 0..lq {
                let qrow = &q[((bi * hq + h) * lq + i) * d..][..d];
                let scores: Vec<Option<f64>> = (0..lkv)
                    .map(|j| {
                        let krow = &k[((bi * hkv + kh) * lkv + j) * d..][..d];
                        let s = qrow.iter().zip(krow).map(|(a, c)| a * c).sum::<f64>() * scale;
                        mask(bi, h, i, j).map(|m| s + m)
                    })
                    .collect();
                let mx = scores.iter().flatten().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores
                    .iter()
                    .map(|s| s.map_or(0.0, |s| (s - mx).exp()))
                    .collect();
                let z: f64 = e.iter().sum();
                for (j, w) in e.iter().enumerate() {
                    let vrow = &v[((bi * hkv + kh) * lkv + j) * dv..][..dv];
                    for c in 0..dv {
                        out[((bi * hq + h) * lq + i) * dv + c] += w / z * vrow[c];
                    }
                }
            }
        }
    }
    out
}

#[test]
fn attention_matches_explicit_softmax() {
    let mut rng = common::rng();
    let dims @ (b, hq, hkv, lq, lkv, d, dv) =
        (2usize, 4usize, 2usize, 5usize, 7usize, 8usize, 8usize);
    let q = common::uniform(&mut rng, b * hq * lq * d, -1.0, 1.0);
    let k = common::uniform(&mut rng, b * hkv * lkv * d, -1.0, 1.0);
    let v = common::uniform(&mut rng, b * hkv * lkv * dv, -1.0, 1.0);
    let (q64, k64, v64) = (common::to_f64(&q), common::to_f64(&k), common::to_f64(&v));
    let qa = arr(&q, &[b, hq, lq, d]);
    let ka = arr(&k, &[b, hkv, lkv, d]);
    let va = arr(&v, &[b, hkv, lkv, dv]);
    let scale = 1.0 / (d as f32).sqrt();
    let check = |mask: AttentionMask<'_>, f: &dyn Fn(usize, usize, usize, usize) -> Option<f64>| {
        let got = fast::scaled_dot_product_attention(&qa, &ka, &va, scale, mask).unwrap();
        assert_eq!(got.shape(), vec![b as i32, hq as i32, lq as i32, dv as i32]);
        let want = attention_ref(&q64, &k64, &v64, dims, scale as f64, f);
        // Outputs are convex combinations of values with |v| < 1.
        common::assert_close_f32(&got.to_vec::<f32>().unwrap(), &want, RTOL, 1.0);
    };
    check(AttentionMask::None, &|_, _, _, _| Some(0.0));
    // Causal, aligned to the last key.
    check(AttentionMask::Causal, &|_, _, i, j| {
        (j <= i + (lkv - lq)).then_some(0.0)
    });

    // Boolean mask broadcast over batch and heads.
    let keep: Vec<bool> = (0..lq * lkv)
        .map(|i| i % lkv == 0 || rng.gen_bool(0.6))
        .collect();
    let keep_a = Array::from_slice(&keep, &[lq as i32, lkv as i32]).unwrap();
    check(AttentionMask::Array(&keep_a), &|_, _, i, j| {
        keep[i * lkv + j].then_some(0.0)
    });

    // Additive mask per head.
    let bias = common::uniform(&mut rng, hq * lq * lkv, -2.0, 2.0);
    let bias_a = arr(&bias, &[1, hq, lq, lkv]);
    check(AttentionMask::Array(&bias_a), &|_, h, i, j| {
        Some(bias[(h * lq + i) * lkv + j] as f64)
    });
}

#[test]
fn attention_on_transposed_inputs_and_bad_shapes() {
    let mut rng = common::rng();
    let (b, h, l, d) = (1usize, 2usize, 6usize, 4usize);
    // Build [B, L, H, D] and swap to [B, H, L, D]: a non-contiguous view.
    let q = common::uniform(&mut rng, b * l * h * d, -1.0, 1.0);
    let k = common::uniform(&mut rng, b * l * h * d, -1.0, 1.0);
    let v = common::uniform(&mut rng, b * l * h * d, -1.0, 1.0);
    let to_bhld = |x: &[f32]| -> Vec<f64> {
        let mut out = vec![0.0; x.len()];
        for li in 0..l {
            for hi in 0..h {
                for c in 0..d {
                    out[(hi * l + li) * d + c] = x[(li * h + hi) * d + c] as f64;
                }
            }
        }
        out
    };
    let view = |x: &[f32]| ops::swapaxes(&arr(x, &[b, l, h, d]), 1, 2).unwrap();
    let got = fast::scaled_dot_product_attention(
        &view(&q),
        &view(&k),
        &view(&v),
        0.5,
        AttentionMask::Causal,
    )
    .unwrap();
    let want = attention_ref(
        &to_bhld(&q),
        &to_bhld(&k),
        &to_bhld(&v),
        (b, h, h, l, l, d, d),
        0.5,
        &|_, _, i, j| (j <= i).then_some(0.0),
    );
    common::assert_close_f32(&got.to_vec::<f32>().unwrap(), &want, RTOL, 1.0);

    // Mismatched head size, and query heads not a multiple of key heads.
    let qa = arr(&q, &[b, h, l, d]);
    let k3 = arr(&k[..b * h * l * (d - 1)], &[b, h, l, d - 1]);
    assert!(fast::scaled_dot_product_attention(&qa, &k3, &k3, 0.5, AttentionMask::None).is_err());
    let q3 = arr(
        &common::uniform(&mut rng, 3 * l * d, -1.0, 1.0),
        &[1, 3, l, d],
    );
    let ka = arr(&k, &[b, h, l, d]);
    assert!(fast::scaled_dot_product_attention(&q3, &ka, &ka, 0.5, AttentionMask::None).is_err());
}

#[test]
fn cross_entropy_per_row() {
    let mut rng = common::rng();
    let (rows, classes) = (6usize, 11usize);
    let logits = common::uniform(&mut rng, rows * classes, -3.0, 3.0);
    let targets: Vec<i32> = (0..rows)
        .map(|_| rng.gen_range(0..classes as i32))
        .collect();
    let got = match fast::cross_entropy(
        &arr(&logits, &[rows, classes]),
        &Array::from_slice(&targets, &[rows as i32]).unwrap(),
    ) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(got.shape(), vec![rows as i32]);
    let want: Vec<f64> = (0..rows)
        .map(|r| {
            let row = common::to_f64(&logits[r * classes..(r + 1) * classes]);
            let m = row.iter().cloned().fold(f64::MIN, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            lse - row[targets[r] as usize]
        })
        .collect();
    common::assert_close_f32(&got.to_vec::<f32>().unwrap(), &want, RTOL, 1.0);
}
