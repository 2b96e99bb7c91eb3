//! Build script of `mlx-sys`: obtains MLX, compiles mlx-c against it, links both.
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
    for path in ["build", "compat", "wrapper.h"] {
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

    mlxc::compile(&mlxc_dir, &prefix.include_dir());
    bindings::emit(&mlxc_dir, &prefix.include_dir());
    link(&prefix, &target);
}

/// Links libmlx dynamically and tells dependents where it lives.
fn link(prefix: &mlx::Prefix, target: &mlx::Target) {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let lib_dir = prefix.lib_dir();

    // Cargo puts link-search paths that lie inside OUT_DIR on the loader path of
    // `cargo run/test/bench` (doc tests included). A directory link keeps the
    // wheel layout intact: libmlx's `$ORIGIN/../..` still reaches its sibling
    // folders because `..` is resolved after following the link.
    let lib_link = out_dir.join("mlx-lib");
    replace_dir_link(&lib_link, &lib_dir);
    println!("cargo:rustc-link-search=native={}", lib_link.display());
    println!("cargo:rustc-link-lib=dylib=mlx");

    // Metadata for direct dependents (`DEP_MLX_*`): each crate that builds
    // binaries adds its own rpath, since link args do not travel downstream.
    println!("cargo:root={}", prefix.root.display());
    println!("cargo:include={}", prefix.include_dir().display());
    println!("cargo:lib={}", lib_dir.display());
    println!("cargo:backend={}", prefix.backend);
    // A CUDA libmlx needs CUDA libraries only at run time; let binaries link on
    // machines without them.
    let allow_undefined = prefix.backend == "cuda" && target.os == "linux";
    println!(
        "cargo:allow_shlib_undefined={}",
        if allow_undefined { "1" } else { "0" }
    );
    for arg in binary_link_args(&lib_dir, allow_undefined) {
        println!("cargo:rustc-link-arg={arg}");
    }
    println!("cargo:rustc-env=MLX_SYS_LIB_DIR={}", lib_dir.display());
    println!("cargo:rustc-env=MLX_SYS_BACKEND={}", prefix.backend);
    println!("cargo:rustc-env=MLX_SYS_SOURCE={}", prefix.source);
}

/// The linker arguments this crate's own test binaries need (dependents derive
/// the same from `DEP_MLX_LIB` / `DEP_MLX_ALLOW_SHLIB_UNDEFINED`).
fn binary_link_args(lib_dir: &Path, allow_undefined: bool) -> Vec<String> {
    let mut args = vec![format!("-Wl,-rpath,{}", lib_dir.display())];
    if allow_undefined {
        args.push("-Wl,--allow-shlib-undefined".to_string());
    }
    args
}

fn replace_dir_link(link: &Path, target: &Path) {
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(link)
            .or_else(|_| std::fs::remove_dir_all(link))
            .unwrap_or_else(|e| panic!("cannot replace {}: {e}", link.display()));
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
    #[cfg(not(unix))]
    compile_error!("mlx-sys supports Linux and macOS hosts");
}
