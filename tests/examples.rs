//! The README's examples run to completion and their own assertions hold
//! (the MLP's accuracy above 90%, the encoder block's float32/bfloat16
//! agreement and exact safetensors round trip). `cargo test` builds every
//! example next to the test binaries (`target/<profile>/examples/`); these
//! tests start the built programs as a user would.

use std::path::PathBuf;
use std::process::Command;

/// The built example `name`: in `$MLX_RS_EXAMPLES_DIR` where that is set
/// (test binaries copied to another machine, `scripts/gpu-suite.sh`), else
/// beside this test binary's `deps/` folder.
fn example(name: &str) -> PathBuf {
    let dir = std::env::var_os("MLX_RS_EXAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("test binary path");
            exe.parent()
                .and_then(|deps| deps.parent())
                .expect("target/<profile>/deps")
                .join("examples")
        });
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} was not built (cargo test builds the examples)",
        path.display()
    );
    path
}

/// Runs an example; returns its standard output after checking it succeeded.
fn run(name: &str) -> String {
    let out = Command::new(example(name))
        .output()
        .expect("example starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn mlp_blobs_trains_past_90_percent() {
    let out = run("mlp_blobs");
    let accuracy: f64 = out
        .split("accuracy ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no accuracy printed:\n{out}"));
    assert!(accuracy > 0.9, "accuracy {accuracy}");
}

#[test]
fn encoder_block_round_trips_in_float32_and_bfloat16() {
    let out = run("encoder_block");
    for dtype in ["float32", "bfloat16"] {
        assert!(
            out.lines()
                .any(|l| l.contains(dtype) && l.contains("round trip equal")),
            "no {dtype} line:\n{out}"
        );
    }
}

#[test]
fn quickstart_runs() {
    let out = run("quickstart");
    assert!(out.contains("MLX 0.32.2"), "{out}");
}
