//! Runs the `flux` sampling program on the CPU: a short schnell and dev run
//! of the small model with latents written, text conditioning from a file,
//! and bad input (exit code 2 with a message, no panic).

use std::collections::HashMap;
mod common;

use std::process::Command;

use common::{succeeded, text};

use mlx_rs_core::{io, ops, Dtype};

fn program() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flux"));
    c.env_remove("MLX_DTYPE");
    c
}

/// A temporary folder per test (tests run in parallel).
fn dir(test: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("flux-cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn samples_and_writes_latents() {
    let d = dir("sample");
    let txt_path = d.join("cond.safetensors");
    let key = ops::random::key(1).unwrap();
    let cond = HashMap::from([
        (
            "txt".to_string(),
            ops::random::normal(&[1, 7, 4096], Dtype::Float32, 0.0, 1.0, Some(&key)).unwrap(),
        ),
        (
            "vec".to_string(),
            ops::random::normal(&[1, 768], Dtype::Float32, 0.0, 1.0, Some(&key)).unwrap(),
        ),
    ]);
    io::save_safetensors(&txt_path, &cond, &HashMap::new()).unwrap();
    for (variant, steps) in [("schnell", "2"), ("dev", "3")] {
        let out_path = d.join(format!("{variant}.safetensors"));
        let out = program()
            .args([
                "--device", "cpu", "--dtype", "float32", "--height", "64", "--width", "96",
            ])
            .args(["--variant", variant, "--steps", steps, "--seed", "5"])
            .arg("--txt")
            .arg(&txt_path)
            .arg("--out")
            .arg(&out_path)
            .output()
            .unwrap();
        let (stdout, _) = succeeded(&out);
        assert!(
            stdout.contains("4 x 6 latent tokens, 7 text tokens"),
            "{stdout}"
        );
        let n: usize = steps.parse().unwrap();
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("step ")).count(),
            n,
            "{stdout}"
        );
        assert!(stdout.contains("s / step"), "{stdout}");
        assert!(stdout.contains("no image written"), "{stdout}");
        let file = io::load_safetensors(&out_path).unwrap();
        let lat = &file.arrays["latents"];
        assert_eq!(lat.shape(), [1, 16, 8, 12]);
        let v = lat.to_vec::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()) && v.iter().any(|x| *x != 0.0));
        assert_eq!(file.metadata["vae_scale_factor"], "0.3611");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// With an autoencoder, the latents are decoded and written as a PNG of the
/// image's size (the tiny test autoencoder upsamples 2x, so 64 x 96 pixels
/// of latents 8 x 12 give a 16 x 24 image).
#[test]
fn decodes_to_png_with_a_vae() {
    let d = dir("png");
    let png = d.join("out.png");
    let vae = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/flux_vae_tiny.weights.safetensors");
    let out = program()
        .args([
            "--device", "cpu", "--dtype", "float32", "--height", "64", "--width", "96", "--steps",
            "1",
        ])
        .arg("--vae")
        .arg(&vae)
        .arg("--png")
        .arg(&png)
        .output()
        .unwrap();
    let (stdout, _) = succeeded(&out);
    assert!(stdout.contains("decoded [1, 3, 16, 24]"), "{stdout}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[16..24], &[0, 0, 0, 24, 0, 0, 0, 16]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_input_exits_with_code_2_and_a_message() {
    let d = dir("bad");
    let bad_txt = d.join("bad.safetensors");
    let cond = HashMap::from([
        (
            "txt".to_string(),
            ops::zeros(&[1, 3, 100], Dtype::Float32).unwrap(),
        ),
        (
            "vec".to_string(),
            ops::zeros(&[1, 768], Dtype::Float32).unwrap(),
        ),
    ]);
    io::save_safetensors(&bad_txt, &cond, &HashMap::new()).unwrap();
    let weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/flux_schnell_tiny.weights.safetensors");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--png".into(), "x.png".into()], "--png needs --vae"),
        (
            vec![
                "--device".into(),
                "cpu".into(),
                "--vae".into(),
                weights.display().to_string(),
                "--png".into(),
                "x.png".into(),
            ],
            "not a FLUX autoencoder",
        ),
        (
            vec!["--steps".into(), "0".into()],
            "--steps: expected a whole number >= 1",
        ),
        (
            vec!["--variant".into(), "pro".into()],
            "expected schnell or dev",
        ),
        (vec!["--height".into(), "0".into()], "--height"),
        (
            vec![
                "--width".into(),
                "20000".into(),
                "--device".into(),
                "cpu".into(),
            ],
            "1..=16384",
        ),
        (vec!["--guidance".into(), "nan".into()], "--guidance"),
        (
            vec!["--dtype".into(), "int8".into()],
            "expected float32 or bfloat16",
        ),
        (
            vec![
                "--txt".into(),
                bad_txt.display().to_string(),
                "--device".into(),
                "cpu".into(),
            ],
            "expected [1, L, 4096]",
        ),
        (
            vec![
                "--txt".into(),
                "/nonexistent.safetensors".into(),
                "--device".into(),
                "cpu".into(),
            ],
            "--txt",
        ),
        (
            vec![
                "--preset".into(),
                "small".into(),
                "--device".into(),
                "cpu".into(),
                "--weights".into(),
                weights.display().to_string(),
            ],
            "does not match the model",
        ),
        (vec!["--out".into()], "--out needs a value"),
        (vec!["stray".into()], "unknown argument"),
    ];
    for (args, want) in &cases {
        let out = program().args(args).output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let help = program().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help)
        .0
        .contains("Text encoders (T5-XXL, CLIP-L) are not part"));
    std::fs::remove_dir_all(&d).unwrap();
}
