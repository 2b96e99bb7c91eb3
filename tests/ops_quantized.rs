//! Quantization ops: bit-exact parity with Python MLX fixtures
//! (`tests/fixtures/nn_reference.py`), f64 invariants of the affine format on
//! fresh random weights, `_on` twins, QuantizedLinear and `nn::quantize`, and
//! bad input.

mod common;

use std::path::PathBuf;

use common::{assert_close_f32, rng, to_f64, uniform};
use mlx_rs::nn::{self, Linear, Module};
use mlx_rs::ops::{self, QuantizationMode};
use mlx_rs::{io, Array, Device, Dtype};

fn fixture() -> std::collections::HashMap<String, Array> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/nn/quantized.safetensors");
    io::load_safetensors(&path).unwrap().arrays
}

fn f32s(a: &Array) -> Vec<f32> {
    a.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap()
}

/// Unpacks `bits`-bit values stored little-endian in `uint32` words.
fn unpack(words: &[u32], bits: usize, count: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let bit = i * bits;
        let (w, off) = (bit / 32, bit % 32);
        let mut v = (words[w] as u64) >> off;
        if off + bits > 32 {
            v |= (words[w + 1] as u64) << (32 - off);
        }
        out.push((v & ((1u64 << bits) - 1)) as u32);
    }
    out
}

#[test]
fn quantize_is_bit_exact_with_python_mlx() {
    let f = fixture();
    let w = &f["io.w"];
    for (bits, gs) in [(4, 64), (8, 32), (3, 32)] {
        let tag = format!("io.b{bits}g{gs}");
        let q = ops::quantize(w, gs, bits, QuantizationMode::Affine).unwrap();
        assert_eq!(
            q.weight.to_vec::<u32>().unwrap(),
            f[&format!("{tag}.wq")].to_vec::<u32>().unwrap(),
            "{tag}"
        );
        assert_eq!(f32s(&q.scales), f32s(&f[&format!("{tag}.scales")]), "{tag}");
        assert_eq!(
            f32s(q.biases.as_ref().unwrap()),
            f32s(&f[&format!("{tag}.biases")]),
            "{tag}"
        );
        let d = ops::dequantize(
            &q.weight,
            &q.scales,
            q.biases.as_ref(),
            gs,
            bits,
            QuantizationMode::Affine,
        )
        .unwrap();
        // Dequantizing is `scale * q + bias`: bit-exact with Python MLX's CPU
        // on the CPU; a GPU may fuse the multiply-add (one rounding less).
        let (got, want) = (f32s(&d), f32s(&f[&format!("{tag}.dequantized")]));
        if mlx_rs::Device::default_device().unwrap().device_type() == mlx_rs::DeviceType::Gpu {
            assert_close_f32(&got, &to_f64(&want), 1e-6, 1.0);
        } else {
            assert_eq!(got, want, "{tag}");
        }
        let y = ops::quantized_matmul(
            &f["io.x"],
            &q.weight,
            &q.scales,
            q.biases.as_ref(),
            true,
            gs,
            bits,
            QuantizationMode::Affine,
        )
        .unwrap();
        assert_close_f32(
            &f32s(&y),
            &to_f64(&f32s(&f[&format!("{tag}.qmm")])),
            1e-5,
            1.0,
        );
    }
}

#[test]
fn affine_format_invariants_in_f64() {
    let mut r = rng();
    let (rows, k) = (16usize, 256usize);
    let w = uniform(&mut r, rows * k, -2.0, 2.0);
    let x = uniform(&mut r, 3 * k, -1.0, 1.0);
    let wa = Array::from_slice(&w, &[rows as i32, k as i32]).unwrap();
    for (bits, gs) in [(2usize, 32usize), (4, 64), (5, 128), (6, 64), (8, 128)] {
        let q = ops::quantize(&wa, gs as i32, bits as i32, QuantizationMode::Affine).unwrap();
        assert_eq!(q.weight.shape(), [rows as i32, (k * bits / 32) as i32]);
        assert_eq!(q.scales.shape(), [rows as i32, (k / gs) as i32]);
        let words = q.weight.to_vec::<u32>().unwrap();
        let (scales, biases) = (f32s(&q.scales), f32s(q.biases.as_ref().unwrap()));
        let per_row = k * bits / 32;
        // Dequantize in f64 from the packed integers, and check every value
        // lies within one step (|scale|) of the original.
        let mut deq = vec![0.0f64; rows * k];
        for i in 0..rows {
            let ints = unpack(&words[i * per_row..(i + 1) * per_row], bits, k);
            for j in 0..k {
                let g = i * (k / gs) + j / gs;
                deq[i * k + j] = scales[g] as f64 * ints[j] as f64 + biases[g] as f64;
                let step = (scales[g] as f64).abs();
                assert!(
                    (deq[i * k + j] - w[i * k + j] as f64).abs() <= step * (1.0 + 1e-5) + 1e-6,
                    "bits {bits}: value {} reconstructed as {}",
                    w[i * k + j],
                    deq[i * k + j]
                );
            }
        }
        let d = ops::dequantize(
            &q.weight,
            &q.scales,
            q.biases.as_ref(),
            gs as i32,
            bits as i32,
            QuantizationMode::Affine,
        )
        .unwrap();
        assert_close_f32(&f32s(&d), &deq, 1e-6, 1.0);
        // quantized_matmul == x @ deq.T in f64, and without transpose.
        let mut want = vec![0.0f64; 3 * rows];
        for a in 0..3 {
            for i in 0..rows {
                want[a * rows + i] = (0..k).map(|j| x[a * k + j] as f64 * deq[i * k + j]).sum();
            }
        }
        let xa = Array::from_slice(&x, &[3, k as i32]).unwrap();
        let y = ops::quantized_matmul(
            &xa,
            &q.weight,
            &q.scales,
            q.biases.as_ref(),
            true,
            gs as i32,
            bits as i32,
            QuantizationMode::Affine,
        )
        .unwrap();
        assert_close_f32(&f32s(&y), &want, 1e-4, 1.0);
        let y_cpu = ops::quantized_matmul_on(
            &xa,
            &q.weight,
            &q.scales,
            q.biases.as_ref(),
            true,
            gs as i32,
            bits as i32,
            QuantizationMode::Affine,
            &Device::cpu(),
        )
        .unwrap();
        assert_close_f32(&f32s(&y_cpu), &want, 1e-4, 1.0);
    }
}

#[test]
fn gather_qmm_matches_python_mlx_and_per_expert_matmuls() {
    let f = fixture();
    let (x, wq, s, b, idx) = (
        &f["io.experts.x"],
        &f["io.experts.wq"],
        &f["io.experts.scales"],
        &f["io.experts.biases"],
        &f["io.experts.idx"],
    );
    let y = ops::gather_qmm(
        x,
        wq,
        s,
        Some(b),
        None,
        Some(idx),
        true,
        32,
        4,
        QuantizationMode::Affine,
        false,
    )
    .unwrap();
    assert_eq!(y.shape(), f["io.experts.y"].shape());
    assert_close_f32(&f32s(&y), &to_f64(&f32s(&f["io.experts.y"])), 1e-5, 1.0);
    // Each row equals quantized_matmul with its expert's slice.
    let ids = idx.to_vec::<u32>().unwrap();
    let yv = f32s(&y);
    for (row, &e) in ids.iter().enumerate() {
        let pick = |a: &Array| {
            ops::take_axis(a, &Array::from_slice(&[e as i32], &[1]).unwrap(), 0)
                .and_then(|t| ops::squeeze_axes(&t, &[0]))
                .unwrap()
        };
        let xr = ops::take_axis(x, &Array::from_slice(&[row as i32], &[1]).unwrap(), 0).unwrap();
        let xr = ops::squeeze_axes(&xr, &[0]).unwrap();
        let one = ops::quantized_matmul(
            &xr,
            &pick(wq),
            &pick(s),
            Some(&pick(b)),
            true,
            32,
            4,
            QuantizationMode::Affine,
        )
        .unwrap();
        let n = one.size();
        assert_close_f32(&yv[row * n..(row + 1) * n], &to_f64(&f32s(&one)), 1e-5, 1.0);
    }
}

#[test]
fn quantized_linear_matches_python_mlx() {
    let f = fixture();
    let mut layer = Linear::from_weights(
        f["io.w"].clone(),
        Some(ops::zeros(&[24], Dtype::Float32).unwrap()),
    )
    .unwrap();
    assert_eq!(nn::quantize(&mut layer, 64, 4).unwrap(), 1);
    // Python MLX's names load strictly into the quantized layer.
    let params: nn::Params = f
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("qlinear.")
                .map(|n| (n.to_string(), v.clone()))
        })
        .collect();
    assert_eq!(
        params.keys().collect::<Vec<_>>(),
        ["bias", "biases", "scales", "weight"]
    );
    nn::io::load_params(&mut layer, &params, nn::LoadOptions::default()).unwrap();
    let y = layer.forward(&f["io.x"]).unwrap();
    assert_close_f32(&f32s(&y), &to_f64(&f32s(&f["io.qlinear.y"])), 1e-5, 1.0);
    assert!(
        layer.trainable_parameters().is_empty(),
        "quantized parameters are frozen"
    );
    assert!(layer.quantize(64, 4).is_err());
    let err = layer
        .forward(&ops::ones(&[1, 64], Dtype::Float32).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("[1, 64]") && err.contains("128"), "{err}");
}

#[test]
fn fp8_round_trip_on_representable_values() {
    // E4M3 represents these exactly.
    let v = [0.0f32, 1.0, -2.5, 0.125, 448.0, -0.015625];
    let a = Array::from_slice(&v, &[6]).unwrap();
    let q = ops::to_fp8(&a).unwrap();
    assert_eq!(q.dtype(), Dtype::Uint8);
    assert_eq!(f32s(&ops::from_fp8(&q, Dtype::Float32).unwrap()), v);
    assert!(ops::from_fp8(&q, Dtype::Int32).is_err());
}

#[test]
fn bad_quantization_input_is_an_error() {
    let w = ops::ones(&[4, 64], Dtype::Float32).unwrap();
    assert!(ops::quantize(&w, 64, 7, QuantizationMode::Affine).is_err());
    assert!(ops::quantize(
        &ops::ones(&[4, 48], Dtype::Float32).unwrap(),
        64,
        4,
        QuantizationMode::Affine
    )
    .is_err());
    let q = ops::quantize(&w, 64, 4, QuantizationMode::Affine).unwrap();
    assert!(ops::dequantize(&q.weight, &q.scales, None, 64, 4, QuantizationMode::Affine).is_err());
    let x = ops::ones(&[1, 32], Dtype::Float32).unwrap();
    assert!(ops::quantized_matmul(
        &x,
        &q.weight,
        &q.scales,
        q.biases.as_ref(),
        true,
        64,
        4,
        QuantizationMode::Affine
    )
    .and_then(|y| y.eval())
    .is_err());
    assert!(ops::qqmm(&x, &q.weight, &q.scales, 64, 4, QuantizationMode::Affine).is_err());
    assert!(nn::QuantizedLinear::from_weights(
        &ops::ones(&[4, 48], Dtype::Float32).unwrap(),
        None,
        32,
        4,
        nn::Activation::Identity
    )
    .is_err());
}
