//! Tensor-parallel linear layers over `mlx_rs::distributed`, and the FLUX
//! transformer's MLP (3072 -> 12288, GELU with the tanh approximation,
//! -> 3072) sharded over the ranks of a group.
//!
//! Weights use the `nn.Linear` layout `[out, in]`: `y = x W^T + b`.
//! - [`ColumnParallelLinear`]: each rank holds a block of output features
//!   (rows of `W`, slice of `b`) and computes those features; an
//!   `all_gather` optionally reassembles the full output.
//! - [`RowParallelLinear`]: each rank holds a block of input features
//!   (columns of `W`) and takes the matching slice of its input; the
//!   partial products are added with `all_sum`, then the bias once.
//!
//! A column-parallel layer followed by a row-parallel one (Megatron's MLP)
//! needs one collective per MLP: the activation runs on each rank's slice.
#![allow(dead_code)]

use mlx_rs::distributed::{self, Group};
use mlx_rs::{ops, Array, Error, Result};

/// `x W^T + b`.
pub fn linear(x: &Array, w: &Array, b: Option<&Array>) -> Result<Array> {
    let y = ops::matmul(x, &ops::transpose(w)?)?;
    match b {
        Some(b) => ops::add(&y, b),
        None => Ok(y),
    }
}

/// GELU with the tanh approximation (FLUX's MLP activation):
/// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
pub fn gelu_tanh(x: &Array) -> Result<Array> {
    let dt = x.dtype();
    let c = |v: f32| Array::scalar(v)?.astype(dt);
    let x3 = ops::multiply(&ops::multiply(x, x)?, x)?;
    let inner = ops::multiply(
        &c((2.0f64 / std::f64::consts::PI).sqrt() as f32)?,
        &ops::add(x, &ops::multiply(&c(0.044715)?, &x3)?)?,
    )?;
    let t = ops::add(&c(1.0)?, &ops::tanh(&inner)?)?;
    ops::multiply(&ops::multiply(&c(0.5)?, x)?, &t)
}

/// Rows `[r * n / size, (r + 1) * n / size)` of axis `axis` of `a`, for
/// `r = group.rank()`; the axis must divide by the group size.
pub fn shard(a: &Array, axis: usize, group: &Group) -> Result<Array> {
    let shape = a.shape();
    let n = shape[axis] as usize;
    if n % group.size() != 0 {
        return Err(Error::InvalidArgument {
            message: format!(
                "axis {axis} of shape {shape:?} does not divide over {} ranks",
                group.size()
            ),
            location: std::panic::Location::caller(),
        });
    }
    let part = (n / group.size()) as i32;
    let mut start = vec![0; shape.len()];
    let mut stop = shape.clone();
    start[axis] = part * group.rank() as i32;
    stop[axis] = start[axis] + part;
    // A copy, so that a rank keeps only its shard alive.
    ops::contiguous(&ops::slice(a, &start, &stop, &vec![1; shape.len()])?)
}

/// A linear layer whose output features are split over the ranks.
pub struct ColumnParallelLinear {
    /// This rank's rows of `W`: `[out / size, in]`.
    pub weight: Array,
    /// This rank's slice of the bias.
    pub bias: Option<Array>,
    /// Whether `forward` gathers the full output (else: this rank's features).
    pub gather_output: bool,
}

impl ColumnParallelLinear {
    /// Takes this rank's shard of a full `[out, in]` weight and bias.
    pub fn from_full(w: &Array, b: Option<&Array>, group: &Group, gather: bool) -> Result<Self> {
        Ok(ColumnParallelLinear {
            weight: shard(w, 0, group)?,
            bias: b.map(|b| shard(b, 0, group)).transpose()?,
            gather_output: gather,
        })
    }

    /// `x` is the full input `[.., in]` (the same on every rank).
    pub fn forward(&self, x: &Array, group: &Group) -> Result<Array> {
        let local = linear(x, &self.weight, self.bias.as_ref())?;
        if !self.gather_output || group.size() == 1 {
            return Ok(local);
        }
        // all_gather stacks along axis 0; the features are the last axis.
        let last = local.ndim() as i32 - 1;
        let gathered = distributed::all_gather(&ops::moveaxis(&local, last, 0)?, group)?;
        ops::moveaxis(&gathered, 0, last)
    }
}

/// A linear layer whose input features are split over the ranks.
pub struct RowParallelLinear {
    /// This rank's columns of `W`: `[out, in / size]`.
    pub weight: Array,
    /// The full bias, added once after the sum.
    pub bias: Option<Array>,
}

impl RowParallelLinear {
    /// Takes this rank's shard of a full `[out, in]` weight.
    pub fn from_full(w: &Array, b: Option<&Array>, group: &Group) -> Result<Self> {
        Ok(RowParallelLinear {
            weight: shard(w, 1, group)?,
            bias: b.cloned(),
        })
    }

    /// `x` is this rank's slice of the input features `[.., in / size]`.
    pub fn forward(&self, x: &Array, group: &Group) -> Result<Array> {
        let partial = linear(x, &self.weight, None)?;
        let total = distributed::all_sum(&partial, group)?;
        match &self.bias {
            Some(b) => ops::add(&total, b),
            None => Ok(total),
        }
    }
}

/// FLUX's transformer MLP: `fc2(gelu_tanh(fc1(x)))`, hidden 3072 and
/// 4 x 3072 inside in the real model.
pub struct FluxMlp {
    /// `[4h, h]`.
    pub w1: Array,
    /// `[4h]`.
    pub b1: Array,
    /// `[h, 4h]`.
    pub w2: Array,
    /// `[h]`.
    pub b2: Array,
}

impl FluxMlp {
    /// The unsharded forward pass.
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let h = gelu_tanh(&linear(x, &self.w1, Some(&self.b1))?)?;
        linear(&h, &self.w2, Some(&self.b2))
    }

    /// This rank's part of the sharded MLP.
    pub fn shard(&self, group: &Group) -> Result<ShardedFluxMlp> {
        Ok(ShardedFluxMlp {
            fc1: ColumnParallelLinear::from_full(&self.w1, Some(&self.b1), group, false)?,
            fc2: RowParallelLinear::from_full(&self.w2, Some(&self.b2), group)?,
        })
    }
}

/// The FLUX MLP over a group: `fc1` column-parallel (each rank computes
/// `4h / size` hidden features), `fc2` row-parallel (one `all_sum`).
pub struct ShardedFluxMlp {
    /// Column-parallel first layer, output not gathered.
    pub fc1: ColumnParallelLinear,
    /// Row-parallel second layer.
    pub fc2: RowParallelLinear,
}

impl ShardedFluxMlp {
    /// The full output on every rank, from the full input.
    pub fn forward(&self, x: &Array, group: &Group) -> Result<Array> {
        let h = gelu_tanh(&self.fc1.forward(x, group)?)?;
        self.fc2.forward(&h, group)
    }
}
