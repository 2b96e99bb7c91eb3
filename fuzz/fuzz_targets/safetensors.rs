//! Loading arbitrary bytes as a safetensors file returns `Ok` or `Err`, never
//! crashes; loaded arrays can be read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("mlx-rs-fuzz-{}.safetensors", std::process::id()));
    std::fs::write(&path, data).expect("write the input to a temp file");
    if let Ok(arrays) =
        mlx_rs::io::load_safetensors(&path).map(|t| t.arrays.into_values().collect::<Vec<_>>())
    {
        for a in arrays {
            // Reading the values touches every loaded byte.
            if let Ok(f) = a.astype(mlx_rs::Dtype::Float32) {
                let _ = f.to_vec::<f32>();
            }
        }
    }
    let _ = std::fs::remove_file(&path);
});
