//! MLX's memory accounting and allocator controls.
//!
//! Counts are in bytes and process-wide (all devices' allocations made by
//! MLX's allocator). *Active* memory is held by live arrays; *cache* memory
//! was freed by arrays but kept by the allocator for reuse; *peak* is the
//! highest active memory since start or the last [`reset_peak_memory`].
//!
//! ```
//! use mlx_rs_core::memory;
//! # fn main() -> mlx_rs_core::Result<()> {
//! let before = memory::active_memory()?;
//! // ... allocate and evaluate arrays ...
//! memory::clear_cache()?;
//! println!("peak so far: {} bytes", memory::peak_memory()?);
//! # let _ = before;
//! # Ok(()) }
//! ```

use crate::ffi::mlx_call;
use crate::Result;

/// Bytes held by live arrays.
#[track_caller]
pub fn active_memory() -> Result<usize> {
    let mut out = 0usize;
    mlx_call!(mlx_get_active_memory(&mut out))?;
    Ok(out)
}

/// Bytes kept by the allocator's cache for reuse (not held by any array).
#[track_caller]
pub fn cache_memory() -> Result<usize> {
    let mut out = 0usize;
    mlx_call!(mlx_get_cache_memory(&mut out))?;
    Ok(out)
}

/// The highest [`active_memory`] seen since start or the last
/// [`reset_peak_memory`].
#[track_caller]
pub fn peak_memory() -> Result<usize> {
    let mut out = 0usize;
    mlx_call!(mlx_get_peak_memory(&mut out))?;
    Ok(out)
}

/// Resets [`peak_memory`] to the current active memory.
#[track_caller]
pub fn reset_peak_memory() -> Result<()> {
    mlx_call!(mlx_reset_peak_memory())
}

/// The memory limit in bytes (a guideline: when exceeded, MLX waits for
/// running work and frees cached buffers before allocating more).
#[track_caller]
pub fn memory_limit() -> Result<usize> {
    let mut out = 0usize;
    mlx_call!(mlx_get_memory_limit(&mut out))?;
    Ok(out)
}

/// Sets the memory limit (see [`memory_limit`]); returns the previous one.
#[track_caller]
pub fn set_memory_limit(limit: usize) -> Result<usize> {
    let mut previous = 0usize;
    mlx_call!(mlx_set_memory_limit(&mut previous, limit))?;
    Ok(previous)
}

/// Sets how many bytes the allocator may keep cached (0 disables caching);
/// returns the previous limit. Exceeding it frees cached buffers.
#[track_caller]
pub fn set_cache_limit(limit: usize) -> Result<usize> {
    let mut previous = 0usize;
    mlx_call!(mlx_set_cache_limit(&mut previous, limit))?;
    Ok(previous)
}

/// Sets the wired (resident) memory limit, returning the previous one. Only
/// meaningful on Apple silicon GPUs; elsewhere MLX accepts and ignores it or
/// reports an error.
#[track_caller]
pub fn set_wired_limit(limit: usize) -> Result<usize> {
    let mut previous = 0usize;
    mlx_call!(mlx_set_wired_limit(&mut previous, limit))?;
    Ok(previous)
}

/// Frees all cached buffers back to the system.
#[track_caller]
pub fn clear_cache() -> Result<()> {
    mlx_call!(mlx_clear_cache())
}
