//! Build script of `mlx-sys`: obtains MLX, compiles mlx-c against it into a
//! shared library, and generates bindings that load it at run time.
//!
//! MLX is looked up in this order (each step's failure is reported if all fail):
//! 1. `MLX_DIR`: any prefix with `include/mlx/` and `lib/libmlx.{so,dylib}`;
//! 2. an installed Python `mlx` package of the pinned version;
//! 3. the pinned PyPI wheel, fetched with pip, checked against a sha256 table and
//!    unpacked into a cache shared by all builds (`MLX_RS_CACHE_DIR`).
//!
//! mlx-c comes from `MLX_C_DIR` or from the sources shipped in cargo's registry
//! package `mlx-sys` 0.7.0, located through `cargo metadata`.

mod bindings;
mod dynamic;
mod fetch;
mod mlx;
mod mlxc;

use std::env;
use std::path::{Path, PathBuf};

/// The MLX release this crate's bindings and mlx-c are written for.
pub const MLX_VERSION: &str = "0.32.2";
/// The mlx-c release compiled into the crate.
pub const MLX_C_VERSION: &str = "0.7.0";

fn main() {
    for var in [
        "MLX_DIR",
        "MLX_C_DIR",
        "MLX_RS_CACHE_DIR",
        "MLX_RS_PYTHON",
        "MLX_SYS_UPDATE_BINDINGS",
        "XDG_CACHE_HOME",
        "HOME",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for path in ["build", "compat", "shim", "wrapper.h"] {
        println!("cargo:rerun-if-changed={path}");
    }

    let target = mlx::Target::from_env();
    let prefix = match mlx::locate(&target) {
        Ok(prefix) => prefix,
        Err(attempts) => panic!("{}", mlx::not_found_message(&attempts)),
    };
    let mlxc_dir = match mlxc::locate() {
        Ok(dir) => dir,
        Err(why) => panic!("{}", mlxc::not_found_message(&why)),
    };

    let mlxc = mlxc::build_shared(&mlxc_dir, &prefix.include_dir(), &prefix.lib_dir(), &target);
    bindings::emit(&mlxc_dir, &prefix.include_dir());
    emit_dynamic_bindings();
    publish(&prefix, &mlxc, &target);
}

/// Writes `OUT_DIR/mlx_c.rs`: the bindings, calling through `dlopen`ed mlx-c.
fn emit_dynamic_bindings() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = if cfg!(feature = "bindgen") {
        out_dir.join("bindings.rs")
    } else {
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("src/bindings.rs")
    };
    let text =
        std::fs::read_to_string(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let dest = out_dir.join("mlx_c.rs");
    std::fs::write(&dest, dynamic::generate(&text))
        .unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
}

/// Tells the crate where mlx-c and libmlx are. Nothing is linked: the crate
/// loads mlx-c at run time (see `src/loader.rs`), so binaries need no rpath,
/// no `LD_LIBRARY_PATH` and no build script of their own.
fn publish(prefix: &mlx::Prefix, mlxc: &Path, target: &mlx::Target) {
    let lib_dir = prefix.lib_dir();
    // A deleted or moved cache makes the next build run this script again
    // (cargo treats a missing path as changed), so rebuilding repairs it.
    println!("cargo:rerun-if-changed={}", mlxc.display());
    println!(
        "cargo:rerun-if-changed={}",
        lib_dir.join(target.lib_file()).display()
    );
    // glibc before 2.34 keeps dlopen in libdl.
    if target.os == "linux" {
        println!("cargo:rustc-link-lib=dylib=dl");
    }
    // Metadata for direct dependents (`DEP_MLX_*`).
    println!("cargo:root={}", prefix.root.display());
    println!("cargo:include={}", prefix.include_dir().display());
    println!("cargo:lib={}", lib_dir.display());
    println!("cargo:mlxc={}", mlxc.display());
    println!("cargo:backend={}", prefix.backend);
    println!("cargo:rustc-env=MLX_SYS_LIB_DIR={}", lib_dir.display());
    println!("cargo:rustc-env=MLX_SYS_MLXC_PATH={}", mlxc.display());
    // The library's path inside the cache, so a moved cache is found again
    // through MLX_RS_CACHE_DIR at run time.
    let in_cache = fetch::cache_dir()
        .ok()
        .and_then(|c| mlxc.strip_prefix(c).ok().map(Path::to_path_buf));
    println!(
        "cargo:rustc-env=MLX_SYS_MLXC_CACHE_PATH={}",
        in_cache
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    println!("cargo:rustc-env=MLX_SYS_BACKEND={}", prefix.backend);
    println!("cargo:rustc-env=MLX_SYS_SOURCE={}", prefix.source);
}
