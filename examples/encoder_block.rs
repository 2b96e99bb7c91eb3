//! One transformer encoder block (fast attention, layer norm, GELU MLP) in
//! float32 and bfloat16, with a safetensors round trip of its parameters.
//!
//! Written as a user of the library would: a module of `nn` layers
//! (`MultiHeadAttention` runs MLX's fused scaled-dot-product attention,
//! `LayerNorm` its fast layer norm). `examples/py/encoder_block.py` is the
//! same program in idiomatic Python MLX (an `nn.Module` of `mlx.nn` layers);
//! `scripts/count_lines.py` compares their lengths.
use mlx_rs::nn::{self, gelu, LayerNorm, Linear, Module, MultiHeadAttention};
use mlx_rs::{ops, Array, Dtype, Result};

nn::module_struct! {
    struct Block(dims: i32, heads: i32) {
        ln1: LayerNorm = LayerNorm::new(dims, 1e-5, true)?,
        attn: MultiHeadAttention = MultiHeadAttention::new(dims, heads, true)?,
        ln2: LayerNorm = LayerNorm::new(dims, 1e-5, true)?,
        fc1: Linear = Linear::new(dims, 4 * dims, true)?,
        fc2: Linear = Linear::new(4 * dims, dims, true)?,
    }
}

impl Module for Block {
    fn forward(&self, x: &Array) -> Result<Array> {
        let x = (x + self.attn.forward(&self.ln1.forward(x)?)?)?;
        let h = gelu(&self.fc1.forward(&self.ln2.forward(&x)?)?)?;
        &x + self.fc2.forward(&h)?
    }
}

fn main() -> Result<()> {
    ops::random::seed(0)?;
    let mut block = Block::new(64, 4)?;
    let x = Array::normal([2, 16, 64])?;
    let reference = block.forward(&x)?;
    for (dtype, tol) in [(Dtype::Float32, 1e-5), (Dtype::Bfloat16, 0.1)] {
        block.to_dtype(dtype)?;
        let y = block.forward(&x.astype(dtype)?)?;
        let path = std::env::temp_dir().join(format!("encoder_{dtype}.safetensors"));
        nn::save_safetensors(&block, &path)?;
        // Loading is strict about dtypes: convert the fresh block first.
        let mut loaded = Block::new(64, 4)?;
        loaded.to_dtype(dtype)?;
        nn::load_safetensors(&mut loaded, &path)?;
        assert!(y.array_equal(&loaded.forward(&x.astype(dtype)?)?)?);
        let err = (&y - &reference)?.abs()?.max()?.item::<f32>()?;
        println!("{dtype}: max |diff| vs float32 {err:.4}, round trip equal");
        assert!(err < tol, "{err}");
    }
    Ok(())
}
