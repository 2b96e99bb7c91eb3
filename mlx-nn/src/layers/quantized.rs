//! [`QuantizedLinear`] and [`quantize`] (a whole model's linear layers).

use mlx_rs_core::ops::{self, QuantizationMode};
use mlx_rs_core::{Array, Result};

use crate::error::invalid;
use crate::layers::activation::Activation;
use crate::module::{EntryMut, Module, Param};

/// A linear layer whose weight is stored affine-quantized (MLX's format:
/// `weight` packed into `uint32`, one `scales` and `biases` entry per
/// `group_size` values of each row) and multiplied without being expanded,
/// `y = act(x @ dequantize(weight)ᵀ + bias)`. The parameters are frozen (not
/// trained), as in Python MLX. The product is
/// [`mlx_ext_kernels::quantized_matmul`]: MLX's `quantized_matmul` on the CPU
/// and, by default, on CUDA; up to
/// [`mlx_ext_kernels::QUANTIZED_MATMUL_MAX_ROWS`] rows with 4- or 8-bit
/// weights run a fused kernel on Apple GPUs, and on CUDA when
/// [`mlx_ext_kernels::set_quantized_matmul_cuda`] picks one.
///
/// ```
/// use mlx_nn::{Linear, Module, QuantizedLinear};
/// use mlx_rs_core::{ops, Dtype};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let dense = Linear::new(128, 32, true)?;
/// let q = QuantizedLinear::from_linear(&dense, 64, 4)?;
/// let x = ops::random::normal(&[2, 128], Dtype::Float32, 0.0, 1.0, None)?;
/// let (a, b) = (dense.forward(&x)?, q.forward(&x)?);
/// let err = ops::max(&ops::abs(&(&a - &b)?)?, false)?.item::<f32>()?;
/// // 4-bit rounding moves each weight by at most half a step (~0.006 here);
/// // summed over 128 inputs that is ~0.04 per output (one sigma).
/// assert!(err < 0.3);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct QuantizedLinear {
    /// Packed `uint32` values, `[out, in · bits / 32]`.
    pub weight: Param,
    /// `[out, in / group_size]`.
    pub scales: Param,
    /// `[out, in / group_size]`.
    pub biases: Option<Param>,
    /// `[out]`, if present.
    pub bias: Option<Param>,
    /// Values per scale.
    pub group_size: i32,
    /// Bits per value.
    pub bits: i32,
    /// Applied after the affine map.
    pub activation: Activation,
}

impl QuantizedLinear {
    /// Quantizes a dense `weight` `[out, in]` (and keeps `bias`).
    #[track_caller]
    pub fn from_weights(
        weight: &Array,
        bias: Option<&Array>,
        group_size: i32,
        bits: i32,
        activation: Activation,
    ) -> Result<QuantizedLinear> {
        let ws = weight.shape();
        if ws.len() != 2 {
            return Err(invalid(format!(
                "QuantizedLinear weight must be [out, in], got {ws:?}"
            )));
        }
        if ![2, 3, 4, 5, 6, 8].contains(&bits) || ![32, 64, 128].contains(&group_size) {
            return Err(invalid(format!(
                "QuantizedLinear: bits must be 2, 3, 4, 5, 6 or 8 and group_size 32, 64 or 128 (got {bits}, {group_size})"
            )));
        }
        if ws[1] % group_size != 0 {
            return Err(invalid(format!(
                "QuantizedLinear: input dims {} (weight {ws:?}) are not a multiple of group_size {group_size}",
                ws[1]
            )));
        }
        let q = ops::quantize(weight, group_size, bits, QuantizationMode::Affine)?;
        let frozen = |a: Array| {
            let mut p = Param::new(a);
            p.set_trainable(false);
            p
        };
        Ok(QuantizedLinear {
            weight: frozen(q.weight),
            scales: frozen(q.scales),
            biases: q.biases.map(frozen),
            bias: bias.map(|b| frozen(b.clone())),
            group_size,
            bits,
            activation,
        })
    }

    /// The quantized form of a (dense) [`crate::Linear`].
    #[track_caller]
    pub fn from_linear(
        linear: &crate::Linear,
        group_size: i32,
        bits: i32,
    ) -> Result<QuantizedLinear> {
        if linear.quantized().is_some() {
            return Err(invalid("the Linear is already quantized"));
        }
        QuantizedLinear::from_weights(
            linear.weight(),
            linear.bias(),
            group_size,
            bits,
            linear.activation(),
        )
    }

    /// `in` (unpacked).
    pub fn input_dims(&self) -> i32 {
        self.weight.shape()[1] * 32 / self.bits
    }

    /// The dense weight `[out, in]` this layer represents.
    #[track_caller]
    pub fn dequantized_weight(&self) -> Result<Array> {
        ops::dequantize(
            &self.weight,
            &self.scales,
            self.biases.as_deref(),
            self.group_size,
            self.bits,
            QuantizationMode::Affine,
        )
    }
}

crate::impl_members!(QuantizedLinear {
    weight,
    scales,
    biases,
    bias
});

impl Module for QuantizedLinear {
    fn forward(&self, x: &Array) -> Result<Array> {
        let xs = x.shape();
        if xs.last() != Some(&self.input_dims()) {
            return Err(invalid(format!(
                "QuantizedLinear: input shape {xs:?} does not end in {} (weight [{}, {}] quantized to {} bits)",
                self.input_dims(),
                self.weight.shape()[0],
                self.input_dims(),
                self.bits
            )));
        }
        // Affine weights go through the fused kernel for a few rows on GPUs
        // (the decode step); it runs core's quantized_matmul everywhere else.
        let y = match self.biases.as_deref() {
            Some(biases) => mlx_ext_kernels::quantized_matmul(
                x,
                &self.weight,
                &self.scales,
                biases,
                self.group_size,
                self.bits,
            )?,
            None => ops::quantized_matmul(
                x,
                &self.weight,
                &self.scales,
                None,
                true,
                self.group_size,
                self.bits,
                QuantizationMode::Affine,
            )?,
        };
        let y = match &self.bias {
            Some(b) => (&y + b.value())?,
            None => y,
        };
        self.activation.apply(&y)
    }
}

/// Quantizes every [`crate::Linear`] in `model` (at any depth) in place to
/// `bits`-bit affine weights with `group_size` values per scale; returns how
/// many layers were quantized. Parameter names become Python MLX's
/// (`….weight`, `….scales`, `….biases`, `….bias`), so a checkpoint saved by
/// Python MLX's `nn.quantize`d model loads into the result.
///
/// ```
/// use mlx_nn::{Activation, Linear, Module, Sequential};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let mut mlp = Sequential::new().add(Linear::new(64, 64, true)?).add(Activation::Relu).add(Linear::new(64, 10, true)?);
/// assert_eq!(mlx_nn::quantize(&mut mlp, 64, 4)?, 2);
/// assert!(mlp.parameters().contains_key("0.scales"));
/// # Ok(()) }
/// ```
#[track_caller]
pub fn quantize(model: &mut dyn Module, group_size: i32, bits: i32) -> Result<usize> {
    let mut n = usize::from(model.quantize_self(group_size, bits)?);
    for (name, entry) in model.entries_mut() {
        if let EntryMut::Module(m) = entry {
            n += quantize(m, group_size, bits).map_err(|e| crate::error::context(&name, e))?;
        }
    }
    Ok(n)
}
