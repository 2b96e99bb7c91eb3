//! SwiGLU, the gated activation of LLaMA-style and FLUX MLPs:
//! `silu(gate) * up = gate * sigmoid(gate) * up`.

use mlx_rs_core::kernel::{KernelConfig, KernelSpec, TemplateArg};
use mlx_rs_core::{ops, Array, Error, Result, StreamOrDevice};

use crate::dispatch::{path_for, poisoned, KernelPath, Kernels};

const CUDA_SOURCE: &str = include_str!("../../cuda-src/swiglu.cu");
const METAL_SOURCE: &str = include_str!("../../metal-src/swiglu.metal");
const THREADS: i32 = 256;
/// Elements per thread (`ITEMS` in both kernel sources).
const ITEMS: usize = 8;

static KERNELS: Kernels = Kernels::new(|| {
    let spec = |source: &str| KernelSpec::new("mlx_rs_swiglu", &["gate", "up"], &["out"], source);
    (spec(CUDA_SOURCE), spec(METAL_SOURCE))
});

/// `silu(gate) * up`, fused on GPUs. `gate` and `up` broadcast together and
/// must share a floating dtype.
#[track_caller]
pub fn swiglu(gate: &Array, up: &Array) -> Result<Array> {
    swiglu_on(gate, up, StreamOrDevice::Default)
}

/// [`swiglu`] on a chosen stream or device.
#[track_caller]
pub fn swiglu_on<'s>(gate: &Array, up: &Array, on: impl Into<StreamOrDevice<'s>>) -> Result<Array> {
    let stream = on.into().resolve()?;
    if gate.dtype() != up.dtype() {
        return Err(Error::InvalidArgument {
            message: format!("swiglu: gate is {}, up is {}", gate.dtype(), up.dtype()),
            location: std::panic::Location::caller(),
        });
    }
    let path = path_for(&stream, gate.dtype())?;
    if path == KernelPath::Reference {
        return swiglu_reference_on(gate, up, &stream);
    }
    // The kernel reads both inputs flat: give them one (broadcast) shape.
    let both = ops::broadcast_arrays_on(&[gate.clone(), up.clone()], &stream)?;
    let (gate, up) = (&both[0], &both[1]);
    let shape = gate.shape();
    let n = gate.size();
    let per_block = THREADS as usize * ITEMS;
    let threads = i32::try_from(n.div_ceil(per_block) * THREADS as usize).map_err(|_| {
        Error::InvalidArgument {
            message: format!("swiglu: {n} elements exceed one launch"),
            location: std::panic::Location::caller(),
        }
    })?;
    let config = poisoned(
        KernelConfig::linear(threads.max(THREADS), THREADS)
            .output(&shape, gate.dtype())
            .template("T", TemplateArg::Dtype(gate.dtype())),
    );
    let mut out = match path {
        KernelPath::Cuda => KERNELS.cuda()?.apply_on(&[gate, up], &config, &stream)?,
        _ => KERNELS.metal()?.apply_on(&[gate, up], &config, &stream)?,
    };
    Ok(out.remove(0))
}

/// The reference: `gate * sigmoid(gate) * up` from core ops.
#[track_caller]
pub fn swiglu_reference(gate: &Array, up: &Array) -> Result<Array> {
    swiglu_reference_on(gate, up, StreamOrDevice::Default)
}

/// [`swiglu_reference`] on a chosen stream or device.
#[track_caller]
pub fn swiglu_reference_on<'s>(
    gate: &Array,
    up: &Array,
    on: impl Into<StreamOrDevice<'s>>,
) -> Result<Array> {
    let stream = on.into().resolve()?;
    let silu = ops::multiply_on(gate, &ops::sigmoid_on(gate, &stream)?, &stream)?;
    ops::multiply_on(&silu, up, &stream)
}
