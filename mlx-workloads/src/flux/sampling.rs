//! FLUX.1 sampling as BFL's `src/flux/sampling.py` does it: noise in the
//! VAE's latent layout, 2 × 2 patch packing, the timestep schedule, Euler
//! steps of the rectified flow.
//!
//! ```
//! use mlx_workloads::flux::sampling::schedule;
//! // schnell: 4 steps, no shift.
//! assert_eq!(schedule(4, 4096, false), [1.0, 0.75, 0.5, 0.25, 0.0]);
//! // dev: shifted toward t = 1 for a 1024 x 1024 image (4096 tokens).
//! let t = schedule(4, 4096, true);
//! assert!(t[1] > 0.75 && t[4] == 0.0);
//! ```

use mlx_rs_core::{ops, Array, Dtype, Result};

use crate::invalid;

/// Channels of the VAE's latent space.
pub const LATENT_CHANNELS: i32 = 16;

/// BFL's `get_schedule`: `steps + 1` timesteps from 1 down to 0, evenly
/// spaced; with `shift` (dev), mapped through
/// `exp(μ) / (exp(μ) + (1/t − 1))` with `μ` linear in `image_seq_len`
/// (0.5 at 256 tokens, 1.15 at 4096).
pub fn schedule(steps: usize, image_seq_len: usize, shift: bool) -> Vec<f64> {
    let n = steps.max(1);
    let linear = (0..=n).map(|i| 1.0 - i as f64 / n as f64);
    if !shift {
        return linear.collect();
    }
    let (x1, y1, x2, y2) = (256.0, 0.5, 4096.0, 1.15);
    let m = (y2 - y1) / (x2 - x1);
    let mu = m * image_seq_len as f64 + (y1 - m * x1);
    linear
        .map(|t: f64| {
            if t <= 0.0 {
                0.0
            } else {
                mu.exp() / (mu.exp() + (1.0 / t - 1.0))
            }
        })
        .collect()
}

/// The latent grid of an image: `(rows, cols)` of packed tokens,
/// `ceil(height / 16) × ceil(width / 16)` as BFL's `get_noise` and `unpack`
/// compute it (8× VAE downsampling, then 2 × 2 patches).
#[track_caller]
pub fn latent_grid(height: u32, width: u32) -> Result<(i32, i32)> {
    if height == 0 || width == 0 || height > 16384 || width > 16384 {
        return Err(invalid(format!(
            "image size {height} x {width}: each side must be 1..=16384 pixels"
        )));
    }
    Ok((height.div_ceil(16) as i32, width.div_ceil(16) as i32))
}

/// BFL's `get_noise`: `[batch, 16, 2·rows, 2·cols]` standard normal
/// latents, seeded.
pub fn noise(batch: i32, rows: i32, cols: i32, seed: u64) -> Result<Array> {
    let key = ops::random::key(seed)?;
    ops::random::normal(
        &[batch, LATENT_CHANNELS, 2 * rows, 2 * cols],
        Dtype::Float32,
        0.0,
        1.0,
        Some(&key),
    )
}

/// `b c (h ph) (w pw) -> b (h w) (c ph pw)` with 2 × 2 patches: latents
/// `[B, C, 2h, 2w]` to tokens `[B, h·w, 4C]`.
#[track_caller]
pub fn pack(latents: &Array) -> Result<Array> {
    let s = latents.shape();
    if s.len() != 4 || s[2] % 2 != 0 || s[3] % 2 != 0 {
        return Err(invalid(format!(
            "pack: latents {s:?} must be [B, C, 2h, 2w]"
        )));
    }
    let (b, c, h, w) = (s[0], s[1], s[2] / 2, s[3] / 2);
    let x = ops::reshape(latents, &[b, c, h, 2, w, 2])?;
    let x = ops::transpose_axes(&x, &[0, 2, 4, 1, 3, 5])?;
    ops::reshape(&x, &[b, h * w, c * 4])
}

/// The inverse of [`pack`] (BFL's `unpack`): tokens `[B, rows·cols, 4C]` to
/// latents `[B, C, 2·rows, 2·cols]`.
#[track_caller]
pub fn unpack(tokens: &Array, rows: i32, cols: i32) -> Result<Array> {
    let s = tokens.shape();
    if s.len() != 3 || s[1] != rows * cols || s[2] % 4 != 0 {
        return Err(invalid(format!(
            "unpack: tokens {s:?} must be [B, {}, 4C]",
            rows * cols
        )));
    }
    let (b, c) = (s[0], s[2] / 4);
    let x = ops::reshape(tokens, &[b, rows, cols, c, 2, 2])?;
    let x = ops::transpose_axes(&x, &[0, 3, 1, 4, 2, 5])?;
    ops::reshape(&x, &[b, c, 2 * rows, 2 * cols])
}

/// One Euler step of the flow, `img + (t_prev − t_curr) · pred`.
pub fn euler_step(img: &Array, pred: &Array, t_curr: f64, t_prev: f64) -> Result<Array> {
    let dt = Array::scalar((t_prev - t_curr) as f32)?.astype(pred.dtype())?;
    img + &(pred * &dt)?
}
