//! How an evaluation waits for GPU results.
//!
//! MLX 0.32.2's CUDA backend waits for an evaluation by sleeping in the CUDA
//! driver until the GPU signals an event, and the wake-up comes some tens of
//! microseconds after the GPU finished: a real share of a sub-millisecond
//! evaluation. Where CUDA is usable, this crate therefore schedules an
//! evaluation asynchronously and polls its results' events for up to
//! [`gpu_wait_spin`] (default 2 ms) before falling back to MLX's sleeping
//! wait. Polling keeps the calling thread busy meanwhile; set the budget to
//! zero to always sleep. CPU streams and other backends are not affected.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Environment variable read at the first evaluation where CUDA is usable:
/// the polling budget in microseconds (see [`set_gpu_wait_spin`]).
pub const GPU_WAIT_SPIN_ENV: &str = "MLX_RS_GPU_WAIT_SPIN_US";

/// The default polling budget, in microseconds.
const DEFAULT_SPIN_US: u32 = 2000;
/// The largest budget taken (about 2 s): the C call counts in `int`
/// microseconds, and a longer poll only burns the thread.
const MAX_SPIN_US: u32 = 2_000_000;
/// Not read from the environment yet.
const UNSET: u32 = u32::MAX;

static SPIN_US: AtomicU32 = AtomicU32::new(UNSET);

/// Sets how long an evaluation polls for GPU results before it sleeps until
/// the GPU wakes it (capped at about 2 s); zero always sleeps. Overrides
/// [`GPU_WAIT_SPIN_ENV`].
///
/// Where CUDA is usable an evaluation is scheduled asynchronously and its
/// results' events are polled: MLX 0.32.2's own wait sleeps in the CUDA
/// driver, and the wake-up comes some tens of microseconds after the GPU
/// finished, a real share of a sub-millisecond evaluation. Polling keeps the
/// calling thread busy meanwhile. CPU streams and other backends always use
/// MLX's wait.
///
/// ```
/// use std::time::Duration;
/// use mlx_rs_core::{gpu_wait_spin, set_gpu_wait_spin};
/// set_gpu_wait_spin(Duration::from_micros(500));
/// assert_eq!(gpu_wait_spin(), Duration::from_micros(500));
/// set_gpu_wait_spin(Duration::ZERO); // always sleep
/// assert_eq!(gpu_wait_spin(), Duration::ZERO);
/// ```
pub fn set_gpu_wait_spin(budget: Duration) {
    let us = budget.as_micros().min(u128::from(MAX_SPIN_US)) as u32;
    SPIN_US.store(us, Ordering::Relaxed);
}

/// How long an evaluation polls for GPU results before it sleeps (see the
/// module docs): [`set_gpu_wait_spin`]'s value, else [`GPU_WAIT_SPIN_ENV`]'s
/// (microseconds), else 2 ms.
pub fn gpu_wait_spin() -> Duration {
    Duration::from_micros(u64::from(spin_us()))
}

fn spin_us() -> u32 {
    let v = SPIN_US.load(Ordering::Relaxed);
    if v != UNSET {
        return v;
    }
    let from_env = std::env::var(GPU_WAIT_SPIN_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(DEFAULT_SPIN_US, |us| us.min(u64::from(MAX_SPIN_US)) as u32);
    // A concurrent setter wins over the environment.
    let _ = SPIN_US.compare_exchange(UNSET, from_env, Ordering::Relaxed, Ordering::Relaxed);
    SPIN_US.load(Ordering::Relaxed)
}

/// The polling budget for this evaluation in microseconds: `None` where no
/// CUDA device is usable or the budget is zero (then MLX's own wait runs).
pub(crate) fn polling_budget() -> Option<i32> {
    if !crate::ffi::serialized_backend() {
        return None;
    }
    spin_budget()
}

/// The budget in microseconds, `None` when it is zero.
fn spin_budget() -> Option<i32> {
    match spin_us() {
        0 => None,
        us => Some(us as i32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_capped_and_zero_turns_polling_off() {
        set_gpu_wait_spin(Duration::from_secs(3600));
        assert_eq!(
            gpu_wait_spin(),
            Duration::from_micros(u64::from(MAX_SPIN_US))
        );
        assert_eq!(spin_budget(), Some(MAX_SPIN_US as i32));
        set_gpu_wait_spin(Duration::ZERO);
        assert_eq!(spin_budget(), None);
        assert_eq!(polling_budget(), None);
        set_gpu_wait_spin(Duration::from_micros(250));
        assert_eq!(spin_budget(), Some(250));
        set_gpu_wait_spin(Duration::from_micros(u64::from(DEFAULT_SPIN_US)));
    }

    #[test]
    fn polling_skips_arrays_of_cpu_streams() -> crate::Result<()> {
        use crate::handles::VectorArray;
        use crate::{ops, Array, Device, Stream};
        let s = Stream::new(&Device::cpu())?;
        let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
        let b = ops::multiply_on(&a, &a, &s)?;
        crate::async_eval([&b])?;
        let vec = VectorArray::from_arrays([&b])?;
        let raw = vec.as_raw();
        let mut ready = false;
        // SAFETY: `raw` is a live vector and `ready` a local the call writes.
        crate::ffi::check_unlocked(|| unsafe {
            mlx_sys::mlx_rs_poll_gpu_ready(&mut ready, raw, 0)
        })?;
        // Nothing waits on a GPU, so nothing is left to poll even with no
        // budget.
        assert!(ready);
        assert_eq!(b.to_vec::<f32>()?, [1.0, 4.0, 9.0]);
        Ok(())
    }
}
