//! A 2-layer MLP trained with a compiled Adam step on 10 Gaussian blobs in 64-d.
use mlx_rs::{compile_with_state, ops, value_and_grad, Array, Dtype, Result, Tree};

mlx_rs::tree_struct! { struct Mlp { w1: Array, b1: Array, w2: Array, b2: Array } }
type State = (Mlp, Mlp, Mlp, Array); // parameters, Adam's two moments, step count
const LR: f32 = 1e-2;

fn forward(p: &Mlp, x: &Array) -> Result<Array> {
    (x.matmul(&p.w1)? + &p.b1)?.relu()?.matmul(&p.w2)? + &p.b2
}

fn loss_fn(p: &Mlp, (x, y): &(Array, Array)) -> Result<Array> {
    ops::nn::cross_entropy(&forward(p, x)?, y)?.mean()
}

fn step((p, m, v, t): &mut State, batch: &(Array, Array)) -> Result<Array> {
    let (loss, g) = value_and_grad(loss_fn).call(p, batch)?;
    *t = (&*t + 1.0)?;
    *m = m.zip_map(&g, |m, g| m * 0.9 + (g * 0.1)?)?;
    *v = v.zip_map(&g, |v, g| v * 0.999 + (g.square()? * 0.001)?)?;
    let (c1, c2) = (
        (1.0 - ops::power(0.9, &*t)?)?,
        (1.0 - ops::power(0.999, &*t)?)?,
    );
    let update = m.zip_map(v, |m, v| (m / &c1)? / ((v / &c2)?.sqrt()? + 1e-8)?)?;
    *p = p.zip_map(&update, |p, u| p - (u * LR)?)?;
    Ok(loss)
}

fn main() -> Result<()> {
    ops::random::seed(0)?;
    let (n, d, k, h) = (2000, 64, 10, 128);
    let centers = (Array::normal([k, d])? * 2.0)?;
    let y = Array::randint(0, k, [n])?;
    let x = (centers.take(&y, 0)? + Array::normal([n, d])?)?;
    let init = |r: i32, c| Array::normal([r, c])? * (2.0 / r as f32).sqrt();
    let zeros = |c| Array::zeros::<f32>([c]);
    let params = Mlp {
        w1: init(d, h)?,
        b1: zeros(h)?,
        w2: init(h, k)?,
        b2: zeros(k)?,
    };
    let moments = params.map(Array::zeros_like)?;
    let mut state = (params, moments.clone(), moments, Array::scalar(0.0f32)?);

    let step = compile_with_state(step)?;
    let batch = (x, y);
    let mut loss = Array::scalar(0.0f32)?;
    for _ in 0..200 {
        loss = step.call_mut(&mut state, &batch)?;
        state.eval()?;
    }
    let hits = forward(&state.0, &batch.0)?
        .argmax_axis(-1)?
        .equal(&batch.1)?;
    let acc = hits.astype(Dtype::Float32)?.mean()?.item::<f32>()?;
    println!("loss {:.4} accuracy {acc:.3}", loss.item::<f32>()?);
    assert!(acc > 0.9, "accuracy {acc} <= 0.9");
    Ok(())
}
