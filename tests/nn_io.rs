//! mlx-nn checkpoint IO: round trips, strict loading that lists every
//! problem and changes nothing, lenient loading, dtype conversion, truncated
//! and malformed files, and lazy loading of core's safetensors reader.

mod common;

use std::path::PathBuf;

use common::{rng, uniform};
use mlx_rs::nn::{self, Activation, LayerNorm, Linear, LoadOptions, Module, Params, Sequential};
use mlx_rs::{io, ops, Array, Dtype};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx_nn_io_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn model() -> Sequential {
    Sequential::new()
        .add(
            Linear::new(6, 4, true)
                .unwrap()
                .with_activation(Activation::Gelu),
        )
        .add(LayerNorm::new(4, 1e-5, true).unwrap())
        .add(Linear::new(4, 2, false).unwrap())
}

fn values(m: &dyn Module) -> Vec<(String, Vec<f32>)> {
    m.parameters()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap(),
            )
        })
        .collect()
}

#[test]
fn save_then_load_round_trips_every_parameter() {
    let mut r = rng();
    let mut a = model();
    // Fresh non-trivial values everywhere (LayerNorm starts at ones/zeros).
    let p: Params = a
        .parameters()
        .into_iter()
        .map(|(k, v)| {
            let n = v.size();
            (
                k,
                Array::from_slice(&uniform(&mut r, n, -1.0, 1.0), &v.shape()).unwrap(),
            )
        })
        .collect();
    a.update(&p).unwrap();
    let path = tmp("roundtrip.safetensors");
    nn::save_safetensors(&a, &path).unwrap();
    let mut b = model();
    nn::load_safetensors(&mut b, &path).unwrap();
    assert_eq!(values(&a), values(&b));
    let x = Array::from_slice(&uniform(&mut r, 12, -1.0, 1.0), &[2, 6]).unwrap();
    assert_eq!(
        a.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        b.forward(&x).unwrap().to_vec::<f32>().unwrap()
    );
}

#[test]
fn strict_load_lists_every_problem_and_changes_nothing() {
    let path = tmp("mismatch.safetensors");
    let mut file = model().parameters();
    file.remove("1.bias"); // missing
    file.insert(
        "3.weight".into(),
        ops::zeros(&[2, 2], Dtype::Float32).unwrap(),
    ); // unexpected
    file.insert(
        "0.weight".into(),
        ops::zeros(&[4, 5], Dtype::Float32).unwrap(),
    ); // shape
    file.insert(
        "2.weight".into(),
        ops::zeros(&[2, 4], Dtype::Float16).unwrap(),
    ); // dtype
    nn::io::save_params(&file, &path).unwrap();
    let mut m = model();
    let before = values(&m);
    let err = nn::load_safetensors(&mut m, &path).unwrap_err().to_string();
    for needle in [
        "4 problems",
        "missing 1.bias",
        "unexpected 3.weight",
        "0.weight: shape [4, 5] in the file, [4, 6] in the model",
        "2.weight: dtype Float16 in the file, Float32 in the model",
        "nothing was loaded",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    assert_eq!(
        values(&m),
        before,
        "a failed load must not change the model"
    );

    // Lenient: missing and unexpected are skipped, mismatches still fail.
    let err = nn::load_safetensors_with(&mut m, &path, LoadOptions::lenient())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2 problems") && !err.contains("missing") && !err.contains("unexpected"),
        "{err}"
    );
    // Lenient + dtype conversion: only the shape mismatch remains.
    let opts = LoadOptions {
        strict: false,
        convert_dtype: true,
    };
    let err = nn::load_safetensors_with(&mut m, &path, opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1 problems") && err.contains("0.weight"),
        "{err}"
    );
    assert_eq!(values(&m), before);
}

#[test]
fn lenient_load_takes_the_matching_subset_with_conversion() {
    let path = tmp("subset.safetensors");
    let mut r = rng();
    let w = uniform(&mut r, 8, -1.0, 1.0);
    let file = Params::from([
        (
            "2.weight".to_string(),
            Array::from_slice(&w, &[2, 4])
                .unwrap()
                .astype(Dtype::Bfloat16)
                .unwrap(),
        ),
        (
            "extra".to_string(),
            ops::zeros(&[1], Dtype::Float32).unwrap(),
        ),
    ]);
    nn::io::save_params(&file, &path).unwrap();
    let mut m = model();
    let before = m.parameters()["0.weight"].to_vec::<f32>().unwrap();
    nn::load_safetensors_with(
        &mut m,
        &path,
        LoadOptions {
            strict: false,
            convert_dtype: true,
        },
    )
    .unwrap();
    let p = m.parameters();
    assert_eq!(p["2.weight"].dtype(), Dtype::Float32);
    let want: Vec<f32> = w
        .iter()
        .map(|&v| mlx_rs::bf16::from_f32(v).to_f32())
        .collect();
    assert_eq!(p["2.weight"].to_vec::<f32>().unwrap(), want);
    assert_eq!(p["0.weight"].to_vec::<f32>().unwrap(), before);
}

#[test]
fn truncated_and_malformed_files_are_errors_before_any_change() {
    let path = tmp("full.safetensors");
    nn::save_safetensors(&model(), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut m = model();
    let before = values(&m);
    for (name, data) in [
        ("cut.safetensors", bytes[..bytes.len() - 5].to_vec()),
        ("short.safetensors", bytes[..6].to_vec()),
        ("garbage.safetensors", {
            let mut b = bytes.clone();
            b[8] = b'!';
            b
        }),
    ] {
        let p = tmp(name);
        std::fs::write(&p, data).unwrap();
        let err = nn::load_safetensors(&mut m, &p).unwrap_err().to_string();
        assert!(err.contains("malformed safetensors"), "{name}: {err}");
        assert!(io::load_safetensors_lazy(&p).is_err(), "{name}");
    }
    assert!(nn::load_safetensors(&mut m, tmp("absent.safetensors")).is_err());
    assert_eq!(values(&m), before);
}

#[test]
fn header_is_read_without_the_data_and_lazy_load_reads_on_eval() {
    let mut r = rng();
    let v = uniform(&mut r, 1000, -1.0, 1.0);
    let path = tmp("lazy.safetensors");
    let arrays = std::collections::HashMap::from([(
        "a".to_string(),
        Array::from_slice(&v, &[10, 100]).unwrap(),
    )]);
    let meta = std::collections::HashMap::from([("k".to_string(), "v".to_string())]);
    io::save_safetensors(&path, &arrays, &meta).unwrap();
    let h = io::read_safetensors_header(&path).unwrap();
    assert_eq!(
        h.tensors["a"],
        io::TensorInfo {
            dtype: Dtype::Float32,
            shape: vec![10, 100]
        }
    );
    assert_eq!(h.metadata["k"], "v");
    let lazy = io::load_safetensors_lazy(&path).unwrap();
    assert_eq!(lazy.arrays["a"].to_vec::<f32>().unwrap(), v);
    assert_eq!(lazy.metadata["k"], "v");
}
