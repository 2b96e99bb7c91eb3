//! Lets this crate's test binaries find libmlx outside cargo, and passes
//! mlx-sys's link metadata on to crates that depend on this one only.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MLX_LIB");
    let lib = std::env::var("DEP_MLX_LIB").expect("mlx-sys publishes DEP_MLX_LIB");
    let allow = std::env::var("DEP_MLX_ALLOW_SHLIB_UNDEFINED").unwrap_or_default();
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if allow == "1" {
        println!("cargo:rustc-link-arg=-Wl,--allow-shlib-undefined");
    }
    // Re-exported as DEP_MLX_RS_CORE_LIB / _ALLOW_SHLIB_UNDEFINED.
    println!("cargo:lib={lib}");
    println!("cargo:allow_shlib_undefined={allow}");
}
