//! One transformer encoder block (fast attention, layer norm, GELU MLP) in
//! float32 and bfloat16, with a safetensors round trip of its parameters.
use mlx_rs::ops::fast::{layer_norm, scaled_dot_product_attention as sdpa, AttentionMask};
use mlx_rs::{io, Array, Dtype, Result, Tree};

const B: i32 = 2;
const L: i32 = 16;
const D: i32 = 64;
const H: i32 = 4;
const F: i32 = 256;

#[derive(Clone)]
struct Linear {
    weight: Array,
    bias: Array,
}
mlx_rs::impl_tree!(Linear { weight, bias });

#[derive(Clone)]
struct Block {
    ln1: Linear,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: Linear,
    fc1: Linear,
    fc2: Linear,
}
mlx_rs::impl_tree!(Block {
    ln1,
    q,
    k,
    v,
    o,
    ln2,
    fc1,
    fc2
});

fn linear(i: i32, o: i32) -> Result<Linear> {
    Ok(Linear {
        weight: (Array::normal([i, o])? / (i as f32).sqrt())?,
        bias: Array::zeros::<f32>([o])?,
    })
}

fn norm() -> Result<Linear> {
    Ok(Linear {
        weight: Array::ones::<f32>([D])?,
        bias: Array::zeros::<f32>([D])?,
    })
}

impl Linear {
    fn dense(&self, x: &Array) -> Result<Array> {
        x.matmul(&self.weight)? + &self.bias
    }
    fn norm(&self, x: &Array) -> Result<Array> {
        layer_norm(x, Some(&self.weight), Some(&self.bias), 1e-5)
    }
}

fn block(p: &Block, x: &Array) -> Result<Array> {
    let h = p.ln1.norm(x)?;
    let heads = |l: &Linear| {
        l.dense(&h)?
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
    let x = (x + p.o.dense(&a.permute([0, 2, 1, 3])?.reshape([B, L, D])?)?)?;
    let h = p.ln2.norm(&x)?;
    &x + p.fc2.dense(&p.fc1.dense(&h)?.gelu()?)?
}

fn main() -> Result<()> {
    mlx_rs::ops::random::seed(0)?;
    let (q, k, v, o) = (linear(D, D)?, linear(D, D)?, linear(D, D)?, linear(D, D)?);
    let params = Block {
        ln1: norm()?,
        q,
        k,
        v,
        o,
        ln2: norm()?,
        fc1: linear(D, F)?,
        fc2: linear(F, D)?,
    };
    let x = Array::normal([B, L, D])?;
    for dtype in [Dtype::Float32, Dtype::Bfloat16] {
        let p = params.map(|a| a.astype(dtype))?;
        let y = block(&p, &x.astype(dtype)?)?;
        let path = std::env::temp_dir().join(format!("encoder_{dtype}.safetensors"));
        io::save_safetensors(&path, &p, None)?;
        let mut loaded = params.clone();
        loaded.load_named(&io::load_safetensors(&path)?.arrays)?;
        let equal = y.array_equal(&block(&loaded, &x.astype(dtype)?)?)?;
        let err = (y.astype(Dtype::Float32)? - block(&params, &x)?)?
            .abs()?
            .max()?
            .item::<f32>()?;
        println!(
            "{dtype}: output {:?}, max |diff| vs float32 {err:.4}, round trip equal: {equal}",
            y.shape()
        );
        if !equal {
            std::process::exit(1);
        }
    }
    Ok(())
}
