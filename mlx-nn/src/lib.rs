//! Neural-network building blocks over MLX, in the spirit of Python's
//! `mlx.nn` and `mlx.optimizers`: a [`Module`] trait with dotted parameter
//! names that match checkpoints, layers, strict safetensors loading, a
//! [`value_and_grad`] over a model's trainable parameters, [`optim`]izers with
//! schedules, and quantized layers. Modules and optimizers are
//! [`Tree`](mlx_rs_core::tree::Tree)s, so a whole training step compiles with
//! them as its state (see [`optim::Optimizer`]).
//!
//! ```
//! use mlx_nn::optim::{AdamW, Optimizer};
//! use mlx_nn::{losses, Activation, Linear, Module, Sequential};
//! use mlx_rs_core::{Array, Dtype};
//! # fn main() -> mlx_rs_core::Result<()> {
//! let mut mlp = Sequential::new()
//!     .add(Linear::new(2, 16, true)?.with_activation(Activation::Relu))
//!     .add(Linear::new(16, 2, true)?);
//! let step = mlx_nn::value_and_grad(|m: &Sequential, (x, y): &(Array, Array)| {
//!     losses::cross_entropy(&m.forward(x)?, y)
//! });
//! let x = Array::normal([64, 2])?;
//! let y = x.sum_axis(1)?.greater(0.0)?.astype(Dtype::Int32)?;
//! let batch = (x.clone(), y.clone());
//! let mut opt = AdamW::new(0.05);
//! for _ in 0..100 {
//!     let (_loss, grads) = step.call(&mlp, &batch)?;
//!     opt.update(&mut mlp, &grads)?;
//! }
//! assert!(losses::accuracy(&mlp.forward(&x)?, &y)? > 0.9);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod error;
mod grad;
pub mod io;
pub mod layers;
pub mod losses;
mod module;
pub mod optim;

pub use grad::{value_and_grad, ValueAndGrad};
pub use io::{load_safetensors, load_safetensors_with, save_safetensors, LoadOptions};
pub use layers::activation::{gelu, gelu_tanh, relu, sigmoid, silu, tanh, Activation};
pub use layers::attention::{MultiHeadAttention, Rope};
pub use layers::conv::{Conv1d, Conv2d};
pub use layers::dropout::Dropout;
pub use layers::embedding::Embedding;
pub use layers::linear::Linear;
pub use layers::norm::{GroupNorm, LayerNorm, RmsNorm};
pub use layers::quantized::{quantize, QuantizedLinear};
pub use layers::sequential::{BoxedModule, Sequential};
pub use module::{join_path, Entry, EntryMut, Member, Members, Module, Param, Params};

// For the exported macros, which name core's items through `$crate`.
#[doc(hidden)]
pub use mlx_rs_core as __core;
