//! Locating the pinned mlx-c sources and compiling them into a static `mlxc`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::fetch::cache_dir;
use crate::mlx::Target;
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

/// The project's own C++ additions (`shim/`): CPU primitives registered with
/// MLX and a polling wait for GPU results, compiled into the same library as
/// mlx-c. Their loops are written to
/// be vectorized, so they build at `-O3` with OpenMP's `simd` pragmas (no
/// OpenMP runtime is used or linked) and without trapping math (which keeps
/// the compiler from turning the clamps' float compares into vector selects;
/// nothing here reads floating-point exception flags).
fn shim_build(src: &Path, mlx_include: &Path, manifest_dir: &Path) -> cc::Build {
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++20")
        .opt_level(3)
        .debug(false)
        .pic(true)
        .warnings(false)
        .flag_if_supported("-w")
        .flag_if_supported("-fopenmp-simd")
        .flag_if_supported("-fno-trapping-math")
        .include(src)
        .include(mlx_include)
        .include(manifest_dir.join("shim"))
        .file(manifest_dir.join("shim/cpu_primitives.cpp"))
        .file(manifest_dir.join("shim/gpu_wait.cpp"))
        .cargo_metadata(false);
    build
}

/// Compiles mlx-c into a shared library linked against libmlx in `lib_dir`,
/// and returns its path.
///
/// It lives in the cache, not in cargo's target folder, so `cargo clean` does
/// not break built programs, and one copy serves every build with the same
/// inputs. When libmlx lies in the cache too (the pinned wheel), mlx-c finds it
/// through a path relative to itself, so the cache can move as a whole.
pub fn build_shared(src: &Path, mlx_include: &Path, lib_dir: &Path, target: &Target) -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let compat = manifest_dir.join("compat/mlx_format_compat.h");
    let mut build = cc::Build::new();
    build
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
        .cargo_metadata(false);

    let cache = cache_dir().ok();
    let in_cache = cache
        .as_ref()
        .and_then(|c| lib_dir.strip_prefix(c).ok().map(Path::to_path_buf));
    let file_name = if target.os == "macos" {
        "libmlxc.dylib"
    } else {
        "libmlxc.so"
    };
    let compiler = build.get_compiler();

    // Everything that changes the library's bytes names its folder.
    let mut key = Sha256::new();
    for part in [
        MLX_C_VERSION.as_bytes(),
        src.as_os_str().as_encoded_bytes(),
        in_cache
            .as_deref()
            .unwrap_or(lib_dir)
            .as_os_str()
            .as_encoded_bytes(),
        compiler.path().as_os_str().as_encoded_bytes(),
        env::var("TARGET").unwrap_or_default().as_bytes(),
        include_bytes!("mlxc.rs"),
        include_bytes!("../compat/mlx_format_compat.h"),
        include_bytes!("../shim/mlx_rs_shim.h"),
        include_bytes!("../shim/cpu_primitives.cpp"),
        include_bytes!("../shim/gpu_wait.cpp"),
    ] {
        key.update((part.len() as u64).to_le_bytes());
        key.update(part);
    }
    let lib_len = fs::metadata(lib_dir.join(target.lib_file()))
        .map(|m| m.len())
        .unwrap_or(0);
    key.update(lib_len.to_le_bytes());
    let key: String = key.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let folder_name = format!("mlx-c-{MLX_C_VERSION}-{key}");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let folder = match &cache {
        Some(cache) => cache.join(&folder_name),
        None => out_dir.join(&folder_name),
    };
    let lib = folder.join(file_name);
    if lib.exists() {
        return lib;
    }

    let mut files: Vec<PathBuf> = fs::read_dir(src.join("mlx/c"))
        .unwrap_or_else(|e| panic!("{}: {e}", src.join("mlx/c").display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no mlx-c sources in {}", src.display());
    let mut objects = build.files(&files).compile_intermediates();
    objects.extend(shim_build(src, mlx_include, &manifest_dir).compile_intermediates());

    // How mlx-c finds libmlx: relative to itself inside the cache, else the
    // absolute folder. RUNPATH (not RPATH) so LD_LIBRARY_PATH can still swap
    // in another libmlx 0.32.2 (a CUDA build) at run time.
    let origin = if target.os == "macos" {
        "@loader_path"
    } else {
        "$ORIGIN"
    };
    let runpath = match &in_cache {
        Some(rel) => format!("{origin}/../{}", rel.display()),
        None => lib_dir.display().to_string(),
    };
    fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    let staging = folder.join(format!("{file_name}.{}.tmp", std::process::id()));
    let mut cmd = Command::new(compiler.path());
    cmd.args(&objects).arg("-o").arg(&staging);
    if target.os == "macos" {
        cmd.arg("-dynamiclib")
            .arg(format!("-Wl,-install_name,@rpath/{file_name}"));
    } else {
        cmd.args(["-shared", "-fPIC", "-Wl,--enable-new-dtags"])
            .arg(format!("-Wl,-soname,{file_name}"))
            // A CUDA libmlx links without the CUDA libraries present.
            .arg("-Wl,--allow-shlib-undefined");
    }
    if target.os == "macos" {
        // The shim's GEMM calls the BLAS libmlx uses, Accelerate on macOS.
        cmd.args(["-framework", "Accelerate"]);
    }
    cmd.arg(format!("-Wl,-rpath,{runpath}"))
        .arg("-L")
        .arg(lib_dir)
        .arg("-lmlx");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", compiler.path()));
    if !out.status.success() {
        let _ = fs::remove_file(&staging);
        panic!(
            "linking {} failed:\n{}",
            lib.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Publish atomically: parallel builds may race; any finished copy is good.
    fs::rename(&staging, &lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display()));
    lib
}
