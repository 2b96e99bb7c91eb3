//! Loads a safetensors checkpoint and evaluates every tensor, then prints the
//! wall time and the process's peak resident memory as one JSON line; used by
//! `benches/load_checkpoint.py` to compare with Python MLX side by side.
//!
//! ```text
//! cargo run --release --example load_checkpoint -- FILE.safetensors [--eager] [--cpu]
//! ```
//! Default: `io::load_safetensors_lazy` then one `eval` of all arrays (what a
//! model load does); `--eager`: `io::load_safetensors`; `--cpu`: load into
//! the CPU device even where MLX's default device is a GPU.

use std::path::PathBuf;
use std::time::Instant;

/// Peak resident set size of this process, from `/proc/self/status` (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() {
    let mut path = None;
    let mut eager = false;
    let mut cpu = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--eager" => eager = true,
            "--cpu" => cpu = true,
            _ if path.is_none() => path = Some(PathBuf::from(a)),
            other => {
                eprintln!(
                    "unexpected argument {other:?}; usage: load_checkpoint FILE [--eager] [--cpu]"
                );
                std::process::exit(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("usage: load_checkpoint FILE.safetensors [--eager] [--cpu]");
        std::process::exit(2);
    };
    if cpu {
        if let Err(e) = mlx_rs::Device::cpu().set_default() {
            eprintln!("load_checkpoint: {e}");
            std::process::exit(2);
        }
    }
    let start = Instant::now();
    let result = if eager {
        mlx_rs::io::load_safetensors(&path).map(|l| l.arrays)
    } else {
        mlx_rs::io::load_safetensors_lazy(&path)
            .and_then(|l| mlx_rs::eval(l.arrays.values()).map(|()| l.arrays))
    };
    let arrays = match result {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load_checkpoint: {e}");
            std::process::exit(2);
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let bytes: usize = arrays.values().map(|a| a.nbytes()).sum();
    println!(
        "{{\"seconds\": {seconds:.4}, \"peak_rss\": {}, \"tensors\": {}, \"bytes\": {bytes}}}",
        peak_rss_bytes().unwrap_or(0),
        arrays.len()
    );
}
