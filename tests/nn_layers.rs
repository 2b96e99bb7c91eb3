//! mlx-nn layers: parity with f64 references (Linear, activations, norms,
//! Embedding, Dropout statistics) and with Python MLX fixtures written by
//! `tests/fixtures/nn_reference.py` (attention, RoPE, convolutions, group
//! norm), plus the Module trait's naming, freezing, updating and dtype.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{assert_close_f32, rng, to_f64, uniform};
use mlx_rs::nn::{
    self, Activation, Conv1d, Conv2d, Dropout, Embedding, GroupNorm, LayerNorm, Linear,
    LoadOptions, Module, MultiHeadAttention, Params, RmsNorm, Rope, Sequential,
};
use mlx_rs::ops::fast::AttentionMask;
use mlx_rs::{io, Array, Dtype};

fn fixture(name: &str) -> (Params, BTreeMap<String, Array>) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/nn/{name}.safetensors"));
    let all = io::load_safetensors(&path).expect("fixture loads");
    let mut params = Params::new();
    let mut io_arrays = BTreeMap::new();
    for (k, v) in all.arrays {
        match k.strip_prefix("io.") {
            Some(rest) => {
                io_arrays.insert(rest.to_string(), v);
            }
            None => {
                params.insert(k, v);
            }
        }
    }
    (params, io_arrays)
}

fn f32s(a: &Array) -> Vec<f32> {
    a.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap()
}

fn arr(v: &[f32], shape: &[i32]) -> Array {
    Array::from_slice(v, shape).unwrap()
}

/// erf to ~1e-15 (series for small |x|, continued fraction tail otherwise).
fn erf(x: f64) -> f64 {
    if x.abs() < 2.5 {
        let mut sum = x;
        let mut term = x;
        let x2 = x * x;
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc continued fraction (Lentz), accurate for |x| >= 2.5.
        let ax = x.abs();
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = (k as f64 / 2.0) / (ax + f);
        }
        let erfc = (-ax * ax).exp() / (std::f64::consts::PI.sqrt() * (ax + f));
        (1.0 - erfc).copysign(x)
    }
}

#[test]
fn linear_matches_f64() {
    let mut r = rng();
    let (n, k, m) = (3usize, 7usize, 5usize);
    let (x, w, b) = (
        uniform(&mut r, n * k, -1.0, 1.0),
        uniform(&mut r, m * k, -1.0, 1.0),
        uniform(&mut r, m, -1.0, 1.0),
    );
    for act in [
        Activation::Identity,
        Activation::Relu,
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Tanh,
        Activation::Sigmoid,
    ] {
        let layer =
            Linear::from_weights(arr(&w, &[m as i32, k as i32]), Some(arr(&b, &[m as i32])))
                .unwrap()
                .with_activation(act);
        let y = layer.forward(&arr(&x, &[n as i32, k as i32])).unwrap();
        let mut want = vec![0.0f64; n * m];
        for i in 0..n {
            for j in 0..m {
                let mut s = b[j] as f64;
                for p in 0..k {
                    s += x[i * k + p] as f64 * w[j * k + p] as f64;
                }
                want[i * m + j] = act_f64(act, s);
            }
        }
        assert_close_f32(&f32s(&y), &want, 1e-5, 1.0);
    }
}

fn act_f64(act: Activation, v: f64) -> f64 {
    match act {
        Activation::Identity => v,
        Activation::Relu => v.max(0.0),
        Activation::Gelu => 0.5 * v * (1.0 + erf(v / 2f64.sqrt())),
        Activation::GeluTanh => {
            0.5 * v
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
        }
        Activation::Silu => v / (1.0 + (-v).exp()),
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
    }
}

#[test]
fn activations_match_f64() {
    let mut r = rng();
    let x = uniform(&mut r, 200, -6.0, 6.0);
    let a = arr(&x, &[200]);
    type ActFn = fn(&Array) -> mlx_rs::Result<Array>;
    let funcs: [(Activation, ActFn); 6] = [
        (Activation::Relu, nn::relu),
        (Activation::Gelu, nn::gelu),
        (Activation::GeluTanh, nn::gelu_tanh),
        (Activation::Silu, nn::silu),
        (Activation::Tanh, nn::tanh),
        (Activation::Sigmoid, nn::sigmoid),
    ];
    for (act, f) in funcs {
        let want: Vec<f64> = x.iter().map(|&v| act_f64(act, v as f64)).collect();
        assert_close_f32(&f32s(&f(&a).unwrap()), &want, 2e-6, 1.0);
        assert_close_f32(&f32s(&act.forward(&a).unwrap()), &want, 2e-6, 1.0);
    }
}

#[test]
fn linear_without_bias_and_batched_input() {
    let mut r = rng();
    let w = uniform(&mut r, 4 * 6, -1.0, 1.0);
    let x = uniform(&mut r, 2 * 3 * 6, -1.0, 1.0);
    let layer = Linear::from_weights(arr(&w, &[4, 6]), None).unwrap();
    let y = layer.forward(&arr(&x, &[2, 3, 6])).unwrap();
    assert_eq!(y.shape(), [2, 3, 4]);
    let want = common::matmul_f64(&to_f64(&x), &transpose_f64(&to_f64(&w), 4, 6), 6, 6, 4);
    assert_close_f32(&f32s(&y), &want, 1e-5, 1.0);
    assert_eq!(layer.parameters().keys().collect::<Vec<_>>(), ["weight"]);
}

fn transpose_f64(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; a.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = a[i * cols + j];
        }
    }
    t
}

#[test]
fn norms_match_f64() {
    let mut r = rng();
    let (rows, d) = (4usize, 10usize);
    let x = uniform(&mut r, rows * d, -3.0, 3.0);
    let (g, b) = (uniform(&mut r, d, 0.5, 1.5), uniform(&mut r, d, -0.5, 0.5));
    let eps = 1e-5f64;
    let mut ln = LayerNorm::new(d as i32, eps as f32, true).unwrap();
    ln.update(&Params::from([
        ("weight".into(), arr(&g, &[d as i32])),
        ("bias".into(), arr(&b, &[d as i32])),
    ]))
    .unwrap();
    let mut rms = RmsNorm::new(d as i32, eps as f32).unwrap();
    rms.update(&Params::from([("weight".into(), arr(&g, &[d as i32]))]))
        .unwrap();
    let xa = arr(&x, &[rows as i32, d as i32]);
    let (mut want_ln, mut want_rms) = (Vec::new(), Vec::new());
    for row in x.chunks(d) {
        let v: Vec<f64> = to_f64(row);
        let mean = v.iter().sum::<f64>() / d as f64;
        let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / d as f64;
        let ms = v.iter().map(|a| a * a).sum::<f64>() / d as f64;
        for j in 0..d {
            want_ln.push((v[j] - mean) / (var + eps).sqrt() * g[j] as f64 + b[j] as f64);
            want_rms.push(v[j] / (ms + eps).sqrt() * g[j] as f64);
        }
    }
    assert_close_f32(&f32s(&ln.forward(&xa).unwrap()), &want_ln, 1e-5, 1.0);
    assert_close_f32(&f32s(&rms.forward(&xa).unwrap()), &want_rms, 1e-5, 1.0);
}

#[test]
fn group_norm_matches_python_mlx_and_f64() {
    let (params, io) = fixture("group_norm");
    let mut gn = GroupNorm::new(3, 12, 1e-5, true).unwrap();
    nn::io::load_params(&mut gn, &params, LoadOptions::default()).unwrap();
    let y = gn.forward(&io["x"]).unwrap();
    assert_close_f32(&f32s(&y), &to_f64(&f32s(&io["y"])), 1e-4, 1.0);

    // f64: group k holds channels 4k..4k+4 over every position.
    let x = f32s(&io["x"]);
    let (w, b) = (f32s(&params["weight"]), f32s(&params["bias"]));
    let (batch, pos, c, groups) = (2usize, 16usize, 12usize, 3usize);
    let per = c / groups;
    let mut want = vec![0.0f64; x.len()];
    for n in 0..batch {
        for g in 0..groups {
            let idx: Vec<usize> = (0..pos)
                .flat_map(|p| (0..per).map(move |j| n * pos * c + p * c + g * per + j))
                .collect();
            let mean = idx.iter().map(|&i| x[i] as f64).sum::<f64>() / idx.len() as f64;
            let var = idx
                .iter()
                .map(|&i| (x[i] as f64 - mean).powi(2))
                .sum::<f64>()
                / idx.len() as f64;
            for &i in &idx {
                let ch = i % c;
                want[i] = (x[i] as f64 - mean) / (var + 1e-5).sqrt() * w[ch] as f64 + b[ch] as f64;
            }
        }
    }
    assert_close_f32(&f32s(&y), &want, 1e-4, 1.0);
}

#[test]
fn embedding_gathers_rows_and_rejects_bad_ids() {
    let mut r = rng();
    let table = uniform(&mut r, 6 * 3, -1.0, 1.0);
    let emb = Embedding::from_weight(arr(&table, &[6, 3])).unwrap();
    let ids = [5i32, 0, 2, 2];
    let y = emb
        .forward(&Array::from_slice(&ids, &[2, 2]).unwrap())
        .unwrap();
    assert_eq!(y.shape(), [2, 2, 3]);
    let want: Vec<f64> = ids
        .iter()
        .flat_map(|&i| to_f64(&table[i as usize * 3..i as usize * 3 + 3]))
        .collect();
    assert_close_f32(&f32s(&y), &want, 0.0, 1.0);
    let err = emb
        .forward(&Array::from_slice(&[6i32], &[1]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("0..6") && err.contains("[6, 3]"), "{err}");
    assert!(emb.forward(&arr(&[1.0], &[1])).is_err());
}

#[test]
fn dropout_keeps_expected_fraction_and_scales() {
    let mut d = Dropout::new(0.25).unwrap();
    let x = mlx_rs::ops::ones(&[20000], Dtype::Float32).unwrap();
    let y = f32s(&d.forward(&x).unwrap());
    let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
    // Binomial(20000, 0.75): standard deviation 0.003; 6 sigma.
    assert!((kept - 0.75).abs() < 0.02, "kept {kept}");
    assert!(y
        .iter()
        .all(|&v| v == 0.0 || (v as f64 - 1.0 / 0.75).abs() < 1e-6));
    d.eval_mode();
    assert!(f32s(&d.forward(&x).unwrap()).iter().all(|&v| v == 1.0));
    assert!(Dropout::new(1.0).is_err());
}

#[test]
fn multi_head_attention_matches_python_mlx() {
    let (params, io) = fixture("mha");
    let mut mha = MultiHeadAttention::new(16, 4, true).unwrap();
    nn::io::load_params(&mut mha, &params, LoadOptions::default()).unwrap();
    let (q, kv) = (&io["q"], &io["kv"]);
    let y = mha.attend(q, kv, kv, AttentionMask::None).unwrap();
    assert_close_f32(&f32s(&y), &to_f64(&f32s(&io["y"])), 1e-4, 1.0);
    let yc = mha.attend(q, q, q, AttentionMask::Causal).unwrap();
    assert_close_f32(&f32s(&yc), &to_f64(&f32s(&io["y_self_causal"])), 1e-4, 1.0);
    let yb = mha
        .attend(q, kv, kv, AttentionMask::Array(&io["bool_mask"]))
        .unwrap();
    assert_close_f32(&f32s(&yb), &to_f64(&f32s(&io["y_bool"])), 1e-4, 1.0);
    let err = mha
        .attend(q, &arr(&[0.0; 8], &[1, 1, 8]), kv, AttentionMask::None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[1, 1, 8]") && err.contains("16"), "{err}");
}

#[test]
fn rope_matches_python_mlx() {
    let (_, io) = fixture("rope");
    let x = &io["x"];
    let cases = [
        (Rope::new(8, false, 10000.0).unwrap(), 0, "y"),
        (Rope::new(8, true, 10000.0).unwrap(), 0, "y_traditional"),
        (Rope::new(8, false, 10000.0).unwrap(), 3, "y_offset3"),
    ];
    for (rope, offset, key) in cases {
        let y = rope.forward_at(x, offset).unwrap();
        assert_close_f32(&f32s(&y), &to_f64(&f32s(&io[key])), 1e-5, 1.0);
    }
    assert!(Rope::new(7, false, 10000.0).is_err());
}

#[test]
fn convolutions_match_python_mlx() {
    let (params, io) = fixture("conv1d");
    let mut c1 = Conv1d::new(3, 5, 3, 2, 1, true).unwrap();
    nn::io::load_params(&mut c1, &params, LoadOptions::default()).unwrap();
    assert_close_f32(
        &f32s(&c1.forward(&io["x"]).unwrap()),
        &to_f64(&f32s(&io["y"])),
        1e-5,
        1.0,
    );
    let (params, io) = fixture("conv2d");
    let mut c2 = Conv2d::new(3, 4, 3, 1, 1, true).unwrap();
    nn::io::load_params(&mut c2, &params, LoadOptions::default()).unwrap();
    assert_close_f32(
        &f32s(&c2.forward(&io["x"]).unwrap()),
        &to_f64(&f32s(&io["y"])),
        1e-5,
        1.0,
    );
    let err = c2
        .forward(&arr(&[0.0; 16], &[1, 2, 2, 4]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[1, 2, 2, 4]") && err.contains("[4, 3, 3, 3]"),
        "{err}"
    );
}

fn mlp() -> Sequential {
    Sequential::new()
        .add(
            Linear::new(4, 8, true)
                .unwrap()
                .with_activation(Activation::Relu),
        )
        .add(Dropout::new(0.5).unwrap())
        .add(Linear::new(8, 3, true).unwrap())
}

#[test]
fn sequential_names_forward_and_errors() {
    let mut m = mlp();
    let names: Vec<String> = m.parameters().into_keys().collect();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    assert_eq!(m.num_parameters(), 4 * 8 + 8 + 8 * 3 + 3);
    m.eval_mode();
    let mut r = rng();
    let x = arr(&uniform(&mut r, 2 * 4, -1.0, 1.0), &[2, 4]);
    let p = m.parameters();
    let h = nn::relu(
        &(mlx_rs::ops::matmul(&x, &mlx_rs::ops::transpose(&p["0.weight"]).unwrap()).unwrap()
            + &p["0.bias"])
            .unwrap(),
    )
    .unwrap();
    let want = (mlx_rs::ops::matmul(&h, &mlx_rs::ops::transpose(&p["2.weight"]).unwrap()).unwrap()
        + &p["2.bias"])
        .unwrap();
    assert_close_f32(
        &f32s(&m.forward(&x).unwrap()),
        &to_f64(&f32s(&want)),
        1e-6,
        1.0,
    );
    let err = m.forward(&arr(&[0.0; 5], &[1, 5])).unwrap_err().to_string();
    assert!(
        err.contains("layer 0") && err.contains("[1, 5]") && err.contains("[8, 4]"),
        "{err}"
    );
}

#[test]
fn freeze_update_and_dtype() {
    let mut m = mlp();
    m.freeze();
    assert!(m.trainable_parameters().is_empty());
    assert_eq!(m.set_trainable_under("2", true), 2);
    let t: Vec<String> = m.trainable_parameters().into_keys().collect();
    assert_eq!(t, ["2.bias", "2.weight"]);
    m.unfreeze();
    assert_eq!(m.trainable_parameters().len(), 4);

    // update is all-or-nothing and lists every problem.
    let before = f32s(&m.parameters()["0.bias"]);
    let bad = Params::from([
        ("0.bias".into(), arr(&[1.0; 8], &[8])),
        ("0.weight".into(), arr(&[1.0; 4], &[2, 2])),
        ("9.weight".into(), arr(&[1.0], &[1])),
    ]);
    let err = m.update(&bad).unwrap_err().to_string();
    assert!(
        err.contains("0.weight")
            && err.contains("[2, 2]")
            && err.contains("[8, 4]")
            && err.contains("9.weight"),
        "{err}"
    );
    assert_eq!(f32s(&m.parameters()["0.bias"]), before);

    m.to_dtype(Dtype::Bfloat16).unwrap();
    assert!(m
        .parameters()
        .values()
        .all(|a| a.dtype() == Dtype::Bfloat16));
    m.eval_mode();
    assert_eq!(
        m.forward(&mlx_rs::ops::ones(&[1, 4], Dtype::Bfloat16).unwrap())
            .unwrap()
            .dtype(),
        Dtype::Bfloat16
    );
    assert!(m.to_dtype(Dtype::Int32).is_err());
}

#[test]
fn train_and_eval_mode_reach_nested_dropout() {
    let mut m = Sequential::new().add(Sequential::new().add(Dropout::new(0.9).unwrap()));
    let x = mlx_rs::ops::ones(&[1000], Dtype::Float32).unwrap();
    assert!(f32s(&m.forward(&x).unwrap()).contains(&0.0));
    m.eval_mode();
    assert!(f32s(&m.forward(&x).unwrap()).iter().all(|&v| v == 1.0));
    m.train(true);
    assert!(f32s(&m.forward(&x).unwrap()).contains(&0.0));
}

#[test]
fn bad_layer_configurations_are_errors() {
    assert!(Linear::new(0, 3, true).is_err());
    assert!(Linear::from_weights(arr(&[0.0; 6], &[2, 3]), Some(arr(&[0.0; 3], &[3]))).is_err());
    assert!(GroupNorm::new(5, 12, 1e-5, true).is_err());
    assert!(MultiHeadAttention::new(10, 3, false).is_err());
    assert!(Conv2d::new(3, 4, 0, 1, 0, true).is_err());
    let ln = LayerNorm::new(4, 1e-5, true).unwrap();
    let err = ln
        .forward(&arr(&[0.0; 3], &[1, 3]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("[1, 3]") && err.contains('4'), "{err}");
}
