//! MLX that cannot be loaded at run time is an `Err` naming what to set, not a
//! loader failure or a crash. The test runs this binary again in a child
//! process whose `MLX_DIR` names a folder without libmlx.

use std::process::Command;

use mlx_rs::{ops, Array, Device, Error};

const CHILD: &str = "MLX_RS_TEST_UNLOADABLE_CHILD";

#[test]
fn unloadable_mlx_is_an_error_naming_mlx_dir() {
    if std::env::var_os(CHILD).is_some() {
        child_checks();
        return;
    }
    let missing = std::env::temp_dir().join(format!("mlx-rs-no-mlx-{}", std::process::id()));
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "unloadable_mlx_is_an_error_naming_mlx_dir",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("MLX_DIR", &missing)
        .output()
        .expect("run this test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("child: Err(") && stdout.contains(&*missing.to_string_lossy()));
}

/// In the child: every fallible call returns `Error::Unavailable`, and the
/// infallible ones (creating a device, dropping) neither panic nor crash.
fn child_checks() {
    let err = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap_err();
    println!("child: Err({err})");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.message().contains("MLX_DIR"), "{err}");
    assert!(err.location().is_none());
    let cpu = Device::cpu();
    assert!(!cpu.is_available());
    assert!(matches!(mlx_rs::version(), Err(Error::Unavailable { .. })));
    assert!(matches!(
        ops::zeros(&[2], mlx_rs::Dtype::Float32),
        Err(Error::Unavailable { .. })
    ));
    drop(cpu);
}
