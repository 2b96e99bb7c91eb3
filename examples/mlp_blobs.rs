//! A 2-layer MLP trained with a compiled Adam step on 10 Gaussian blobs in 64-d.
//!
//! Written as a user of the library would: `nn` layers, loss and Adam, and
//! the whole step (gradients and update) compiled with the model and the
//! optimizer as its state. `examples/py/mlp_blobs.py` is the same program in
//! idiomatic Python MLX (`mlx.nn`, `mlx.optimizers.Adam`,
//! `mx.compile(inputs=state, outputs=state)`); `scripts/count_lines.py`
//! compares their lengths.
use mlx_rs::nn::optim::{Adam, Optimizer};
use mlx_rs::nn::{self, losses, Activation, Linear, Module, Sequential};
use mlx_rs::{compile_with_state, ops, Array, Result, Tree};

fn loss_fn(model: &Sequential, (x, y): &(Array, Array)) -> Result<Array> {
    losses::cross_entropy(&model.forward(x)?, y)
}

fn main() -> Result<()> {
    ops::random::seed(0)?;
    let (n, d, k, h) = (2000, 64, 10, 128);
    let centers = (Array::normal([k, d])? * 2.0)?;
    let y = Array::randint(0, k, [n])?;
    let x = (centers.take(&y, 0)? + Array::normal([n, d])?)?;
    let model = Sequential::new()
        .add(Linear::new(d, h, true)?)
        .add(Activation::Relu)
        .add(Linear::new(h, k, true)?);
    let mut state = (model, Adam::new(1e-2));
    let step = compile_with_state(|(model, opt): &mut (Sequential, Adam), batch| {
        let (loss, grads) = nn::value_and_grad(loss_fn).call(model, batch)?;
        opt.update(model, &grads)?;
        Ok(loss)
    })?;
    let batch = (x, y);
    let mut loss = Array::scalar(0.0f32)?;
    for _ in 0..200 {
        loss = step.call_mut(&mut state, &batch)?;
        state.eval()?;
    }
    let acc = losses::accuracy(&state.0.forward(&batch.0)?, &batch.1)?;
    println!("loss {:.4} accuracy {acc:.3}", loss.item::<f32>()?);
    assert!(acc > 0.9, "accuracy {acc} <= 0.9");
    Ok(())
}
