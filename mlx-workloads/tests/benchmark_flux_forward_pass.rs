//! Runs the `benchmark_flux_forward_pass` program on the CPU: a short run of
//! the small preset with every output, and bad input (exit code 2 with a
//! message, no panic).

use std::path::Path;
mod common;

use std::process::Command;

use common::{help_lists, report_lines, succeeded, text, trace_span_names, HARNESS_FLAGS};

fn program() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_benchmark_flux_forward_pass"));
    c.env_remove("MLX_DTYPE");
    c
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn small_preset_runs_with_a_stage_per_block() {
    let dir = std::env::temp_dir().join(format!("flux-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, trace) = (dir.join("r.json"), dir.join("t.json"));
    for dtype in ["float32", "bfloat16"] {
        let mut nodes = Vec::new();
        for compiled in ["off", "on"] {
            nodes.push(run_small(dtype, compiled, &json, &trace));
        }
        // Compiled, MLX fuses the element-wise chains: fewer graph nodes.
        assert!(nodes[1] < nodes[0], "{dtype}: graph nodes {nodes:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One short profiled run; returns the graph's node count.
fn run_small(dtype: &str, compiled: &str, json: &Path, trace: &Path) -> u64 {
    let out = program()
        .args([
            "--preset", "small", "--iters", "2", "--warmup", "1", "--device", "cpu",
        ])
        .args(["--dtype", dtype, "--compiled", compiled])
        .arg("--json")
        .arg(json)
        .arg("--profile")
        .arg(trace)
        .output()
        .unwrap();
    let (stdout, _) = succeeded(&out);
    report_lines(&stdout, &["iterations", "sync points / iter"]);

    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(record["benchmark"], "flux_forward_pass");
    assert_eq!(record["dtype"], dtype);
    assert_eq!(record["iters"], 2);
    assert_eq!(record["device"], "cpu");
    assert!(record["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(record["peak_memory_bytes"].as_u64().unwrap() > 0);
    // One eval per forward pass; a barrier per stage when profiling:
    // embedders + 2 double + 4 single blocks + final layer.
    assert_eq!(record["sync_points_per_iter"], 1.0);
    assert_eq!(record["profile_barriers_per_iter"], 8.0);
    assert_eq!(record["metrics"]["output shape"], "[1, 256, 64]");
    let max = record["metrics"]["max |output|"].as_f64().unwrap();
    assert!(max.is_finite() && max > 0.0);
    assert_eq!(record["top_stages"].as_array().unwrap().len(), 5);

    let names = trace_span_names(trace);
    for stage in [
        "embedders",
        "double_blocks.0",
        "double_blocks.1",
        "single_blocks.0",
        "single_blocks.3",
        "final_layer",
        "iteration",
    ] {
        assert_eq!(
            names.iter().filter(|n| **n == stage).count(),
            2,
            "{stage}: {names:?}"
        );
    }
    let blocks = record["metrics"]["blocks"].as_str().unwrap();
    assert!(
        blocks.ends_with(&format!("(--compiled {compiled})")),
        "{blocks}"
    );
    assert!(record["metrics"]["first call"]
        .as_str()
        .unwrap()
        .contains(" ms"));
    record["metrics"]["graph nodes"].as_u64().unwrap()
}

#[test]
fn bad_input_exits_with_code_2_and_a_message() {
    let schnell = fixture("flux_schnell_tiny.weights.safetensors");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--dtype".into(), "float16".into()],
            "expected float32 or bfloat16",
        ),
        (
            vec!["--preset".into(), "huge".into()],
            "expected small or full",
        ),
        (
            vec!["--variant".into(), "pro".into()],
            "expected schnell or dev",
        ),
        (vec!["--seed".into(), "-1".into()], "--seed"),
        (
            vec!["--compiled".into(), "yes".into()],
            "expected on or off",
        ),
        (vec!["--weights".into()], "--weights needs a value"),
        (
            vec!["--weights".into(), "/nonexistent/flux.safetensors".into()],
            "no file at",
        ),
        // A checkpoint of other dimensions than the preset: every mismatch listed.
        (
            vec!["--device".into(), "cpu".into(), "--weights".into(), schnell],
            "does not match the model",
        ),
        (vec!["--frobnicate".into()], "unknown argument"),
    ];
    for (args, want) in &cases {
        let out = program().args(args).output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = program()
        .args(["--device", "cpu", "--weights"])
        .arg(fixture("flux_schnell_tiny.weights.safetensors"))
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert!(
        stderr.contains("txt_in.weight: shape [48, 32] in the file, [128, 4096] in the model"),
        "{stderr}"
    );
}

#[test]
fn help_lists_every_flag() {
    let out = program().arg("--help").output().unwrap();
    let extra = [
        "--weights",
        "--variant",
        "--seed",
        "--compiled",
        "Text encoders",
    ];
    help_lists(&out, &[&HARNESS_FLAGS[..], &extra[..]].concat());
}
