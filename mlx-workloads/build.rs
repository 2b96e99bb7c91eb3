//! Gives this crate's binaries and tests an rpath to libmlx (metadata via mlx-rs-core).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MLX_RS_CORE_LIB");
    let lib = std::env::var("DEP_MLX_RS_CORE_LIB").expect("mlx-rs-core publishes its lib dir");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::env::var("DEP_MLX_RS_CORE_ALLOW_SHLIB_UNDEFINED").is_ok_and(|v| v == "1") {
        println!("cargo:rustc-link-arg=-Wl,--allow-shlib-undefined");
    }
}
