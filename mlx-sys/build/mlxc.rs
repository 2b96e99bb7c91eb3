//! Locating the pinned mlx-c sources and compiling them into a static `mlxc`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fetch::cache_dir;
use crate::MLX_C_VERSION;

/// The folder holding `mlx/c/mlx.h` and the mlx-c `.cpp` files.
pub fn locate() -> Result<PathBuf, String> {
    if let Some(dir) = env::var_os("MLX_C_DIR") {
        let dir = PathBuf::from(dir);
        return check(&dir).map(|()| dir);
    }
    from_cargo_registry()
}

fn check(dir: &Path) -> Result<(), String> {
    let header = dir.join("mlx/c/mlx.h");
    if header.exists() {
        Ok(())
    } else {
        Err(format!("{} is missing", header.display()))
    }
}

/// mlx-c ships inside the crates.io package `mlx-sys` 0.7.0 (`src/mlx-c`). Cargo
/// itself downloads and unpacks it: `cargo metadata` on a generated manifest
/// that depends on it names the unpacked folder. Offline first, so a build with
/// a warm cargo cache needs no network.
fn from_cargo_registry() -> Result<PathBuf, String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let dir = cache_dir()?.join(format!("mlx-c-{MLX_C_VERSION}-locator"));
    fs::create_dir_all(dir.join("src")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    fs::write(
        &manifest,
        format!(
            "[package]\nname = \"mlx-c-locator\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\nmlx-sys = \"={MLX_C_VERSION}\"\n\
             # Its own workspace, whatever folder it sits in.\n[workspace]\n"
        ),
    )
    .map_err(|e| format!("{}: {e}", manifest.display()))?;
    fs::write(dir.join("src/lib.rs"), "").map_err(|e| format!("{}: {e}", dir.display()))?;

    let mut failures = Vec::new();
    for offline in [true, false] {
        let mut cmd = Command::new(&cargo);
        cmd.args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest);
        if offline {
            cmd.arg("--offline");
        }
        // Settings meant for the outer build must not steer this one.
        for var in [
            "CARGO_TARGET_DIR",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run `{cargo}`: {e}"))?;
        if !out.status.success() {
            failures.push(String::from_utf8_lossy(&out.stderr).trim().to_string());
            continue;
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("cargo metadata printed invalid JSON: {e}"))?;
        let found = meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "mlx-sys" && p["version"] == MLX_C_VERSION)
            .and_then(|p| p["manifest_path"].as_str())
            .map(|m| Path::new(m).parent().unwrap().join("src/mlx-c"));
        return match found {
            Some(src) => check(&src).map(|()| src),
            None => Err("cargo metadata did not list mlx-sys".into()),
        };
    }
    Err(failures.join("\n"))
}

pub fn not_found_message(why: &str) -> String {
    format!(
        "mlx-sys could not find the mlx-c {MLX_C_VERSION} sources.\n\n{why}\n\n\
         Provide them in any one of these ways:\n\
         \x20 1. Set MLX_C_DIR to an mlx-c {MLX_C_VERSION} checkout (the folder holding mlx/c/mlx.h).\n\
         \x20 2. Let cargo fetch the registry package mlx-sys {MLX_C_VERSION}, which ships them:\n\
         \x20    needs crates.io access once (`cargo fetch` in any project depending on it fills\n\
         \x20    cargo's cache for offline builds).\n"
    )
}

/// Compiles every mlx-c translation unit into the static library `mlxc`.
pub fn compile(src: &Path, mlx_include: &Path) {
    let c_dir = src.join("mlx/c");
    let mut files: Vec<PathBuf> = fs::read_dir(&c_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", c_dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no mlx-c sources in {}", c_dir.display());

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let compat = manifest_dir.join("compat/mlx_format_compat.h");
    cc::Build::new()
        .cpp(true)
        .std("c++20")
        .opt_level(2)
        .debug(false)
        .pic(true)
        .warnings(false)
        .flag_if_supported("-w")
        .include(src)
        .include(mlx_include)
        .flag("-include")
        .flag(compat.to_str().expect("UTF-8 path"))
        .files(&files)
        .compile("mlxc");
}
