//! Choosing between a fused kernel and the reference, and building each
//! kernel once per process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use mlx_rs_core::kernel::{CudaKernel, KernelConfig, KernelSpec, MetalKernel};
use mlx_rs_core::{cuda_is_available, metal_is_available, DeviceType, Dtype, Result, Stream};

/// Which implementation of a fused op runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// The custom CUDA kernel.
    Cuda,
    /// The custom Metal kernel.
    Metal,
    /// The reference composed of core ops.
    Reference,
}

/// The implementation a fused op uses for inputs of `dtype` on `stream`.
#[track_caller]
pub fn path_for(stream: &Stream, dtype: Dtype) -> Result<KernelPath> {
    if stream.device()?.device_type() != DeviceType::Gpu
        || !matches!(dtype, Dtype::Float32 | Dtype::Float16 | Dtype::Bfloat16)
    {
        return Ok(KernelPath::Reference);
    }
    Ok(if cuda_is_available() {
        KernelPath::Cuda
    } else if metal_is_available() {
        KernelPath::Metal
    } else {
        KernelPath::Reference
    })
}

/// A fused op's kernels, each built on first use and kept for the process.
pub(crate) struct Kernels {
    pub(crate) spec: fn() -> (KernelSpec, KernelSpec),
    pub(crate) cuda: OnceLock<Result<CudaKernel>>,
    pub(crate) metal: OnceLock<Result<MetalKernel>>,
}

impl Kernels {
    /// `spec` returns the (CUDA, Metal) specs.
    pub(crate) const fn new(spec: fn() -> (KernelSpec, KernelSpec)) -> Kernels {
        Kernels {
            spec,
            cuda: OnceLock::new(),
            metal: OnceLock::new(),
        }
    }

    pub(crate) fn cuda(&self) -> Result<&CudaKernel> {
        self.cuda
            .get_or_init(|| CudaKernel::new(&(self.spec)().0, 0))
            .as_ref()
            .map_err(Clone::clone)
    }

    pub(crate) fn metal(&self) -> Result<&MetalKernel> {
        self.metal
            .get_or_init(|| MetalKernel::new(&(self.spec)().1, false))
            .as_ref()
            .map_err(Clone::clone)
    }
}

static POISON_OUTPUTS: AtomicBool = AtomicBool::new(false);

/// Makes every later kernel launch fill its outputs with NaN first, so that an
/// element a kernel fails to write shows up in tests instead of stale memory.
/// Costs one fill per launch; meant for testing.
pub fn set_poison_outputs(on: bool) {
    POISON_OUTPUTS.store(on, Ordering::Relaxed);
}

/// Applies [`set_poison_outputs`] to a launch configuration.
pub(crate) fn poisoned(config: KernelConfig) -> KernelConfig {
    if POISON_OUTPUTS.load(Ordering::Relaxed) {
        config.init_value(f32::NAN)
    } else {
        config
    }
}
