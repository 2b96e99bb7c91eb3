//! A two-layer MLP classifier trained with plain SGD, written with core ops
//! and `value_and_grad`, and its data-parallel step: each rank takes the
//! gradient of its share of the batch, `all_sum` adds them up.
#![allow(dead_code)]

use mlx_rs::distributed::{self, Group};
use mlx_rs::transforms::{value_and_grad, ValueAndGradFn};
use mlx_rs::{ops, Array, Dtype, Result};

/// Parameters: `w1 [hidden, in]`, `b1 [hidden]`, `w2 [classes, hidden]`,
/// `b2 [classes]`.
pub struct Mlp {
    /// The parameters, in the order above.
    pub params: Vec<Array>,
}

impl Mlp {
    /// Random weights (scaled normal, `1 / sqrt(fan_in)`), zero biases, from
    /// `seed`: every rank that uses the same seed starts from the same model.
    pub fn new(inputs: i32, hidden: i32, classes: i32, seed: u64) -> Result<Mlp> {
        let key = ops::random::key(seed)?;
        let (k1, k2) = ops::random::split(&key)?;
        let w1 = ops::random::normal(
            &[hidden, inputs],
            Dtype::Float32,
            0.0,
            1.0 / (inputs as f32).sqrt(),
            Some(&k1),
        )?;
        let w2 = ops::random::normal(
            &[classes, hidden],
            Dtype::Float32,
            0.0,
            1.0 / (hidden as f32).sqrt(),
            Some(&k2),
        )?;
        let b1 = ops::zeros(&[hidden], Dtype::Float32)?;
        let b2 = ops::zeros(&[classes], Dtype::Float32)?;
        mlx_rs::eval([&w1, &b1, &w2, &b2])?;
        Ok(Mlp {
            params: vec![w1, b1, w2, b2],
        })
    }
}

/// Logits of the MLP (`relu` hidden layer) for `x [batch, in]`.
pub fn logits(params: &[Array], x: &Array) -> Result<Array> {
    let h = ops::add(&ops::matmul(x, &ops::transpose(&params[0])?)?, &params[1])?;
    let h = ops::maximum(&h, &Array::scalar(0.0f32)?)?;
    ops::add(&ops::matmul(&h, &ops::transpose(&params[2])?)?, &params[3])
}

/// The summed cross-entropy of `x`'s rows against labels `y` (int32),
/// divided by `denominator` (the global batch size, so that per-rank
/// losses and gradients add up to the full batch's mean).
fn loss(args: &[Array]) -> Result<Vec<Array>> {
    let (params, x, y, denom) = (&args[..4], &args[4], &args[5], &args[6]);
    let z = logits(params, x)?;
    let lse = ops::logsumexp_axis(&z, -1, false)?;
    let picked = ops::take_along_axis(&z, &ops::expand_dims(y, -1)?, -1)?;
    let per_row = ops::subtract(&lse, &ops::squeeze_axes(&picked, &[-1])?)?;
    Ok(vec![ops::divide(&ops::sum(&per_row, false)?, denom)?])
}

/// Loss and gradients with respect to the four parameters.
pub fn loss_and_grad() -> Result<ValueAndGradFn> {
    value_and_grad(loss, &[0, 1, 2, 3])
}

/// One SGD step on this rank's rows `x`, `y` of a batch of `global_batch`
/// rows. With a group, the gradients of all ranks are summed (`all_sum`), so
/// every rank applies the full batch's mean gradient and the models stay
/// identical. Returns the loss of the whole batch.
pub fn sgd_step(
    model: &mut Mlp,
    vg: &ValueAndGradFn,
    x: &Array,
    y: &Array,
    global_batch: usize,
    lr: f32,
    group: Option<&Group>,
) -> Result<f32> {
    let denom = Array::scalar(global_batch as f32)?;
    let mut args = model.params.clone();
    args.extend([x.clone(), y.clone(), denom]);
    let (values, grads) = vg.call(&args)?;
    let (loss, grads) = match group {
        Some(g) => (
            distributed::all_sum(&values[0], g)?,
            grads
                .iter()
                .map(|gr| distributed::all_sum(gr, g))
                .collect::<Result<Vec<_>>>()?,
        ),
        None => (values[0].clone(), grads),
    };
    let lr = Array::scalar(lr)?;
    let new: Vec<Array> = model
        .params
        .iter()
        .zip(&grads)
        .map(|(p, g)| ops::subtract(p, &ops::multiply(&lr, g)?))
        .collect::<Result<_>>()?;
    mlx_rs::eval(new.iter().chain([&loss]))?;
    model.params = new;
    loss.item::<f32>()
}

/// The fraction of rows of `x` whose arg-max logit is the label in `y`.
pub fn accuracy(model: &Mlp, x: &Array, y: &Array) -> Result<f32> {
    let pred = ops::argmax_axis(&logits(&model.params, x)?, -1, false)?;
    let hits = ops::sum(
        &ops::equal(&pred.astype(Dtype::Int32)?, y)?.astype(Dtype::Float32)?,
        false,
    )?;
    Ok(hits.item::<f32>()? / x.shape()[0] as f32)
}
