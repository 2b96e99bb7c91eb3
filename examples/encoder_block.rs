//! One transformer encoder block (fast attention, layer norm, GELU MLP) in
//! float32 and bfloat16, with a safetensors round trip of its parameters.
use mlx_rs::ops::fast::{layer_norm, scaled_dot_product_attention as sdpa, AttentionMask};
use mlx_rs::{io, Array, Dtype, Result, Tree};

const B: i32 = 2;
const L: i32 = 16;
const D: i32 = 64;
const H: i32 = 4;

mlx_rs::tree_struct! { struct Linear { weight: Array, bias: Array } }
mlx_rs::tree_struct! {
    struct Block { ln1: Linear, q: Linear, k: Linear, v: Linear, o: Linear, ln2: Linear,
        fc1: Linear, fc2: Linear }
}

fn linear(i: i32, o: i32) -> Result<Linear> {
    let weight = (Array::normal([i, o])? / (i as f32).sqrt())?;
    Ok(Linear {
        weight,
        bias: Array::zeros::<f32>([o])?,
    })
}

fn norm() -> Result<Linear> {
    Ok(Linear {
        weight: Array::ones::<f32>([D])?,
        bias: Array::zeros::<f32>([D])?,
    })
}

fn dense(p: &Linear, x: &Array) -> Result<Array> {
    x.matmul(&p.weight)? + &p.bias
}

fn block(p: &Block, x: &Array) -> Result<Array> {
    let h = layer_norm(x, Some(&p.ln1.weight), Some(&p.ln1.bias), 1e-5)?;
    let heads = |l: &Linear| {
        dense(l, &h)?
            .reshape([B, L, H, D / H])?
            .permute([0, 2, 1, 3])
    };
    let scale = ((D / H) as f32).powf(-0.5);
    let a = sdpa(
        &heads(&p.q)?,
        &heads(&p.k)?,
        &heads(&p.v)?,
        scale,
        AttentionMask::None,
    )?;
    let x = (x + dense(&p.o, &a.permute([0, 2, 1, 3])?.reshape([B, L, D])?)?)?;
    let h = layer_norm(&x, Some(&p.ln2.weight), Some(&p.ln2.bias), 1e-5)?;
    &x + dense(&p.fc2, &dense(&p.fc1, &h)?.gelu()?)?
}

fn main() -> Result<()> {
    mlx_rs::ops::random::seed(0)?;
    let (q, k, v, o) = (linear(D, D)?, linear(D, D)?, linear(D, D)?, linear(D, D)?);
    let (ln1, ln2, fc1, fc2) = (norm()?, norm()?, linear(D, 4 * D)?, linear(4 * D, D)?);
    let params = Block {
        ln1,
        q,
        k,
        v,
        o,
        ln2,
        fc1,
        fc2,
    };
    let x = Array::normal([B, L, D])?;
    for dtype in [Dtype::Float32, Dtype::Bfloat16] {
        let p = params.map(|a| a.astype(dtype))?;
        let y = block(&p, &x.astype(dtype)?)?;
        let path = std::env::temp_dir().join(format!("encoder_{dtype}.safetensors"));
        io::save_safetensors(&path, &p, None)?;
        let mut loaded = params.clone();
        loaded.load_named(&io::load_safetensors(&path)?.arrays)?;
        assert!(y.array_equal(&block(&loaded, &x.astype(dtype)?)?)?);
        let diff = (y.astype(Dtype::Float32)? - block(&params, &x)?)?
            .abs()?
            .max()?;
        println!(
            "{dtype}: max |diff| vs float32 {:.4}, round trip equal",
            diff.item::<f32>()?
        );
    }
    Ok(())
}
