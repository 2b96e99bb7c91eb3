//! The FLUX transformer's MLP (3072 -> 12288, GELU-tanh, -> 3072) sharded
//! over the ranks of a job (tensor parallel: first layer split by output
//! features, second by input features, one `all_sum`), checked against the
//! unsharded MLP on every rank and timed.
//!
//! ```sh
//! target/release/mlx-launch -n 2 -- target/release/examples/flux_mlp_tp --tokens 16
//! target/release/mlx-launch --backend nccl -n 2 -- target/release/examples/flux_mlp_tp
//! ```
//! Options: `--tokens T` (default 256), `--hidden H` (default 3072),
//! `--dtype f32|bf16` (default f32). Exits with an error if the outputs
//! differ by more than rounding: 1e-4 (f32) or 2e-2 (bf16) of the largest
//! output.

#[path = "support/tensor_parallel.rs"]
mod tensor_parallel;

use std::process::ExitCode;
use std::time::Instant;

use mlx_rs::distributed::{Backend, Group};
use mlx_rs::{ops, Array, Dtype};
use tensor_parallel::FluxMlp;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("flux_mlp_tp: {msg}");
            ExitCode::from(2)
        }
    }
}

fn median_ms(mut f: impl FnMut() -> mlx_rs::Result<Array>) -> mlx_rs::Result<f64> {
    for _ in 0..3 {
        f()?.eval()?;
    }
    let mut t: Vec<f64> = (0..10)
        .map(|_| {
            let s = Instant::now();
            f()?.eval()?;
            Ok(s.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<mlx_rs::Result<_>>()?;
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn run() -> Result<(), String> {
    let e = |e: mlx_rs::Error| e.to_string();
    let tokens: i32 = arg("--tokens").and_then(|v| v.parse().ok()).unwrap_or(256);
    let hidden: i32 = arg("--hidden").and_then(|v| v.parse().ok()).unwrap_or(3072);
    let (dtype, tol) = match arg("--dtype").as_deref() {
        Some("bf16") => (Dtype::Bfloat16, 2e-2),
        _ => (Dtype::Float32, 1e-4),
    };
    let group = Group::init_or_single(Backend::Any).map_err(e)?;
    // The same weights on every rank: drawn from one key.
    let key = ops::random::key(3).map_err(e)?;
    let keys = ops::random::split_num(&key, 5).map_err(e)?;
    let k = |i: i32| ops::take_axis(&keys, &Array::scalar(i)?, 0);
    let normal = |shape: &[i32], scale: f32, i: i32| -> mlx_rs::Result<Array> {
        ops::random::normal(shape, Dtype::Float32, 0.0, scale, Some(&k(i)?))?.astype(dtype)
    };
    let h4 = 4 * hidden;
    let fan = |n: i32| 1.0 / (n as f32).sqrt();
    let mlp = FluxMlp {
        w1: normal(&[h4, hidden], fan(hidden), 0).map_err(e)?,
        b1: normal(&[h4], 0.02, 1).map_err(e)?,
        w2: normal(&[hidden, h4], fan(h4), 2).map_err(e)?,
        b2: normal(&[hidden], 0.02, 3).map_err(e)?,
    };
    let x = normal(&[tokens, hidden], 1.0, 4).map_err(e)?;
    let sharded = mlp.shard(&group).map_err(e)?;
    mlx_rs::eval([
        &mlp.w1,
        &mlp.b1,
        &mlp.w2,
        &mlp.b2,
        &x,
        &sharded.fc1.weight,
        &sharded.fc2.weight,
    ])
    .map_err(e)?;

    let full = mlp.forward(&x).map_err(e)?;
    let split = sharded.forward(&x, &group).map_err(e)?;
    let f32v = |a: &Array| a.astype(Dtype::Float32)?.to_vec::<f32>();
    let (full_v, split_v) = (f32v(&full).map_err(e)?, f32v(&split).map_err(e)?);
    let top = full_v.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = full_v
        .iter()
        .zip(&split_v)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let rel = f64::from(worst / top);
    let t_full = median_ms(|| mlp.forward(&x)).map_err(e)?;
    let t_split = median_ms(|| sharded.forward(&x, &group)).map_err(e)?;
    println!(
        "rank {}/{}: FLUX MLP {tokens}x{hidden} {dtype}: max |sharded - unsharded| = {:.2e} of max |out| ({:.3}); unsharded {:.2} ms, sharded {:.2} ms (median of 10)",
        group.rank(),
        group.size(),
        rel,
        top,
        t_full,
        t_split
    );
    if rel > tol {
        return Err(format!("sharded output differs by {rel:.2e} (> {tol:.0e})"));
    }
    Ok(())
}
