//! Activation functions, as functions and as parameter-free modules.

use mlx_rs_core::{ops, Array, Result};

use crate::module::Module;

/// `max(x, 0)` ([`ops::nn::relu`]).
#[track_caller]
pub fn relu(x: &Array) -> Result<Array> {
    ops::nn::relu(x)
}

/// The exact GELU, `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))`
/// ([`ops::nn::gelu`]).
#[track_caller]
pub fn gelu(x: &Array) -> Result<Array> {
    ops::nn::gelu(x)
}

/// The tanh approximation of GELU,
/// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`
/// ([`ops::nn::gelu_tanh`]).
#[track_caller]
pub fn gelu_tanh(x: &Array) -> Result<Array> {
    ops::nn::gelu_tanh(x)
}

/// `x · sigmoid(x)` (also called swish; [`ops::nn::silu`]).
#[track_caller]
pub fn silu(x: &Array) -> Result<Array> {
    ops::nn::silu(x)
}

/// `tanh(x)`.
#[track_caller]
pub fn tanh(x: &Array) -> Result<Array> {
    ops::tanh(x)
}

/// `1 / (1 + e^-x)`.
#[track_caller]
pub fn sigmoid(x: &Array) -> Result<Array> {
    ops::sigmoid(x)
}

/// An elementwise activation; also a parameter-free [`Module`], so it can sit
/// in a [`crate::Sequential`].
///
/// ```
/// use mlx_nn::{Activation, Module};
/// use mlx_rs_core::Array;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let x = Array::from_slice(&[-1.0f32, 2.0], &[2])?;
/// assert_eq!(Activation::Relu.forward(&x)?.to_vec::<f32>()?, [0.0, 2.0]);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// No change.
    Identity,
    /// [`relu`].
    Relu,
    /// The exact (erf) GELU, [`gelu`].
    Gelu,
    /// The tanh-approximated GELU, [`gelu_tanh`].
    GeluTanh,
    /// [`silu`].
    Silu,
    /// [`tanh`].
    Tanh,
    /// [`sigmoid`].
    Sigmoid,
}

impl Activation {
    /// Applies the activation.
    #[track_caller]
    pub fn apply(self, x: &Array) -> Result<Array> {
        match self {
            Activation::Identity => Ok(x.clone()),
            Activation::Relu => relu(x),
            Activation::Gelu => gelu(x),
            Activation::GeluTanh => gelu_tanh(x),
            Activation::Silu => silu(x),
            Activation::Tanh => tanh(x),
            Activation::Sigmoid => sigmoid(x),
        }
    }
}

crate::impl_members!(Activation {});

impl Module for Activation {
    fn forward(&self, x: &Array) -> Result<Array> {
        self.apply(x)
    }
}
