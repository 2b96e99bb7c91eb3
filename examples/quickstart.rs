//! Prints the MLX version and device, then computes a small result.
//!
//! `cargo run --release --example quickstart`
use mlx_rs::{ops, Array, Device};

fn main() -> mlx_rs::Result<()> {
    println!("MLX {}", mlx_rs::version()?);
    let device = Device::default_device()?;
    let backend = if mlx_rs::cuda_is_available() {
        "CUDA"
    } else if mlx_rs::metal_is_available() {
        "Metal"
    } else {
        "CPU only"
    };
    println!("device: {device:?} (backend: {backend})");

    // A 2×3 @ 3×2 product, then a softmax over each row: all lazy until printed.
    let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    let b = Array::from_slice(&[0.5f32, -1.0, 0.25, 0.0, -0.5, 1.0], &[3, 2])?;
    let logits = ops::matmul(&a, &b)?;
    let probs = ops::softmax_axis(&logits, -1, true)?;
    println!("a @ b =\n{logits}");
    println!("softmax(a @ b, axis=-1) =\n{probs}");

    // Errors come back as values, with MLX's message.
    match ops::matmul(&a, &a) {
        Ok(_) => println!("unexpected: a 2×3 @ 2×3 product succeeded"),
        Err(e) => println!("a @ a (shapes 2×3, 2×3) -> Err: {e}"),
    }
    Ok(())
}
