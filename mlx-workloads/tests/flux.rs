//! The FLUX.1 transformer against independent references:
//!
//! - mflux 0.24.0's FLUX transformer (Python MLX), at tiny sizes, with
//!   random weights saved under BFL's names (fixtures written by
//!   `scripts/flux_fixture.py`);
//! - f64 formulas for the rotary embedding and the timestep embedding;
//! - strict checkpoint loading (missing / unexpected / mis-shaped tensors).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mlx_nn::Module;
use mlx_rs_core::ops::fast;
use mlx_rs_core::{io, ops, Array, Device, Dtype};
use mlx_workloads::flux::{
    apply_rope, image_ids, rope_tables, sampling, timestep_embedding, Flux, FluxConfig, Inputs,
};
use rand::{Rng, SeedableRng};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn cpu() {
    Device::cpu().set_default().unwrap();
}

/// The fixture's configuration, from the weights file's metadata.
fn fixture_config(case: &str) -> FluxConfig {
    config_from_metadata(&data(&format!("flux_{case}_tiny.weights.safetensors")))
}

/// A FLUX configuration from the sizes a fixture script wrote into the
/// checkpoint's metadata.
fn config_from_metadata(weights: &Path) -> FluxConfig {
    let header = io::read_safetensors_header(weights).unwrap();
    let m = &header.metadata;
    let int = |k: &str| m[k].parse::<i32>().unwrap();
    FluxConfig {
        vec_in_dim: int("vec_in"),
        context_in_dim: int("context_in"),
        hidden_size: int("hidden"),
        num_heads: int("heads"),
        depth: int("depth") as usize,
        depth_single_blocks: int("depth_single") as usize,
        axes_dim: m["axes"].split(',').map(|v| v.parse().unwrap()).collect(),
        guidance_embed: m["guidance_embed"] == "true",
        ..FluxConfig::schnell()
    }
}

fn fixture_io(case: &str) -> (Inputs, Array) {
    let (inputs, mut outputs) = io_file(&data(&format!("flux_{case}_tiny.io.safetensors")));
    (inputs, outputs.remove("output").unwrap())
}

/// A fixture's inputs, and its other arrays (the reference outputs) by name.
fn io_file(path: &Path) -> (Inputs, HashMap<String, Array>) {
    let mut io = io::load_safetensors(path).unwrap().arrays;
    let mut a = |k: &str| io.remove(k).unwrap();
    let inputs = Inputs {
        img: a("img"),
        img_ids: a("img_ids"),
        txt: a("txt"),
        txt_ids: a("txt_ids"),
        timesteps: a("timesteps"),
        y: a("y"),
        guidance: io.remove("guidance"),
    };
    (inputs, io)
}

/// ‖a − b‖₂ / ‖b‖₂ in f64, with every element of `a` finite.
fn relative_l2(a: &Array, b: &Array) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let a = a.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap();
    let b = b.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap();
    assert!(a.iter().all(|x| x.is_finite()), "non-finite output");
    let (mut d, mut n) = (0f64, 0f64);
    for (x, y) in a.iter().zip(&b) {
        d += (*x as f64 - *y as f64).powi(2);
        n += (*y as f64).powi(2);
    }
    (d / n).sqrt()
}

/// (max |a − b|, max |b|).
fn max_err(a: &Array, b: &Array) -> (f32, f32) {
    assert_eq!(a.shape(), b.shape());
    let a = a.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap();
    let b = b.to_vec::<f32>().unwrap();
    let err = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let scale = b.iter().map(|y| y.abs()).fold(0f32, f32::max);
    assert!(a.iter().all(|x| x.is_finite()));
    (err, scale)
}

/// Float32: our model, loaded strictly from mflux's weights, reproduces
/// mflux's output to 1e-5 of the output's largest magnitude (both sides
/// compute in f32; they differ in op order: fused vs unfused norms, fused
/// vs separate qkv projections, rope formulas, the CPU's rational tanh in
/// the MLP's GELU; measured: 6e-7 to 7e-7 on the CPU).
///
/// Bfloat16: weights and activations in bf16 (rope and the timestep
/// embedding in f32, as in BFL). bf16 keeps 8 significant bits (relative
/// rounding up to 2^-9 ≈ 0.2 %) and every linear, norm and residual add
/// rounds again, so the bounds are 2 % of the largest magnitude at worst
/// and 0.5 % on average, about 3.5x what this fixture measures (0.6 % and
/// 0.14 %). Both the compiled blocks and the op-by-op path are checked.
#[test]
fn matches_mflux_fixture_in_f32_and_bf16() {
    cpu();
    for (case, compiled) in [
        ("schnell", true),
        ("schnell", false),
        ("dev", true),
        ("dev", false),
    ] {
        let config = fixture_config(case);
        let (inputs, want) = fixture_io(case);
        let weights = data(&format!("flux_{case}_tiny.weights.safetensors"));
        let f32_model = Flux::load(config.clone(), &weights, Dtype::Float32)
            .unwrap()
            .with_compiled(compiled);
        let got = f32_model.forward(&inputs).unwrap();
        let (err, scale) = max_err(&got, &want);
        println!("{case} compiled={compiled} f32: max err {err:.3e}, max |out| {scale:.3}");
        assert!(scale > 0.5, "{case}: degenerate fixture output");
        assert!(
            err <= 1e-5 * scale,
            "{case} f32: max err {err} > 1e-5 x {scale}"
        );

        let bf16_model = Flux::load(config, &weights, Dtype::Bfloat16)
            .unwrap()
            .with_compiled(compiled);
        let got = bf16_model.forward(&inputs).unwrap();
        assert_eq!(got.dtype(), Dtype::Bfloat16);
        let (err, scale) = max_err(&got, &want);
        let g = got.astype(Dtype::Float32).unwrap().to_vec::<f32>().unwrap();
        let w = want.to_vec::<f32>().unwrap();
        let mean = g.iter().zip(&w).map(|(x, y)| (x - y).abs()).sum::<f32>() / g.len() as f32;
        println!(
            "{case} compiled={compiled} bf16: max err {err:.3e}, mean err {mean:.3e}, max |out| {scale:.3}"
        );
        assert!(
            err <= 2e-2 * scale,
            "{case} bf16: max err {err} > 2e-2 x {scale}"
        );
        assert!(
            mean <= 5e-3 * scale,
            "{case} bf16: mean err {mean} > 5e-3 x {scale}"
        );
    }
}

/// The full-size FLUX.1 transformer (11.9 B parameters, 4096 image + 512
/// text tokens) against mflux on a GPU, with the case
/// `scripts/flux_full_fixture.py` writes (24 GB; `MLX_RS_FLUX_FULL_DIR`
/// names its folder). Run with `MLX_ENABLE_TF32=0`, as the script was.
///
/// Float32 (weights converted from the bf16 checkpoint, which holds the
/// exact values both sides used): relative L2 error ≤ 1e-4 against mflux's
/// float32 output; 57 blocks in a different op order, so more than the
/// tiny fixture's rounding, far less than any mistake (measured on an
/// H200: 4.6e-7). Bfloat16: relative L2 ≤ 2.5e-2 against mflux's float32
/// output (measured: 1.45e-2). Ours follows BFL's precision policy (RoPE and
/// QK-norm in f32, cast back to bf16, attention in bf16); mflux keeps q and
/// k in f32 after RoPE, so its attention runs in f32 and its own bf16 error
/// is smaller (2.4e-3), at the cost of an f32 attention. A wrong weight or
/// op gives errors of order 1.
#[test]
#[ignore = "needs a GPU and the 24 GB case written by scripts/flux_full_fixture.py (MLX_RS_FLUX_FULL_DIR)"]
fn full_size_matches_mflux_on_gpu() {
    // Run without its case, the test fails rather than passing unrun
    // (scripts/gpu-suite.sh leaves it out, and says so, when the variable is
    // not set).
    let dir = std::env::var_os("MLX_RS_FLUX_FULL_DIR").expect(
        "this test needs MLX_RS_FLUX_FULL_DIR: the folder scripts/flux_full_fixture.py writes",
    );
    let dir = PathBuf::from(dir);
    let gpu = Device::gpu();
    assert!(gpu.is_available(), "this test needs a GPU");
    gpu.set_default().unwrap();
    let weights = dir.join("flux_full.weights.safetensors");
    let config = config_from_metadata(&weights);
    assert_eq!(config.hidden_size, 3072);
    let (inputs, outputs) = io_file(&dir.join("flux_full.io.safetensors"));
    let (want, mflux_bf16) = (&outputs["output"], &outputs["output_bf16"]);
    let mflux_err = relative_l2(mflux_bf16, want);
    for dtype in [Dtype::Float32, Dtype::Bfloat16] {
        let mut model = Flux::load(config.clone(), &weights, dtype).unwrap();
        for compiled in [false, true] {
            model = model.with_compiled(compiled);
            let got = model.forward(&inputs).unwrap();
            assert_eq!(got.dtype(), dtype);
            let err = relative_l2(&got, want);
            println!(
                "full size, {dtype:?}, compiled={compiled}: relative L2 vs mflux f32 {err:.3e} \
                 (mflux bf16 vs mflux f32: {mflux_err:.3e})"
            );
            if dtype == Dtype::Float32 {
                assert!(err <= 1e-4, "f32: relative L2 {err:.3e} > 1e-4");
            } else {
                assert!(err <= 2.5e-2, "bf16: relative L2 {err:.3e} > 2.5e-2");
            }
        }
    }
}

/// The staged forward (as the profiler runs it) is the same computation,
/// compiled or not; the compiled blocks agree with the op-by-op ones up to
/// float rounding (fusion reorders no sums, but fused kernels may contract
/// multiply-adds).
#[test]
fn staged_forward_equals_forward() {
    cpu();
    let config = fixture_config("schnell");
    let (inputs, _) = fixture_io("schnell");
    let plain = Flux::load(
        config.clone(),
        data("flux_schnell_tiny.weights.safetensors"),
        Dtype::Float32,
    )
    .unwrap()
    .with_compiled(false);
    let compiled = plain.clone().with_compiled(true);
    assert!(compiled.is_compiled() && !plain.is_compiled());
    let (a, b) = (
        plain.forward(&inputs).unwrap(),
        compiled.forward(&inputs).unwrap(),
    );
    let (err, scale) = max_err(&b, &a);
    println!("compiled vs op by op: max err {err:.3e} of {scale:.3}");
    assert!(
        err <= 1e-5 * scale,
        "compiled vs op by op: {err} of {scale}"
    );
    for m in [plain, compiled] {
        staged_equals_whole(&m, &config, &inputs);
    }
}

fn staged_equals_whole(m: &Flux, config: &FluxConfig, inputs: &Inputs) {
    let (mut s, c) = m.embed(inputs).unwrap();
    for i in 0..config.depth {
        s = m.double_block(i, &s, &c).unwrap();
    }
    let mut x = m.join(&s).unwrap();
    for i in 0..config.depth_single_blocks {
        x = m.single_block(i, &x, &c).unwrap();
    }
    let staged = m.final_layer(&x, &c).unwrap();
    let whole = m.forward(inputs).unwrap();
    assert_eq!(
        staged.to_vec::<f32>().unwrap(),
        whole.to_vec::<f32>().unwrap()
    );
    assert!(m
        .double_block(config.depth, &s, &c)
        .unwrap_err()
        .to_string()
        .contains("the model has 2"));
}

/// RoPE against f64: random q, ids with fractional positions on all three
/// axes, each pair (x[2j], x[2j+1]) of axis a turned by pos_a · θ^(-2j/d_a).
#[test]
fn rope_matches_f64() {
    cpu();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let axes = [4, 6, 6];
    let (b, h, l, d) = (2usize, 3usize, 7usize, 16usize);
    let theta = 10_000.0f64;
    let ids: Vec<f32> = (0..b * l * 3)
        .map(|_| rng.gen_range(0.0..40.0f32))
        .collect();
    let x: Vec<f32> = (0..b * h * l * d)
        .map(|_| rng.gen_range(-2.0..2.0f32))
        .collect();
    let ids_a = Array::from_slice(&ids, &[b as i32, l as i32, 3]).unwrap();
    let x_a = Array::from_slice(&x, &[b as i32, h as i32, l as i32, d as i32]).unwrap();
    let (cos, sin) = rope_tables(&ids_a, &axes, theta as f32).unwrap();
    assert_eq!(cos.shape(), [b as i32, 1, l as i32, (d / 2) as i32]);
    let got = apply_rope(&x_a, &cos, &sin)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut worst = 0f64;
    for bi in 0..b {
        for hi in 0..h {
            for li in 0..l {
                let mut pair = 0;
                for (a, &da) in axes.iter().enumerate() {
                    let pos = ids[(bi * l + li) * 3 + a] as f64;
                    for j in 0..da / 2 {
                        let angle = pos * theta.powf(-(2 * j) as f64 / da as f64);
                        let base = ((bi * h + hi) * l + li) * d + 2 * pair;
                        let (x0, x1) = (x[base] as f64, x[base + 1] as f64);
                        let want = [
                            angle.cos() * x0 - angle.sin() * x1,
                            angle.sin() * x0 + angle.cos() * x1,
                        ];
                        for k in 0..2 {
                            worst = worst.max((got[base + k] as f64 - want[k]).abs());
                        }
                        pair += 1;
                    }
                }
            }
        }
    }
    // Angles up to 40 rad: f32 rounding of the angle is ~4e-6 rad.
    assert!(worst < 2e-5, "rope max err {worst}");
}

/// BFL's rope is the interleaved-pair form: with one position axis
/// counting 0..L (the others at 0) it is MLX's `fast::rope` with
/// `traditional = true` over that axis's features, and not the
/// half-split form (`traditional = false`).
#[test]
fn rope_is_mlx_traditional_rope() {
    cpu();
    let axes = [8, 4, 4];
    let (l, d) = (9, 16);
    let mut ids = Vec::new();
    for p in 0..l {
        ids.extend_from_slice(&[p as f32, 0.0, 0.0]);
    }
    let ids = Array::from_slice(&ids, &[1, l, 3]).unwrap();
    let x = ops::random::normal(
        &[1, 2, l, d],
        Dtype::Float32,
        0.0,
        1.0,
        Some(&ops::random::key(3).unwrap()),
    )
    .unwrap();
    let (cos, sin) = rope_tables(&ids, &axes, 10_000.0).unwrap();
    let ours = apply_rope(&x, &cos, &sin).unwrap();
    let trad = fast::rope(&x, 8, true, Some(10_000.0), 1.0, 0, None).unwrap();
    let half = fast::rope(&x, 8, false, Some(10_000.0), 1.0, 0, None).unwrap();
    let (e_trad, _) = max_err(&ours, &trad);
    let (e_half, _) = max_err(&ours, &half);
    assert!(e_trad < 1e-5, "traditional rope differs by {e_trad}");
    assert!(e_half > 1e-2, "half-split rope should differ, got {e_half}");
}

/// The timestep embedding against f64 (BFL: time factor 1000, max period
/// 10000, [cos, sin]).
#[test]
fn timestep_embedding_matches_f64() {
    cpu();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let ts: Vec<f32> = (0..5).map(|_| rng.gen_range(0.0..1.0f32)).collect();
    let got = timestep_embedding(&Array::from_slice(&ts, &[5]).unwrap(), 256).unwrap();
    assert_eq!(got.shape(), [5, 256]);
    let got = got.to_vec::<f32>().unwrap();
    let mut worst = 0f64;
    for (r, &t) in ts.iter().enumerate() {
        for i in 0..128 {
            let f = (-(10_000f64.ln()) * i as f64 / 128.0).exp();
            let arg = 1000.0 * t as f64 * f;
            worst = worst.max((got[r * 256 + i] as f64 - arg.cos()).abs());
            worst = worst.max((got[r * 256 + 128 + i] as f64 - arg.sin()).abs());
        }
    }
    // Arguments up to 1000 rad: f32 keeps them to ~6e-5 rad.
    assert!(worst < 3e-4, "timestep embedding max err {worst}");
    // Odd widths get a zero column, as in BFL.
    let odd = timestep_embedding(&Array::from_slice(&[0.3f32], &[1]).unwrap(), 7).unwrap();
    assert_eq!(odd.shape(), [1, 7]);
    assert_eq!(odd.to_vec::<f32>().unwrap()[6], 0.0);
    assert!(timestep_embedding(&Array::from_slice(&[0.3f32], &[1, 1]).unwrap(), 8).is_err());
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flux-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn save(path: &Path, tensors: &HashMap<String, Array>) {
    io::save_safetensors(path, tensors, &HashMap::new()).unwrap();
}

/// A checkpoint that does not fit is an `Err` naming every problem.
#[test]
fn strict_loading_lists_every_problem() {
    cpu();
    let config = fixture_config("schnell");
    let src = data("flux_schnell_tiny.weights.safetensors");
    let good = io::load_safetensors(&src).unwrap().arrays;

    // One tensor missing, one unknown, one mis-shaped.
    let mut bad = good.clone();
    bad.remove("single_blocks.1.linear2.bias");
    bad.insert(
        "double_blocks.0.img_attn.extra".into(),
        ops::zeros(&[2], Dtype::Float32).unwrap(),
    );
    bad.insert(
        "final_layer.linear.weight".into(),
        ops::zeros(&[64, 7], Dtype::Float32).unwrap(),
    );
    let path = temp("bad.safetensors");
    save(&path, &bad);
    let err = Flux::load(config.clone(), &path, Dtype::Float32)
        .unwrap_err()
        .to_string();
    for want in [
        "missing single_blocks.1.linear2.bias",
        "unexpected double_blocks.0.img_attn.extra",
        "final_layer.linear.weight: shape [64, 7] in the file, [64, 48] in the model",
        "3 problems",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }

    // A dev checkpoint for a schnell model: guidance_in is unexpected.
    let dev_err = Flux::load(
        config.clone(),
        data("flux_dev_tiny.weights.safetensors"),
        Dtype::Float32,
    )
    .unwrap_err()
    .to_string();
    assert!(
        dev_err.contains("unexpected guidance_in.in_layer.weight"),
        "{dev_err}"
    );

    // The wrong depth: the blocks the file lacks are listed.
    let deeper = FluxConfig {
        depth: 3,
        ..config.clone()
    };
    let err = Flux::load(deeper, &src, Dtype::Float32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing double_blocks.2.img_attn.qkv.weight"),
        "{err}"
    );

    // No file.
    let err = Flux::load(config, temp("absent.safetensors"), Dtype::Float32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.safetensors"), "{err}");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// The full FLUX.1 models' parameter tree (lazy arrays, never computed):
/// BFL's names and shapes, 776 tensors for schnell (12 embedder tensors,
/// 24 per double block, 8 per single block, 4 in the final layer) and
/// 780 for dev.
#[test]
fn full_model_has_bfl_names_and_shapes() {
    cpu();
    let schnell = Flux::synthetic(FluxConfig::schnell(), Dtype::Bfloat16, 0).unwrap();
    let p = schnell.parameters();
    assert_eq!(p.len(), 12 + 19 * 24 + 38 * 8 + 4);
    let shape = |k: &str| p.get(k).unwrap_or_else(|| panic!("no {k}")).shape();
    assert_eq!(shape("img_in.weight"), [3072, 64]);
    assert_eq!(shape("txt_in.weight"), [3072, 4096]);
    assert_eq!(shape("time_in.in_layer.weight"), [3072, 256]);
    assert_eq!(shape("vector_in.in_layer.weight"), [3072, 768]);
    assert_eq!(shape("double_blocks.18.img_mod.lin.weight"), [18432, 3072]);
    assert_eq!(shape("double_blocks.0.txt_attn.qkv.bias"), [9216]);
    assert_eq!(
        shape("double_blocks.3.img_attn.norm.query_norm.scale"),
        [128]
    );
    assert_eq!(shape("double_blocks.3.txt_mlp.0.weight"), [12288, 3072]);
    assert_eq!(shape("double_blocks.3.txt_mlp.2.weight"), [3072, 12288]);
    assert_eq!(shape("single_blocks.37.linear1.weight"), [21504, 3072]);
    assert_eq!(shape("single_blocks.37.linear2.weight"), [3072, 15360]);
    assert_eq!(shape("single_blocks.0.modulation.lin.weight"), [9216, 3072]);
    assert_eq!(shape("final_layer.adaLN_modulation.1.weight"), [6144, 3072]);
    assert_eq!(shape("final_layer.linear.weight"), [64, 3072]);
    assert!(!p.contains_key("guidance_in.in_layer.weight"));
    let n: u64 = p.values().map(|a| a.size() as u64).sum();
    assert_eq!(n, FluxConfig::schnell().num_parameters());
    assert!((11.8e9..12.0e9).contains(&(n as f64)), "{n}");

    let dev = Flux::synthetic(FluxConfig::dev(), Dtype::Bfloat16, 0).unwrap();
    assert_eq!(dev.parameters().len(), 780);
    assert_eq!(
        dev.parameters()["guidance_in.out_layer.weight"].shape(),
        [3072, 3072]
    );
}

/// Synthetic weights are seeded, and the small preset stays finite in bf16.
#[test]
fn synthetic_weights_are_seeded_and_finite() {
    cpu();
    let c = FluxConfig::small();
    let inputs = Inputs::synthetic(&c, 2, 6, 3, 5, 0.8, 4).unwrap();
    let run = |seed, dtype| {
        Flux::synthetic(c.clone(), dtype, seed)
            .unwrap()
            .forward(&inputs)
            .unwrap()
            .astype(Dtype::Float32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    let a = run(7, Dtype::Float32);
    assert_eq!(a, run(7, Dtype::Float32));
    assert_ne!(a, run(8, Dtype::Float32));
    let b = run(7, Dtype::Bfloat16);
    assert!(b.iter().all(|v| v.is_finite()));
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        scale > 0.1 && err <= 0.05 * scale,
        "bf16 vs f32: {err} of {scale}"
    );
}

/// Inputs of the wrong shape are an `Err` that says which.
#[test]
fn bad_inputs_are_errors() {
    cpu();
    let c = FluxConfig::small();
    let m = Flux::synthetic(c.clone(), Dtype::Float32, 0).unwrap();
    let mut x = Inputs::synthetic(&c, 1, 4, 2, 2, 0.5, 0).unwrap();
    x.txt = ops::zeros(&[1, 4, 100], Dtype::Float32).unwrap();
    let err = m.forward(&x).unwrap_err().to_string();
    assert!(
        err.contains("txt [1, 4, 100] must be [B, L, 4096]"),
        "{err}"
    );
    let mut x = Inputs::synthetic(&c, 1, 4, 2, 2, 0.5, 0).unwrap();
    x.img_ids = image_ids(1, 2, 3).unwrap();
    let err = m.forward(&x).unwrap_err().to_string();
    assert!(err.contains("img_ids [1, 6, 3] must be [1, 4, 3]"), "{err}");
    let dev = Flux::synthetic(
        FluxConfig {
            guidance_embed: true,
            ..c.clone()
        },
        Dtype::Float32,
        0,
    )
    .unwrap();
    let x = Inputs::synthetic(&c, 1, 4, 2, 2, 0.5, 0).unwrap();
    assert!(dev
        .forward(&x)
        .unwrap_err()
        .to_string()
        .contains("guidance"));
    let bad = FluxConfig {
        axes_dim: vec![8, 28, 30],
        ..c
    };
    assert!(Flux::synthetic(bad, Dtype::Float32, 0)
        .unwrap_err()
        .to_string()
        .contains("axes_dim"));
    // The one-input Module::forward says where the entry point is.
    let err = Module::forward(&m, &ops::zeros(&[1], Dtype::Float32).unwrap()).unwrap_err();
    assert!(err.to_string().contains("several inputs"), "{err}");
}

/// Packing is BFL's `b c (h ph) (w pw) -> b (h w) (c ph pw)`, checked
/// element by element, and unpack inverts it.
#[test]
fn pack_and_unpack_follow_bfl_layout() {
    cpu();
    let (b, c, rows, cols) = (1, 3, 2, 3);
    let n = b * c * 2 * rows * 2 * cols;
    let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let lat = Array::from_slice(&v, &[b, c, 2 * rows, 2 * cols]).unwrap();
    let packed = sampling::pack(&lat).unwrap();
    assert_eq!(packed.shape(), [b, rows * cols, c * 4]);
    let p = packed.to_vec::<f32>().unwrap();
    for h in 0..rows {
        for w in 0..cols {
            for ci in 0..c {
                for ph in 0..2 {
                    for pw in 0..2 {
                        let src = ((ci * 2 * rows + 2 * h + ph) * 2 * cols + 2 * w + pw) as usize;
                        let dst = ((h * cols + w) * c * 4 + ci * 4 + ph * 2 + pw) as usize;
                        assert_eq!(p[dst], v[src]);
                    }
                }
            }
        }
    }
    let back = sampling::unpack(&packed, rows, cols).unwrap();
    assert_eq!(back.to_vec::<f32>().unwrap(), v);
    assert!(sampling::pack(&ops::zeros(&[1, 3, 3, 4], Dtype::Float32).unwrap()).is_err());
}

/// The dev schedule against BFL's formula in f64, at 1024 x 1024.
#[test]
fn shifted_schedule_matches_formula() {
    let t = sampling::schedule(4, 4096, true);
    let mu = 1.15f64;
    for (i, got) in t.iter().enumerate() {
        let lin = 1.0 - i as f64 / 4.0;
        let want = if lin == 0.0 {
            0.0
        } else {
            mu.exp() / (mu.exp() + (1.0 / lin - 1.0))
        };
        assert!((got - want).abs() < 1e-12, "{i}: {got} vs {want}");
    }
    assert_eq!(t[0], 1.0);
    assert_eq!(sampling::latent_grid(1024, 1024).unwrap(), (64, 64));
    assert_eq!(sampling::latent_grid(1000, 1030).unwrap(), (63, 65));
    assert!(sampling::latent_grid(0, 16).is_err());
}

/// A batch is computed per image: two different images (other latents,
/// text, vector, timestep and guidance) in one batch give each image's
/// single-image output (mflux runs batch 1 only, so this checks batching
/// against our own batch-1 path, which the fixture checks against mflux).
#[test]
fn batch_rows_equal_single_runs() {
    cpu();
    for compiled in [true, false] {
        batch_rows_equal_single_runs_with(compiled);
    }
}

fn batch_rows_equal_single_runs_with(compiled: bool) {
    let config = fixture_config("dev");
    let m = Flux::load(
        config.clone(),
        data("flux_dev_tiny.weights.safetensors"),
        Dtype::Float32,
    )
    .unwrap()
    .with_compiled(compiled);
    let (a, _) = fixture_io("dev");
    let l = a.txt.shape()[1];
    let (rows, cols) = (2, 5);
    let mut b = Inputs::synthetic(&config, 1, l, rows, cols, 0.9, 77).unwrap();
    b.guidance = Some(Array::from_slice(&[1.5f32], &[1]).unwrap());
    let cat = |x: &Array, y: &Array| ops::concatenate(&[x, y], 0).unwrap();
    let both = Inputs {
        img: cat(&a.img, &b.img),
        img_ids: cat(&a.img_ids, &b.img_ids),
        txt: cat(&a.txt, &b.txt),
        txt_ids: cat(&a.txt_ids, &b.txt_ids),
        timesteps: cat(&a.timesteps, &b.timesteps),
        y: cat(&a.y, &b.y),
        guidance: Some(cat(
            a.guidance.as_ref().unwrap(),
            b.guidance.as_ref().unwrap(),
        )),
    };
    let out = m.forward(&both).unwrap();
    let parts = ops::split(&out, 2, 0).unwrap();
    for (part, single) in parts.iter().zip([&a, &b]) {
        let want = m.forward(single).unwrap();
        let (err, scale) = max_err(part, &want);
        assert!(err <= 1e-5 * scale, "batched vs single: {err} of {scale}");
    }
}
