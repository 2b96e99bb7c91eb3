//! Gives the examples, tests and benches of this package an rpath to libmlx,
//! so they also run outside cargo (link args do not travel from mlx-sys).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MLX_LIB");
    let lib = std::env::var("DEP_MLX_LIB").expect("mlx-sys publishes DEP_MLX_LIB");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::env::var("DEP_MLX_ALLOW_SHLIB_UNDEFINED").is_ok_and(|v| v == "1") {
        println!("cargo:rustc-link-arg=-Wl,--allow-shlib-undefined");
    }
}
