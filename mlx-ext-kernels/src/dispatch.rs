//! Choosing between a fused kernel and the reference, and building each
//! kernel once per process.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
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
    /// This crate's CPU primitive (see [`mlx_rs_core::ops::cpu`]), for the
    /// ops that have one.
    Cpu,
    /// The reference composed of core ops.
    Reference,
}

/// The implementation a fused op without a CPU primitive uses for inputs of
/// `dtype` on `stream` (ops with one have their own `*_path` function).
/// [`set_force_reference`] makes it [`KernelPath::Reference`] everywhere.
#[track_caller]
pub fn path_for(stream: &Stream, dtype: Dtype) -> Result<KernelPath> {
    if force_reference()
        || stream.device()?.device_type() != DeviceType::Gpu
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

/// A process-wide choice among a few values (which kernel an op runs), set by
/// a setter or, until the first read, by an environment variable.
pub(crate) struct EnvChoice<T: 'static, const N: usize> {
    env: &'static str,
    /// `values[0]` is the default; the variable's value `names[i]` picks
    /// `values[i]` (any other value: the default).
    values: [T; N],
    names: [&'static str; N],
    /// 0: not read from the environment yet, else 1 + the value's index.
    state: AtomicU8,
}

impl<T: Copy + PartialEq, const N: usize> EnvChoice<T, N> {
    pub(crate) const fn new(env: &'static str, values: [T; N], names: [&'static str; N]) -> Self {
        EnvChoice {
            env,
            values,
            names,
            state: AtomicU8::new(0),
        }
    }

    pub(crate) fn set(&self, value: T) {
        let i = self.values.iter().position(|&v| v == value).unwrap_or(0);
        self.state.store(i as u8 + 1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> T {
        let mut v = self.state.load(Ordering::Relaxed);
        if v == 0 {
            let from_env = std::env::var(self.env)
                .ok()
                .and_then(|e| self.names.iter().skip(1).position(|&n| n == e))
                .map_or(1, |i| i as u8 + 2);
            // A concurrent setter wins over the environment.
            let _ = self
                .state
                .compare_exchange(0, from_env, Ordering::Relaxed, Ordering::Relaxed);
            v = self.state.load(Ordering::Relaxed);
        }
        self.values[usize::from(v - 1).min(N - 1)]
    }
}

/// A fused op's kernels, each built on first use and kept for the process.
pub(crate) struct Kernels {
    pub(crate) spec: fn() -> (KernelSpec, KernelSpec),
    /// Dynamic shared memory of each CUDA block, in bytes.
    pub(crate) cuda_shared_memory: i32,
    pub(crate) cuda: OnceLock<Result<CudaKernel>>,
    pub(crate) metal: OnceLock<Result<MetalKernel>>,
}

impl Kernels {
    /// `spec` returns the (CUDA, Metal) specs.
    pub(crate) const fn new(spec: fn() -> (KernelSpec, KernelSpec)) -> Kernels {
        Kernels::with_shared_memory(spec, 0)
    }

    /// Like [`Kernels::new`], for a CUDA kernel that needs `bytes` of dynamic
    /// shared memory per block.
    pub(crate) const fn with_shared_memory(
        spec: fn() -> (KernelSpec, KernelSpec),
        bytes: i32,
    ) -> Kernels {
        Kernels {
            spec,
            cuda_shared_memory: bytes,
            cuda: OnceLock::new(),
            metal: OnceLock::new(),
        }
    }

    pub(crate) fn cuda(&self) -> Result<&CudaKernel> {
        self.cuda
            .get_or_init(|| CudaKernel::new(&(self.spec)().0, self.cuda_shared_memory))
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

/// 0: not yet read from the environment, 1: off, 2: on.
static FORCE_REFERENCE: AtomicU8 = AtomicU8::new(0);

/// Environment variable that, set to `1` before the first fused op runs,
/// starts the process with [`set_force_reference`] on.
pub const FORCE_REFERENCE_ENV: &str = "MLX_RS_KERNELS_REFERENCE";

/// Makes every fused op of this crate run its reference (composed of core
/// ops, uncompiled) instead of a kernel, on every device: the switch for A/B
/// runs. Also settable for a whole process with the environment variable
/// [`FORCE_REFERENCE_ENV`]` = 1`; calling this overrides the variable.
///
/// ```
/// use mlx_ext_kernels::{fused_linear_path, set_force_reference, LinearPath};
/// use mlx_rs_core::{Array, Device, Stream};
/// # fn main() -> mlx_rs_core::Result<()> {
/// let x = Array::from_slice(&[1.0f32, 2.0], &[1, 2])?;
/// let w = Array::from_slice(&[0.5f32, -1.0, 3.0, 0.25], &[2, 2])?;
/// set_force_reference(true);
/// let cpu = Stream::new(&Device::cpu())?;
/// assert_eq!(fused_linear_path(&x, &w, &cpu)?, LinearPath::Reference);
/// set_force_reference(false);
/// # Ok(()) }
/// ```
pub fn set_force_reference(on: bool) {
    FORCE_REFERENCE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether [`set_force_reference`] (or its environment variable) is on.
pub fn force_reference() -> bool {
    match FORCE_REFERENCE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var(FORCE_REFERENCE_ENV).is_ok_and(|v| v == "1");
            // A concurrent set_force_reference wins over the environment.
            let _ = FORCE_REFERENCE.compare_exchange(
                0,
                if on { 2 } else { 1 },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            FORCE_REFERENCE.load(Ordering::Relaxed) == 2
        }
        state => state == 2,
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

/// Built functions (compiled or custom) of one op, by key and stream. They
/// are neither Send nor Sync (MLX's compile cache and closures are per
/// thread), so each lives in a `thread_local!`.
pub(crate) type FnCache<K, F> = RefCell<Vec<(K, Stream, Rc<F>)>>;

/// The function for `key` on `stream` from `cache`, built once by `build`.
pub(crate) fn cached_fn<K: PartialEq, F>(
    cache: &'static std::thread::LocalKey<FnCache<K, F>>,
    key: K,
    stream: &Stream,
    build: impl FnOnce() -> Result<F>,
) -> Result<Rc<F>> {
    let hit = cache.with(|c| {
        c.borrow()
            .iter()
            .find(|(k, s, _)| *k == key && s == stream)
            .map(|(_, _, f)| Rc::clone(f))
    });
    if let Some(f) = hit {
        return Ok(f);
    }
    // Built outside the borrow: building may trace and re-enter the op.
    let f = Rc::new(build()?);
    cache.with(|c| c.borrow_mut().push((key, stream.clone(), Rc::clone(&f))));
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::EnvChoice;

    #[test]
    fn env_choice_reads_its_variable_once_and_a_setter_wins() {
        const VAR: &str = "MLX_RS_TEST_ENV_CHOICE_A";
        static CHOICE: EnvChoice<u8, 3> =
            EnvChoice::new(VAR, [10, 11, 12], ["ten", "eleven", "twelve"]);
        std::env::set_var(VAR, "twelve");
        assert_eq!(CHOICE.get(), 12);
        // Read once: a later change of the variable does not count.
        std::env::set_var(VAR, "eleven");
        assert_eq!(CHOICE.get(), 12);
        CHOICE.set(11);
        assert_eq!(CHOICE.get(), 11);
        std::env::remove_var(VAR);
    }

    #[test]
    fn env_choice_defaults_to_its_first_value() {
        const VAR: &str = "MLX_RS_TEST_ENV_CHOICE_B";
        static UNKNOWN: EnvChoice<u8, 2> = EnvChoice::new(VAR, [1, 2], ["one", "two"]);
        std::env::set_var(VAR, "three");
        assert_eq!(UNKNOWN.get(), 1);
        std::env::remove_var(VAR);
        const UNSET: &str = "MLX_RS_TEST_ENV_CHOICE_C";
        static NONE: EnvChoice<u8, 2> = EnvChoice::new(UNSET, [1, 2], ["one", "two"]);
        assert_eq!(NONE.get(), 1);
    }
}
