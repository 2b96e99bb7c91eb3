//! [`Linear`]: `y = act(x @ weightᵀ + bias)`.

use mlx_rs_core::{ops, Array, Dtype, Result};

use crate::error::invalid;
use crate::layers::activation::Activation;
use crate::layers::quantized::QuantizedLinear;
use crate::module::{Entry, EntryMut, Members, Module, Param};

/// A fully connected layer, `y = act(x @ weightᵀ + bias)`, with `weight`
/// `[out, in]` and `bias` `[out]` (the layout of PyTorch / Hugging Face
/// checkpoints). The activation is [`Activation::Identity`] unless set with
/// [`Linear::with_activation`]; with one, the layer computes the whole
/// `act(x @ wᵀ + b)` in one call so a fused kernel can serve it.
///
/// The input must have the layer's dtype: an `f32` input into a `bf16` layer
/// is an `Err` naming both, where Python MLX would silently promote the
/// product to `f32` (and run it at `f32` speed). Cast one side with
/// `astype` or [`Module::to_dtype`]. An empty batch (zero rows) is fine.
///
/// ```
/// use mlx_nn::{Activation, Linear, Module};
/// use mlx_rs_core::{Array, Dtype, ops};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let layer = Linear::new(4, 3, true)?.with_activation(Activation::Relu);
/// let y = layer.forward(&ops::ones(&[2, 4], Dtype::Float32)?)?;
/// assert_eq!(y.shape(), [2, 3]);
/// # Ok(()) }
/// ```
///
/// [`crate::quantize`] (or [`Linear::quantize`]) turns the layer into a
/// [`QuantizedLinear`] in place; its parameters are then `weight` (packed),
/// `scales`, `biases` and `bias`, the names Python MLX uses.
#[derive(Clone, Debug)]
pub struct Linear {
    kind: Kind,
    activation: Activation,
}

#[derive(Clone, Debug)]
enum Kind {
    Dense { weight: Param, bias: Option<Param> },
    Quantized(QuantizedLinear),
}

impl Linear {
    /// A layer with weights drawn from `U(-1/√in, 1/√in)` (as MLX and PyTorch
    /// do), float32.
    #[track_caller]
    pub fn new(input_dims: i32, output_dims: i32, bias: bool) -> Result<Linear> {
        if input_dims <= 0 || output_dims <= 0 {
            return Err(invalid(format!(
                "Linear needs positive dimensions, got in {input_dims}, out {output_dims}"
            )));
        }
        let k = 1.0 / (input_dims as f32).sqrt();
        let weight = ops::random::uniform(-k, k, &[output_dims, input_dims], Dtype::Float32, None)?;
        let bias = if bias {
            Some(Param::new(ops::random::uniform(
                -k,
                k,
                &[output_dims],
                Dtype::Float32,
                None,
            )?))
        } else {
            None
        };
        Ok(Linear {
            kind: Kind::Dense {
                weight: Param::new(weight),
                bias,
            },
            activation: Activation::Identity,
        })
    }

    /// A layer from existing arrays (`weight` `[out, in]`, `bias` `[out]`).
    #[track_caller]
    pub fn from_weights(weight: Array, bias: Option<Array>) -> Result<Linear> {
        let ws = weight.shape();
        if ws.len() != 2 {
            return Err(invalid(format!(
                "Linear weight must be [out, in], got {ws:?}"
            )));
        }
        if let Some(b) = &bias {
            if b.shape() != [ws[0]] {
                return Err(invalid(format!(
                    "Linear bias shape {:?} does not match weight {ws:?} (expected [{}])",
                    b.shape(),
                    ws[0]
                )));
            }
        }
        Ok(Linear {
            kind: Kind::Dense {
                weight: Param::new(weight),
                bias: bias.map(Param::new),
            },
            activation: Activation::Identity,
        })
    }

    /// The same layer followed by `activation`.
    pub fn with_activation(mut self, activation: Activation) -> Linear {
        self.activation = activation;
        if let Kind::Quantized(q) = &mut self.kind {
            q.activation = activation;
        }
        self
    }

    /// The activation applied after the affine map.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The weight: `[out, in]`, or the packed `uint32` weight once quantized.
    pub fn weight(&self) -> &Array {
        match &self.kind {
            Kind::Dense { weight, .. } => weight,
            Kind::Quantized(q) => &q.weight,
        }
    }

    /// The bias `[out]`, if any.
    pub fn bias(&self) -> Option<&Array> {
        match &self.kind {
            Kind::Dense { bias, .. } => bias.as_deref(),
            Kind::Quantized(q) => q.bias.as_deref(),
        }
    }

    /// The quantized form, once [`Linear::quantize`]d.
    pub fn quantized(&self) -> Option<&QuantizedLinear> {
        match &self.kind {
            Kind::Dense { .. } => None,
            Kind::Quantized(q) => Some(q),
        }
    }

    /// `in`.
    pub fn input_dims(&self) -> i32 {
        match &self.kind {
            Kind::Dense { weight, .. } => weight.shape()[1],
            Kind::Quantized(q) => q.input_dims(),
        }
    }

    /// `out`.
    pub fn output_dims(&self) -> i32 {
        self.weight().shape()[0]
    }

    /// Replaces the weight by its affine quantization (`bits` bits per value,
    /// one scale and bias per `group_size` values); see [`QuantizedLinear`].
    /// Quantizing an already quantized layer is an `Err`.
    #[track_caller]
    pub fn quantize(&mut self, group_size: i32, bits: i32) -> Result<()> {
        let q = match &self.kind {
            Kind::Dense { weight, bias } => QuantizedLinear::from_weights(
                weight,
                bias.as_deref(),
                group_size,
                bits,
                self.activation,
            )?,
            Kind::Quantized(_) => return Err(invalid("Linear is already quantized")),
        };
        self.kind = Kind::Quantized(q);
        Ok(())
    }
}

impl Members for Linear {
    fn entries(&self) -> Vec<(String, Entry<'_>)> {
        match &self.kind {
            Kind::Dense { weight, bias } => {
                let mut v = vec![("weight".to_string(), Entry::Param(weight))];
                if let Some(b) = bias {
                    v.push(("bias".to_string(), Entry::Param(b)));
                }
                v
            }
            Kind::Quantized(q) => q.entries(),
        }
    }

    fn entries_mut(&mut self) -> Vec<(String, EntryMut<'_>)> {
        match &mut self.kind {
            Kind::Dense { weight, bias } => {
                let mut v = vec![("weight".to_string(), EntryMut::Param(weight))];
                if let Some(b) = bias {
                    v.push(("bias".to_string(), EntryMut::Param(b)));
                }
                v
            }
            Kind::Quantized(q) => q.entries_mut(),
        }
    }
}

crate::impl_tree_for_members!(Linear);

impl Module for Linear {
    fn forward(&self, x: &Array) -> Result<Array> {
        let (weight, bias) = match &self.kind {
            Kind::Dense { weight, bias } => (weight, bias),
            Kind::Quantized(q) => return q.forward(x),
        };
        let xs = x.shape();
        if xs.last() != Some(&self.input_dims()) {
            return Err(invalid(format!(
                "Linear: input shape {xs:?} does not end in {} (weight shape {:?})",
                self.input_dims(),
                weight.shape()
            )));
        }
        linear_act(x, weight, bias.as_deref(), self.activation)
    }

    fn quantize_self(&mut self, group_size: i32, bits: i32) -> Result<bool> {
        if self.quantized().is_some() {
            return Ok(false);
        }
        self.quantize(group_size, bits)?;
        Ok(true)
    }
}

/// `act(x @ wᵀ + b)`: the one place the layer's math lives. Activations the
/// kernels crate fuses go through [`mlx_ext_kernels::fused_linear`] (which
/// has a VJP, so training works); the others are applied after it.
pub(crate) fn linear_act(
    x: &Array,
    w: &Array,
    b: Option<&Array>,
    act: Activation,
) -> Result<Array> {
    use mlx_ext_kernels::Activation as Fused;
    let (fused, after) = match act {
        Activation::Identity => (Fused::Identity, None),
        Activation::Relu => (Fused::Relu, None),
        Activation::Gelu => (Fused::Gelu, None),
        Activation::GeluTanh => (Fused::GeluTanh, None),
        Activation::Silu => (Fused::Silu, None),
        Activation::Tanh | Activation::Sigmoid => (Fused::Identity, Some(act)),
    };
    let y = mlx_ext_kernels::fused_linear(x, w, b, fused)?;
    match after {
        Some(act) => act.apply(&y),
        None => Ok(y),
    }
}
